"""qmac prove: proofs at small widths, planted bugs caught with a golden-reproduced
counterexample, and the reference model checked against golden by simulation."""

import os
import random

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from golden.datapath import requantize
from hw.requantizer import Requantizer
from sim.formal import smt, tools
from sim.formal.cex import explain
from sim.formal.harness import ClampLemma
from sim.formal.prove import Instance, _rq, default_instances, plant_rtlil, prove_instance
from sim.formal.reference import RequantReference, reduced_multiplier_reference

W = 6    # accumulator width of the in-suite proofs (qmac prove defaults to 32)

#: The uncut proof (the reference forms its own product) now unrolls 13 cycles: minutes.


#: Composed at r_q (stages 4-10 per shift, stage 11, the clamp lemma): about 3 s of solver
#: CPU per instance at acc6 (more in wall time under load), so one rounding per form is in
#: the suite, the rest opt-in.
@pytest.mark.parametrize("rounding", [
    "double", pytest.param("single", marks=pytest.mark.long),
    pytest.param("ruy", marks=pytest.mark.long),
    pytest.param("single16", marks=pytest.mark.long)])
def test_requantizer_proved_per_tensor(formal_tools, tmp_path, rounding):
    inst = Instance(f"rq {rounding}", "requantizer", _rq(rounding, W), cut=True)
    assert inst.parts == ("round", "clamp", "lemma")
    res = prove_instance(inst, tmp_path)
    assert res.proved, explain(inst, res.counterexample)
    assert res.cases == 64 + 1 + 1


@pytest.mark.parametrize("rounding", [
    "ruy", pytest.param("double", marks=pytest.mark.long),
    pytest.param("single16", marks=pytest.mark.long)])
def test_requantizer_proved_per_channel(formal_tools, tmp_path, rounding):
    inst = Instance("rq pc", "requantizer", _rq(rounding, 4, per_channel=True, cols=2),
                    cut=True)
    res = prove_instance(inst, tmp_path)
    assert res.proved, explain(inst, res.counterexample)


@pytest.mark.parametrize("bits, proved", [(None, True), (7, False)])
def test_clamp_lemma_needs_its_window(formal_tools, tmp_path, bits, proved):
    """The lemma that lets the rounding segment compare through ``clamp_window`` is proved,
    and fails for a window one bit narrower (so it is not vacuous)."""
    inst = Instance("lemma", "requantizer", _rq("double", W), cut=True)
    lemma = ClampLemma(value_bits=inst.lemma_bits, out_bits=8, out_signed=True,
                       window_bits=bits)
    tools.write_rtlil(lemma, tmp_path / "miter.il")
    tools.run_yosys(tmp_path, ["read_rtlil miter.il", "proc", "flatten", "chformal -lower",
                               "write_smt2 -wires miter.smt2"])
    results, _ = smt.bmc_cases(formal_tools["yices-smt2"], (tmp_path / "miter.smt2")
                               .read_text(), 1, [{}], check=[0])
    assert (results[0][1] is None) == proved


def test_default_instances_state_the_widths():
    """``qmac prove`` defaults: every rounding at acc32, per-tensor and per-channel, the
    unsigned output, both accumulator modes; the en/valid proof only on request."""
    names = [i.name for i in default_instances()]
    for r in ("double", "single", "ruy", "single16"):
        assert f"requant {r} per-tensor acc32" in names
        assert f"requant {r} per-channel x2 acc32" in names
    assert "requant double unsigned-out acc32" in names
    assert "accumulator wrap x2 acc32" in names and "accumulator saturate x2 acc32" in names
    assert not any("en/valid" in n for n in names)
    assert any("en/valid" in i.name for i in default_instances(control=True))


@pytest.mark.long
def test_qmac_prove_default_run(formal_tools, tmp_path):
    """The whole default ``qmac prove`` (acc32, 10 instances): minutes, opt-in."""
    from sim.cli import main
    assert main(["prove", "-o", str(tmp_path)]) == 0


@pytest.mark.long
def test_requantizer_proved_with_multiplier(formal_tools, tmp_path):
    inst = Instance("rq mul", "requantizer", _rq("double", 3))
    res = prove_instance(inst, tmp_path)
    assert res.proved, explain(inst, res.counterexample)


@pytest.mark.long
@pytest.mark.parametrize("acc_bits, chunk", [(4, 17), (7, 3)])
def test_multiplier_proved(formal_tools, tmp_path, acc_bits, chunk):
    """The partial-product multiplier: the shipped 17-bit chunks (one accumulator chunk)
    and 3-bit chunks (three rows: unsigned, unsigned, signed top). Opt-in: one query per
    accumulator value still took minutes of solver CPU each (not run to completion)."""
    inst = Instance("mul", "multiplier", dict(acc_bits=acc_bits, chunk=chunk))
    res = prove_instance(inst, tmp_path)
    assert res.proved, explain(inst, res.counterexample)


def test_multiplier_chunk_error_names_the_range():
    with pytest.raises(ValueError, match="chunk"):
        Requantizer(cols=1, acc_bits=8, out_bits=8, out_signed=True, rounding="double",
                    per_channel=False, chunk=1)


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_accumulator_proved(formal_tools, tmp_path, overflow):
    inst = Instance(f"acc {overflow}", "accumulator",
                    dict(cols=2, psum_bits=5, acc_bits=6, overflow=overflow))
    res = prove_instance(inst, tmp_path)
    assert res.proved, explain(inst, res.counterexample)


@pytest.mark.parametrize("plant, inst", [
    ("nudge1", Instance("rq planted", "requantizer", _rq("double", W), cut=True)),
    ("nudge2", Instance("rq planted", "requantizer", _rq("ruy", W), cut=True)),
    ("zp", Instance("rq planted", "requantizer", _rq("single", W), cut=True)),
    ("psum", Instance("acc planted", "accumulator",
                      dict(cols=2, psum_bits=5, acc_bits=6, overflow="saturate")))])
def test_planted_bug_fails_and_golden_reproduces_it(formal_tools, tmp_path, plant, inst):
    res = prove_instance(inst, tmp_path, plant=plant)
    assert not res.proved
    text = explain(inst, res.counterexample)
    print(text)
    assert "the hardware is wrong (golden agrees with the reference)" in text


def test_plant_unknown_wire_is_an_error():
    with pytest.raises(ValueError, match="no \\$add cell drives 'nope'"):
        plant_rtlil("module \\top\nend\n", "nope")


def _edge_values(bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return [lo, lo + 1, -1, 0, 1, hi - 1, hi]


def test_reference_model_equals_golden_in_simulation():
    """The proof's reference and golden are independent; they must agree (seeded)."""
    seed = int(os.environ.get("QMAC_SEED", random.randrange(1 << 30)))
    print(f"QMAC_SEED={seed}")
    rng = random.Random(seed)
    for rounding in ("double", "single", "ruy", "single16"):
        m = Module()
        ref = RequantReference(product_shape=signed(56), out_bits=8, out_signed=True,
                               rounding=rounding)
        m.submodules.ref = ref
        m0_in, m0_used = Signal(32), Signal(31)     # single16: the reduced multiplier
        m.d.comb += m0_used.eq(reduced_multiplier_reference(m0_in) if rounding == "single16"
                               else m0_in[:31])
        vectors = []
        for _ in range(150):
            acc = rng.choice(_edge_values(24) + [rng.randrange(-2**23, 2**23)])
            m0 = rng.choice([0, 1, 2**30, 2**31 - 1, 0x7FFF0000, 0x7FFEFFFF, 0x7FFF7FFF,
                             0x8000, 0x7FFF, rng.randrange(2**31)])
            shift = rng.choice([-31, -1, 0, 30, rng.randrange(-31, 31)])
            vectors.append((acc, m0, shift, rng.randrange(-128, 128)))
        sim = Simulator(m)

        async def bench(ctx, vectors=vectors, rounding=rounding, ref=ref, m0_in=m0_in,
                        m0_used=m0_used):
            for acc, m0, shift, zp in vectors:
                ctx.set(m0_in, m0)
                ctx.set(ref.product, acc * ctx.get(m0_used))
                ctx.set(ref.shift, shift)
                ctx.set(ref.y_zp, zp)
                ctx.set(ref.act_min, -128)
                ctx.set(ref.act_max, 127)
                want = int(requantize(acc, m0=m0, shift=shift, y_zp=zp, act_min=-128,
                                      act_max=127, rounding=rounding))
                got = ctx.get(ref.y)
                assert got == want, (rounding, acc, m0, shift, zp, got, want, seed)

        sim.add_testbench(bench)
        sim.run()
