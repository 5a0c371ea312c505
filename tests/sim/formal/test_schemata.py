"""Mutant schemata: every mutant in one Verilog behind ``+qmac_mutant=K``.

The text tests check the planting; the simulation test builds the schemata of a tiny
configuration once on Icarus and checks that mutant 0 (the original) passes and a known
mutant (a MAC-array adder turned into a subtractor) is killed.
"""


import pytest

from sim.config import load_config
from sim.formal.mutate import Mutant, mutants
from sim.formal.schemata import SELECTOR, plant_schemata, selector_plusarg, split_line
from sim.generate import build_component

TINY = """\
name: mut_tiny
operands: {bits: 8, input_signed: true, weight_signed: true}
array: {rows: 2, cols: 2, weight_tiles: 2}
accumulator: {guard_bits: 4, overflow: wrap}
requant: {out_signed: true, rounding: double, per_channel: true}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "mut_tiny.yaml"
    path.write_text(TINY)
    return load_config(str(path))


@pytest.fixture(scope="module")
def verilog(tiny):
    from hw.generate import generate_verilog
    return generate_verilog(build_component(tiny), name=tiny.toplevel), tiny.toplevel


@pytest.mark.parametrize("line, parts", [
    (r"  assign \mac.sum_0  = a + \b.c ;", (r"  assign \mac.sum_0  =", r"a + \b.c", ";")),
    ("    if (rst) q <= 1'h0;", ("    if (", "rst", ") q <= 1'h0;")),
    ("    else if (!(a & (b | c))) q <= d;", ("    else if (", "!(a & (b | c))", ") q <= d;")),
    ("  always @(posedge clk)", None),
])
def test_split_line(line, parts):
    assert split_line(line) == parts


def test_schemata_keeps_the_original_behind_the_selector(verilog):
    text, top = verilog
    ms = mutants(text, 40, seed=5)
    meta = plant_schemata(text, ms, top)
    assert meta.count(f"{SELECTOR} == 32'd") == len(ms)
    assert f'$value$plusargs("{SELECTOR}=%d", {SELECTOR})' in meta
    before, after = text.split("\n"), meta.split("\n")
    assert len(after) == len(before) + 3          # the selector's declaration only
    for mu in ms:
        planted = next(ln for ln in after if f"32'd{mu.index})" in ln)
        head, body, tail = split_line(mu.after)
        assert planted.startswith(split_line(mu.before)[0].rstrip()) and body in planted
        assert planted.endswith(tail)
    assert selector_plusarg(7) == f"+{SELECTOR}=7"


def test_schemata_refuses_index_0_and_a_stale_line(verilog):
    text, top = verilog
    mu = mutants(text, 1, seed=1)[0]
    with pytest.raises(ValueError, match="start at 1"):
        plant_schemata(text, [Mutant(0, mu.operator, mu.block, mu.line, mu.before, mu.after)],
                       top)
    with pytest.raises(ValueError, match="is not"):
        plant_schemata(text, [Mutant(1, mu.operator, mu.block, mu.line + 1, mu.before,
                                     mu.after)], top)


def _adder_to_subtractor(m):
    return m.block == "mac" and m.operator == "op" and " - " in m.after and " + " in m.before


def test_selector_runs_original_and_kills_a_known_mutant_icarus(tmp_path, in_ci, tiny):
    """One Icarus build of the schemata of a 2x2 array: mutant 0 must pass the MAC-array
    testbench (run_mutation raises otherwise) and a MAC adder turned into a subtractor,
    selected by +qmac_mutant=1, must fail it."""
    from sim.formal.mutate import run_mutation
    from tests.helpers.simulators import need
    need("icarus", in_ci)
    out = run_mutation(tiny, count=1, sims=["icarus"], seed=1, outdir=tmp_path / "m",
                       vectors=4, tests=["mac_array"], log=lambda *_: None,
                       select=_adder_to_subtractor)
    assert len(out) == 1 and out[0].verdict == "killed", out
    assert out[0].killed_by == {"icarus": "mac_array"}
    assert (tmp_path / "m" / "schemata" / "m000" / "icarus" / "mac_array").is_dir()


@pytest.mark.long
def test_selector_runs_original_and_kills_a_known_mutant_verilator(tmp_path, in_ci, tiny):
    """As the Icarus test, on Verilator (its build of the 2x2 schemata takes minutes)."""
    from sim.formal.mutate import run_mutation
    from tests.helpers.simulators import need
    need("verilator", in_ci)
    out = run_mutation(tiny, count=1, sims=["verilator"], seed=1,
                       outdir=tmp_path / "m", vectors=16, tests=["mac_array"],
                       log=lambda *_: None, select=_adder_to_subtractor)
    assert out[0].killed_by == {"verilator": "mac_array"}, out
