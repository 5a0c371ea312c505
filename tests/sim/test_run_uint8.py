"""A legacy uint8 model with non-zero per-tensor weight zero points through ``qmac run`` on
``constraints/tflite_uint8.yaml``: hardware == golden == the TFLite interpreter on every
element of every hardware op.

The model (``tests.helpers.tflite_builder.uint8_full_range_model``): uint8 CONV_2D →
RESHAPE → FULLY_CONNECTED, weights over the whole [0, 255] range with zero points 131 and
77, so ``w − w_zp`` spans [−131, 124] and [−77, 178] — beyond an 8-bit store.

Mapping onto the hardware (``docs/design.md``, "Zero points"; ``tb.model_layers.
signed_view`` / ``tb.layers.FcLayer.fold``): the configuration has ``input_bits: 8,
input_signed: false`` — the uint8 activation codes go in unchanged (no shift to int8),
``x_zp`` is folded into the bias (``bias' = bias − x_zp·Σ w'``); ``weight_bits: 9,
weight_signed: true`` — the stored weight is ``w' = w − w_zp`` exactly; ``out_bits: 8,
out_signed: false`` — the requantizer adds ``y_zp`` and clamps to [0, 255] (ReLU: [y_zp,
255]); ``acc_bits = 8 + 9 + 15 = 32`` wrapping: TFLite's int32 ``Σ (x − x_zp)(w − w_zp) +
bias``. The same model on the int8 configuration is refused in one line (``w − w_zp = −131``
does not fit 8 signed bits).

Interpreter: ai-edge-litert 2.3.0, ``BUILTIN_REF`` (the reference uint8 CONV_2D and
FULLY_CONNECTED kernels, gemmlowp double rounding — the configuration's ``double``), one
thread, run here on the same inputs; its tensors are compared directly with the hardware's
outputs. Icarus in the default suite (a few seconds), Verilator too with ``QMAC_LONG=1``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from tests.helpers.seeding import printed_seed
from tests.helpers.simulators import need  # build_root: tests/conftest.py
from tests.helpers.tflite_builder import uint8_full_range_model

REPO = Path(__file__).resolve().parents[2]
CFG = REPO / "constraints" / "tflite_uint8.yaml"


def _seed():
    return printed_seed(8)


def _model_and_inputs(tmp_path, rng):
    path = tmp_path / "uint8_full_range.tflite"
    path.write_bytes(uint8_full_range_model(rng))
    x = rng.integers(0, 256, size=(4, 6, 6, 3)).astype(np.uint8)
    x[0], x[1] = 0, 255                     # input extremes (x − x_zp = −120 and 135)
    np.save(tmp_path / "x.npy", x)
    return path, tmp_path / "x.npy", x


def _interpreter_tensors(path, x, indices):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF, num_threads=1)
    it.allocate_tensors()
    got = {i: [] for i in indices}
    for img in x:
        it.set_tensor(it.get_input_details()[0]["index"], img[None])
        it.invoke()
        for i in indices:
            got[i].append(it.get_tensor(i)[0])
    return {i: np.stack(v) for i, v in got.items()}


@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.long)])
def test_legacy_uint8_model_hw_equals_interpreter(sim, tmp_path, build_root, monkeypatch,
                                                  capsys, in_ci):
    need(sim, in_ci)
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    path, xpath, x = _model_and_inputs(tmp_path, np.random.default_rng(_seed()))
    out = tmp_path / "out"
    rc = main(["run", str(path), str(CFG), "--inputs", str(xpath), "--compare", "tflite",
               "--sim", sim, "--seed", str(_seed()), "-o", str(out)])
    cap = capsys.readouterr()
    print(cap.out)
    assert rc == 0, cap.out + cap.err
    rep = json.loads((out / "report.json").read_text())
    assert rep["tflite"]["path"] == "BUILTIN_REF" and rep["tflite"]["unexplained"] == 0
    assert rep["tflite"]["runtime"] == "ai-edge-litert 2.3.0"
    hw_rows = {r["index"]: r for r in rep["layers"] if r["hw_diff"] is not None}
    assert [r["op"] for r in hw_rows.values()] == ["CONV_2D", "FULLY_CONNECTED"]
    assert all(r["hw_diff"] == 0 and r["tfl_diff"] == 0 for r in hw_rows.values())
    from golden.tflite_import import load_tflite
    g = load_tflite(path)
    outs = {i: g.ops[i].outputs[0] for i in hw_rows}
    tfl = _interpreter_tensors(path, x, list(outs.values()))
    with np.load(out / "layers.npz") as f:
        for i, t in outs.items():
            hw = f[f"op{i}.hw.{sim}"]
            gold = f[f"op{i}.golden.t{t}"].reshape(hw.shape)
            ref = tfl[t].reshape(hw.shape)
            np.testing.assert_array_equal(hw, ref, err_msg=f"op {i}: hardware != TFLite")
            np.testing.assert_array_equal(gold, ref, err_msg=f"op {i}: golden != TFLite")
            assert hw.size == hw_rows[i]["outputs"] and hw.dtype.kind in "iu"
    fc = tfl[outs[max(outs)]]
    assert fc.min() == 128 and fc.max() > 128     # the ReLU clamp at y_zp is reached


def test_legacy_uint8_model_refused_on_an_8_bit_weight_store(tmp_path, build_root,
                                                             monkeypatch, capsys):
    """int8.yaml stores 8-bit signed weights: ``w − w_zp = −131`` does not fit; one line,
    exit 2, no report (no simulator is started)."""
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    path, xpath, _ = _model_and_inputs(tmp_path, np.random.default_rng(_seed()))
    rc = main(["run", str(path), str(REPO / "constraints" / "int8.yaml"), "--inputs",
               str(xpath), "--sim", "icarus", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "w - w_zp[0, 0]=-131 is out of range; allowed: [-128, 127] (8-bit signed stored " \
           "weights)" in err
    assert not (tmp_path / "out" / "report.json").exists()
