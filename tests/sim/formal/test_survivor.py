"""Mutation survivors proved by the product miter (``qmac equiv --mutant``).

A small scan controller shaped like ``hw/adc_interface.py`` (pending bits set together
with ``busy``, a code captured when its converter is done): the mutant ``busy & done`` ->
``busy | done`` of the capture condition changes the captured register only while it is
not read, so it is equivalent — but only through invariants of the reachable states. The
tests check that the proof needs them (without: NOT PROVED, the induction fails, the base
case holds), that a real bug fails from the initial state, that a masked combinational
change proves without any, and that a wrong invariant is not taken on trust.
"""

import pytest

from sim.formal.survivor import invariant_module, product_proof

_SCAN = r"""
module scan(input clk, input rst, input go, input done, input [3:0] code, input ready,
            output reg busy = 1'h0, output reg valid = 1'h0, output [3:0] out);
  reg pending = 1'h0;
  reg [3:0] raw = 4'h0;
  wire take;
  assign take = (busy & done) & pending;
  assign out = valid ? raw : 4'h0;
  always @(posedge clk) begin
    if (take) raw <= code;
  end
  always @(posedge clk) begin
    if (rst) begin busy <= 1'h0; pending <= 1'h0; valid <= 1'h0; end
    else begin
      if (valid & ready) valid <= 1'h0;
      if (!busy) begin
        if (go & (!valid | ready)) begin busy <= 1'h1; pending <= 1'h1; end
      end else begin
        if (done) pending <= 1'h0;
        if (done | !pending) begin busy <= 1'h0; valid <= 1'h1; end
      end
    end
  end
endmodule
"""

_MUTANT = _SCAN.replace("(busy & done) & pending", "(busy | done) & pending")
_INVARIANTS = ("!gold.pending || gold.busy", "!(gold.busy && gold.valid)",
               "gate.raw == gold.raw || (!gold.valid && (!gold.busy || gold.pending))")


def test_survivor_proved_with_its_invariants(formal_tools, tmp_path):
    res = product_proof(_SCAN, _MUTANT, "scan", tmp_path, diverged=("raw",),
                        invariants=_INVARIANTS)
    assert res.proved and res.verdict == "PROVED", res.log
    assert res.own == 1 and res.tied >= 3


def test_without_the_invariants_only_bounded(formal_tools, tmp_path):
    res = product_proof(_SCAN, _MUTANT, "scan", tmp_path, diverged=("raw",), depth=3)
    assert not res.proved and res.verdict.startswith("NOT PROVED (bounded"), res.verdict


def test_real_bug_fails_from_reset(formal_tools, tmp_path):
    bug = _SCAN.replace("assign out = valid ? raw : 4'h0;", "assign out = busy ? raw : 4'h0;")
    res = product_proof(_SCAN, bug, "scan", tmp_path, depth=4)
    assert not res.proved and res.verdict.startswith("FAILED (the outputs differ"), res.verdict


def test_wrong_invariant_is_not_trusted(formal_tools, tmp_path):
    # "busy never rises" is false from the initial state: the proof must fail, not assume it
    res = product_proof(_SCAN, _MUTANT, "scan", tmp_path, diverged=("raw",),
                        invariants=(*_INVARIANTS, "!gold.busy"), depth=3)
    assert not res.proved and res.verdict.startswith("NOT PROVED (an invariant fails"), \
        res.verdict


def test_a_tied_register_that_differs_is_named(formal_tools, tmp_path):
    # without diverged=("raw",) the mutant's raw is tied to the original's, whose next
    # state differs while the scan waits: not a counterexample, a register to keep apart
    res = product_proof(_SCAN, _MUTANT, "scan", tmp_path, invariants=_INVARIANTS, depth=3)
    assert not res.proved and "a tied register differs" in res.verdict, res.verdict
    assert ": raw;" in res.verdict


def test_masked_change_proved_without_invariants(formal_tools, tmp_path):
    # bit 0 of the sum is never read: the product reduces to nothing
    gold = _SCAN.replace("assign out = valid ? raw : 4'h0;",
                         "wire [4:0] s;\n  assign s = { raw, 1'h0 };\n"
                         "  assign out = valid ? s[4:1] : 4'h0;")
    res = product_proof(gold, gold.replace("{ raw, 1'h0 }", "{ raw, 1'h1 }"), "scan", tmp_path)
    assert res.proved and res.cells <= 1, res.log


def test_invariant_naming_a_missing_signal():
    il = "  wire width 4 \\gold.raw\n  wire \\gold.busy\n"
    with pytest.raises(ValueError, match="gold.nope"):
        invariant_module(il, ("gold.nope == 1'h0",))
    verilog, cell = invariant_module(il, ("gold.raw[1] || gold.busy",))
    assert "input [3:0] s0, input [0:0] s1" in verilog and "assert (s0[1] || s1)" in verilog
