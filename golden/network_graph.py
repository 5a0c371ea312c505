"""A float network (:mod:`golden.network`) as a float32 :class:`~golden.graph.Graph`.

The same graph a float ``.tflite`` holds: ``conv2d`` → CONV_2D (weights ``[C_out, kh, kw,
C_in]``, fused activation), ``dense`` → FULLY_CONNECTED (a RESHAPE to ``[1, K]`` first when
its input is not flat, C order as TFLite), optionally a final SOFTMAX. Written with
:func:`golden.tflite_export.save_tflite` it is a float ``.tflite`` model that the TFLite
interpreter runs and ``qmac quantize`` quantizes; :func:`golden.graphquant.quantize_graph`
takes it directly.
"""

from __future__ import annotations

import numpy as np

from golden.graph import Graph, Op, Tensor
from golden.network import FloatNetwork

__all__ = ["network_graph"]

_ACT = {"none": "NONE", "relu": "RELU", "relu6": "RELU6"}


class _Builder:
    def __init__(self):
        self.tensors: list[Tensor] = []
        self.ops: list[Op] = []

    def tensor(self, name, shape, dtype="float32", data=None) -> int:
        i = len(self.tensors)
        self.tensors.append(Tensor(i, name, tuple(int(s) for s in shape), dtype, None,
                                   None if data is None else np.asarray(data)))
        return i

    def op(self, name, inputs, outputs, **options):
        self.ops.append(Op(len(self.ops), name, list(inputs), list(outputs), options))


def _conv(b, i, layer, cur, shape):
    cout, kh, kw, _ = layer.w.shape
    sh, sw = layer.stride
    h, w, _ = shape
    if layer.padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
    else:
        oh, ow = -(-(h - kh + 1) // sh), -(-(w - kw + 1) // sw)
    wt = b.tensor(f"l{i}_w", layer.w.shape, data=layer.w.astype(np.float32))
    bt = b.tensor(f"l{i}_b", (cout,), data=layer.b.astype(np.float32))
    out = b.tensor(f"l{i}_out", (1, oh, ow, cout))
    b.op("CONV_2D", [cur, wt, bt], [out], padding=layer.padding.upper(), stride_h=sh,
         stride_w=sw, dilation_h_factor=1, dilation_w_factor=1,
         fused_activation_function=_ACT[layer.act])
    return out, (oh, ow, cout)


def _dense(b, i, layer, cur, shape):
    k = int(np.prod(shape))
    if len(shape) != 1:
        st = b.tensor(f"l{i}_shape", (2,), "int32", np.array([1, k], np.int32))
        flat = b.tensor(f"l{i}_flat", (1, k))
        b.op("RESHAPE", [cur, st], [flat])
        cur = flat
    c = layer.w.shape[0]
    wt = b.tensor(f"l{i}_w", layer.w.shape, data=layer.w.astype(np.float32))
    bt = b.tensor(f"l{i}_b", (c,), data=layer.b.astype(np.float32))
    out = b.tensor(f"l{i}_out", (1, c))
    b.op("FULLY_CONNECTED", [cur, wt, bt], [out], fused_activation_function=_ACT[layer.act],
         keep_num_dims=False, weights_format=0)
    return out, (c,)


def network_graph(net: FloatNetwork, *, softmax: bool = True, name: str = "network") -> Graph:
    """The float graph of ``net`` (module docstring); batch dimension 1 in the shapes."""
    b = _Builder()
    shape = tuple(net.input_shape)
    cur = b.tensor("input", (1,) + shape)
    x_in = cur
    for i, layer in enumerate(net.layers):
        fn = _conv if layer.kind == "conv2d" else _dense
        cur, shape = fn(b, i, layer, cur, shape)
    if softmax:
        out = b.tensor("probabilities", (1,) + shape)
        b.op("SOFTMAX", [cur], [out], beta=1.0)
        cur = out
    return Graph(tensors=b.tensors, ops=b.ops, inputs=[x_in], outputs=[cur], source=name)
