"""qmac equiv: the shipped Verilog proved equal to Amaranth's netlist (unproven cells 0).

In the suite: a small component with the two features that made whole configurations fail
before (a synchronous memory read port, which the shipped Verilog writes as an asynchronous
read plus a register, and two identical registers that the shipped netlist's ``opt`` merges
into one), and a mutant that must not prove. Whole configurations take minutes of Yosys
CPU: opt-in (``QMAC_LONG=1``).
"""

import os
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.generate import generate_verilog
from sim.errors import ToolError
from sim.formal import tools
from sim.formal.equiv import equiv, equiv_texts

LONG = pytest.mark.skipif(os.environ.get("QMAC_LONG") != "1", reason="long: set QMAC_LONG=1")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def formal_tools(in_ci):
    try:
        return tools.require()
    except ToolError as exc:
        if in_ci:
            raise
        pytest.skip(str(exc))


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


def test_memory_read_port_and_merged_registers_proved(formal_tools, tmp_path):
    gold = rtlil.convert(_MemoryAndTwins(), name="t", emit_src=False)
    gate = generate_verilog(_MemoryAndTwins(), name="t")
    res = equiv_texts(gold, gate, "t", tmp_path)
    assert res.proved and res.unproven == 0 and res.equiv_cells > 0, res.log


def test_mutant_not_proved(formal_tools, tmp_path):
    gold = rtlil.convert(_MemoryAndTwins(), name="t", emit_src=False)
    gate = generate_verilog(_MemoryAndTwins(), name="t")
    mutant = gate.replace("if (en)", "if (!en)", 1)
    assert mutant != gate
    res = equiv_texts(gold, mutant, "t", tmp_path)
    assert not res.proved and res.unproven > 0


@pytest.mark.long
@LONG
@pytest.mark.parametrize("config", ["benchmarks/int8_4x4.yaml", "constraints/int4.yaml",
                                    "constraints/xbar_w4a8.yaml", "constraints/sidra_y1.yaml"])
def test_shipped_configuration_proved(formal_tools, tmp_path, config):
    from sim.config import load_config
    cfg = load_config(ROOT / config)
    res = equiv(cfg, tmp_path)
    print(f"{config}: {res.equiv_cells} cells, {res.unproven} unproven, "
          f"{res.seconds:.1f} s wall, {res.cpu:.1f} s CPU")
    assert res.proved and res.unproven == 0, res.log[-3000:]
