"""Stream protocol, cycle by cycle through the Driver and Monitor (no fast path).

* handshakes with idle cycles on the inputs and random backpressure on ``o_data``: every
  beat arrives once, in order, bit-exact; while ``o_data`` is stalled the beat stays valid
  and unchanged and ``i_data.ready`` is low;
* loads between accumulations and in the middle of one (K > R·T reloads per batch row);
* latency: with no stalls each output appears exactly ``LATENCY`` cycles after its ``last``
  input beat was accepted; throughput: one data beat per cycle when nothing stalls.
"""

from __future__ import annotations

import cocotb

from tb.env import TbEnv
from tb.layers import random_layer
from tb.schedule import KIND_DATA, schedule


def _layers(env: TbEnv, n_beats: int, *, reload: bool):
    hp, rng = env.hp, env.rng
    layers, beats, i = [], 0, 0
    while beats < n_beats:
        if reload and i == 0:
            b, k, c = 2, hp.rows * (hp.weight_tiles + 1) + 1, hp.cols
        else:
            b = int(rng.integers(1, 5))
            k = int(rng.integers(1, 2 * hp.rows + 1))
            c = int(rng.integers(1, 2 * hp.cols + 1))
        L = random_layer(hp, rng, batch=b, k=k, c=c, per_channel=hp.per_channel,
                         act=("none", "relu", "relu6")[i % 3], zp="random",
                         name=f"layer{i}(B={b},K={k},C={c})")
        layers.append(L.fold(hp))
        beats += b * -(-c // hp.cols)
        i += 1
    return layers


@cocotb.test()
@cocotb.parametrize(backpressure=[0.0, 0.5], idle_rate=[0.0, 0.3])
async def handshake(dut, backpressure, idle_rate):
    """Random layers cycle by cycle with input bubbles and output backpressure."""
    name = f"handshake_bp{int(backpressure * 100)}_idle{int(idle_rate * 100)}"
    env = TbEnv(dut, name)
    await env.start()
    n = max(4, env.vectors // 8)
    for chunk in env.chunks():
        # loads to every unused address before each column tile: they must be ignored
        prog = schedule(env.hp, _layers(env, n, reload=False), unused_rng=env.rng)
        await env.run(prog, path="cycle", backpressure=backpressure, idle_rate=idle_rate,
                      label=f"bp={backpressure},idle={idle_rate}"
                      + (f" chunk {chunk}" if chunk else ""),
                      check_latency=(backpressure == 0 and idle_rate == 0))
    env.finish()


@cocotb.test()
async def reload_mid_accumulation(dut):
    """K > R·T: weight loads between the k-tiles of one open accumulation, with stalls."""
    env = TbEnv(dut, "reload_mid_accumulation")
    await env.start()
    prog = schedule(env.hp, _layers(env, 1, reload=True))
    await env.run(prog, path="cycle", backpressure=0.3, idle_rate=0.1, label="reload")
    env.finish()


@cocotb.test()
async def latency_and_throughput(dut):
    """No stalls: LATENCY exact per beat, one data beat accepted per cycle."""
    env = TbEnv(dut, "latency_and_throughput")
    await env.start()
    hp = env.hp
    L = random_layer(hp, env.rng, batch=max(4, min(64, env.vectors // 4)), k=2 * hp.rows,
                     c=hp.cols, per_channel=hp.per_channel, name="stream")
    prog = schedule(hp, [L.fold(hp)])
    env.log.info("%d data beats back to back; LATENCY=%d", prog.stream.count(KIND_DATA),
                 hp.latency)
    # env.run checks each output's latency and that back-to-back data beats are accepted
    # in consecutive cycles (check_latency)
    await env.run(prog, path="cycle", check_latency=True, label="no stalls")
    env.finish()


@cocotb.test()
async def stall_every_stage(dut):
    """Back-to-back single-tile beats (every beat is ``last``) under 50 % backpressure: the
    pipeline is full when ``o_data`` stalls, so a beat is held in every stage."""
    env = TbEnv(dut, "stall_every_stage")
    await env.start()
    hp = env.hp
    n = (4 if env.vectors >= 64 else 2) * hp.latency
    L = random_layer(hp, env.rng, batch=n, k=hp.rows, c=hp.cols,
                     per_channel=hp.per_channel, name="full pipeline")
    await env.run(schedule(hp, [L.fold(hp)]), path="cycle", backpressure=0.5,
                  label="stalls")
    env.finish()
