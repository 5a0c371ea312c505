"""Quantization error metrics (NumPy only).

All functions compare a real signal ``r`` with its reconstruction ``r_hat`` (e.g.
``golden.quantize.fake_quantize(r, ...)``); both must have the same shape, at least one
element, and finite values. Results are float64.

Formulas (``e = r − r_hat``, means over all elements)::

    quantization_error = e
    mse                = mean(e²)
    max_abs_error      = max |e|
    sqnr_db            = 10·log10(mean(r²) / mean(e²))
    psqnr_db           = 10·log10(peak² / mean(e²)),     peak = max|r| unless given
    effective_bits     = (SQNR − 1.76) / 6.02

Uniform-noise model: with step ``Δ`` and an input that is spread evenly over each step,
``e ~ U(−Δ/2, Δ/2)``, ``mean(e²) = Δ²/12`` and ``max|e| = Δ/2`` inside the range.
For a full-scale sine (amplitude ``A = 2^(b−1)·Δ``, i.e. ``2^b`` levels spanning the
peak-to-peak range plus one step) this gives ``SQNR = 6.02·b + 1.76 dB``
(exactly ``20·log10(2)·b + 10·log10(1.5)``).

Limits of the model (measured, see ``tests/golden/test_metrics.py``): the samples of a
sine pile up near its peaks, where the error is not uniform. The two end steps hold a
fraction ``≈ 4/(π·2^(b/2))`` of the samples with mean-square error ``≈ 0.117·Δ²`` instead
of ``Δ²/12 ≈ 0.083·Δ²``, so the noise is ``(1 + 1.6/(π·2^(b/2)))·Δ²/12`` and the ideal
quantizer's SQNR is 0.53 dB below the formula at b = 4, 0.13 dB at b = 8, 0.03 dB at b = 12
and < 0.01 dB at b = 16. Quantizers that do not put exactly ``2^b`` steps across the
sine's range differ further: min–max asymmetric quantization has ``Δ = 2A/(2^b − 1)``
(−0.56 dB at b = 4 on this count alone) and symmetric narrow-range quantization
``Δ = A/(2^(b−1) − 1)`` (−1.16 dB at b = 4).

Seed documents: one states ``SQNR ≈ 10·log10(12σ²/Δ²) = 6.02·b + 10.79 dB`` for a signal
of variance σ². The first equality is the uniform-noise model; the second only holds
when ``σ`` equals the whole quantizer range ``2^b·Δ``, which no signal that fits the range
can have (a full-scale sine has ``σ = 2^b·Δ/(2√2)``, giving 6.02·b + 1.76 dB; a full-scale
uniform signal ``σ = 2^b·Δ/√12``, giving 6.02·b dB). Another seed's PSQNR uses
``MAX = maximum possible signal value``; ``psqnr_db`` defaults to the observed ``max|r|``
and accepts the nominal peak as ``peak``.
"""

import numpy as np

from golden._validate import as_float_array

__all__ = [
    "quantization_error",
    "mse",
    "max_abs_error",
    "sqnr_db",
    "psqnr_db",
    "effective_bits",
    "SQNR_DB_PER_BIT",
    "SQNR_SINE_OFFSET_DB",
]

#: Slope of the textbook rule ``SQNR = 6.02·b + 1.76`` (``20·log10(2)`` rounded).
SQNR_DB_PER_BIT = 6.02
#: Full-scale-sine offset of that rule (``10·log10(1.5)`` rounded).
SQNR_SINE_OFFSET_DB = 1.76


def _pair(r, r_hat):
    r = as_float_array("r", r)
    r_hat = as_float_array("r_hat", r_hat)
    if r.shape != r_hat.shape:
        raise ValueError(
            f"r_hat.shape={r_hat.shape} is out of range; allowed: r.shape={r.shape}"
        )
    if r.size == 0:
        raise ValueError("r.size=0 is out of range; allowed: >= 1 element")
    return r, r_hat


def _ratio_db(num, den):
    """10·log10(num/den) with the limits 0/0 → +inf (perfect), x/0 → +inf, 0/x → −inf."""
    if den == 0:
        return float("inf")
    if num == 0:
        return float("-inf")
    return float(10.0 * (np.log10(num) - np.log10(den)))


def quantization_error(r, r_hat):
    """Element-wise quantization error ``e = r − r_hat``.

    Parameters
    ----------
    r, r_hat : array_like of float
        Original and reconstructed values, same shape, finite, non-empty.

    Returns
    -------
    numpy.ndarray of float64
        ``r − r_hat``, same shape.
    """
    r, r_hat = _pair(r, r_hat)
    return r - r_hat


def mse(r, r_hat):
    """Mean squared error ``mean((r − r_hat)²)`` (the seeds' MSQE).

    Under the uniform-noise model ``mse ≈ Δ²/12``.

    Parameters
    ----------
    r, r_hat : array_like of float
        Same shape, finite, non-empty.

    Returns
    -------
    float
    """
    e = quantization_error(r, r_hat)
    return float(np.mean(e * e))


def max_abs_error(r, r_hat):
    """Largest absolute error ``max|r − r_hat|``; at most ``Δ/2`` for values inside the
    quantizer range with round-to-nearest.

    Parameters
    ----------
    r, r_hat : array_like of float
        Same shape, finite, non-empty.

    Returns
    -------
    float
    """
    return float(np.max(np.abs(quantization_error(r, r_hat))))


def sqnr_db(r, r_hat):
    """Signal-to-quantization-noise ratio ``10·log10(mean(r²) / mean((r − r_hat)²))`` dB.

    Parameters
    ----------
    r, r_hat : array_like of float
        Same shape, finite, non-empty.

    Returns
    -------
    float
        ``+inf`` when the error is zero, ``−inf`` when the signal is zero but the error is
        not. For a full-scale sine on an ideal b-bit quantizer ``≈ 6.02·b + 1.76`` (see the
        module docstring for the exact deviation at low b).
    """
    r, r_hat = _pair(r, r_hat)
    e = r - r_hat
    return _ratio_db(float(np.mean(r * r)), float(np.mean(e * e)))


def psqnr_db(r, r_hat, *, peak=None):
    """Peak signal-to-quantization-noise ratio ``10·log10(peak² / mse)`` dB.

    Parameters
    ----------
    r, r_hat : array_like of float
        Same shape, finite, non-empty.
    peak : float or None
        Peak signal value ``MAX`` (> 0, finite), e.g. the nominal full scale. Default: the
        observed ``max|r|``.

    Returns
    -------
    float
        ``+inf`` when the error is zero.
    """
    r, r_hat = _pair(r, r_hat)
    if peak is None:
        peak = float(np.max(np.abs(r)))
    else:
        p = as_float_array("peak", peak)
        if p.ndim != 0 or not p > 0:
            raise ValueError(f"peak={peak!r} is out of range; allowed: a scalar > 0")
        peak = float(p)
    e = r - r_hat
    return _ratio_db(peak * peak, float(np.mean(e * e)))


def effective_bits(sqnr_db):
    """Effective number of bits of a measured SQNR: ``ENOB = (SQNR − 1.76) / 6.02``.

    The inverse of the full-scale-sine rule ``SQNR = 6.02·b + 1.76`` (IEEE 1241 ENOB
    convention with the rounded constants).

    Parameters
    ----------
    sqnr_db : float or array_like of float
        SQNR in dB (``±inf`` allowed and mapped to ``±inf``; NaN rejected).

    Returns
    -------
    float or numpy.ndarray of float64
        Same shape as ``sqnr_db`` (a Python float for a scalar).
    """
    s = as_float_array("sqnr_db", sqnr_db, finite=False)
    if np.isnan(s).any():
        idx = np.unravel_index(int(np.argmax(np.isnan(s))), s.shape)
        label = "sqnr_db" if s.ndim == 0 else f"sqnr_db[{', '.join(map(str, idx))}]"
        raise ValueError(f"{label}=nan is out of range; allowed: real numbers or ±inf")
    out = (s - SQNR_SINE_OFFSET_DB) / SQNR_DB_PER_BIT
    return float(out) if out.ndim == 0 else out
