"""Crossbar tops: random fully-connected layers through the analog macro, bit-exact vs golden.

The behavioural crossbar (``tb/crossbar_model.py``, :class:`tb.xbar.CrossbarAgent`) answers
every conversion; the expected outputs come from ``golden.crossbar.crossbar_datapath_model``
in schedule order (``tb/model.py``), so a lossy ADC, trims and configured noise are all
part of the bit-exact comparison.

* ``random_fc_layers`` — random shapes (K > R k-tiles, C > cols column tiles, batch > 1;
  with enough vectors also K > R·T, i.e. the macro reprogrammed inside an open
  accumulation), per-tensor and per-channel multipliers, zero points random / at the
  limits / zero, no activation / ReLU / ReLU6, the calibrated trims. This run's error
  against the exact integer result is what ``qmac regress`` reports (SQNR, effective bits).
* ``random_trims`` — random layers with random per-column ADC offset trims.
"""

from __future__ import annotations

import numpy as np

import cocotb

from tb.env import TbEnv
from tb.schedule import schedule
from tb.xbar_cases import calibrated_trim, random_trim, xb_random_layers


@cocotb.test()
async def random_fc_layers(dut):
    """Random FC layers of random shapes with the calibrated trims (reported SQNR)."""
    env = TbEnv(dut, "random_fc_layers")
    await env.start()
    hp = env.hp
    layers = xb_random_layers(env, max(2, env.vectors), allow_reload=env.vectors >= 64)
    prog = schedule(hp, layers, trim=calibrated_trim(hp))
    await env.run(prog, path="fast", label="calibrated trims", calibrated=True)
    env.finish()


@cocotb.test()
async def random_trims(dut):
    """Random layers with random per-column ADC offset trims (region 5 loads)."""
    env = TbEnv(dut, "random_trims")
    await env.start()
    hp = env.hp
    spans = (4, 64) if env.vectors >= 32 else ((4, 64),)
    for span in spans:
        if isinstance(span, tuple):   # one run: small trims on some columns, large on others
            small, large = (random_trim(hp, env.rng, span=v) for v in span)
            trim = np.where(env.rng.random(hp.phys_cols) < 0.5, small, large)
            label = f"random trims ±{span[0]}/±{span[1]}"
        else:
            trim, label = random_trim(hp, env.rng, span=span), f"random trims ±{span}"
        layers = xb_random_layers(env, max(2, env.vectors // 8), max_ktiles=2)
        await env.run(schedule(hp, layers, trim=trim, unused_rng=env.rng), path="fast",
                      label=label)
    env.finish()
