"""Elementwise int8 ops: ADD, MUL, QUANTIZE, DEQUANTIZE, RELU, RELU6.

Written from TFLite's integer reference kernels (``reference/integer_ops/add.h``,
``mul.h``, ``reference/quantize.h``, ``dequantize.h``, ``activations``); the multiplier
derivations follow each kernel's ``Prepare``.
"""

from __future__ import annotations

import numpy as np

from golden.fixedpoint import multiply_by_quantized_multiplier
from golden.graph import Graph, Op
from golden.layer import activation_range
from golden.multiplier import quantize_multiplier

__all__ = ["add", "sub", "mul", "maximum", "minimum", "quantize", "dequantize", "relu",
           "relu6", "ADD_LEFT_SHIFT"]

#: ``left_shift`` of TFLite's 8-bit ADD: inputs are scaled up by 2^20 before rescaling
ADD_LEFT_SHIFT = 20
_ACT = {"NONE": "none", "RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "relu_n1_to_1"}


def _q(g: Graph, i: int):
    t = g.tensor(i)
    return t.quant.s, t.quant.zp


def _bounds(g: Graph, op: Op, act: str | None = None):
    y = g.tensor(op.outputs[0])
    act = act or op.options.get("fused_activation_function", "NONE")
    return activation_range(_ACT[act], y.quant.s, y.quant.zp, out_bits=8,
                            out_signed=y.dtype == "int8")


def _mbqm(x, m0, shift):
    return multiply_by_quantized_multiplier(x, m0, shift, "double")


def add(g: Graph, op: Op, values: dict, rounding: str, sign: int = 1) -> list[np.ndarray]:
    """``reference_integer_ops::Add`` (8-bit): both inputs shifted left by 20, each scaled
    by ``S_i / (2·max(S_1, S_2))``, summed, scaled by ``2·max / (2^20·S_y)``; every
    scaling is ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (SRDHM then
    RoundingDivideByPOT), then ``+ y_zp`` and the activation clamp. Broadcasting as NumPy.
    ``sign = −1``: SUB (the same with the scaled second input subtracted)."""
    (s1, z1), (s2, z2), (sy, zy) = _q(g, op.inputs[0]), _q(g, op.inputs[1]), _q(g, op.outputs[0])
    twice_max = 2.0 * max(s1, s2)
    m1, e1 = quantize_multiplier(s1 / twice_max)
    m2, e2 = quantize_multiplier(s2 / twice_max)
    mo, eo = quantize_multiplier(twice_max / (float(2**ADD_LEFT_SHIFT) * np.float32(sy)))
    a = (values[op.inputs[0]].astype(np.int64) - z1) << ADD_LEFT_SHIFT
    b = (values[op.inputs[1]].astype(np.int64) - z2) << ADD_LEFT_SHIFT
    a, b = np.broadcast_arrays(a, b)
    total = _mbqm(a, m1, e1) + sign * _mbqm(b, m2, e2)
    lo, hi = _bounds(g, op)
    return [np.clip(_mbqm(total, mo, eo) + zy, lo, hi)]


def sub(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """``reference_integer_ops`` SUB: :func:`add` with the second input subtracted."""
    return add(g, op, values, rounding, sign=-1)


def _same_quant_pair(g: Graph, op: Op):
    qs = [g.tensor(i).quant for i in (op.inputs[0], op.inputs[1], op.outputs[0])]
    if any(q is None for q in qs) or len({(q.s, q.zp) for q in qs}) != 1:
        from golden.graph import GraphError
        raise GraphError(f"{g.source}: operator {op.index} {op.name}: inputs and output "
                         f"quantized differently; allowed: equal scale and zero point")


def maximum(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """MAXIMUM on raw codes (inputs and output share one quantization)."""
    _same_quant_pair(g, op)
    return [np.maximum(values[op.inputs[0]], values[op.inputs[1]])]


def minimum(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """MINIMUM on raw codes (inputs and output share one quantization)."""
    _same_quant_pair(g, op)
    return [np.minimum(values[op.inputs[0]], values[op.inputs[1]])]


def mul(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """``reference_integer_ops::Mul``: ``MBQM((x1 − z1)(x2 − z2), M) + z_y``, clamp, with
    ``M = float32(S_1·S_2 / S_y)`` (computed in float as ``Prepare`` does)."""
    (s1, z1), (s2, z2), (sy, zy) = _q(g, op.inputs[0]), _q(g, op.inputs[1]), _q(g, op.outputs[0])
    real = float(np.float32(np.float32(s1) * np.float32(s2)) / np.float32(sy))
    m0, e = quantize_multiplier(real)
    a = values[op.inputs[0]].astype(np.int64) - z1
    b = values[op.inputs[1]].astype(np.int64) - z2
    lo, hi = _bounds(g, op)
    return [np.clip(_mbqm(a * b, m0, e) + zy, lo, hi)]


def quantize(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """Float → int8: ``clamp(round_half_away(x / S) + zp)`` in float32 (``AffineQuantize``);
    int8 → int8 requantization: ``MBQM(x − z_in, S_in/S_out) + z_out``."""
    x = values[op.inputs[0]]
    y = g.tensor(op.outputs[0])
    info = np.iinfo(np.int8 if y.dtype == "int8" else np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        r = np.float32(x) / np.float32(y.quant.s)
        q = np.sign(r) * np.floor(np.abs(r) + np.float32(0.5))
        return [np.clip(q.astype(np.int64) + y.quant.zp, info.min, info.max)]
    s_in, z_in = _q(g, op.inputs[0])
    m0, e = quantize_multiplier(float(np.float64(np.float32(s_in)) / np.float64(y.quant.s)))
    return [np.clip(_mbqm(x.astype(np.int64) - z_in, m0, e) + y.quant.zp, info.min, info.max)]


def dequantize(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """``S·(q − zp)`` in float32."""
    s, z = _q(g, op.inputs[0])
    return [(values[op.inputs[0]].astype(np.int64) - z).astype(np.float32) * np.float32(s)]


def _requant_act(g, op, values, act):
    x = values[op.inputs[0]].astype(np.int64)
    (si, zi), (so, zo) = _q(g, op.inputs[0]), _q(g, op.outputs[0])
    lo, hi = _bounds(g, op, act)
    if si == so and zi == zo:
        return [np.clip(x, lo, hi)]
    m0, e = quantize_multiplier(float(np.float64(np.float32(si)) / np.float64(np.float32(so))))
    return [np.clip(_mbqm(x - zi, m0, e) + zo, lo, hi)]


def relu(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """Standalone RELU: requantize to the output's scale (if it differs), clamp at 0."""
    return _requant_act(g, op, values, "RELU")


def relu6(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    """Standalone RELU6: requantize (if needed), clamp to [0, 6]."""
    return _requant_act(g, op, values, "RELU6")
