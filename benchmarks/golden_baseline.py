"""The golden MAC path as it was before the speed-up (commit 18bf532), kept only as the
benchmark's in-process baseline (``benchmarks/bench_sweep.py``) — not used by qmac.

* :func:`int_matmul_f64` — exact integer matmul through float64 BLAS only;
* :func:`requantize_split` — ``golden.datapath.requantize`` with every per-channel
  parameter broadcast to the accumulator's shape and the product ``x·m0`` always split
  into 16-bit halves (the general path of ``golden.fixedpoint._scale_round``).
"""

import numpy as np

from golden.fixedpoint import _ties_away, _ties_up

_EXACT_FLOAT = 2**53
_WIDE_RESULT_LIMIT = 2**62


def int_matmul_f64(a, b):
    """Exact ``a @ b`` for int64 arrays via float64 chunks (the previous ``int_matmul``)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    k = a.shape[-1]
    bound = int(np.abs(a).max(initial=0)) * int(np.abs(b).max(initial=0))
    if bound == 0 or k == 0 or bound >= _EXACT_FLOAT:
        return np.matmul(a, b)
    chunk = (_EXACT_FLOAT - 1) // bound
    af, bf = a.astype(np.float64), b.astype(np.float64)
    if chunk >= k:
        return np.matmul(af, bf).astype(np.int64)
    total = None
    for k0 in range(0, k, chunk):
        part = np.matmul(af[..., k0:k0 + chunk], bf[..., k0:k0 + chunk, :]).astype(np.int64)
        total = part if total is None else total + part
    return total


def _scale_round_split(x, m0, t):
    one = np.int64(1)
    rh = np.where(t >= 17, one << np.maximum(t - 17, 0), 0)
    rl = np.where(t <= 16, one << np.maximum(t - 1, 0), 0)
    b = x * (m0 & 0xFFFF) + rl
    c = x * (m0 >> 16) + rh + (b >> 16)
    narrow = c >> np.maximum(t - 16, 0)
    if np.all(t >= 16):
        return narrow
    s = np.maximum(16 - t, 0)
    big = one << (62 - s)
    wide = (np.clip(c, -big, big - 1) << s) + ((b & 0xFFFF) >> np.minimum(t, 16))
    saturated = (t < 16) & ((c < -big) | (c >= big))
    limit = np.where(c < 0, -_WIDE_RESULT_LIMIT, _WIDE_RESULT_LIMIT)
    return np.where(t >= 16, narrow, np.where(saturated, limit, wide))


def requantize_split(acc, *, m0, shift, y_zp, act_min, act_max, rounding="double"):
    """The previous ``requantize`` (wide semantics), modes double / single / ruy."""
    acc, m0, shift = np.broadcast_arrays(np.asarray(acc, np.int64), np.asarray(m0, np.int64),
                                         np.asarray(shift, np.int64))
    if rounding == "single":
        scaled = _scale_round_split(acc, m0, 31 - shift)
    else:
        high = _scale_round_split(acc, m0, 31 - np.maximum(shift, 0))
        step = _ties_away if rounding == "double" else _ties_up
        scaled = step(high, np.maximum(-shift, 0))
    return np.clip(scaled + y_zp, act_min, act_max)
