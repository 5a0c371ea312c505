"""Quantize a float ``.tflite`` graph into the int8 graph ``qmac run`` executes.

:func:`quantize_graph` takes a float32 :class:`~golden.graph.Graph` (read by
:func:`golden.tflite_import.load_tflite`) and calibration inputs, and returns an int8
graph with the same operators, written with TFLite's int8 conventions
(``tensorflow/lite/tools/optimize``, the int8 quantization spec):

* **activations** — every float tensor the ops compute, and the input: asymmetric int8,
  ``[lo, hi]`` from :func:`golden.calibration.calibrate` (``minmax``, ``percentile``,
  ``mse`` or ``kl``; KL falls back to MSE on a degenerate histogram, with a warning kept in
  the report) on
  the float values the calibration data produce (:func:`golden.float_ops.run_float_graph`),
  extended to contain 0 (:func:`golden.quantize.asymmetric_params`);
* ``mse`` on a tensor of more than :data:`MSE_MAX_VALUES` values (all calibration inputs
  together) searches on every k-th value only (its cost is 100 passes over the data);
* tensors the int8 kernels require to share one quantization — input and output of
  RESHAPE, SQUEEZE, EXPAND_DIMS, MAX_POOL_2D, AVERAGE_POOL_2D, PAD, and every input and the
  output of CONCATENATION — are calibrated together on all their values;
* SOFTMAX and LOGISTIC outputs get the spec's fixed ``scale 1/256, zero point −128``;
* **weights** — symmetric int8, narrow range ``[−127, 127]``, zero point 0, per output
  channel (dimension 0 of CONV_2D / FULLY_CONNECTED, 3 of DEPTHWISE_CONV_2D;
  :func:`golden.quantize.quantize_symmetric`); ``fc_per_channel=False`` gives
  FULLY_CONNECTED one per-tensor scale, as the TFLite converter does;
* **bias** — int32, ``scale[c] = S_x·S_w[c]`` (float32 product), zero point 0
  (:func:`golden.netquant.quantize_bias`);
* other float constants (an ADD operand, say) — asymmetric int8 from their own min/max;
* fused activations stay op options: the integer kernels (and the hardware) turn them into
  the output clamp (``golden.layer.activation_range``), so RELU/RELU6 cost nothing.

``float_io=True`` (default) keeps a float32 graph input and output, as the converter does
by default: a QUANTIZE op at the front, a DEQUANTIZE at the end. ``float_io=False`` makes
the int8 tensors the graph's input and output.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from golden.calibration import calibrate
from golden.float_ops import check_float_graph, run_float_graph
from golden.graph import Graph, GraphError, Op, Quant, Tensor
from golden.netquant import quantize_bias
from golden.quantize import affine_quantize, asymmetric_params, quantize_symmetric

__all__ = ["quantize_graph", "QuantizeReport", "SAME_QUANT_OPS", "FIXED_OUTPUT_QUANT"]

#: ops whose int8 kernels need input and output quantized alike
SAME_QUANT_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "MAX_POOL_2D", "AVERAGE_POOL_2D", "PAD")
#: ops with a fixed int8 output quantization (scale, zero point): the spec's
FIXED_OUTPUT_QUANT = {"SOFTMAX": (1.0 / 256.0, -128), "LOGISTIC": (1.0 / 256.0, -128)}
#: MSE calibration searches 100 candidate ranges over every value: above this many values
#: a tensor is calibrated on an evenly strided sample of them (every k-th value)
MSE_MAX_VALUES = 1 << 20
_WEIGHT_AXIS = {"FULLY_CONNECTED": 0, "CONV_2D": 0, "DEPTHWISE_CONV_2D": 3}


@dataclasses.dataclass
class QuantizeReport:
    """What :func:`quantize_graph` decided, per tensor (for the CLI's table)."""

    method: str
    calib_count: int
    activations: dict = dataclasses.field(default_factory=dict)  # index -> (lo, hi, s, zp)
    weights: dict = dataclasses.field(default_factory=dict)      # index -> (axis|None, C)
    warnings: list = dataclasses.field(default_factory=list)


def _groups(g: Graph) -> dict[int, int]:
    """Union-find of the activation tensors that must share one quantization."""
    parent: dict[int, int] = {}

    def find(i):
        while parent.setdefault(i, i) != i:
            i = parent[i]
        return i

    for op in g.ops:
        if op.name in SAME_QUANT_OPS:
            members = [op.inputs[0], op.outputs[0]]
        elif op.name == "CONCATENATION":
            members = [i for i in op.inputs if i >= 0] + [op.outputs[0]]
        else:
            continue
        root = find(members[0])
        for m in members[1:]:
            parent[find(m)] = root
    return {i: find(i) for i in parent}


def _activation_tensors(g: Graph) -> list[int]:
    seen = [g.inputs[0]]
    for op in g.ops:
        seen += [i for i in op.outputs if i not in seen]
    return seen


def _fixed(g: Graph) -> dict[int, tuple]:
    return {op.outputs[0]: FIXED_OUTPUT_QUANT[op.name] for op in g.ops
            if op.name in FIXED_OUTPUT_QUANT}


def _calibrate_activations(g, values, method, options, report):
    """``{tensor index: (scale, zero_point)}`` for every activation tensor."""
    acts = _activation_tensors(g)
    group = _groups(g)
    fixed = _fixed(g)
    members: dict[int, list[int]] = {}
    for i in acts:
        members.setdefault(group.get(i, i), []).append(i)
    params = {}
    for root, idx in members.items():
        pinned = [fixed[i] for i in idx if i in fixed]
        if pinned:
            s, zp = pinned[0]
        else:
            data = np.concatenate([values[i].reshape(-1) for i in idx])
            if method == "mse" and data.size > MSE_MAX_VALUES:   # every k-th value
                data = data[::-(-data.size // MSE_MAX_VALUES)]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                s, zp = calibrate(data, method, bits=8, symmetric=False, signed=True,
                                  **options)
            for w in caught:
                report.warnings.append(f"tensor {idx[0]} '{g.tensor(idx[0]).name}': "
                                       f"{w.message}")
        for i in idx:
            params[i] = (float(np.float32(s)), int(zp))
            v = values[i]
            report.activations[i] = (float(v.min()), float(v.max()), *params[i])
    return params


def _quant(scale, zp, axis=0) -> Quant:
    return Quant(scale=np.atleast_1d(np.asarray(scale, np.float32)),
                 zero_point=np.atleast_1d(np.asarray(zp, np.int64)), axis=axis)


def _weights(t: Tensor, axis: int | None) -> Tensor:
    q, s, _ = quantize_symmetric(t.data.astype(np.float64), bits=8, axis=axis)
    s32 = np.asarray(s, np.float32)
    return dataclasses.replace(t, dtype="int8", data=q.astype(np.int8),
                               quant=_quant(s32, np.zeros(s32.size, np.int64),
                                            0 if axis is None else axis))


def _bias(t: Tensor, x_scale: float, w: Tensor) -> Tensor:
    ws = w.quant.scale.astype(np.float32)
    q = quantize_bias(t.data.astype(np.float64), np.float32(x_scale),
                      np.broadcast_to(ws, t.data.shape))
    scale = np.float32(x_scale) * ws
    return dataclasses.replace(t, dtype="int32", data=q.astype(np.int32),
                               quant=_quant(scale, np.zeros(scale.size, np.int64),
                                            0))


def _const(t: Tensor) -> Tensor:
    d = t.data.astype(np.float64)
    s, zp = asymmetric_params(float(d.min()), float(d.max()), bits=8, signed=True)
    s = float(np.float32(s))
    codes = affine_quantize(d.astype(np.float32), s, zp, bits=8, signed=True)
    return dataclasses.replace(t, dtype="int8", data=codes.astype(np.int8),
                               quant=_quant(s, zp))


def _quantize_constants(g, tensors, params, fc_per_channel, report):
    done = set()
    for op in g.ops:
        if op.name in _WEIGHT_AXIS:
            wi = op.inputs[1]
            axis = _WEIGHT_AXIS[op.name]
            if op.name == "FULLY_CONNECTED" and not fc_per_channel:
                axis = None
            tensors[wi] = _weights(g.tensor(wi), axis)
            report.weights[wi] = (axis, tensors[wi].quant.scale.size)
            done.add(wi)
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                bi = op.inputs[2]
                tensors[bi] = _bias(g.tensor(bi), params[op.inputs[0]][0], tensors[wi])
                done.add(bi)
    for op in g.ops:
        for i in op.inputs:
            t = g.tensor(i) if i >= 0 else None
            if t is not None and t.is_const and t.dtype == "float32" and i not in done:
                tensors[i] = _const(t)
                done.add(i)


def _float_io(g, tensors, ops, params):
    """QUANTIZE in front of the graph input, DEQUANTIZE after the output."""
    xin, xout = g.inputs[0], g.outputs[0]
    q_in = len(tensors)
    tensors.append(Tensor(q_in, g.tensor(xin).name + "_int8", g.tensor(xin).shape, "int8",
                          _quant(*params[xin])))
    tensors[xin] = dataclasses.replace(g.tensor(xin), dtype="float32", quant=None)
    for op in ops:
        op.inputs = [q_in if i == xin else i for i in op.inputs]
    f_out = len(tensors)
    tensors.append(Tensor(f_out, g.tensor(xout).name + "_float", g.tensor(xout).shape,
                          "float32"))
    ops.insert(0, Op(-1, "QUANTIZE", [xin], [q_in], {}))
    ops.append(Op(-1, "DEQUANTIZE", [xout], [f_out], {}))
    return [xin], [f_out]


def quantize_graph(g: Graph, calib_x, *, method: str = "minmax", float_io: bool = True,
                   fc_per_channel: bool = True, **calib_options):
    """Calibrate the float graph ``g`` on ``calib_x`` and quantize it (module docstring).

    Parameters
    ----------
    g : Graph
        A float32 graph with one input and one output (:func:`check_float_graph`).
    calib_x : array_like of float, shape ``(B,) + input.shape[1:]``, ``B >= 1``
    method : {"minmax", "percentile", "mse", "kl"}
    float_io : bool
        Float32 graph input/output through QUANTIZE / DEQUANTIZE (default) or int8 ones.
    fc_per_channel : bool
        Per-channel FULLY_CONNECTED weights (default) or one scale (the converter's form).
    **calib_options
        Passed to the calibration method (``percentile``, ``num_candidates``, ``num_bins``).

    Returns
    -------
    (Graph, QuantizeReport)
    """
    check_float_graph(g)
    if len(g.outputs) != 1:
        raise GraphError(f"{g.source}: {len(g.outputs)} outputs; allowed: models with one "
                         f"output")
    shape = tuple(g.input_tensors()[0].shape[1:])
    x = np.asarray(calib_x, dtype=np.float64)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or x.shape[0] < 1:
        raise GraphError(f"calibration data {x.dtype} {list(x.shape)} does not fit the model "
                         f"input; allowed: float [B, {', '.join(map(str, shape))}] with B >= 1")
    if not np.all(np.isfinite(x)):
        raise GraphError("calibration data holds NaN or infinity; allowed: finite floats")
    report = QuantizeReport(method=method, calib_count=int(x.shape[0]))
    values = run_float_graph(g, x)
    params = _calibrate_activations(g, values, method, calib_options, report)
    tensors = list(g.tensors)
    for i, (s, zp) in params.items():
        tensors[i] = dataclasses.replace(g.tensor(i), dtype="int8", quant=_quant(s, zp),
                                         data=None)
    _quantize_constants(g, tensors, params, fc_per_channel, report)
    ops = [Op(op.index, op.name, list(op.inputs), list(op.outputs), dict(op.options),
              op.version) for op in g.ops]
    inputs, outputs = list(g.inputs), list(g.outputs)
    if float_io:
        inputs, outputs = _float_io(g, tensors, ops, params)
    for k, op in enumerate(ops):
        op.index = k
    return Graph(tensors=tensors, ops=ops, inputs=inputs, outputs=outputs,
                 source=g.source), report
