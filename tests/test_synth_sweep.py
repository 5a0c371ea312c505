"""benchmarks/synth_sweep.py keeps a sweep on one pipeline and one design: a stored point is
only merged with (or kept beside) a point generated from the same Verilog, the standard
pipeline is forced on a deep config, and a rerun must give identical counts. No tool runs
here except ``qmac generate`` (a few seconds)."""

import json
import sys
from argparse import Namespace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
try:
    import synth_sweep
finally:
    sys.path.pop(0)


def _point(x, sha="a" * 64, **kw):
    p = {"bits": x, "lut": 100, "carry": 10, "ff": 50, "dsp": 4, "fmax_mhz": None, "fits": True,
         "over": [], "macs_per_cycle": 16, "nand2_equivalents": None, "generic_gates": None,
         "generic_ff": None, "verilog_sha256": sha, "tools": {"yosys": "1"},
         "cpu_s": {"ecp5": 1.0}, "synth_wall_s": {"ecp5": 2.0}}
    return {**p, **kw}


def _args(tmp_path, **kw):
    return Namespace(**{"json": str(tmp_path / "sweep.json"), "out": str(tmp_path),
                        "pipeline": "standard", "replace_changed": False, **kw})


def test_a_changed_verilog_stops_before_any_tool(tmp_path, monkeypatch):
    monkeypatch.setattr(synth_sweep, "generated_sha256", lambda *a: "b" * 64)
    stored = [_point(8), _point(4)]
    plan = [(8, "cfg.yaml", 8, tmp_path / "n8")]
    with pytest.raises(SystemExit, match="bits = 8: the generated Verilog changed"):
        synth_sweep._check_stored(_args(tmp_path), "bits", plan, stored)
    synth_sweep._check_stored(_args(tmp_path, replace_changed=True), "bits", plan, stored)
    assert [p["bits"] for p in stored] == [4]          # the changed point is dropped


def test_the_same_verilog_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(synth_sweep, "generated_sha256", lambda *a: "a" * 64)
    stored = [_point(8)]
    synth_sweep._check_stored(_args(tmp_path), "bits", [(8, "c", 8, tmp_path / "n8")], stored)
    assert len(stored) == 1


def test_a_file_of_another_pipeline_is_refused(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps({"pipeline": "deep", "points": []}))
    with pytest.raises(SystemExit, match="timing.pipeline: deep"):
        synth_sweep._stored_points(_args(tmp_path), "bits")


def test_merge_keeps_the_stored_fmax_and_generic_and_counts_the_rerun():
    stored = [_point(8, fmax_mhz=120.0, fmax_mhz_min=120.0, fmax_mhz_max=120.0, pnr_seeds=1,
                     critical_path={"delay_ns": 8.3}, nand2_equivalents=999,
                     generic_gates=900, generic_ff=20)]
    (q,) = synth_sweep._merged(stored, "bits", [_point(8, pipeline="standard")])
    assert (q["fmax_mhz"], q["pnr_seeds"], q["nand2_equivalents"]) == (120.0, 1, 999)
    assert q["reruns_identical"] == 1 and q["pipeline"] == "standard"


def test_merge_refuses_other_counts_from_the_same_verilog():
    with pytest.raises(SystemExit, match="not deterministic"):
        synth_sweep._merged([_point(8)], "bits", [_point(8, lut=101)])


def test_the_standard_copy_of_the_deep_reference_gives_the_stored_sweep_verilog(tmp_path):
    """benchmarks/int8_4x4.yaml is deep; the sweep's stored N = 8 point is the standard
    pipeline's Verilog, which the copy written by pipeline_config must reproduce. Fails when
    the standard-pipeline Verilog changes: then the sweep has to be measured again."""
    config = synth_sweep.pipeline_config("benchmarks/int8_4x4.yaml", "standard", tmp_path)
    assert Path(config).name == "int8_4x4.yaml" and "pipeline: standard" in Path(config).read_text()
    stored = json.loads((ROOT / "docs/img/synth_vs_bits.json").read_text())
    (n8,) = [p for p in stored["points"] if p["bits"] == 8]
    assert synth_sweep.generated_sha256(config, tmp_path / "n8", 8) == n8["verilog_sha256"]
