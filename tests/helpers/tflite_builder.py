"""A tiny builder of ``.tflite`` models for tests: one-subgraph models of tensors (shape,
dtype, per-tensor or per-axis quantization, optional constant data) and builtin operators
with options, written by :mod:`golden.tflite_export`'s table writers (the product's writer).
"""

from __future__ import annotations

import flatbuffers
import numpy as np
import tflite

from golden.tflite_export import (TYPE_CODES, constant_bytes, write_buffers, write_model,
                                  write_opcodes, write_operator, write_options,
                                  write_subgraph, write_tensor)
from golden.tflite_import import ACTIVATIONS, PADDINGS, _snake


class ModelBuilder:
    def __init__(self):
        self.tensors: list[dict] = []
        self.ops: list[tuple] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, shape, dtype="int8", scale=None, zp=None, axis=0, data=None, name=None):
        self.tensors.append(dict(shape=list(shape), dtype=dtype, scale=scale, zp=zp, axis=axis,
                                 data=data, name=name or f"t{len(self.tensors)}"))
        return len(self.tensors) - 1

    def op(self, name, inputs, outputs, options_type=None, **options):
        """``options``: the schema's field names in CamelCase (``StrideH=2``), numbers."""
        self.ops.append((name, list(inputs), list(outputs), options_type, options))

    def build(self) -> bytes:
        """The model's bytes, written by golden.tflite_export's table writers (in this
        builder's own order: the models frozen in tests/data/tflite16x8 stay byte-identical)."""
        b = flatbuffers.Builder(1024)
        buffers, index = write_buffers(
            tflite, b, [(i, constant_bytes(t["data"], t["dtype"]))
                        for i, t in enumerate(self.tensors) if t["data"] is not None],
            alignment=1)
        tensors = [write_tensor(tflite, b, t["name"], t["shape"], TYPE_CODES[t["dtype"]],
                                index.get(i, 0), _quant(t)) for i, t in enumerate(self.tensors)]
        codes = sorted({o[0] for o in self.ops})
        opcodes = write_opcodes(tflite, b, codes)
        ops = [write_operator(tflite, b, codes.index(name), ins, outs,
                              None if otype is None else
                              write_options(tflite, b, otype, {_snake(k): v
                                                               for k, v in opts.items()}))
               for name, ins, outs, otype, opts in self.ops]
        sg = write_subgraph(tflite, b, tensors, ops, self.inputs, self.outputs)
        return write_model(tflite, b, sg, opcodes, buffers, "qmac test model",
                           description_last=False)


def _quant(t):
    """A builder tensor's quantization for write_tensor (zero point 0 when not given)."""
    if t["scale"] is None:
        return None
    return (np.atleast_1d(np.asarray(t["scale"], np.float32)),
            np.atleast_1d(np.asarray(t["zp"] if t["zp"] is not None else 0, np.int64)),
            t["axis"])


ACT = {name: code for code, name in ACTIVATIONS.items()}
PAD = {name: code for code, name in PADDINGS.items()}


def one_op_model(op: str, *, y_scale=0.1) -> bytes:
    """An int8 model of one operator ``y = op(x)`` on ``[1, 4]`` (scales 0.1 and
    ``y_scale``, zero points 0): a model whose operator qmac may not support."""
    m = ModelBuilder()
    x = m.tensor((1, 4), scale=0.1, zp=0)
    y = m.tensor((1, 4), scale=y_scale, zp=0)
    m.op(op, [x], [y])
    m.inputs, m.outputs = [x], [y]
    return m.build()


def float_fc_model() -> bytes:
    """A float32 FULLY_CONNECTED ``[1, 4] → [1, 3]``, weights all 1, no bias (a model that
    was not quantized)."""
    m = ModelBuilder()
    x = m.tensor((1, 4), "float32")
    w = m.tensor((3, 4), "float32", data=np.ones((3, 4), np.float32))
    y = m.tensor((1, 3), "float32")
    m.op("FULLY_CONNECTED", [x, w, -1], [y])
    m.inputs, m.outputs = [x], [y]
    return m.build()


def conv_model(rng, *, kind, in_shape, kernel, cout_or_dm, stride, dilation, padding, act,
               per_channel, x_zp, y_zp):
    """A one-op CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED model with random weights."""
    m = ModelBuilder()
    n, h, w, cin = in_shape
    xs = 0.02
    taps = kernel[0] * kernel[1] * (cin if kind == "CONV_2D" else 1)
    taps = int(np.prod(in_shape[1:])) if kind == "FULLY_CONNECTED" else taps
    ys = float(np.sqrt(taps) * 74 * 74 * xs * 0.011 / 40)  # outputs spread over ~±40 codes
    if kind == "FULLY_CONNECTED":
        k = int(np.prod(in_shape[1:]))
        cout = cout_or_dm
        wshape, axis = (cout, k), 0
        x = m.tensor((1, k), scale=xs, zp=x_zp)
        out_shape = (1, cout)
    elif kind == "CONV_2D":
        cout = cout_or_dm
        wshape, axis = (cout, kernel[0], kernel[1], cin), 0
        x = m.tensor(in_shape, scale=xs, zp=x_zp)
    else:
        cout = cin * cout_or_dm
        wshape, axis = (1, kernel[0], kernel[1], cout), 3
        x = m.tensor(in_shape, scale=xs, zp=x_zp)
    wdata = rng.integers(-127, 128, size=wshape).astype(np.int8)
    wscale = (rng.uniform(0.002, 0.02, size=cout) if per_channel
              else np.float32(rng.uniform(0.002, 0.02)))
    wt = m.tensor(wshape, scale=wscale, zp=np.zeros(cout if per_channel else 1, np.int64),
                  axis=axis, data=wdata)
    bscale = np.float32(xs) * np.asarray(wscale, np.float32)
    bt = m.tensor((cout,), "int32", scale=np.broadcast_to(bscale, (cout,)) if per_channel else bscale,
                  zp=np.zeros(cout if per_channel else 1, np.int64),
                  data=rng.integers(-3000, 3000, size=cout).astype(np.int32))
    if kind == "FULLY_CONNECTED":
        y = m.tensor(out_shape, scale=ys, zp=y_zp)
        m.op(kind, [x, wt, bt], [y], "FullyConnectedOptions",
             FusedActivationFunction=ACT[act])
    else:
        from golden.lowering import conv_geometry
        oh, _ = conv_geometry(h, kernel[0], stride[0], dilation[0], padding)
        ow, _ = conv_geometry(w, kernel[1], stride[1], dilation[1], padding)
        y = m.tensor((n, oh, ow, cout), scale=ys, zp=y_zp)
        common = dict(Padding=PAD[padding], StrideH=stride[0], StrideW=stride[1],
                      DilationHFactor=dilation[0], DilationWFactor=dilation[1],
                      FusedActivationFunction=ACT[act])
        if kind == "CONV_2D":
            m.op(kind, [x, wt, bt], [y], "Conv2DOptions", **common)
        else:
            m.op(kind, [x, wt, bt], [y], "DepthwiseConv2DOptions",
                 DepthMultiplier=cout_or_dm, **common)
    m.inputs, m.outputs = [x], [y]
    return m.build()


def mobilenet_like(rng, *, size=12, cin=3, mid=20, out=24, classes=5):
    """A small int8 MobileNet-style chain written here: CONV 3×3/2 RELU6 → DEPTHWISE 3×3
    (``mid`` channels: two depthwise groups on a 16-column array) RELU6 → CONV 1×1 → ADD
    (residual-free: the 1×1 output with itself) → AVERAGE_POOL → RESHAPE → FC → SOFTMAX."""
    m = ModelBuilder()

    def q(shape, s, z=None):
        return m.tensor(shape, scale=s, zp=int(rng.integers(-20, 20)) if z is None else z)

    def weights(shape, axis, cout):
        ws = rng.uniform(0.004, 0.012, size=cout)
        w = m.tensor(shape, scale=ws, zp=np.zeros(cout, np.int64), axis=axis,
                     data=rng.integers(-127, 128, size=shape).astype(np.int8))
        return w, ws

    def bias(cout, xs, ws):
        return m.tensor((cout,), "int32", scale=np.float32(xs) * ws.astype(np.float32),
                        zp=np.zeros(cout, np.int64),
                        data=rng.integers(-2000, 2000, size=cout).astype(np.int32))

    half = (size + 1) // 2
    x = q((1, size, size, cin), 0.02, -128)
    w0, ws0 = weights((mid, 3, 3, cin), 0, mid)
    a0 = q((1, half, half, mid), 0.05, -128)
    m.op("CONV_2D", [x, w0, bias(mid, 0.02, ws0)], [a0], "Conv2DOptions", Padding=0,
         StrideH=2, StrideW=2, DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=3)
    w1, ws1 = weights((1, 3, 3, mid), 3, mid)
    a1 = q((1, half, half, mid), 0.05, -128)
    m.op("DEPTHWISE_CONV_2D", [a0, w1, bias(mid, 0.05, ws1)], [a1], "DepthwiseConv2DOptions",
         Padding=0, StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1,
         DepthMultiplier=1, FusedActivationFunction=3)
    w2, ws2 = weights((out, 1, 1, mid), 0, out)
    a2 = q((1, half, half, out), 0.2)
    m.op("CONV_2D", [a1, w2, bias(out, 0.05, ws2)], [a2], "Conv2DOptions", Padding=1,
         StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=0)
    a3 = q((1, half, half, out), 0.3)
    m.op("ADD", [a2, a2], [a3], "AddOptions", FusedActivationFunction=0)
    a4 = m.tensor((1, 1, 1, out), scale=0.3, zp=m.tensors[a3]["zp"])
    m.op("AVERAGE_POOL_2D", [a3], [a4], "Pool2DOptions", Padding=1, StrideH=half,
         StrideW=half, FilterHeight=half, FilterWidth=half, FusedActivationFunction=0)
    shp = m.tensor((2,), "int32", data=np.array([1, out], np.int32))
    a5 = m.tensor((1, out), scale=0.3, zp=m.tensors[a3]["zp"])
    m.op("RESHAPE", [a4, shp], [a5])
    wf = m.tensor((classes, out), scale=0.01, zp=0,
                  data=rng.integers(-127, 128, size=(classes, out)).astype(np.int8))
    bf = m.tensor((classes,), "int32", scale=0.003, zp=0,
                  data=rng.integers(-500, 500, size=classes).astype(np.int32))
    a6 = q((1, classes), 0.1)
    m.op("FULLY_CONNECTED", [a5, wf, bf], [a6], "FullyConnectedOptions",
         FusedActivationFunction=0)
    y = m.tensor((1, classes), scale=1 / 256, zp=-128)
    m.op("SOFTMAX", [a6], [y], "SoftmaxOptions", Beta=1.0)
    m.inputs, m.outputs = [x], [y]
    return m.build()


def uint8_model(rng):
    """A TOCO-style uint8 chain: CONV 3×3 (per-tensor, weight zero point) → DEPTHWISE
    (depth multiplier 2) → FC, uint8 activations with non-zero zero points. Weights are
    drawn within ±127 of their zero point so ``w − w_zp`` fits a signed 8-bit datapath."""
    m = ModelBuilder()

    def w(shape, zp, s):
        return m.tensor(shape, "uint8", scale=s, zp=zp,
                        data=np.clip(zp + rng.integers(-100, 101, size=shape), 0, 255))

    def b(n, s):
        return m.tensor((n,), "int32", scale=s, zp=0, data=rng.integers(-800, 800, size=n))

    x = m.tensor((1, 7, 7, 3), "uint8", scale=0.02, zp=120)
    a0 = m.tensor((1, 7, 7, 4), "uint8", scale=0.08, zp=10)
    m.op("CONV_2D", [x, w((4, 3, 3, 3), 131, 0.01), b(4, 0.0002)], [a0], "Conv2DOptions",
         Padding=0, StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1,
         FusedActivationFunction=3)
    a1 = m.tensor((1, 4, 4, 8), "uint8", scale=0.05, zp=128)
    m.op("DEPTHWISE_CONV_2D", [a0, w((1, 3, 3, 8), 125, 0.01), b(8, 0.0008)], [a1],
         "DepthwiseConv2DOptions", Padding=0, StrideH=2, StrideW=2, DilationHFactor=1,
         DilationWFactor=1, DepthMultiplier=2, FusedActivationFunction=0)
    shp = m.tensor((2,), "int32", data=np.array([1, 128], np.int32))
    a2 = m.tensor((1, 128), "uint8", scale=0.05, zp=128)
    m.op("RESHAPE", [a1, shp], [a2])
    y = m.tensor((1, 5), "uint8", scale=0.3, zp=90)
    m.op("FULLY_CONNECTED", [a2, w((5, 128), 128, 0.005), b(5, 0.00025)], [y],
         "FullyConnectedOptions", FusedActivationFunction=0)
    m.inputs, m.outputs = [x], [y]
    return m.build()


def model_16x8(rng, *, kind, in_shape, cout, per_channel, kernel=(3, 3), stride=(1, 1),
               padding="SAME", act="NONE", scales=(0.0005, 0.002)):
    """A one-op 16x8 FULLY_CONNECTED / CONV_2D model (TFLite's 16x8 quantization): int16
    input and output (zero points 0), int8 weights (symmetric, per-tensor or per-channel),
    int64 bias with scale ``S_x·S_w``. For uniform int16 inputs the outputs spread over about
    ±12000 codes (both int16 ends saturate now and then)."""
    m = ModelBuilder()
    xs, ys = scales
    if kind == "FULLY_CONNECTED":
        k = int(np.prod(in_shape[1:]))
        wshape, out_shape = (cout, k), (in_shape[0], cout)
        x = m.tensor((in_shape[0], k), "int16", scale=xs, zp=0)
    else:
        from golden.lowering import conv_geometry
        n, h, w_, cin = in_shape
        wshape = (cout, kernel[0], kernel[1], cin)
        oh, _ = conv_geometry(h, kernel[0], stride[0], 1, padding)
        ow, _ = conv_geometry(w_, kernel[1], stride[1], 1, padding)
        out_shape = (n, oh, ow, cout)
        x = m.tensor(in_shape, "int16", scale=xs, zp=0)
    taps = int(np.prod(wshape[1:]))
    w = rng.integers(-127, 128, size=wshape).astype(np.int8)
    # accumulator std ≈ 18900·73·sqrt(taps) for uniform operands: aim at ~±12000 codes
    m_target = 12000 / (1.4e6 * np.sqrt(taps))
    ws = (rng.uniform(0.5, 2.0, cout) if per_channel else np.float32(rng.uniform(0.5, 2.0))) \
        * m_target * ys / xs
    nz = np.zeros(cout if per_channel else 1, np.int64)
    wt = m.tensor(wshape, "int8", scale=ws, zp=nz, axis=0, data=w)
    bt = m.tensor((cout,), "int64", scale=np.float32(xs) * np.asarray(ws, np.float32), zp=nz,
                  data=rng.integers(-(2**24), 2**24, size=cout).astype(np.int64))
    y = m.tensor(out_shape, "int16", scale=ys, zp=0)
    if kind == "FULLY_CONNECTED":
        m.op(kind, [x, wt, bt], [y], "FullyConnectedOptions", FusedActivationFunction=ACT[act])
    else:
        m.op(kind, [x, wt, bt], [y], "Conv2DOptions", Padding=PAD[padding], StrideH=stride[0],
             StrideW=stride[1], DilationHFactor=1, DilationWFactor=1,
             FusedActivationFunction=ACT[act])
    m.inputs, m.outputs = [x], [y]
    return m.build()


def mlp_8_4_8(rng, *, k=24, hidden=12, classes=5):
    """An int8 FC → FC → FC model whose middle layer fits 4-bit hardware: its weights are in
    [−7, 7] and its input and output activations are clamped to [−7, 7] by RELU_N1_TO_1
    with scale 1/7 (zero point 0) — an 8/4/8 network in a plain int8 file."""
    m = ModelBuilder()
    x = m.tensor((1, k), scale=0.02, zp=-3)

    def fc(xin, xs, n_in, n_out, wmax, ys, yzp, act):
        ws = float(rng.uniform(0.004, 0.02))
        w = m.tensor((n_out, n_in), scale=ws, zp=0,
                     data=rng.integers(-wmax, wmax + 1, size=(n_out, n_in)).astype(np.int8))
        b = m.tensor((n_out,), "int32", scale=np.float32(xs) * np.float32(ws), zp=0,
                     data=rng.integers(-300, 300, size=n_out).astype(np.int32))
        y = m.tensor((1, n_out), scale=ys, zp=yzp)
        m.op("FULLY_CONNECTED", [xin, w, b], [y], "FullyConnectedOptions",
             FusedActivationFunction=act)
        return y

    h1 = fc(x, 0.02, k, hidden, 127, 1 / 7, 0, 2)          # RELU_N1_TO_1: [−7, 7]
    h2 = fc(h1, 1 / 7, hidden, hidden, 7, 1 / 7, 0, 2)      # the 4-bit layer
    y = fc(h2, 1 / 7, hidden, classes, 127, 0.05, 10, 0)
    m.inputs, m.outputs = [x], [y]
    return m.build()


def uint8_full_range_model(rng):
    """A legacy (TOCO-style) uint8 CONV_2D → FULLY_CONNECTED chain whose per-tensor weights
    use the whole [0, 255] range with zero points 131 and 77: ``w − w_zp`` spans
    [−131, 124] and [−77, 178], beyond a signed 8-bit stored weight (the weight zero point
    has to be handled exactly, not folded into an 8-bit ``w'``)."""
    m = ModelBuilder()
    x = m.tensor((1, 6, 6, 3), "uint8", scale=0.02, zp=120)
    w0 = m.tensor((4, 3, 3, 3), "uint8", scale=0.004, zp=131,
                  data=rng.integers(0, 256, size=(4, 3, 3, 3)))
    m.tensors[w0]["data"][0, 0, 0, :] = [0, 255, 131]
    b0 = m.tensor((4,), "int32", scale=np.float32(0.02) * np.float32(0.004), zp=0,
                  data=rng.integers(-2000, 2000, size=4))
    a0 = m.tensor((1, 6, 6, 4), "uint8", scale=0.06, zp=100)
    m.op("CONV_2D", [x, w0, b0], [a0], "Conv2DOptions", Padding=0, StrideH=1, StrideW=1,
         DilationHFactor=1, DilationWFactor=1, FusedActivationFunction=0)
    shp = m.tensor((2,), "int32", data=np.array([1, 144], np.int32))
    a1 = m.tensor((1, 144), "uint8", scale=0.06, zp=100)
    m.op("RESHAPE", [a0, shp], [a1])
    w1 = m.tensor((6, 144), "uint8", scale=0.002, zp=77,
                  data=rng.integers(0, 256, size=(6, 144)))
    b1 = m.tensor((6,), "int32", scale=np.float32(0.06) * np.float32(0.002), zp=0,
                  data=rng.integers(-5000, 5000, size=6))
    y = m.tensor((1, 6), "uint8", scale=0.25, zp=128)
    m.op("FULLY_CONNECTED", [a1, w1, b1], [y], "FullyConnectedOptions",
         FusedActivationFunction=1)
    m.inputs, m.outputs = [x], [y]
    return m.build()


def float_model(rng, *, size=10, cin=2, mid=6, classes=4):
    """A small float32 model (what ``qmac quantize`` takes): CONV 3×3/2 SAME RELU6 →
    DEPTHWISE 3×3 RELU (depth multiplier 2) → DEPTHWISE 1×1 → ADD of the two → AVERAGE_POOL
    2×2 → RESHAPE → FC RELU → FC → SOFTMAX; weights and biases seeded normals."""
    m = ModelBuilder()

    def t(shape):
        return m.tensor(shape, "float32")

    def const(shape, scale=0.5):
        return m.tensor(shape, "float32", data=(rng.standard_normal(shape) * scale)
                        .astype(np.float32))

    half = (size + 1) // 2
    x = t((1, size, size, cin))
    a0 = t((1, half, half, mid))
    m.op("CONV_2D", [x, const((mid, 3, 3, cin)), const((mid,), 0.1)], [a0], "Conv2DOptions",
         Padding=0, StrideH=2, StrideW=2, DilationHFactor=1, DilationWFactor=1,
         FusedActivationFunction=3)
    a1 = t((1, half, half, 2 * mid))
    m.op("DEPTHWISE_CONV_2D", [a0, const((1, 3, 3, 2 * mid)), const((2 * mid,), 0.1)], [a1],
         "DepthwiseConv2DOptions", Padding=0, StrideH=1, StrideW=1, DilationHFactor=1,
         DilationWFactor=1, DepthMultiplier=2, FusedActivationFunction=1)
    a2 = t((1, half, half, 2 * mid))
    m.op("DEPTHWISE_CONV_2D", [a1, const((1, 1, 1, 2 * mid)), const((2 * mid,), 0.1)], [a2],
         "DepthwiseConv2DOptions", Padding=1, StrideH=1, StrideW=1, DilationHFactor=1,
         DilationWFactor=1, DepthMultiplier=1, FusedActivationFunction=0)
    a3 = t((1, half, half, 2 * mid))
    m.op("ADD", [a1, a2], [a3], "AddOptions", FusedActivationFunction=0)
    q = half // 2
    a4 = t((1, q, q, 2 * mid))
    m.op("AVERAGE_POOL_2D", [a3], [a4], "Pool2DOptions", Padding=1, StrideH=2, StrideW=2,
         FilterHeight=2, FilterWidth=2, FusedActivationFunction=0)
    k = q * q * 2 * mid
    shp = m.tensor((2,), "int32", data=np.array([1, k], np.int32))
    a5 = t((1, k))
    m.op("RESHAPE", [a4, shp], [a5])
    a6 = t((1, 16))
    m.op("FULLY_CONNECTED", [a5, const((16, k), 0.2), const((16,), 0.1)], [a6],
         "FullyConnectedOptions", FusedActivationFunction=1)
    a7 = t((1, classes))
    m.op("FULLY_CONNECTED", [a6, const((classes, 16), 0.3), const((classes,), 0.1)], [a7],
         "FullyConnectedOptions", FusedActivationFunction=0)
    y = t((1, classes))
    m.op("SOFTMAX", [a7], [y], "SoftmaxOptions", Beta=1.0)
    m.inputs, m.outputs = [x], [y]
    return m.build()
