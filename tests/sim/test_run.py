"""``qmac run``: real and generated int8 models through golden, the RTL and TFLite.

* The four vendored real models (tests/data/models) on the default configuration under
  Verilator with ``--compare tflite``: every output of every hardware layer hw == golden,
  every op of golden == the reference interpreter on TFLite's inputs (differences only where
  sim/tflite_ref.explain attributes them to the reference FC's float requantization).
* Generated one-op CONV_2D / DEPTHWISE_CONV_2D (depth multiplier 2) / FULLY_CONNECTED models
  on both simulators.
* Bad model / inputs / labels files: one ``qmac: error:`` line, exit 2, nothing written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from tests.helpers.qmac_run import qrun  # noqa: F401 (the fixture)
from tests.helpers.seeding import printed_seed
from tests.helpers.simulators import need  # build_root: tests/conftest.py

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "tests" / "data" / "models"
from tests.helpers.tflite_builder import ModelBuilder, conv_model, float_fc_model, one_op_model


def _seed():
    return printed_seed(7)


@pytest.mark.parametrize("name", ["anomaly_detection", "image_classification",
                                  "image_example1", "tflite_micro_speech", "keyword_spotting"])
def test_real_model_verilator(name, qrun, in_ci):
    need("verilator", in_ci)
    rc, out, err, rep, outdir = qrun(MODELS / f"{name}.tflite", "--seed", _seed(),
                                     "--compare", "tflite", "--sim", "verilator")
    print(out)
    assert rc == 0, out + err
    hw_layers = [r for r in rep["layers"] if r["hw_diff"] is not None]
    assert hw_layers and all(r["hw_diff"] == 0 for r in hw_layers)
    assert all(r["cycles"] > 0 for r in hw_layers)
    assert rep["checked_macs"] > 0 and rep["tflite"]["unexplained"] == 0
    assert rep["tflite"]["path"] == "BUILTIN_REF" and rep["tflite"]["compared"] > 0
    with np.load(outdir / "layers.npz") as f:
        for r in hw_layers:
            idx = r["index"]
            hw = f[f"op{idx}.hw.verilator"]
            gold = [f[k] for k in f.files if k.startswith(f"op{idx}.golden.")][0]
            np.testing.assert_array_equal(hw.reshape(gold.shape), gold)


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_one_op_models_both_simulators(sim, qrun, tmp_path, in_ci):
    need(sim, in_ci)
    rng = np.random.default_rng(_seed())
    cases = [
        dict(kind="DEPTHWISE_CONV_2D", in_shape=(1, 6, 5, 3), kernel=(3, 3), cout_or_dm=2,
             stride=(1, 2), dilation=(2, 1), padding="SAME", act="RELU6", per_channel=True,
             x_zp=-128, y_zp=-128),
        dict(kind="CONV_2D", in_shape=(1, 5, 6, 3), kernel=(5, 1), cout_or_dm=18,
             stride=(2, 1), dilation=(1, 1), padding="VALID", act="NONE", per_channel=False,
             x_zp=127, y_zp=127),
        dict(kind="FULLY_CONNECTED", in_shape=(1, 1, 1, 40), kernel=(1, 1), cout_or_dm=7,
             stride=(1, 1), dilation=(1, 1), padding="SAME", act="RELU", per_channel=False,
             x_zp=0, y_zp=-128),
    ]
    for i, case in enumerate(cases):
        path = tmp_path / f"m{i}.tflite"
        path.write_bytes(conv_model(rng, **case))
        rc, out, err, rep, _ = qrun(path, "--sim", sim, "--seed", _seed(), "--count", 2)
        assert rc == 0, out + err
        hw = [r for r in rep["layers"] if r["hw_diff"] is not None]
        assert len(hw) == 1 and hw[0]["hw_diff"] == 0 and hw[0]["outputs"] > 0


def _truncated(tmp_path):
    p = tmp_path / "cut.tflite"
    b = (MODELS / "image_example1.tflite").read_bytes()
    p.write_bytes(b[: len(b) // 3])
    return p, "truncated or corrupt"


def _junk(tmp_path):
    p = tmp_path / "junk.tflite"
    p.write_bytes(b"this is not a model at all")
    return p, "not a TFLite flatbuffer"


def _tanh(tmp_path):
    p = tmp_path / "tanh.tflite"
    p.write_bytes(one_op_model("TANH", y_scale=1 / 128))
    return p, "operator 0 is TANH, which is not supported; supported: ADD, AVERAGE_POOL_2D"


def _float(tmp_path):
    p = tmp_path / "float.tflite"
    p.write_bytes(float_fc_model())
    return p, "operator 0 FULLY_CONNECTED has a float32 tensor"


def _custom(tmp_path):
    p = tmp_path / "custom.tflite"
    p.write_bytes(one_op_model("CUSTOM"))
    return p, "operator 0 is CUSTOM(?), which is not supported; supported: ADD,"


@pytest.mark.parametrize("make", [_truncated, _junk, _tanh, _float, _custom])
def test_bad_model_files(make, qrun, tmp_path):
    path, msg = make(tmp_path)
    rc, out, err, rep, outdir = qrun(path)
    assert rc == 2
    assert err.startswith("qmac: error: ") and err.count("\n") == 1, err
    assert msg in err
    assert not outdir.exists()


@pytest.mark.parametrize("arr, msg", [
    (np.zeros((2, 96, 96, 1), np.float32), "float32 [2, 96, 96, 1] does not fit"),
    (np.zeros((2, 95, 96, 1), np.int8), "int8 [2, 95, 96, 1] does not fit"),
    (np.zeros((96, 96), np.int8), "allowed: int8 [N, 96, 96, 1]"),
])
def test_bad_inputs(arr, msg, qrun, tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, arr)
    rc, out, err, rep, outdir = qrun(MODELS / "image_example1.tflite", "--inputs", p)
    assert rc == 2 and err.count("\n") == 1 and msg in err, err
    assert not outdir.exists()


def test_bad_labels(qrun, tmp_path):
    p = tmp_path / "y.npy"
    np.save(p, np.zeros(3, np.float32))
    rc, out, err, rep, outdir = qrun(MODELS / "image_example1.tflite", "--labels", p,
                                     "--count", 2)
    assert rc == 2 and err.count("\n") == 1 and "integer labels [N]" in err, err
    assert not outdir.exists()


def test_crossbar_sidra_y1_real_model(qrun, in_ci):
    """sidra_y1 (lossy 8-bit ADC): every hardware output equals golden.crossbar's tile model
    (the chain the hardware must reproduce); per-layer SQNR against the exact datapath."""
    need("verilator", in_ci)
    rc, out, err, rep, _ = qrun(MODELS / "anomaly_detection.tflite",
                                REPO / "constraints" / "sidra_y1.yaml", "--seed", _seed())
    print(out)
    assert rc == 0, out + err
    hw = [r for r in rep["layers"] if r["hw_diff"] is not None]
    assert len(hw) == 10 and all(r["hw_diff"] == 0 for r in hw)
    xb = rep["crossbar"]
    assert any(r["xb_diff"] for r in hw), "a lossy ADC must differ from the exact datapath"
    assert all(v["sqnr_db"] is None or 5 < v["sqnr_db"] < 80 for v in xb["layers"].values())
    assert "SQNR dB" in out and "top-1 agreement" in out


def test_model_that_does_not_fit_is_refused(qrun):
    """int8 activations on the 4-bit configuration: one line naming the operator, exit 2."""
    rc, out, err, rep, outdir = qrun(MODELS / "image_example1.tflite",
                                     REPO / "constraints" / "int4.yaml")
    assert rc == 2 and err.count("\n") == 1, err
    assert "no hardware layer fits int4: operator op0: x[0, " in err
    assert "allowed: [-8, 7] (4-bit signed inputs)" in err
    assert not outdir.exists()


def test_op_form_golden_cannot_run(qrun, tmp_path):
    """A supported op in a form golden does not handle: one line naming the operator."""
    m = ModelBuilder()
    x = m.tensor((1, 4, 4, 2), scale=0.1, zp=0)
    b = m.tensor((4,), "int32", data=np.zeros(4, np.int32))
    e = m.tensor((4,), "int32", data=np.array([1, 2, 2, 2], np.int32))
    s = m.tensor((4,), "int32", data=np.ones(4, np.int32))
    y = m.tensor((1, 2, 2, 2), scale=0.1, zp=0)
    m.op("STRIDED_SLICE", [x, b, e, s], [y], "StridedSliceOptions", EllipsisMask=1)
    m.inputs, m.outputs = [x], [y]
    p = tmp_path / "ellipsis.tflite"
    p.write_bytes(m.build())
    rc, out, err, rep, outdir = qrun(p)
    assert rc == 2 and err.count("\n") == 1, err
    assert "operator 0 STRIDED_SLICE uses ellipsis/new-axis masks" in err
    assert not outdir.exists()


def test_compare_tflite_needs_a_matching_kernel_path(qrun, tmp_path):
    raw = (REPO / "constraints" / "int4.yaml").read_text()
    assert "rounding: single" in raw
    rc, out, err, rep, outdir = qrun(MODELS / "image_example1.tflite",
                                     REPO / "constraints" / "int4.yaml", "--compare", "tflite")
    assert rc == 2 and err.count("\n") == 1
    assert "no TFLite kernel path rounds 'single'" in err


def test_labels_top1_and_python_api(tmp_path, build_root, monkeypatch, in_ci):
    """Several images through the Python API; top-1 accuracy from --labels."""
    need("verilator", in_ci)
    import io
    from sim.config import load_config
    from sim.run import make_inputs, run_model
    from golden.tflite_import import load_tflite
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    model = MODELS / "tflite_micro_speech.tflite"
    xs = make_inputs(load_tflite(model), inputs_path=None, count=3, seed=_seed())
    np.save(tmp_path / "x.npy", xs)
    labels = np.array([1, 0, 2])
    np.save(tmp_path / "y.npy", labels)
    buf = io.StringIO()
    res = run_model(load_config(None), model, inputs_path=tmp_path / "x.npy",
                    labels_path=tmp_path / "y.npy", outdir=tmp_path / "o", stream=buf,
                    progress=False)
    assert res.status == 0, buf.getvalue()
    with np.load(tmp_path / "o" / "layers.npz") as f:
        out = f["op3.golden.t" + str(load_tflite(model).outputs[0])]
    want = float(np.mean(out.reshape(3, -1).argmax(axis=1) == labels))
    assert res.report["top1"] == want and res.report["images"] == 3
    assert f"top-1 accuracy (golden == hardware outputs): {want:.3f} on 3 image(s)" in buf.getvalue()
    fc = [r for r in res.rows if r.op == "FULLY_CONNECTED"][0]
    assert fc.hw_diff == 0 and fc.outputs == 3 * 4
    rep = res.report                   # the printed figures are in report.json as numbers
    v = rep["sim"]["verilator"]
    assert rep["ops"] == len(load_tflite(model).ops) and rep["golden_s"] >= 0
    assert v["hw_diff"] == 0 and v["checked_mac_per_s"] > 0
    from sim.run_report import fmt_int
    assert f"= {fmt_int(int(v['checked_mac_per_s']))} checked MAC/s" in buf.getvalue()


def _run_generated(qrun, tmp_path, make) -> dict:
    """``qmac run`` of ``make(rng)``'s model with ``--compare tflite`` on 2 images: passes;
    returns report.json."""
    p = tmp_path / f"{make.__name__}.tflite"
    p.write_bytes(make(np.random.default_rng(_seed())))
    rc, out, err, rep, _ = qrun(p, "--compare", "tflite", "--count", 2, "--seed", _seed())
    print(out)
    assert rc == 0, out + err
    return rep


def test_generated_mobilenet_like_chain(qrun, tmp_path, in_ci):
    """CONV → DEPTHWISE (two channel groups) → CONV 1×1 → ADD → pool → FC → SOFTMAX, 2 images:
    every hardware output == golden, every op == the reference interpreter (FC differences
    only where explained)."""
    need("verilator", in_ci)
    from tests.helpers.tflite_builder import mobilenet_like
    rep = _run_generated(qrun, tmp_path, mobilenet_like)
    hw = {r["op"]: r for r in rep["layers"] if r["hw_diff"] is not None}
    assert set(hw) == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    assert all(r["hw_diff"] == 0 and r["outputs"] > 0 for r in hw.values())
    assert rep["tflite"]["unexplained"] == 0 and rep["tflite"]["compared"] > 1000


def test_uint8_model_on_signed_datapath(qrun, tmp_path, in_ci):
    """A uint8 (TOCO-style) chain runs on the signed int8 array through
    tb.model_layers.signed_view; golden == the reference interpreter, hw == golden."""
    need("verilator", in_ci)
    from tests.helpers.tflite_builder import uint8_model
    rep = _run_generated(qrun, tmp_path, uint8_model)
    hw = [r for r in rep["layers"] if r["hw_diff"] is not None]
    assert len(hw) == 3 and all(r["hw_diff"] == 0 for r in hw)
    assert rep["tflite"]["unexplained"] == 0


@pytest.mark.long
def test_every_one_op_case_through_hardware(qrun, tmp_path, in_ci):
    """Every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED option case of
    tests/golden/test_tflite_import_models.py through the RTL (Verilator) and the reference interpreter."""
    need("verilator", in_ci)
    from tests.golden.test_tflite_import_models import CONV_CASES, _case_id
    rng = np.random.default_rng(_seed())
    for case in CONV_CASES:
        kind, shape, kernel, c, stride, dil, pad, act, pc, xz, yz = case
        if kind == "FULLY_CONNECTED":
            shape, kernel, stride, dil = (1, 1, 1, shape[1]), (1, 1), (1, 1), (1, 1)
        p = tmp_path / f"{_case_id(case)}.tflite"
        p.write_bytes(conv_model(rng, kind=kind, in_shape=shape, kernel=kernel, cout_or_dm=c,
                                 stride=stride, dilation=dil, padding=pad, act=act,
                                 per_channel=pc, x_zp=xz, y_zp=yz))
        rc, out, err, rep, _ = qrun(p, "--compare", "tflite", "--count", 2, "--seed", _seed())
        assert rc == 0, f"{_case_id(case)}\n{out}{err}"
        hw = [r for r in rep["layers"] if r["hw_diff"] is not None]
        assert len(hw) == 1 and hw[0]["hw_diff"] == 0, _case_id(case)


@pytest.mark.long
def test_crossbar_sidra_y1_conv_model(qrun, in_ci):
    """A conv model on sidra_y1 (~6 min: the behavioural crossbar macro is per-cycle Python):
    hw == golden.crossbar on every output, per-layer SQNR reported."""
    need("verilator", in_ci)
    rc, out, err, rep, _ = qrun(MODELS / "image_example1.tflite",
                                REPO / "constraints" / "sidra_y1.yaml", "--seed", _seed(),
                                "--count", 2)
    assert rc == 0, out + err
    hw = [r for r in rep["layers"] if r["hw_diff"] is not None]
    assert len(hw) == 4 and all(r["hw_diff"] == 0 for r in hw)
    assert rep["crossbar"]["top1_agreement"] >= 0.5
