"""Uniform affine quantization: real values ↔ b-bit integers (NumPy only).

The affine map shared by TFLite, gemmlowp and the quantization literature is ::

    r = S · (q − Z)                     (dequantize)
    q = clamp(round(r / S) + Z, qmin, qmax)   (quantize)

with scale ``S > 0`` (a real number) and zero point ``Z`` (an integer in ``[qmin, qmax]``),
so that the real value 0.0 is represented exactly by ``q = Z``.

Two parameter choices are provided:

* **symmetric** (weights): ``Z = 0``, narrow range ``q ∈ [−(2^(b−1) − 1), 2^(b−1) − 1]``,
  ``S = max|r| / (2^(b−1) − 1)`` (TFLite int8 weights: ``[−127, 127]``, ``S = max|r| / 127``).
* **asymmetric** (activations): ``[rmin, rmax]`` is first extended to contain 0
  (``rmin ← min(rmin, 0)``, ``rmax ← max(rmax, 0)``) so that 0.0 is exactly representable,
  then ``S = (rmax − rmin) / (qmax − qmin) = (rmax − rmin) / (2^b − 1)`` and
  ``Z = clamp(round(qmin − rmin / S), qmin, qmax)`` over the signed range
  ``[−2^(b−1), 2^(b−1) − 1]`` or the unsigned range ``[0, 2^b − 1]``.

Every function works for any bit width ``b`` in ``2..16``, per tensor (``axis=None``,
scalar ``S`` and ``Z``) or per channel along any ``axis`` (1-D ``S`` and ``Z`` of length
``r.shape[axis]``).

Rounding
--------
float → int rounding is **round half away from zero** (``round_half_away``), i.e. C/C++
``std::round`` / ``TfLiteRound``, as used by TFLite's quantizer and its ``Quantize`` kernel.
It is *not* NumPy's ``np.round`` (half to even, used in several tutorials), nor
``floor(x + 0.5)`` (half up, the "nearest level" formula of some textbooks); the three
differ only on exact ties such as ``−2.5`` (→ −3 here, −2 with the other two).

Differences from the seed documents (the primary source, TFLite, is followed)
------------------------------------------------------------------------------
* Sign of the zero point: ``q = round(r/S) + Z`` and ``r = S(q − Z)``. One seed writes
  ``q = round(r/S) − Z`` with ``r̃ = S(q + Z)``; that is the same map with ``Z`` negated,
  but mixing it with ``Z = round(−rmin/S)`` (also from that seed) gives wrong results.
* Zero point: TFLite computes ``Z = round(qmin − rmin/S)`` in one rounding; the seeds write
  ``round(−rmin/S)`` (+ ``qmin``). These agree except on an exact tie with a negative
  ``qmin``: ``qmin = −128``, ``−rmin/S = 0.5`` gives ``round(−127.5) = −128`` here and
  ``−128 + round(0.5) = −127`` in the seed form.
* The seeds take ``[rmin, rmax]`` as given; TFLite (and this module) first extend it to
  include 0, otherwise ``Z`` can fall outside ``[qmin, qmax]`` and 0.0 (padding, ReLU
  output) is not representable.
* One seed's ``Quantizer`` clamps symmetric values into ``[0, 2^b − 1]`` (losing every
  negative value) and casts 8-bit unsigned codes to ``int8`` (wrapping 128..255); here the
  symmetric range is signed and results are ``int64``.
* Step size: one seed uses ``Δ = (B − A) / 2^b``; with ``2^b`` levels *including both end
  points* the step is ``(B − A) / (2^b − 1)`` (TFLite, and the other seeds).
* All-zero input: ``S`` would be 0. TFLite's dynamic-range quantizer
  (``PortableSymmetricQuantizeFloats``) and the MLIR quantizer (``fakeQuantAttrsToType``)
  use ``S = 1`` then (MLIR with ``Z = qmin``); this module does the same (``S = 1``,
  ``Z = 0`` symmetric, ``Z = qmin`` asymmetric), while TFLite's legacy weight quantizer
  (``SymmetricPerChannelQuantization``) stores ``S = 0``.
* The zero point follows ``GetAsymmetricQuantizationParams`` (TFLite
  ``tools/optimize/quantization_utils.cc``: always anchored at ``(rmin, qmin)``). The MLIR
  quantizer anchors at ``(rmin, qmin)`` or ``(rmax, qmax)``, whichever has the smaller
  float error; the two agree except within float rounding of a tie.
* TFLite's legacy weight quantizer computes ``round(r · (127 / max|r|))`` in float32
  (multiplying by an inverse scale) instead of ``round(r / S)``; the two can differ by one
  on values within a float32 ulp of a tie.

Arithmetic precision
--------------------
For ``float32`` input ``r``, ``r / S`` is evaluated in float32 with ``S`` rounded to
float32, exactly like TFLite's reference ``AffineQuantize`` kernel
(``TfLiteRound(val / static_cast<float>(scale))``). Any other input is converted to
float64 and divided in float64. Parameters (``S``) are returned as float64.
"""

import numpy as np

from golden._validate import (
    as_float_array,
    as_int_array,
    check_bits,
    check_bool,
    check_int,
    check_range,
)

__all__ = [
    "round_half_away",
    "qrange",
    "symmetric_params",
    "asymmetric_params",
    "affine_quantize",
    "dequantize",
    "fake_quantize",
    "quantize_symmetric",
    "quantize_asymmetric",
]


def round_half_away(x):
    """Round to the nearest integer, ties away from zero (C ``std::round``, ``TfLiteRound``).

    ``round_half_away(x) = sign(x) · floor(|x| + 1/2)`` evaluated exactly: the fraction
    ``x − trunc(x)`` is exact in binary floating point, so no double rounding occurs
    (``floor(|x| + 0.5)`` itself would round 0.49999999999999994 up to 1).

    Parameters
    ----------
    x : array_like of float
        Real values (``±inf`` and NaN pass through); the floating dtype is kept (float32
        stays float32, integers become float64).

    Returns
    -------
    numpy.ndarray
        Rounded values, same dtype (float) and shape as ``x``.

    Examples
    --------
    >>> round_half_away([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]).tolist()
    [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]
    """
    arr = np.asarray(x) if not isinstance(x, (bool, np.bool_)) else None
    if arr is None or arr.dtype.kind not in "iuf":
        arr = as_float_array("x", x, finite=False)  # raises for non-real input
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    t = np.trunc(arr)
    with np.errstate(invalid="ignore"):  # ±inf - ±inf: the fraction of ±inf is NaN
        frac = arr - t
    return t + np.where(np.abs(frac) >= 0.5, np.sign(arr), 0).astype(arr.dtype)


def qrange(bits, *, signed=True, narrow=False):
    """Integer range of a ``bits``-wide two's complement or unsigned code.

    ``signed``: ``[−2^(b−1), 2^(b−1) − 1]``; unsigned: ``[0, 2^b − 1]``. ``narrow`` drops
    the lowest code (``[−(2^(b−1) − 1), 2^(b−1) − 1]`` signed, the symmetric weight range;
    ``[1, 2^b − 1]`` unsigned).

    Parameters
    ----------
    bits : int
        Bit width, 2..16.
    signed : bool
        Two's complement (True) or unsigned (False).
    narrow : bool
        Drop the most negative code.

    Returns
    -------
    tuple of int
        ``(qmin, qmax)``.
    """
    bits = check_bits("bits", bits)
    signed = check_bool("signed", signed)
    narrow = check_bool("narrow", narrow)
    if signed:
        qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        qmin, qmax = 0, (1 << bits) - 1
    return qmin + int(narrow), qmax


def _unwrap(a):
    """0-d arrays → NumPy scalars; other arrays unchanged."""
    a = np.asarray(a)
    return a[()] if a.ndim == 0 else a


def symmetric_params(absmax, *, bits=8):
    """Scale and zero point of symmetric (narrow-range, ``Z = 0``) quantization.

    ``S = absmax / (2^(b−1) − 1)``, ``Z = 0``; ``absmax = 0`` gives ``S = 1`` (any scale
    represents an all-zero tensor; TFLite's dynamic-range quantizer uses 1 as well).

    Parameters
    ----------
    absmax : float or array_like of float
        ``max|r|`` (per tensor: scalar; per channel: one value per channel), finite, ≥ 0.
    bits : int
        Bit width ``b``, 2..16; codes span ``[−(2^(b−1) − 1), 2^(b−1) − 1]``.

    Returns
    -------
    scale : numpy.float64 or numpy.ndarray of float64
        Same shape as ``absmax``.
    zero_point : numpy.int64 or numpy.ndarray of int64
        Zeros, same shape.
    """
    bits = check_bits("bits", bits)
    absmax = check_range("absmax", as_float_array("absmax", absmax), 0, None)
    qmax = (1 << (bits - 1)) - 1
    scale = np.where(absmax > 0, absmax / qmax, 1.0)
    _check_scale_result("absmax", absmax, scale)
    return _unwrap(scale), _unwrap(np.zeros(scale.shape, dtype=np.int64))


def _check_scale_result(name, source, scale):
    """Reject ranges whose scale underflows to 0 or overflows to inf."""
    bad = ~(np.isfinite(scale) & (scale > 0))
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), bad.shape)
        label = name if scale.ndim == 0 else f"{name}[{', '.join(map(str, idx))}]"
        value = np.asarray(source)[idx] if np.ndim(source) else np.asarray(source)[()]
        raise ValueError(
            f"{label}={value.item()!r} is out of range; allowed: a range whose scale is a "
            f"positive finite float64"
        )


def asymmetric_params(rmin, rmax, *, bits=8, signed=True):
    """Scale and zero point of asymmetric (affine) quantization of ``[rmin, rmax]``.

    Formula (TFLite ``GetAsymmetricQuantizationParams``; the range is first extended to
    contain 0 so that 0.0 is exactly representable)::

        rmin' = min(rmin, 0),   rmax' = max(rmax, 0)
        S     = (rmax' − rmin') / (qmax − qmin)          = (rmax' − rmin') / (2^b − 1)
        Z     = clamp(round_half_away(qmin − rmin'/S), qmin, qmax)

    If ``rmin' = rmax' = 0`` then ``S = 1`` and ``Z = qmin`` (MLIR quantizer convention).
    Because of the extension ``qmin − rmin'/S`` always lies in ``[qmin, qmax]`` up to
    rounding, so the clamp only guards float rounding.

    Parameters
    ----------
    rmin, rmax : float or array_like of float
        Calibrated range (same shape; per channel: one value per channel), finite,
        ``rmin ≤ rmax``.
    bits : int
        Bit width ``b``, 2..16.
    signed : bool
        Codes ``[−2^(b−1), 2^(b−1) − 1]`` (True, TFLite int8 activations) or
        ``[0, 2^b − 1]`` (False, TFLite uint8).

    Returns
    -------
    scale : numpy.float64 or numpy.ndarray of float64
    zero_point : numpy.int64 or numpy.ndarray of int64
        In ``[qmin, qmax]``.
    """
    qmin, qmax = qrange(bits, signed=signed)
    rmin = as_float_array("rmin", rmin)
    rmax = as_float_array("rmax", rmax)
    if rmin.shape != rmax.shape:
        raise ValueError(
            f"rmax.shape={rmax.shape} is out of range; allowed: rmin.shape={rmin.shape}"
        )
    bad = rmin > rmax
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), bad.shape)
        label = "rmin" if rmin.ndim == 0 else f"rmin[{', '.join(map(str, idx))}]"
        raise ValueError(
            f"{label}={rmin[idx].item()!r} is out of range; allowed: <= rmax "
            f"({rmax[idx].item()!r})"
        )
    lo = np.minimum(rmin, 0.0)
    hi = np.maximum(rmax, 0.0)
    zero = hi == lo
    with np.errstate(over="ignore"):
        span = hi - lo
    scale = np.where(zero, 1.0, span / (qmax - qmin))
    _check_scale_result("rmax", rmax, scale)
    zp_real = qmin - lo / scale
    zp = np.clip(round_half_away(zp_real), qmin, qmax).astype(np.int64)
    return _unwrap(scale), _unwrap(zp)


def _norm_axis(axis, ndim):
    """Validate a channel axis (None or an int in ``[-ndim, ndim - 1]``); return it >= 0."""
    if axis is None:
        return None
    if ndim == 0:
        raise ValueError(f"axis={axis!r} is out of range; allowed: None (0-d input)")
    return check_int("axis", axis, -ndim, ndim - 1) % ndim


def _param_shape(name, arr, r_shape, axis):
    """Check a parameter is scalar (per tensor) or 1-D of the channel count; return a
    broadcastable view."""
    if axis is None:
        if arr.ndim != 0:
            raise ValueError(
                f"{name}.shape={arr.shape} is out of range; allowed: () (a scalar) when "
                f"axis=None"
            )
        return arr
    channels = r_shape[axis]
    if arr.shape != (channels,):
        raise ValueError(
            f"{name}.shape={arr.shape} is out of range; allowed: ({channels},) "
            f"(one per channel along axis={axis})"
        )
    shape = [1] * len(r_shape)
    shape[axis] = channels
    return arr.reshape(shape)


def _check_scale(scale):
    scale = as_float_array("scale", scale)
    bad = ~(scale > 0)
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), scale.shape)
        label = "scale" if scale.ndim == 0 else f"scale[{', '.join(map(str, idx))}]"
        raise ValueError(f"{label}={scale[idx].item()!r} is out of range; allowed: > 0 "
                         f"and finite")
    return scale


def affine_quantize(r, scale, zero_point, *, bits=8, signed=True, narrow=False, axis=None):
    """Quantize real values: ``q = clamp(round_half_away(r / S) + Z, qmin, qmax)``.

    Named after TFLite ``reference_ops::AffineQuantize`` (and not ``quantize``, which the
    ``golden`` package re-export would turn into a name shadowing this module).

    Parameters
    ----------
    r : array_like of float
        Real values, finite. float32 input is divided in float32 (TFLite ``Quantize``
        kernel); anything else in float64.
    scale : float or array_like of float
        ``S > 0``, finite: a scalar if ``axis is None``, else shape ``(r.shape[axis],)``.
    zero_point : int or array_like of int
        ``Z`` in ``[qmin, qmax]``, same shape as ``scale``.
    bits : int
        Bit width ``b``, 2..16.
    signed : bool
        Signed ``[−2^(b−1), 2^(b−1) − 1]`` or unsigned ``[0, 2^b − 1]`` codes.
    narrow : bool
        Exclude the most negative code (symmetric weights: ``[−127, 127]`` for b = 8).
    axis : int or None
        Channel axis for per-channel parameters (negative counts from the end).

    Returns
    -------
    numpy.ndarray of int64
        Codes, same shape as ``r``. Values outside the representable range saturate.

    Notes
    -----
    Inside the range ``[S(qmin − Z), S(qmax − Z)]`` the round-trip error is at most
    ``S/2`` (``|r − dequantize(q)| ≤ Δ/2``, ``Δ = S``); outside it grows with the clipping.
    """
    qmin, qmax = qrange(bits, signed=signed, narrow=narrow)
    f32 = isinstance(r, (np.ndarray, np.generic)) and r.dtype == np.float32
    r = as_float_array("r", r)
    ax = _norm_axis(axis, r.ndim)
    scale = _param_shape("scale", _check_scale(scale), r.shape, ax)
    zp = as_int_array("zero_point", zero_point)
    check_range("zero_point", zp, qmin, qmax)
    zp = _param_shape("zero_point", zp, r.shape, ax)
    if f32:
        s32 = scale.astype(np.float32)
        bad = ~(np.isfinite(s32) & (s32 > 0))
        if bad.any():
            v = np.asarray(scale).reshape(-1)[int(np.argmax(bad.reshape(-1)))]
            raise ValueError(f"scale={v.item()!r} is out of range; allowed: a positive "
                             f"finite float32 for float32 r")
        with np.errstate(over="ignore"):
            t = r.astype(np.float32) / s32
    else:
        with np.errstate(over="ignore"):
            t = r / scale
    q = round_half_away(t).astype(np.float64) + zp
    return np.clip(q, qmin, qmax).astype(np.int64)


def dequantize(q, scale, zero_point, *, axis=None):
    """Dequantize integer codes: ``r = S · (q − Z)`` (float64).

    Parameters
    ----------
    q : array_like of int
        Codes (any int64 values).
    scale : float or array_like of float
        ``S > 0``, finite; scalar if ``axis is None``, else shape ``(q.shape[axis],)``.
    zero_point : int or array_like of int
        ``Z``, same shape as ``scale``.
    axis : int or None
        Channel axis for per-channel parameters.

    Returns
    -------
    numpy.ndarray of float64
        Same shape as ``q``. (TFLite's ``Dequantize`` kernel returns float32; this is the
        exact product rounded once to float64.)
    """
    q = as_int_array("q", q)
    ax = _norm_axis(axis, q.ndim)
    scale = _param_shape("scale", _check_scale(scale), q.shape, ax)
    zp = _param_shape("zero_point", as_int_array("zero_point", zero_point), q.shape, ax)
    return scale * (q - zp).astype(np.float64)


def fake_quantize(r, scale, zero_point, *, bits=8, signed=True, narrow=False, axis=None):
    """Quantize then dequantize (the value the integer pipeline represents), float64.

    ``fake_quantize(r) = S · (clamp(round_half_away(r/S) + Z, qmin, qmax) − Z)``; the
    parameters are those of :func:`affine_quantize`.
    """
    q = affine_quantize(r, scale, zero_point, bits=bits, signed=signed, narrow=narrow, axis=axis)
    return dequantize(q, scale, zero_point, axis=axis)


def _reduce_axes(ndim, axis):
    return tuple(i for i in range(ndim) if i != axis)


def _check_nonempty(name, r, axis):
    if r.size == 0:
        raise ValueError(f"{name}.size=0 is out of range; allowed: >= 1 element"
                         + ("" if axis is None else " per channel"))


def quantize_symmetric(r, *, bits=8, axis=None):
    """Symmetric quantization (weights): ``Z = 0``, ``S = max|r| / (2^(b−1) − 1)``.

    ``q = clamp(round_half_away(r / S), −(2^(b−1) − 1), 2^(b−1) − 1)``; the narrow range
    keeps ``−q`` representable (TFLite int8 weights ``[−127, 127]``). ``max|r|`` is taken
    over the whole tensor (``axis=None``) or over every slice ``r[..., c, ...]`` along
    ``axis`` (per channel, e.g. ``axis=0`` for TFLite conv filters ``[C_out, kh, kw, C_in]``).

    Parameters
    ----------
    r : array_like of float
        Real values, finite, at least one element.
    bits : int
        Bit width ``b``, 2..16.
    axis : int or None
        Per-channel axis or None (per tensor).

    Returns
    -------
    q : numpy.ndarray of int64
        Codes, same shape as ``r``.
    scale : numpy.float64 or numpy.ndarray of float64
        Scalar or shape ``(r.shape[axis],)``; an all-zero tensor/channel gets ``S = 1``.
    zero_point : numpy.int64 or numpy.ndarray of int64
        Zeros, same shape as ``scale``.
    """
    bits = check_bits("bits", bits)
    raw = r
    r = as_float_array("r", r)
    ax = _norm_axis(axis, r.ndim)
    _check_nonempty("r", r, ax)
    absmax = np.max(np.abs(r), axis=None if ax is None else _reduce_axes(r.ndim, ax))
    scale, zp = symmetric_params(absmax, bits=bits)
    q = affine_quantize(raw, scale, zp, bits=bits, signed=True, narrow=True, axis=ax)
    return q, scale, zp


def quantize_asymmetric(r, *, bits=8, signed=True, axis=None):
    """Asymmetric (affine) quantization (activations) with the min–max range of ``r``.

    ``[rmin, rmax] = [min r, max r]`` (per tensor or per channel along ``axis``) is
    extended to include 0, then ``S = (rmax − rmin)/(2^b − 1)``,
    ``Z = clamp(round_half_away(qmin − rmin/S), qmin, qmax)`` (see
    :func:`asymmetric_params`) and ``q = clamp(round_half_away(r/S) + Z, qmin, qmax)``.

    Parameters
    ----------
    r : array_like of float
        Real values, finite, at least one element.
    bits : int
        Bit width ``b``, 2..16.
    signed : bool
        Codes ``[−2^(b−1), 2^(b−1) − 1]`` (True) or ``[0, 2^b − 1]`` (False).
    axis : int or None
        Per-channel axis or None (per tensor).

    Returns
    -------
    q : numpy.ndarray of int64
    scale : numpy.float64 or numpy.ndarray of float64
    zero_point : numpy.int64 or numpy.ndarray of int64
    """
    qrange(bits, signed=signed)
    raw = r
    r = as_float_array("r", r)
    ax = _norm_axis(axis, r.ndim)
    _check_nonempty("r", r, ax)
    red = None if ax is None else _reduce_axes(r.ndim, ax)
    scale, zp = asymmetric_params(np.min(r, axis=red), np.max(r, axis=red), bits=bits,
                                  signed=signed)
    q = affine_quantize(raw, scale, zp, bits=bits, signed=signed, axis=ax)
    return q, scale, zp
