"""Crossbar tops: the ADC at its limits, bit-exact against golden.

* ``adc_extremes`` — extreme operands (every input / weight at its minimum or maximum,
  checkerboards, one-hot rows, zeros, random extremes; one and two k-tiles): column sums
  from 0 to the largest the tile can produce, i.e. the top ADC code of a lossless ADC and
  clipping of a lossy or calibrated one; every lane at the four corner dot products (both
  ends of the psum clamp on every lane); calibrated trims.
* ``trim_limits`` — trims at the ends of the signed ``adc_bits`` range (and 0, ±1) with
  random and extreme layers: ``code − trim`` spans its whole width, the reconstruction
  clamps; then every limit trim on every physical column (rotated sets, so no column's
  trim sign bit is left to chance).
* ``requant_through_crossbar`` — a zero input vector through programmed zero weights gives
  an exact partial sum of 0 on an ideal crossbar (any ADC), so bias' alone sets the
  accumulator: limits of the accumulator, zero points and clamps at the ends of the output
  range, on the crossbar top's own accumulator bank and requantizer (with noise the golden
  model still predicts every bit).
"""

from __future__ import annotations

import numpy as np

import cocotb

from tb.env import TbEnv
from tb.layers import FoldedLayer
from tb.schedule import schedule
from tb.xbar_cases import (calibrated_trim, corner_layers, extreme_layers, limit_trim,
                           limit_trim_sets, xb_random_layers)


@cocotb.test()
async def adc_extremes(dut):
    """Extreme operands: largest column sums (top code / clipping), zeros, one-hot rows."""
    env = TbEnv(dut, "adc_extremes")
    await env.start()
    hp, rng = env.hp, env.rng
    layers = extreme_layers(hp, rng, k_tiles=1, max_rows=8 if env.vectors >= 16 else 5)
    layers += corner_layers(hp, rng)
    if env.vectors >= 16:
        layers += extreme_layers(hp, rng, k_tiles=2, max_rows=4)
    await env.run(schedule(hp, layers, trim=calibrated_trim(hp)), path="fast",
                  label="extreme operands")
    env.finish()


@cocotb.test()
async def trim_limits(dut):
    """Trims at the ends of their range with random and extreme layers."""
    env = TbEnv(dut, "trim_limits")
    await env.start()
    hp, rng = env.hp, env.rng
    layers = xb_random_layers(env, max(1, env.vectors // 8), max_ktiles=2)
    if env.vectors >= 16:
        layers += extreme_layers(hp, rng, max_rows=5)[:1]
    await env.run(schedule(hp, layers, trim=limit_trim(hp, rng)), path="fast",
                  label="trims at the limits")
    for k, trim in enumerate(limit_trim_sets(hp)):
        layer = extreme_layers(hp, rng, max_rows=2)[:1]
        await env.run(schedule(hp, layer, trim=trim), path="fast",
                      label=f"every trim limit on every column, set {k}")
    env.finish()


@cocotb.test()
async def requant_through_crossbar(dut):
    """acc = bias' exactly (x = 0, w' = 0): accumulator limits, zero points, clamps."""
    env = TbEnv(dut, "requant_through_crossbar")
    await env.start()
    hp, rng = env.hp, env.rng
    C, R = hp.cols, hp.rows
    alo, ahi = hp.acc_range
    olo, ohi = hp.out_range
    accs = np.array([alo, alo + 1, -1000, -3, -1, 0, 1, 3, 5, 1000, ahi - 1, ahi]
                    + [int(v) for v in rng.integers(alo // 4, ahi // 4, size=4)], np.int64)
    accs = np.resize(accs, C)
    layers = []
    groups = ((0, olo, ohi), (olo, olo, ohi), (ohi, olo, ohi), (0, 0, min(ohi, 6)))
    if env.vectors < 16:
        groups = (groups[1], groups[3])
    for i, (y_zp, amin, amax) in enumerate(groups):
        m0 = np.full(C, 1 << 30, np.int64)
        shift = np.full(C, 1 if i % 2 == 0 else -(hp.acc_bits - hp.out_bits), np.int64)
        if hp.per_channel:
            shift[1::2] = -7
        layers.append(FoldedLayer(
            x=np.zeros((1, R), np.int64), w=np.zeros((C, R), np.int64), bias=accs.copy(),
            m0=m0, shift=shift, y_zp=int(y_zp), act_min=int(amin), act_max=int(amax),
            per_tensor=not hp.per_channel, name=f"bias only {i} (y_zp={y_zp})"))
    await env.run(schedule(hp, layers, trim=calibrated_trim(hp)), path="fast", label="requant")
    env.finish()


@cocotb.test()
async def corners_every_lane(dut):
    """The requantizer and accumulator corners of the functional coverage in every lane,
    through the crossbar top: ``x = 0``, ``w' = 0`` (an exact zero partial sum), so bias'
    places the pre-clamp value one below, at and one above every limit and on the ties of
    both rounding steps (``tb.cocotb_requantizer.corner_cases``); then bias' at each limit
    with extreme operands of both signs: an overflow upwards and downwards in every lane."""
    from tb.cocotb_requantizer import corner_groups, corner_layers, shift_alias_layers
    env = TbEnv(dut, "corners_every_lane")
    await env.start()
    hp = env.hp
    olo, ohi = hp.out_range
    groups = corner_groups(hp)
    # the shifts at both ends through their 6-bit aliases, every case in every lane
    layers = corner_layers(env, groups) + shift_alias_layers(env, groups[0], hp.cols)
    C, R = hp.cols, hp.rows
    alo, ahi = hp.acc_range
    xhi, (wlo, whi) = hp.x_range[1], hp.w_range
    # both weight signs at both bias limits: the (lossy) ADC's partial sum of an extreme
    # column can have either sign, so two of the four overflow, one each way
    for bias, wv in ((ahi, whi), (ahi, wlo), (alo, whi), (alo, wlo)):
        layers.append(FoldedLayer(
            x=np.full((1, R), xhi, np.int64), w=np.full((C, R), wv, np.int64),
            bias=np.full(C, bias, np.int64), m0=np.full(C, 1 << 30, np.int64),
            shift=np.full(C, -(hp.acc_bits - hp.out_bits), np.int64), y_zp=0,
            act_min=olo, act_max=ohi, per_tensor=not hp.per_channel,
            name=f"overflow (bias'={bias})"))
    await env.run(schedule(hp, layers, trim=calibrated_trim(hp)), path="fast",
                  label="coverage corners")
    # the overflows left o_ovf_sticky set: the next program's clear load (SCALARS index 3)
    # must clear it (checked against the model's flags of that program alone)
    quiet = FoldedLayer(x=np.zeros((1, R), np.int64), w=np.zeros((C, R), np.int64),
                        bias=np.zeros(C, np.int64), m0=np.full(C, 1 << 30, np.int64),
                        shift=np.ones(C, np.int64), y_zp=0, act_min=olo, act_max=ohi,
                        per_tensor=not hp.per_channel, name="after the sticky clear")
    await env.run(schedule(hp, [quiet], trim=calibrated_trim(hp)), path="fast",
                  label="sticky cleared")
    env.finish()


def _lane_trim_gain(hp, c):
    """``{physical column j: g_j}`` of lane ``c``: with an ideal macro and a lossless ADC,
    the engine's pre-clamp value is ``Σ_r x_r·w'_rc − Σ_j trim_j·g_j``
    (``golden.crossbar.reconstruct``: ``g_j = Σ_p ω_p · 2^k_j · 2^(s·b) · (±1 polarity)``)."""
    sp = hp.xb_spec()
    omega = sum(sp.phase_weights)
    out = {}
    for s in range(sp.slices):
        for e in range(sp.polarities):
            j = (c * sp.slices + s) * sp.polarities + e
            out[j] = omega * (1 << sp.adc_shift[j]) * (1 << (s * sp.cell_bits)) * (1 - 2 * e)
    return out


def _clamp_case(hp, c, pre, trim):
    """Trims of lane ``c``'s columns (into ``trim``) and the exact dot product that make
    its pre-clamp value ``pre``; returns the dot product (None if the trims cannot bring it
    into the input range with one weight of 1)."""
    lo, hi = hp.trim_range
    rem = pre
    for j, g in sorted(_lane_trim_gain(hp, c).items(), key=lambda kv: -abs(kv[1])):
        t = int(np.clip(round(-rem / g), lo, hi))
        trim[j] = t
        rem += t * g
    xlo, xhi = hp.x_range
    return rem if xlo <= rem <= xhi else None


def _clamp_targets_ok() -> bool:
    import os
    if not os.environ.get("QMAC_TB_PARAMS"):
        return False
    from tb.hwparams import HwParams
    hp = HwParams.from_env()
    if not (hp.is_crossbar and hp.lossless and hp.ideal and hp.w_range[0] <= 1 <= hp.w_range[1]
            and hp.rows >= hp.cols):
        return False
    lo, hi = hp.xb_spec().psum_range
    return all(_clamp_case(hp, 0, pre, np.zeros(hp.phys_cols, np.int64)) is not None
               for pre in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1))


@cocotb.skipif(not _clamp_targets_ok(), reason="needs an ideal macro, a lossless ADC (the "
                                               "pre-clamp value is exact), weight 1, R >= C "
                                               "and trims that reach psum_range's ends ±1")
@cocotb.test()
async def psum_clamp_boundaries(dut):
    """The engine's partial-sum clamp at exactly ``lo − 1, lo, lo + 1, hi − 1, hi, hi + 1``
    of ``psum_range`` in every lane: an exact dot product (one row, weight 1) plus trims on
    the lane's columns (``_clamp_case``) place the pre-clamp value; bias = −bound turns
    ``psum`` into ``acc ∈ {−1, 0, 1}``, which the identity requantizer shows exactly. An
    ideal lossless macro never leaves the range by itself, so only trims reach it."""
    env = TbEnv(dut, "psum_clamp_boundaries")
    await env.start()
    hp = env.hp
    C, R = hp.cols, hp.rows
    olo, ohi = hp.out_range
    p_lo, p_hi = hp.xb_spec().psum_range
    targets = [(p_lo - 1, p_lo), (p_lo, p_lo), (p_lo + 1, p_lo),
               (p_hi - 1, p_hi), (p_hi, p_hi), (p_hi + 1, p_hi)]
    checked = 0
    for first in range(len(targets)):      # every target in every lane, C lanes per run
        trim = np.zeros(hp.phys_cols, np.int64)
        x = np.zeros((1, R), np.int64)
        w = np.zeros((C, R), np.int64)
        bias = np.zeros(C, np.int64)
        for c in range(C):
            pre, bound = targets[(first + c) % len(targets)]
            dot = _clamp_case(hp, c, pre, trim)
            if dot is None:
                continue
            x[0, c], w[c, c], bias[c] = dot, 1, -bound
            checked += 1
        layer = FoldedLayer(x=x, w=w, bias=bias, m0=np.full(C, 1 << 30, np.int64),
                            shift=np.ones(C, np.int64), y_zp=0, act_min=olo, act_max=ohi,
                            per_tensor=not hp.per_channel, name=f"psum clamp run {first}")
        await env.run(schedule(hp, [layer], trim=trim), path="fast",
                      label=f"psum clamp ±1 (run {first})")
    if checked < len(targets):
        env.failures.append(f"only {checked} clamp cases were constructible")
    env.finish()
