"""hw/crossbar_datapath.py (with hw/crossbar_engine.py) under the Amaranth simulator against
golden/crossbar.py, with the behavioural crossbar + ADC of tb/crossbar_model.py answering the
DUT's ports. The components alone: tests/hw/test_dac_driver.py, tests/hw/test_adc_interface.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from constraints import SCALAR_INDEX, encode_load
from golden.crossbar import CrossbarNoise, adc_offsets_lsb, lossless_adc_bits
from hw.crossbar_datapath import CrossbarDatapath
from hw.crossbar_engine import CrossbarEngine
from tests.helpers.crossbar_harness import (commands_for, expected, make_top, random_layer, run,
                                            spec_of)
from tests.helpers.seeding import make_rng


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


# --------------------------------------------------------------------------- mixed widths
@pytest.mark.parametrize("params", [
    # W4A8, both offset encodings: G = 2^3 and A = 2^7 corrections with different widths
    dict(input_bits=8, weight_bits=4, cell_bits=2, dac_bits=2, weight_encoding="offset",
         input_encoding="offset", rows=5),
    # W8A4, differential weights over three 3-bit cells, two's-complement inputs (sign phase)
    dict(input_bits=4, weight_bits=8, cell_bits=3, dac_bits=2, rows=3, out_bits=4),
    # W2A8, unsigned inputs, a 4-bit DAC (two phases)
    dict(input_bits=8, weight_bits=2, input_signed=False, cell_bits=2, dac_bits=4, rows=4),
])
def test_mixed_widths_lossless_equals_mac_path(params):
    """Separate widths: DAC phases from input_bits, cell slices from weight_bits; the
    hardware equals the golden crossbar and the exact MAC path on every output."""
    top = make_top(**params)
    assert (top.input_bits, top.weight_bits) == (params["input_bits"], params["weight_bits"])
    assert top.SLICES == -(-params["weight_bits"] // params["cell_bits"])
    assert spec_of(top).lossless
    rng = make_rng("mixed", *sorted(params.items()))
    L = random_layer(top, rng, batch=3, k=2 * top.rows + 1)
    r = check(top, L)
    y_mac, ovf_mac = expected(top, L, mac_path=True)
    assert r.y.tolist() == y_mac.tolist() and r.ovf.tolist() == ovf_mac.tolist()
