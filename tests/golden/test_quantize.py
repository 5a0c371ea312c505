"""Tests for golden.quantize against independent exact references (Fraction / Decimal)."""

import struct
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pytest

from golden.quantize import (
    affine_quantize,
    asymmetric_params,
    dequantize,
    fake_quantize,
    qrange,
    quantize_asymmetric,
    quantize_symmetric,
    round_half_away,
    symmetric_params,
)

ALL_BITS = list(range(2, 17))


# ---------------------------------------------------------------- independent references


def ref_round_half_away(v):
    """Decimal ROUND_HALF_UP on the exact binary value = ties away from zero."""
    return int(Decimal(v).to_integral_value(rounding=ROUND_HALF_UP))


def ref_f32(v):
    """Round a Fraction/float to the nearest float32 (ties to even), exactly."""
    v = Fraction(v)
    if v == 0:
        return 0.0
    sign = -1 if v < 0 else 1
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, -126)  # subnormals share the exponent of the smallest normal
    ulp = Fraction(2) ** (e - 23)
    m = a / ulp
    n = int(m)
    rem = m - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2):
        n += 1
    out = float(n * ulp)
    assert struct.unpack("f", struct.pack("f", out))[0] == out
    return sign * out


def ref_quantize(r, scale, zp, qmin, qmax, f32=False):
    """q = clamp(round_half_away(fl(r / S)) + Z): the quotient rounded once to the working
    precision (float64, or float32 with S rounded to float32), as C++ evaluates it."""
    if f32:
        quot = ref_f32(Fraction(float(r)) / Fraction(ref_f32(scale)))
    else:
        quot = Fraction(float(r)) / Fraction(float(scale))
        quot = quot.numerator / quot.denominator  # int/int true division: correctly rounded
    return min(max(ref_round_half_away(quot) + int(zp), qmin), qmax)


def ref_qrange(bits, signed, narrow=False):
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return int(narrow), 2**bits - 1


# ---------------------------------------------------------------- round_half_away


EDGE_VALUES = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.0, 0.0, 0.49999999999999994,
               -0.49999999999999994, 2.0**51 + 0.5, -(2.0**51 + 0.5), 2.0**52 + 1.0,
               1e300, -1e300, 4.5, -4.5, 127.5, -128.5, 1 - 2**-53, -(1 - 2**-53)]


def test_round_half_away_edges():
    got = round_half_away(np.array(EDGE_VALUES))
    assert [int(v) for v in got] == [ref_round_half_away(v) for v in EDGE_VALUES]


def test_round_half_away_differs_from_numpy_on_even_ties():
    ties = np.array([-2.5, -0.5, 0.5, 2.5])
    assert round_half_away(ties).tolist() == [-3.0, -1.0, 1.0, 3.0]
    assert np.round(ties).tolist() == [-2.0, -0.0, 0.0, 2.0]


def test_round_half_away_random_and_ties():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1e3, 2000), rng.integers(-1000, 1000, 500) + 0.5,
                        rng.uniform(-3, 3, 500)])
    assert [int(v) for v in round_half_away(x)] == [ref_round_half_away(v) for v in x]


def test_round_half_away_non_finite_and_bad_input():
    out = round_half_away([np.inf, -np.inf, np.nan, 3])
    assert out[0] == np.inf and out[1] == -np.inf and np.isnan(out[2]) and out[3] == 3.0
    with pytest.raises(ValueError, match=r"^x=\['a'\] is not a real array"):
        round_half_away(["a"])
    with pytest.raises(ValueError, match=r"^x=True is not a real number"):
        round_half_away(True)


def test_round_half_away_keeps_float32():
    x = np.array([-2.5, 0.49999997, 2.5], dtype=np.float32)
    out = round_half_away(x)
    assert out.dtype == np.float32
    assert out.tolist() == [-3.0, 0.0, 3.0]


# ---------------------------------------------------------------- ranges and parameters


@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("narrow", [False, True])
def test_qrange(bits, signed, narrow):
    assert qrange(bits, signed=signed, narrow=narrow) == ref_qrange(bits, signed, narrow)


@pytest.mark.parametrize("bits", ALL_BITS)
def test_symmetric_params(bits):
    absmax = np.array([0.0, 1.0, 3.75, 1e-30, 1e30])
    scale, zp = symmetric_params(absmax, bits=bits)
    qmax = 2 ** (bits - 1) - 1
    assert scale[0] == 1.0  # all-zero: S = 1
    for a, s in zip(absmax[1:], scale[1:]):
        assert s == a / qmax
    assert zp.dtype == np.int64 and not zp.any()
    s0, z0 = symmetric_params(2.0, bits=bits)
    assert np.ndim(s0) == 0 and s0 == 2.0 / qmax and z0 == 0


def test_asymmetric_params_tflite_tie_example():
    # [-1, 1] on int8: S = 2/255, qmin - rmin/S = -128 + 127.5 = -0.5 -> round -> -1
    # (TFLite, one rounding). The seed form round(-rmin/S) + qmin gives 128 - 128 = 0.
    scale, zp = asymmetric_params(-1.0, 1.0, bits=8, signed=True)
    assert scale == 2.0 / 255 and zp == -1
    assert ref_round_half_away(127.5) - 128 == 0  # the seed's value, for contrast
    scale, zp = asymmetric_params(-1.0, 1.0, bits=8, signed=False)
    assert zp == 128


def test_asymmetric_params_extends_range_to_zero():
    s, z = asymmetric_params(0.5, 2.0, bits=8, signed=True)
    assert s == 2.0 / 255 and z == -128  # rmin -> 0
    s, z = asymmetric_params(-3.0, -1.0, bits=8, signed=False)
    assert s == 3.0 / 255 and z == 255  # rmax -> 0
    s, z = asymmetric_params(0.0, 0.0, bits=6, signed=True)
    assert s == 1.0 and z == -32  # all zero: S = 1, Z = qmin (MLIR quantizer)


@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("signed", [True, False])
def test_asymmetric_params_reference(bits, signed):
    rng = np.random.default_rng(bits * 2 + signed)
    lo = -np.abs(rng.lognormal(0, 2, 200)) * (rng.random(200) < 0.9)
    hi = np.abs(rng.lognormal(0, 2, 200)) * (rng.random(200) < 0.9)
    lo[:3], hi[:3] = [-1.0, -0.25, -7.0], [1.0, 0.75, 0.0]
    scale, zp = asymmetric_params(lo, hi, bits=bits, signed=signed)
    qmin, qmax = ref_qrange(bits, signed)
    for i in range(lo.size):
        # Python float operations = IEEE double, each rounded once, in C++ order
        lo_i, hi_i = min(float(lo[i]), 0.0), max(float(hi[i]), 0.0)
        if hi_i == lo_i:
            assert scale[i] == 1.0 and zp[i] == qmin
            continue
        s_ref = (hi_i - lo_i) / (qmax - qmin)
        assert scale[i] == s_ref
        z_ref = min(max(ref_round_half_away(qmin - lo_i / s_ref), qmin), qmax)
        assert zp[i] == z_ref


@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("signed", [True, False])
def test_zero_is_exactly_representable(bits, signed):
    rng = np.random.default_rng(100 + bits)
    lo = rng.uniform(-5, 2, 50)
    hi = lo + rng.uniform(0, 6, 50)
    scale, zp = asymmetric_params(lo, hi, bits=bits, signed=signed)
    qmin, qmax = ref_qrange(bits, signed)
    assert np.all((zp >= qmin) & (zp <= qmax))
    for s, z in zip(scale, zp):
        assert affine_quantize(0.0, s, z, bits=bits, signed=signed) == z
        assert dequantize(z, s, z) == 0.0


# ---------------------------------------------------------------- quantize / dequantize


@pytest.mark.parametrize("bits", [2, 4, 8, 12, 16])
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("f32", [False, True])
def test_quantize_reference(bits, signed, f32):
    rng = np.random.default_rng(bits * 7 + signed * 3 + f32)
    qmin, qmax = ref_qrange(bits, signed)
    scale = float(rng.uniform(0.01, 0.5))
    zp = int(rng.integers(qmin, qmax + 1))
    codes = np.arange(qmin - 3, qmax + 4)
    # exact ties k + 0.5 (in the working precision), random values, range edges
    ties = (rng.choice(codes, 300) - zp + 0.5) * scale
    rand = rng.uniform((qmin - zp - 5) * scale, (qmax - zp + 5) * scale, 700)
    r = np.concatenate([ties, rand, [(qmin - zp) * scale, (qmax - zp) * scale, 0.0]])
    if f32:
        r = r.astype(np.float32)
    q = affine_quantize(r, scale, zp, bits=bits, signed=signed)
    assert q.dtype == np.int64
    expect = [ref_quantize(v, scale, zp, qmin, qmax, f32) for v in r]
    assert q.tolist() == expect


def test_quantize_float32_path_matches_tflite_division():
    # TFLite AffineQuantize divides in float32: 0.35f / 0.1f rounds to exactly 3.5 -> 4.
    # In float64 the same float32 input gives 3.4999999403953552 -> 3.
    r32 = np.float32(0.35)
    assert np.float32(r32) / np.float32(0.1) == np.float32(3.5)
    assert affine_quantize(np.array([r32]), 0.1, 0).tolist() == [4]
    assert affine_quantize(np.array([float(r32)]), 0.1, 0).tolist() == [3]
    assert affine_quantize(r32, 0.1, 0) == 4  # NumPy float32 scalar too


def test_quantize_saturates():
    q = affine_quantize([-1e30, -5.0, 5.0, 1e30, 1e300], 0.01, 3, bits=4, signed=True)
    assert q.tolist() == [-8, -8, 7, 7, 7]
    q = affine_quantize([-1.0, 1.0], 0.1, 0, bits=8, signed=True, narrow=True)
    assert q.tolist() == [-10, 10]
    q = affine_quantize([-100.0, 100.0], 0.1, 0, bits=8, signed=True, narrow=True)
    assert q.tolist() == [-127, 127]


def test_dequantize_exact():
    q = np.arange(-128, 128)
    r = dequantize(q, 0.0625, -3)
    assert r.dtype == np.float64
    assert r.tolist() == [0.0625 * (v + 3) for v in range(-128, 128)]


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_per_channel_equals_per_slice(axis):
    rng = np.random.default_rng(5)
    r = rng.normal(0.3, 2.0, size=(3, 4, 5))
    r[(slice(None),) * (axis % 3) + (1,)] = 0.0  # an all-zero channel
    for fn, kw in [(quantize_symmetric, {}), (quantize_asymmetric, {"signed": True}),
                   (quantize_asymmetric, {"signed": False})]:
        q, s, z = fn(r, bits=6, axis=axis, **kw)
        assert s.shape == (r.shape[axis],) and z.shape == s.shape
        assert s[1] == 1.0
        for c in range(r.shape[axis]):
            sl = np.take(r, c, axis=axis)
            qc, sc, zc = fn(sl, bits=6, **kw)
            assert (sc, zc) == (s[c], z[c])
            assert np.array_equal(np.take(q, c, axis=axis), qc)
        back = dequantize(q, s, z, axis=axis)
        assert np.array_equal(back, fake_quantize(r, s, z, bits=6, axis=axis,
                                                  signed=kw.get("signed", True),
                                                  narrow=fn is quantize_symmetric))


@pytest.mark.parametrize("bits", ALL_BITS)
def test_quantize_symmetric(bits):
    rng = np.random.default_rng(bits)
    r = rng.normal(0, 3, 1000)
    q, s, z = quantize_symmetric(r, bits=bits)
    qmax = 2 ** (bits - 1) - 1
    assert z == 0 and s == np.max(np.abs(r)) / qmax
    assert q.min() >= -qmax and q.max() <= qmax
    assert np.max(np.abs(q)) == qmax  # the extreme value maps to ±qmax
    assert np.array_equal(quantize_symmetric(-r, bits=bits)[0], -q)  # odd symmetry
    assert np.max(np.abs(r - dequantize(q, s, z))) <= s / 2 * (1 + 1e-12)


@pytest.mark.parametrize("bits", ALL_BITS)
@pytest.mark.parametrize("signed", [True, False])
def test_quantize_asymmetric(bits, signed):
    rng = np.random.default_rng(50 + bits)
    r = rng.uniform(-1.3, 3.1, 1000)
    q, s, z = quantize_asymmetric(r, bits=bits, signed=signed)
    qmin, qmax = ref_qrange(bits, signed)
    assert (s, z) == asymmetric_params(r.min(), r.max(), bits=bits, signed=signed)
    assert q.min() >= qmin and q.max() <= qmax
    assert q.min() <= qmin + 1 and q.max() >= qmax - 1  # range used end to end
    # inside the representable range the error is at most S/2 (+ float rounding)
    r_hat = dequantize(q, s, z)
    inside = (r >= s * (qmin - z)) & (r <= s * (qmax - z))
    assert np.max(np.abs(r - r_hat)[inside]) <= s / 2 * (1 + 1e-9)


def test_all_zero_tensor():
    q, s, z = quantize_symmetric(np.zeros(7), bits=8)
    assert s == 1.0 and z == 0 and not q.any()
    q, s, z = quantize_asymmetric(np.zeros(7), bits=8, signed=True)
    assert s == 1.0 and z == -128 and np.all(q == -128)
    assert not dequantize(q, s, z).any()


# ---------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: qrange(1), "bits=1 is out of range; allowed: [2, 16]"),
        (lambda: qrange(17), "bits=17 is out of range; allowed: [2, 16]"),
        (lambda: qrange(8.0), "bits=8.0 is not an integer; allowed: [2, 16]"),
        (lambda: qrange(8, signed=1), "signed=1 is not a bool; allowed: True, False"),
        (lambda: quantize_symmetric([1.0], bits=17),
         "bits=17 is out of range; allowed: [2, 16]"),
        (lambda: affine_quantize([1.0], 0.0, 0),
         "scale=0.0 is out of range; allowed: > 0 and finite"),
        (lambda: affine_quantize([1.0], -0.5, 0),
         "scale=-0.5 is out of range; allowed: > 0 and finite"),
        (lambda: affine_quantize([1.0], float("nan"), 0),
         "scale=nan is out of range; allowed: finite values"),
        (lambda: affine_quantize([1.0], float("inf"), 0),
         "scale=inf is out of range; allowed: finite values"),
        (lambda: affine_quantize(np.ones((2, 3)), [0.1, 0.0, 0.2], [0, 0, 0], axis=1),
         "scale[1]=0.0 is out of range; allowed: > 0 and finite"),
        (lambda: affine_quantize([1.0], 0.1, 128),
         "zero_point=128 is out of range; allowed: [-128, 127]"),
        (lambda: affine_quantize([1.0], 0.1, -1, signed=False),
         "zero_point=-1 is out of range; allowed: [0, 255]"),
        (lambda: affine_quantize([1.0], 0.1, 0.5), "zero_point=0.5 is not an integer"),
        (lambda: affine_quantize([float("inf")], 0.1, 0),
         "r[0]=inf is out of range; allowed: finite values"),
        (lambda: affine_quantize(np.ones((2, 3)), [0.1, 0.2], [0, 0], axis=1),
         "scale.shape=(2,) is out of range; allowed: (3,) (one per channel along axis=1)"),
        (lambda: affine_quantize(np.ones((2, 3)), [0.1, 0.2, 0.3], [0, 0], axis=1),
         "zero_point.shape=(2,) is out of range; allowed: (3,)"),
        (lambda: affine_quantize(np.ones((2, 3)), [0.1, 0.2], [0, 0]),
         "scale.shape=(2,) is out of range; allowed: () (a scalar) when axis=None"),
        (lambda: affine_quantize(np.ones((2, 3)), [0.1, 0.2], [0, 0], axis=2),
         "axis=2 is out of range; allowed: [-2, 1]"),
        (lambda: quantize_symmetric(np.ones((2, 3)), axis=-3),
         "axis=-3 is out of range; allowed: [-2, 1]"),
        (lambda: quantize_symmetric(1.0, axis=0),
         "axis=0 is out of range; allowed: None (0-d input)"),
        (lambda: quantize_asymmetric([], bits=8), "r.size=0 is out of range; allowed: >= 1"),
        (lambda: symmetric_params(-1.0), "absmax=-1.0 is out of range; allowed: >= 0"),
        (lambda: asymmetric_params(1.0, -1.0),
         "rmin=1.0 is out of range; allowed: <= rmax (-1.0)"),
        (lambda: asymmetric_params([0.0, 2.0], [1.0, 1.0]),
         "rmin[1]=2.0 is out of range; allowed: <= rmax (1.0)"),
        (lambda: asymmetric_params([0.0], [1.0, 1.0]),
         "rmax.shape=(2,) is out of range; allowed: rmin.shape=(1,)"),
        (lambda: asymmetric_params(-1e308, 1e308),
         "rmax=1e+308 is out of range; allowed: a range whose scale is a positive finite"),
        (lambda: dequantize([1, 2], [0.1], [0], axis=0),
         "scale.shape=(1,) is out of range; allowed: (2,)"),
        (lambda: affine_quantize(np.ones(2, dtype=np.float32), 1e-50, 0),
         "scale=1e-50 is out of range; allowed: a positive finite float32 for float32 r"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)
