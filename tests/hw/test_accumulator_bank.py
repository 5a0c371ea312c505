# amaranth: UnusedElaboratable=no
"""hw.accumulator_bank.AccumulatorBank against golden.datapath.accumulate."""

import numpy as np
import pytest

from golden.datapath import accumulate
from hw.accumulator_bank import AccumulatorBank
from tests.helpers.hwsim import int_range, make_rng, simulate


def run_bank(dut, cycles):
    """Drive one dict of inputs per cycle; return the outputs seen after each clock edge.

    Keys (all optional): ``en`` (default 1), ``valid``, ``first``, ``last``, ``psum`` (list),
    ``bias`` (``(col, value)`` write), ``clear``.
    """
    seen = []

    async def tb(ctx):
        for cyc in cycles:
            ctx.set(dut.en, cyc.get("en", 1))
            ctx.set(dut.valid, cyc.get("valid", 0))
            ctx.set(dut.first, cyc.get("first", 0))
            ctx.set(dut.last, cyc.get("last", 0))
            for c, v in enumerate(cyc.get("psum", [0] * dut.cols)):
                ctx.set(dut.psum[c], int(v))
            bias = cyc.get("bias")
            ctx.set(dut.bias_en, bias is not None)
            if bias is not None:
                ctx.set(dut.bias_col, bias[0])
                ctx.set(dut.bias_data, int(bias[1]))
            ctx.set(dut.clear, cyc.get("clear", 0))
            await ctx.tick()
            seen.append(dict(
                acc_valid=ctx.get(dut.acc_valid),
                acc=[ctx.get(dut.acc[c]) for c in range(dut.cols)],
                ovf=[(ctx.get(dut.ovf) >> c) & 1 for c in range(dut.cols)],
                sticky=[(ctx.get(dut.ovf_sticky) >> c) & 1 for c in range(dut.cols)],
            ))

    simulate(dut, tb)
    return seen


def model(dut, cycles):
    """Cycle-level expectations; the arithmetic of each accumulation is golden's."""
    cols = dut.cols
    bias = [0] * cols
    group, group_bias = [], None
    out = dict(acc_valid=0, acc=None, ovf=None)
    sticky = [0] * cols
    expect = []
    for cyc in cycles:
        en = cyc.get("en", 1)
        completes = None
        if en and cyc.get("valid", 0):
            if cyc.get("first", 0) or group_bias is None:
                group, group_bias = [], (bias if cyc.get("first", 0) else [0] * cols)
            group.append(cyc["psum"])
            if cyc.get("last", 0):
                acc, ovf = accumulate(np.array(group), bias=np.array(group_bias),
                                      acc_bits=dut.acc_bits, overflow=dut.overflow)
                completes = (acc.tolist(), ovf.astype(int).tolist())
            else:
                # running value continues from the stored accumulator
                pass
        if en:
            if completes:
                out = dict(acc_valid=1, acc=completes[0], ovf=completes[1])
            else:
                out = dict(out, acc_valid=0)
        if cyc.get("clear", 0):
            sticky = [0] * cols
        if completes:
            sticky = [s | o for s, o in zip(sticky, completes[1])]
        if cyc.get("bias") is not None:
            c, v = cyc["bias"]
            if c < cols:
                bias = list(bias)
                bias[c] = int(v)
        expect.append(dict(out, sticky=list(sticky)))
        if completes:
            # after completion the accumulator holds the result; a non-first beat continues
            group_bias = completes[0]
            group = []
    return expect


def check(dut, cycles):
    seen = run_bank(dut, cycles)
    want = model(dut, cycles)
    for i, (s, w) in enumerate(zip(seen, want)):
        assert s["sticky"] == w["sticky"], f"cycle {i}: {s} != {w}"
        assert s["acc_valid"] == w["acc_valid"], f"cycle {i}: {s} != {w}"
        if w["acc_valid"]:
            assert (s["acc"], s["ovf"]) == (w["acc"], w["ovf"]), f"cycle {i}: {s} != {w}"


def random_cycles(rng, dut, n_acc, *, stall=0.2, bubble=0.2, clear=0.05, psum_range=None):
    lo, hi = psum_range or int_range(dut.psum_bits, True)
    alo, ahi = int_range(dut.acc_bits, True)
    cycles = []
    for _ in range(n_acc):
        if rng.random() < 0.5:
            c = int(rng.integers(dut.cols + 1))       # may address a missing lane
            cycles.append(dict(valid=0, bias=(c, int(rng.integers(alo, ahi, endpoint=True)))))
        if rng.random() < clear:
            cycles.append(dict(clear=1))
        beats = int(rng.integers(1, 6))
        for b in range(beats):
            while rng.random() < bubble:
                cycles.append(dict(en=int(rng.random() >= stall), valid=0))
            psum = [int(v) for v in rng.integers(lo, hi, dut.cols, endpoint=True)]
            beat = dict(valid=1, first=int(b == 0), last=int(b == beats - 1), psum=psum)
            while rng.random() < stall:               # stalled cycles: the beat is not taken
                cycles.append(dict(beat, en=0, clear=int(rng.random() < clear)))
            cycles.append(beat)
    cycles += [dict(valid=0)] * 3
    return cycles


PIPELINES = ["standard", "deep"]


@pytest.mark.parametrize("overflow, psum_bits, acc_bits, pipeline", [
    *((o, p, a, "standard") for o in ("wrap", "saturate")
      for p, a in ((8, 6), (5, 9), (12, 12), (40, 33))),
    ("wrap", 8, 6, "deep"), ("saturate", 12, 12, "deep")])
def test_random_against_golden(overflow, psum_bits, acc_bits, pipeline):
    """``"deep"``: ``bias + psum`` and ``acc + psum`` side by side, ``first`` selects."""
    rng = make_rng(psum_bits * 64 + acc_bits)
    dut = AccumulatorBank(cols=3, psum_bits=psum_bits, acc_bits=acc_bits, overflow=overflow,
                          pipeline=pipeline)
    cycles = random_cycles(rng, dut, 120)
    check(dut, cycles)
    # the random mix produced overflows and clean accumulations alike
    want = [w for w in model(dut, cycles) if w["acc_valid"]]
    flags = {f for w in want for f in w["ovf"]}
    assert flags == {0, 1} or acc_bits > psum_bits + 3


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_edges(overflow, pipeline):
    """Limits of the accumulator range, first-beat overflow, return after overflow."""
    dut = AccumulatorBank(cols=4, psum_bits=6, acc_bits=6, overflow=overflow,
                          pipeline=pipeline)
    lo, hi = int_range(6, True)

    def one(bias, *psums):
        cyc = [dict(valid=0, bias=(c, b)) for c, b in enumerate(bias)]
        for i, p in enumerate(psums):
            cyc.append(dict(valid=1, first=int(i == 0), last=int(i == len(psums) - 1), psum=p))
        return cyc + [dict(valid=0)]

    cycles = []
    cycles += one([hi, lo, hi, lo], [0, 0, -1, 1])                       # at the limits
    cycles += one([hi, lo, lo, hi], [1, -1, lo, hi])                     # first beat leaves
    cycles += one([0, 0, 0, 0], [hi, lo, hi, lo], [1, -1, hi, lo], [-1, 1, -hi, -lo - 1])
    cycles += one([hi, 0, 0, 0], [hi, hi, lo, 0], [lo, lo, lo, 0])      # far beyond, twice
    cycles += [dict(clear=1)]
    cycles += one([1, 2, 3, 4], [5, 6, 7, 8])                           # after a clear
    # a clear at the very edge that completes an overflowing accumulation keeps its flags
    cycles += [dict(valid=0, bias=(0, hi)), dict(valid=1, first=1, last=1, psum=[1, 0, 0, 0],
                                                 clear=1), dict(valid=0)]
    check(dut, cycles)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_stall_holds_output_and_first_after_reset(pipeline):
    dut = AccumulatorBank(cols=2, psum_bits=8, acc_bits=10, overflow="wrap", pipeline=pipeline)
    cycles = [
        dict(valid=1, first=0, last=1, psum=[5, -7]),   # no first after reset: 0 + psum
        dict(en=0, valid=1, first=1, last=1, psum=[100, 100]),   # stalled: not taken
        dict(en=0),
        dict(valid=1, first=1, last=0, psum=[100, -100]),
        dict(valid=1, first=0, last=1, psum=[127, -128]),
        dict(en=0), dict(en=0), dict(valid=0),
    ]
    seen = run_bank(dut, cycles)
    assert [s["acc_valid"] for s in seen] == [1, 1, 1, 0, 1, 1, 1, 0]
    assert seen[0]["acc"] == [5, -7] and seen[2]["acc"] == [5, -7]
    assert seen[4]["acc"] == [227, -228] and seen[6]["acc"] == [227, -228]
    check(dut, cycles)


BASE = dict(cols=4, psum_bits=18, acc_bits=32, overflow="wrap")


@pytest.mark.parametrize("change, message", [
    (dict(cols=0), "AccumulatorBank: cols=0 is out of range; allowed: [1, 256]"),
    (dict(psum_bits=1), "AccumulatorBank: psum_bits=1 is out of range; allowed: [2, 64]"),
    (dict(acc_bits=65), "AccumulatorBank: acc_bits=65 is out of range; allowed: [2, 64]"),
    (dict(overflow="clip"),
     "AccumulatorBank: overflow='clip' is out of range; allowed: 'wrap', 'saturate'"),
    (dict(overflow=None),
     "AccumulatorBank: overflow=None is out of range; allowed: 'wrap', 'saturate'"),
    (dict(pipeline="deeper"),
     "AccumulatorBank: pipeline='deeper' is out of range; allowed: 'standard', 'deep'"),
])
def test_constructor_errors(change, message):
    with pytest.raises(ValueError) as exc:
        AccumulatorBank(**{**BASE, **change})
    assert str(exc.value) == message
