"""sim/runner.py: build caching, crash and hang handling, per-test logs, waveforms."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from sim.config import load_config
from sim.regress import prepare
from sim.runner import build, run_test
from tests.helpers.processes import live_processes
from tests.helpers.simulators import need

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
    need("icarus", in_ci)
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


def _run_module(b, tmp_path, monkeypatch, name, source, timeout):
    """Run the cocotb module ``source`` (as ``qmac_<name>_tb``) on build ``b``."""
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / f"qmac_{name}_tb.py").write_text(source)
    monkeypatch.setenv("PYTHONPATH", str(mod))
    return run_test(b, module=f"qmac_{name}_tb", test_dir=tmp_path / "run", seed=1, vectors=1,
                    timeout=timeout, log_name=name)


@pytest.mark.parametrize("kind", ["hang", "crash"])
def test_hang_and_crash_are_failures_with_log(kind, icarus_build, tmp_path, monkeypatch):
    _, _, b = icarus_build
    run = _run_module(b, tmp_path, monkeypatch, kind, HANG if kind == "hang" else CRASH,
                      timeout=15 if kind == "hang" else 120)
    assert not run.passed
    assert run.status == ("timeout" if kind == "hang" else "error")
    assert str(run.log_path) in run.message
    assert run.log_path.is_file()
    if kind == "hang":
        assert run.wall < 60
    else:
        assert "crash" in run.message


SEGV = '''
import os
import signal
import cocotb
from cocotb.triggers import ClockCycles

@cocotb.test()
async def segv(dut):
    await ClockCycles(dut.clk, 3)
    os.kill(os.getpid(), signal.SIGSEGV)   # the simulator process dies by a signal
'''

STOPPED = '''
import os
import signal
import cocotb
from cocotb.triggers import ClockCycles

@cocotb.test()
async def stopped(dut):
    await ClockCycles(dut.clk, 3)
    os.kill(os.getpid(), signal.SIGSTOP)   # a stopped simulator: SIGTERM stays pending
'''


def test_signal_death_is_named(icarus_build, tmp_path, monkeypatch):
    _, _, b = icarus_build
    run = _run_module(b, tmp_path, monkeypatch, "segv", SEGV, timeout=120)
    assert run.status == "error" and "killed by SIGSEGV" in run.message, run.message


def test_stopped_simulator_is_killed_on_timeout(icarus_build, tmp_path, monkeypatch):
    _, _, b = icarus_build
    run = _run_module(b, tmp_path, monkeypatch, "stopped", STOPPED, timeout=8)
    assert run.status == "timeout", run.message
    assert not live_processes(str(tmp_path)), "a process of the test survived"


def test_damaged_build_cache_is_detected_and_rebuilt(icarus_build, tmp_path):
    prep, _, _ = icarus_build
    args = dict(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=prep.hp,
                sim="icarus", build_root=tmp_path / "b", tag="t")
    first = build(**args)
    vvp = first.build_dir / "sim.vvp"
    data = vvp.read_bytes()
    vvp.write_bytes(data[: len(data) // 2])          # truncated program, stamp unchanged
    again = build(**args)
    assert again.rebuilt and "damaged build cache" in again.note and str(vvp) in again.note
    assert vvp.stat().st_size > len(data) // 2   # a whole program again
    assert not build(**args).rebuilt


def test_oversized_waveform_stops_the_run(tmp_path):
    """The waveform cap (QMAC_MAX_WAVES_MB) is watched while the test runs."""
    import subprocess
    import sys
    from sim.runner import _kill_group, _supervise
    waves = tmp_path / "t.fst"
    writer = ("import sys, time\n"
              "with open(sys.argv[1], 'wb') as f:\n"
              "    while True:\n"
              "        f.write(bytes(1 << 16)); f.flush(); time.sleep(0.01)\n")
    proc = subprocess.Popen([sys.executable, "-c", writer, str(waves)], start_new_session=True)
    try:
        rc, why = _supervise(proc, timeout=60, waves=waves, waves_limit=1 << 20)
    finally:
        _kill_group(proc)
    assert (rc, why) == (None, "waves") and waves.stat().st_size > 1 << 20
    assert proc.poll() is not None


def test_kill_descendants_reaches_grandchildren(tmp_path):
    import subprocess
    import sys
    from sim.runner import kill_descendants
    marker = str(tmp_path / "marker")
    inner = f"import time; time.sleep(120)  # {marker}"
    outer = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {inner!r}],"
             f" start_new_session=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", outer])
    deadline = time.time() + 30
    while time.time() < deadline and len(live_processes(marker)) < 1:
        time.sleep(0.1)
    assert live_processes(marker)
    kill_descendants()
    proc.wait(timeout=10)
    assert not live_processes(marker)


def test_verilator_x_values_follow_the_seed_and_the_testbench():
    from sim.runner import verilator_x_plusargs
    a = verilator_x_plusargs(5, "cocotb_crossbar_layers")
    assert a == verilator_x_plusargs(5, "cocotb_crossbar_layers")     # replayable
    assert a[0] == "+verilator+rand+reset+2" and a[1].startswith("+verilator+seed+")
    assert a != verilator_x_plusargs(6, "cocotb_crossbar_layers")
    assert a != verilator_x_plusargs(5, "cocotb_crossbar_adc")
    assert all(int(verilator_x_plusargs(s, "m")[1].rsplit("+", 1)[1]) > 0   # a positive seed
               for s in (0, 2**31 - 2, 2**40))
