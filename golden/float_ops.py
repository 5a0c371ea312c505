"""Float32 kernels of a float ``.tflite`` graph, one function per TFLite builtin, and the runner.

What :mod:`golden.graphquant` needs to calibrate a float model: the float activations of
every tensor on the user's data. The math is TFLite's float reference kernels
(``reference/fully_connected.h``, ``conv.h``, ``depthwise_conv.h``, ``pooling.h``,
``softmax.h``; NHWC, weights ``[C_out, kh, kw, C_in]`` for CONV_2D, ``[1, kh, kw, C_in·m]``
for DEPTHWISE_CONV_2D, ``[C_out, K]`` for FULLY_CONNECTED) evaluated in float64 — the
ranges, not the last bit, are what calibration reads. Shapes follow the graph except the
batch dimension, which is the batch given (many images per call).

Every kernel is ``fn(graph, op, values) -> [outputs]``; :func:`run_float_graph` runs them.
"""

from __future__ import annotations

import numpy as np

from golden.graph import Graph, GraphError, Op
from golden.lowering import conv_geometry, im2col
from golden.ops.pool import pool_windows

__all__ = ["FLOAT_KERNELS", "run_float_graph", "check_float_graph", "apply_activation"]


def apply_activation(y, act: str):
    """The fused activation of a float op (``NONE``, ``RELU``, ``RELU6``, ``RELU_N1_TO_1``)."""
    if act == "RELU":
        return np.maximum(y, 0.0)
    if act == "RELU6":
        return np.clip(y, 0.0, 6.0)
    if act == "RELU_N1_TO_1":
        return np.clip(y, -1.0, 1.0)
    if act == "NONE":
        return y
    raise GraphError(f"fused activation {act}; allowed: NONE, RELU, RELU6, RELU_N1_TO_1")


def _act(op: Op, y):
    return apply_activation(y, op.options.get("fused_activation_function", "NONE"))


def _bias(g: Graph, op: Op, c: int):
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        return g.tensor(op.inputs[2]).data.astype(np.float64)
    return np.zeros(c)


def _batch_shape(g: Graph, i: int, n: int) -> tuple:
    shape = g.tensor(i).shape
    return (n,) + tuple(shape[1:]) if shape else ()


def fully_connected(g, op, v):
    w = g.tensor(op.inputs[1]).data.astype(np.float64)
    x = v[op.inputs[0]].reshape(-1, w.shape[1])
    y = _act(op, x @ w.T + _bias(g, op, w.shape[0]))
    n = v[op.inputs[0]].shape[0]
    return [y.reshape(_batch_shape(g, op.outputs[0], n))]


def _patches(x, op, kh, kw):
    o = op.options
    dh, dw = int(o.get("dilation_h_factor", 1) or 1), int(o.get("dilation_w_factor", 1) or 1)
    n, h, w, _ = x.shape
    oh, pt = conv_geometry(h, kh, o["stride_h"], dh, o["padding"])
    ow, pl = conv_geometry(w, kw, o["stride_w"], dw, o["padding"])
    p = im2col(x, kh=kh, kw=kw, stride_h=o["stride_h"], stride_w=o["stride_w"], dil_h=dh,
               dil_w=dw, pad_top=pt, pad_left=pl, out_h=oh, out_w=ow, pad_value=0.0)
    return p, (n, oh, ow)        # p: [N·OH·OW, KH·KW, C]


def conv_2d(g, op, v):
    w = g.tensor(op.inputs[1]).data.astype(np.float64)
    cout, kh, kw, cin = w.shape
    p, (n, oh, ow) = _patches(v[op.inputs[0]], op, kh, kw)
    y = p.reshape(p.shape[0], -1) @ w.reshape(cout, -1).T + _bias(g, op, cout)
    return [_act(op, y).reshape(n, oh, ow, cout)]


def depthwise_conv_2d(g, op, v):
    w = g.tensor(op.inputs[1]).data.astype(np.float64)     # [1, kh, kw, C·m]
    _, kh, kw, cm = w.shape
    x = v[op.inputs[0]]
    cin = x.shape[3]
    m = cm // cin
    p, (n, oh, ow) = _patches(x, op, kh, kw)                # [P, T, C]
    p = np.repeat(p, m, axis=2)                              # channel c·m + j reads input c
    y = np.einsum("ptc,tc->pc", p, w.reshape(kh * kw, cm)) + _bias(g, op, cm)
    return [_act(op, y).reshape(n, oh, ow, cm)]


def _pool(g, op, v, avg):
    x = v[op.inputs[0]]
    oh, ow, windows = pool_windows(x, op)
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for oy, ox, win in windows:
        out[:, oy, ox, :] = win.mean(axis=(1, 2)) if avg else win.max(axis=(1, 2))
    return [_act(op, out)]


def _binary(fn):
    def kernel(g, op, v):
        return [_act(op, fn(v[op.inputs[0]], v[op.inputs[1]]))]
    return kernel


def reshape(g, op, v):
    x = v[op.inputs[0]]
    return [x.reshape(_batch_shape(g, op.outputs[0], x.shape[0]))]


def softmax(g, op, v):
    x = v[op.inputs[0]] * float(op.options.get("beta", 1.0))
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return [e / e.sum(axis=-1, keepdims=True)]


def mean(g, op, v):
    axes = tuple(int(a) for a in np.atleast_1d(g.tensor(op.inputs[1]).data))
    return [v[op.inputs[0]].mean(axis=axes, keepdims=bool(op.options.get("keep_dims", False)))]


def pad(g, op, v):
    p = g.tensor(op.inputs[1]).data.astype(np.int64)
    value = 0.0
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = float(np.asarray(g.tensor(op.inputs[2]).data).reshape(-1)[0])
    return [np.pad(v[op.inputs[0]], [tuple(r) for r in p], constant_values=value)]


def concatenation(g, op, v):
    axis = int(op.options.get("axis", 0))
    return [_act(op, np.concatenate([v[i] for i in op.inputs], axis=axis))]


FLOAT_KERNELS = {
    "FULLY_CONNECTED": fully_connected, "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "AVERAGE_POOL_2D": lambda g, op, v: _pool(g, op, v, True),
    "MAX_POOL_2D": lambda g, op, v: _pool(g, op, v, False),
    "ADD": _binary(np.add), "SUB": _binary(np.subtract), "MUL": _binary(np.multiply),
    "MAXIMUM": _binary(np.maximum), "MINIMUM": _binary(np.minimum),
    "RELU": lambda g, op, v: [np.maximum(v[op.inputs[0]], 0.0)],
    "RELU6": lambda g, op, v: [np.clip(v[op.inputs[0]], 0.0, 6.0)],
    "LOGISTIC": lambda g, op, v: [1.0 / (1.0 + np.exp(-v[op.inputs[0]]))],
    "RESHAPE": reshape, "SQUEEZE": reshape, "EXPAND_DIMS": reshape,
    "SOFTMAX": softmax, "MEAN": mean, "PAD": pad, "CONCATENATION": concatenation,
}


def check_float_graph(g: Graph) -> None:
    """One-line :class:`GraphError` for the first thing :func:`run_float_graph` cannot do."""
    quantized = next((t for t in g.tensors if t.dtype in ("int8", "uint8", "int16")), None)
    if quantized is not None:
        raise GraphError(f"{g.source}: the model is already quantized (tensor "
                         f"{quantized.index} '{quantized.name}' is {quantized.dtype}); allowed: "
                         f"a float32 model (run a quantized model with qmac run directly)")
    if len(g.inputs) != 1:
        raise GraphError(f"{g.source}: {len(g.inputs)} inputs; allowed: models with one input")
    for t in g.input_tensors():
        if t.dtype != "float32":
            raise GraphError(f"{g.source}: input tensor {t.index} '{t.name}' is {t.dtype}; "
                             f"allowed: a float32 model (an int8 model is already quantized: "
                             f"qmac run it directly)")
    for op in g.ops:
        if op.name not in FLOAT_KERNELS:
            raise GraphError(f"{g.source}: operator {op.index} is {op.name}, which the float "
                             f"importer does not support; supported: "
                             f"{', '.join(sorted(FLOAT_KERNELS))}")
        for i in op.inputs + op.outputs:
            if i < 0:
                continue
            t = g.tensor(i)
            const_int = t.is_const and t.dtype in ("int32", "int64")
            if t.dtype != "float32" and not const_int:
                raise GraphError(f"{g.source}: operator {op.index} {op.name} has a {t.dtype} "
                                 f"tensor {i} '{t.name}'; allowed: float32 tensors (and "
                                 f"constant int32 shapes/axes/paddings)")
        if op.name in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"):
            w = g.tensor(op.inputs[1])
            if not w.is_const:
                raise GraphError(f"{g.source}: operator {op.index} {op.name}: weights tensor "
                                 f"{w.index} is not constant; allowed: constant weights")
            act = op.options.get("fused_activation_function", "NONE")
            if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
                raise GraphError(f"{g.source}: operator {op.index} {op.name}: fused activation "
                                 f"{act}; allowed: NONE, RELU, RELU6, RELU_N1_TO_1")


def run_float_graph(g: Graph, x) -> dict:
    """Every tensor's float64 value for the batch ``x`` ``[N, ...]`` (the input's shape with
    any batch size); ``{tensor index: array}``."""
    values = {t.index: t.data.astype(np.float64) if t.dtype == "float32" else t.data
              for t in g.tensors if t.data is not None}
    values[g.inputs[0]] = np.asarray(x, dtype=np.float64)
    for op in g.ops:
        try:
            outs = FLOAT_KERNELS[op.name](g, op, values)
        except GraphError:
            raise
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            msg = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
            raise GraphError(f"{g.source}: operator {op.index} {op.name}: cannot run this form "
                             f"of the op in float ({msg})") from None
        for i, y in zip(op.outputs, outs):
            values[i] = np.asarray(y, dtype=np.float64)
    return values
