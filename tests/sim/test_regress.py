"""The cocotb regression end to end: every testbench, int8/int4/int16, Icarus and Verilator.

One build directory per (configuration, simulator) under ``build/test-sim`` (or
``$QMAC_TEST_BUILD_DIR``), reused while nothing changed. Vector counts are small to keep
CI short; ``qmac regress`` defaults are larger. A missing simulator is a skip locally and a
failure under ``CI=true`` (``sim.tools.require_simulators`` raises, the test fails).

Also: a deliberately broken DUT (``inject_fault="rounding_off_by_one"``) must fail with a
replay command that reproduces the same mismatches, and a single flipped bit in one lane of
one captured vector must be reported as exactly that lane (the fast path compares every
lane, not aggregates).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sim.cli import main
from sim.config import load_config
from sim.regress import TESTBENCHES, run_regress
from tests.helpers.simulators import need

REPO = Path(__file__).resolve().parents[2]
VECTORS = {"icarus": 6, "verilator": 300}




def _regress(cfg, sim, out, build_root, **kw):
    buf = io.StringIO()
    kw.setdefault("rerun_waves", False)
    rc = run_regress(cfg, sims=[sim], seed=kw.pop("seed", 12345),
                     vectors=kw.pop("vectors", VECTORS[sim]), waves=False, jobs=2, outdir=out,
                     build_root=build_root, stream=buf, progress=False, **kw)
    return rc, buf.getvalue()


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("config", ["int8", "int4", "int16"])
def test_regress_passes(config, sim, tmp_path, build_root, in_ci):
    need(sim, in_ci)
    cfg = load_config(REPO / "constraints" / f"{config}.yaml")
    rc, text = _regress(cfg, sim, tmp_path / "out", build_root)
    assert rc == 0, text
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["passed"] is True
    rows = {r["test"]: r for r in summary["results"]}
    assert set(rows) == set(TESTBENCHES)
    for name, r in rows.items():
        assert r["status"] == "pass" and r["sim"] == sim, (name, r["message"])
        assert r["vectors"] > 0 and r["mismatches"] == 0, name
        assert Path(r["log"]).is_file()
    junit = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    cases = list(junit.iter("testcase"))
    assert cases and not list(junit.iter("failure"))
    # the summary table names every testbench and the simulator
    for name in TESTBENCHES:
        assert re.search(rf"^{name}\s+{sim}\s+PASS\s+[1-9]", text, re.M), text


def test_broken_dut_is_caught_and_replays(tmp_path, build_root, in_ci, monkeypatch):
    """Off-by-one rounding fault: non-zero exit, JUnit/JSON/log, replay reproduces it."""
    need("icarus", in_ci)
    cfg = load_config(REPO / "constraints" / "int8.yaml")
    out = tmp_path / "out"
    rc, text = _regress(cfg, "icarus", out, build_root, inject_fault="rounding_off_by_one",
                        tests=["requantizer"], rerun_waves=True)
    assert rc == 1, text
    replay = re.search(r"^  replay: (qmac regress .*)$", text, re.M)
    assert replay, text
    cmd = replay.group(1)
    for part in ("--sim icarus", "--seed 12345", "--tests requantizer",
                 "--inject-fault rounding_off_by_one", f"--vectors {VECTORS['icarus']}"):
        assert part in cmd
    summary = json.loads((out / "summary.json").read_text())
    row = summary["results"][0]
    assert row["status"] == "fail" and row["mismatches"] > 0
    assert Path(row["log"]).is_file() and "MISMATCH" in Path(row["log"]).read_text()
    assert row["waves"] and Path(row["waves"]).is_file()        # automatic re-run with waves
    assert list(ET.parse(out / "junit.xml").getroot().iter("failure"))
    first = row["first_mismatches"][0]
    # the printed command reproduces the same mismatches
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    monkeypatch.setenv("QMAC_RERUN_WAVES", "0")
    argv = shlex.split(cmd)[1:] + ["-o", str(tmp_path / "replay")]
    assert main(argv) == 1
    again = json.loads((tmp_path / "replay" / "summary.json").read_text())["results"][0]
    assert again["mismatches"] == row["mismatches"]
    assert again["first_mismatches"][0] == first


@pytest.mark.parametrize("lane,bit", [(3, 0), (15, 7)], ids=["lane3-lsb", "last-lane-sign"])
def test_fast_path_catches_one_flipped_bit(tmp_path, build_root, in_ci, monkeypatch, lane, bit):
    """One bit of one lane of output vector 5 flipped in the captured data: exactly it fails,
    reported as that beat and lane with the expected and the received value."""
    need("verilator", in_ci)
    cfg = load_config(REPO / "constraints" / "int8.yaml")
    monkeypatch.setenv("QMAC_PLANT", f"5,{lane},{bit}")
    rc, text = _regress(cfg, "verilator", tmp_path / "out", build_root, tests=["datapath"])
    assert rc == 1, text
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    row = summary["results"][0]
    runs = [tc for tc in row["testcases"]]
    assert runs and all(not tc["passed"] for tc in runs)
    # exactly one mismatch per fast-path run, each one naming beat 5 and the planted lane
    assert row["mismatches"] == len(runs)
    beats = [m for m in row["first_mismatches"] if "output beat" in m]
    assert len(beats) == len(runs), row["first_mismatches"]
    pattern = re.compile(rf"output beat 5 lane {lane} y: expected (-?\d+), got (-?\d+)")
    for m in beats:
        found = pattern.search(m)
        assert found, m
        expected, got = (int(v) for v in found.groups())
        assert (expected ^ got) & 0xFF == 1 << bit     # exactly the planted bit differs


def test_unknown_testbench_is_a_user_error(tmp_path):
    from sim.errors import UserError
    cfg = load_config(REPO / "constraints" / "int8.yaml")
    with pytest.raises(UserError, match=r"--tests: 'nope' is not a testbench; allowed: mac_array"):
        run_regress(cfg, sims=["icarus"], seed=1, vectors=1, waves=False, jobs=1,
                    outdir=tmp_path, tests=["nope"])
