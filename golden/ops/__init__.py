"""Golden kernels of a quantized model, one function per TFLite builtin, and the graph runner.

Every kernel has the signature ``fn(graph, op, values, rounding) -> [outputs]`` where
``values`` maps tensor indices to NumPy arrays (constants pre-filled). ``rounding`` is the
requantization rounding of the hardware ops (``golden.fixedpoint.ROUNDINGS``); glue ops use
their TFLite reference arithmetic whatever it is.
"""

from __future__ import annotations

import numpy as np

from golden.graph import Graph, GraphError
from golden.ops import conv, elementwise, pool, reduce, shape, softmax

__all__ = ["KERNELS", "SUPPORTED", "HW_OPS", "check_graph", "run_graph", "supported_list"]

KERNELS = {
    "FULLY_CONNECTED": conv.hw_op, "CONV_2D": conv.hw_op, "DEPTHWISE_CONV_2D": conv.hw_op,
    "ADD": elementwise.add, "SUB": elementwise.sub, "MUL": elementwise.mul,
    "MAXIMUM": elementwise.maximum, "MINIMUM": elementwise.minimum,
    "QUANTIZE": elementwise.quantize, "DEQUANTIZE": elementwise.dequantize,
    "RELU": elementwise.relu, "RELU6": elementwise.relu6,
    "AVERAGE_POOL_2D": pool.average_pool_2d, "MAX_POOL_2D": pool.max_pool_2d,
    "RESHAPE": shape.reshape, "SQUEEZE": shape.reshape, "EXPAND_DIMS": shape.reshape,
    "TRANSPOSE": shape.transpose, "SHAPE": shape.shape,
    "PACK": shape.pack, "STRIDED_SLICE": shape.strided_slice, "PAD": shape.pad,
    "PADV2": shape.pad, "CONCATENATION": shape.concatenation, "SPLIT": shape.split,
    "SPLIT_V": shape.split_v, "SOFTMAX": softmax.softmax, "LOGISTIC": softmax.logistic,
    "MEAN": reduce.mean,
}
SUPPORTED = tuple(KERNELS)
HW_OPS = conv.HW_OPS
_DATA_TYPES = ("int8", "uint8", "int16", "int32", "int64")


def supported_list() -> str:
    return ", ".join(sorted(SUPPORTED))


_BAD = (ValueError, IndexError, KeyError, TypeError, ZeroDivisionError, OverflowError)


def check_graph(g: Graph) -> None:
    """Raise :class:`GraphError` (one line) for the first operator golden cannot run."""
    for i in list(g.inputs) + list(g.outputs):
        if not 0 <= i < len(g.tensors):
            raise GraphError(f"{g.source}: graph input/output tensor {i} does not exist; "
                             f"corrupt model")
    for op in g.ops:
        try:
            _check_op(g, op)
        except GraphError:
            raise
        except _BAD as exc:
            msg = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
            raise GraphError(f"{g.source}: operator {op.index} {op.name}: invalid tensors or "
                             f"quantization ({msg})") from None


def _check_op(g: Graph, op) -> None:
    if op.name not in KERNELS:
        raise GraphError(f"{g.source}: operator {op.index} is {op.name}, which is not "
                         f"supported; supported: {supported_list()}")
    ins = [g.tensor(i) for i in op.inputs if i >= 0]
    outs = [g.tensor(i) for i in op.outputs]
    floats = [t for t in ins + outs if t.dtype not in _DATA_TYPES]
    if op.name == "QUANTIZE":
        floats = [t for t in outs if t.dtype not in _DATA_TYPES]
    elif op.name == "DEQUANTIZE":
        floats = [t for t in ins if t.dtype not in _DATA_TYPES]
    if floats:
        t = floats[0]
        raise GraphError(f"{g.source}: operator {op.index} {op.name} has a {t.dtype} tensor "
                         f"{t.index} '{t.name}'; allowed: int8/uint8/int16 quantized tensors "
                         f"(float models: quantize them first with qmac quantize; float "
                         f"only at QUANTIZE inputs and DEQUANTIZE outputs)")
    if op.name in HW_OPS:
        conv.layer_quant(g, op)


def initial_values(g: Graph) -> dict:
    return {t.index: t.data for t in g.tensors if t.data is not None}


def _cast(t, v):
    dt = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
          "float32": np.float32}
    return np.asarray(v).astype(dt.get(t.dtype, np.asarray(v).dtype))


def run_graph(g: Graph, inputs: list[np.ndarray], *, rounding: str = "double",
              on_op=None, kernels: dict | None = None) -> dict:
    """Run the whole graph; returns ``{tensor index: value}`` for every tensor.

    ``inputs`` are in the order of ``g.inputs`` with the tensors' shapes and dtypes.
    ``on_op(op, values)`` (optional) is called after each op. ``kernels`` overrides
    :data:`KERNELS` by op name (e.g. a model of lossy hardware for the hardware ops).
    """
    table = dict(KERNELS, **(kernels or {}))
    values = initial_values(g)
    for i, x in zip(g.inputs, inputs):
        values[i] = np.asarray(x)
    for op in g.ops:
        try:
            outs = table[op.name](g, op, values, rounding)
        except GraphError:
            raise
        except _BAD as exc:  # a form not handled (or a corrupt model)
            msg = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise GraphError(f"{g.source}: operator {op.index} {op.name}: cannot run this form "
                             f"of the op in golden ({msg})") from None
        for i, v in zip(op.outputs, outs):
            values[i] = _cast(g.tensor(i), v)
        if on_op is not None:
            on_op(op, values)
    return values
