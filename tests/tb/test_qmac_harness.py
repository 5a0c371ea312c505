"""The SystemVerilog harness (tb/qmac_harness.sv) and native top (tb/qmac_native.sv).

* Verilator ``--lint-only -Wall`` is clean for both (a port-compatible stub stands in for the
  generated DUT and is excluded from lint);
* Icarus 11 compiles both with ``-g2012`` and the native top runs a command file end to
  end (END handling, GAP commands, capture, ``$writememh``) against the stub.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from sim.errors import ToolError
from sim.runner import HARNESS, ROOT
from sim.tools import find_icarus, find_simulator

NATIVE = ROOT / "tb" / "qmac_native.sv"

# A stub with the Datapath's ports: echoes each `last` data beat's x (first 16 bits) to y.
STUB = """
module qmac_stub(input clk, input rst,
  input i_load__valid, input [138:0] i_load__payload, output i_load__ready,
  input i_data__valid, input [133:0] i_data__payload, output i_data__ready,
  output reg o_data__valid, output reg [143:0] o_data__payload, input o_data__ready,
  output [15:0] o_ovf_sticky);
  assign i_load__ready = !o_data__valid;
  assign i_data__ready = !o_data__valid || o_data__ready;
  assign o_ovf_sticky = 16'h0;
  always @(posedge clk) begin
    if (rst) o_data__valid <= 1'b0;
    else begin
      if (o_data__valid && o_data__ready) o_data__valid <= 1'b0;
      if (i_data__valid && i_data__ready && i_data__payload[133]) begin
        o_data__valid <= 1'b1;
        o_data__payload <= {16'h0, i_data__payload[127:0]};
      end
    end
  end
endmodule
"""


def _sim_or_skip(name, in_ci):
    try:
        return find_simulator(name) if name == "verilator" else find_icarus()
    except ToolError as exc:
        if in_ci:
            raise
        pytest.skip(str(exc))


def test_harness_lint_clean(tmp_path, in_ci):
    _sim_or_skip("verilator", in_ci)
    stub = tmp_path / "qmac_stub.v"
    stub.write_text(STUB)
    vlt = tmp_path / "stub.vlt"
    vlt.write_text('`verilator_config\nlint_off -file "*/qmac_stub.v"\n')
    for top, files in (("qmac_harness", [HARNESS]), ("qmac_native", [NATIVE, HARNESS])):
        res = subprocess.run(
            ["verilator", "--lint-only", "-Wall", "--timing", "-DQMAC_DUT=qmac_stub",
             "--top-module", top, str(vlt), *map(str, files), str(stub)],
            capture_output=True, text=True, env=os.environ)
        assert res.returncode == 0 and "%Warning" not in res.stderr, res.stderr


def test_native_run_on_icarus(tmp_path, in_ci):
    _sim_or_skip("icarus", in_ci)
    import numpy as np
    from sim.config import load_config
    from tb.hwparams import HwParams
    from tb.schedule import StreamBuilder, hex_to_bits

    hp = HwParams.from_config_dict(load_config().to_dict())
    sb = StreamBuilder(hp)
    sb.clear_sticky()
    x = np.arange(5 * hp.rows).reshape(5, hp.rows) % 100 - 50
    sb.gap([4])
    sb.data(x, 0, 1, [1, 0, 1, 1, 1])      # 4 outputs (beat 1 is not last)
    cmd = tmp_path / "cmd.bin"
    out = tmp_path / "out.hex"
    cmd.write_bytes(sb.build().with_end().to_bin())
    stub = tmp_path / "qmac_stub.v"
    stub.write_text(STUB)
    params = [f"-Pqmac_native.{k}={v}" for k, v in hp.harness_parameters().items()
              if k not in ("CMD_AW", "OUT_AW")] + ["-Pqmac_native.CMD_AW=10",
                                                   "-Pqmac_native.OUT_AW=10"]
    vvp = tmp_path / "native.vvp"
    subprocess.run(["iverilog", "-g2012", "-o", str(vvp), "-s", "qmac_native",
                    "-DQMAC_DUT=qmac_stub", *params, str(NATIVE), str(HARNESS), str(stub)],
                   check=True, capture_output=True)
    res = subprocess.run(["vvp", "-n", str(vvp), f"+qmac_cmd={cmd}", f"+qmac_out={out}"],
                         capture_output=True, text=True, check=True)
    assert "outputs=4" in res.stdout and "error=0" in res.stdout, res.stdout
    bits, unknown = hex_to_bits(out.read_text(), hp.out_width)
    assert bits.shape[0] == 4 and not unknown.any()
    from tb.schedule import field_values
    got = field_values(bits, 0, hp.bits, hp.rows, signed=True)
    np.testing.assert_array_equal(got, x[[0, 2, 3, 4]])
    # a command image that is not whole words is an error, not a silently corrupt run
    cmd.write_bytes(cmd.read_bytes()[:-1])
    res = subprocess.run(["vvp", "-n", str(vvp), f"+qmac_cmd={cmd}", f"+qmac_out={out}"],
                         capture_output=True, text=True, check=True)
    assert "not whole" in res.stdout and "error=1" in res.stdout, res.stdout
