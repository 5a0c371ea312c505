"""Stream protocol, cycle by cycle through the Driver and Monitor (no fast path).

* handshakes with idle cycles on the inputs and random backpressure on ``o_data``: every
  beat arrives once, in order, bit-exact; while ``o_data`` is stalled the beat stays valid
  and unchanged and ``i_data.ready`` is low;
* loads between accumulations and in the middle of one (K > R·T reloads per batch row);
* latency: with no stalls each output appears exactly ``LATENCY`` cycles after its ``last``
  input beat was accepted; throughput: one data beat per cycle when nothing stalls;
* ``stall_after_every_accept``: k-tile beats with ``o_data`` stalled in the cycle after each
  accepted beat (a directed pattern: the weight reads must hold during the stall).
"""

from __future__ import annotations

import dataclasses

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
    pipeline is full when ``o_data`` stalls, so a beat is held in every stage; then beats
    of up to three k-tiles (each beat reads another weight tile) under the same stalls."""
    env = TbEnv(dut, "stall_every_stage")
    await env.start()
    hp = env.hp
    n = (4 if env.vectors >= 64 else 2) * hp.latency
    L = random_layer(hp, env.rng, batch=n, k=hp.rows, c=hp.cols,
                     per_channel=hp.per_channel, name="full pipeline")
    await env.run(schedule(hp, [L.fold(hp)]), path="cycle", backpressure=0.5,
                  label="stalls")
    # k-tiles: the beat waiting at the input reads another weight tile than the stalled
    # one, so a memory read port that does not hold during a stall shows
    kt = min(hp.weight_tiles, 3)
    if kt > 1:
        L = random_layer(hp, env.rng, batch=max(2, n // kt), k=kt * hp.rows, c=hp.cols,
                         per_channel=hp.per_channel, name="k-tiles under stalls")
        await env.run(schedule(hp, [L.fold(hp)]), path="cycle", backpressure=0.5,
                      label="k-tile stalls")
    env.finish()


#: docs/design.md: "after reset the requantizer is the identity (M0 = 2^30, SHIFT = 1)
#: clamped to the output range"; bias, y_zp and the sticky flags reset to 0
RESET_M0, RESET_SHIFT = 1 << 30, 1


def without_parameter_loads(prog):
    """``prog`` with every load to a region other than WEIGHTS removed (bias, m0, shift,
    scalars, the sticky clear): it runs on whatever the registers hold."""
    from constraints.loadmap import REGION_BITS
    from tb.schedule import KIND_BITS, KIND_LOAD, REGION_WEIGHTS, CommandStream, field_values
    s, hp = prog.stream, prog.hp
    region = field_values(s.bits, KIND_BITS + hp.index_bits, REGION_BITS)[:, 0]
    keep = (s.kind != KIND_LOAD) | (region == REGION_WEIGHTS)
    assert not keep.all()
    return dataclasses.replace(prog, stream=CommandStream(hp, s.kind[keep], s.bits[keep]))


def small_layer(env, name, **params):
    """A random one-tile layer with small operands (|acc| well inside the output range, so
    the identity requantizer shows every offset); ``params`` replace the folded ones."""
    import numpy as np
    hp, rng = env.hp, env.rng
    (xlo, xhi), (wlo, whi) = hp.x_range, hp.w_range
    k = 2 * hp.rows
    x = rng.integers(max(xlo, -1), min(xhi, 1) + 1, size=(4, k))
    w = rng.integers(max(wlo, -3), min(whi, 3) + 1, size=(hp.cols, k))
    L = random_layer(hp, rng, batch=4, k=k, c=hp.cols, per_channel=hp.per_channel,
                     name=name).fold(hp)
    return dataclasses.replace(L, x=x.astype(np.int64), w=w.astype(np.int64), **params)


def reset_value_layer(env, name):
    """A small layer whose parameters are the documented reset values."""
    import numpy as np
    hp = env.hp
    olo, ohi = hp.out_range
    return small_layer(env, name, bias=np.zeros(hp.cols, np.int64),
                       m0=np.full(hp.cols, RESET_M0, np.int64),
                       shift=np.full(hp.cols, RESET_SHIFT, np.int64),
                       y_zp=0, act_min=olo, act_max=ohi)


def extreme_reset_value_layer(env, name):
    """Reset-value parameters, operands at their limits: ``x = x_max``, weights alternating
    ``w_max`` / ``w_min`` by column, so the outputs saturate at both ends of the range."""
    import numpy as np
    hp = env.hp
    (_, xhi), (wlo, whi) = hp.x_range, hp.w_range
    L = reset_value_layer(env, name)
    k = L.x.shape[1]
    w = np.where(np.arange(hp.cols)[:, None] % 2 == 0, whi, wlo) * np.ones((1, k), np.int64)
    return dataclasses.replace(L, x=np.full((2, k), xhi, np.int64), w=w.astype(np.int64))


def non_reset_layer(env, name):
    """A small layer whose every parameter differs from its reset value in every lane."""
    import numpy as np
    hp, rng = env.hp, env.rng
    olo, ohi = hp.out_range
    m0 = rng.integers((1 << 30) + 1, 1 << 31, size=hp.cols)
    shift = rng.choice([-3, -2, -1, 0, 2, 3], size=hp.cols)
    if not hp.per_channel:
        m0[:], shift[:] = m0[0], shift[0]
    return small_layer(env, name, bias=rng.integers(1, 64, size=hp.cols) * rng.choice([-1, 1]),
                       m0=m0.astype(np.int64), shift=shift.astype(np.int64),
                       y_zp=ohi, act_min=olo + 1, act_max=ohi - 1)


@cocotb.test()
async def reset_restores_defaults(dut):
    """A second reset after a layer whose every parameter is off its reset value (bias, m0,
    shift in every lane, y_zp, act_min, act_max) puts each parameter register back to its
    documented reset value: a layer of small operands that loads only weights then runs with
    bias 0, the identity requantizer, y_zp 0, the full output range and clear sticky flags
    (each lane, bit-exact)."""
    await restores_defaults(TbEnv(dut, "reset_restores_defaults"))


async def restores_defaults(env, trim=None):
    """A layer with every parameter off its reset value (``trim``: the crossbar's ADC trims
    too), a second reset, then layers that load only weights must run on the reset values."""
    await env.start()
    hp = env.hp
    await env.run(schedule(hp, [non_reset_layer(env, "before reset")], trim=trim),
                  path="fast", label="parameters off their reset values")
    await env.start()
    prog = without_parameter_loads(schedule(hp, [reset_value_layer(env, "after reset"),
                                                 extreme_reset_value_layer(env, "extremes")]))
    await env.run(prog, path="fast", label="reset values")
    env.finish()


@cocotb.test()
@cocotb.parametrize(stalled=[False, True])
async def reset_mid_flight(dut, stalled):
    """A one-cycle reset (synchronous: it acts in one edge) when the first result of a
    back-to-back stream reaches ``o_data``, so a beat is in every pipeline stage; with
    ``stalled``, ``o_data.ready`` is low from the start, so the result is held, every stage
    holds its beat (the global stall: no register is enabled) in the reset cycle. After it
    no beat of the interrupted stream may come out (``o_data.valid`` low, ``o_ovf_sticky``
    clear and ``i_load.ready`` high for ``LATENCY + 8`` cycles, checked every cycle from the
    first one after the reset edge); then a fresh layer runs bit-exact."""
    from cocotb.triggers import ReadOnly, RisingEdge

    from tb.env import PERIOD_NS
    from tb.streams import Driver
    env = TbEnv(dut, f"reset_mid_flight{'_stalled' if stalled else ''}")
    await env.start()
    hp = env.hp
    dut.o_data__ready.value = 0 if stalled else 1
    drv = Driver(dut, hp, period_ns=PERIOD_NS)
    # one-beat rows back to back: when the first result reaches o_data, every stage holds one
    rows = random_layer(hp, env.rng, batch=2 * hp.latency + 4, k=hp.rows, c=hp.cols,
                        per_channel=hp.per_channel, name="interrupted").fold(hp)
    task = cocotb.start_soon(drv.run(schedule(hp, [rows]).stream))
    for _ in range(100 * hp.latency + 1000):
        await RisingEdge(dut.clk)
        await ReadOnly()
        if int(dut.o_data__valid.value):
            break
    assert int(dut.o_data__valid.value), "no result reached o_data before the reset"
    await RisingEdge(dut.clk)
    task.cancel()
    env._idle_inputs()
    dut.o_data__ready.value = 0 if stalled else 1
    dut.rst.value = 1                          # a synchronous reset acts in one edge
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    dut.o_data__ready.value = 1
    for cycle in range(hp.latency + 8):
        await ReadOnly()
        bad = {name: int(getattr(dut, name).value) for name, want in
               (("o_data__valid", 0), ("o_ovf_sticky", 0), ("i_load__ready", 1))
               if int(getattr(dut, name).value) != want}
        assert not bad, f"cycle {cycle} after the reset: {bad}"
        await RisingEdge(dut.clk)
    await env.run(schedule(hp, [non_reset_layer(env, "after reset")]), path="fast",
                  label="after the reset")
    env.finish()


@cocotb.test()
async def stall_after_every_accept(dut):
    """k-tile beats (each reads another weight tile) with ``o_data.ready`` low exactly in
    the cycle after each accepted data beat (:class:`tb.streams.DirectedStalls`,
    ``after_accept``): whenever a result is on ``o_data`` then, the global stall holds the
    beat just accepted between the weight memories' registered read and the products while
    the next beat, from another tile, waits on ``i_data`` — a read register that does not
    hold during the stall reads the waiting beat's tile."""
    from tb.streams import DirectedStalls
    env = TbEnv(dut, "stall_after_every_accept")
    await env.start()
    hp = env.hp
    kt = min(hp.weight_tiles, 3)
    L = random_layer(hp, env.rng, batch=2 * hp.latency, k=kt * hp.rows, c=hp.cols,
                     per_channel=hp.per_channel, name="k-tiles, stall after each accept")
    stalls = DirectedStalls(dut, "after_accept")
    watch = cocotb.start_soon(stalls.watch())
    await env.run(schedule(hp, [L.fold(hp)]), path="cycle", backpressure=0.5,
                  stall_pattern=stalls, label="stall after each accept")
    watch.cancel()
    env.finish()
