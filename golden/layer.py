"""Layer-level requantization parameters from quantization scales (NumPy only).

A quantized layer ``y = act(W·x + b)`` with ``x = S_x(q_x − Z_x)``, ``W = S_w(q_w − Z_w)``
and ``y = S_y(q_y − Z_y)`` computes ::

    q_y = clamp(Z_y + M · Σ (q_w − Z_w)(q_x − Z_x) + ..., act_min, act_max),
    M   = S_x · S_w / S_y        (the "real multiplier")

and hardware applies ``M`` as the fixed-point pair ``(m0, shift)`` of
:func:`golden.multiplier.quantize_multiplier` (``M ≈ m0 · 2^(shift − 31)``).

This module reproduces how TFLite forms ``M`` and the clamp bounds, bit for bit:

* Scales are stored as float32 in a ``.tflite`` file, so every scale argument is first
  rounded to float32 (then must still be positive and finite).
* Per-channel (``w_scale`` 1-D; TFLite ``PopulateConvolutionQuantizationParams``):
  ``M[c] = double(S_x) · double(S_w[c]) / double(S_y)``, evaluated left to right in double.
* Per-tensor (``w_scale`` scalar; TFLite ``GetQuantizedConvolutionMultipler``, used by
  FULLY_CONNECTED): ``M = double(float32(S_x · S_w)) / double(S_y)`` — the product is
  rounded to float32 first. (TFLite's CONV_2D with a per-tensor filter goes through the
  per-channel code with one channel; pass ``w_scale`` as a length-1 array to get that
  form.) The two forms can give different ``m0`` for the same scales.
* Activation clamp (``CalculateActivationRangeQuantized``): with
  ``quantize(v) = Z_y + int(round_half_away(float32(v) / float32(S_y)))`` (float32
  division, ``TfLiteRound``):

  ============== ====================================== ======================================
  activation     act_min                                act_max
  ============== ====================================== ======================================
  "none"         qmin                                   qmax
  "relu"         max(qmin, quantize(0)) = max(qmin, Z)  qmax
  "relu6"        max(qmin, quantize(0))                 min(qmax, quantize(6))
  "relu_n1_to_1" max(qmin, quantize(−1))                min(qmax, quantize(1))
  ============== ====================================== ======================================

  where ``[qmin, qmax]`` is the output type range. TFLite rejects a rounded value outside
  the int32 range (``Quantize`` in ``kernel_util.cc``); so does :func:`activation_range`.

Seed note: the seed slides derive ``M = S_1·S_2/S_3`` symbolically and never say in which
precision; the precision matters for bit-exactness and is given above.
"""

import numpy as np

from golden._validate import (
    as_float_array,
    as_int_array,
    check_bits,
    check_bool,
    check_choice,
    check_range,
)
from golden.multiplier import quantize_multiplier
from golden.quantize import qrange, round_half_away

__all__ = ["ACTIVATIONS", "real_multiplier", "layer_multipliers", "activation_range"]

ACTIVATIONS = ("none", "relu", "relu6", "relu_n1_to_1")

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def _scale32(name, value, *, ndim_allowed):
    """A scale argument rounded to float32, validated positive and finite there."""
    arr = as_float_array(name, value)
    if arr.ndim not in ndim_allowed:
        allowed = "a scalar" if ndim_allowed == (0,) else "a scalar or a 1-D array"
        raise ValueError(f"{name}.shape={arr.shape} is out of range; allowed: {allowed}")
    if arr.ndim == 1 and arr.size == 0:
        raise ValueError(f"{name}.shape={arr.shape} is out of range; allowed: >= 1 channel")
    with np.errstate(over="ignore", under="ignore"):
        a32 = arr.astype(np.float32)
    bad = ~(np.isfinite(a32) & (a32 > 0))
    if bad.any():
        i = int(np.argmax(bad.reshape(-1)))
        label = name if arr.ndim == 0 else f"{name}[{i}]"
        raise ValueError(
            f"{label}={arr.reshape(-1)[i].item()!r} is out of range; allowed: > 0 and "
            f"finite as float32 (about [1.4e-45, 3.4e38])"
        )
    return a32


def real_multiplier(x_scale, w_scale, y_scale):
    """The real multiplier ``M = S_x · S_w / S_y`` exactly as TFLite computes it.

    Parameters
    ----------
    x_scale : float
        Input scale ``S_x`` (> 0; rounded to float32 first).
    w_scale : float or array_like of float
        Weight scale: a scalar (per-tensor, FULLY_CONNECTED form) or a 1-D array with one
        scale per output channel (per-channel form). Each > 0, rounded to float32 first.
    y_scale : float
        Output scale ``S_y`` (> 0; rounded to float32 first).

    Returns
    -------
    float or numpy.ndarray of float64
        Per-tensor: ``double(float32(S_x·S_w)) / double(S_y)`` as a Python float.
        Per-channel: ``double(S_x)·double(S_w[c]) / double(S_y)``, shape ``(C,)``.

    Examples
    --------
    >>> real_multiplier(0.5, 0.25, 2.0)
    0.0625
    """
    xs = _scale32("x_scale", x_scale, ndim_allowed=(0,))
    ws = _scale32("w_scale", w_scale, ndim_allowed=(0, 1))
    ys = _scale32("y_scale", y_scale, ndim_allowed=(0,))
    if ws.ndim == 0:
        with np.errstate(over="ignore", under="ignore"):
            prod = np.float32(xs) * np.float32(ws)  # float32 product, rounded once
        if not (np.isfinite(prod) and prod > 0):
            raise ValueError(
                f"w_scale={w_scale!r} is out of range; allowed: x_scale*w_scale > 0 and "
                f"finite in float32 (x_scale={x_scale!r})"
            )
        return float(np.float64(prod) / np.float64(ys))
    return (np.float64(xs) * ws.astype(np.float64)) / np.float64(ys)


def layer_multipliers(x_scale, w_scale, y_scale):
    """Fixed-point requantization multipliers ``(m0, shift)`` of a layer.

    ``quantize_multiplier(real_multiplier(x_scale, w_scale, y_scale))`` (TFLite
    ``QuantizeMultiplier``): ``M ≈ m0 · 2^(shift − 31)``, ``m0`` 0 or in
    ``[2^30, 2^31 − 1]``, ``shift ∈ [−31, 30]`` (negative = right shift).

    Parameters
    ----------
    x_scale, w_scale, y_scale
        As :func:`real_multiplier`. ``M`` must be below ``2^30 − 2^−2``.

    Returns
    -------
    m0 : numpy.ndarray of int64
        Shape ``()`` for a scalar ``w_scale``, ``(C,)`` per channel.
    shift : numpy.ndarray of int64
        Same shape.
    """
    real = real_multiplier(x_scale, w_scale, y_scale)
    m0, shift = quantize_multiplier(np.asarray(real, dtype=np.float64))
    return np.asarray(m0, dtype=np.int64), np.asarray(shift, dtype=np.int64)


def _quantize_act(value, scale32, zp, y_scale):
    """TFLite ``Quantize(context, scale, zero_point, f, q)``: float32 division, round half
    away from zero, int32 range check, then ``+ zero_point``."""
    with np.errstate(over="ignore"):
        ratio = np.float32(value) / scale32
    t = round_half_away(ratio) if np.isfinite(ratio) else ratio
    if not (_INT32_MIN <= float(t) <= _INT32_MAX):
        raise ValueError(
            f"y_scale={y_scale!r} is out of range; allowed: round({value}/y_scale) must "
            f"fit int32 (TFLite rejects it)"
        )
    return zp + int(t)


def activation_range(activation, y_scale, y_zp, *, out_bits=8, out_signed=True):
    """Clamp bounds ``(act_min, act_max)`` of a fused activation (TFLite
    ``CalculateActivationRangeQuantized``).

    See the module docstring for the table. ``act_min ≤ act_max`` always holds and both lie
    in the output range, as ``golden.datapath.requantize`` and the hardware require.

    Parameters
    ----------
    activation : str
        ``"none"``, ``"relu"``, ``"relu6"`` or ``"relu_n1_to_1"``.
    y_scale : float
        Output scale ``S_y`` (> 0; rounded to float32 as TFLite stores it).
    y_zp : int
        Output zero point, inside the output range.
    out_bits : int
        Output width 2..16.
    out_signed : bool
        Output codes ``[−2^(b−1), 2^(b−1) − 1]`` (True) or ``[0, 2^b − 1]`` (False).

    Returns
    -------
    tuple of int
        ``(act_min, act_max)``.

    Examples
    --------
    >>> activation_range("relu6", 6.0 / 255, -128)
    (-128, 127)
    >>> activation_range("relu6", 0.05, -10)
    (-10, 110)
    """
    check_choice("activation", activation, ACTIVATIONS)
    out_bits = check_bits("out_bits", out_bits)
    out_signed = check_bool("out_signed", out_signed)
    qmin, qmax = qrange(out_bits, signed=out_signed)
    s32 = np.float32(_scale32("y_scale", y_scale, ndim_allowed=(0,)))
    zp = as_int_array("y_zp", y_zp)
    if zp.ndim != 0:
        raise ValueError(f"y_zp.shape={zp.shape} is out of range; allowed: () (a scalar)")
    zp = int(check_range("y_zp", zp, qmin, qmax))
    if activation == "none":
        return qmin, qmax
    if activation == "relu":
        return max(qmin, _quantize_act(0.0, s32, zp, y_scale)), qmax
    if activation == "relu6":
        return (max(qmin, _quantize_act(0.0, s32, zp, y_scale)),
                min(qmax, _quantize_act(6.0, s32, zp, y_scale)))
    return (max(qmin, _quantize_act(-1.0, s32, zp, y_scale)),
            min(qmax, _quantize_act(1.0, s32, zp, y_scale)))
