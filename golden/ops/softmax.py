"""int8 SOFTMAX as TFLite's reference kernel computes it (``reference/softmax.h``, the
gemmlowp fixed-point path; ``Prepare`` of the reference kernel).

Per row: ``d = x − max(x)``; entries with ``d < diff_min`` give the output minimum; the others
are rescaled by ``(beta·S_x·2^26)`` (``MultiplyByQuantizedMultiplierGreaterThanOne``) into a
Q5.26 value, exponentiated with gemmlowp ``exp_on_negative_values``, summed in Q12.19, the sum
inverted with ``one_over_one_plus_x_for_x_in_0_1`` and every exponential scaled by it,
``RoundingDivideByPOT`` to 8 bits, ``− 128``. All raw values are int32 (``int64`` arrays
here, wrapped to int32 where gemmlowp adds). Functions named after gemmlowp's.
"""

from __future__ import annotations

import math

import numpy as np

from golden.fixedpoint import rounding_divide_by_pot
from golden.graph import Graph, Op
from golden.multiplier import quantize_multiplier

__all__ = ["softmax", "logistic", "exp_on_negative_values", "one_over_one_plus_x_for_x_in_0_1"]

_MIN, _MAX = -(2**31), 2**31 - 1
SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12


def _w(v):
    return ((np.asarray(v, np.int64) + 2**31) & 0xFFFFFFFF) - 2**31


def _srdhm(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, np.int64), np.asarray(b, np.int64))
    ovf = (a == _MIN) & (b == _MIN)
    return np.where(ovf, _MAX, (a * b + 2**30) >> 31)


def _rdbpot(x, e):
    return rounding_divide_by_pot(np.asarray(x, np.int64), e)


def _sat_shl(x, e):
    """``SaturatingRoundingMultiplyByPOT<e>`` for ``e > 0``."""
    thr = (1 << (31 - e)) - 1
    x = np.asarray(x, np.int64)
    return np.where(x > thr, _MAX, np.where(x < -thr, _MIN, x << e))


def _exp_quarter(a):
    """``exp_on_interval_between_negative_one_quarter_and_0_excl`` (Q0.31 raw)."""
    const_term, one_third = 1895147668, 715827883
    x = _w(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_4 = _rdbpot(x4, 2)
    poly = _rdbpot(_w(_srdhm(_w(x4_4 + x3), one_third) + x2), 1)
    return _w(const_term + _srdhm(const_term, _w(x + poly)))


def exp_on_negative_values(a, integer_bits: int = SCALED_DIFF_INTEGER_BITS):
    """gemmlowp ``exp_on_negative_values`` for a Q(I).(31−I) raw ``a <= 0`` → Q0.31 raw
    (``I = integer_bits``, 1..5; softmax uses 5, logistic 4)."""
    a = np.asarray(a, np.int64)
    frac_bits = 31 - integer_bits
    quarter = 1 << (frac_bits - 2)
    a_mod = _w((a & (quarter - 1)) - quarter)
    result = _exp_quarter(_sat_shl(a_mod, integer_bits))
    remainder = _w(a_mod - a)
    for exponent, mult in ((-2, 1672461947), (-1, 1302514674), (0, 790015084),
                           (1, 290630308), (2, 39332535), (3, 720401), (4, 242)):
        if integer_bits > exponent:
            sh = frac_bits + exponent
            if 0 <= sh < 31:
                result = np.where(remainder & (1 << sh), _srdhm(result, mult), result)
    return np.where(a == 0, _MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a):
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1`` (Q0.31 raw in and out)."""
    a = np.asarray(a, np.int64)
    s = a + _MAX
    half_den = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))   # RoundingHalfSum
    x = _w(1515870810 + _srdhm(half_den, -1010580540))
    for _ in range(3):
        hd_x = _srdhm(half_den, x)
        one_minus = _w((1 << 29) - hd_x)
        x = _w(x + _sat_shl(_srdhm(x, one_minus), 2))
    return _sat_shl(x, 1)


def _clz32(v):
    v = np.asarray(v, np.int64) & 0xFFFFFFFF
    return np.where(v == 0, 32, 32 - np.floor(np.log2(np.maximum(v, 1))).astype(np.int64) - 1)


def softmax_params(beta: float, input_scale: float):
    """``(input_multiplier, input_left_shift, diff_min)`` as the reference ``Prepare``."""
    real = min(beta * input_scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), 2.0**31 - 1.0)
    m0, shift = quantize_multiplier(real)
    radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) * 2.0**(31 - SCALED_DIFF_INTEGER_BITS)
                        / 2.0**shift)
    return m0, shift, -radius


def softmax_int8(x, *, beta: float, input_scale: float):
    """Softmax over the last axis of int8 ``x``; output scale 1/256, zero point −128."""
    m0, left, diff_min = softmax_params(beta, input_scale)
    x = np.asarray(x, np.int64)
    d = x - x.max(axis=-1, keepdims=True)
    ok = d >= diff_min
    rescaled = _srdhm(np.where(ok, d, 0) << left, m0)
    e = np.where(ok, exp_on_negative_values(rescaled), 0)
    total = _w(np.sum(_rdbpot(e, ACCUMULATION_INTEGER_BITS), axis=-1, keepdims=True))
    head = _clz32(total)
    over = ACCUMULATION_INTEGER_BITS - head
    shifted = _w(((total & 0xFFFFFFFF) << head) - (1 << 31))
    scale = one_over_one_plus_x_for_x_in_0_1(shifted)
    e_out = np.broadcast_arrays(over + 31 - 8, e)[0]
    out = rounding_divide_by_pot(_srdhm(scale, e), e_out) - 128
    return np.where(ok, np.clip(out, -128, 127), -128)


def softmax(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    t = g.tensor(op.inputs[0])
    return [softmax_int8(values[op.inputs[0]], beta=float(op.options.get("beta", 1.0)),
                         input_scale=float(np.float64(np.float32(t.quant.s))))]


LOGISTIC_INPUT_INTEGER_BITS = 4


def logistic_int8(x, *, input_scale: float, input_zp: int):
    """``reference_integer_ops::Logistic``: ``x − zp`` beyond ``±radius`` saturates to
    −128 / 127; otherwise rescaled to Q4.27 (``MultiplyByQuantizedMultiplier`` by
    ``S_x·2^27``, a left shift), gemmlowp ``logistic`` (``1/(1 + exp(−|a|))`` and
    ``1 − that`` for negatives, ``0.5`` at zero), ``RoundingDivideByPOT(·, 23) − 128``.
    Output scale 1/256, zero point −128."""
    from golden.fixedpoint import multiply_by_quantized_multiplier
    ib = LOGISTIC_INPUT_INTEGER_BITS
    m0, shift = quantize_multiplier(float(input_scale) * float(1 << (31 - ib)))
    radius = math.floor(((1 << ib) - 1) * 2.0**(31 - ib) / 2.0**shift)
    d = np.asarray(x, np.int64) - int(input_zp)
    inside = (d > -radius) & (d < radius)
    q = multiply_by_quantized_multiplier(np.where(inside, d, 0), m0, shift, "double")
    pos = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-np.abs(q), ib))
    val = np.where(q > 0, pos, np.where(q == 0, 1 << 30, _w(_MAX - pos)))
    out = np.clip(_rdbpot(val, 31 - 8) - 128, -128, 127)
    return np.where(inside, out, np.where(d <= -radius, -128, 127))


def logistic(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    t = g.tensor(op.inputs[0])
    return [logistic_int8(values[op.inputs[0]],
                          input_scale=float(np.float64(np.float32(t.quant.s))),
                          input_zp=t.quant.zp)]
