"""Tests for golden.metrics: formulas, the 6.02·b + 1.76 dB rule, the Δ/2 bound."""

import math

import numpy as np
import pytest

from golden.metrics import (
    effective_bits,
    max_abs_error,
    mse,
    psqnr_db,
    quantization_error,
    sqnr_db,
)
from golden.quantize import (
    affine_quantize,
    dequantize,
    fake_quantize,
    qrange,
    quantize_asymmetric,
)

# Incommensurate (irrational) frequency in cycles/sample, so the sine's phases fill the
# circle evenly and the error statistics converge instead of repeating a short period.
FREQ = (math.sqrt(5) - 1) / 2 / 17
N_SAMPLES = 200_000


def full_scale_sine_sqnr(bits):
    """SQNR of a full-scale sine on the ideal b-bit quantizer built from the toolkit.

    Ideal quantizer = 2^b levels whose steps cover the sine's peak-to-peak range exactly:
    step Δ = 2A / 2^b, amplitude A = 2^(b−1)·Δ, signed codes, reconstruction levels at
    (q + ½)·Δ (mid-rise). With integer zero points the half step is an input offset:
    q = affine_quantize(x − Δ/2, Δ, 0), x̂ = dequantize(q) + Δ/2.
    """
    n = np.arange(N_SAMPLES)
    x = np.sin(2 * np.pi * FREQ * n)  # A = 1
    delta = 2.0 / 2**bits
    q = affine_quantize(x - delta / 2, delta, 0, bits=bits, signed=True)
    qmin, qmax = qrange(bits)
    assert q.min() == qmin and q.max() == qmax  # every code used: full range
    x_hat = dequantize(q, delta, 0) + delta / 2
    assert max_abs_error(x, x_hat) <= delta / 2 * (1 + 1e-9)
    return sqnr_db(x, x_hat)


@pytest.mark.parametrize("bits", [4, 8, 12, 16])
def test_full_scale_sine_sqnr(bits):
    measured = full_scale_sine_sqnr(bits)
    textbook = 6.02 * bits + 1.76
    # Uniform-noise model plus the end-step correction derived in golden/metrics.py: the
    # sine's samples crowd into the two outermost steps (fraction ≈ 4/(π·2^(b/2))), where
    # the mean-square error is ≈ 0.117·Δ² instead of Δ²/12.
    corrected = (20 * math.log10(2) * bits + 10 * math.log10(1.5)
                 - 10 * math.log10(1 + 1.6 / (math.pi * 2 ** (bits / 2))))
    assert abs(measured - corrected) <= 0.03
    if bits >= 12:
        assert abs(measured - textbook) <= 0.1
    else:
        # the textbook rule is an asymptote: 0.53 dB high at b = 4, 0.13 dB at b = 8
        assert -0.6 < measured - textbook < -0.1
    assert abs(effective_bits(measured) - bits) <= 0.1


@pytest.mark.parametrize("bits", [2, 4, 8, 12, 16])
def test_full_scale_uniform_signal_sqnr_is_6_02_b(bits):
    """A full-scale uniform signal makes the error exactly uniform: SQNR = 6.02·b dB."""
    rng = np.random.default_rng(bits)
    delta = 2.0 / 2**bits
    x = rng.uniform(-1, 1, N_SAMPLES)
    x_hat = dequantize(affine_quantize(x - delta / 2, delta, 0, bits=bits), delta, 0) + delta / 2
    assert abs(sqnr_db(x, x_hat) - 6.02 * bits) <= 0.1
    assert abs(mse(x, x_hat) / (delta**2 / 12) - 1) <= 0.02


@pytest.mark.parametrize("bits", range(2, 17))
@pytest.mark.parametrize("signed", [True, False])
def test_uniform_error_bounded_by_half_step_inside_range(bits, signed):
    rng = np.random.default_rng(bits + 100 * signed)
    x = rng.normal(0.4, 1.5, 20_000)
    q, s, z = quantize_asymmetric(x, bits=bits, signed=signed)
    qmin, qmax = qrange(bits, signed=signed)
    x_hat = dequantize(q, s, z)
    inside = (x >= s * (qmin - z)) & (x <= s * (qmax - z))
    assert inside.mean() > 0.99
    err = quantization_error(x[inside], x_hat[inside])
    assert max_abs_error(x[inside], x_hat[inside]) <= s / 2 * (1 + 1e-9)
    # the error fills the whole band [-Δ/2, Δ/2] and is ~uniform: mean ≈ 0, mse ≈ Δ²/12
    assert np.max(np.abs(err)) >= 0.45 * s
    if bits >= 6:
        assert abs(mse(x[inside], x_hat[inside]) / (s * s / 12) - 1) <= 0.05


def test_seed_worked_examples():
    # seed "Quantization Error", examples 1-3
    assert quantization_error([5.87], [6.0])[0] == pytest.approx(-0.13)
    assert mse([2.3, 3.7, 4.1], [2, 4, 4]) == pytest.approx(0.19 / 3)
    # PSQNR with MAX = 10 and MSQE = 0.25: 10·log10(400) = 26.02 dB
    r = np.array([10.0, 0.0, 5.0, -5.0])
    r_hat = r + np.array([0.5, -0.5, 0.5, -0.5])
    assert mse(r, r_hat) == 0.25
    assert psqnr_db(r, r_hat) == pytest.approx(26.0206, abs=1e-4)
    assert psqnr_db(r, r_hat, peak=20.0) == pytest.approx(32.0412, abs=1e-4)


def test_formulas():
    r = np.array([[1.0, -2.0], [3.0, 0.5]])
    r_hat = np.array([[1.25, -2.0], [2.5, 0.5]])
    e = r - r_hat
    assert np.array_equal(quantization_error(r, r_hat), e)
    assert mse(r, r_hat) == np.mean(e**2)
    assert max_abs_error(r, r_hat) == 0.5
    assert sqnr_db(r, r_hat) == pytest.approx(10 * math.log10(np.mean(r**2) / np.mean(e**2)))
    assert psqnr_db(r, r_hat) == pytest.approx(10 * math.log10(9 / np.mean(e**2)))
    assert sqnr_db(r, r) == math.inf and psqnr_db(r, r) == math.inf
    assert sqnr_db([0.0, 0.0], [0.0, 1.0]) == -math.inf
    assert isinstance(mse(r, r_hat), float) and isinstance(sqnr_db(r, r_hat), float)


def test_effective_bits():
    assert effective_bits(6.02 * 8 + 1.76) == pytest.approx(8.0)
    assert effective_bits(1.76) == 0.0
    assert effective_bits(math.inf) == math.inf
    out = effective_bits([49.92, 98.08])
    assert out.shape == (2,) and out == pytest.approx([8.0, 16.0])


def test_fake_quantize_sqnr_improves_6db_per_bit():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 50_000)
    prev = None
    for bits in range(4, 13):
        q, s, z = quantize_asymmetric(x, bits=bits)
        cur = sqnr_db(x, fake_quantize(x, s, z, bits=bits))
        if prev is not None:
            assert 5.7 < cur - prev < 6.4
        prev = cur


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mse([1.0, 2.0], [1.0]), "r_hat.shape=(1,) is out of range; allowed: r.shape=(2,)"),
        (lambda: sqnr_db([[1.0]], [1.0]),
         "r_hat.shape=(1,) is out of range; allowed: r.shape=(1, 1)"),
        (lambda: max_abs_error([], []), "r.size=0 is out of range; allowed: >= 1 element"),
        (lambda: mse([1.0, float("nan")], [1.0, 1.0]),
         "r[1]=nan is out of range; allowed: finite values"),
        (lambda: psqnr_db([1.0], [1.0], peak=0.0),
         "peak=0.0 is out of range; allowed: a scalar > 0"),
        (lambda: psqnr_db([1.0], [1.0], peak=[1.0, 2.0]),
         "peak=[1.0, 2.0] is out of range; allowed: a scalar > 0"),
        (lambda: effective_bits(float("nan")),
         "sqnr_db=nan is out of range; allowed: real numbers"),
        (lambda: quantization_error(["a"], ["b"]), "r=['a'] is not a real array"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)
