"""sim/runner.py: build caching, crash and hang handling, per-test logs, waveforms."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sim.config import load_config
from sim.errors import ToolError
from sim.regress import prepare
from sim.runner import build, run_test
from sim.tools import require_simulators

REPO = Path(__file__).resolve().parents[2]

HANG = '''
import cocotb
from cocotb.triggers import Timer

@cocotb.test()
async def hang(dut):
    await Timer(10**15, "ns")   # the harness clock keeps the simulator busy forever
'''

CRASH = '''
import os
import cocotb
from cocotb.triggers import ClockCycles

@cocotb.test()
async def crash(dut):
    await ClockCycles(dut.clk, 3)
    os._exit(7)                 # the simulator dies without writing results
'''


@pytest.fixture(scope="module")
def icarus_build(tmp_path_factory, in_ci):
    try:
        require_simulators(["icarus"], ci=in_ci)
    except ToolError as exc:
        if in_ci:
            raise
        pytest.skip(str(exc))
    root = Path(os.environ.get("QMAC_TEST_BUILD_DIR") or REPO / "build" / "test-sim")
    prep = prepare(load_config(REPO / "constraints" / "int8.yaml"), root)
    return prep, root, build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel,
                             hp=prep.hp, sim="icarus", build_root=root, tag=prep.tag)


def test_build_is_reused_and_rebuilt_on_change(icarus_build, tmp_path):
    prep, root, b = icarus_build
    again = build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=prep.hp,
                  sim="icarus", build_root=root, tag=prep.tag)
    assert not again.rebuilt and again.build_dir == b.build_dir
    stamp = json.loads((b.build_dir / "qmac_build.json").read_text())
    assert stamp["key"]["verilog"] and stamp["key"]["parameters"]["COLS"] == prep.hp.cols
    # a changed Verilog file (same path, same parameters) forces a rebuild
    v = tmp_path / prep.verilog_path.name
    v.write_text(prep.verilog_path.read_text() + "\n// touched\n")
    changed = build(verilog_path=v, dut_toplevel=prep.toplevel, hp=prep.hp, sim="icarus",
                    build_root=tmp_path / "b", tag="t")
    assert changed.rebuilt
    same = build(verilog_path=v, dut_toplevel=prep.toplevel, hp=prep.hp, sim="icarus",
                 build_root=tmp_path / "b", tag="t")
    assert not same.rebuilt
    v.write_text(prep.verilog_path.read_text() + "\n// touched twice\n")
    assert build(verilog_path=v, dut_toplevel=prep.toplevel, hp=prep.hp, sim="icarus",
                 build_root=tmp_path / "b", tag="t").rebuilt


@pytest.mark.parametrize("kind", ["hang", "crash"])
def test_hang_and_crash_are_failures_with_log(kind, icarus_build, tmp_path, monkeypatch):
    _, _, b = icarus_build
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / f"qmac_{kind}_tb.py").write_text(HANG if kind == "hang" else CRASH)
    monkeypatch.setenv("PYTHONPATH", str(mod))
    run = run_test(b, module=f"qmac_{kind}_tb", test_dir=tmp_path / "run", seed=1, vectors=1,
                   timeout=15 if kind == "hang" else 120, log_name=kind)
    assert not run.passed
    assert run.status == ("timeout" if kind == "hang" else "error")
    assert str(run.log_path) in run.message
    assert run.log_path.is_file()
    if kind == "hang":
        assert run.wall < 60
    else:
        assert "crash" in run.message
