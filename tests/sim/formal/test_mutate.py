"""qmac mutate: mutant generation (deterministic, single-point, every block) and CLI errors."""


import pytest

from sim.cli import main
from sim.config import load_config
from sim.formal.mutate import OPERATORS, block_of, mutants
from sim.generate import build_component


@pytest.fixture(scope="module")
def verilog():
    from hw.generate import generate_verilog
    cfg = load_config("benchmarks/int8_4x4.yaml")
    return generate_verilog(build_component(cfg), name=cfg.toplevel)


def test_mutants_are_single_point_deterministic_and_spread(verilog):
    ms = mutants(verilog, 40, seed=3)
    assert len(ms) == 40
    assert ms == mutants(verilog, 40, seed=3)
    assert ms != mutants(verilog, 40, seed=4)
    lines = verilog.split("\n")
    for mu in ms:
        changed = [i for i, (a, b) in enumerate(zip(lines, mu.apply(verilog).split("\n")))
                   if a != b]
        assert changed == [mu.line - 1]
    blocks = [mu.block for mu in ms]
    assert set(blocks) == {"mac", "stage", "stage.bank", "stage.rq", "top"}
    assert max(blocks.count(b) for b in blocks) - min(blocks.count(b) for b in blocks) <= 1
    assert [mu.index for mu in ms] == list(range(1, 41))     # 0 is the unmutated design
    assert {mu.operator for mu in ms} == set(OPERATORS)


@pytest.mark.parametrize("line, block", [
    (r"  assign \$flatten\stage.\bank.$12  = a;", "stage.bank"),
    (r"  assign \mac.sum_0  = a;", "mac"),
    (r"  assign \stage.rq.load_3  = en;", "stage.rq"),
    ("  assign o_valid = x;", "top"),
    (r"    if (\stage.rq.load_12 ) \stage.rq.y_q_3  <= \stage.rq.y_3 ;", "stage.rq"),
    (r"    else if (!\$flatten\stage.$2 ) \mac.s3_q_0  <= x;", "mac"),
])
def test_block_of(line, block):
    assert block_of(line) == block


def test_block_of_an_if_looks_at_the_statement_it_guards():
    assert block_of("    if (rst)", [r"      \stage.bank.acc_q_0  <= 32'd0;"]) == "stage.bank"


@pytest.mark.parametrize("line, expected", [
    ("    if (rst) q <= 1'h0;", [("reset", "    if (1'b0) q <= 1'h0;")]),
    ("    else if (en) q <= d;", [("cond", "    else if (!( en )) q <= d;"),
                                ("enable", "    else if (1'b1) q <= d;")]),
    (r"  assign y = \a.b  ? c : d;", [("cond", r"  assign y = !( \a.b ) ? c : d;")]),
    ("  assign y = { a, b ? c : d };", []),      # a nested ?: is not the RHS's selector
])
def test_condition_reset_and_enable_mutants(line, expected):
    from sim.formal.mutate import _candidates
    assert _candidates(line) == expected


@pytest.mark.parametrize("argv, text", [
    (["prove", "--widths", "4"], "--widths='4' is not allowed"),
    (["prove", "--only", "banana"], "--only='banana' matches no instance"),
    (["mutate", "--sim", "modelsim"], "--sim='modelsim' is not allowed"),
    (["mutate", "--mutant", "0"], "--mutant='0' is not allowed"),
    (["mutate", "--mutant", "x"], "--mutant='x' is not allowed"),
])
def test_cli_errors_are_one_line_exit_2(capsys, argv, text):
    with pytest.raises(SystemExit) as exc:
        code = main(argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1


@pytest.mark.long
def test_requantizer_mutants_are_killed_on_icarus(tmp_path, in_ci):
    """End to end, small: two operator mutants of the requantizer of the 4x4 int8 array,
    planted, built on Icarus and killed by the requantizer testbench (a handful of vectors;
    the full score is ``qmac mutate``'s, README). Opt-in: 101 s on the shared 2-core machine
    at load 16 (the directed requantizer cases on Icarus), over the 30 s CI allowance."""
    from sim.formal.mutate import run_mutation
    from tests.helpers.simulators import need
    need("icarus", in_ci)
    cfg = load_config("benchmarks/int8_4x4.yaml")
    out = run_mutation(cfg, count=2, sims=["icarus"], seed=1, outdir=tmp_path, vectors=4,
                       tests=["requantizer"], log=lambda *_: None,
                       select=lambda m: m.block == "stage.rq" and m.operator == "op")
    assert len(out) == 2
    for o in out:
        assert o.verdict == "killed" and o.killed_by == {"icarus": "requantizer"}, o


_DEAD = "\n".join([
    "module t(a, y);", "  input a;", "  output y;", r"  wire \u.d ;", r"  wire \u.e ;",
    r"  wire \u.f ;", r"  assign \u.d  = a & 1'h1;", r"  assign \u.e  = a | a;",
    r"  assign \u.f  = \u.e  ^ 1'h0;", r"  assign y = \u.f  ;", "endmodule"])


@pytest.mark.parametrize("line, dead", [(7, True), (8, False), (9, False), (10, False)])
def test_dead_assignment(line, dead):
    """The mutated wire is read nowhere (only declared and assigned): equivalent at once;
    a wire read by another statement or a port is not."""
    from sim.formal.mutate import Mutant, dead_assignment
    before = _DEAD.split("\n")[line - 1]
    mu = Mutant(1, "op", "u", line, before, before.replace("=", "= ~", 1))
    assert dead_assignment(mu, _DEAD) is dead


def test_equiv_is_tried_only_when_no_simulator_kills(monkeypatch, tmp_path):
    """A kill on any simulator proves the mutant is not equivalent: no equiv attempt (it
    costs up to --equiv-timeout of Yosys); --equiv-timeout 0 skips it for survivors too."""
    import sim.formal.survivor as survivor
    from sim.formal.mutate import Mutant, _classify
    calls = []
    monkeypatch.setattr(survivor, "product_proof", lambda *a, **k: calls.append(1) or
                        survivor.ProductResult(False, "FAILED (counterexample)", 2))
    mu = Mutant(1, "op", "u", 8, _DEAD.split("\n")[7], r"  assign \u.e  = a & a;")
    ctx = dict(sims=["icarus", "verilator"], equiv_timeout=5, outdir=tmp_path)
    prep = type("P", (), {"toplevel": "t"})
    assert _classify(mu, {"icarus": "x", "verilator": "x"}, _DEAD, prep, ctx) == "killed"
    assert _classify(mu, {"verilator": "x"}, _DEAD, prep, ctx) == "killed-partly"
    assert calls == []
    assert _classify(mu, {}, _DEAD, prep, ctx) == "escaped" and calls == [1]
    assert _classify(mu, {}, _DEAD, prep, dict(ctx, equiv_timeout=0)) == "escaped?"
    assert calls == [1]
