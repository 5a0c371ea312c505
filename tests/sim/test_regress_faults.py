"""Fault scenarios of ``qmac regress`` (issue 13), on a tiny configuration under Icarus:

* Ctrl-C (SIGINT to the process group, as a terminal sends it) 8 s into a 5-test run: the
  run returns within 5 s, no process is left, ``summary.json`` and ``junit.xml`` are
  written and name what passed and what was interrupted;
* SIGTERM to the ``qmac`` process alone: the same, exit status 143;
* a truncated simulator program in the build cache is detected and rebuilt on the next run;
* a second run on the same ``-o`` while the first is running is refused with one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sim.config import load_config
from sim.regress import prepare
from sim.runner import build
from tests.helpers.processes import live_processes
from tests.helpers.simulators import need

REPO = Path(__file__).resolve().parents[2]
TINY = "name: tiny\noperands: {bits: 4}\narray: {rows: 4, cols: 4, weight_tiles: 2}\n"
#: the run must be back this many seconds after the signal
RETURN_SECONDS = 5.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, in_ci):
    """The tiny configuration, generated and built for Icarus in a private build cache."""
    need("icarus", in_ci)
    root = tmp_path_factory.mktemp("faults")
    cfg_path = root / "tiny.yaml"
    cfg_path.write_text(TINY)
    build_root = root / "build"
    prep = prepare(load_config(cfg_path), build_root)
    b = build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=prep.hp,
              sim="icarus", build_root=build_root, tag=prep.tag)
    return root, cfg_path, build_root, b


class Regress:
    """``qmac regress`` in its own process group, its stderr collected line by line."""

    def __init__(self, tiny, out: Path, *extra: str, vectors: int = 40):
        root, cfg_path, build_root, _ = tiny
        env = dict(os.environ, QMAC_BUILD_DIR=str(build_root), QMAC_RERUN_WAVES="0",
                   PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "regress", str(cfg_path), "--sim", "icarus",
             "-j", "1", "--seed", "3", "--vectors", str(vectors), "-o", str(out), *extra],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        self.t0 = time.monotonic()
        self.lines: list[str] = []
        self.stdout = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            if any(text in ln for ln in self.lines):
                return True
            time.sleep(0.1)
        return any(text in ln for ln in self.lines)

    def finish(self, timeout: float) -> int:
        try:
            self.proc.wait(timeout=timeout)
            self.stdout = self.proc.stdout.read()
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self._reader.join(5)
            self.proc.stdout.close()
            self.proc.stderr.close()
        return self.proc.returncode


def _interrupt_run(tiny, tmp_path, sig: int, *, group: bool) -> tuple[Regress, float]:
    run = Regress(tiny, tmp_path / "o")
    # 8 s in — and after the first test finished, so "passed" has something to name
    assert run.wait_for(": PASS", 120), "".join(run.lines)
    time.sleep(max(0.0, 8.0 - (time.monotonic() - run.t0)))
    assert run.proc.poll() is None, "the run ended before it could be interrupted"
    t_sig = time.monotonic()
    if group:
        os.killpg(run.proc.pid, sig)
    else:
        run.proc.send_signal(sig)
    run.finish(timeout=60)
    return run, time.monotonic() - t_sig


def _check_interrupted(run: Regress, out: Path, returned: float, reason: str, tmp_path):
    err = "".join(run.lines)
    print(f"{reason}: returned {returned:.2f} s after the signal "
          f"({time.monotonic() - run.t0:.1f} s into the run)")
    assert returned < RETURN_SECONDS, err[-2000:]
    assert run.proc.returncode == 128 + getattr(signal, reason), err[-2000:]
    assert "Traceback" not in err and "Traceback" not in run.stdout
    assert not live_processes(str(tmp_path)), live_processes(str(tmp_path))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] == reason and not summary["passed"]
    results = {f"{r['sim']}:{r['test']}": r["status"] for r in summary["results"]}
    assert len(results) == 5, results
    assert summary["passed_tests"] and summary["interrupted_tests"], results
    assert set(summary["passed_tests"]) == {k for k, v in results.items() if v == "pass"}
    assert set(results.values()) <= {"pass", "interrupted"}, results
    suites = ET.parse(out / "junit.xml").getroot()
    assert len(list(suites.iter("testcase"))) >= 5
    assert f"INTERRUPTED ({reason})" in run.stdout
    assert not list(out.rglob("*.tmp")), "temporary files left behind"


def test_ctrl_c_stops_within_seconds_and_still_reports(tiny, tmp_path):
    run, returned = _interrupt_run(tiny, tmp_path, signal.SIGINT, group=True)
    _check_interrupted(run, tmp_path / "o", returned, "SIGINT", tmp_path)


def test_sigterm_stops_every_child(tiny, tmp_path):
    run, returned = _interrupt_run(tiny, tmp_path, signal.SIGTERM, group=False)
    _check_interrupted(run, tmp_path / "o", returned, "SIGTERM", tmp_path)


def test_damaged_build_cache_is_rebuilt_on_the_next_run(tiny, tmp_path):
    *_, b = tiny
    vvp = b.build_dir / "sim.vvp"
    vvp.write_bytes(vvp.read_bytes()[:100])  # truncated; the stamp still matches the key
    run = Regress(tiny, tmp_path / "o", "--tests", "mac_array", vectors=4)
    rc = run.finish(timeout=300)
    err = "".join(run.lines)
    assert rc == 0, err[-3000:] + run.stdout[-2000:]
    assert "damaged build cache" in err and str(vvp) in err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["builds"][0]["rebuilt"] and "damaged" in summary["builds"][0]["note"]


def test_second_run_on_the_same_output_is_refused(tiny, tmp_path):
    out = tmp_path / "o"
    first = Regress(tiny, out)
    try:
        assert first.wait_for("build icarus", 120), "".join(first.lines)
        t0 = time.monotonic()
        second = Regress(tiny, out, vectors=4)
        rc = second.finish(timeout=60)
        lines = [ln for ln in second.lines if ln.strip()]
        assert rc == 2 and len(lines) == 1, "".join(second.lines)
        assert "another qmac regress" in lines[0] and str(out) in lines[0]
        assert second.stdout == ""
        print(f"second run refused in {time.monotonic() - t0:.2f} s")
        assert first.proc.poll() is None  # the first run is not disturbed
    finally:
        if first.proc.poll() is None:
            os.killpg(first.proc.pid, signal.SIGINT)
        first.finish(timeout=60)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["vectors"] == {"icarus": 40}


def test_sigterm_during_verify_leaves_no_process(tiny, tmp_path):
    """Outside ``qmac regress`` SIGTERM unwinds like Ctrl-C: the test child's process group
    is killed on the way out, exit status 143, one line."""
    import numpy as np
    root, cfg_path, build_root, _ = tiny
    rng = np.random.default_rng(2)
    vec = tmp_path / "layer.npz"
    np.savez(vec, x=rng.integers(-8, 8, (400, 8)).astype(np.int8),
             w=rng.integers(-8, 8, (4, 8)).astype(np.int8), m0=np.int32(1 << 30),
             shift=np.int32(-3), x_zp=np.int32(0), y_zp=np.int32(0))
    env = dict(os.environ, QMAC_BUILD_DIR=str(build_root), PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "verify", str(cfg_path),
                             "--vectors", str(vec), "--sim", "icarus", "-o",
                             str(tmp_path / "out.npz"), "--workdir", str(tmp_path / "w")],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and not any("sim.runner child" in s
                                                 for s in live_processes(str(tmp_path))):
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    print(f"verify: returned {time.monotonic() - t0:.2f} s after SIGTERM")
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "qmac: interrupted (SIGTERM)"
    assert "Traceback" not in err
    assert not live_processes(str(tmp_path)), live_processes(str(tmp_path))
    assert not (tmp_path / "out.npz").exists()
