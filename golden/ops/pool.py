"""Pooling: AVERAGE_POOL_2D and MAX_POOL_2D (``reference/integer_ops/pooling.h``).

Windows follow TFLite's padding (``ComputePaddingHeightWidth``, dilation 1); only taps
inside the input count. Average: ``sum / count`` rounded half away from zero in integer
arithmetic (``(sum ± count/2) / count`` with C truncation), then the activation clamp.
"""

from __future__ import annotations

import numpy as np

from golden.graph import Graph, Op
from golden.lowering import conv_geometry
from golden.ops.elementwise import _bounds

__all__ = ["average_pool_2d", "max_pool_2d", "pool_windows"]


def pool_windows(x, op):
    """``(oh, ow, windows)`` of a 2-D pool over ``x`` ``[N, H, W, C]`` (``op``'s filter,
    strides and TFLite padding, dilation 1): the output size and an iterator of
    ``(oy, ox, window)``, ``window`` = the taps of ``x`` inside the input ``[N, ·, ·, C]``.
    Shared with the float kernels (:mod:`golden.float_ops`)."""
    o = op.options
    kh, kw, sh, sw = o["filter_height"], o["filter_width"], o["stride_h"], o["stride_w"]
    _, h, w, _ = x.shape
    oh, pt = conv_geometry(h, kh, sh, 1, o["padding"])
    ow, pl = conv_geometry(w, kw, sw, 1, o["padding"])

    def windows():
        for oy in range(oh):
            ys = slice(max(0, oy * sh - pt), min(h, oy * sh - pt + kh))
            for ox in range(ow):
                yield oy, ox, x[:, ys, max(0, ox * sw - pl):min(w, ox * sw - pl + kw), :]
    return oh, ow, windows()


def _pool(g, op, values, reduce_avg):
    x = values[op.inputs[0]].astype(np.int64)
    oh, ow, windows = pool_windows(x, op)
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]), np.int64)
    for oy, ox, win in windows:
        if reduce_avg:
            cnt = win.shape[1] * win.shape[2]
            s = win.sum(axis=(1, 2))
            half = cnt // 2
            # C integer division truncates toward zero
            num = np.where(s > 0, s + half, s - half)
            out[:, oy, ox, :] = np.sign(num) * (np.abs(num) // cnt)
        else:
            out[:, oy, ox, :] = win.max(axis=(1, 2))
    lo, hi = _bounds(g, op)
    return [np.clip(out, lo, hi)]


def average_pool_2d(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    return _pool(g, op, values, True)


def max_pool_2d(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    return _pool(g, op, values, False)
