"""The hardware ops in golden: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D.

Each is lowered by :mod:`golden.lowering` to :class:`~golden.lowering.MatmulLayer` products
and every product is evaluated by :func:`golden.datapath.fully_connected` — TFLite's literal
int32 reference arithmetic (``reference/integer_ops/fully_connected.h``,
``conv.h``, ``depthwise_conv.h`` all accumulate ``Σ (x − x_zp)(w − w_zp) + bias`` in int32
and requantize with ``MultiplyByQuantizedMultiplier``) with the rounding asked for.

16x8 ops (int16 input and output, int8 weights, int64 bias — TFLite's 16x8 quantization)
accumulate in int64 and requantize with the int64 ``MultiplyByQuantizedMultiplier``
(``"single16"``, the reduced 16-bit multiplier) in TFLite's ``common.cc``; here their
products carry ``acc_bits = 48`` (exact for ``|acc| < 2^47``, TFLite's own assertion) and
the rounding of the hardware they run on.

Multipliers as TFLite's ``Prepare`` computes them: per-tensor FULLY_CONNECTED
``double(float32(S_x·S_w)) / S_y``; CONV_2D / DEPTHWISE_CONV_2D and per-channel FC
``double(S_x)·double(S_w[c]) / double(S_y)`` (``PopulateConvolutionQuantizationParams``),
then ``QuantizeMultiplier`` (:func:`golden.layer.layer_multipliers`).
"""

from __future__ import annotations

import numpy as np

from golden.datapath import fully_connected
from golden.graph import Graph, GraphError, Op
from golden.layer import activation_range, layer_multipliers
from golden.lowering import (LoweredOp, depthwise_group, lower_conv_2d,
                             lower_depthwise_conv_2d, lower_fully_connected)

__all__ = ["HW_OPS", "layer_quant", "lower_op", "run_lowered", "DEFAULT_GROUP", "is_16x8"]

HW_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")
#: depthwise channels per matrix product when no hardware is given (the int8 array's cols)
DEFAULT_GROUP = 16
_ACT = {"NONE": "none", "RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "relu_n1_to_1"}


def _where(g: Graph, op: Op) -> str:
    return f"{g.source}: operator {op.index} {op.name}"


def is_16x8(g: Graph, op: Op) -> bool:
    """TFLite's 16x8 form: int16 input and output, int8 weights (int64 accumulator)."""
    return g.tensor(op.inputs[0]).dtype == "int16"


def layer_quant(g: Graph, op: Op) -> dict:
    """``x_zp, w_zp, m0 [C], shift [C], y_zp, act_min, act_max`` of a hardware op."""
    x, w, y = (g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0]))
    a16 = x.dtype == "int16"
    allowed = ("int16",) if a16 else ("int8", "uint8")
    for role, t in (("input", x), ("weights", w), ("output", y)):
        ok = t.dtype == "int8" if (a16 and role == "weights") else t.dtype in allowed
        if t.quant is None or not ok:
            raise GraphError(f"{_where(g, op)}: {role} tensor {t.index} is {t.dtype}"
                             f"{'' if t.quant else ' without quantization'}; allowed: int8/uint8 "
                             f"quantized, or 16x8 (int16 input and output, int8 weights) "
                             f"(float-only or hybrid models are not supported)")
    if op.options.get("weights_format", 0):
        raise GraphError(f"{_where(g, op)}: shuffled weights (weights_format "
                         f"{op.options['weights_format']}); allowed: the default format")
    cout = w.shape[0] if op.name != "DEPTHWISE_CONV_2D" else w.shape[-1]
    ws = w.quant.scale
    if w.quant.per_axis:
        axis = w.quant.axis
        want = 0 if op.name != "DEPTHWISE_CONV_2D" else len(w.shape) - 1
        if axis != want or ws.size != cout:
            raise GraphError(f"{_where(g, op)}: weights quantized on dimension {axis} with "
                             f"{ws.size} scales; allowed: per-tensor or {cout} scales on "
                             f"dimension {want} (the output channels)")
        if np.any(w.quant.zero_point != 0):
            raise GraphError(f"{_where(g, op)}: per-channel weights with non-zero zero points;"
                             f" allowed: zero points 0 (TFLite's int8 spec)")
    if op.name == "FULLY_CONNECTED" and not w.quant.per_axis:
        m0, shift = layer_multipliers(x.quant.s, float(ws[0]), y.quant.s)
    else:
        m0, shift = layer_multipliers(x.quant.s, np.broadcast_to(ws, (cout,)), y.quant.s)
    act = op.options.get("fused_activation_function", "NONE")
    if act not in _ACT:
        raise GraphError(f"{_where(g, op)}: fused activation {act}; allowed: "
                         f"{', '.join(_ACT)}")
    signed = y.dtype in ("int8", "int16")
    amin, amax = activation_range(_ACT[act], y.quant.s, y.quant.zp, out_bits=16 if a16 else 8,
                                  out_signed=signed)
    return dict(x_zp=x.quant.zp, w_zp=int(w.quant.zero_point[0]),
                m0=np.broadcast_to(np.asarray(m0, np.int64), (cout,)).copy(),
                shift=np.broadcast_to(np.asarray(shift, np.int64), (cout,)).copy(),
                y_zp=y.quant.zp, act_min=int(amin), act_max=int(amax))


def lower_op(g: Graph, op: Op, x: np.ndarray, *, group: int = DEFAULT_GROUP,
             k_limit: int | None = None) -> LoweredOp:
    """Lower one hardware op applied to the input tensor value ``x``; depthwise products
    take ``golden.lowering.depthwise_group(group, taps, m, k_limit)`` channels."""
    w = g.tensor(op.inputs[1])
    if w.data is None:
        raise GraphError(f"{_where(g, op)}: weights are not a constant tensor; allowed: "
                         f"constant weights")
    bias = None
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = g.tensor(op.inputs[2])
        allowed = ("int32", "int64") if is_16x8(g, op) else ("int32",)
        if b.data is None or b.dtype not in allowed:
            raise GraphError(f"{_where(g, op)}: bias tensor {b.index} is {b.dtype}"
                             f"{'' if b.data is not None else ' (not constant)'}; allowed: "
                             f"constant {' or '.join(allowed)}")
        bias = b.data
        if np.any(np.abs(bias.astype(np.int64)) >= 2**47):
            raise GraphError(f"{_where(g, op)}: a bias value reaches 2^47; allowed: |bias| < "
                             f"2^47 (TFLite's int64 MultiplyByQuantizedMultiplier assumes "
                             f"|acc| < 2^47)")
    low = _lower(g, op, x, w, bias, group, k_limit)
    if is_16x8(g, op):
        for L in low.layers:
            L.acc_bits = 48
    return low


def _lower(g, op, x, w, bias, group, k_limit) -> LoweredOp:
    q = layer_quant(g, op)
    name = f"op{op.index}"
    if op.name == "FULLY_CONNECTED":
        return lower_fully_connected(x, w.data, bias=bias, quant=q, name=name)
    if op.name == "CONV_2D":
        return lower_conv_2d(x, w.data, bias=bias, quant=q, options=op.options, name=name)
    _, kh, kw, _ = w.shape
    dm = int(op.options.get("depth_multiplier", 1)) or 1
    return lower_depthwise_conv_2d(x, w.data, bias=bias, quant=q, options=op.options,
                                   group=depthwise_group(group, kh * kw, dm, k_limit),
                                   name=name)


def run_lowered(low: LoweredOp, rounding: str = "double") -> np.ndarray:
    """Golden value of a lowered op: TFLite's int32 (int64 for 16x8) arithmetic on every
    product."""
    ys = [fully_connected(L.x, L.w, bias=L.bias, x_zp=L.x_zp, w_zp=L.w_zp, m0=L.m0,
                          shift=L.shift, y_zp=L.y_zp, act_min=L.act_min, act_max=L.act_max,
                          rounding=rounding, acc_bits=L.acc_bits) for L in low.layers]
    return low.assemble(ys)


def hw_op(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    x = values[op.inputs[0]]
    out = run_lowered(lower_op(g, op, x), rounding)
    return [out.reshape(g.tensor(op.outputs[0]).shape)]
