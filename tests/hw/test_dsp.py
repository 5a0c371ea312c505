# amaranth: UnusedElaboratable=no
"""The ECP5 DSP variant of the deep pipeline (``hw/_dsp.py``, ``Datapath(dsp="ecp5")``, what
``qmac synth --target ecp5`` synthesizes) against the generic deep RTL (what every simulator
and ``qmac regress`` run): both Verilog files simulated side by side in Icarus under the
same random loads, data beats and output backpressure, every output compared in every
cycle (the MULT18X18D from ``tests/helpers/mult18x18d_model.v``). The generic deep RTL is
checked bit-exact against golden by the datapath tests and ``qmac regress``; this closes the
gap to the netlist that is placed and routed.
"""

import re
import subprocess
from pathlib import Path

import pytest
from amaranth.hdl import signed, unsigned

from constraints.seeds import base_seed
from hw._dsp import registered_product
from hw.datapath import Datapath
from hw.generate import generate_verilog
from hw.mac_array import MacArray
from hw.requantizer import Requantizer
from tests.helpers.simulators import need

MODEL = Path(__file__).resolve().parent.parent / "helpers" / "mult18x18d_model.v"

#: the benchmark reference (int8_4x4) and a corner configuration: 16-bit unsigned operands,
#: an odd row count, tiles not a power of two, 48-bit accumulators (three DSP chunks),
#: single16 (reduced m0), one shared (m0, shift), unsigned 16-bit outputs
CONFIGS = {
    "int8_4x4": dict(bits=8, input_signed=True, weight_signed=True, rows=4, cols=4,
                     weight_tiles=16, acc_bits=32, overflow="wrap", out_bits=8,
                     out_signed=True, rounding="double", per_channel=True),
    "u16_corner": dict(bits=16, input_signed=False, weight_signed=False, rows=3, cols=2,
                       weight_tiles=3, acc_bits=48, overflow="saturate", out_bits=16,
                       out_signed=False, rounding="single16", per_channel=False),
}

TB = """
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1;
  reg i_load__valid = 0, i_data__valid = 0, o_data__ready = 0;
  reg [{l_w}-1:0] i_load__payload = 0;
  reg [{d_w}-1:0] i_data__payload = 0;
  wire [{o_w}-1:0] pg, pe;
  wire [{c_w}-1:0] sg, se;
  wire lrg, lre, drg, dre, vg, ve;
  dut_generic g(.clk(clk), .rst(rst), .i_load__valid(i_load__valid),
    .i_load__payload(i_load__payload), .i_load__ready(lrg), .i_data__valid(i_data__valid),
    .i_data__payload(i_data__payload), .i_data__ready(drg), .o_data__valid(vg),
    .o_data__payload(pg), .o_data__ready(o_data__ready), .o_ovf_sticky(sg));
  dut_ecp5 e(.clk(clk), .rst(rst), .i_load__valid(i_load__valid),
    .i_load__payload(i_load__payload), .i_load__ready(lre), .i_data__valid(i_data__valid),
    .i_data__payload(i_data__payload), .i_data__ready(dre), .o_data__valid(ve),
    .o_data__payload(pe), .o_data__ready(o_data__ready), .o_ovf_sticky(se));
  always #5 clk = ~clk;
  integer seed = {seed}, cycle, bad = 0, beats = 0, loads = 0, k, idx;
  reg load_taken = 0;
  task randomize_inputs;
    begin
      // a load is held until it is accepted (it waits for the pipeline to drain); a new
      // one: addr = region << INDEX_BITS | index in the low bits, regions 0-5 (weights,
      // bias, m0, shift, scalars, one ignored); weight indices below T*C only, so every
      // memory word read was written
      if (!i_load__valid || load_taken) begin
        for (k = 0; k < {l_w}; k = k + 32) i_load__payload[k +: 32] = $random(seed);
        i_load__payload[{index_bits} +: 3] = ($random(seed) & 32'h7fffffff) % 6;
        if (i_load__payload[{index_bits} +: 3] == 0)
          i_load__payload[0 +: {index_bits}] = ($random(seed) & 32'h7fffffff) % {words};
        i_load__valid = ($random(seed) & 15) == 0;
      end
      for (k = 0; k < {d_w}; k = k + 32) i_data__payload[k +: 32] = $random(seed);
      i_data__valid = ($random(seed) & 3) != 0;
      o_data__ready = ($random(seed) & 3) != 0;
    end
  endtask
  always @(negedge clk) if (!rst) begin
    if ({{lrg, drg, vg, pg, sg}} !== {{lre, dre, ve, pe, se}}) begin
      bad = bad + 1;
      if (bad < 5) $display("MISMATCH cycle %0d: generic %b %b %b %h %b, ecp5 %b %b %b %h %b",
                            cycle, lrg, drg, vg, pg, sg, lre, dre, ve, pe, se);
    end
    if (vg && o_data__ready) beats = beats + 1;
    load_taken = i_load__valid && lrg;
    if (load_taken) loads = loads + 1;
  end
  initial begin
    repeat (3) @(posedge clk);
    #1 rst = 0;
    // every weight word written first (no unwritten memory word is ever read)
    for (idx = 0; idx < {words}; idx = idx + 1) begin
      for (k = 0; k < {l_w}; k = k + 32) i_load__payload[k +: 32] = $random(seed);
      i_load__payload[{index_bits} +: 3] = 0;
      i_load__payload[0 +: {index_bits}] = idx;
      i_load__valid = 1;
      @(posedge clk);
      while (!lrg) @(posedge clk);
      #1 i_load__valid = 0;
    end
    for (cycle = 0; cycle < {cycles}; cycle = cycle + 1) begin
      #1 randomize_inputs;
      @(posedge clk);
    end
    $display("DSPEQ bad=%0d beats=%0d loads=%0d", bad, beats, loads);
    $finish;
  end
endmodule
"""


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_ecp5_variant_matches_generic_rtl(tmp_path, in_ci, name):
    need("icarus", in_ci)
    seed = base_seed() & 0x7FFFFFFF
    print(f"QMAC_SEED={seed}")
    params = dict(CONFIGS[name], pipeline="deep")
    generic, ecp5 = Datapath(**params), Datapath(**params, dsp="ecp5")
    assert generic.LATENCY == ecp5.LATENCY
    text_e = generate_verilog(ecp5, name="dut_ecp5")
    assert text_e.count("MULT18X18D #(") == _dsp_count(params)
    (tmp_path / "g.v").write_text(generate_verilog(generic, name="dut_generic"))
    (tmp_path / "e.v").write_text(text_e)
    (tmp_path / "tb.v").write_text(TB.format(
        l_w=len(generic.i_load.payload.as_value()), d_w=len(generic.i_data.payload.as_value()),
        o_w=len(generic.o_data.payload.as_value()), c_w=generic.cols, seed=seed,
        words=generic.weight_tiles * generic.cols, index_bits=generic.INDEX_BITS,
        cycles=3000))
    subprocess.run(["iverilog", "-g2012", "-o", "sim.vvp", "-s", "tb", "tb.v", "g.v", "e.v",
                    str(MODEL)], cwd=tmp_path, check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"DSPEQ bad=(\d+) beats=(\d+) loads=(\d+)", out)
    assert m, out
    print(m.group(0))
    bad, beats, loads = map(int, m.groups())
    assert bad == 0, out
    assert beats > 100 and loads > 50, out       # the comparison saw real traffic


def _dsp_count(params):
    """MULT18X18D instances: one per MAC, and per requantizer lane one per pair of
    (17-bit accumulator chunk, m0 chunk)."""
    acc_chunks = -(-params["acc_bits"] // 17)
    return params["rows"] * params["cols"] + params["cols"] * acc_chunks * 2


def test_the_comparison_can_fail(tmp_path, in_ci):
    """A DSP variant with the output register dropped (one cycle early) is caught."""
    need("icarus", in_ci)
    params = dict(CONFIGS["int8_4x4"], pipeline="deep")
    generic = Datapath(**params)
    text_e = generate_verilog(Datapath(**params, dsp="ecp5"), name="dut_ecp5")
    broken = text_e.replace('.REG_OUTPUT_CLK("CLK0")', '.REG_OUTPUT_CLK("NONE")', 1)
    assert broken != text_e
    (tmp_path / "g.v").write_text(generate_verilog(generic, name="dut_generic"))
    (tmp_path / "e.v").write_text(broken)
    (tmp_path / "tb.v").write_text(TB.format(
        l_w=len(generic.i_load.payload.as_value()), d_w=len(generic.i_data.payload.as_value()),
        o_w=len(generic.o_data.payload.as_value()), c_w=generic.cols, seed=1,
        words=generic.weight_tiles * generic.cols, index_bits=generic.INDEX_BITS, cycles=400))
    subprocess.run(["iverilog", "-g2012", "-o", "sim.vvp", "-s", "tb", "tb.v", "g.v", "e.v",
                    str(MODEL)], cwd=tmp_path, check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    assert int(re.search(r"DSPEQ bad=(\d+)", out).group(1)) > 0, out


def test_dsp_requires_the_deep_pipeline():
    kw = dict(CONFIGS["int8_4x4"])
    with pytest.raises(ValueError, match="dsp='ecp5' with pipeline='standard'"):
        Datapath(**kw, dsp="ecp5")
    with pytest.raises(ValueError, match=r"dsp='xc7' is out of range"):
        Datapath(**kw, pipeline="deep", dsp="xc7")
    with pytest.raises(ValueError, match="pipeline='deeper' is out of range"):
        MacArray(bits=8, input_signed=True, weight_signed=True, rows=2, cols=2,
                 pipeline="deeper")
    with pytest.raises(ValueError, match="dsp='ecp5' with pipeline='standard'"):
        Requantizer(cols=1, acc_bits=32, out_bits=8, out_signed=True, rounding="double",
                    per_channel=True, dsp="ecp5")


def test_deep_latency_is_four_more():
    """In the MAC array one cycle for the registered weight write and one register stage per
    adder-tree level (two levels per stage in ``standard``: +1 for R = 4), two in the
    requantizer (the split first saturation and the split output stage); the top's latency
    is their sum."""
    for rows, more in ((1, 1), (2, 1), (3, 2), (4, 2), (5, 2), (16, 3), (256, 5)):
        assert MacArray.latency_for(rows=rows, pipeline="deep") == (
            MacArray.latency_for(rows=rows) + more), rows
    assert Requantizer.latency_for("deep") == Requantizer.LATENCY + 2
    params = dict(CONFIGS["int8_4x4"], pipeline="deep")
    assert Datapath(**params).latency_breakdown == {
        "mac_array": 5, "accumulator_bank": 1, "requantizer": 14}


def test_registered_product_refuses_wide_operands():
    from amaranth.hdl import Module, Signal
    m = Module()
    with pytest.raises(ValueError, match="does not fit the signed 18-bit DSP operand"):
        registered_product(m, Signal(unsigned(18)), Signal(signed(8)), ce_in=1, ce_out=1,
                           name="p", dsp="ecp5")
