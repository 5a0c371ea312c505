"""Crossbar tops: variable ADC conversion latency, and the manifest's latency and throughput.

* ``adc_latency_variants`` — the same kind of random layers with every ADC answering after
  1 cycle, after the nominal latency with per-ADC jitter, and after about twice the nominal
  latency with jitter (each ADC its own latency per conversion): the start/done handshake
  must take any latency, outputs bit-exact; each run's cycles are at least the formula's
  (cycles per vector at the fastest conversion).
* ``latency_and_throughput`` — cycle-driven, no stalls, a fixed conversion latency (the
  nominal one, then 1 cycle): each output appears exactly ``latency_for(Lc)`` cycles after
  its ``last`` beat was accepted (the manifest's ``latency_cycles`` at the nominal
  latency) and back-to-back data beats are accepted exactly ``cycles_per_vector(Lc)``
  cycles apart (docs/crossbar.md §3.4).
"""

from __future__ import annotations

import cocotb

from tb.env import TbEnv
from tb.layers import random_layer
from tb.schedule import KIND_DATA, schedule
from tb.xbar_cases import calibrated_trim, xb_random_layers


@cocotb.test()
async def adc_latency_variants(dut):
    """Fastest, nominal+jitter and slow+jitter ADCs: bit-exact, any latency."""
    env = TbEnv(dut, "adc_latency_variants")
    await env.start()
    hp = env.hp
    nom = hp.adc_latency
    variants = ((1, 0), (nom, max(1, nom // 2)), (2 * nom + 1, nom + 2))
    for lat, jit in variants:
        env.xbar.set_adc(latency=lat, jitter=jit)
        prog = schedule(hp, xb_random_layers(env, max(1, env.vectors // 6), max_ktiles=2),
                        trim=calibrated_trim(hp))
        res = await env.run(prog, path="fast", label=f"adc latency {lat}+U{{0..{jit}}}",
                            calibrated=True)
        floor = prog.stream.count(KIND_DATA) * hp.cycles_per_vector(lat)
        if res.ok and env.last_cycles < floor:
            env.failures.append(f"latency {lat}: {env.last_cycles} cycles for "
                                f"{prog.stream.count(KIND_DATA)} data beats, fewer than "
                                f"{floor} (cycles per vector {hp.cycles_per_vector(lat)})")
    env.xbar.set_adc()
    env.finish()


@cocotb.test()
async def latency_and_throughput(dut):
    """No stalls, fixed ADC latency: exact LATENCY per beat and cycles-per-vector spacing."""
    env = TbEnv(dut, "latency_and_throughput")
    await env.start()
    hp = env.hp
    for lat in dict.fromkeys((hp.adc_latency, 1)):
        env.xbar.set_adc(latency=lat, jitter=0)
        L = random_layer(hp, env.rng, batch=max(2, min(8, env.vectors // 8)), k=2 * hp.rows,
                         c=hp.cols, per_channel=hp.per_channel, name=f"stream (Lc={lat})")
        prog = schedule(hp, [L.fold(hp)], trim=calibrated_trim(hp))
        env.log.info("%d data beats back to back; ADC latency %d: LATENCY=%d, %d cycles/vector",
                     prog.stream.count(KIND_DATA), lat, hp.latency_for(lat),
                     hp.cycles_per_vector(lat))
        await env.run(prog, path="cycle", check_latency=True, label=f"no stalls, Lc={lat}")
    env.xbar.set_adc()
    env.finish()
