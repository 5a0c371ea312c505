"""Real multiplier → fixed-point ``(m0, shift)`` (TFLite ``QuantizeMultiplier``)."""

import numpy as np

from golden._validate import as_float_array, check_range

__all__ = ["quantize_multiplier", "REAL_MULTIPLIER_LIMIT"]

#: Smallest real multiplier whose ``shift`` would exceed +30: ``(2^31 − 1/2) / 2^31 · 2^30
#: = 2^30 − 2^−2``. From there on ``q·2^31`` rounds to ``2^31`` (or ``e`` is already 31).
REAL_MULTIPLIER_LIMIT = 2.0**30 - 0.25


def quantize_multiplier(real_multiplier):
    """TFLite ``QuantizeMultiplier``: ``real ≈ m0 · 2^(shift − 31)``.

    Algorithm (``tensorflow/lite/kernels/internal/quantization_util.cc``), exactly:

    1. ``real == 0`` → ``(0, 0)``.
    2. ``frexp(real) = (q, e)`` with ``q ∈ [0.5, 1)``;
       ``m0 = round_half_away_from_zero(q · 2^31)`` (exact in double: scaling by a power
       of two, and the ``+ 0.5`` below is exact because ``q·2^31 >= 2^30``).
    3. ``m0 == 2^31`` → ``m0 = 2^30``, ``e += 1``.
    4. ``e < −31`` → ``(0, 0)`` (TFLite flushes such tiny multipliers to zero).
    5. ``shift = e`` — TFLite sign convention: negative = right shift, positive = left
       shift applied before the high multiply (``1.0 → (2^30, 1)``).

    So ``m0`` is 0 or in ``[2^30, 2^31 − 1]`` and ``shift ∈ [−31, 30]``.

    Parameters
    ----------
    real_multiplier : float or array_like of float
        Finite, ``>= 0`` (TFLite ``TFLITE_CHECK(double_multiplier >= 0)``) and
        ``< 2^30 − 2^−2`` (larger values would need ``shift > 30``, which
        ``MultiplyByQuantizedMultiplier`` does not support). float32 inputs are widened
        to double exactly, as in C++.

    Returns
    -------
    (m0, shift)
        Python ints for a scalar input; ``np.int64`` arrays of the input's shape for an
        array input (per-channel multipliers).

    Examples
    --------
    >>> quantize_multiplier(0.01)
    (1374389535, -6)

    The seed slides print ``1374389534`` and "shift 6" for 0.01. ``0.01 = 0.64·2^−6`` and
    ``0.64·2^31 = 1374389534.72``: the slides truncate, TFLite rounds half away from zero
    (``TfLiteRound`` = ``std::round``) to ``1374389535``. "shift 6" is the magnitude of a
    right shift; TFLite stores the signed exponent ``−6`` (negative = right shift), the
    convention used throughout qmac.
    """
    scalar = np.ndim(real_multiplier) == 0
    real = as_float_array("real_multiplier", real_multiplier)
    check_range("real_multiplier", real, 0.0, None)
    bad = real >= REAL_MULTIPLIER_LIMIT
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        label = "real_multiplier" if scalar else f"real_multiplier[{', '.join(map(str, i))}]"
        raise ValueError(
            f"{label}={real[i].item()!r} is out of range; allowed: [0, 2^30 - 2^-2) "
            f"(finite, shift <= 30)"
        )
    q, e = np.frexp(real)  # q in [0.5, 1) for real > 0; (0, 0) for real == 0
    m0 = np.floor(q * 2.0**31 + 0.5).astype(np.int64)  # q >= 0: half away from zero
    e = e.astype(np.int64)
    carry = m0 == 2**31
    m0 = np.where(carry, 2**30, m0)
    e = np.where(carry, e + 1, e)
    flush = (e < -31) | (real == 0)
    m0 = np.where(flush, 0, m0)
    shift = np.where(flush, 0, e)
    if scalar:
        return int(m0), int(shift)
    return m0.astype(np.int64), shift.astype(np.int64)
