"""qmac equiv: the shipped Verilog proved equal to Amaranth's netlist (unproven cells 0).

In the suite: a small component with the features that made whole configurations fail
before (a synchronous memory read port, which the shipped Verilog writes as an asynchronous
read plus a ``_N_`` register, enabled registers, and two identical registers that the
shipped netlist's ``opt`` merges into one), a mutant and a changed initial value that must
not prove, and (``long``) ``equiv_texts`` on ``benchmarks/int8_4x4.yaml`` mutants (Verilog
against Verilog, as ``qmac mutate`` uses it): a masked change proves, a real one does not.
The whole-configuration proof (Amaranth RTLIL against the shipped Verilog) of int8_4x4 is in
the suite; the crossbar, int4 and sidra_y1 ones are ``long`` (CI budget).
"""

from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.generate import generate_verilog
from sim.formal.equiv import equiv, equiv_texts, init_mismatches

ROOT = Path(__file__).resolve().parents[3]


class _MemoryAndTwins(wiring.Component):
    """A 4x4 memory (synchronous read port with enable) and two identical valid chains."""

    def __init__(self):
        super().__init__({"en": In(1), "we": In(1), "wa": In(2), "wd": In(4), "ra": In(2),
                          "v": In(1), "q": Out(4), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=4, depth=4, init=[])
        wr, rd = mem.write_port(), mem.read_port(domain="sync")
        m.d.comb += [wr.addr.eq(self.wa), wr.data.eq(self.wd), wr.en.eq(self.we),
                     rd.addr.eq(self.ra), rd.en.eq(self.en), self.q.eq(rd.data)]
        a = [Signal(name=f"a_{i}") for i in range(3)]
        b = [Signal(name=f"b_{i}") for i in range(3)]
        with m.If(self.en):
            m.d.sync += [a[0].eq(self.v), b[0].eq(self.v)]
            m.d.sync += [a[i].eq(a[i - 1]) for i in range(1, 3)]
            m.d.sync += [b[i].eq(b[i - 1]) for i in range(1, 3)]
        m.d.comb += self.busy.eq(a[2] | b[1])
        return m


@pytest.fixture(scope="module")
def small_texts():
    """Amaranth's RTLIL and the shipped Verilog of ``_MemoryAndTwins``."""
    return (rtlil.convert(_MemoryAndTwins(), name="t", emit_src=False),
            generate_verilog(_MemoryAndTwins(), name="t"))


def test_memory_read_port_and_merged_registers_proved(formal_tools, tmp_path, small_texts):
    gold, gate = small_texts
    res = equiv_texts(gold, gate, "t", tmp_path)
    assert res.proved and res.unproven == 0 and res.equiv_cells > 0, res.log


def test_mutant_not_proved(formal_tools, tmp_path, small_texts):
    gold, gate = small_texts
    mutant = gate.replace("if (en)", "if (!en)", 1)
    assert mutant != gate
    res = equiv_texts(gold, mutant, "t", tmp_path)
    assert not res.proved and res.unproven > 0


def test_changed_initial_value_not_proved(formal_tools, tmp_path, small_texts):
    gold, gate = small_texts
    mutant = gate.replace("reg a_2 = 1'h0;", "reg a_2 = 1'h1;", 1)
    assert mutant != gate
    res = equiv_texts(gold, mutant, "t", tmp_path)
    assert res.unproven == 0          # the $equiv cells alone cannot see it
    assert not res.proved and res.init_mismatches == ("a_2[0]: initial value gold 0, gate 1",)


def test_init_values_through_aliases():
    gold = ("  attribute \\init 2'01\n  wire width 2 \\q\n  wire width 2 \\alias\n"
            "  connect \\alias \\q\n")
    same = "  attribute \\init 2'01\n  wire width 2 \\alias\n"
    assert init_mismatches(gold, same) == ((), ())
    other = "  attribute \\init 2'11\n  wire width 2 \\alias\n"
    assert init_mismatches(gold, other) == (("alias[1]: initial value gold 0, gate 1",), ())
    lonely = init_mismatches(gold, "  wire width 2 \\r\n")
    assert lonely == ((), ("alias[0] (gold only)", "alias[1] (gold only)"))


# benchmarks/int8_4x4.yaml: the requantizer's partial-product row adder of lane 1. Its sum is
# 33 bits wide and only [31:0] is read (``qmac mutate`` seed 1, mutant 10).
_ROW = ("$signed({ 1'h0, \\stage.rq.pp_q_1_0_1  }) + "
        "$signed({ 15'h0000, \\stage.rq.pp_q_1_0_0 [33:17] })")


@pytest.fixture(scope="module")
def int8_4x4_verilog():
    from sim.config import load_config
    from sim.generate import build_component
    cfg = load_config(ROOT / "benchmarks/int8_4x4.yaml")
    text = generate_verilog(build_component(cfg), name=cfg.toplevel)
    assert text.count(_ROW) == 1
    return cfg.toplevel, text


@pytest.mark.long           # 30 s (2 rounds) and 97 s (3 rounds) of Yosys CPU at load 15
@pytest.mark.parametrize("mutation, proved", [
    (("{ 1'h0, \\stage.rq.pp_q_1_0_1", "{ 1'h1, \\stage.rq.pp_q_1_0_1"), True),   # bit 32
    (("{ 15'h0000, \\stage.rq.pp_q_1_0_0", "{ 15'h0001, \\stage.rq.pp_q_1_0_0"), False),
])
def test_int8_4x4_mutants(formal_tools, tmp_path, int8_4x4_verilog, mutation, proved):
    top, text = int8_4x4_verilog
    old, new = mutation
    line = _ROW.replace(old, new)
    assert line != _ROW
    res = equiv_texts(text, text.replace(_ROW, line), top, tmp_path, gold_is_verilog=True,
                      timeout=600)
    print(f"{new}: {res.equiv_cells} cells, {res.unproven} unproven, {res.seconds:.1f} s "
          f"wall, {res.cpu:.1f} s CPU")
    assert res.proved is proved and res.equiv_cells > 0
    assert (res.unproven == 0) is proved


@pytest.mark.parametrize("config", [
    "benchmarks/int8_4x4.yaml",                                   # ~16 s CPU: in the suite
    pytest.param("constraints/xbar_w4a8.yaml", marks=pytest.mark.long),     # ~15 s CPU
    pytest.param("constraints/int4.yaml", marks=pytest.mark.long),          # ~90 s CPU
    pytest.param("constraints/sidra_y1.yaml", marks=pytest.mark.long),
])
def test_shipped_configuration_proved(formal_tools, tmp_path, config):
    from sim.config import load_config
    cfg = load_config(ROOT / config)
    res = equiv(cfg, tmp_path)
    print(f"{config}: {res.equiv_cells} cells, {res.unproven} unproven, "
          f"{res.seconds:.1f} s wall, {res.cpu:.1f} s CPU")
    assert res.proved and res.unproven == 0 and not res.init_mismatches, res.log[-3000:]
