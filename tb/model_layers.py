"""Lowered model layers on the hardware: fold, store, load, reassemble.

``sim/run.py`` lowers every hardware op of a model (``golden.lowering``) into
:class:`golden.lowering.MatmulLayer` products, folds each with :func:`fold_matmul` (zero
points into ``w'``/``bias'``, widths checked against the configuration) and writes them with
:func:`save_groups` — one group per model op (all images of a run stacked as batch rows).
``tb/test_model.py`` loads them (:func:`load_groups`), runs each group as one fast-path
program and reassembles the output beats per layer (:func:`reassemble_layers`).
"""

from __future__ import annotations

import numpy as np

from golden.lowering import MatmulLayer

from .checker import decode_outputs
from .hwparams import HwParams
from .layers import FcLayer, FoldedLayer

__all__ = ["fold_matmul", "save_groups", "load_groups", "reassemble_layers"]

_KEYS = ("x", "w", "bias", "m0", "shift")


def fold_matmul(hp: HwParams, L: MatmulLayer) -> FoldedLayer:
    """Fold one lowered product for ``hp``; raises ``tb.layers.LayerError`` (one line)."""
    return FcLayer(x=L.x, w=L.w, bias=L.bias, x_zp=L.x_zp, w_zp=L.w_zp, m0=L.m0,
                   shift=L.shift, y_zp=L.y_zp, act_min=L.act_min, act_max=L.act_max,
                   name=L.name).fold(hp)


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


def reassemble_layers(hp: HwParams, prog, bits: np.ndarray) -> list[np.ndarray]:
    """Output beats of ``prog`` → ``y [B, C]`` of every layer (missing beats stay 0)."""
    ys = []
    for L in prog.layers:
        b, _, c = L.shape
        ys.append(np.zeros((b, -(-c // hp.cols) * hp.cols), np.int64))
    gy, _ = decode_outputs(hp, bits)
    for i in range(min(gy.shape[0], prog.n_outputs)):
        li, row, t = (int(v) for v in prog.beats[i])
        ys[li][row, t * hp.cols:(t + 1) * hp.cols] = gy[i]
    return [y[:, :L.shape[2]] for y, L in zip(ys, prog.layers)]
