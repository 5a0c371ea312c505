"""Fully-connected layers as the testbenches use them: user form, folded form, generators.

* :class:`FcLayer` — a TFLite-style layer: ``x[B,K]``, ``w[C,K]``, ``bias[C]``, zero points,
  ``m0``/``shift`` (per-tensor scalars or per-channel ``[C]``), ``y_zp``, activation bounds.
* :meth:`FcLayer.fold` — what the hardware stores (docs/design.md "Zero points"):
  ``w' = w − w_zp``, ``bias' = bias − x_zp·Σ_k w'`` (``golden.datapath.fold_zero_points``),
  checked against the configured widths → :class:`FoldedLayer`.
* :func:`random_layer` — seeded random layers with sensible scales (outputs spread over the
  output range instead of all clamping), zero points optionally at their limits, and
  ReLU / ReLU6 bounds.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from golden.datapath import fold_zero_points
from golden.lowering import MatmulLayer, MatmulShape
from golden.multiplier import quantize_multiplier

from .hwparams import HwParams

__all__ = ["FcLayer", "FoldedLayer", "fold", "LayerError", "random_layer", "activation_bounds",
           "ACTIVATIONS"]

ACTIVATIONS = ("none", "relu", "relu6")


class LayerError(ValueError):
    """A layer does not fit the configured datapath (one-line message)."""


def _i64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


@dataclasses.dataclass
class FoldedLayer(MatmulShape):
    """A layer in the form the hardware runs: raw ``x``, stored ``w'``, folded ``bias'``.

    ``m0`` and ``shift`` are always per-channel arrays ``[C]`` here (a per-tensor layer has
    all entries equal); ``bias`` fits ``acc_bits`` (with ``"wrap"`` it is reduced mod
    ``2^acc_bits``, which leaves every output unchanged).
    """

    x: np.ndarray        # [B, K] raw inputs (N bits)
    w: np.ndarray        # [C, K] stored weights w' (N bits)
    bias: np.ndarray     # [C] folded bias' (acc_bits signed)
    m0: np.ndarray       # [C]
    shift: np.ndarray    # [C]
    y_zp: int
    act_min: int
    act_max: int
    per_tensor: bool
    name: str = "layer"
    #: all inputs are 0, so the stored weights do not matter: the scheduler skips loading
    #: them (the DUT keeps whatever weights it holds, every product is 0 anyway)
    x_is_zero: bool = False
    #: load ``shift`` −31 as −32 and 30 as 31: the documented aliases of the 6-bit SHIFT
    #: register ("31 and −32 act as 30 and −31"), so the clamp of the encoding is exercised
    shift_alias: bool = False

    def describe(self) -> str:
        b, k, c = self.shape
        q = "per-tensor" if self.per_tensor else "per-channel"
        return (f"{self.name}: B={b} K={k} C={c} {q} y_zp={self.y_zp} "
                f"act=[{self.act_min}, {self.act_max}]")


class FcLayer(MatmulLayer):
    """A fully-connected layer in TFLite terms: ``golden.lowering.MatmulLayer`` (``bias``
    may be ``None``; ``acc_bits`` is the configuration's, not the layer's) that folds
    itself for a configuration (:func:`fold`)."""

    def fold(self, hp: HwParams) -> FoldedLayer:
        """:func:`fold` of this layer."""
        return fold(self, hp)


def fold(layer: MatmulLayer, hp: HwParams) -> FoldedLayer:
    """``layer`` (a ``golden.lowering.MatmulLayer``) as the hardware runs it: the zero points
    folded, everything checked to fit ``hp``; raises :class:`LayerError`."""
    x, w = _i64(layer.x), _i64(layer.w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1] or 0 in x.shape + w.shape:
        raise LayerError(f"{layer.name}: shapes x{tuple(x.shape)} and w{tuple(w.shape)} do "
                         f"not match; allowed: x [B, K] and w [C, K] with B, K, C >= 1")
    c = w.shape[0]
    lo, hi = hp.x_range
    _check_range(f"{layer.name}: x", x, lo, hi, f"{hp.input_bits}-bit "
                 f"{'signed' if hp.input_signed else 'unsigned'} inputs")
    wf, bf = fold_zero_points(w, layer.bias, x_zp=int(layer.x_zp), w_zp=int(layer.w_zp))
    wlo, whi = hp.w_range
    _check_range(f"{layer.name}: w - w_zp", wf, wlo, whi,
                 f"{hp.weight_bits}-bit {'signed' if hp.weight_signed else 'unsigned'} stored weights")
    alo, ahi = hp.acc_range
    if hp.overflow == "wrap":
        half = 1 << (hp.acc_bits - 1)
        bf = ((bf + half) & ((half << 1) - 1)) - half
    else:
        _check_range(f"{layer.name}: bias - x_zp*sum(w')", bf, alo, ahi,
                     f"the {hp.acc_bits}-bit saturating accumulator")
    m0 = np.broadcast_to(_i64(layer.m0), (c,)).copy()
    shift = np.broadcast_to(_i64(layer.shift), (c,)).copy()
    per_tensor = bool(np.all(m0 == m0[0]) and np.all(shift == shift[0]))
    if not hp.per_channel and not per_tensor:
        raise LayerError(f"{layer.name}: per-channel m0/shift given but the configuration is "
                         f"per-tensor (requant.per_channel: false); allowed: one m0 and shift")
    _check_range(f"{layer.name}: m0", m0, 0, 2**31 - 1, "QuantizeMultiplier's range")
    _check_range(f"{layer.name}: shift", shift, -31, 30, "TFLite's shift range")
    olo, ohi = hp.out_range
    for nm, v in (("y_zp", layer.y_zp), ("act_min", layer.act_min), ("act_max", layer.act_max)):
        _check_range(f"{layer.name}: {nm}", _i64(v), olo, ohi,
                     f"the {hp.out_bits}-bit {'signed' if hp.out_signed else 'unsigned'} output")
    if int(layer.act_min) > int(layer.act_max):
        raise LayerError(f"{layer.name}: act_min={int(layer.act_min)} > act_max="
                         f"{int(layer.act_max)}; allowed: act_min <= act_max")
    return FoldedLayer(x=x, w=wf, bias=_i64(bf), m0=m0, shift=shift, y_zp=int(layer.y_zp),
                       act_min=int(layer.act_min), act_max=int(layer.act_max),
                       per_tensor=per_tensor, name=layer.name)


def _check_range(what: str, a: np.ndarray, lo: int, hi: int, allowed: str) -> None:
    a = np.asarray(a)
    bad = np.argwhere((a < lo) | (a > hi))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        val = int(a[idx]) if a.ndim else int(a)
        where = f"[{', '.join(map(str, idx))}]" if idx else ""
        raise LayerError(f"{what}{where}={val} is out of range; allowed: [{lo}, {hi}] ({allowed})")


def activation_bounds(hp: HwParams, act: str, y_zp: int, y_scale: float = 0.05) -> tuple[int, int]:
    """Clamp bounds of a fused activation as TFLite computes them, inside the output range.

    ``none`` → the output range; ``relu`` → ``[max(y_zp, lo), hi]``; ``relu6`` →
    ``[max(y_zp, lo), min(hi, y_zp + round(6 / y_scale))]``.
    """
    lo, hi = hp.out_range
    if act == "none":
        return lo, hi
    amin = max(lo, y_zp)
    if act == "relu":
        return amin, hi
    if act == "relu6":
        return amin, max(amin, min(hi, y_zp + int(round(6.0 / y_scale))))
    raise ValueError(f"act={act!r} is not an activation; allowed: {', '.join(ACTIVATIONS)}")


def _pick_zp(rng, lo: int, hi: int, mode: str) -> int:
    if mode == "zero":
        return 0 if lo <= 0 <= hi else lo
    if mode == "limits":
        return int(rng.choice([lo, hi]))
    return int(rng.integers(lo, hi + 1))


def random_layer(hp: HwParams, rng: np.random.Generator, *, batch: int, k: int, c: int,
                 per_channel: bool, act: str = "none", zp: str = "random",
                 w_zp: bool = False, name: str = "layer") -> FcLayer:
    """A random layer that fits ``hp`` with outputs spread over the output range.

    ``zp``: ``"zero"``, ``"random"`` or ``"limits"`` (input and output zero points at the
    ends of their ranges). ``w_zp``: also use a non-zero weight zero point (per-tensor).
    The real multiplier is chosen so the accumulator's spread maps to about a quarter of
    the output range; with ``"saturate"`` the folded bias is kept inside the accumulator.
    """
    xlo, xhi = hp.x_range
    wlo, whi = hp.w_range
    olo, ohi = hp.out_range
    x_zp = _pick_zp(rng, xlo, xhi, zp)
    y_zp = _pick_zp(rng, olo, ohi, zp)
    wz = int(rng.integers(wlo, whi + 1)) // 2 if w_zp else 0
    # w such that w - w_zp stays in the stored-weight range
    w = rng.integers(max(wlo, wlo + wz), min(whi, whi + wz) + 1, size=(c, k))
    x = rng.integers(xlo, xhi + 1, size=(batch, k))
    # spread of the centred accumulator: sqrt(K) * std(x - x_zp) * std(w')
    sx = max(1.0, float(np.std(x - x_zp)) + abs(float(np.mean(x - x_zp))))
    sw = max(1.0, float(np.std(w - wz)) + abs(float(np.mean(w - wz))))
    spread = max(1.0, np.sqrt(k) * sx * sw)
    n_mult = c if per_channel else 1
    real = (ohi - olo + 1) / 4.0 / spread * np.exp2(rng.uniform(-1.5, 1.5, size=n_mult))
    m0, shift = quantize_multiplier(real)
    m0, shift = np.atleast_1d(np.asarray(m0, dtype=np.int64)), np.atleast_1d(np.asarray(shift, dtype=np.int64))
    if not per_channel:
        m0, shift = m0[0], shift[0]
    # bias: a few spreads, kept so the folded bias fits the accumulator
    alo, ahi = hp.acc_range
    wsum = (w - wz).sum(axis=1)
    bias_f = rng.integers(-int(min(2 * spread, ahi // 2)), int(min(2 * spread, ahi // 2)) + 1, size=c)
    bias_f = np.clip(bias_f, alo // 2, ahi // 2)
    bias = bias_f + x_zp * wsum
    y_scale = float(rng.uniform(0.02, 0.2))
    amin, amax = activation_bounds(hp, act, y_zp, y_scale)
    return FcLayer(x=x, w=w, bias=bias, x_zp=x_zp, w_zp=wz, m0=m0, shift=shift, y_zp=y_zp,
                   act_min=amin, act_max=amax, name=name)
