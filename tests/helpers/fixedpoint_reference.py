"""Independent exact references for the golden tests: plain Python ints and ``Fraction``.

Written from the published definitions (gemmlowp ``fixedpoint.h``, TFLite
``quantization_util.cc`` / ``common.h`` / ``reference/integer_ops/fully_connected.h``,
ruy's x86 kernels, ``docs/design.md``), as scalar functions on Python ints, deliberately
unlike ``golden/`` (no NumPy arithmetic, no bit tricks, no splitting). :func:`vec` maps
them over arrays. Also: the seeded RNG and the edge-value sets every test uses.
"""

from fractions import Fraction

import numpy as np

from constraints.seeds import DEFAULT_SEED, make_rng  # noqa: F401  (the one seeding policy)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def edge_values(lo, hi):
    """Sorted int64 array: ``±2^i + {−2..2}`` for every ``i`` with ``2^i`` inside the domain,
    ``lo``/``hi`` ``± 2`` and ``0 ± 2``, all clipped to ``[lo, hi]``."""
    vals = {lo, lo + 1, lo + 2, hi, hi - 1, hi - 2, -2, -1, 0, 1, 2}
    i = 0
    while 2**i <= max(abs(lo), abs(hi)):
        for sign in (1, -1):
            for d in (-2, -1, 0, 1, 2):
                vals.add(sign * 2**i + d)
        i += 1
    return np.array(sorted(v for v in vals if lo <= v <= hi), dtype=np.int64)


def log_uniform_ints(rng, lo, hi, size):
    """Random ints in ``[lo, hi]``, magnitudes spread over every bit length (signs mixed)."""
    bits = rng.integers(0, max(abs(lo), abs(hi)).bit_length() + 1, size)
    mag = (rng.random(size) * (2.0**bits)).astype(np.int64) + rng.integers(-2, 3, size)
    vals = np.where(rng.random(size) < 0.5, -mag, mag)
    return np.clip(vals, lo, hi)


def vec(func):
    """Map a scalar Python-int function over broadcast int arrays (object results → int64)."""
    ufunc = np.frompyfunc(func, func.__code__.co_argcount, 1)

    def mapped(*args):
        args = [np.asarray(a).astype(object) if np.ndim(a) else a for a in args]
        out = ufunc(*args)
        return np.asarray(out).astype(np.int64) if np.ndim(out) else int(out)

    return mapped


# --- rounding helpers on exact rationals -------------------------------------------------

def floor_div(n, d):
    """floor(n / d) for ints, d > 0."""
    return n // d


def trunc_div(n, d):
    """C integer division: truncation toward zero."""
    q = abs(n) // abs(d)
    return q if (n >= 0) == (d > 0) else -q


def round_half_away(f):
    """Nearest integer to the Fraction ``f``, ties away from zero."""
    mag = (abs(f.numerator) * 2 + f.denominator) // (2 * f.denominator)
    return mag if f >= 0 else -mag


def round_half_up(f):
    """Nearest integer to the Fraction ``f``, ties toward +inf: floor(f + 1/2)."""
    return (2 * f.numerator + f.denominator) // (2 * f.denominator)


def wrap32(v):
    return (v - INT32_MIN) % 2**32 + INT32_MIN


# --- gemmlowp / TFLite / ruy primitives ---------------------------------------------------

def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul, transcribed: nudge + C division."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    return trunc_div(ab + nudge, 2**31)


def rdbpot(x, e):
    """RoundingDivideByPOT: x / 2^e, half away from zero."""
    return round_half_away(Fraction(x, 2**e))


def rdbpot_ties_up(x, e):
    """ruy rounding right shift: x / 2^e, half toward +inf."""
    return round_half_up(Fraction(x, 2**e))


def reduced_multiplier(m0):
    """TFLite common.cc, int64 MultiplyByQuantizedMultiplier: ``m0`` rounded to its top 15
    bits, saturated at 0x7FFF (the guard ``m0 < 0x7FFF0000``)."""
    return (m0 + 2**15) // 2**16 if m0 < 0x7FFF0000 else 0x7FFF


def mbqm64(x, m0, shift):
    """TFLite's int64 MultiplyByQuantizedMultiplier on Python ints: ``x·rm·2^(shift−15)``
    rounded half toward +inf (one rounding), ``floor((x·rm + 2^(t−1)) / 2^t)``,
    ``t = 15 − shift``; exact for ``shift >= 15`` (``t <= 0``)."""
    n, t = x * reduced_multiplier(m0), 15 - shift
    return floor_div(n + 2 ** (t - 1), 2**t) if t > 0 else n * 2 ** (-t)


def mbqm(x, m0, shift, rounding):
    """TFLite int32 MultiplyByQuantizedMultiplier (UB defined as int32 wrap)."""
    if rounding == "single16":
        return wrap32(mbqm64(x, m0, shift))
    if rounding == "single":
        t = 31 - shift
        return wrap32(floor_div(x * m0 + 2 ** (t - 1), 2**t))
    left, right = max(shift, 0), max(-shift, 0)
    h = srdhm(wrap32(x * 2**left), m0)
    return rdbpot(h, right) if rounding == "double" else rdbpot_ties_up(h, right)


def mbqm_wide(x, m0, shift, rounding):
    """docs/design.md wide semantics, as exact rationals."""
    if rounding == "single16":
        return mbqm64(x, m0, shift)
    if rounding == "single":
        return round_half_up(Fraction(x * m0, 2 ** (31 - shift)))
    left, right = max(shift, 0), max(-shift, 0)
    h = round_half_up(Fraction(x * m0 * 2**left, 2**31))
    return round_half_away(Fraction(h, 2**right)) if rounding == "double" else \
        round_half_up(Fraction(h, 2**right))


def quantize_multiplier(real):
    """TFLite QuantizeMultiplier on the exact rational value of the double ``real``."""
    if real == 0:
        return 0, 0
    f = Fraction(real)
    e = f.numerator.bit_length() - f.denominator.bit_length()  # within 1 of the answer
    while f / Fraction(2) ** e >= 1:
        e += 1
    while f / Fraction(2) ** e < Fraction(1, 2):
        e -= 1
    q = f / Fraction(2) ** e
    assert Fraction(1, 2) <= q < 1
    m0 = round_half_away(q * 2**31)
    if m0 == 2**31:
        m0, e = 2**30, e + 1
    if e < -31:
        return 0, 0
    return m0, e


# --- layer-level references (loops, Python ints) -----------------------------------------

def fully_connected(x, w, bias, x_zp, w_zp, m0, shift, y_zp, act_min, act_max, rounding):
    """TFLite reference/integer_ops/fully_connected.h, per element, int32 wrap on every op.

    ``x``: list of rows (B × K); ``w``: C × K; ``bias``, ``m0``, ``shift``: per channel lists.
    """
    out = []
    for xb in x:
        row = []
        for c, wc in enumerate(w):
            acc = 0
            for xv, wv in zip(xb, wc):
                acc = wrap32(acc + wrap32((wv - w_zp) * (xv - x_zp)))
            acc = wrap32(acc + bias[c])
            acc = mbqm(acc, m0[c], shift[c], rounding)
            row.append(min(max(acc + y_zp, act_min), act_max))
        out.append(row)
    return out


def accumulate(psums, bias, acc_bits, overflow):
    """One lane: beat 0 loads bias + psum, later beats add; returns (acc, ovf)."""
    lo, hi = -(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1
    acc, ovf = bias, False
    for p in psums:
        s = acc + p
        ovf = ovf or not lo <= s <= hi
        acc = (s - lo) % 2**acc_bits + lo if overflow == "wrap" else min(max(s, lo), hi)
    return acc, ovf


def datapath(x, w, bias, rows, acc_bits, overflow, m0, shift, y_zp, act_min, act_max,
             rounding):
    """Hardware schedule for one input row ``x`` (K) and weights ``w`` (C × K)."""
    ys, ovfs = [], []
    for c, wc in enumerate(w):
        psums = [sum(a * b for a, b in zip(x[k:k + rows], wc[k:k + rows]))
                 for k in range(0, max(len(x), 1), rows)]
        acc, ovf = accumulate(psums, bias[c], acc_bits, overflow)
        y = mbqm_wide(acc, m0[c], shift[c], rounding)
        ys.append(min(max(y + y_zp, act_min), act_max))
        ovfs.append(ovf)
    return ys, ovfs


def assert_exact(got, want, **inputs):
    """Zero-tolerance comparison; on failure, list the first mismatches with their inputs."""
    got, want = np.broadcast_arrays(np.asarray(got), np.asarray(want))
    bad = np.flatnonzero(got.ravel() != want.ravel())
    if bad.size:
        flat = {k: np.broadcast_to(v, got.shape).ravel() for k, v in inputs.items()}
        lines = [
            ", ".join(f"{k}={int(v[i])}" for k, v in flat.items())
            + f": got {got.ravel()[i]}, want {want.ravel()[i]}"
            for i in bad[:5]
        ]
        raise AssertionError(f"{bad.size} of {got.size} differ:\n" + "\n".join(lines))
