"""TFLite 16x8 models (int16 activations, int8 weights, int64 bias) through ``qmac run`` and
``qmac verify`` on ``constraints/tflite16x8.yaml`` (N = 16, 48-bit accumulator, rounding
``single16``) and on ``constraints/w8a16.yaml`` (the same with 8-bit stored weights).

* One-op 16x8 CONV_2D (per-channel) and FULLY_CONNECTED (per-tensor) models built here run
  in the real interpreter (ai-edge-litert 2.3.0, ``BUILTIN_REF``) and through the RTL:
  hw == golden on every output; golden == TFLite on every CONV_2D output. LiteRT 2.3.0's
  16x8 FULLY_CONNECTED requantizes in floating point (not the reduced multiplier), so its
  differences must be explained as such (sim/tflite_ref.explain).
* Frozen tflite-runtime 2.14 16x8 FULLY_CONNECTED vector files (the reduced-multiplier
  kernel, tests/data/tflite16x8) through ``qmac verify``: hardware == TFLite's own output
  (two on tflite16x8, all nine on w8a16).
* Two frozen 16x8 *models* (tests/data/tflite16x8/model16x8_{fc,conv}.npz: the ``.tflite``,
  its int16 inputs and tflite-runtime 2.14's outputs — the reduced-multiplier kernels, every
  op resolver) through ``qmac run`` on ``constraints/w8a16.yaml`` (W8A16: 16-bit inputs,
  8-bit weights): hardware == TFLite on every output of the FULLY_CONNECTED and the CONV_2D
  model. Golden == those outputs is in the default suite.

The hardware runs are ``long`` (QMAC_LONG=1): the Verilator build of the 16-bit configuration alone is
~26 s of CPU (2 min wall on the busy 2-core machine). The default suite keeps the fast
part: golden == TFLite on the frozen vectors (tests/golden/test_datapath_tflite16x8.py) and
the requantizer's ``single16`` edges in the Amaranth simulator (tests/hw/test_requantizer.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from tests.helpers.seeding import printed_seed
from tests.helpers.simulators import need  # build_root: tests/conftest.py
from tests.helpers.tflite_builder import model_16x8

REPO = Path(__file__).resolve().parents[2]
CFG = REPO / "constraints" / "tflite16x8.yaml"


def _seed():
    return printed_seed(16)




@pytest.mark.long
def test_16x8_models_through_interpreter_and_hardware(tmp_path, build_root, monkeypatch,
                                                      capsys, in_ci):
    need("verilator", in_ci)
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    rng = np.random.default_rng(_seed())
    cases = [("CONV_2D", (1, 6, 5, 3), True), ("FULLY_CONNECTED", (1, 40), False)]
    for kind, shape, per_channel in cases:
        path = tmp_path / f"{kind}.tflite"
        path.write_bytes(model_16x8(rng, kind=kind, in_shape=shape, cout=10,
                                    per_channel=per_channel))
        out = tmp_path / kind
        rc = main(["run", str(path), str(CFG), "--compare", "tflite", "--sim", "verilator",
                   "--count", "3", "--seed", str(_seed()), "-o", str(out)])
        cap = capsys.readouterr()
        print(cap.out)
        assert rc == 0, cap.out + cap.err
        rep = json.loads((out / "report.json").read_text())
        (row,) = [r for r in rep["layers"] if r["op"] == kind]
        assert row["hw_diff"] == 0 and row["outputs"] == 3 * int(np.prod(
            [10] if kind == "FULLY_CONNECTED" else [6, 5, 10]))
        assert rep["tflite"]["path"] == "BUILTIN_REF" and rep["tflite"]["unexplained"] == 0
        if kind == "CONV_2D":     # the reduced-multiplier kernel: every output equal
            assert row["tfl_diff"] == 0
        with np.load(out / "layers.npz") as f:
            hw = f[f"op0.hw.verilator"]
            gold = [f[k] for k in f.files if k.startswith("op0.golden.")][0]
        np.testing.assert_array_equal(hw.reshape(gold.shape), gold)
        assert gold.min() == -32768 or gold.max() == 32767   # saturation reached


@pytest.mark.long
@pytest.mark.parametrize("config", ["tflite16x8", "w8a16"])
def test_frozen_16x8_fc_vectors_through_hardware(tmp_path, build_root, monkeypatch, capsys,
                                                 in_ci, config):
    """tflite-runtime 2.14's 16x8 FULLY_CONNECTED output (reduced multiplier, int64 bias up
    to 2^46) equals the hardware's on every output: two cases on tflite16x8 (16-bit
    weights), all nine on w8a16 (8-bit weights)."""
    need("verilator", in_ci)
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    names = ["fc16x8_rand_pc-none.npz", "fc16x8_wide_acc_pt-none.npz"]
    if config == "w8a16":
        names = sorted(p.name for p in (REPO / "tests" / "data" / "tflite16x8").glob(
            "fc16x8_*.npz"))
        assert len(names) == 9
    for name in names:
        vec = REPO / "tests" / "data" / "tflite16x8" / name
        res = tmp_path / f"{name}.out.npz"
        rc = main(["verify", str(REPO / "constraints" / f"{config}.yaml"), "--vectors",
                   str(vec), "--sim", "verilator",
                   "-o", str(res)])
        cap = capsys.readouterr()
        assert rc == 0, cap.out + cap.err
        with np.load(res) as r, np.load(vec) as v:
            np.testing.assert_array_equal(r["y_hw"], v["y_tflite"])


FROZEN_MODELS = ("fc", "conv")
W8A16 = REPO / "constraints" / "w8a16.yaml"


def _frozen_model(name, tmp_path):
    with np.load(REPO / "tests" / "data" / "tflite16x8" / f"model16x8_{name}.npz") as f:
        d = {k: f[k] for k in f.files}
    path = tmp_path / f"model16x8_{name}.tflite"
    path.write_bytes(d["model"].tobytes())
    np.save(tmp_path / f"x_{name}.npy", d["x"])
    assert str(d["kernel"]).startswith("tflite-runtime 2.14.0, BUILTIN_REF")
    return path, tmp_path / f"x_{name}.npy", d


@pytest.mark.parametrize("name", FROZEN_MODELS)
def test_frozen_16x8_models_golden_equals_tflite_runtime(name, tmp_path):
    """Golden (single16) == tflite-runtime 2.14's frozen output on every element (no TFLite
    needed); the inputs reach both int16 extremes and the outputs saturate at both ends."""
    from golden.ops import run_graph
    from golden.tflite_import import load_tflite
    path, _, d = _frozen_model(name, tmp_path)
    g = load_tflite(path)
    gold = np.stack([run_graph(g, [x[None]], rounding="single16")[g.outputs[0]][0]
                     for x in d["x"]])
    np.testing.assert_array_equal(gold, d["y_tflite"])
    assert d["x"].min() == -32768 and d["x"].max() == 32767
    assert d["y_tflite"].min() == -32768 and d["y_tflite"].max() == 32767


@pytest.mark.long
def test_frozen_16x8_models_through_w8a16_hardware(tmp_path, build_root, monkeypatch, capsys,
                                                   in_ci):
    """The frozen FULLY_CONNECTED and CONV_2D models on the W8A16 configuration (16-bit
    inputs, 8-bit weights, 48-bit accumulator, single16): hardware == tflite-runtime 2.14's
    output on every element."""
    need("verilator", in_ci)
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    for name in FROZEN_MODELS:
        path, xpath, d = _frozen_model(name, tmp_path)
        out = tmp_path / f"out_{name}"
        rc = main(["run", str(path), str(W8A16), "--inputs", str(xpath), "--sim", "verilator",
                   "--seed", "16", "-o", str(out)])
        cap = capsys.readouterr()
        print(cap.out)
        assert rc == 0, cap.out + cap.err
        rep = json.loads((out / "report.json").read_text())
        (row,) = [r for r in rep["layers"] if r["hw_diff"] is not None]
        assert row["hw_diff"] == 0 and row["outputs"] == d["y_tflite"].size
        with np.load(out / "layers.npz") as f:
            hw = f["op0.hw.verilator"]
        np.testing.assert_array_equal(hw.reshape(d["y_tflite"].shape), d["y_tflite"])
