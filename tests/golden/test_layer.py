"""Tests for golden.layer against independent float32/Fraction references of TFLite."""

import struct
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pytest

from golden.layer import ACTIVATIONS, activation_range, layer_multipliers, real_multiplier
from golden.multiplier import quantize_multiplier


def f32(v):
    """Round a double to float32 (IEEE, via the C struct module)."""
    return struct.unpack("f", struct.pack("f", float(v)))[0]


def f32_exact(v):
    """Round an exact Fraction to the nearest float32 (ties to even), no double rounding."""
    v = Fraction(v)
    if v == 0:
        return 0.0
    sign, a = (-1 if v < 0 else 1), abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    ulp = Fraction(2) ** (max(e, -126) - 23)
    n, rem = divmod(a, ulp)
    n = int(n)
    if rem / ulp > Fraction(1, 2) or (rem / ulp == Fraction(1, 2) and n % 2):
        n += 1
    return sign * float(n * ulp)


def ref_round_half_away(v):
    return int(Decimal(v).to_integral_value(rounding=ROUND_HALF_UP))


def ref_real_multiplier_fc(xs, ws, ys):
    """float32 product (the exact product of two float32 fits a double: round once)."""
    prod = f32_exact(Fraction(f32(xs)) * Fraction(f32(ws)))
    return prod / f32(ys)  # Python float division = IEEE double


def ref_real_multiplier_pc(xs, ws, ys):
    return [(f32(xs) * f32(w)) / f32(ys) for w in ws]  # double ops, left to right


def ref_activation_range(activation, scale, zp, qmin, qmax):
    s = Fraction(f32(scale))

    def quantize(v):
        return zp + ref_round_half_away(f32_exact(Fraction(v) / s))

    if activation == "none":
        return qmin, qmax
    if activation == "relu":
        return max(qmin, quantize(0)), qmax
    if activation == "relu6":
        return max(qmin, quantize(0)), min(qmax, quantize(6))
    return max(qmin, quantize(-1)), min(qmax, quantize(1))


# ---------------------------------------------------------------- real multiplier


def test_real_multiplier_fc_vs_per_channel_forms_differ():
    fc = real_multiplier(0.02, 0.003, 0.1)
    pc = real_multiplier(0.02, [0.003], 0.1)
    assert fc == ref_real_multiplier_fc(0.02, 0.003, 0.1) == 0.0005999999759020287
    assert pc.tolist() == ref_real_multiplier_pc(0.02, [0.003], 0.1)
    assert layer_multipliers(0.02, 0.003, 0.1) == (1319413900, -10)
    m0, shift = layer_multipliers(0.02, [0.003], 0.1)
    assert m0.tolist() == [1319413916] and shift.tolist() == [-10]


def test_real_multiplier_random_reference():
    rng = np.random.default_rng(0)
    for _ in range(300):
        xs, ys = 10 ** rng.uniform(-4, 0), 10 ** rng.uniform(-3, 1)
        ws = 10 ** rng.uniform(-5, -1, 8)
        assert real_multiplier(xs, ws[0], ys) == ref_real_multiplier_fc(xs, ws[0], ys)
        assert real_multiplier(xs, ws, ys).tolist() == ref_real_multiplier_pc(xs, ws, ys)


def test_scales_are_rounded_to_float32_first():
    # 0.1 is not a float32; TFLite sees 0.100000001490116...
    assert real_multiplier(1.0, [1.0], 0.1).tolist() == [1.0 / f32(0.1)]
    assert real_multiplier(0.1, [1.0], 1.0).tolist() == [f32(0.1)]


def test_layer_multipliers_use_quantize_multiplier():
    rng = np.random.default_rng(1)
    ws = 10 ** rng.uniform(-4, -1, 16)
    m0, shift = layer_multipliers(0.0123, ws, 0.0456)
    assert m0.dtype == np.int64 and m0.shape == (16,) and shift.shape == (16,)
    for c, w in enumerate(ws):
        real = ref_real_multiplier_pc(0.0123, [w], 0.0456)[0]
        assert (int(m0[c]), int(shift[c])) == quantize_multiplier(real)
    m0, shift = layer_multipliers(0.5, 0.5, 0.25)  # M = 1.0
    assert m0.shape == () and (int(m0), int(shift)) == (2**30, 1)


# ---------------------------------------------------------------- activation range


@pytest.mark.parametrize(
    "activation, scale, zp, bits, signed, expected",
    [
        ("none", 0.1, 3, 8, True, (-128, 127)),
        ("relu", 0.1, 3, 8, True, (3, 127)),
        ("relu", 0.1, 3, 8, False, (3, 255)),
        ("relu6", 6 / 255, -128, 8, True, (-128, 127)),
        ("relu6", 0.05, -10, 8, True, (-10, 110)),
        ("relu6", 0.01, 0, 8, True, (0, 127)),  # 600 clipped to qmax
        ("relu6", 12.0, 5, 8, True, (5, 6)),  # 6/12 = 0.5 → 1 (half away from zero)
        ("relu6", 4.0, 5, 8, True, (5, 7)),  # 1.5 → 2
        ("relu_n1_to_1", 2.0, 0, 8, True, (-1, 1)),  # ±0.5 → ±1 (np.round gives 0)
        ("relu_n1_to_1", 1 / 100, 20, 8, True, (-80, 120)),
        ("relu_n1_to_1", 1 / 200, 20, 8, True, (-128, 127)),
        ("relu6", 6 / 65535, -32768, 16, True, (-32768, 32767)),
        ("relu6", 1e-3, 0, 4, False, (0, 15)),
    ],
)
def test_activation_range_table(activation, scale, zp, bits, signed, expected):
    got = activation_range(activation, scale, zp, out_bits=bits, out_signed=signed)
    assert got == expected
    qmin = -(2 ** (bits - 1)) if signed else 0
    qmax = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    assert got == ref_activation_range(activation, scale, zp, qmin, qmax)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("bits, signed", [(8, True), (8, False), (16, True), (4, True)])
def test_activation_range_random_reference(activation, bits, signed):
    rng = np.random.default_rng(bits + signed)
    qmin = -(2 ** (bits - 1)) if signed else 0
    qmax = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    for _ in range(200):
        scale = float(10 ** rng.uniform(-4, 0.5))
        zp = int(rng.integers(qmin, qmax + 1))
        got = activation_range(activation, scale, zp, out_bits=bits, out_signed=signed)
        assert got == ref_activation_range(activation, scale, zp, qmin, qmax)
        assert qmin <= got[0] <= got[1] <= qmax


def test_activation_range_uses_float32_division():
    # y_scale = 2.4 is stored as float32 2.4000000953674316. TFLite divides in float32:
    # 6.0f / 2.4f = 2.5 exactly (rounded) → 3; in double the quotient is 2.49999990... → 2.
    assert np.float32(6.0) / np.float32(2.4) == np.float32(2.5)
    assert round(6.0 / f32(2.4)) == 2
    assert activation_range("relu6", 2.4, 0) == (0, 3)
    assert activation_range("relu6", 2.4, 0) == ref_activation_range("relu6", 2.4, 0, -128, 127)


# ---------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: real_multiplier(0.0, 1.0, 1.0),
         "x_scale=0.0 is out of range; allowed: > 0 and finite as float32"),
        (lambda: real_multiplier(-1.0, 1.0, 1.0),
         "x_scale=-1.0 is out of range; allowed: > 0 and finite as float32"),
        (lambda: real_multiplier(1e-50, 1.0, 1.0),
         "x_scale=1e-50 is out of range; allowed: > 0 and finite as float32"),
        (lambda: real_multiplier(1.0, 1.0, 1e39),
         "y_scale=1e+39 is out of range; allowed: > 0 and finite as float32"),
        (lambda: real_multiplier(1.0, [0.1, float("nan")], 1.0),
         "w_scale[1]=nan is out of range; allowed: finite values"),
        (lambda: real_multiplier(1.0, [0.1, 0.0], 1.0),
         "w_scale[1]=0.0 is out of range; allowed: > 0 and finite as float32"),
        (lambda: real_multiplier(1.0, [[0.1]], 1.0),
         "w_scale.shape=(1, 1) is out of range; allowed: a scalar or a 1-D array"),
        (lambda: real_multiplier(1.0, [], 1.0),
         "w_scale.shape=(0,) is out of range; allowed: >= 1 channel"),
        (lambda: real_multiplier([1.0, 2.0], 1.0, 1.0),
         "x_scale.shape=(2,) is out of range; allowed: a scalar"),
        (lambda: real_multiplier(1e-30, 1e-30, 1.0),
         "w_scale=1e-30 is out of range; allowed: x_scale*w_scale > 0 and finite in float32"),
        (lambda: layer_multipliers(1.0, 2.0**31, 1.0),
         "real_multiplier=2147483648.0 is out of range; allowed: [0, 2^30 - 2^-2)"),
        (lambda: activation_range("gelu", 0.1, 0),
         "activation='gelu' is out of range; allowed: 'none', 'relu', 'relu6', 'relu_n1_to_1'"),
        (lambda: activation_range("relu", 0.1, 128),
         "y_zp=128 is out of range; allowed: [-128, 127]"),
        (lambda: activation_range("relu", 0.1, -1, out_signed=False),
         "y_zp=-1 is out of range; allowed: [0, 255]"),
        (lambda: activation_range("relu", 0.1, 0, out_bits=17),
         "out_bits=17 is out of range; allowed: [2, 16]"),
        (lambda: activation_range("relu", 0.1, 0, out_signed="yes"),
         "out_signed='yes' is not a bool; allowed: True, False"),
        (lambda: activation_range("relu", 0.0, 0),
         "y_scale=0.0 is out of range; allowed: > 0 and finite as float32"),
        (lambda: activation_range("relu6", 1e-9, 0),
         "y_scale=1e-09 is out of range; allowed: round(6.0/y_scale) must fit int32"),
        (lambda: activation_range("relu", 0.1, [0]),
         "y_zp.shape=(1,) is out of range; allowed: () (a scalar)"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)
