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
* ``reset_restores_defaults`` — a second reset after a layer with every parameter (trims,
  bias, m0, shift, y_zp, act_min, act_max) off its reset value: a layer that loads only
  weights then runs on the reset values, bit-exact.
* ``reset_mid_flight`` — a one-cycle (system) reset as a mid-phase ADC conversion ends with
  results in the back end, with ``o_data`` stalled and the engine backed up, or with an
  ``o_prog`` beat waiting: nothing of the interrupted stream comes out, the macro ports stay
  idle, then a fresh layer runs bit-exact.
* ``overflow_under_stalls`` — beats whose ``ovf`` alternates in every lane under a directed
  stall pattern that keeps the back end full (every stage next to the following beat in
  each stall); ``o_ovf_sticky`` checked every cycle.
* ``reset_restores_trims`` — a second reset after trims off 0, then a layer whose psums are 0
  at trim 0: a trim the reset did not clear moves an output off 0 (visible on a lossy ADC).
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


def _nonzero_trim(hp, rng):
    """Random trims, none of them 0 (the reset value): every column's trim is visible."""
    import numpy as np
    lo, hi = hp.trim_range
    t = rng.integers(1, min(4, hi) + 1, size=hp.phys_cols) * rng.choice([-1, 1], hp.phys_cols)
    return np.clip(t, lo, hi).astype(np.int64)


@cocotb.test()
async def reset_restores_defaults(dut):
    """Crossbar: after a layer whose every parameter — each column's ADC trim, each lane's
    bias, m0, shift, and y_zp, act_min, act_max — is off its reset value, a second reset
    restores the reset values: a layer that loads only weights then runs with trims 0, bias
    0, the identity requantizer, y_zp 0 and the full output range (bit-exact, every lane)."""
    from tb.cocotb_protocol import restores_defaults
    env = TbEnv(dut, "reset_restores_defaults")
    await restores_defaults(env, trim=_nonzero_trim(env.hp, env.rng))


async def _reset_point(env, limit, point):
    """Wait (at most ``limit`` cycles) until the reset must be asserted; True if reached.

    ``done``: a result is on ``o_data`` and the DAC is in a middle phase of a vector,
    in the cycle whose ``adc_done`` ends conversion ``sel = m // 2`` of phase ``P // 2``
    (starts counted from the first vector, ``P·m`` per vector; the ADC latency is fixed):
    the interface would start the next conversion at the reset edge. ``stalled``
    (``o_data.ready`` low throughout): a result is held on ``o_data`` and the engine has
    backed up behind it (no ``adc_start`` for ``cycles_per_vector`` cycles), so the back
    end and the ``o_psum`` register hold beats. ``prog`` (``o_prog.ready`` low
    throughout): an ``o_prog`` beat is waiting."""
    from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
    dut, hp = env.dut, env.hp
    m, P = hp.xb.cols_per_adc, hp.phases
    starts, seen_out, quiet = 0, False, 0
    for _ in range(limit):
        await RisingEdge(dut.clk)
        await ReadOnly()
        seen_out = seen_out or bool(int(dut.o_data__valid.value))
        start = int(dut.adc_start.value)
        if point == "prog":
            hit = bool(int(dut.o_prog__valid.value))
        elif point == "stalled":
            quiet = 0 if start or not seen_out else quiet + 1
            hit = quiet > hp.cycles_per_vector()
        else:
            hit = start and seen_out and (starts // m) % P == P // 2 and starts % m == m // 2
            starts += start
        if hit:
            # conversion: the ADCs answer env.xbar.adc_latency cycles after the start cycle
            await ClockCycles(dut.clk, env.xbar.adc_latency if point == "done" else 1)
            return True
    return False


@cocotb.test()
@cocotb.parametrize(point=["done", "stalled", "prog"])
async def reset_mid_flight(dut, point):
    """A one-cycle system reset (the DUT's synchronous ``rst`` and the macro's ADCs) while
    a stream of vectors is in flight (:func:`_reset_point`): as a mid-phase conversion ends
    with results in the back end; with ``o_data`` stalled from the start, a result held and
    the engine backed up behind it; or with an ``o_prog`` beat waiting. From the first cycle
    after the reset edge, for ``LATENCY + 8`` cycles, every cycle: no ``o_data.valid``,
    ``o_ovf_sticky`` clear, ``i_load.ready`` high, and the macro ports idle (``dac_valid``,
    ``adc_start``, ``o_prog.valid`` low); then a fresh layer with its own trims runs
    bit-exact."""
    from cocotb.triggers import ReadOnly, RisingEdge

    from tb.cocotb_protocol import non_reset_layer
    from tb.env import PERIOD_NS
    from tb.streams import Driver
    env = TbEnv(dut, f"reset_mid_flight_{point}")
    await env.start()
    hp = env.hp
    dut.o_data__ready.value = 0 if point == "stalled" else 1
    env.xbar.set_prog_stall(1.0 if point == "prog" else 0.0)
    rows = random_layer(hp, env.rng, batch=6, k=hp.rows, c=hp.cols,
                        per_channel=hp.per_channel, name="interrupted").fold(hp)
    task = cocotb.start_soon(Driver(dut, hp, period_ns=PERIOD_NS).run(
        schedule(hp, [rows], trim=_nonzero_trim(hp, env.rng)).stream))
    limit = 8 * hp.latency + 8 * hp.cycles_per_vector() + 1000
    hit = await _reset_point(env, limit, point)
    task.cancel()
    assert hit, f"the reset point ({point}) was not reached within {limit} cycles"
    env._idle_inputs()
    dut.o_data__ready.value = 0 if point == "stalled" else 1
    dut.o_prog__ready.value = 0 if point == "prog" else 1     # the beat stays stalled
    dut.rst.value = 1                          # a synchronous reset acts in one edge
    await RisingEdge(dut.clk)
    env.xbar.reset()
    env.xbar.set_prog_stall(0.0)
    dut.rst.value = 0
    dut.o_data__ready.value = 1
    idle = (("o_data__valid", 0), ("o_ovf_sticky", 0), ("i_load__ready", 1),
            ("dac_valid", 0), ("adc_start", 0), ("o_prog__valid", 0))
    for cycle in range(hp.latency + 8):
        await ReadOnly()
        bad = {name: int(getattr(dut, name).value) for name, want in idle
               if int(getattr(dut, name).value) != want}
        assert not bad, f"cycle {cycle} after the reset: {bad}"
        await RisingEdge(dut.clk)
    await env.run(schedule(hp, [non_reset_layer(env, "after reset")],
                           trim=_nonzero_trim(hp, env.rng)), path="fast",
                  label="after the reset")
    env.finish()


@cocotb.test()
async def overflow_under_stalls(dut):
    """Crossbar counterpart of the accumulator's ``overflow_under_stalls``: one-k-tile beats
    whose ``ovf`` alternates in every lane (the accumulator limit between two beats' psums,
    :func:`tb.xbar_cases.alternating_overflow_layer`), under a directed ``o_data`` stall
    pattern (:class:`tb.streams.DirectedStalls` ``"full"``: ``ready`` for one cycle only
    after ``cycles_per_vector + 8`` cycles without an accepted vector, i.e. the engine is
    backed up and its ``o_psum`` register full), so once the back end has filled, the bank
    holds beat i while ``o_psum`` holds beat i+1 and every requantizer stage holds a beat
    next to the following one. Each beat's ``ovf`` and ``y`` are checked, and
    ``o_ovf_sticky`` every cycle against the OR of the beats shown so far."""
    from tb.xbar_cases import alternating_overflow_layer
    env = TbEnv(dut, "overflow_under_stalls")
    await env.start()
    hp = env.hp
    trim = calibrated_trim(hp)
    beats = 2 * (hp.latency - hp.cycles_per_vector()) + 8     # two passes of the back end
    prog = schedule(hp, [alternating_overflow_layer(hp, env.model, beats, trim=trim)],
                    trim=trim)
    from tb.streams import DirectedStalls
    quiet = hp.cycles_per_vector(env.xbar.max_latency) + 8
    stalls = DirectedStalls(dut, "full", quiet=quiet)
    watch = cocotb.start_soon(stalls.watch())
    await env.run(prog, path="cycle", backpressure=0.95, stall_pattern=stalls,
                  label=f"back end kept full (release after {quiet} quiet cycles)")
    watch.cancel()
    from tb.checker import sticky_errors
    errs = sticky_errors(stalls.trace, env.model.expected(prog).ovf)
    if errs:
        env.log.error("o_ovf_sticky:\n  %s", "\n  ".join(errs[:5]))
        env.failures.append(f"o_ovf_sticky wrong in {len(errs)} cycle(s): {errs[0]}")
    env.finish()


def zero_sum_layer(env, name):
    """Reset-value parameters (bias 0, identity requantizer, y_zp 0, full range) and one
    k-tile whose every partial sum is 0 on an exact tile: weights ±1 alternating by row
    (Σ_r w' = 0), inputs ``x_min`` (offset inputs: DAC code 0, every column current 0) and
    0 (two's complement: no digit driven). With trims 0 each output is 0 — inside the
    output range, so a trim that stayed off 0 (``±2^k`` per unit) changes it."""
    import dataclasses

    import numpy as np

    from tb.cocotb_protocol import reset_value_layer
    hp = env.hp
    (xlo, xhi), (wlo, whi), R = hp.x_range, hp.w_range, hp.rows
    w = np.clip(np.where(np.arange(R) % 2 == 0, 1, -1), wlo, whi)
    x = np.stack([np.full(R, xlo), np.full(R, min(max(0, xlo), xhi))])
    return dataclasses.replace(reset_value_layer(env, name), x=x.astype(np.int64),
                               w=np.tile(w, (hp.cols, 1)).astype(np.int64))


@cocotb.test()
async def reset_restores_trims(dut):
    """A second reset puts every physical column's ADC trim back to 0: a layer with trims
    off 0 (each column, random sign), reset, then :func:`zero_sum_layer` without any
    parameter or trim load. ``reset_restores_defaults`` cannot show a trim on a lossy ADC:
    its small operands still give psums of a few LSB (2^11 on sidra_y1), which the identity
    requantizer saturates, so a stale trim of the sign that pushes further out is invisible
    there. Here every lane's expected output is strictly inside the output range (checked;
    with ADC-offset noise, uncalibrated after the reset, on at least one lane)."""
    import numpy as np

    from tb.cocotb_protocol import non_reset_layer, without_parameter_loads
    env = TbEnv(dut, "reset_restores_trims")
    await env.start()
    hp = env.hp
    await env.run(schedule(hp, [non_reset_layer(env, "trims off 0")],
                           trim=_nonzero_trim(hp, env.rng)), path="fast", label="trims off 0")
    await env.start()
    prog = without_parameter_loads(schedule(hp, [zero_sum_layer(env, "trims at reset")]))
    y = env.model.expected(prog).y
    olo, ohi = hp.out_range
    inner = ((y > olo) & (y < ohi)).any(axis=0)
    need = inner.any() if hp.xb_noise().adc_offset_sigma else inner.all()
    assert need, f"lanes {np.flatnonzero(~inner).tolist()} saturate: a stale trim may not show"
    await env.run(prog, path="fast", label="reset trims")
    env.finish()
