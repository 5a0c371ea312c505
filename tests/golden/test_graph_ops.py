"""Golden-only ops vs the LiteRT interpreter, on one-op models written here.

Each case builds a model around one op (random scales and zero points, activations
NONE/RELU/RELU6 where the op has them), runs it on the reference path (BUILTIN_REF) and the
optimized path (BUILTIN_WITHOUT_DEFAULT_DELEGATES) with seeded random int8 inputs that
include −128 and 127, and requires golden == interpreter on every output element.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from golden.ops import check_graph, run_graph
from golden.tflite_import import parse_tflite

from tests.helpers.seeding import printed_seed
from tests.helpers.tflite_builder import ACT, PAD, ModelBuilder

# the [tflite] extra: a skip outside CI, a failure under CI=true (scripts/dev.sh installs it)
litert = pytest.importorskip("ai_edge_litert.interpreter") if os.environ.get("CI") != "true" \
    else __import__("ai_edge_litert.interpreter", fromlist=["Interpreter"])
PATHS = ("BUILTIN_REF", "BUILTIN_WITHOUT_DEFAULT_DELEGATES")


def _seed():
    return printed_seed(11)


def _run(buf, path, xs):
    it = litert.Interpreter(model_content=buf, experimental_preserve_all_tensors=True,
                            experimental_op_resolver_type=getattr(litert.OpResolverType, path),
                            num_threads=1)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), xs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return it


def _check(m: ModelBuilder, rng, repeats=3, paths=PATHS, rounding="double"):
    buf = m.build()
    g = parse_tflite(buf, "glue")
    check_graph(g)
    n = 0
    for _ in range(repeats):
        xs = []
        for i in g.inputs:
            x = rng.integers(-128, 128, size=g.tensor(i).shape).astype(np.int8)
            x.reshape(-1)[:2] = (-128, 127)
            xs.append(x)
        vals = run_graph(g, xs, rounding=rounding)
        for path in paths:
            it = _run(buf, path, xs)
            for o in g.outputs:
                np.testing.assert_array_equal(vals[o], it.get_tensor(o), err_msg=path)
                n += vals[o].size
    return n


def _q(rng):
    return float(rng.uniform(0.01, 0.1)), int(rng.integers(-128, 128))


@pytest.mark.parametrize("act", ["NONE", "RELU", "RELU6"])
@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_add_mul(op, act):
    rng = np.random.default_rng(_seed())
    for shape_b in [(1, 16, 16, 8), (1, 1, 1, 8)]:       # elementwise and broadcast
        m = ModelBuilder()
        a = m.tensor((1, 16, 16, 8), scale=_q(rng)[0], zp=_q(rng)[1])
        b = m.tensor(shape_b, scale=_q(rng)[0], zp=_q(rng)[1])
        y = m.tensor((1, 16, 16, 8), scale=_q(rng)[0] * (3 if op == "MUL" else 1), zp=_q(rng)[1])
        m.op(op, [a, b], [y], f"{op.title()}Options", FusedActivationFunction=ACT[act])
        m.inputs, m.outputs = [a, b], [y]
        assert _check(m, rng) > 0


@pytest.mark.parametrize("pad", ["SAME", "VALID"])
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("filt, stride", [((2, 2), (2, 2)), ((3, 3), (1, 2)), ((3, 1), (2, 1))])
def test_pooling(op, pad, filt, stride):
    from golden.lowering import conv_geometry
    rng = np.random.default_rng(_seed())
    s, z = _q(rng)
    m = ModelBuilder()
    x = m.tensor((1, 7, 8, 3), scale=s, zp=z)
    oh, _ = conv_geometry(7, filt[0], stride[0], 1, pad)
    ow, _ = conv_geometry(8, filt[1], stride[1], 1, pad)
    y = m.tensor((1, oh, ow, 3), scale=s, zp=z)
    m.op(op, [x], [y], "Pool2DOptions", Padding=PAD[pad], StrideH=stride[0],
         StrideW=stride[1], FilterHeight=filt[0], FilterWidth=filt[1],
         FusedActivationFunction=0)
    m.inputs, m.outputs = [x], [y]
    assert _check(m, rng) > 0


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("scale", [0.05, 0.2, 1.0 / 16])
def test_softmax(beta, scale):
    rng = np.random.default_rng(_seed())
    m = ModelBuilder()
    x = m.tensor((2, 10), scale=scale, zp=int(rng.integers(-20, 20)))
    y = m.tensor((2, 10), scale=1 / 256, zp=-128)
    m.op("SOFTMAX", [x], [y], "SoftmaxOptions", Beta=beta)
    m.inputs, m.outputs = [x], [y]
    assert _check(m, rng, repeats=5) > 0


def test_data_movement_ops():
    rng = np.random.default_rng(_seed())
    s, z = _q(rng)
    m = ModelBuilder()
    x = m.tensor((1, 4, 6, 4), scale=s, zp=z)
    pads = m.tensor((4, 2), "int32", data=np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32))
    p = m.tensor((1, 7, 7, 4), scale=s, zp=z)
    m.op("PAD", [x, pads], [p])
    begin = m.tensor((4,), "int32", data=np.array([0, 1, 0, 1], np.int32))
    end = m.tensor((4,), "int32", data=np.array([1, 7, 7, 4], np.int32))
    strides = m.tensor((4,), "int32", data=np.array([1, 2, 3, 1], np.int32))
    ss = m.tensor((1, 3, 3, 3), scale=s, zp=z)
    m.op("STRIDED_SLICE", [p, begin, end, strides], [ss], "StridedSliceOptions",
         BeginMask=0b0100, EndMask=0)
    axis = m.tensor((), "int32", data=np.array(3, np.int32))
    s1, s2, s3 = (m.tensor((1, 3, 3, 1), scale=s, zp=z) for _ in range(3))
    m.op("SPLIT", [axis, ss], [s1, s2, s3], "SplitOptions", NumSplits=3)
    sizes = m.tensor((2,), "int32", data=np.array([1, -1], np.int32))
    ax1 = m.tensor((), "int32", data=np.array(1, np.int32))
    v1, v2 = m.tensor((1, 1, 3, 1), scale=s, zp=z), m.tensor((1, 2, 3, 1), scale=s, zp=z)
    m.op("SPLIT_V", [s3, sizes, ax1], [v1, v2], "SplitVOptions", NumSplits=2)
    cat = m.tensor((1, 3, 3, 3), scale=s, zp=z)
    m.op("CONCATENATION", [s2, s1, s1], [cat], "ConcatenationOptions", Axis=3)
    shape = m.tensor((2,), "int32", data=np.array([1, 27], np.int32))
    r = m.tensor((1, 27), scale=s, zp=z)
    m.op("RESHAPE", [cat, shape], [r])
    relu = m.tensor((1, 27), scale=s, zp=z)
    m.op("RELU", [r], [relu])
    relu6 = m.tensor((1, 27), scale=s, zp=z)
    m.op("RELU6", [relu], [relu6])
    m.inputs, m.outputs = [x], [v1, v2, relu6, cat, p]
    assert _check(m, rng) > 0


def test_quantize_requantize_int8():
    rng = np.random.default_rng(_seed())
    m = ModelBuilder()
    x = m.tensor((1, 50), scale=0.037, zp=5)
    y = m.tensor((1, 50), scale=0.05, zp=-20)
    m.op("QUANTIZE", [x], [y])
    m.inputs, m.outputs = [x], [y]
    assert _check(m, rng) > 0


@pytest.mark.parametrize("scale, zp", [(0.05, 0), (0.1, -30), (1 / 16, 100), (0.01, -128)])
def test_logistic(scale, zp):
    m = ModelBuilder()
    x = m.tensor((1, 256), scale=scale, zp=zp)
    y = m.tensor((1, 256), scale=1 / 256, zp=-128)
    m.op("LOGISTIC", [x], [y])
    m.inputs, m.outputs = [x], [y]
    buf = m.build()
    g = parse_tflite(buf, "logistic")
    xs = [np.arange(-128, 128, dtype=np.int8).reshape(1, 256)]   # every input code
    vals = run_graph(g, xs)
    for path in PATHS:
        np.testing.assert_array_equal(vals[g.outputs[0]], _run(buf, path, xs).get_tensor(
            g.outputs[0]), err_msg=path)


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("hw, axes", [((7, 7), (1, 2)), ((4, 6), (1, 2)), ((1, 1), (1, 2)),
                                      ((5, 3), (2,)), ((3, 9), (1, 2, 3))])
def test_mean(hw, axes, keep):
    rng = np.random.default_rng(_seed())
    s, z = _q(rng)
    so, zo = _q(rng)
    m = ModelBuilder()
    x = m.tensor((1, hw[0], hw[1], 8), scale=s, zp=z)
    full = [1, hw[0], hw[1], 8]
    shape = [1 if d in axes else v for d, v in enumerate(full)] if keep else \
        [v for d, v in enumerate(full) if d not in axes]
    axes_t = m.tensor((len(axes),), "int32", data=np.array(axes, np.int32))
    y = m.tensor(shape, scale=so, zp=zo)
    m.op("MEAN", [x, axes_t], [y], "ReducerOptions", KeepDims=keep)
    m.inputs, m.outputs = [x], [y]
    # the optimized path's own kernel for 4-D MEAN over (1, 2) with keep_dims
    # (optimized_integer_ops::Mean) is golden's "ruy" form (docs/lowering.md)
    special = keep and axes == (1, 2)
    assert _check(m, rng, repeats=4, paths=PATHS[:1] if special else PATHS) > 0
    assert _check(m, rng, repeats=4, paths=PATHS[1:], rounding="ruy") > 0


@pytest.mark.parametrize("hw, c", [((7, 7), 64), ((1, 1), 8), ((16, 16), 3), ((5, 9), 17)])
def test_mean_optimized_kernel(hw, c):
    """The optimized int8 MEAN (axes 1, 2, keep_dims): golden's ``ruy`` form equals the
    interpreter on every element, for random scales (ratios from 1/50 to 50) and zero
    points at the limits, equal input / output quantization included; the reference
    formula is not what this kernel computes (it differs somewhere)."""
    rng = np.random.default_rng(_seed() + hw[0] * 100 + c)
    total = 0
    differs_from_reference = 0
    for case in range(12):
        s = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))
        so = s if case % 4 == 0 else float(s * np.exp(rng.uniform(np.log(0.02), np.log(50))))
        z = (-128, 127, 0, int(rng.integers(-128, 128)))[case % 4]
        zo = z if case % 4 == 0 else int(rng.integers(-128, 128))
        m = ModelBuilder()
        x = m.tensor((1, hw[0], hw[1], c), scale=s, zp=z)
        axes_t = m.tensor((2,), "int32", data=np.array((1, 2), np.int32))
        y = m.tensor((1, 1, 1, c), scale=so, zp=zo)
        m.op("MEAN", [x, axes_t], [y], "ReducerOptions", KeepDims=True)
        m.inputs, m.outputs = [x], [y]
        total += _check(m, rng, repeats=2, paths=PATHS[1:], rounding="ruy")
        buf = m.build()
        g = parse_tflite(buf, "mean")
        xs = [rng.integers(-128, 128, size=(1, hw[0], hw[1], c)).astype(np.int8)]
        ref = run_graph(g, xs, rounding="double")[g.outputs[0]]
        differs_from_reference += int((ref != _run(buf, PATHS[1], xs).get_tensor(
            g.outputs[0])).sum())
    assert total > 0
    if hw != (1, 1):
        assert differs_from_reference > 0


def test_maximum_minimum_transpose_expand_dims_squeeze():
    rng = np.random.default_rng(_seed())
    s, z = _q(rng)
    m = ModelBuilder()
    a = m.tensor((1, 3, 4, 5), scale=s, zp=z)
    b = m.tensor((1, 3, 4, 5), scale=s, zp=z)
    mx = m.tensor((1, 3, 4, 5), scale=s, zp=z)
    mn = m.tensor((1, 3, 4, 5), scale=s, zp=z)
    m.op("MAXIMUM", [a, b], [mx])
    m.op("MINIMUM", [a, b], [mn])
    perm = m.tensor((4,), "int32", data=np.array([0, 3, 1, 2], np.int32))
    t = m.tensor((1, 5, 3, 4), scale=s, zp=z)
    m.op("TRANSPOSE", [mx, perm], [t])
    ax = m.tensor((), "int32", data=np.array(0, np.int32))
    e = m.tensor((1, 1, 5, 3, 4), scale=s, zp=z)
    m.op("EXPAND_DIMS", [t, ax], [e])
    sq = m.tensor((5, 3, 4), scale=s, zp=z)
    m.op("SQUEEZE", [e], [sq], "SqueezeOptions")
    m.inputs, m.outputs = [a, b], [mn, sq]
    assert _check(m, rng) > 0
