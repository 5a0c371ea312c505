"""Range calibration: choose ``(scale, zero_point)`` for a tensor of observed values.

Every method first picks a clipping range and then converts it with
:func:`golden.quantize.symmetric_params` (``symmetric=True``: threshold ``T``, range
``[−T, T]``, ``Z = 0``, narrow signed codes) or :func:`golden.quantize.asymmetric_params`
(``symmetric=False``: range ``[lo, hi]`` extended to contain 0, signed or unsigned codes).

Methods (``METHODS``)
---------------------
``"minmax"``
    ``T = max|x|`` / ``[lo, hi] = [min x, max x]``. No clipping; outliers stretch the step.
``"percentile"``
    ``T = P_p(|x|)`` / ``[lo, hi] = [P_(100−p)(x), P_p(x)]`` with ``P_p`` NumPy's
    linearly interpolated p-th percentile, ``p ∈ (50, 100]`` (default 99.99).
``"mse"``
    Grid search for the clipping that minimises the round-trip error
    ``mean((x − fake_quantize(x))²)``: candidates ``T_k = (k/n)·max|x|`` (symmetric) or
    ``[lo, hi]_k = (k/n)·[min x, max x]`` (asymmetric), ``k = 1..n``,
    ``n = num_candidates`` (default 100); the smallest error wins (ties: the larger range).
``"kl"``
    TensorRT entropy calibration (Migacz, "8-bit Inference with TensorRT", GTC 2017), as
    NVIDIA's pytorch-quantization ``_compute_amax_entropy`` implements it (MXNet's
    ``_get_optimal_threshold`` is a variant on a signed histogram):

    1. Histogram ``h`` of ``|x|`` with ``num_bins`` (2048) equal bins over ``[0, max|x|]``,
       bin width ``w``; then ``h[0] ← h[1]`` (pytorch-quantization does this so the spike of
       exact zeros, e.g. after ReLU, does not dominate the divergence; for continuous data
       ``h[0] ≈ h[1]`` anyway).
    2. For every candidate ``i = L, L + 1, ..., num_bins`` (``L`` quantization levels,
       below) with threshold ``T_i = i·w``:

       * reference ``P = h[:i]`` with the clipped outliers ``Σ h[i:]`` added to ``P[i−1]``;
       * candidate ``Q``: split ``h[:i]`` into ``L`` consecutive groups (group ``j`` is
         bins ``⌊j·i/L⌋ .. ⌊(j+1)·i/L⌋ − 1``); each group's total is spread evenly over
         its *non-empty* bins, empty bins stay 0 (so ``Q`` has the support of ``h[:i]``);
       * smooth both (``ε = 10⁻⁴`` counts moved into every empty bin, taken evenly from
         the non-empty ones, as MXNet ``_smooth_distribution``; ``ε`` is scaled down when
         a non-empty bin holds less than the amount to take) and normalise;
       * ``KL(P‖Q) = Σ P·ln(P/Q)``.
    3. ``T = T_i`` of the smallest divergence (ties: the larger ``i``, as
       pytorch-quantization).

    Differences from pytorch-quantization: group boundaries are computed in integers
    (``⌊j·i/L⌋``) instead of ``numpy.digitize`` on ``linspace(0, i, L + 1)`` (the same up to
    float rounding); the search starts at ``i = L`` instead of a fixed 128 (fewer bins than
    levels would need no merging); empty bins are smoothed instead of making the divergence
    infinite (which can only happen in the last bin of ``P``, when it is empty in ``h`` but
    receives the outliers).

    ``L = 2^(b−1)`` levels per sign (128 for int8, as TensorRT). For ``symmetric=False``
    the range becomes ``[max(min x, −T), min(max x, T)]``; if all values have one sign the
    whole code range serves that sign and ``L = 2^b`` (pytorch-quantization's ``unsigned``
    case). When ``L ≥ num_bins`` (b ≥ 12 with 2048 bins) the only candidate is
    ``i = num_bins``, so ``T = max|x|``: the levels are as fine as the histogram and the
    search has nothing to trade.

Degenerate histograms (few distinct values)
-------------------------------------------
On data with few distinct values (integer pixels, a 4-bit activation, a one-hot input) the
histogram of ``|x|`` is a few isolated spikes with empty bins between them. The divergence
then cannot tell thresholds apart: a threshold just above the first non-zero spike keeps a
one-spike ``P`` whose merged ``Q`` is that same spike, ``KL ≈ 0``, and the search returns
it — clipping almost everything (the MLP on scikit-learn's digits, whose inputs are the 17
integers 0..16, fell to 23% top-1 accuracy at 4 bits this way). ``calibrate_kl`` detects
it: **the chosen threshold keeps fewer non-empty bins than there are quantization levels
``L`` while it clips values** (a range holding fewer distinct values than the code has
levels has no rounding error to trade against the clipping). Then it warns with a
:class:`CalibrationWarning` naming the channel, the threshold, the distinct values kept and
the fraction clipped, and uses ``fallback`` instead (``"mse"`` by default, or
``"minmax"``; ``fallback=None`` keeps the KL threshold, still with the warning).
Continuous data never meets the condition (``i ≥ L`` bins of a filled histogram).

Per-channel calibration (``axis`` not None) runs the method on every slice along
``axis`` and returns 1-D ``scale`` and ``zero_point``; per tensor they are NumPy scalars.
An all-zero tensor or channel gets ``scale = 1`` (see :mod:`golden.quantize`).

Seed note: one seed writes the percentile range as ``[P_α, P_(100−α)]`` with small ``α``
(0.01..1); that is ``p = 100 − α`` here.
"""

import warnings

import numpy as np

from golden._validate import as_float_array, check_bits, check_bool, check_choice, check_int
from golden.quantize import asymmetric_params, fake_quantize, symmetric_params

__all__ = [
    "METHODS",
    "CalibrationWarning",
    "calibrate",
    "calibrate_minmax",
    "calibrate_percentile",
    "calibrate_mse",
    "calibrate_kl",
    "kl_threshold_bin",
]

METHODS = ("minmax", "percentile", "mse", "kl")

_KL_EPS = 1e-4
KL_FALLBACKS = ("mse", "minmax", None)


class CalibrationWarning(UserWarning):
    """A calibration method could not do what it promises on this data and fell back."""


def _prepare(x, bits, symmetric, signed, axis):
    """Validate common arguments; return (bits, symmetric, signed, slices (C, N) or (1, N),
    per_channel)."""
    bits = check_bits("bits", bits)
    symmetric = check_bool("symmetric", symmetric)
    signed = check_bool("signed", signed)
    if symmetric and not signed:
        raise ValueError(
            "signed=False is out of range; allowed: True when symmetric=True "
            "(symmetric quantization uses signed codes)"
        )
    x = as_float_array("x", x)
    if axis is None:
        if x.size == 0:
            raise ValueError("x.size=0 is out of range; allowed: >= 1 element")
        return bits, symmetric, signed, x.reshape(1, -1), False
    if x.ndim == 0:
        raise ValueError(f"axis={axis!r} is out of range; allowed: None (0-d input)")
    ax = check_int("axis", axis, -x.ndim, x.ndim - 1) % x.ndim
    if x.size == 0:
        raise ValueError("x.size=0 is out of range; allowed: >= 1 element per channel")
    rows = np.moveaxis(x, ax, 0).reshape(x.shape[ax], -1)
    return bits, symmetric, signed, rows, True


def _finish(ranges, bits, symmetric, signed, per_channel):
    """Turn per-slice thresholds / ranges into (scale, zero_point)."""
    if symmetric:
        t = np.array([float(r) for r in ranges])
        scale, zp = symmetric_params(t, bits=bits)
    else:
        lo = np.array([float(r[0]) for r in ranges])
        hi = np.array([float(r[1]) for r in ranges])
        scale, zp = asymmetric_params(lo, hi, bits=bits, signed=signed)
    if per_channel:
        return scale, zp
    return scale[0], zp[0]


def calibrate_minmax(x, *, bits=8, symmetric=True, signed=True, axis=None):
    """Min–max calibration: ``T = max|x|`` or ``[lo, hi] = [min x, max x]``.

    Parameters
    ----------
    x : array_like of float
        Observed values (finite, non-empty; per channel: every slice non-empty).
    bits : int
        Bit width 2..16.
    symmetric : bool
        Symmetric (``Z = 0``, narrow signed codes) or asymmetric parameters.
    signed : bool
        Code range for asymmetric quantization (must be True when ``symmetric``).
    axis : int or None
        Per-channel axis or None (per tensor).

    Returns
    -------
    scale : numpy.float64 or numpy.ndarray of float64
    zero_point : numpy.int64 or numpy.ndarray of int64
    """
    bits, symmetric, signed, rows, pc = _prepare(x, bits, symmetric, signed, axis)
    if symmetric:
        ranges = np.max(np.abs(rows), axis=1)
    else:
        ranges = list(zip(rows.min(axis=1), rows.max(axis=1)))
    return _finish(ranges, bits, symmetric, signed, pc)


def calibrate_percentile(x, *, percentile=99.99, bits=8, symmetric=True, signed=True,
                         axis=None):
    """Percentile clipping: ``T = P_p(|x|)`` or ``[lo, hi] = [P_(100−p)(x), P_p(x)]``.

    ``P_p`` is ``numpy.percentile`` (linear interpolation); ``p = 100`` is min–max.

    Parameters
    ----------
    x, bits, symmetric, signed, axis
        As :func:`calibrate_minmax`.
    percentile : float
        ``p`` in ``(50, 100]``.

    Returns
    -------
    scale, zero_point
        As :func:`calibrate_minmax`.
    """
    p = as_float_array("percentile", percentile)
    if p.ndim != 0 or not 50.0 < float(p) <= 100.0:
        raise ValueError(f"percentile={percentile!r} is out of range; allowed: (50, 100]")
    p = float(p)
    bits, symmetric, signed, rows, pc = _prepare(x, bits, symmetric, signed, axis)
    if symmetric:
        ranges = np.percentile(np.abs(rows), p, axis=1)
    else:
        ranges = list(zip(np.percentile(rows, 100.0 - p, axis=1),
                          np.percentile(rows, p, axis=1)))
    return _finish(ranges, bits, symmetric, signed, pc)


def _row_mse(row, scale, zp, bits, signed, narrow):
    rh = fake_quantize(row, scale, zp, bits=bits, signed=signed, narrow=narrow)
    e = row - rh
    return float(np.mean(e * e))


def calibrate_mse(x, *, bits=8, symmetric=True, signed=True, axis=None, num_candidates=100):
    """MSE-optimal clipping by grid search over ``k/n`` of the min–max range.

    For ``k = 1..n`` the candidate is ``T_k = (k/n)·max|x|`` (symmetric) or
    ``[lo, hi]_k = (k/n)·[min x, max x]`` (asymmetric); each is converted to
    ``(S_k, Z_k)`` and scored by ``mean((x − fake_quantize(x; S_k, Z_k))²)`` (clipping and
    rounding error together). The lowest score wins; ties go to the larger range.
    Cost: ``n`` quantizations of ``x``.

    Parameters
    ----------
    x, bits, symmetric, signed, axis
        As :func:`calibrate_minmax`.
    num_candidates : int
        ``n`` in ``[1, 10000]``; ``n = 1`` is min–max.

    Returns
    -------
    scale, zero_point
        As :func:`calibrate_minmax`.
    """
    n = check_int("num_candidates", num_candidates, 1, 10000)
    bits, symmetric, signed, rows, pc = _prepare(x, bits, symmetric, signed, axis)
    ranges = [_mse_range(row, bits, symmetric, signed, n) for row in rows]
    return _finish(ranges, bits, symmetric, signed, pc)


def _mse_range(row, bits, symmetric, signed, n=100):
    """The MSE-optimal candidate range of one slice (threshold or ``(lo, hi)``)."""
    fracs = np.arange(n, 0, -1) / n  # large → small: strict '<' keeps the larger on ties
    if symmetric:
        amax = float(np.max(np.abs(row)))
        best, best_err = amax, None
        if amax > 0:
            for f in fracs:
                s, z = symmetric_params(f * amax, bits=bits)
                err = _row_mse(row, s, z, bits, True, True)
                if best_err is None or err < best_err:
                    best, best_err = f * amax, err
        return best
    lo, hi = float(row.min()), float(row.max())
    best, best_err = (lo, hi), None
    if lo != 0 or hi != 0:
        for f in fracs:
            s, z = asymmetric_params(f * lo, f * hi, bits=bits, signed=signed)
            err = _row_mse(row, s, z, bits, signed, False)
            if best_err is None or err < best_err:
                best, best_err = (f * lo, f * hi), err
    return best


def _smooth(p, eps=_KL_EPS):
    """MXNet-style smoothing: move ``eps`` into every empty bin, taken evenly from the
    non-empty bins (``eps`` shrunk so no bin drops below half its content)."""
    zeros = p == 0
    n_zeros = int(zeros.sum())
    if n_zeros == 0:
        return p
    n_nonzeros = p.size - n_zeros
    take = eps * n_zeros / n_nonzeros
    smallest = float(p[~zeros].min())
    if take > 0.5 * smallest:
        eps *= 0.5 * smallest / take
        take = 0.5 * smallest
    return np.where(zeros, eps, p - take)


def _kl(p, q):
    p = _smooth(p)
    q = _smooth(q)
    p = p / p.sum()
    q = q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def kl_threshold_bin(hist, levels):
    """Index ``i`` of the KL-optimal threshold ``T = i·w`` for a histogram of ``|x|``.

    Implements step 2–3 of the ``"kl"`` method (module docstring) on a given histogram.

    Parameters
    ----------
    hist : array_like of int
        Counts of ``|x|`` in equal bins starting at 0 (``num_bins = len(hist)``), at least
        one non-zero count.
    levels : int
        Quantization levels ``L`` (``≥ 1``). If ``L ≥ len(hist)`` the result is
        ``len(hist)`` (no clipping).

    Returns
    -------
    int
        ``i`` in ``[min(L, len(hist)), len(hist)]``.
    """
    hist = np.asarray(hist, dtype=np.float64)
    if hist.ndim != 1 or hist.size == 0 or not np.all(hist >= 0) or not hist.sum() > 0:
        raise ValueError(
            f"hist.shape={hist.shape} is out of range; allowed: a non-empty 1-D histogram "
            f"of non-negative counts with a positive total"
        )
    levels = check_int("levels", levels, 1, None)
    num_bins = hist.size
    if levels >= num_bins:
        return num_bins
    nonzero = (hist != 0).astype(np.float64)
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])  # tail[i] = Σ h[i:]
    best_i, best_kl = num_bins, None
    for i in range(levels, num_bins + 1):
        ref = hist[:i].copy()
        ref[i - 1] += tail[i]  # clipped outliers land in the last kept bin
        starts = (np.arange(levels) * i) // levels
        sums = np.add.reduceat(hist[:i], starts)
        counts = np.add.reduceat(nonzero[:i], starts)
        widths = np.diff(np.append(starts, i))
        avg = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        cand = np.repeat(avg, widths) * nonzero[:i]
        if not cand.any():  # h[:i] empty: every candidate count lives in the outliers
            continue
        kl = _kl(ref, cand)
        if best_kl is None or kl <= best_kl:
            best_i, best_kl = i, kl
    return best_i


def _kl_degenerate(hist, i, levels):
    """``(kept, clipped)`` when threshold bin ``i`` keeps fewer non-empty bins than there
    are levels while clipping (module docstring), else None."""
    kept = int(np.count_nonzero(hist[:i]))
    clipped = int(hist[i:].sum())
    if kept < levels and clipped > 0:
        return kept, clipped
    return None


def _kl_row(row, bits, symmetric, num_bins):
    """KL range of one slice: ``(range, degenerate)`` with degenerate ``(kept, clipped, t)``
    or None."""
    a = np.abs(row)
    amax = float(a.max())
    lo, hi = float(row.min()), float(row.max())
    if amax == 0:
        return (0.0 if symmetric else (0.0, 0.0)), None
    one_signed = lo >= 0 or hi <= 0
    levels = 1 << (bits - 1) if symmetric or not one_signed else 1 << bits
    hist, _ = np.histogram(a, bins=num_bins, range=(0.0, amax))
    raw = hist.copy()
    hist[0] = hist[1]  # the last bin holds max|x|, so the total stays positive
    i = kl_threshold_bin(hist, levels)
    t = min(amax * i / num_bins, amax)
    bad = _kl_degenerate(raw, i, levels)
    rng = t if symmetric else (max(lo, -t), min(hi, t))
    return rng, (None if bad is None else bad + (t, levels, row.size))


def calibrate_kl(x, *, bits=8, symmetric=True, signed=True, axis=None, num_bins=2048,
                 fallback="mse"):
    """KL-divergence (TensorRT entropy) calibration; algorithm in the module docstring.

    Parameters
    ----------
    x, bits, symmetric, signed, axis
        As :func:`calibrate_minmax`.
    num_bins : int
        Histogram bins over ``[0, max|x|]``, in ``[16, 65536]`` (default 2048, TensorRT).
    fallback : {"mse", "minmax", None}
        Method used for a slice whose histogram is degenerate (module docstring, "few
        distinct values"); a :class:`CalibrationWarning` names it either way. ``None``
        keeps the (collapsed) KL threshold.

    Returns
    -------
    scale, zero_point
        As :func:`calibrate_minmax`.

    Notes
    -----
    Cost: ``O(num_bins²)`` per channel (about 0.2 s for 2048 bins and b = 8).
    """
    num_bins = check_int("num_bins", num_bins, 16, 65536)
    if fallback not in KL_FALLBACKS:
        raise ValueError(f"fallback={fallback!r} is out of range; allowed: 'mse', 'minmax', "
                         f"None")
    bits, symmetric, signed, rows, pc = _prepare(x, bits, symmetric, signed, axis)
    ranges = []
    for c, row in enumerate(rows):
        rng, bad = _kl_row(row, bits, symmetric, num_bins)
        if bad is not None:
            kept, clipped, t, levels, n = bad
            where = f"channel {c}" if pc else "tensor"
            use = "keeping it" if fallback is None else f"falling back to {fallback!r}"
            warnings.warn(
                f"calibrate_kl: degenerate histogram ({where}, bits={bits}): the KL threshold "
                f"{t:.6g} keeps {kept} distinct value bins for {levels} levels and clips "
                f"{clipped} of {n} values ({100.0 * clipped / n:.1f}%) — few distinct values; "
                f"{use}", CalibrationWarning, stacklevel=2)
            if fallback == "mse":
                rng = _mse_range(row, bits, symmetric, signed)
            elif fallback == "minmax":
                rng = float(np.max(np.abs(row))) if symmetric else \
                    (float(row.min()), float(row.max()))
        ranges.append(rng)
    return _finish(ranges, bits, symmetric, signed, pc)


_DISPATCH = {
    "minmax": calibrate_minmax,
    "percentile": calibrate_percentile,
    "mse": calibrate_mse,
    "kl": calibrate_kl,
}


def calibrate(x, method="minmax", **options):
    """Calibrate with a method named by string (``METHODS``).

    Parameters
    ----------
    x : array_like of float
        Observed values.
    method : str
        One of ``"minmax"``, ``"percentile"``, ``"mse"``, ``"kl"``.
    **options
        Keyword arguments of the chosen ``calibrate_<method>`` (``bits``, ``symmetric``,
        ``signed``, ``axis``, ``percentile``, ``num_candidates``, ``num_bins``).

    Returns
    -------
    scale, zero_point
        As :func:`calibrate_minmax`.
    """
    check_choice("method", method, METHODS)
    return _DISPATCH[method](x, **options)
