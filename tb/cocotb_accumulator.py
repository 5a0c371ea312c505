"""Accumulator bank: bias extremes, overflow (wrap or saturate per the config), flags, sticky.

Every lane gets its own bias' and weight column, so one data beat checks C accumulators.
The requantizer maps the accumulator's top bits onto the output (``m0 = 2^30`` with a right
shift of ``acc_bits − out_bits``) or, on half the lanes of per-channel configurations, is the
identity so small residues are exact. The per-beat ``ovf`` lanes, the sticky flags after the
run and the clear (SCALARS index 3) are checked as well.
"""

from __future__ import annotations

import numpy as np

import cocotb

from tb.env import TbEnv
from tb.layers import FoldedLayer
from tb.schedule import schedule


def _requant_lanes(hp):
    """(m0, shift) per lane: coarse windows (top bits), identity on odd lanes if per-channel."""
    c = hp.cols
    coarse = max(-31, -(hp.acc_bits - hp.out_bits) + 1)
    shift = np.full(c, coarse, np.int64)
    if hp.per_channel:
        shift[1::2] = 1
    return np.full(c, 1 << 30, np.int64), shift


def acc_layer(hp, x, w, bias, name, *, y_zp=None) -> FoldedLayer:
    olo, ohi = hp.out_range
    m0, shift = _requant_lanes(hp)
    if y_zp is None:
        y_zp = 0 if hp.out_signed else (olo + ohi + 1) // 2
    return FoldedLayer(x=np.atleast_2d(np.asarray(x, np.int64)), w=np.asarray(w, np.int64),
                       bias=np.asarray(bias, np.int64), m0=m0, shift=shift, y_zp=int(y_zp),
                       act_min=olo, act_max=ohi, per_tensor=not hp.per_channel, name=name)


def overflow_cases(hp, rng):
    """Directed accumulations that overflow (or just fit) the accumulator."""
    R, C = hp.rows, hp.cols
    alo, ahi = hp.acc_range
    xlo, xhi = hp.x_range
    wlo, whi = hp.w_range
    one_x = 1 if xlo <= 1 <= xhi else xhi
    layers = []
    # (a) bias at the limits, psum 0 / +small / -small: per-lane mix
    x = np.zeros(R, np.int64)
    x[0] = one_x
    w = np.zeros((C, R), np.int64)
    w[:, 0] = np.where(np.arange(C) % 3 == 0, 0, np.where(np.arange(C) % 3 == 1, whi, wlo))
    w[:, 0] = np.clip(w[:, 0], wlo, whi)
    for label, b in (("bias=max", ahi), ("bias=min", alo), ("bias=max-1", ahi - 1),
                     ("bias=min+1", alo + 1), ("bias=0", 0)):
        layers.append(acc_layer(hp, x, w, np.full(C, b), f"{label}, psum in {{0, +, -}}"))
    # (b) bias near both limits per lane, extreme products: certain overflow on some lanes
    xe = np.full(R, xhi)
    we = np.where(np.arange(C)[:, None] % 2 == 0, whi, wlo) * np.ones((1, R), np.int64)
    bias = np.where(np.arange(C) % 4 < 2, ahi - rng.integers(0, 4, size=C),
                    alo + rng.integers(0, 4, size=C))
    layers.append(acc_layer(hp, xe, we, bias, "bias at limits, extreme psums"))
    # (c) multi-beat: overflow on an early beat, back in range by the last beat
    #     (wrap: final value exact, flag set; saturate: clamped on the way, flag set)
    kt = 3
    xm = np.concatenate([np.full(R, xhi), np.full(R, xhi), np.zeros(R, np.int64)])
    wm = np.concatenate([np.full((C, R), whi), np.full((C, R), wlo if wlo < 0 else 0),
                         np.zeros((C, R), np.int64)], axis=1)
    if wlo >= 0:  # unsigned weights cannot bring it back; use x = 0 in the second tile
        xm[R:2 * R] = 0
    layers.append(acc_layer(hp, xm[None, :kt * R], wm[:, :kt * R],
                            np.full(C, ahi - 1), "overflow then back (3 k-tiles)"))
    # (d) the flag is per accumulation: a clean accumulation right after an overflowing one
    layers.append(acc_layer(hp, x, np.zeros((C, R), np.int64), np.full(C, 5),
                            "clean accumulation after overflow"))
    return layers


def random_cases(hp, rng, n):
    """Random biases biased towards the limits with random extreme psums."""
    R, C = hp.rows, hp.cols
    alo, ahi = hp.acc_range
    xlo, xhi = hp.x_range
    wlo, whi = hp.w_range
    layers = []
    for i in range(n):
        k = int(rng.integers(1, 2 * R + 1))
        x = rng.choice([xlo, xhi, rng.integers(xlo, xhi + 1)], size=k)
        w = rng.choice([wlo, whi, 0 if wlo <= 0 else wlo], size=(C, k))
        span = max(1, (ahi - alo) // (1 << min(40, hp.acc_bits // 2)))
        near = rng.integers(0, span * k * 4 + 2, size=C)
        bias = np.where(rng.random(C) < 0.5, ahi - near, alo + near)
        bias = np.where(rng.random(C) < 0.2, rng.integers(alo // 2, ahi // 2 + 1, size=C), bias)
        layers.append(acc_layer(hp, x, w, np.clip(bias, alo, ahi), f"random acc {i} (K={k})"))
    return layers


@cocotb.test()
async def accumulator_overflow(dut):
    """Directed + random accumulations at the limits; per-beat ovf flags and sticky."""
    env = TbEnv(dut, "accumulator_overflow")
    await env.start()
    hp = env.hp
    for chunk in env.chunks():          # directed cases in the first chunk only
        layers = (overflow_cases(hp, env.rng) if chunk == 0 else []) + \
            random_cases(hp, env.rng, max(4, env.vectors // 4))
        prog = schedule(hp, layers)
        env.log.info("overflow policy %s: %d lanes overflow in this run", hp.overflow,
                     int(env.model.expected(prog).ovf.sum()))
        await env.run(prog, path="fast", label=f"chunk {chunk}" if chunk else "")
    env.finish()


@cocotb.test()
async def sticky_clear(dut):
    """Sticky flags collect overflows and are cleared by the SCALARS[3] load."""
    env = TbEnv(dut, "sticky_clear")
    await env.start()
    hp = env.hp
    # 1. overflowing run, no clear at the start of the next: sticky must show it
    over = overflow_cases(hp, env.rng)[:3]
    await env.run(schedule(hp, over, clear_sticky=True), path="fast", label="set")
    # 2. a clean run that starts with a clear: sticky must read 0 afterwards
    clean = [acc_layer(hp, np.zeros(hp.rows, np.int64), np.zeros((hp.cols, hp.rows), np.int64),
                       np.full(hp.cols, 3), "clean after clear")]
    await env.run(schedule(hp, clean, clear_sticky=True), path="fast", label="cleared")
    env.finish()


@cocotb.test()
async def bias_extremes_exact(dut):
    """bias' at every power of two and the limits with psum 0: acc = bias' exactly."""
    env = TbEnv(dut, "bias_extremes_exact")
    await env.start()
    hp = env.hp
    alo, ahi = hp.acc_range
    vals = sorted({alo, alo + 1, ahi - 1, ahi, 0, 1, -1}
                  | {s * (1 << i) + d for i in range(hp.acc_bits - 1) for s in (1, -1)
                     for d in (-1, 0, 1)})
    vals = [v for v in vals if alo <= v <= ahi]
    C, R = hp.cols, hp.rows
    layers = []
    for i in range(0, len(vals), C):
        chunk = (vals[i:i + C] + [0] * C)[:C]
        layers.append(acc_layer(hp, np.zeros(R, np.int64), np.zeros((C, R), np.int64),
                                np.array(chunk), f"bias values {i}..{i + C - 1}"))
    await env.run(schedule(hp, layers), path="fast")
    env.finish()


@cocotb.test()
async def overflow_every_lane(dut):
    """Every lane overflows upwards (bias' at the top, a positive product) and downwards
    (bias' at the bottom, a negative product), one beat each."""
    env = TbEnv(dut, "overflow_every_lane")
    await env.start()
    hp = env.hp
    alo, ahi = hp.acc_range
    xlo, xhi = hp.x_range
    wlo, whi = hp.w_range
    C, R = hp.cols, hp.rows
    layers = []
    for sign, bias in ((1, ahi), (-1, alo)):
        # x·w of the wanted sign from the operand ranges (x = xhi > 0; w = whi or wlo)
        xv, wv = (xhi, whi) if sign > 0 else ((xhi, wlo) if wlo < 0 else (xlo, whi))
        if xv * wv * sign <= 0:
            continue                       # unsigned operands: no negative product exists
        layers.append(acc_layer(hp, np.full((1, R), xv), np.full((C, R), wv),
                                np.full(C, bias), f"overflow {'+' if sign > 0 else '-'}"))
    await env.run(schedule(hp, layers), path="fast")
    env.finish()


@cocotb.test()
async def overflow_under_stalls(dut):
    """Beats alternating overflow / no overflow in every lane (bias' at the top, then
    ``x = x_max`` or ``x = 0``), back to back under 50 % backpressure: each beat's ``ovf``
    flag must stay with its beat while the pipeline stalls in every stage."""
    env = TbEnv(dut, "overflow_under_stalls")
    await env.start()
    hp = env.hp
    ahi, xhi, whi = hp.acc_range[1], hp.x_range[1], hp.w_range[1]
    x = np.zeros((2 * hp.latency, hp.rows), np.int64)
    x[::2] = xhi
    layer = acc_layer(hp, x, np.full((hp.cols, hp.rows), whi), np.full(hp.cols, ahi),
                      "alternating overflow")
    await env.run(schedule(hp, [layer]), path="cycle", backpressure=0.5, label="stalls")
    env.finish()
