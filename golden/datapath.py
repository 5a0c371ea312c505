"""Bit-exact models of the hardware blocks and of TFLite's int8 fully-connected layer.

Pure NumPy functions mirroring ``hw/`` by name (``docs/design.md``):

* :func:`mac` — ``hw/mac_array.py: MacArray`` (exact A-bit × W-bit products / dot products);
* :func:`accumulate` — ``hw/accumulator_bank.py: AccumulatorBank`` (``acc_bits``, wrap or
  saturate after every addition, per-lane overflow flag);
* :func:`requantize` — ``hw/requantizer.py: Requantizer`` (wide multiply, + ``y_zp``, clamp);
* :func:`datapath_model` — ``hw/datapath.py: Datapath`` (K split into tiles of ``rows``);
* :func:`fully_connected` — TFLite ``reference/integer_ops/fully_connected.h``, literally;
* :func:`fold_zero_points` — how a driver turns TFLite's zero points into ``w'`` / ``bias'``.

Everything is exact int64 arithmetic; dot products use float64 BLAS only inside the range
where it is provably exact (:func:`int_matmul`).
"""

import numpy as np

from constraints import int_range
from constraints import limits as _limits
from golden._validate import (
    as_int_array,
    broadcast,
    check_bool,
    check_choice,
    check_int,
    check_range,
)
from golden.fixedpoint import (
    INT32_MAX,
    ROUNDINGS,
    WIDE_X_LIMIT,
    _mbqm_wide,
    multiply_by_quantized_multiplier,
)

__all__ = [
    "OVERFLOWS",
    "ACC_BITS_MAX",
    "operand_range",
    "wrap",
    "saturate",
    "guard_bits",
    "lossless_acc_bits",
    "int_matmul",
    "mac",
    "accumulate",
    "requantize",
    "fold_zero_points",
    "fully_connected",
    "datapath_model",
]

OVERFLOWS = ("wrap", "saturate")
#: Widest accumulator the golden model (and the wide multiply) supports: ``|acc| <= 2^47``
#: (the contract's limit, ``constraints/limits.py``).
ACC_BITS_MAX = _limits.ACC_BITS_MAX
#: Values of any 16-bit signed or unsigned operand / zero point: ``[-2^15, 2^16 − 1]``.
OPERAND_MIN, OPERAND_MAX = -(2**15), 2**16 - 1
#: ``y_zp``, ``act_min``, ``act_max`` are ``out_bits + 1``-bit signed values, out_bits <= 16.
OUT_MIN, OUT_MAX = -(2**16), 2**16 - 1
_EXACT_FLOAT = 2**53
_EXACT_FLOAT32 = 2**24
#: Shortest float32 chunk worth its extra int64 pass (below it float64 chunks are used).
_MIN_FLOAT32_CHUNK = 64


def operand_range(bits, signed):
    """``(lo, hi)`` of an N-bit operand: ``[-2^(N−1), 2^(N−1) − 1]`` or ``[0, 2^N − 1]``.

    ``bits`` in ``[2, 16]``.
    """
    bits = check_int("bits", bits, _limits.BITS_MIN, _limits.BITS_MAX)
    return int_range(bits, check_bool("signed", signed))


def _acc_range(acc_bits):
    return -(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1


def wrap(value, bits):
    """Two's-complement wrap of int64 ``value`` into ``bits`` signed bits (``[2, 63]``).

    ``value mod 2^bits`` mapped to ``[-2^(bits−1), 2^(bits−1) − 1]``: keep the low bits,
    then sign-extend bit ``bits − 1`` (no intermediate overflow).
    """
    bits = check_int("bits", bits, 2, 63)
    value = as_int_array("value", value)
    half = np.int64(1) << (bits - 1)
    result = value & ((half << 1) - 1)
    result ^= half
    result -= half
    return result


def saturate(value, bits):
    """Clamp int64 ``value`` to ``[-2^(bits−1), 2^(bits−1) − 1]``, ``bits`` in ``[2, 63]``."""
    bits = check_int("bits", bits, 2, 63)
    return np.clip(as_int_array("value", value), *_acc_range(bits))


def guard_bits(max_depth):
    """Guard bits ``M = ceil(log2(max_depth))`` for an accumulation of ``max_depth`` products.

    ``max_depth >= 1`` (``1 → 0``). The contract's accumulator is ``acc_bits = A + W + M``
    (``2N + M`` with one operand width N).
    """
    return (check_int("max_depth", max_depth, 1, None) - 1).bit_length()


def _widths(bits, input_bits, weight_bits):
    """``(A, W)``: ``bits`` is the shorthand for both (give it or both widths)."""
    if bits is not None and {input_bits, weight_bits} - {None, bits}:
        raise ValueError(f"bits={bits!r} with input_bits={input_bits!r}, weight_bits="
                         f"{weight_bits!r} is out of range; allowed: bits (both widths) or "
                         f"input_bits and weight_bits")
    a = bits if input_bits is None else input_bits
    w = bits if weight_bits is None else weight_bits
    return (check_int("input_bits", a, _limits.BITS_MIN, _limits.BITS_MAX),
            check_int("weight_bits", w, _limits.BITS_MIN, _limits.BITS_MAX))


def lossless_acc_bits(*, bits=None, input_bits=None, weight_bits=None, input_signed,
                      weight_signed, max_depth):
    """Smallest signed width holding every sum of ``max_depth`` products of an A-bit input
    and a W-bit weight (no bias); ``bits`` = N is the shorthand for A = W = N.

    Equals ``A + W + guard_bits(max_depth)`` or less, except for unsigned × unsigned
    operands, whose products reach ``(2^A − 1)(2^W − 1) >= 2^(A+W−1)`` and need one bit
    more.
    """
    a, w = _widths(bits, input_bits, weight_bits)
    x_lo, x_hi = operand_range(a, input_signed)
    w_lo, w_hi = operand_range(w, weight_signed)
    depth = check_int("max_depth", max_depth, 1, None)
    corners = [a * b for a in (x_lo, x_hi) for b in (w_lo, w_hi)]
    lo, hi = depth * min(corners), depth * max(corners)
    width = 2
    while not (-(2 ** (width - 1)) <= lo and hi <= 2 ** (width - 1) - 1):
        width += 1
    return width


def int_matmul(a, b):
    """Exact ``a @ b`` for int64 arrays (NumPy matmul broadcasting), fast.

    Uses float BLAS ``matmul`` on chunks of the inner dimension: float32 chunks of length
    ``floor((2^24 − 1) / (max|a|·max|b|))`` when that is at least 64 (or all of K), else
    float64 chunks of length ``k_c = floor((2^53 − 1) / (max|a|·max|b|))``.

    Exactness: with ``p = 24`` (float32) or ``53`` (float64), every product ``a_ik·b_kj``
    and every partial sum of a chunk is an integer of magnitude ``<= max|a|·max|b|·k_c <
    2^p``, so it is a value of that float type, and each float operation (multiply, add or
    fused multiply-add) whose exact result is such a value returns it without rounding —
    whatever the summation order or blocking BLAS uses. Chunk results are converted to
    int64 and summed exactly in int64. A single float32 call covers int8 layers with
    ``max|a|·max|b|·K < 2^24`` (raw int8 codes: K up to 1032); a single float64 call
    any ``max|a|·max|b|·K < 2^53`` (e.g. int8: any ``K < 2^39``; N = 16: ``K < 2^21``).
    If even one product could exceed 2^53, int64 ``matmul`` is used, which requires
    ``max|a|·max|b|·K < 2^63`` (checked).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    k = a.shape[-1]
    bound = (int(np.abs(a).max(initial=0)) * int(np.abs(b).max(initial=0)))
    if bound == 0 or k == 0:
        return np.matmul(a, b)
    if bound >= _EXACT_FLOAT:
        if bound * k >= 2**63:
            raise ValueError(
                f"max|a|·max|b|·K={bound * k} is out of range; allowed: < 2^63"
            )
        return np.matmul(a, b)
    chunk, ftype = (_EXACT_FLOAT32 - 1) // bound, np.float32
    if chunk < min(k, _MIN_FLOAT32_CHUNK):
        chunk, ftype = (_EXACT_FLOAT - 1) // bound, np.float64
    af, bf = a.astype(ftype), b.astype(ftype)
    if chunk >= k:
        return np.matmul(af, bf).astype(np.int64)
    total = None
    for k0 in range(0, k, chunk):
        part = np.matmul(af[..., k0:k0 + chunk], bf[..., k0:k0 + chunk, :]).astype(np.int64)
        total = part if total is None else total + part
    return total


def _operands(name, value, bits, signed, signed_name):
    lo, hi = operand_range(bits, check_bool(signed_name, signed))
    return check_range(name, as_int_array(name, value), lo, hi)


def _check_k(x, w):
    if x.ndim < 1 or w.ndim not in (1, 2) or x.shape[-1] != w.shape[-1]:
        raise ValueError(
            f"shapes x.shape={x.shape}, w.shape={w.shape} do not match; allowed: "
            f"x (..., K) with w (K,) or (C, K)"
        )


def mac(x, w, *, bits=None, input_bits=None, weight_bits=None, input_signed, weight_signed):
    """Exact multiply-accumulate of A-bit inputs and W-bit weights:
    ``y[..., c] = Σ_k x[..., k]·w[c, k]``.

    The ``MacArray`` model: raw operands, exact products (an A-bit × W-bit product needs
    ``A + W`` signed bits, one more for unsigned × unsigned), exact sums.

    Parameters
    ----------
    x : array_like of int, shape (..., K)
        A-bit inputs, signed ``[-2^(A−1), 2^(A−1) − 1]`` or unsigned ``[0, 2^A − 1]``.
    w : array_like of int, shape (C, K) or (K,)
        W-bit weights (as stored: ``w' = w − w_zp``). 1-D gives plain dot products.
        Elementwise products: use ``K = 1``.
    input_bits, weight_bits : int
        A and W, each ``[2, 16]``.
    bits : int, optional
        N: the shorthand for ``input_bits = weight_bits = N``.
    input_signed, weight_signed : bool

    Returns
    -------
    np.ndarray of int64, shape (..., C) (or (...) for 1-D ``w``)
    """
    a, wb = _widths(bits, input_bits, weight_bits)
    x = _operands("x", x, a, input_signed, "input_signed")
    w = _operands("w", w, wb, weight_signed, "weight_signed")
    _check_k(x, w)
    return int_matmul(x, w.T)


def accumulate(psums, *, bias, acc_bits, overflow):
    """``AccumulatorBank`` model: a signed ``acc_bits`` accumulator per lane, beat by beat.

    Beat 0 loads ``bias + psums[0]`` (one addition); beat ``t > 0`` adds ``psums[t]``.
    After every addition the sum ``s`` is checked against ``[-2^(A−1), 2^(A−1) − 1]``:
    ``"wrap"`` keeps ``s mod 2^A``; ``"saturate"`` clamps ``s`` to the range (so the
    beat order matters). ``ovf`` is set for a lane if some addition left the range
    (before wrap / saturation).

    Parameters
    ----------
    psums : array_like of int, shape (T, ...)
        Partial sums, one per beat along axis 0 (``T >= 1``), ``|psum| <= 2^62``.
    bias : int or array_like of int
        Broadcast to ``psums.shape[1:]``; must fit the accumulator (``acc_bits`` signed).
    acc_bits : int
        ``A``, ``[2, 48]``.
    overflow : {"wrap", "saturate"}

    Returns
    -------
    (acc, ovf) : (np.ndarray of int64, np.ndarray of bool), shape ``psums.shape[1:]``
    """
    acc_bits = check_int("acc_bits", acc_bits, 2, ACC_BITS_MAX)
    check_choice("overflow", overflow, OVERFLOWS)
    psums = check_range("psums", as_int_array("psums", psums), -(2**62), 2**62)
    if psums.ndim < 1 or psums.shape[0] < 1:
        raise ValueError(f"psums.shape={psums.shape} is out of range; allowed: (T >= 1, ...)")
    lo, hi = _acc_range(acc_bits)
    bias = check_range("bias", as_int_array("bias", bias), lo, hi)
    try:
        acc = np.broadcast_to(bias, psums.shape[1:])
    except ValueError:
        raise ValueError(
            f"shapes bias.shape={bias.shape}, psums.shape[1:]={psums.shape[1:]} do not "
            f"broadcast; allowed: bias broadcastable to psums.shape[1:]"
        ) from None
    ovf = np.zeros(psums.shape[1:], dtype=bool)
    for psum in psums:
        s = acc + psum
        ovf |= (s < lo) | (s > hi)
        acc = wrap(s, acc_bits) if overflow == "wrap" else np.clip(s, lo, hi)
    return acc, ovf


def _requant_params(m0, shift, y_zp, act_min, act_max, rounding):
    check_choice("rounding", rounding, ROUNDINGS)
    m0 = check_range("m0", as_int_array("m0", m0), 0, INT32_MAX)
    shift = check_range("shift", as_int_array("shift", shift), -31, 30)
    y_zp = check_int("y_zp", y_zp, OUT_MIN, OUT_MAX)
    act_min = check_int("act_min", act_min, OUT_MIN, OUT_MAX)
    act_max = check_int("act_max", act_max, act_min, OUT_MAX)
    return m0, shift, y_zp, act_min, act_max


def requantize(acc, *, m0, shift, y_zp, act_min, act_max, rounding="double"):
    """``Requantizer`` model: ``y = clamp(mbqm_wide(acc, m0, shift) + y_zp, act_min, act_max)``.

    The output stage of gemmlowp ``output_stages.h`` / TFLite: scale down (the exact wide
    semantics of :func:`golden.fixedpoint.multiply_by_quantized_multiplier_wide`), add the
    output zero point, clamp. The final cast to ``out_bits`` is the identity because the
    clamp bounds lie inside the output range.

    Where the exact scaled value is beyond ``±2^62`` (only for ``shift >= 15`` with
    accumulators above 2^32) it is replaced by ``±2^62`` with the same sign: the clamp
    bounds and ``y_zp`` are within ``±2^16``, so the output is unchanged.

    Parameters
    ----------
    acc : array_like of int, shape (..., C)
        Accumulators, ``|acc| <= 2^47`` (``acc_bits <= 48``).
    m0, shift : int or array_like of int
        Per-tensor scalars or per-channel arrays broadcast against ``acc`` (channel last);
        ``m0 ∈ [0, 2^31 − 1]``, ``shift ∈ [−31, 30]``.
    y_zp : int
        Output zero point, ``[-2^16, 2^16 − 1]``.
    act_min, act_max : int
        Clamp bounds, ``-2^16 <= act_min <= act_max <= 2^16 − 1``.
    rounding : str
        One of :data:`golden.fixedpoint.ROUNDINGS` (:data:`~golden.fixedpoint.ROUNDING_MODES`).

    Returns
    -------
    np.ndarray of int64

    """
    m0, shift, y_zp, act_min, act_max = _requant_params(
        m0, shift, y_zp, act_min, act_max, rounding)
    acc = check_range("acc", as_int_array("acc", acc), -WIDE_X_LIMIT, WIDE_X_LIMIT)
    broadcast(acc=acc, m0=m0, shift=shift)  # shapes checked; per-channel m0/shift stay (C,)
    scaled, _ = _mbqm_wide(acc, m0, shift, rounding)
    if np.ndim(scaled) == 0 or np.may_share_memory(scaled, acc):
        return np.clip(scaled + y_zp, act_min, act_max)
    scaled += y_zp                              # a fresh array: finished in place
    return np.clip(scaled, act_min, act_max, out=scaled)


def _bias(bias, channels, lo, hi):
    if bias is None:
        return np.zeros(channels, dtype=np.int64)
    bias = check_range("bias", as_int_array("bias", bias), lo, hi)
    if bias.shape not in ((), (channels,)):
        raise ValueError(f"bias.shape={bias.shape} is out of range; allowed: () or ({channels},)")
    return np.broadcast_to(bias, (channels,))


def fold_zero_points(w, bias, *, x_zp, w_zp=0):
    """Fold TFLite zero points into what the hardware stores: ``(w', bias')``.

    ``w' = w − w_zp`` and ``bias'[c] = bias[c] − x_zp·Σ_k w'[c, k]``, so that
    ``Σ_k x·w' + bias' = Σ_k (x − x_zp)(w − w_zp) + bias`` exactly (and mod 2^32, hence
    bit-exact with TFLite's int32 accumulation under ``"wrap"`` with ``acc_bits = 32``).
    The caller checks ``w'`` fits N bits and ``bias'`` fits the accumulator
    (:func:`datapath_model` does).

    Parameters
    ----------
    w : array_like of int, shape (C, K)
        Weights, ``[-2^15, 2^16 − 1]``; ``K <= 2^24``.
    bias : array_like of int, shape (C,) or (), or None
        ``|bias| <= 2^47``. ``None`` means zero.
    x_zp : int
        Input zero point, ``[-2^15, 2^16 − 1]``.
    w_zp : int or array_like of int, shape () or (C,)
        Weight zero point (per-tensor or per-channel), ``[-2^15, 2^16 − 1]``.

    Returns
    -------
    (w', bias') : np.ndarray of int64, shapes (C, K) and (C,)
    """
    w = check_range("w", as_int_array("w", w), OPERAND_MIN, OPERAND_MAX)
    if w.ndim != 2 or w.shape[1] > 2**24:
        raise ValueError(f"w.shape={w.shape} is out of range; allowed: (C, K) with K <= 2^24")
    x_zp = check_int("x_zp", x_zp, OPERAND_MIN, OPERAND_MAX)
    w_zp = check_range("w_zp", as_int_array("w_zp", w_zp), OPERAND_MIN, OPERAND_MAX)
    if w_zp.shape not in ((), (w.shape[0],)):
        raise ValueError(f"w_zp.shape={w_zp.shape} is out of range; allowed: () or ({w.shape[0]},)")
    bias = _bias(bias, w.shape[0], -(2**47), 2**47)
    w_folded = w - w_zp[..., None]
    return w_folded, bias - x_zp * w_folded.sum(axis=1)


def fully_connected(x, w, *, bias, x_zp, w_zp, m0, shift, y_zp, act_min, act_max,
                    rounding="double", acc_bits=32):
    """TFLite int8 fully connected, literal reference form (per-tensor or per-channel).

    As ``tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h``::

        acc = Σ_k (w[c,k] − w_zp)·(x[b,k] − x_zp)      # int32, wraps
        acc += bias[c]
        acc = MultiplyByQuantizedMultiplier(acc, m0[c], shift[c])
        y = clamp(acc + y_zp, act_min, act_max)

    With ``acc_bits = 32`` every int32 operation wraps (C++ UB, two's complement on real
    targets) and requantization is :func:`golden.fixedpoint.multiply_by_quantized_multiplier`
    (int32 semantics). Other ``acc_bits`` model an ``acc_bits``-wide wrapping accumulator
    followed by the exact wide requantization. Because the wrap is modular, summation
    order does not matter.

    Parameters
    ----------
    x : array_like of int, shape (..., K)
        Inputs, ``[-2^15, 2^16 − 1]`` (int8 / uint8 / int16 / any up to 16 bits).
    w : array_like of int, shape (C, K)
        Weights, same range.
    bias : array_like of int, shape (C,) or (), or None
        Must fit ``acc_bits`` signed (int32 for TFLite).
    x_zp, w_zp : int
        Zero points (per-tensor), ``[-2^15, 2^16 − 1]``. TFLite int8 uses ``w_zp = 0``.
    m0, shift : int or array_like of int, shape () or (C,)
        Per-tensor or per-channel multiplier, ``m0 ∈ [0, 2^31 − 1]``, ``shift ∈ [−31, 30]``.
    y_zp, act_min, act_max : int
        As in :func:`requantize`.
    rounding : str
        One of :data:`golden.fixedpoint.ROUNDINGS` (:data:`~golden.fixedpoint.ROUNDING_MODES`).
    acc_bits : int
        ``[2, 48]``; 32 is TFLite.

    Returns
    -------
    np.ndarray of int64, shape (..., C)
    """
    acc_bits = check_int("acc_bits", acc_bits, 2, ACC_BITS_MAX)
    m0, shift, y_zp, act_min, act_max = _requant_params(
        m0, shift, y_zp, act_min, act_max, rounding)
    x = check_range("x", as_int_array("x", x), OPERAND_MIN, OPERAND_MAX)
    w = check_range("w", as_int_array("w", w), OPERAND_MIN, OPERAND_MAX)
    if w.ndim != 2:
        raise ValueError(f"w.shape={w.shape} is out of range; allowed: (C, K)")
    _check_k(x, w)
    x_zp = check_int("x_zp", x_zp, OPERAND_MIN, OPERAND_MAX)
    w_zp = check_int("w_zp", w_zp, OPERAND_MIN, OPERAND_MAX)
    bias = _bias(bias, w.shape[0], *_acc_range(acc_bits))
    for name, v in (("m0", m0), ("shift", shift)):
        if v.shape not in ((), (w.shape[0],)):
            raise ValueError(
                f"{name}.shape={v.shape} is out of range; allowed: () or ({w.shape[0]},)")
    acc = wrap(int_matmul(x - x_zp, (w - w_zp).T) + bias, acc_bits)
    if acc_bits == 32:
        scaled = multiply_by_quantized_multiplier(acc, m0, shift, rounding)
    else:
        scaled, _ = _mbqm_wide(acc, m0, shift, rounding)
    return np.clip(scaled + y_zp, act_min, act_max)


def datapath_model(x, w, bias, *, bits=None, input_bits=None, weight_bits=None, input_signed,
                   weight_signed, rows, acc_bits, overflow, m0, shift, y_zp, act_min,
                   act_max, rounding="double"):
    """``Datapath`` model: the hardware schedule, beat by beat, bit-exact.

    ``K`` is split into ``T = ceil(K / rows)`` tiles of ``rows`` (zero-padded). Beat ``t``
    forms ``psum[t] = mac(x[..., tile t], w'[:, tile t])`` (exact), the accumulator loads
    ``bias' + psum[0]`` and adds ``psum[t]`` (:func:`accumulate`, wrap or saturate after
    every addition — so ``rows`` matters for ``"saturate"``), and the last beat is
    requantized (:func:`requantize`). With ``"wrap"`` and ``acc_bits = 32`` this equals
    :func:`fully_connected` of the unfolded layer wherever TFLite is defined (i.e.
    ``acc·2^max(shift, 0)`` fits int32, in particular for every ``shift <= 0``).

    Parameters
    ----------
    x : array_like of int, shape (..., K)
        Raw A-bit inputs (``input_signed``).
    w : array_like of int, shape (C, K)
        Stored weights ``w'`` (W bits, ``weight_signed``) — see :func:`fold_zero_points`.
    bias : array_like of int, shape (C,) or (), or None
        Folded ``bias'``; must fit ``acc_bits`` signed.
    input_bits, weight_bits : int
        A and W, each ``[2, 16]``.
    bits : int, optional
        N: the shorthand for ``input_bits = weight_bits = N``.
    input_signed, weight_signed : bool
    rows : int
        R, the tile height, ``>= 1``.
    acc_bits : int
        ``[2, 48]``.
    overflow : {"wrap", "saturate"}
    m0, shift, y_zp, act_min, act_max, rounding
        As in :func:`requantize` (``m0``/``shift`` per-tensor or shape (C,)).

    Returns
    -------
    (y, ovf) : np.ndarray of int64 and of bool, both shape (..., C)
        Outputs and the per-lane overflow flags of ``OutBeat``.
    """
    rows = check_int("rows", rows, 1, None)
    acc_bits = check_int("acc_bits", acc_bits, 2, ACC_BITS_MAX)
    check_choice("overflow", overflow, OVERFLOWS)
    _requant_params(m0, shift, y_zp, act_min, act_max, rounding)
    a, wb = _widths(bits, input_bits, weight_bits)
    x = _operands("x", x, a, input_signed, "input_signed")
    w = _operands("w", w, wb, weight_signed, "weight_signed")
    if w.ndim != 2:
        raise ValueError(f"w.shape={w.shape} is out of range; allowed: (C, K)")
    _check_k(x, w)
    bias = _bias(bias, w.shape[0], *_acc_range(acc_bits))
    lead, (channels, k) = x.shape[:-1], w.shape
    tiles = max(1, -(-k // rows))
    pad = tiles * rows - k
    xt = np.pad(x.reshape(-1, k), ((0, 0), (0, pad))).reshape(-1, tiles, rows)
    wt = np.pad(w, ((0, 0), (0, pad))).reshape(channels, tiles, rows)
    psums = int_matmul(xt.transpose(1, 0, 2), wt.transpose(1, 2, 0))  # (T, B, C)
    acc, ovf = accumulate(psums, bias=bias, acc_bits=acc_bits, overflow=overflow)
    y = requantize(acc, m0=m0, shift=shift, y_zp=y_zp, act_min=act_min, act_max=act_max,
                   rounding=rounding)
    return y.reshape(lead + (channels,)), ovf.reshape(lead + (channels,))
