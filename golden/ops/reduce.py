"""MEAN of int8 tensors (TFLite reference ``QuantizedMeanOrSum``, integer form).

``M = S_x / S_y`` (double) → ``(m0, e)`` by ``QuantizeMultiplier``; the division by the
``n`` reduced elements is folded into the multiplier: ``s = min(floor(log2 n), 32, 31 + e)``,
``m0' = floor(m0·2^s / n)``, ``e' = e − s``. Each output is
``clamp(MultiplyByQuantizedMultiplier(Σ x − z_x·n, m0', e') + z_y)`` (``double`` rounding).

The optimized path (``ruy`` configurations) has its own kernel for an int8 4-D MEAN over
axes (1, 2) with ``keep_dims`` (TFLite/LiteRT ``optimized_integer_ops::Mean``, x86 scalar
loop): :func:`mean_optimized_hw` — the zero point enters as a rounded float32 bias after
the scaling, ``n`` is folded into a float32 real multiplier, and channels in blocks of 16
(vector loop) round differently from the remainder (scalar loop).
"""

from __future__ import annotations

import numpy as np

from golden.fixedpoint import multiply_by_quantized_multiplier
from golden.graph import Graph, Op
from golden.multiplier import quantize_multiplier

__all__ = ["mean", "mean_multiplier", "mean_optimized_hw", "mean_optimized_params"]


def mean_multiplier(input_scale: float, output_scale: float, n: int) -> tuple[int, int]:
    """``(m0', e')`` of a MEAN over ``n`` elements (see the module docstring)."""
    m0, e = quantize_multiplier(float(np.float64(np.float32(input_scale))
                                      / np.float64(np.float32(output_scale))))
    s = min(int(n).bit_length() - 1, 32, 31 + e)
    return (m0 << s) // n, e - s


def mean_optimized_params(input_scale: float, input_zp: int, output_scale: float,
                          output_zp: int, n: int) -> tuple[int, int, int]:
    """``(m0, e, bias)`` of the optimized int8 MEAN over ``n`` = H·W elements, all in float32
    as the kernel computes them: ``t = z_x·S_x / S_y``, ``bias = z_y − trunc(t ± 0.5)``
    (round half away from zero); ``(m0, e) = QuantizeMultiplier(S_x / (n·S_y))``."""
    f = np.float32
    sx, sy = f(input_scale), f(output_scale)
    t = f(f(input_zp) * sx) / sy
    t = f(t + f(0.5)) if t > 0 else f(t - f(0.5))
    bias = int(output_zp) - int(t)          # C++ static_cast<int32_t>: toward zero
    m0, e = quantize_multiplier(float(sx / f(f(n) * sy)))
    return m0, e, bias


def mean_optimized_hw(x, input_scale, input_zp, output_scale, output_zp) -> np.ndarray:
    """Optimized-path int8 MEAN over axes (1, 2) of ``x`` [B, H, W, C], keep_dims, one
    interpreter thread: ``clamp(MBQM(Σ_{h,w} x, m0, e) + bias, −128, 127)`` on the raw codes
    (no ``− z_x``). Channels in whole blocks of 16 go through the kernel's vector loop,
    whose ``MultiplyByQuantizedMultiplier4Rows`` rounds like qmac's ``ruy`` (second
    rounding ties toward +∞); the last ``C mod 16`` channels through the scalar loop, which
    rounds ``double`` (measured per channel on ai-edge-litert 2.3.0 x86, docs/lowering.md;
    with more interpreter threads the channel range is split first and each part has its
    own blocks)."""
    x = np.asarray(x, np.int64)
    m0, e, bias = mean_optimized_params(input_scale, input_zp, output_scale, output_zp,
                                        x.shape[1] * x.shape[2])
    acc = x.sum(axis=(1, 2), keepdims=True)
    c = x.shape[3]
    vector = np.arange(c) < 16 * (c // 16)
    y = np.where(vector, multiply_by_quantized_multiplier(acc, m0, e, "ruy"),
                 multiply_by_quantized_multiplier(acc, m0, e, "double"))
    return np.clip(y + bias, -128, 127)


def mean(g: Graph, op: Op, values: dict, rounding: str) -> list[np.ndarray]:
    x = values[op.inputs[0]].astype(np.int64)
    axes = tuple(sorted({int(a) % x.ndim for a in np.asarray(values[op.inputs[1]]).reshape(-1)}))
    ti, to = g.tensor(op.inputs[0]).quant, g.tensor(op.outputs[0]).quant
    out = g.tensor(op.outputs[0])
    if (rounding == "ruy" and x.ndim == 4 and axes == (1, 2) and len(out.shape) == 4
            and g.tensor(op.inputs[0]).dtype == "int8" and out.dtype == "int8"):
        return [mean_optimized_hw(x, ti.s, ti.zp, to.s, to.zp).reshape(out.shape)]
    n = int(np.prod([x.shape[a] for a in axes]))
    m0, e = mean_multiplier(ti.s, to.s, n)
    acc = x.sum(axis=axes) - ti.zp * n
    y = multiply_by_quantized_multiplier(acc, m0, e, "double") + to.zp
    info = np.iinfo(np.int8 if g.tensor(op.outputs[0]).dtype == "int8" else np.uint8)
    return [np.clip(y, info.min, info.max).reshape(g.tensor(op.outputs[0]).shape)]
