"""MEAN of int8 tensors (TFLite reference ``QuantizedMeanOrSum``, integer form).

``M = S_x / S_y`` (double) → ``(m0, e)`` by ``QuantizeMultiplier``; the division by the
``n`` reduced elements is folded into the multiplier: ``s = min(floor(log2 n), 32, 31 + e)``,
``m0' = floor(m0·2^s / n)``, ``e' = e − s``. Each output is
``clamp(MultiplyByQuantizedMultiplier(Σ x − z_x·n, m0', e') + z_y)`` (``double`` rounding).
"""

from __future__ import annotations

import numpy as np

from golden.fixedpoint import multiply_by_quantized_multiplier
from golden.graph import Graph, Op
from golden.multiplier import quantize_multiplier

__all__ = ["mean", "mean_multiplier"]


def mean_multiplier(input_scale: float, output_scale: float, n: int) -> tuple[int, int]:
    """``(m0', e')`` of a MEAN over ``n`` elements (see the module docstring)."""
    m0, e = quantize_multiplier(float(np.float64(np.float32(input_scale))
                                      / np.float64(np.float32(output_scale))))
    s = min(int(n).bit_length() - 1, 32, 31 + e)
    return (m0 << s) // n, e - s


def mean(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    x = values[op.inputs[0]].astype(np.int64)
    axes = tuple(sorted({int(a) % x.ndim for a in np.asarray(values[op.inputs[1]]).reshape(-1)}))
    ti, to = g.tensor(op.inputs[0]).quant, g.tensor(op.outputs[0]).quant
    n = int(np.prod([x.shape[a] for a in axes]))
    m0, e = mean_multiplier(ti.s, to.s, n)
    acc = x.sum(axis=axes) - ti.zp * n
    y = multiply_by_quantized_multiplier(acc, m0, e, "double") + to.zp
    info = np.iinfo(np.int8 if g.tensor(op.outputs[0]).dtype == "int8" else np.uint8)
    return [np.clip(y, info.min, info.max).reshape(g.tensor(op.outputs[0]).shape)]
