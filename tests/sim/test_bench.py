"""``qmac bench`` (sim/bench.py): smoke runs on both simulators, target bookkeeping, errors.

The smoke runs use a tiny cycle count on int4: they check that all four paths — naive
per-cycle cocotb, the cycle-driven Driver/Monitor, the fast path and the Python-free native
run — were measured on the same DUT and every output matched golden, and that the tables
and ``bench.json`` carry what the README shows. They never assert a speed: timings are
reported by ``qmac bench``, not tested. A missing simulator is a skip locally and a
failure under ``CI=true``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim.bench import PATHS, TARGETS, _targets, run_bench
from sim.config import load_config
from tests.helpers.simulators import need

REPO = Path(__file__).resolve().parents[2]
#: fast/native cycles of the smoke runs (naive and cycle-driven: 400 data beats, tb/cocotb_bench.py)
CYCLES = {"verilator": 3000, "icarus": 120}




@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_bench_smoke(sim, tmp_path, build_root, in_ci):
    need(sim, in_ci)
    cfg = load_config(REPO / "constraints" / "int4.yaml")
    buf = io.StringIO()
    out = tmp_path / "bench"
    rc = run_bench(cfg, sims=[sim], cycles=CYCLES[sim], outdir=out, regress_timing=False,
                   build_root=build_root, stream=buf, progress=False)
    text = buf.getvalue()
    assert rc == 0, text

    # the results table: every column, one row per path with a non-zero cycle count
    head = next(ln for ln in text.splitlines() if ln.startswith("simulator  path"))
    for col in ("cycles", "outputs", "mismatches", "sim wall", "cycles/s", "verified MAC/s",
                "verified out/s", "test wall"):
        assert col in head, head
    for label in PATHS.values():
        assert re.search(rf"^{sim}\s+{re.escape(label)}\s+[1-9]\d*\s+[1-9]\d*\s+0\s", text,
                         re.M), (label, text)
    assert re.search(r"\(c\)/\(a\) fast/naive.*\(c\)/\(d\) fast/native", text), text
    assert re.search(rf"^{sim}\s+\d+\.\dx\s+\d+\.\dx\s+\d+%", text, re.M), text
    assert re.search(r"^target \(issue 6\)\s+required\s+measured\s+met\?", text, re.M), text
    assert "machine: " in text and "cores" in text
    assert "qmac bench: PASS" in text

    data = json.loads((out / "bench.json").read_text())
    assert data["passed"] is True
    info = data["sims"][sim]
    assert set(info["paths"]) == {"naive", "cycle", "fast", "native"}
    for name, d in info["paths"].items():
        assert d["cycles"] > 0 and d["wall"] > 0 and d["cycles_per_s"] > 0, name
        assert d["vectors"] > 0 and d["lanes"] == 2 * d["vectors"] * cfg.cols, name
        assert d["mismatches"] == 0, (name, d["first"])
        assert d["macs"] > 0 and d["verified_macs_per_s"] > 0 and d["verified_outputs_per_s"] > 0
    # fast and native replay the same stream: same outputs, same MACs
    fast, native = info["paths"]["fast"], info["paths"]["native"]
    assert fast["vectors"] == native["vectors"] and fast["macs"] == native["macs"]
    assert info["cycles"] == CYCLES[sim]
    for key in ("fast_over_naive", "fast_over_cycle", "fast_over_native"):
        assert info["ratios"][key] > 0
    m = data["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["simulator_versions"][sim]
    assert {t["key"] for t in data["targets"]} == set(TARGETS)
    assert Path(info["log"]).is_file()


def _info(fast, naive, native):
    return {"ratios": {"fast_over_naive": fast / naive, "fast_over_native": fast / native}}


def test_targets_are_reported_not_asserted():
    cfg = load_config(REPO / "constraints" / "int8.yaml")
    sims = {"verilator": _info(400e3, 10e3, 500e3), "icarus": _info(900, 100, 1000)}
    regress = {"cold": {"wall_seconds": 250.0, "passed": True, "returncode": 0, "log": "c"},
               "warm": {"wall_seconds": 40.0, "passed": True, "returncode": 0, "log": "w",
                        "rebuilt": []}}
    macs = {"wall_seconds": 20.0, "macs": 12_000_000, "returncode": 0, "summary": "s"}
    rows = {t["key"]: t for t in _targets(cfg, sims, regress, macs, ["icarus", "verilator"])}
    assert rows["verilator_fast_vs_naive"]["met"] is True
    assert rows["verilator_fast_vs_naive"]["measured"] == "40.0x"
    assert rows["verilator_fast_vs_native"]["met"] is True
    assert rows["verilator_fast_vs_native"]["measured"] == "80%"
    assert rows["icarus_fast_vs_naive"]["met"] is False
    assert rows["regress_warm"]["met"] is True and rows["regress_cold"]["met"] is False
    assert rows["macs_10m"]["met"] is True
    # too few MACs, or a failing regression, is never "met"
    few = dict(macs, macs=9_000_000)
    assert {t["key"]: t for t in _targets(cfg, sims, regress, few, ["verilator"])}[
        "macs_10m"]["met"] is False
    # Verilator only: nothing said about Icarus, and regress timing of one simulator is no verdict
    rows = {t["key"]: t for t in _targets(cfg, {"verilator": sims["verilator"]}, regress, None,
                                          ["verilator"])}
    assert rows["icarus_fast_vs_naive"]["met"] is None
    assert rows["regress_warm"]["met"] is None and "verilator only" in rows["regress_warm"]["measured"]
    assert rows["regress_cold"]["met"] is False          # already over the limit on one
    assert rows["macs_10m"]["met"] is None


def test_missing_simulator_is_one_line_exit_2(tmp_path):
    env = dict(os.environ, PATH=str(Path(sys.executable).parent), CI="")
    res = subprocess.run([sys.executable, "-m", "sim.cli", "bench", "--sim", "icarus",
                          "-o", str(tmp_path / "b")], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qmac: error: "), res.stderr
    assert "iverilog" in lines[0] and "--sim" in lines[0]
    assert not (tmp_path / "b" / "bench.json").exists()


def test_native_runs_split_into_self_contained_pieces(tmp_path, build_root, in_ci):
    """Long streams run natively as fresh processes: each piece reloads the weights."""
    need("verilator", in_ci)
    import numpy as np

    from sim.bench import _bench_program, _Native
    from sim.regress import prepare
    from sim.runner import build_native
    from tb.checker import Checker, decode_outputs
    from tb.schedule import KIND_DATA

    prep = prepare(load_config(REPO / "constraints" / "int4.yaml"), build_root)
    program = build_native(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel,
                           hp=prep.hp, sim="verilator", build_root=build_root, tag=prep.tag)
    native = _Native(program, "verilator", prep.hp, tmp_path)
    prog = _bench_program(prep.hp, 7, 1000)
    d0 = int(np.flatnonzero(prog.stream.kind == KIND_DATA)[0])
    native.chunk = d0 + 4 * 37 + 3          # room for 37 whole accumulations, not 38
    pieces = native.chunks(prog.stream)
    assert len(pieces) > 1
    data = []
    for p in pieces:
        assert len(p) <= native.chunk
        np.testing.assert_array_equal(p.bits[:d0], prog.stream.bits[:d0])   # the load prefix
        assert p.is_last[-1] and (p.kind[d0:] == KIND_DATA).all()
        data.append(p.bits[d0:])
    np.testing.assert_array_equal(np.concatenate(data), prog.stream.bits[d0:])
    cycles, raw, net, bits, unknown, runs = native.run(prog.stream, timeout=300)
    assert runs == len(pieces) and cycles > len(prog.stream)
    res = Checker(prep.hp, prog).check(*decode_outputs(prep.hp, bits), unknown=unknown)
    assert res.ok and res.vectors == prog.n_outputs, res.format()
