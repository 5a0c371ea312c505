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
    env.finish()
