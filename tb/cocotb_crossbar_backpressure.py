"""Crossbar tops: backpressure everywhere — o_data, input bubbles, the programming port.

* ``fast_backpressure`` — fast path with LFSR backpressure on ``o_data`` (30 % and 80 %),
  GAP commands on the inputs and ``o_prog.ready`` low half of the time (the macro programs
  slowly; loads and data must wait for the programming beat); nothing lost or duplicated.
* ``handshake`` — cycle-driven Driver/Monitor: random idle cycles on the inputs, random
  ``o_data`` backpressure, ``o_prog`` stalls and ADC jitter at once; the Monitor checks that
  a stalled ``o_data`` beat stays valid and unchanged.
* ``reload_mid_accumulation`` — K > R·T: the macro is reprogrammed between the k-tiles of
  one open accumulation (cycle-driven, with stalls). Needs ``--vectors >= 16`` (skipped
  otherwise: T + 2 k-tiles per vector is too slow for the small default Icarus counts).
"""

from __future__ import annotations

import os

import cocotb

from tb.env import DEFAULT_VECTORS, TbEnv
from tb.layers import random_layer
from tb.schedule import schedule
from tb.xbar_cases import calibrated_trim, xb_random_layers


@cocotb.test()
async def fast_backpressure(dut):
    """o_data backpressure 30 % / 80 %, input gaps, o_prog stalls (fast path)."""
    env = TbEnv(dut, "fast_backpressure")
    await env.start()
    hp = env.hp
    for bp in (0.3, 0.8):
        env.xbar.set_prog_stall(0.5)
        prog = schedule(hp, xb_random_layers(env, max(1, env.vectors // 6), max_ktiles=2),
                        gap_rate=0.1, rng=env.rng, trim=calibrated_trim(hp))
        await env.run(prog, path="fast", backpressure=bp, label=f"bp={bp}, o_prog stall 0.5",
                      calibrated=True)
    env.xbar.set_prog_stall(0.0)
    env.finish()


@cocotb.test()
async def handshake(dut):
    """Cycle-driven: input idles, o_data backpressure, o_prog stalls, ADC jitter."""
    env = TbEnv(dut, "handshake")
    await env.start()
    hp = env.hp
    env.xbar.set_adc(latency=hp.adc_latency, jitter=2)
    env.xbar.set_prog_stall(0.3)
    prog = schedule(hp, xb_random_layers(env, max(2, env.vectors // 8), max_ktiles=2),
                    trim=calibrated_trim(hp))
    await env.run(prog, path="cycle", backpressure=0.5, idle_rate=0.3,
                  label="bp=0.5, idle=0.3, o_prog stall 0.3, jitter 2")
    env.xbar.set_adc()
    env.xbar.set_prog_stall(0.0)
    env.finish()


def _vectors() -> int:
    return int(os.environ.get("QMAC_VECTORS") or DEFAULT_VECTORS)


@cocotb.skipif(_vectors() < 16, reason="K > R·T costs T + 2 k-tiles per vector; runs with "
                                       "--vectors >= 16 (the default except on Icarus)")
@cocotb.test()
async def reload_mid_accumulation(dut):
    """K > R·T: weight loads (macro reprogramming) inside one open accumulation."""
    env = TbEnv(dut, "reload_mid_accumulation")
    hp = env.hp
    await env.start()
    env.xbar.set_prog_stall(0.2)
    k = hp.rows * (hp.weight_tiles + 1) + 1
    L = random_layer(hp, env.rng, batch=1, k=k, c=hp.cols, per_channel=hp.per_channel,
                     act="relu", zp="random", name=f"reload (B=1, K={k}, C={hp.cols})")
    await env.run(schedule(hp, [L.fold(hp)], trim=calibrated_trim(hp)), path="cycle",
                  backpressure=0.3, label="reload")
    env.xbar.set_prog_stall(0.0)
    env.finish()


@cocotb.test()
async def stall_every_stage(dut):
    """Cycle-driven, heavy ``o_data`` backpressure (a beat held ~30 or ~5 cycles on
    average): results back up behind the held one and enter the back end at varying
    distances, so a result is held in every stage after the conversion (the coverage's
    ``stall@s`` bins)."""
    env = TbEnv(dut, "stall_every_stage")
    await env.start()
    hp = env.hp
    for bp in (0.97, 0.8) if env.vectors >= 64 else (0.97,):
        L = random_layer(hp, env.rng, batch=max(4, env.vectors // 2), k=hp.rows, c=hp.cols,
                         per_channel=hp.per_channel, name="back-to-back vectors")
        await env.run(schedule(hp, [L.fold(hp)], trim=calibrated_trim(hp)), path="cycle",
                      backpressure=bp, label=f"bp={bp}")
    env.finish()
