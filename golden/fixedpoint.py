"""Fixed-point primitives of integer requantization (gemmlowp / TFLite / ruy semantics).

One small vectorized NumPy function per primitive, named after the math, like gemmlowp
``fixedpoint/fixedpoint.h``. Inputs are integer scalars or arrays (broadcast together);
outputs are ``np.int64`` arrays (an ``np.int64`` scalar when every input is a scalar).
All arithmetic is exact: every intermediate is bounded in the docstrings and fits ``int64``.

Notation: ``floor`` is mathematical floor, ``>>`` is an arithmetic (flooring) right shift,
``wrap32(v)`` is ``v`` reduced to the int32 two's-complement range (mod 2^32).
A "multiplier" is the pair ``(m0, shift)`` produced by
:func:`golden.multiplier.quantize_multiplier`, representing ``m0 · 2^(shift − 31)``.
"""

import numpy as np

from golden._validate import as_int_array, broadcast, check_choice, check_range

__all__ = [
    "ROUNDINGS",
    "ROUNDING_MODES",
    "INT32_MIN",
    "INT32_MAX",
    "WIDE_X_LIMIT",
    "saturating_rounding_doubling_high_mul",
    "rounding_divide_by_pot",
    "rounding_divide_by_pot_ties_up",
    "multiply_by_quantized_multiplier_saturating",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_wide",
    "reduced_multiplier",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
M0_MAX = 2**31 - 1
SHIFT_MIN, SHIFT_MAX = -31, 30
#: ``multiply_by_quantized_multiplier_wide`` accepts ``|x| <= 2**47`` (acc_bits <= 48).
WIDE_X_LIMIT = 2**47
_WIDE_RESULT_LIMIT = 2**62


def _wrap32(v):
    """``v`` mod 2^32 into ``[-2^31, 2^31)`` (two's-complement int32 cast)."""
    return ((v + 2**31) & 0xFFFFFFFF) - 2**31


def _out(result):
    """``np.int64`` array, or an ``np.int64`` scalar for 0-d results."""
    result = np.asarray(result, dtype=np.int64)
    return result[()] if result.ndim == 0 else result


def _int32(name, value):
    return check_range(name, as_int_array(name, value), INT32_MIN, INT32_MAX)


def _multiplier(m0, shift):
    m0 = check_range("m0", as_int_array("m0", m0), 0, M0_MAX)
    shift = check_range("shift", as_int_array("shift", shift), SHIFT_MIN, SHIFT_MAX)
    return m0, shift


def _uniform(e):
    """``e`` as a Python int when all its values are equal (NumPy's scalar shifts are much
    faster than element-wise ones), else ``e`` unchanged."""
    e = np.asarray(e)
    if e.size and e.ndim <= 1 and e.min() == e.max():
        return int(e.flat[0])
    return e


def _ties_away(x, e):
    """Unchecked RoundingDivideByPOT on int64 ``x``, ``0 <= e <= 62`` (gemmlowp formula).

    ``mask = 2^e − 1``, ``threshold = (mask >> 1) + [x < 0]``, result ``(x >> e) +
    [(x & mask) > threshold]``; the two comparisons are taken as sign bits (``v >> 63`` is
    −1 for ``v < 0``, else 0), which keeps every step in int64 (no bool temporaries).
    """
    e = _uniform(e)
    mask = (np.int64(1) << e) - 1
    threshold = (mask >> 1) - (x >> 63)           # x >> 63 = −[x < 0]
    threshold -= x & mask                         # < 0 iff (x & mask) > threshold
    threshold >>= 63
    result = x >> e
    result -= threshold
    return result


def _ties_up(x, e):
    """Unchecked ``floor((x + 2^(e−1)) / 2^e)`` (``x`` for ``e == 0``) on int64, no overflow.

    Written as ``(x >> e) + bit(e−1) of x`` so ``x + 2^(e−1)`` is never formed.
    """
    return (x >> e) + ((x >> np.maximum(e - 1, 0)) & 1) * (e > 0)


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` (ARM ``SQRDMULH``).

    ``floor((a·b + 2^30) / 2^31)``: the high 32 bits of ``2·a·b``, rounded to nearest with
    ties toward +inf (``−1.5 → −1``), except ``a = b = INT32_MIN`` → ``INT32_MAX``
    (the only product whose result leaves int32).

    Parameters
    ----------
    a, b : int or array_like of int
        int32 values, ``[-2^31, 2^31 − 1]``; broadcast together.

    Returns
    -------
    np.ndarray of int64
        int32-range results.

    Notes
    -----
    gemmlowp writes it as ``(ab + nudge) / 2^31`` with C truncation and
    ``nudge = ab >= 0 ? 2^30 : 1 − 2^30``; that equals the floor form above.
    ``|a·b| <= 2^62`` so ``a·b + 2^30`` fits int64.
    """
    a, b = broadcast(a=_int32("a", a), b=_int32("b", b))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return _out(np.where(overflow, INT32_MAX, (a * b + 2**30) >> 31))


def rounding_divide_by_pot(x, exponent):
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2^exponent`` rounded half away from zero.

    ``(x >> e) + (r > t)`` with ``r = x & (2^e − 1)``, ``t = (2^e − 1) >> 1 + (x < 0)``;
    equal to ``sign(x)·floor(|x| / 2^e + 1/2)``.

    Parameters
    ----------
    x : int or array_like of int
        int32 values, ``[-2^31, 2^31 − 1]``.
    exponent : int or array_like of int
        ``[0, 31]``; broadcast with ``x``.

    Returns
    -------
    np.ndarray of int64
    """
    x = _int32("x", x)
    e = check_range("exponent", as_int_array("exponent", exponent), 0, 31)
    x, e = broadcast(x=x, exponent=e)
    return _out(_ties_away(x, e))


def rounding_divide_by_pot_ties_up(x, exponent):
    """ruy's rounding right shift: ``floor((x + 2^(e−1)) / 2^e)``, ties toward +inf.

    The second step of ``rounding="ruy"`` (TFLite's optimized x86 kernels). ``e = 0``
    returns ``x``. The sum is exact (ruy's AVX2 kernel detects ``x + 2^(e−1)`` overflowing
    int32 and substitutes ``2^(31−e)``, which is this exact value). Differs from
    :func:`rounding_divide_by_pot` only on negative exact ties (``−2.5 → −2``).

    Parameters
    ----------
    x : int or array_like of int
        int32 values, ``[-2^31, 2^31 − 1]``.
    exponent : int or array_like of int
        ``[0, 31]``; broadcast with ``x``.

    Returns
    -------
    np.ndarray of int64
    """
    x = _int32("x", x)
    e = check_range("exponent", as_int_array("exponent", exponent), 0, 31)
    x, e = broadcast(x=x, exponent=e)
    return _out(_ties_up(x, e))


def multiply_by_quantized_multiplier(x, m0, shift, rounding="double"):
    """TFLite ``MultiplyByQuantizedMultiplier`` on int32: ``x·m0·2^(shift − 31)``, rounded.

    The rounding steps are those of the mode ``rounding`` (:data:`ROUNDING_MODES`), on
    int32 operands: ``x·2^left`` wraps to int32 (``wrap32``) as in TFLite.

    Parameters
    ----------
    x : int or array_like of int
        int32 accumulators, ``[-2^31, 2^31 − 1]``.
    m0 : int or array_like of int
        ``[0, 2^31 − 1]`` (per-channel: broadcast against ``x``, channel on the last axis).
    shift : int or array_like of int
        ``[-31, 30]``, negative = right shift (TFLite convention).
    rounding : str
        One of :data:`ROUNDINGS`.

    Returns
    -------
    np.ndarray of int64
        int32-range results.

    Notes
    -----
    In C++ ``x * (1 << left)`` overflowing int32 is undefined behaviour, and single
    rounding's result leaving int32 is a failed ``TFLITE_DCHECK`` followed by a narrowing
    cast. Here both are defined as two's-complement wrap (``wrap32``), which is what
    compiled TFLite does on x86 and ARM (``_mm256_sllv_epi32`` / ``SSHL`` wrap). Where
    ``x·2^left`` fits int32 the result equals
    :func:`multiply_by_quantized_multiplier_wide`. ``SaturatingRoundingDoublingHighMul``
    never saturates here because ``m0 != INT32_MIN``.
    """
    check_choice("rounding", rounding, ROUNDINGS)
    x = _int32("x", x)
    m0, shift = _multiplier(m0, shift)
    x, m0, shift = broadcast(x=x, m0=m0, shift=shift)
    result, _ = ROUNDING_MODES[rounding](x, m0, shift, wide=False)
    return _out(result)


#: ``max|x|·max(m0)`` below this: ``x·m0 + 2^(t−1)`` (``t <= 62``) fits int64 as it is.
_DIRECT_PRODUCT_LIMIT = 2**62


def _scale_round(x, m0, t):
    """Unchecked ``floor((x·m0 + 2^(t−1)) / 2^t)``, saturated to ``[-2^62, 2^62]``.

    Limits: ``|x| <= 2^47``, ``0 <= m0 < 2^31``, ``1 <= t <= 62``; ``x``, ``m0``, ``t``
    broadcast together (per-channel ``m0`` / ``t`` may stay compact, e.g. ``(C,)``).
    Returns ``(result, saturated)``.

    When ``max|x|·max(m0) < 2^62`` (every accumulator of up to 32 bits, any ``m0``) the
    sum ``x·m0 + 2^(t−1)`` is below ``2^62 + 2^61 < 2^63``: it is formed directly in int64
    and shifted (exact, nothing saturates). Otherwise :func:`_scale_round_split`.
    """
    bound = max(int(np.max(x, initial=0)), -int(np.min(x, initial=0))) * \
        int(np.max(m0, initial=0))
    if bound < _DIRECT_PRODUCT_LIMIT:
        t = _uniform(t)
        result = x * m0
        result += np.int64(1) << (t - 1)
        result >>= t
        return result, np.zeros(np.shape(result), dtype=bool)
    return _scale_round_split(x, m0, t)


def _scale_round_split(x, m0, t):
    """:func:`_scale_round` for any ``|x| <= 2^47``: ``x·m0`` (up to 2^78)
    is never formed: with ``m0 = mh·2^16 + ml`` (``mh < 2^15``, ``ml < 2^16``) and the
    rounding term ``2^(t−1) = rh·2^16 + rl``,
    ``x·m0 + 2^(t−1) = C·2^16 + L`` where ``B = x·ml + rl``, ``L = B & 0xFFFF`` and
    ``C = x·mh + rh + (B >> 16)``, all below 2^63 in magnitude. Then for ``t >= 16`` the
    result is ``C >> (t − 16)`` (``0 <= L < 2^16`` cannot carry across the floor), and for
    ``t < 16`` it is ``C·2^(16−t) + (L >> t)``, saturated where ``|C|`` reaches
    ``2^(62−(16−t))`` (then the exact result is beyond ``±2^62``).

    Returns ``(result, saturated)`` of the broadcast shape.
    """
    x, m0, t = np.broadcast_arrays(x, m0, t)
    one = np.int64(1)
    rh = np.where(t >= 17, one << np.maximum(t - 17, 0), 0)
    rl = np.where(t <= 16, one << np.maximum(t - 1, 0), 0)
    b = x * (m0 & 0xFFFF) + rl
    c = x * (m0 >> 16) + rh + (b >> 16)
    narrow = c >> np.maximum(t - 16, 0)  # the result wherever t >= 16
    if np.all(t >= 16):  # every right shift of a 32-bit multiplier: the common case
        return narrow, np.zeros(narrow.shape, dtype=bool)
    s = np.maximum(16 - t, 0)
    big = one << (62 - s)
    wide = (np.clip(c, -big, big - 1) << s) + ((b & 0xFFFF) >> np.minimum(t, 16))
    saturated = (t < 16) & ((c < -big) | (c >= big))
    limit = np.where(c < 0, -_WIDE_RESULT_LIMIT, _WIDE_RESULT_LIMIT)
    return np.where(t >= 16, narrow, np.where(saturated, limit, wide)), saturated


# --- rounding modes ----------------------------------------------------------------------
#
# One function per mode, ``(x, m0, shift, *, wide) -> (result, saturated)`` on int64
# arrays whose ranges the caller checked (``x`` has the result's shape; ``m0`` and ``shift``
# broadcast against it and may stay compact, e.g. per channel ``(C,)``), with ``left = max(shift, 0)``,
# ``right = max(−shift, 0)``, ``t = 31 − shift``. ``wide=False`` is TFLite's int32 function
# (``x·2^left`` wraps to int32, the result is wrapped to int32, ``saturated`` is all false);
# ``wide=True`` is the exact semantics of docs/design.md for accumulators up to 2^47
# (``saturated`` marks results beyond ±2^62, replaced by ±2^62 with the exact sign).
# Each mode is described once, in its function's docstring; :data:`ROUNDING_MODES` is the
# one table every caller dispatches through, and :data:`ROUNDINGS` its names.

def _doubling_high_mul(x, m0, shift, wide):
    """First step of the two-step modes: ``h = floor((x·2^left·m0 + 2^30) / 2^31)``
    (SaturatingRoundingDoublingHighMul of ``wrap32(x·2^left)`` and ``m0``; it cannot
    saturate since ``m0 >= 0``). Returns ``(h, saturated)``."""
    left = np.maximum(shift, 0)
    if wide:
        # floor((x·m0·2^left + 2^30) / 2^31) = floor((x·m0 + 2^(30−left)) / 2^(31−left))
        return _scale_round(x, m0, 31 - left)
    return (_wrap32(x << left) * m0 + 2**30) >> 31, np.zeros(np.shape(x), dtype=bool)


def _round_double(x, m0, shift, *, wide):
    """``"double"`` (TFLite reference kernels, TFLite Micro, gemmlowp; the default):
    ``RoundingDivideByPOT(h, right)`` — two roundings, the second half away from zero."""
    high, saturated = _doubling_high_mul(x, m0, shift, wide)
    return _ties_away(high, np.maximum(-shift, 0)), saturated


def _round_ruy(x, m0, shift, *, wide):
    """``"ruy"`` (TFLite's optimized x86 kernels): ``floor((h + 2^(right−1)) / 2^right)`` —
    two roundings, the second half toward +inf (:func:`rounding_divide_by_pot_ties_up`)."""
    high, saturated = _doubling_high_mul(x, m0, shift, wide)
    return _ties_up(high, np.maximum(-shift, 0)), saturated


def _round_single(x, m0, shift, *, wide):
    """``"single"`` (``TFLITE_SINGLE_ROUNDING``, CMSIS-NN): ``floor((x·m0 + 2^(t−1)) / 2^t)``
    — one rounding, half toward +inf (``wrap32`` of it on int32)."""
    t = 31 - shift  # 1..62
    if wide:
        return _scale_round(x, m0, t)
    # |x·m0| <= 2^62 and 2^(t−1) <= 2^61: no int64 overflow
    result = _wrap32((x * m0 + (np.int64(1) << (t - 1))) >> t)
    return result, np.zeros(np.shape(x), dtype=bool)


def reduced_multiplier(m0):
    """TFLite's 16-bit ``reduced_multiplier`` of the int64 ``MultiplyByQuantizedMultiplier``:
    ``m0`` rounded half up to its top 15 bits, ``(m0 + 2^15) >> 16``, except ``0x7FFF`` for
    ``m0 >= 0x7FFF0000`` (where the sum would reach ``2^15`` or overflow int32).

    Parameters
    ----------
    m0 : int or array_like of int
        ``[0, 2^31 − 1]``.

    Returns
    -------
    np.ndarray of int64
        ``[0, 2^15 − 1]``.
    """
    m0 = check_range("m0", as_int_array("m0", m0), 0, M0_MAX)
    return _out(_reduce16(m0))


def _reduce16(m0):
    return np.where(m0 < 0x7FFF0000, (m0 + (1 << 15)) >> 16, 0x7FFF)


def _round_single16(x, m0, shift, *, wide):
    """``"single16"`` (TFLite's int64 ``MultiplyByQuantizedMultiplier``, the 16x8 kernels):
    ``floor((x·rm + 2^(t−1)) / 2^t)`` with ``rm`` = :func:`reduced_multiplier` ``(m0)`` and
    ``t = 15 − shift`` — one rounding, half toward +inf, of ``x·rm·2^(shift−15)``.

    This is ``"single"`` applied to the multiplier ``rm·2^16`` (``x·rm·2^16 / 2^(31−shift)``
    is the same quotient), which is how it is computed here and in ``hw/``. TFLite asserts
    ``shift <= 7`` and ``|x| < 2^47``; for ``8 <= shift <= 14`` the same formula is what
    TFLite computes without the assertion, and for ``shift >= 15`` (``t <= 0``, where TFLite's
    ``1 << (t − 1)`` is undefined) this defines the result as the exact ``x·rm·2^(shift−15)``.
    ``wide=False`` wraps the result to int32 (TFLite's ``int32_t`` cast)."""
    return _round_single(x, _reduce16(m0) << 16, shift, wide=wide)


#: Rounding mode name → its function (the one dispatch table; see the comment above).
ROUNDING_MODES = {"double": _round_double, "single": _round_single, "ruy": _round_ruy,
                  "single16": _round_single16}
#: Rounding-mode names used everywhere (YAML, CLI, golden, hw); ``"double"`` is the default.
ROUNDINGS = tuple(ROUNDING_MODES)


def _mbqm_wide(x, m0, shift, rounding):
    """Unchecked wide multiply (see :func:`multiply_by_quantized_multiplier_wide`).

    Returns ``(result, saturated)``; ``result`` is exact where ``saturated`` is false and
    ``±2^62`` (with the exact result's sign) where it is true.
    """
    shape = np.broadcast_shapes(np.shape(x), np.shape(m0), np.shape(shift))
    # x gets the result's shape (a view); per-channel m0 / shift stay compact, so the mode
    # functions compute their per-channel terms once per channel, not once per output
    x = np.broadcast_to(x, shape)
    return ROUNDING_MODES[rounding](x, np.asarray(m0), np.asarray(shift), wide=True)


def _checked_mbqm_wide(x, m0, shift, rounding):
    check_choice("rounding", rounding, ROUNDINGS)
    x = check_range("x", as_int_array("x", x), -WIDE_X_LIMIT, WIDE_X_LIMIT)
    m0, shift = _multiplier(m0, shift)
    x, m0, shift = broadcast(x=x, m0=m0, shift=shift)
    return (x, m0, shift) + _mbqm_wide(x, m0, shift, rounding)


def multiply_by_quantized_multiplier_saturating(x, m0, shift, rounding="double"):
    """:func:`multiply_by_quantized_multiplier_wide`, except that a result outside
    ``[-2^62, 2^62)`` is ``±2^62`` (its sign) instead of an error: the value the
    requantizer's clamp sees (``golden.datapath.requantize``), e.g. an accumulator of 44
    bits at ``shift = 30``. Same parameters; returns ``np.ndarray`` of int64."""
    return _out(_checked_mbqm_wide(x, m0, shift, rounding)[3])


def multiply_by_quantized_multiplier_wide(x, m0, shift, rounding="double"):
    """Exact ("wide") ``x·m0·2^(shift−31)`` for accumulators wider than 32 bits.

    The contract semantics of ``docs/design.md``: ``x·2^left`` is computed exactly (no
    int32 wrap), then rounded as the mode ``rounding`` says (:data:`ROUNDING_MODES`).

    Equal to :func:`multiply_by_quantized_multiplier` wherever ``x·2^left`` fits int32 (the
    domain where TFLite's int32 function is defined): then ``wrap32`` is the identity,
    SRDHM is exactly ``h`` (it saturates only for ``m0 = INT32_MIN``, excluded), the
    right steps are the same functions, and the single-rounding result has magnitude
    ``<= |x·2^shift|·(2^31 − 1)/2^31 + 1/2`` so it fits int32 and its cast is the identity.
    TFLite's ``int64_t x`` overload (16x8 kernels) first rounds ``m0`` to 15 bits
    (:func:`reduced_multiplier`): that is the mode ``"single16"``.

    Parameters
    ----------
    x : int or array_like of int
        Accumulators with ``|x| <= 2^47`` (``acc_bits <= 48``). ``x·m0·2^left`` may reach
        2^108; it is handled exactly by splitting ``m0`` into 16-bit halves.
    m0 : int or array_like of int
        ``[0, 2^31 − 1]``, broadcast against ``x`` (per-channel on the last axis).
    shift : int or array_like of int
        ``[-31, 30]``, negative = right shift.
    rounding : str
        One of :data:`ROUNDINGS`.

    Returns
    -------
    np.ndarray of int64
        The exact result. It must lie in ``[-2^62, 2^62)`` (always true when
        ``|x|·2^left < 2^62``, e.g. for every shift <= 14); otherwise ``ValueError``.
    """
    x, m0, shift, result, saturated = _checked_mbqm_wide(x, m0, shift, rounding)
    if saturated.any():
        i = np.unravel_index(int(np.argmax(saturated)), saturated.shape)
        label = f"x[{', '.join(map(str, i))}]" if x.ndim else "x"
        raise ValueError(
            f"{label}={int(x[i])} is out of range for m0={int(m0[i])}, shift={int(shift[i])};"
            f" allowed: -2^62 <= x·m0·2^(shift−31) < 2^62"
        )
    return _out(result)
