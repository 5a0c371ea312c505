"""Data-movement ops: RESHAPE, SQUEEZE, SHAPE, PACK, STRIDED_SLICE, PAD, CONCATENATION,
SPLIT, SPLIT_V. No arithmetic on quantized values (inputs and outputs share their
quantization, as the TFLite converter emits them; a CONCATENATION whose inputs differ is
refused)."""

from __future__ import annotations

import numpy as np

from golden.graph import Graph, GraphError, Op

__all__ = ["reshape", "shape", "pack", "strided_slice", "pad", "concatenation", "split",
           "split_v", "transpose"]


def reshape(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """RESHAPE / SQUEEZE: the output tensor's shape (as the model declares it)."""
    x = values[op.inputs[0]]
    out = g.tensor(op.outputs[0]).shape
    if int(np.prod(out)) != x.size and len(op.inputs) > 1 and op.inputs[1] >= 0:
        out = tuple(int(v) for v in values[op.inputs[1]].reshape(-1))
    return [x.reshape(out)]


def shape(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    return [np.asarray(values[op.inputs[0]].shape, np.int32)]


def pack(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    return [np.stack([values[i] for i in op.inputs], axis=op.options.get("axis", 0))]


def strided_slice(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """Begin/end/strides with ``begin_mask``, ``end_mask``, ``shrink_axis_mask``."""
    o = op.options
    if o.get("ellipsis_mask") or o.get("new_axis_mask"):
        raise GraphError(f"{g.source}: operator {op.index} STRIDED_SLICE uses ellipsis/new-axis "
                         f"masks; allowed: begin, end and shrink-axis masks")
    x = values[op.inputs[0]]
    begin, end, strides = (values[i].reshape(-1).astype(int) for i in op.inputs[1:4])
    idx = []
    for d in range(x.ndim):
        if d >= begin.size:
            idx.append(slice(None))
            continue
        b = None if (o.get("begin_mask", 0) >> d) & 1 else int(begin[d])
        e = None if (o.get("end_mask", 0) >> d) & 1 else int(end[d])
        if (o.get("shrink_axis_mask", 0) >> d) & 1:
            idx.append(int(begin[d]))
        else:
            idx.append(slice(b, e, int(strides[d])))
    return [np.asarray(x[tuple(idx)])]


def pad(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """PAD / PADV2: pads with the output zero point (PADV2: its constant value)."""
    x = values[op.inputs[0]]
    widths = values[op.inputs[1]].reshape(-1, 2).astype(int)
    y = g.tensor(op.outputs[0])
    value = y.quant.zp if y.quant else 0
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = int(values[op.inputs[2]].reshape(-1)[0])
    return [np.pad(x, [tuple(w) for w in widths], constant_values=value)]


def _same_quant(g: Graph, op: Op, tensors):
    y = g.tensor(op.outputs[0]).quant
    for i in tensors:
        q = g.tensor(i).quant
        if y is not None and q is not None and (q.s != y.s or q.zp != y.zp):
            raise GraphError(f"{g.source}: operator {op.index} {op.name}: input tensor {i} is "
                             f"quantized differently from the output; allowed: equal scale and "
                             f"zero point")


def concatenation(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    _same_quant(g, op, op.inputs)
    if op.options.get("fused_activation_function", "NONE") != "NONE":
        raise GraphError(f"{g.source}: operator {op.index} CONCATENATION with a fused "
                         f"activation; allowed: NONE")
    return [np.concatenate([values[i] for i in op.inputs], axis=op.options.get("axis", 0))]


def split(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    axis = int(values[op.inputs[0]].reshape(-1)[0])
    return list(np.split(values[op.inputs[1]], len(op.outputs), axis=axis))


def split_v(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    x = values[op.inputs[0]]
    sizes = values[op.inputs[1]].reshape(-1).astype(int)
    axis = int(values[op.inputs[2]].reshape(-1)[0]) % x.ndim
    if (sizes < 0).any():
        sizes = np.where(sizes < 0, x.shape[axis] - sizes[sizes >= 0].sum(), sizes)
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def transpose(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    perm = [int(v) for v in values[op.inputs[1]].reshape(-1)]
    return [np.transpose(values[op.inputs[0]], perm)]
