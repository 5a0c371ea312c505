"""Quantize a float network (:mod:`golden.network`) with TFLite's int8 conventions, at any
operand width per layer, and run it on the integer datapath.

:func:`quantize_network` calibrates on user data:

* **weights**: symmetric per output channel, narrow range ``[−(2^(b−1)−1), 2^(b−1)−1]``,
  ``Z_w = 0`` (:func:`golden.quantize.quantize_symmetric`, ``axis=0``);
* **activations** (every tensor ``t_i`` between layers, and the input): asymmetric,
  signed ``b``-bit codes, range from :func:`golden.calibration.calibrate` (min-max,
  percentile, MSE or KL) on the float activations of the calibration data, per tensor;
* **bias**: int32 with ``bias_scale[c] = S_x·S_w[c]``, zero point 0 (:func:`quantize_bias`);
* **requantization**: ``(m0, shift)`` per channel by :func:`golden.layer.layer_multipliers`
  (TFLite's per-channel form, ``M[c] = S_x·S_w[c] / S_y`` in double) and the fused
  activation's clamp by :func:`golden.layer.activation_range` on the output codes.

Operand bits: ``bits[i]`` is the width of layer i's input codes and of its weights; its
output ``t_{i+1}`` is coded on ``bits[i+1]`` bits (the network's output on ``bits[-1]``):
layer i's clamp is that range and the next layer reads the codes unchanged. So every layer
runs on an N-bit datapath with ``N >= max(bits)``.

:func:`run_quantized` chains the layers through a *layer function* ``fn(i, layer, x)`` on
``x`` [rows, K] int codes → ``y`` [rows, C] int codes; a convolution is lowered by im2col
(padding filled with the input zero point; rows = batch × output positions).
:func:`datapath_layer` is the MAC-array hardware's function
(:func:`golden.datapath.fold_zero_points` then :func:`golden.datapath.datapath_model`:
K tiled by R, accumulate, requantize — what the RTL computes bit for bit); ``sim.sweep``
plugs in the crossbar (:func:`golden.crossbar.crossbar_layer_model`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from golden._validate import check_bits
from golden.calibration import calibrate
from golden.datapath import datapath_model, fold_zero_points, wrap
from golden.layer import activation_range, layer_multipliers
from golden.network import FloatNetwork, im2col
from golden.quantize import affine_quantize, quantize_symmetric, round_half_away

__all__ = [
    "QuantLayer",
    "QuantNetwork",
    "quantize_bias",
    "quantize_network",
    "datapath_layer",
    "run_quantized",
]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


@dataclasses.dataclass(frozen=True)
class QuantLayer:
    """One quantized layer: ``y = clamp(Z_y + MBQM(Σ (x − Z_x)·w + bias, m0, shift))``.

    ``w`` is ``[C, K]`` int64 (a convolution's ``[C_out, kh, kw, C_in]`` flattened in that
    order, the im2col column order), ``bias`` int32 values ``[C]``, ``m0``/``shift`` ``[C]``.
    ``positions`` is the number of output positions per example (1 for dense).
    """

    kind: str
    w: np.ndarray
    bias: np.ndarray
    w_scale: np.ndarray
    x_scale: float
    x_zp: int
    y_scale: float
    y_zp: int
    m0: np.ndarray
    shift: np.ndarray
    act_min: int
    act_max: int
    bits: int
    out_bits: int
    positions: int = 1
    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    padding: str = "valid"

    @property
    def macs(self):
        """MACs per example: ``positions · C · K``."""
        return self.positions * self.w.shape[0] * self.w.shape[1]


@dataclasses.dataclass(frozen=True)
class QuantNetwork:
    """Quantized layers plus the input's quantization."""

    layers: tuple
    input_shape: tuple
    method: str

    @property
    def bits(self):
        return tuple(L.bits for L in self.layers)

    @property
    def macs(self):
        """MACs per example of the whole network."""
        return sum(L.macs for L in self.layers)

    def quantize_input(self, x):
        """Input codes of a float batch (float32 division, as TFLite's QUANTIZE)."""
        L0 = self.layers[0]
        return affine_quantize(np.asarray(x, dtype=np.float32), L0.x_scale, L0.x_zp,
                               bits=L0.bits, signed=True)


def quantize_bias(b, x_scale, w_scale):
    """int32 bias, TFLite's convention: ``round(b[c] / (S_x·S_w[c]))``, zero point 0.

    As ``SymmetricPerChannelBiasQuantize`` (``tensorflow/lite/tools/optimize/
    quantization_utils.cc``): in float32, ``scale = S_x·S_w[c]``, then
    ``round_half_away(b[c] · (1 / scale))``, clamped to int32.

    Parameters
    ----------
    b : array_like of float, shape (C,)
    x_scale : float
    w_scale : array_like of float, shape (C,) or ()

    Returns
    -------
    np.ndarray of int64, shape (C,)
    """
    b32 = np.asarray(b, dtype=np.float32)
    scale = np.float32(x_scale) * np.asarray(w_scale, dtype=np.float32)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.where(scale == 0, np.float32(0), np.float32(1) / scale).astype(np.float32)
        q = round_half_away((b32 * inv).astype(np.float32)).astype(np.float64)
    return np.clip(q, _INT32_MIN, _INT32_MAX).astype(np.int64)


def _bits_list(bits, n):
    seq = [bits] * n if np.ndim(bits) == 0 else list(bits)
    if len(seq) != n:
        raise ValueError(f"len(bits)={len(seq)} is out of range; allowed: one int or {n} "
                         f"(one per layer)")
    return [check_bits(f"bits[{i}]", b) for i, b in enumerate(seq)]


def _quant_layer(layer, acts_in, p_in, p_out, b, b_out, positions):
    xs, xz = float(p_in[0]), int(p_in[1])
    ys, yz = float(p_out[0]), int(p_out[1])
    qw, ws, _ = quantize_symmetric(layer.w, bits=b, axis=0)
    ws = np.asarray(ws, dtype=np.float64).reshape(-1)
    m0, shift = layer_multipliers(xs, ws, ys)
    act_min, act_max = activation_range(layer.act, ys, yz, out_bits=b_out, out_signed=True)
    kernel = tuple(layer.w.shape[1:3]) if layer.kind == "conv2d" else (1, 1)
    return QuantLayer(kind=layer.kind, w=qw.reshape(qw.shape[0], -1).astype(np.int64),
                      bias=quantize_bias(layer.b, xs, ws), w_scale=ws, x_scale=xs, x_zp=xz,
                      y_scale=ys, y_zp=yz, m0=m0, shift=shift, act_min=int(act_min),
                      act_max=int(act_max), bits=b, out_bits=b_out, positions=positions,
                      kernel=kernel, stride=tuple(layer.stride), padding=layer.padding)


def quantize_network(net, calib_x, *, bits=8, method="minmax", calib_cache=None,
                     **calib_options):
    """Calibrate ``net`` on ``calib_x`` and quantize it (module docstring).

    Parameters
    ----------
    net : FloatNetwork
    calib_x : array_like of float, shape (B,) + net.input_shape
        Calibration inputs (user data, ``B >= 1``).
    bits : int or sequence of int
        Operand bits 2..16, one for all layers or one per layer.
    method : {"minmax", "percentile", "mse", "kl"}
        Activation range calibration (:func:`golden.calibration.calibrate`).
    calib_cache : dict, optional
        Reused across calls on the same ``net`` and ``calib_x`` (e.g. a sweep): activation
        parameters keyed by ``(tensor index, bits, method, options)``.
    **calib_options
        Passed to the calibration method (``percentile``, ``num_candidates``,
        ``num_bins``, ``fallback``).

    Returns
    -------
    QuantNetwork
    """
    if not isinstance(net, FloatNetwork):
        raise ValueError(f"net={net!r} is out of range; allowed: a FloatNetwork")
    x = np.asarray(calib_x, dtype=np.float64)
    if x.ndim < 1 or x.shape[0] < 1 or x.shape[1:] != tuple(net.input_shape):
        raise ValueError(f"calib_x.shape={x.shape} is out of range; allowed: "
                         f"(B >= 1, {', '.join(map(str, net.input_shape))})")
    n = len(net.layers)
    b = _bits_list(bits, n)
    tbits = b + [b[-1]]
    acts = net.forward(x)
    cache = {} if calib_cache is None else calib_cache
    opts = tuple(sorted(calib_options.items()))
    params = []
    for i, (a, tb) in enumerate(zip(acts, tbits)):
        key = (i, tb, method, opts)
        if key not in cache:
            cache[key] = calibrate(a.reshape(-1), method, bits=tb, symmetric=False,
                                   signed=True, **calib_options)
        params.append(cache[key])
    layers = []
    for i, layer in enumerate(net.layers):
        pos = int(np.prod(acts[i + 1].shape[1:-1])) if layer.kind == "conv2d" else 1
        layers.append(_quant_layer(layer, acts[i], params[i], params[i + 1], b[i],
                                   tbits[i + 1], pos))
    return QuantNetwork(tuple(layers), tuple(net.input_shape), method)


def datapath_layer(layer, x, *, bits, rows, acc_bits=32, overflow="wrap", rounding="double"):
    """One layer on the MAC-array datapath (``golden.datapath``), bit-exact with the RTL.

    Fold zero points (``w' = w``, ``bias' = bias − Z_x·Σ w``, reduced mod ``2^acc_bits``
    under ``"wrap"`` as the ``acc_bits``-wide bias register holds it), then
    :func:`golden.datapath.datapath_model` with signed N-bit operands (``N = bits >=
    layer.bits``), ``R = rows``.

    Returns
    -------
    np.ndarray of int64, shape (rows_x, C)
    """
    wf, bf = fold_zero_points(layer.w, layer.bias, x_zp=layer.x_zp)
    if overflow == "wrap":  # the bias register is acc_bits wide: mod 2^A changes no output
        bf = wrap(bf, acc_bits)
    y, _ = datapath_model(x, wf, bf, bits=bits, input_signed=True, weight_signed=True,
                          rows=rows, acc_bits=acc_bits, overflow=overflow, m0=layer.m0,
                          shift=layer.shift, y_zp=layer.y_zp, act_min=layer.act_min,
                          act_max=layer.act_max, rounding=rounding)
    return y


def run_quantized(qnet, xq, layer_fn):
    """Integer forward pass: the output codes of every layer.

    Parameters
    ----------
    qnet : QuantNetwork
    xq : array_like of int, shape (B,) + qnet.input_shape
        Input codes (:meth:`QuantNetwork.quantize_input`).
    layer_fn : callable ``(i, layer, x [rows, K]) -> y [rows, C]``

    Returns
    -------
    list of np.ndarray of int64
        ``[t_1, ..., t_L]``; dense outputs ``(B, C)``, conv outputs ``(B, OH, OW, C)``.
    """
    t = np.asarray(xq, dtype=np.int64)
    outs = []
    for i, L in enumerate(qnet.layers):
        if L.kind == "dense":
            y = layer_fn(i, L, t.reshape(t.shape[0], -1))
        else:
            cols, oshape = im2col(t, L.kernel, L.stride, L.padding, L.x_zp)
            y = layer_fn(i, L, cols).reshape(oshape + (-1,))
        outs.append(np.asarray(y, dtype=np.int64))
        t = outs[-1]
    return outs
