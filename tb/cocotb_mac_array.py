"""MAC array: directed extreme operands and one-hot patterns, checked exactly.

The output of the datapath is a requantized 8..16-bit value, far narrower than a dot
product. Two observation modes make every product bit visible:

* **residue**: bias' = −(expected dot product) + δ with a small δ and an identity requant
  (``m0 = 2^30, shift = 1`` is exactly ×1 in every rounding mode), so the output is
  ``δ + y_zp`` only if every product and every sum of every k-tile was exact;
* **window**: bias' = 0 and per-lane right shifts, so lanes show different bit windows of
  the full-magnitude sum (per-channel configurations).

Patterns: all operands at min/max (every sign combination), alternating extremes,
one-hot rows (each row of the array alone), max-depth accumulations over every weight tile
(``K = R·T``), and random extreme operands.
"""

from __future__ import annotations

import numpy as np

import cocotb

from tb.env import TbEnv
from tb.layers import FoldedLayer
from tb.schedule import schedule

IDENTITY_M0, IDENTITY_SHIFT = 1 << 30, 1


def _dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact Python-int dot products x[K] · w[C, K] (independent of golden/)."""
    xs = [int(v) for v in x]
    return np.array([sum(a * int(b) for a, b in zip(xs, row)) for row in w], dtype=object)


def residue_layer(hp, x, w, rng, name) -> FoldedLayer:
    """One vector whose outputs are ``δ + y_zp`` iff the MACs are exact."""
    olo, ohi = hp.out_range
    y_zp = (olo + ohi + 1) // 2
    span = max(1, (ohi - olo) // 4)
    delta = rng.integers(-span, span + 1, size=w.shape[0])
    s = _dot(x, w)
    bias = [int(-v) + int(d) for v, d in zip(s, delta)]
    alo, ahi = hp.acc_range
    if hp.overflow == "wrap":   # same outputs mod 2^acc_bits
        bias = [((b - alo) % (1 << hp.acc_bits)) + alo for b in bias]
    else:                        # still a valid test; no longer a pure residue
        bias = [min(max(b, alo), ahi) for b in bias]
    bias = np.array(bias, dtype=np.int64)
    c = w.shape[0]
    return FoldedLayer(x=x[None, :].astype(np.int64), w=w.astype(np.int64), bias=bias,
                       m0=np.full(c, IDENTITY_M0, np.int64),
                       shift=np.full(c, IDENTITY_SHIFT, np.int64), y_zp=int(y_zp),
                       act_min=olo, act_max=ohi, per_tensor=True, name=name)


def window_layer(hp, x, w, name) -> FoldedLayer:
    """Bias 0, per-lane shifts spreading bit windows over the dot product's width."""
    olo, ohi = hp.out_range
    c = w.shape[0]
    if hp.per_channel:
        # lane i shifts right by about i/(C-1) of the dot product's width
        top = (hp.input_bits + hp.weight_bits + int(np.ceil(np.log2(max(2, hp.rows))))
               - hp.out_bits + 2)
        shift = np.array([1 - round(i * top / max(1, c - 1)) for i in range(c)], np.int64)
        shift = np.clip(shift, -31, 1)
    else:
        shift = np.full(c, -(hp.input_bits + hp.weight_bits - hp.out_bits), np.int64)
    y_zp = (olo + ohi + 1) // 2 if not hp.out_signed else 0
    return FoldedLayer(x=x[None, :].astype(np.int64), w=w.astype(np.int64),
                       bias=np.zeros(c, np.int64), m0=np.full(c, IDENTITY_M0, np.int64),
                       shift=shift, y_zp=int(y_zp), act_min=olo, act_max=ohi,
                       per_tensor=not hp.per_channel, name=name)


def extreme_patterns(hp, rng):
    """(name, x[K], w[C, K]) with K = R (one tile) unless noted."""
    R, C = hp.rows, hp.cols
    xlo, xhi = hp.x_range
    wlo, whi = hp.w_range
    pats = []
    for xv in (xlo, xhi):
        for wv in (wlo, whi):
            pats.append((f"x=all{xv},w=all{wv}", np.full(R, xv), np.full((C, R), wv)))
    alt_x = np.where(np.arange(R) % 2 == 0, xlo, xhi)
    alt_w = np.where((np.arange(C)[:, None] + np.arange(R)[None, :]) % 2 == 0, wlo, whi)
    pats.append(("x=alternating,w=checkerboard", alt_x, alt_w))
    # one-hot rows: row r alone carries extreme operands (checks each row's multiplier)
    for r in range(R):
        x = np.zeros(R, np.int64) if xlo <= 0 <= xhi else np.full(R, xlo)
        x[r] = xlo if r % 2 else xhi
        w = np.full((C, R), 0 if wlo <= 0 <= whi else wlo)
        w[:, r] = np.where(np.arange(C) % 2 == 0, wlo, whi)
        pats.append((f"one-hot row {r}", x, w))
    # per-column distinct extremes (each lane a different weight sign pattern)
    w = np.where(((np.arange(C)[:, None] >> (np.arange(R)[None, :] % 4)) & 1) == 1, wlo, whi)
    pats.append(("x=all max,w=lane patterns", np.full(R, xhi), w))
    pats.append(("x=all min,w=lane patterns", np.full(R, xlo), w))
    return pats


@cocotb.test()
async def mac_extremes_exact(dut):
    """Extreme and one-hot operands, one k-tile and full depth, residue mode (exact)."""
    env = TbEnv(dut, "mac_extremes_exact")
    await env.start()
    hp, rng = env.hp, env.rng
    layers = []
    for name, x, w in extreme_patterns(hp, rng):
        layers.append(residue_layer(hp, x, w, rng, name))
    # full depth: K = R·T k-tiles, every weight tile used, all operands extreme
    xlo, xhi = hp.x_range
    wlo, whi = hp.w_range
    depth_k = hp.rows * hp.weight_tiles
    for xv, wv in ((xlo, wlo), (xhi, whi), (xlo, whi)):
        layers.append(residue_layer(hp, np.full(depth_k, xv), np.full((hp.cols, depth_k), wv),
                                    rng, f"depth {depth_k}: x=all{xv}, w=all{wv}"))
    # random extremes (operands drawn from {min, min+1, -1, 0, 1, max-1, max})
    n_rand = max(4, env.vectors // 4)
    xcand = np.array(sorted({xlo, xlo + 1, xhi - 1, xhi} | ({-1, 0, 1} if xlo < 0 else {0, 1})))
    wcand = np.array(sorted({wlo, wlo + 1, whi - 1, whi} | ({-1, 0, 1} if wlo < 0 else {0, 1})))
    for chunk in env.chunks():          # directed patterns in the first chunk only
        for i in range(n_rand):
            k = int(rng.integers(1, 3 * hp.rows + 1))
            x = rng.choice(xcand, size=k)
            w = rng.choice(wcand, size=(hp.cols, k))
            layers.append(residue_layer(hp, x, w, rng, f"random extremes {i} (K={k})"))
        await env.run(schedule(hp, layers), path="fast", label=f"chunk {chunk}" if chunk else "")
        layers = []
    env.finish()


@cocotb.test()
async def mac_extremes_windows(dut):
    """Extreme operands with bias 0: lanes show bit windows of the full dot product."""
    env = TbEnv(dut, "mac_extremes_windows")
    await env.start()
    hp, rng = env.hp, env.rng
    layers = [window_layer(hp, x, w, name) for name, x, w in extreme_patterns(hp, rng)[:6]]
    await env.run(schedule(hp, layers), path="fast")
    env.finish()
