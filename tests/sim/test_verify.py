"""``qmac verify``: bring-your-own vectors through the hardware and golden/.

* TFLite's own int8 outputs (tests/data/tflite, frozen from tflite-runtime 2.14) are
  reproduced bit-exactly: reference kernels (double rounding) on the int8 configuration and
  the optimized ruy kernels on a ``rounding: ruy`` variant; per-tensor and per-channel,
  ReLU/ReLU6, extreme zero points, K beyond R·T (weight reloads).
* A TFLite-style per-channel ReLU6 layer with zero points at their limits, built here from
  float scales, whose expected output comes independently from
  ``golden.datapath.fully_connected``.
* Invalid files: one ``qmac: error:`` line and exit 2, before any simulator work.
* A mismatch (one planted bit) gives exit 1.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.cli import main
from tests.helpers.simulators import need  # build_root: tests/conftest.py

REPO = Path(__file__).resolve().parents[2]
TFLITE = REPO / "tests" / "data" / "tflite"


@pytest.fixture
def verify(tmp_path, build_root, monkeypatch, capsys):
    """Run ``qmac verify`` through the CLI; returns (exit status, stdout, stderr, OUT.npz
    as a dict, plus ``metrics``: OUT.json)."""
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))

    def run(vectors, *, sim="verilator", config=None, extra=()):
        out = tmp_path / f"{Path(vectors).stem}.out.npz"
        argv = ["verify"] + ([str(config)] if config else []) + [
            "--vectors", str(vectors), "--sim", sim, "-o", str(out),
            "--workdir", str(tmp_path / "work"), *extra]
        rc = main(argv)
        cap = capsys.readouterr()
        data = None
        if out.exists():
            with np.load(out) as f:
                data = {k: f[k] for k in f.files}
            data["metrics"] = json.loads(out.with_suffix(".json").read_text())
        return rc, cap.out, cap.err, data
    return run


def _tflite(name):
    with np.load(TFLITE / name) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("case", [
    "rand_pc_b-relu6-ref.npz",        # per-channel ReLU6, K=299 > R*T: reload per batch row
    "rand_pt_b-relu-ref.npz",         # per-tensor ReLU
    "ties_pc-none-ref.npz",           # rounding ties, per-channel
    "ties_pt_y_zp_min-none-ref.npz",  # output zero point at -128
    "sat_pc_k256-relu-ref.npz",       # saturating outputs, K = R*T
    "shift_pos_pc-relu6-ref.npz",     # multipliers >= 1 (positive shifts)
])
def test_tflite_reference_kernels(case, verify, in_ci):
    need("verilator", in_ci)
    rc, out, err, data = verify(TFLITE / case)
    assert rc == 0, out + err
    ref = _tflite(case)
    np.testing.assert_array_equal(data["y_hw"], ref["y_tflite"])
    np.testing.assert_array_equal(data["y_golden"], ref["y_tflite"])
    assert "matches y_tflite" in out
    m = data["metrics"]              # every printed figure is in OUT.json too
    b, k = ref["x"].shape
    assert (m["B"], m["K"], m["C"], m["status"], m["result"]) == \
        (b, k, ref["w"].shape[0], 0, "PASS")
    v = m["sims"]["verilator"]
    assert (v["outcome"], v["mismatches"], v["missing_beats"], v["outputs"]) == \
        ("match", 0, 0, data["y_hw"].size)
    assert v["y_tflite"]["differing"] == 0 and v["pass"] is True
    assert f"({v['cycles']} cycles" in out and m["golden_vs_tflite_diff"] == 0


def test_tflite_on_icarus(verify, in_ci):
    need("icarus", in_ci)
    case = "relu6_bound_pt-relu6-ref.npz"
    rc, out, err, data = verify(TFLITE / case, sim="icarus")
    assert rc == 0, out + err
    np.testing.assert_array_equal(data["y_hw"], _tflite(case)["y_tflite"])


def test_tflite_optimized_kernels_ruy(verify, tmp_path, in_ci):
    """The x86 optimized kernels round ties up in the second step: rounding 'ruy'."""
    need("verilator", in_ci)
    raw = yaml.safe_load((REPO / "constraints" / "int8.yaml").read_text())
    raw["name"] = "int8ruy"
    raw["requant"]["rounding"] = "ruy"
    cfg = tmp_path / "int8ruy.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    for case in ("ties_pc-none-opt.npz", "rand_pt_c-relu6-opt.npz"):
        rc, out, err, data = verify(TFLITE / case, config=cfg)
        assert rc == 0, out + err
        np.testing.assert_array_equal(data["y_hw"], _tflite(case)["y_tflite"])


def test_opt_vectors_rejected_on_double_config(verify):
    rc, out, err, data = verify(TFLITE / "ties_pc-none-opt.npz")
    assert rc == 2
    assert err.strip().count("\n") == 0
    assert "rounding='ruy' but int8 rounds 'double'" in err


def test_tflite_style_layer_independent_expectation(verify, tmp_path, in_ci):
    """Per-channel ReLU6 with x_zp = -128 and y_zp at both limits vs fully_connected."""
    need("verilator", in_ci)
    from golden.datapath import fully_connected
    from golden.layer import activation_range, layer_multipliers
    rng = np.random.default_rng(2024)
    b, k, c = 9, 70, 37
    for y_zp in (-128, 127, 5):
        x = rng.integers(-128, 128, (b, k)).astype(np.int8)
        w = rng.integers(-127, 128, (c, k)).astype(np.int8)
        bias = rng.integers(-30000, 30000, c).astype(np.int32)
        x_scale, y_scale = np.float32(0.05), np.float32(0.04)
        w_scale = rng.uniform(0.002, 0.02, c).astype(np.float32)
        path = tmp_path / f"layer_zp{y_zp}.npz"
        np.savez(path, x=x, w=w, bias=bias, x_scale=x_scale, w_scale=w_scale, y_scale=y_scale,
                 x_zp=np.int32(-128), y_zp=np.int32(y_zp), activation="relu6")
        m0, shift = layer_multipliers(float(x_scale), w_scale, float(y_scale))
        amin, amax = activation_range("relu6", float(y_scale), y_zp)
        expected = fully_connected(x.astype(np.int64), w.astype(np.int64), bias=bias, x_zp=-128,
                                   w_zp=0, m0=m0, shift=shift, y_zp=y_zp, act_min=amin,
                                   act_max=amax, rounding="double", acc_bits=32)
        rc, out, err, data = verify(path)
        assert rc == 0, out + err
        np.testing.assert_array_equal(data["y_hw"], expected)
        np.testing.assert_array_equal(data["m0"], m0)
        np.testing.assert_array_equal(data["shift"], shift)
        assert data["y_hw"].shape == (b, c)


def test_mismatch_exits_1(verify, monkeypatch, in_ci):
    need("verilator", in_ci)
    monkeypatch.setenv("QMAC_PLANT", "1,2,0")
    rc, out, err, data = verify(TFLITE / "rand_pt_a-none-ref.npz")
    assert rc == 1
    assert "MISMATCH: 1 of" in out
    assert data is not None and (data["y_hw"] != data["y_golden"]).sum() == 1
    m = data["metrics"]
    v = m["sims"]["verilator"]
    assert (m["status"], m["result"], v["outcome"], v["mismatches"], v["pass"]) == \
        (1, "FAIL", "mismatch", 1, False)
    bad = v["first_mismatches"][0]
    assert data["y_hw"][bad["b"], bad["c"]] == bad["hardware"] != bad["golden"]


def _base():
    rng = np.random.default_rng(0)
    return dict(x=rng.integers(-128, 128, (2, 5)).astype(np.int8),
                w=rng.integers(-128, 128, (3, 5)).astype(np.int8),
                bias=np.zeros(3, np.int32), m0=np.int32(1 << 30), shift=np.int32(-3),
                x_zp=np.int32(0), y_zp=np.int32(0))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("x"), "missing key 'x'"),
    (lambda d: d.pop("shift"), "missing key 'shift'"),
    (lambda d: d.update(x=d["x"].astype(np.float32)), "x: dtype float32 is not allowed"),
    (lambda d: d.update(w=d["w"][:, :4]), "w: shape [3, 4] does not match x: shape [2, 5]"),
    (lambda d: d.update(x=np.full((2, 5), 300, np.int16)), "x[0, 0]=300 is out of range; "
                                                           "allowed: [-128, 127]"),
    (lambda d: d.update(bias=np.zeros(4, np.int32)), "bias: shape [4] is not allowed"),
    (lambda d: d.update(m0=np.int64(2**31)), "m0=2147483648 is out of range"),
    (lambda d: d.update(shift=np.int32(31)), "shift=31 is out of range"),
    (lambda d: (d.pop("m0"), d.pop("shift"), d.update(x_scale=np.float32(0.1),
                w_scale=np.float32(-1.0), y_scale=np.float32(0.1))), "w_scale: -1.0 is not allowed"),
    (lambda d: (d.pop("m0"), d.pop("shift"), d.update(x_scale=np.float32(0.1),
                w_scale=np.float32(0.1), y_scale=np.float32(0.0))), "y_scale: 0.0 is not allowed"),
    (lambda d: d.update(y_zp=np.int32(200)), "y_zp=200 is out of range"),
    (lambda d: d.update(act_min=np.int32(10), act_max=np.int32(5)), "act_min=10 > act_max=5"),
    (lambda d: d.update(xzp=np.int32(0)), "unknown key 'xzp'"),
    (lambda d: d.update(rounding="single"), "rounding='single' but int8 rounds 'double'"),
])
def test_invalid_files_exit_2(mutate, message, tmp_path, verify):
    d = _base()
    mutate(d)
    path = tmp_path / "bad.npz"
    np.savez(path, **d)
    rc, out, err, data = verify(path)
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("qmac: error: "), err
    assert message in lines[0], lines[0]
    assert data is None


def test_not_an_npz(tmp_path, verify):
    p = tmp_path / "junk.npz"
    p.write_text("not a zip")
    rc, out, err, _ = verify(p)
    assert rc == 2 and "not a zip archive" in err and "allowed: an .npz file" in err
    rc, out, err, _ = verify(tmp_path / "missing.npz")
    assert rc == 2 and "no such vector file" in err


def test_crossbar_config_checks_against_the_crossbar_golden(verify, in_ci):
    """On sidra_y1 (lossy 8-bit ADC) the hardware must equal golden/crossbar.py's model of
    the tile bit for bit; the MAC datapath's result (``y_mac``) and the crossbar's error
    against it are reported, and TFLite's exact outputs are informational only."""
    need("verilator", in_ci)
    rc, out, err, data = verify(TFLITE / "rand_pc_c-relu-ref.npz",
                                config=REPO / "constraints" / "sidra_y1.yaml")
    assert rc == 0, out + err
    assert data is not None and {"y_hw", "y_golden", "y_mac"} <= set(data)
    np.testing.assert_array_equal(data["y_hw"], data["y_golden"])
    assert "crossbar error vs exact: dot products SQNR" in out
    lossy = int((data["y_golden"] != data["y_mac"]).sum())
    xbm = data["metrics"]["crossbar"]   # the printed crossbar figures, in OUT.json
    assert xbm["outputs_differing_from_mac"] == lossy
    printed = float(re.search(r"dot products SQNR (\S+) dB", out).group(1))
    assert abs(printed - xbm["dot"]["sqnr_db"]) <= 0.006
    assert data["metrics"]["sims"]["verilator"]["y_tflite"]["unexcused"] == 0
    assert "differ from the MAC-array datapath's" in out
    if lossy:
        assert "all where this crossbar's golden differs from the exact datapath" in out
