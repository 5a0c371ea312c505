"""Ideal crossbar + lossless ADC == the MAC-array path, bit for bit (docs/crossbar.md §2.6).

Runs on a crossbar top whose ADC is lossless and whose macro is ideal (``qmac regress``
runs it on the configuration itself when it is, otherwise on its lossless ideal variant:
``adc_bits`` = the lossless resolution, ``adc_full_scale: auto``, no noise). The hardware
outputs are compared with ``golden.datapath.datapath_model`` — the MAC array's golden — not
with the crossbar model; the two golden models are also checked to agree on every lane.

* ``random_layers_vs_mac`` — random FC layers: K > R, C > cols, batch > 1, per-channel and
  per-tensor, zero points (random, at the limits, zero), no activation / ReLU / ReLU6.
* ``extremes_vs_mac`` — extreme operands: the largest column sums the tile can produce
  must still convert exactly.
"""

from __future__ import annotations

import numpy as np

import cocotb

from tb.env import TbEnv
from tb.schedule import schedule
from tb.xbar_cases import extreme_layers, xb_random_layers


def _golden_agree(env: TbEnv, prog, label: str) -> None:
    """golden.crossbar (ideal, lossless) must equal golden.datapath for the program."""
    exp_x = env.model.expected(prog)
    exp_m = env.model.expected(prog, mac_path=True)
    bad = int((exp_x.y != exp_m.y).sum() + (exp_x.ovf != exp_m.ovf).sum())
    if bad:
        env.failures.append(f"{label}: golden.crossbar and golden.datapath disagree on {bad} "
                            f"lanes for an ideal crossbar with a lossless ADC")


async def _run(env: TbEnv, layers, label: str) -> None:
    hp = env.hp
    if not (hp.lossless and hp.ideal):
        raise AssertionError(f"crossbar_vs_mac needs a lossless ADC and an ideal macro; "
                             f"{hp.name} has lossless={hp.lossless}, ideal={hp.ideal} "
                             f"(qmac regress runs this testbench on the lossless variant)")
    prog = schedule(hp, layers, trim=np.zeros(hp.phys_cols, np.int64))
    _golden_agree(env, prog, label)
    await env.run(prog, path="fast", label=label, mac_path=True)


@cocotb.test()
async def random_layers_vs_mac(dut):
    """Random layers (K > R, per-channel, zero points, ReLU): hardware == datapath_model."""
    env = TbEnv(dut, "random_layers_vs_mac")
    await env.start()
    await _run(env, xb_random_layers(env, max(2, env.vectors)), "random layers vs MAC path")
    env.finish()


@cocotb.test()
async def extremes_vs_mac(dut):
    """Extreme operands (largest column sums): hardware == datapath_model."""
    env = TbEnv(dut, "extremes_vs_mac")
    await env.start()
    hp = env.hp
    layers = extreme_layers(hp, env.rng, k_tiles=2 if env.vectors >= 16 else 1,
                            max_rows=8 if env.vectors >= 16 else 5)
    await _run(env, layers, "extremes vs MAC path")
    env.finish()
