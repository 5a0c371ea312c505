"""Float ``.tflite`` import and quantization (golden.float_ops, golden.graphquant,
golden.tflite_export, golden.network_graph).

A seeded float model (CONV_2D SAME stride 2 RELU6 → DEPTHWISE_CONV_2D ×2 → ADD →
AVERAGE_POOL_2D → RESHAPE → FULLY_CONNECTED RELU → FULLY_CONNECTED → SOFTMAX) written with
the test flatbuffer writer:

* the float kernels equal the TFLite interpreter (ai-edge-litert, float path) to float
  rounding;
* the quantized graph follows TFLite's int8 conventions, checked tensor by tensor from the
  formulas (weights, bias, activations, shared and fixed quantizations);
* the written int8 ``.tflite`` reads back to the same graph, passes ``check_graph``, and the
  interpreter and golden agree on it (every op compared by ``qmac run --compare tflite`` in
  tests/sim/test_quantize.py, with the hardware).
"""

from __future__ import annotations

import numpy as np
import pytest

from golden.calibration import calibrate
from golden.float_ops import run_float_graph
from golden.graph import GraphError
from golden.graphquant import quantize_graph
from golden.ops import check_graph, run_graph
from golden.tflite_export import graph_to_tflite
from golden.tflite_import import parse_tflite
from tests.helpers.seeding import make_rng
from tests.helpers.tflite_builder import float_model


@pytest.fixture
def model():
    rng = make_rng("graphquant")
    return parse_tflite(float_model(rng), "float.tflite"), rng


def _interpreter(buf):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=buf)
    it.allocate_tensors()
    return it


def _invoke(it, x):
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def test_float_kernels_equal_the_interpreter(model):
    g, rng = model
    buf = float_model(make_rng("graphquant"))
    it = _interpreter(buf)
    x = rng.standard_normal((3,) + g.input_tensors()[0].shape[1:]).astype(np.float32)
    ours = run_float_graph(g, x)[g.outputs[0]]
    for k in range(3):
        ref = _invoke(it, x[k:k + 1])
        np.testing.assert_allclose(ours[k:k + 1], ref, rtol=1e-5, atol=1e-6)


def _op(g, name, n=0):
    return [op for op in g.ops if op.name == name][n]


def test_quantized_graph_follows_tflite_int8_conventions(model):
    g, rng = model
    x = rng.standard_normal((20,) + g.input_tensors()[0].shape[1:]).astype(np.float32)
    qg, rep = quantize_graph(g, x, method="minmax")
    check_graph(qg)
    floats = run_float_graph(g, x)
    assert [op.name for op in qg.ops] == ["QUANTIZE"] + [op.name for op in g.ops] + \
        ["DEQUANTIZE"]
    assert qg.input_tensors()[0].dtype == "float32" == qg.output_tensors()[0].dtype
    for name, axis in (("CONV_2D", 0), ("DEPTHWISE_CONV_2D", 3), ("FULLY_CONNECTED", 0)):
        op = _op(g, name)
        w, qw, qb = g.tensor(op.inputs[1]), qg.tensor(op.inputs[1]), qg.tensor(op.inputs[2])
        assert qw.dtype == "int8" and qw.quant.axis == axis
        assert np.all(qw.quant.zero_point == 0)
        moved = np.moveaxis(w.data.astype(np.float64), axis, 0).reshape(w.shape[axis], -1)
        want_s = np.float32(np.abs(moved).max(axis=1) / 127.0)
        np.testing.assert_array_equal(qw.quant.scale, want_s)
        codes = np.moveaxis(qw.data, axis, 0).reshape(w.shape[axis], -1).astype(np.int64)
        assert codes.min() >= -127 and np.all(np.abs(codes).max(axis=1) == 127)
        sx = qg.tensor(qg.ops[op.index + 1].inputs[0]).quant.scale[0]   # after QUANTIZE
        bias_s = np.float32(sx) * qw.quant.scale
        np.testing.assert_array_equal(qb.quant.scale, bias_s)
        want_b = np.floor(np.abs(g.tensor(op.inputs[2]).data / bias_s) + 0.5) * \
            np.sign(g.tensor(op.inputs[2]).data)
        assert qb.dtype == "int32"
        assert np.max(np.abs(qb.data - want_b)) <= 1   # float32 reciprocal-multiply rounding
    conv = _op(g, "CONV_2D")
    t = conv.outputs[0]
    s, zp = calibrate(floats[t].reshape(-1), "minmax", bits=8, symmetric=False, signed=True)
    assert qg.tensor(t).quant.s == np.float32(s) and qg.tensor(t).quant.zp == zp
    for name in ("AVERAGE_POOL_2D", "RESHAPE"):
        op = _op(g, name)
        qi, qo = qg.tensor(op.inputs[0]).quant, qg.tensor(op.outputs[0]).quant
        assert (qi.s, qi.zp) == (qo.s, qo.zp)
    qs = qg.tensor(_op(g, "SOFTMAX").outputs[0]).quant
    assert (qs.s, qs.zp) == (np.float32(1 / 256), -128)


def test_written_model_reads_back_and_runs(model):
    g, rng = model
    x = rng.standard_normal((20,) + g.input_tensors()[0].shape[1:]).astype(np.float32)
    qg, _ = quantize_graph(g, x, method="mse", float_io=False)
    buf = graph_to_tflite(qg)
    back = parse_tflite(buf, "q.tflite")
    check_graph(back)
    assert [(op.name, op.inputs, op.outputs) for op in back.ops] == \
        [(op.name, op.inputs, op.outputs) for op in qg.ops]
    for a, b in zip(qg.tensors, back.tensors):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
        if a.data is not None:
            np.testing.assert_array_equal(a.data, b.data)
        if a.quant is not None:
            np.testing.assert_array_equal(a.quant.scale, b.quant.scale)
            np.testing.assert_array_equal(a.quant.zero_point, b.quant.zero_point)
    for a, b in zip(qg.ops, back.ops):
        for k, v in a.options.items():
            assert back.ops[a.index].options[k] == v, (a.name, k)
    q = qg.input_tensors()[0].quant
    codes = np.clip(np.round(x[:2] / q.s) + q.zp, -128, 127).astype(np.int8)
    it = _interpreter(buf)
    for k in range(2):
        ours = run_graph(back, [codes[k:k + 1]])[back.outputs[0]]
        ref = _invoke(it, codes[k:k + 1])
        assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1   # SOFTMAX of two paths
        assert ours.argmax() == ref.argmax() or np.sort(ref.ravel())[-2] == ref.max()


def test_kl_runs_and_calibration_warnings_reach_the_report(model, monkeypatch):
    """KL on every activation tensor; a calibration warning (KL's degenerate-histogram
    fallback, tests/golden/test_calibration_kl_degenerate.py) is kept per tensor."""
    import warnings
    import golden.graphquant as gq
    from golden.calibration import CalibrationWarning
    g, rng = model
    x = rng.standard_normal((8,) + g.input_tensors()[0].shape[1:])
    qg, rep = quantize_graph(g, x, method="kl", num_bins=64)   # 2048 bins: ~5 s a tensor
    check_graph(qg)
    real = gq.calibrate

    def noisy(data, method, **kw):
        warnings.warn("calibrate_kl: degenerate histogram (test)", CalibrationWarning)
        return real(data, method, **kw)
    monkeypatch.setattr(gq, "calibrate", noisy)
    _, rep = quantize_graph(g, x, method="minmax")
    assert rep.warnings and rep.warnings[0].startswith("tensor 0 't0': calibrate_kl")


@pytest.mark.parametrize("bad, msg", [
    (lambda g, x: (g, x[:, :1]), "does not fit the model input"),
    (lambda g, x: (g, np.full_like(x, np.nan)), "NaN or infinity"),
])
def test_bad_calibration_data(model, bad, msg):
    g, rng = model
    x = rng.standard_normal((4,) + g.input_tensors()[0].shape[1:])
    with pytest.raises(GraphError, match=msg):
        quantize_graph(*bad(g, x))


def test_int8_model_is_refused_with_one_line():
    from pathlib import Path
    from golden.tflite_import import load_tflite
    g = load_tflite(Path(__file__).resolve().parents[1] / "data" / "models" /
                    "image_example1.tflite")
    with pytest.raises(GraphError, match="already quantized.*allowed: a float32 model") as exc:
        quantize_graph(g, np.zeros((1, 96, 96, 1)))
    assert "\n" not in str(exc.value)


def test_network_graph_equals_the_float_network():
    from golden.network import FloatLayer, FloatNetwork
    from golden.network_graph import network_graph
    rng = make_rng("network_graph")
    net = FloatNetwork((
        FloatLayer("conv2d", rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4),
                   "relu", (2, 2), "same"),
        FloatLayer("dense", rng.standard_normal((5, 4 * 4 * 4)), rng.standard_normal(5),
                   "none"),
    ), (7, 8, 2))
    x = rng.standard_normal((6, 7, 8, 2))
    g = network_graph(net, softmax=False)
    back = parse_tflite(graph_to_tflite(g), "net.tflite")
    np.testing.assert_allclose(run_float_graph(back, x)[back.outputs[0]], net.forward(x)[-1],
                               rtol=1e-5, atol=1e-5)


def test_mse_on_a_large_tensor_uses_a_strided_sample(model, monkeypatch):
    import golden.graphquant as gq
    g, rng = model
    x = rng.standard_normal((6,) + g.input_tensors()[0].shape[1:])
    monkeypatch.setattr(gq, "MSE_MAX_VALUES", 250)
    qg, _ = quantize_graph(g, x, method="mse", num_candidates=20)
    conv = _op(g, "CONV_2D")
    data = run_float_graph(g, x)[conv.outputs[0]].reshape(-1)      # 6·5·5·6 = 900 values
    s, zp = calibrate(data[::4], "mse", bits=8, symmetric=False, signed=True,
                      num_candidates=20)
    q = qg.tensor(conv.outputs[0]).quant
    assert (q.s, q.zp) == (np.float32(s), zp)
