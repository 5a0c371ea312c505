"""Amaranth-simulator tests of the crossbar hardware against golden/crossbar.py, with the
behavioural crossbar + ADC of tb/crossbar_model.py answering the DUT's ports."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from constraints import SCALAR_INDEX, encode_load
from golden.crossbar import (CrossbarNoise, CrossbarSpec, adc_offsets_lsb, input_phases,
                             lossless_adc_bits)
from hw.adc_interface import AdcInterface
from hw.crossbar_datapath import CrossbarDatapath
from hw.crossbar_engine import CrossbarEngine
from hw.dac_driver import DacDriver
from tb.crossbar_model import ProtocolError, unpack

from .harness import commands_for, expected, make_top, random_layer, run, spec_of
from .seeding import make_rng


def check(top, L, *, noise=None, **kw):
    r = run(top, commands_for(top, L), n_out=L.x.shape[0], noise=noise, **kw)
    y, ovf = expected(top, L, noise)
    assert r.y.tolist() == y.tolist()
    assert r.ovf.tolist() == ovf.tolist()
    return r


# --------------------------------------------------------------------------- bit-exactness
ENC = list(itertools.product(["differential", "offset"], ["twos_complement", "offset"]))


@pytest.mark.parametrize("w_enc,x_enc", ENC)
@pytest.mark.parametrize("x_signed,w_signed", [(True, True), (False, True), (True, False)])
def test_ideal_lossless_equals_mac_path(w_enc, x_enc, x_signed, w_signed):
    """Ideal crossbar + lossless ADC: hardware == golden crossbar == MAC path (K > R)."""
    top = make_top(weight_encoding=w_enc, input_encoding=x_enc, input_signed=x_signed,
                   weight_signed=w_signed)
    rng = make_rng(w_enc, x_enc, x_signed, w_signed)
    L = random_layer(top, rng, batch=3, k=10)
    r = check(top, L)
    y_mac, ovf_mac = expected(top, L, mac_path=True)
    assert r.y.tolist() == y_mac.tolist() and r.ovf.tolist() == ovf_mac.tolist()


@pytest.mark.parametrize("params", [
    dict(cell_bits=8, dac_bits=8, input_encoding="offset", cols_per_adc=4, rows=3),  # SIDRA-like
    dict(cell_bits=2, dac_bits=1, weight_encoding="offset", cols_per_adc=8, rows=5),  # ISAAC-like
    dict(cell_bits=1, dac_bits=3, cols_per_adc=1, rows=2, cols=1),
    dict(bits=4, cell_bits=4, dac_bits=4, rows=7, cols=3, cols_per_adc=3),
    dict(bits=6, input_signed=False, weight_signed=False, cell_bits=4, dac_bits=5, rows=4),
    dict(per_channel=False, overflow="saturate", acc_bits=20, rounding="single"),
])
def test_lossless_variants(params):
    top = make_top(**params)
    assert spec_of(top).lossless
    rng = make_rng(7)
    L = random_layer(top, rng, batch=2, k=2 * top.rows + 1)
    r = check(top, L)
    y_mac, _ = expected(top, L, mac_path=True)
    assert r.y.tolist() == y_mac.tolist()


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_overflow_flags_and_sticky_follow_o_data(overflow):
    """Accumulator overflow on some lanes of some vectors: the ``ovf`` flags ride with their
    ``o_data`` beat and ``o_ovf_sticky`` rises exactly when that beat is presented (checked
    every cycle by the harness), and a clear load in the middle of the run resets it."""
    top = make_top(acc_bits=16, overflow=overflow, cols=3, cols_per_adc=3)
    rng = make_rng(overflow)
    L = random_layer(top, rng, batch=6, k=2 * top.rows + 1)
    lim = (1 << 15) - 1
    L.bias[:] = [lim - 200, -lim + 200, 0]       # lanes overflow on some vectors
    cmds = commands_for(top, L)
    first_data = next(i for i, c in enumerate(cmds) if c[0] == "data")
    chunks = -(-L.x.shape[1] // top.rows)
    clear = ("load", encode_load("SCALARS", SCALAR_INDEX["clear_sticky"], top.INDEX_BITS), 0)
    mid = first_data + 3 * chunks                  # after the third vector's beats
    cmds = cmds[:mid] + [clear] + cmds[mid:]
    r = run(top, cmds, n_out=L.x.shape[0])
    y, ovf = expected(top, L)
    assert r.y.tolist() == y.tolist() and r.ovf.tolist() == ovf.tolist()
    assert ovf[:3].any() and ovf[3:].any() and not ovf.all()   # flags both ways


@pytest.mark.parametrize("w_enc,x_enc", ENC)
def test_lossy_adc_with_trims_and_jitter(w_enc, x_enc):
    """Lossy ADC (coarse LSB, clipping), per-column LSBs and trims, variable conversion
    latency: hardware == golden bit for bit."""
    rows, cp = 8, 2 * 2 * (2 if w_enc == "differential" else 1)
    lossless = lossless_adc_bits(rows, 4, 4)
    # mixed per-column LSBs: auto and up to two steps finer (large sums clip)
    shifts = [max(0, lossless - 5 - (j % 3)) for j in range(cp)]
    top = make_top(rows=rows, weight_encoding=w_enc, input_encoding=x_enc, cell_bits=4,
                   dac_bits=4, adc_bits=5, cols_per_adc=2, adc_shift=shifts)
    assert not spec_of(top).lossless and len(set(top.adc_shift)) == 3
    rng = make_rng(3)
    L = random_layer(top, rng, batch=3, k=2 * rows, trim_span=3)
    check(top, L, jitter=3)


def test_six_bit_adc_on_64_rows():
    """The issue's example: a 6-bit ADC on 64 rows (lossless would be 10 bits)."""
    top = make_top(rows=64, cols=1, cell_bits=2, dac_bits=2, adc_bits=6, cols_per_adc=4,
                   weight_tiles=1)
    assert spec_of(top).lossless_adc_bits == 10
    rng = make_rng(64)
    L = random_layer(top, rng, batch=3, k=64)
    check(top, L)


def test_noise_hardware_equals_golden():
    """Programming noise, read noise and ADC offsets (seeded) with trims: still bit-exact."""
    top = make_top(rows=6, cell_bits=4, dac_bits=4, input_encoding="offset", adc_bits=7)
    noise = CrossbarNoise(program_sigma=0.02, read_sigma=0.01, adc_offset_sigma=0.7, seed=5)
    rng = make_rng(9)
    L = random_layer(top, rng, batch=3, k=12)
    L.trim = np.rint(adc_offsets_lsb(spec_of(top), noise)).astype(np.int64)
    r = check(top, L, noise=noise)
    assert r.macro.phases_evaluated == 3 * 2 * top.PHASES


def test_backpressure():
    top = make_top()
    rng = make_rng(4)
    L = random_layer(top, rng, batch=5, k=9)
    check(top, L, stall=0.6, seed=2)


# --------------------------------------------------------------------------- timing
@pytest.mark.parametrize("params,lat", [
    (dict(), 2),
    (dict(dac_settle_cycles=0, cols_per_adc=1, adc_latency=1), 1),
    (dict(dac_settle_cycles=5, cols_per_adc=4, dac_bits=8, cell_bits=8,
          input_encoding="offset", adc_latency=7), 7),
])
def test_throughput_and_latency_formulas(params, lat):
    top = make_top(**params)
    rng = make_rng(1)
    L = random_layer(top, rng, batch=4, k=top.rows)          # one beat per output
    r = check(top, L, adc_latency=lat)
    gaps = np.diff(r.accept_cycles)
    expect_cpv = CrossbarEngine.cycles_per_vector_for(
        phases=top.PHASES, cols_per_adc=top.cols_per_adc, adc_latency=lat,
        dac_settle_cycles=top.dac_settle_cycles)
    assert set(gaps.tolist()) == {expect_cpv}
    lats = [o - a for a, o in zip(r.accept_cycles, r.out_cycles)]
    assert set(lats) == {CrossbarDatapath.latency_for(
        phases=top.PHASES, cols_per_adc=top.cols_per_adc, adc_latency=lat,
        dac_settle_cycles=top.dac_settle_cycles)}
    if lat == top.adc_latency:
        assert set(lats) == {top.LATENCY} and set(gaps.tolist()) == {top.CYCLES_PER_VECTOR}
    # conversion steps are back to back: next start one cycle after the last done
    conv = r.responder.conversions
    for a, b in zip(conv, conv[1:]):
        if b.sel:
            assert b.start_cycle == max(a.done_cycles) + 1


def test_settle_time_is_respected():
    top = make_top(dac_settle_cycles=6)
    rng = make_rng(2)
    L = random_layer(top, rng, batch=1, k=4)
    r = check(top, L)                  # the responder raises on a violation
    assert len(r.responder.phase_starts) == top.PHASES


# --------------------------------------------------------------------------- faults
def test_injected_fault_is_caught():
    top = make_top(inject_fault="crossbar_lsb_off_by_one")
    rng = make_rng(5)
    L = random_layer(top, rng, batch=16, k=8)
    r = run(top, commands_for(top, L), n_out=16)
    y, _ = expected(top, L)
    assert r.y.tolist() != y.tolist()


def test_responder_detects_protocol_violations():
    """The behavioural ADC refuses what the protocol forbids (so passing runs mean the DUT
    respected it)."""
    from tb.crossbar_model import AdcResponder, CrossbarMacro

    sp = CrossbarSpec(bits=4, input_signed=True, weight_signed=True, rows=2, cols=1,
                      cell_bits=2, weight_encoding="differential", dac_bits=2,
                      input_encoding="twos_complement", adc_bits=4, cols_per_adc=2)

    def responder():
        return AdcResponder(CrossbarMacro(sp), adc_latency=3, dac_settle_cycles=2)

    idle = dict(adc_start=0, adc_sel=0, dac_codes=5, dac_tile=0, dac_valid=1)
    r = responder()
    r.sample(**idle)
    with pytest.raises(ProtocolError, match=r"adc_start 1 cycles after dac_codes changed; "
                                            r"allowed: >= 3"):
        r.sample(**{**idle, "adc_start": 1})
    r = responder()
    for _ in range(3):
        r.outputs()
        r.sample(**idle)
    r.outputs()
    r.sample(**{**idle, "adc_start": 1})
    r.outputs()
    with pytest.raises(ProtocolError, match=r"adc_start while 2 conversions are pending"):
        r.sample(**{**idle, "adc_start": 1})
    r = responder()
    for _ in range(3):
        r.sample(**idle)
    r.sample(**{**idle, "adc_start": 1})
    with pytest.raises(ProtocolError, match=r"dac_codes changed while a conversion"):
        r.sample(**{**idle, "dac_codes": 6})
    r = responder()
    for _ in range(3):
        r.sample(**idle)
    with pytest.raises(ProtocolError, match=r"adc_sel=1 without a preceding adc_sel=0"):
        r.sample(**{**idle, "adc_start": 1, "adc_sel": 1})
    with pytest.raises(ProtocolError, match=r"adc_start with dac_valid low"):
        responder().sample(**{**idle, "adc_start": 1, "dac_valid": 0})


# --------------------------------------------------------------------------- components
def _simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("x_enc", ["twos_complement", "offset"])
@pytest.mark.parametrize("v", [1, 3, 8])
def test_dac_driver_phases(x_enc, v):
    rows, bits, settle = 3, 8, 2
    dut = DacDriver(rows=rows, bits=bits, input_signed=True, dac_bits=v, input_encoding=x_enc,
                    dac_settle_cycles=settle, tile_bits=2, tag_bits=4)
    sp = CrossbarSpec(bits=bits, input_signed=True, weight_signed=True, rows=rows, cols=1,
                      cell_bits=1, weight_encoding="offset", dac_bits=v, input_encoding=x_enc,
                      adc_bits=12)
    assert dut.PHASES == sp.phases
    xs = np.array([-128, 127, -37])
    expect = input_phases(xs, sp)

    async def bench(ctx):
        word = sum((int(x) & 0xFF) << (8 * r) for r, x in enumerate(xs))
        ctx.set(dut.i_vec.valid, 1)
        ctx.set(dut.i_vec.payload.x, word)
        ctx.set(dut.i_vec.payload.tile, 2)
        ctx.set(dut.i_vec.payload.tag, 9)
        assert ctx.get(dut.i_vec.ready)
        await ctx.tick()
        ctx.set(dut.i_vec.valid, 0)
        seen = []
        changed = 0
        ctx.set(dut.o_phase.ready, 1)
        for cycle in range(200):
            if ctx.get(dut.o_phase.valid):
                assert cycle - changed == settle
                codes = unpack(ctx.get(dut.dac_codes), v, rows)
                seen.append(codes.tolist())
                assert ctx.get(dut.dac_tile) == 2 and ctx.get(dut.o_phase.payload.tag) == 9
                assert ctx.get(dut.o_phase.payload.phase) == len(seen) - 1
                last = ctx.get(dut.o_phase.payload.last)
                assert last == (len(seen) == sp.phases)
                await ctx.tick()
                changed = cycle + 1
                if last:
                    break
            else:
                assert ctx.get(dut.dac_valid)
                await ctx.tick()
        assert not ctx.get(dut.dac_valid) and ctx.get(dut.i_vec.ready)
        assert seen == expect.tolist()

    _simulate(dut, bench)


def test_adc_interface_mux_trim_and_variable_latency():
    cp, m, B = 6, 3, 5
    dut = AdcInterface(phys_cols=cp, cols_per_adc=m, adc_bits=B, tag_bits=3)
    raw = np.array([3, 31, 0, 17, 8, 1])
    trims = np.array([0, -16, 15, 2, -1, 0])
    latencies = [[1, 4], [3, 2], [2, 2]]            # per step, per ADC

    async def bench(ctx):
        for j, t in enumerate(trims):
            ctx.set(dut.trim_we, 1)
            ctx.set(dut.trim_addr, j)
            ctx.set(dut.trim_data, int(t))
            await ctx.tick()
        ctx.set(dut.trim_we, 0)
        ctx.set(dut.i_scan.valid, 1)
        ctx.set(dut.i_scan.payload, 5)
        ctx.set(dut.o_codes.ready, 0)
        pending, cycle, starts, accepted = {}, 0, [], None
        while True:
            done = code = 0
            for a, (due, val) in list(pending.items()):
                if due == cycle:
                    done |= 1 << a
                    code |= val << (a * B)
                    del pending[a]
            ctx.set(dut.adc_done, done)
            ctx.set(dut.adc_code, code)
            if ctx.get(dut.i_scan.ready):
                accepted = cycle
            if ctx.get(dut.adc_start):
                sel = ctx.get(dut.adc_sel)
                starts.append((cycle, sel))
                for a in range(cp // m):
                    pending[a] = (cycle + latencies[sel][a], int(raw[a * m + sel]))
            await ctx.tick()
            cycle += 1
            if accepted is not None:
                break
        ctx.set(dut.i_scan.valid, 0)
        assert [s for _, s in starts] == [0, 1, 2]
        assert starts[1][0] == starts[0][0] + 4 + 1 and starts[2][0] == starts[1][0] + 3 + 1
        assert accepted == starts[2][0] + 2
        assert ctx.get(dut.o_codes.valid) and ctx.get(dut.o_codes.payload.tag) == 5
        codes = [ctx.get(dut.o_codes.payload.code[j]) for j in range(cp)]
        assert codes == (raw - trims).tolist()
        assert not ctx.get(dut.busy)

    _simulate(dut, bench)


@pytest.mark.parametrize("kw,msg", [
    (dict(cols_per_adc=5), r"CrossbarEngine: cols_per_adc=5 is out of range; allowed: a "
                           r"divisor of the 12 physical columns"),
    (dict(cell_bits=9), r"CrossbarDatapath: cell_bits=9 is out of range; allowed: \[1, 8\]"),
    (dict(adc_shift=99), r"CrossbarEngine: adc_shift=99 is out of range; allowed: \[0, 4\]"),
    (dict(adc_shift=[0, 0]), r"CrossbarEngine: adc_shift=\(0, 0\) is out of range; allowed: an "
                             r"int or 12 ints"),
    (dict(weight_encoding="flip"), r"CrossbarDatapath: weight_encoding='flip' is out of range; "
                                   r"allowed: 'differential', 'offset'"),
    (dict(rows=0), r"CrossbarDatapath: rows=0 is out of range; allowed: \[1, 256\]"),
    (dict(inject_fault="nope"), r"CrossbarDatapath: inject_fault='nope' is out of range"),
    (dict(adc_latency=0), r"CrossbarDatapath: adc_latency=0 is out of range; allowed: "
                          r"\[1, 1024\]"),
])
def test_construction_errors(kw, msg):
    base = dict(adc_bits=8, adc_shift=0)
    base.update(kw)
    with pytest.raises(ValueError, match=msg):
        make_top(**base)


def test_out_of_range_tile_uses_tile_zero():
    """As Datapath: a data beat with tile ≥ T computes with tile 0."""
    top = make_top(weight_tiles=3)
    rng = make_rng(8)
    L = random_layer(top, rng, batch=2, k=top.rows)
    cmds = commands_for(top, L)
    cmds = [c if c[0] == "load" else (c[0], c[1], 3, c[3], c[4]) for c in cmds]
    r = run(top, cmds, n_out=2)
    y, _ = expected(top, L)
    assert r.y.tolist() == y.tolist()
    assert {c.tile for c in r.responder.conversions} == {0}
