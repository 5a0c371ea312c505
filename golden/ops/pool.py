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

__all__ = ["average_pool_2d", "max_pool_2d"]


def _windows(x, op):
    o = op.options
    kh, kw = o["filter_height"], o["filter_width"]
    n, h, w, c = x.shape
    oh, pt = conv_geometry(h, kh, o["stride_h"], 1, o["padding"])
    ow, pl = conv_geometry(w, kw, o["stride_w"], 1, o["padding"])
    return kh, kw, oh, ow, pt, pl


def _pool(g, op, values, reduce_avg):
    x = values[op.inputs[0]].astype(np.int64)
    kh, kw, oh, ow, pt, pl = _windows(x, op)
    n, h, w, c = x.shape
    sh, sw = op.options["stride_h"], op.options["stride_w"]
    out = np.zeros((n, oh, ow, c), np.int64)
    for oy in range(oh):
        y0 = oy * sh - pt
        ys = slice(max(0, y0), min(h, y0 + kh))
        for ox in range(ow):
            x0 = ox * sw - pl
            win = x[:, ys, max(0, x0):min(w, x0 + kw), :]
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
