"""Reference model: what every output beat of a :class:`~tb.schedule.Program` must carry.

Calls ``golden/`` only (no arithmetic of its own): each layer is zero-padded to whole
k-tiles and column tiles (:func:`tb.schedule.padded_layer`) and run through
``golden.datapath.datapath_model`` — the hardware schedule (tiles of R rows, bias on the
first beat, wrap/saturate after every addition, wide requantization) — which returns the
outputs and the per-lane overflow flags. Padded lanes are computed the same way, so the
checker compares every lane of every beat, padding included.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from golden.datapath import accumulate, datapath_model, int_matmul

from .hwparams import HwParams
from .layers import FoldedLayer
from .schedule import Program, padded_layer

__all__ = ["Model", "Expected"]


@dataclasses.dataclass
class Expected:
    """Expected output beats: ``y`` (n, cols) int64, ``ovf`` (n, cols) bool, final sticky."""

    y: np.ndarray
    ovf: np.ndarray
    sticky: np.ndarray | None


class Model:
    """Golden model of the datapath for programs of fully-connected layers."""

    def __init__(self, hp: HwParams):
        self.hp = hp

    def layer(self, L: FoldedLayer) -> tuple[np.ndarray, np.ndarray]:
        """``(y, ovf)`` of a folded layer, padded to whole column tiles: shape (B, CT·cols)."""
        hp = self.hp
        xp, wp, bp, m0p, shp = padded_layer(hp, L)
        m0 = m0p if hp.per_channel else int(m0p[0])
        shift = shp if hp.per_channel else int(shp[0])
        return datapath_model(
            xp, wp, bp, bits=hp.bits, input_signed=hp.input_signed,
            weight_signed=hp.weight_signed, rows=hp.rows, acc_bits=hp.acc_bits,
            overflow=hp.overflow, m0=m0, shift=shift, y_zp=L.y_zp, act_min=L.act_min,
            act_max=L.act_max, rounding=hp.rounding)

    def accumulators(self, L: FoldedLayer, b: int, col: int) -> tuple[int, bool]:
        """The accumulator value and overflow flag of one output (for mismatch reports)."""
        hp = self.hp
        xp, wp, bp, _, _ = padded_layer(hp, L)
        kt = xp.shape[1] // hp.rows
        psums = int_matmul(xp[b].reshape(kt, 1, hp.rows), wp[col].reshape(kt, hp.rows, 1))
        acc, ovf = accumulate(psums.reshape(kt, 1), bias=bp[col:col + 1], acc_bits=hp.acc_bits,
                              overflow=hp.overflow)
        return int(acc[0]), bool(ovf[0])

    def expected(self, prog: Program) -> Expected:
        hp = self.hp
        cc = hp.cols
        per_layer = [self.layer(L) for L in prog.layers]
        n = prog.n_outputs
        y = np.zeros((n, cc), np.int64)
        ovf = np.zeros((n, cc), bool)
        beats = prog.beats
        for li, (ly, lo) in enumerate(per_layer):
            sel = np.flatnonzero(beats[:, 0] == li)
            if sel.size == 0:
                continue
            b = beats[sel, 1]
            ct = beats[sel, 2]
            cols = ct[:, None] * cc + np.arange(cc)[None, :]
            y[sel] = ly[b[:, None], cols]
            ovf[sel] = lo[b[:, None], cols]
        sticky = ovf.any(axis=0) if prog.sticky_cleared else None
        return Expected(y, ovf, sticky)
