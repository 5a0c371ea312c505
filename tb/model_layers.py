"""Lowered model layers on the hardware: fold, store, load, reassemble.

``sim/run.py`` lowers every hardware op of a model (``golden.lowering``) into
:class:`golden.lowering.MatmulLayer` products, folds each with :func:`fold_matmul` (zero
points into ``w'``/``bias'``, widths checked against the configuration) and writes them with
:func:`save_groups` — one group per model op (all images of a run stacked as batch rows).
``tb/cocotb_model.py`` loads them (:func:`load_groups`), runs each group as one fast-path
program and reassembles the output beats per layer (:func:`reassemble_layers`).
"""

from __future__ import annotations

import numpy as np

from golden.lowering import MatmulLayer

from .checker import decode_outputs
from .hwparams import HwParams
from .layers import FoldedLayer, fold

__all__ = ["fold_matmul", "signed_view", "save_groups", "load_groups", "reassemble_layers",
           "expected_from_golden"]

_KEYS = ("x", "w", "bias", "m0", "shift")


def _needs_shift(values, signed: bool, lo: int, hi: int, bits: int) -> bool:
    """Unsigned codes (``[0, 2^N − 1]``) on a signed port: shift them by ``2^(N−1)``."""
    v = np.asarray(values)
    return bool(signed and v.size and v.max() > hi and v.min() >= 0 and v.max() < 2**bits)


def signed_view(hp: HwParams, L: MatmulLayer) -> tuple[MatmulLayer, int]:
    """The same product on signed ports: uint8 models (``x``, ``w``, ``y`` in ``[0, 255]``)
    on a signed N-bit datapath. ``x − 2^(N−1)`` with ``x_zp − 2^(N−1)`` (and the same for
    ``w``) leaves every ``x − x_zp`` / ``w − w_zp`` unchanged; the output stage runs with
    ``y_zp``, ``act_min``, ``act_max`` shifted by ``−2^(N−1)`` (the clamp commutes with the
    shift) and the hardware's outputs are shifted back by the returned ``out_offset``."""
    half, w_half = 1 << (hp.input_bits - 1), 1 << (hp.weight_bits - 1)
    x, x_zp, w, w_zp = L.x, L.x_zp, L.w, L.w_zp
    if _needs_shift(np.append(L.x.ravel(), L.x_zp), hp.input_signed, *hp.x_range,
                    hp.input_bits):
        x, x_zp = L.x - half, L.x_zp - half
    if _needs_shift(np.append(L.w.ravel(), L.w_zp), hp.weight_signed, *hp.w_range,
                    hp.weight_bits):
        w, w_zp = L.w - w_half, L.w_zp - w_half
    y_zp, amin, amax, off = L.y_zp, L.act_min, L.act_max, 0
    olo, ohi = hp.out_range
    if (hp.out_signed and amax > ohi and amin >= 0 and amax < 2 * half
            and hp.out_bits == hp.input_bits):
        y_zp, amin, amax, off = y_zp - half, amin - half, amax - half, half
    return MatmulLayer(x=x, w=w, bias=L.bias, x_zp=x_zp, w_zp=w_zp, m0=L.m0, shift=L.shift,
                       y_zp=y_zp, act_min=amin, act_max=amax, name=L.name,
                       acc_bits=L.acc_bits), off


def fold_matmul(hp: HwParams, L: MatmulLayer) -> tuple[FoldedLayer, int]:
    """Fold one lowered product for ``hp`` (through :func:`signed_view`); returns the folded
    layer and the offset to add to the hardware's outputs. Raises ``tb.layers.LayerError``
    (one line) when it does not fit."""
    S, off = signed_view(hp, L)
    return fold(S, hp), off


def save_groups(path, groups: list[tuple[str, list[FoldedLayer]]]) -> None:
    """``groups`` = ``[(label, [folded layers]), ...]`` → one ``.npz``."""
    d: dict[str, np.ndarray] = {"n_groups": np.int64(len(groups))}
    for g, (label, layers) in enumerate(groups):
        d[f"g{g}.label"] = np.array(label)
        d[f"g{g}.n"] = np.int64(len(layers))
        for i, L in enumerate(layers):
            p = f"g{g}.{i}."
            for k in _KEYS:
                d[p + k] = np.asarray(getattr(L, k), np.int64)
            d[p + "scalars"] = np.array([L.y_zp, L.act_min, L.act_max, int(L.per_tensor)],
                                        np.int64)
            d[p + "name"] = np.array(L.name)
    np.savez(path, **d)


def load_groups(path) -> list[tuple[str, list[FoldedLayer]]]:
    with np.load(path) as f:
        d = {k: f[k] for k in f.files}
    groups = []
    for g in range(int(d["n_groups"])):
        layers = []
        for i in range(int(d[f"g{g}.n"])):
            p = f"g{g}.{i}."
            y_zp, amin, amax, pt = (int(v) for v in d[p + "scalars"])
            layers.append(FoldedLayer(**{k: d[p + k] for k in _KEYS}, y_zp=y_zp, act_min=amin,
                                      act_max=amax, per_tensor=bool(pt), name=str(d[p + "name"])))
        groups.append((str(d[f"g{g}.label"]), layers))
    return groups


def reassemble_layers(hp: HwParams, prog, bits: np.ndarray | None = None, *,
                      y: np.ndarray | None = None) -> list[np.ndarray]:
    """Output beats of ``prog`` → ``y [B, C]`` of every layer (missing beats stay 0); the
    beats as output words ``bits`` or already decoded (``y``, :func:`decode_outputs`)."""
    ys = []
    for L in prog.layers:
        b, _, c = L.shape
        ys.append(np.zeros((b, -(-c // hp.cols) * hp.cols), np.int64))
    gy = decode_outputs(hp, bits)[0] if y is None else y
    n = min(gy.shape[0], prog.n_outputs)
    beats = prog.beats[:n]
    lanes = np.arange(hp.cols)
    for li, out in enumerate(ys):
        sel = np.flatnonzero(beats[:, 0] == li)
        out[beats[sel, 1][:, None], beats[sel, 2][:, None] * hp.cols + lanes] = gy[sel]
    return [out[:, :L.shape[2]] for out, L in zip(ys, prog.layers)]


def expected_from_golden(hp: HwParams, prog, ys: list[np.ndarray]):
    """Expected output beats of ``prog`` (a :class:`tb.model.Expected`) from the golden
    outputs ``ys`` of its layers (``[B, C]`` each, folded codes: the model's codes minus
    :func:`fold_matmul`'s offset), without running the datapath model again, where that is
    exact. Real lanes: ``ys``; padding lanes (``w' = bias' = 0``): golden's output stage
    (:func:`golden.datapath.requantize`) on a zero accumulator; overflow and sticky flags:
    clear — valid only when no partial sum can leave the accumulator range
    (:func:`tb.schedule.cannot_overflow` for every layer). Returns None otherwise (then the
    datapath model, :meth:`tb.model.Model.expected`, gives the flags)."""
    from golden.datapath import requantize

    from .model import Expected
    from .schedule import cannot_overflow, padded_output_stage
    if hp.is_crossbar or len(ys) != len(prog.layers):
        return None
    cc = hp.cols
    full = []
    for L, y in zip(prog.layers, ys):
        if not cannot_overflow(hp, L):
            return None
        b, _, c = L.shape
        _, m0p, shp = padded_output_stage(hp, L)
        f = np.empty((b, m0p.shape[0]), np.int64)
        f[:, :c] = y
        if m0p.shape[0] > c:
            f[:, c:] = requantize(np.zeros(m0p.shape[0] - c, np.int64), m0=m0p[c:],
                                  shift=shp[c:], y_zp=L.y_zp, act_min=L.act_min,
                                  act_max=L.act_max, rounding=hp.rounding)[None, :]
        full.append(f)
    beats = prog.beats
    y = np.zeros((prog.n_outputs, cc), np.int64)
    lanes = np.arange(cc)
    for li, f in enumerate(full):
        sel = np.flatnonzero(beats[:, 0] == li)
        y[sel] = f[beats[sel, 1][:, None], beats[sel, 2][:, None] * cc + lanes]
    ovf = np.zeros((prog.n_outputs, cc), bool)
    return Expected(y, ovf, np.zeros(cc, bool) if prog.sticky_cleared else None)
