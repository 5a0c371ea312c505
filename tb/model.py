"""Reference model: what every output beat of a :class:`~tb.schedule.Program` must carry.

Calls ``golden/`` only (no arithmetic of its own): each layer is zero-padded to whole
k-tiles and column tiles (:func:`tb.schedule.padded_layer`) and run through

* MAC-array tops: ``golden.datapath.datapath_model`` — the hardware schedule (tiles of R
  rows, bias on the first beat, wrap/saturate after every addition, wide requantization);
* crossbar tops: ``golden.crossbar.crossbar_datapath_model`` — DAC phases, cell levels, ADC
  (gain, rounding, clipping, the program's per-column trims, the configured non-idealities),
  digital reconstruction, then the same accumulate and requantize. It is called once per
  column tile in the order the schedule issues the beats (layer → column tile → batch row →
  k-tile) with one shared read-noise generator per program (``noise_streams(seed)[1]``,
  restarted for every program, as :class:`tb.xbar.CrossbarAgent` restarts the macro's), so
  with read noise on the hardware's conversions and golden's draw the same normals.

Both return the outputs and the per-lane overflow flags. Padded lanes are computed the same
way, so the checker compares every lane of every beat, padding included.

For crossbar tops :class:`Expected` also carries the error of the crossbar result against
the exact integer result (:class:`ErrorStats`, ``golden.crossbar.error_report``'s
quantities, mergeable across runs): the dot products (sum of the crossbar partial sums over
k-tiles, without bias) against the exact ``x·w'``, and the requantized outputs (minus
``y_zp``) against the MAC path's (``datapath_model``); real lanes only.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from golden.datapath import accumulate, datapath_model, int_matmul

from .hwparams import HwParams
from .layers import FoldedLayer
from .schedule import Program, padded_layer

__all__ = ["Model", "Expected", "ErrorStats"]


@dataclasses.dataclass
class ErrorStats:
    """Sums behind an SQNR of ``estimate`` against ``exact`` (mergeable).

    ``sqnr_db = 10·log10(Σ exact² / Σ (exact − estimate)²)`` (``None`` when every value is
    exact: infinite), ``effective_bits = (sqnr_db − 1.76) / 6.02`` — the definitions of
    ``golden.crossbar.error_report`` / ``golden.metrics``.
    """

    count: int = 0
    signal: float = 0.0        # Σ exact²
    noise: float = 0.0         # Σ error²
    err_sum: float = 0.0       # Σ error (bias)
    max_abs: float = 0.0
    exact: int = 0             # values with zero error

    @classmethod
    def of(cls, exact, estimate) -> "ErrorStats":
        ex = np.asarray(exact, dtype=np.float64).ravel()
        es = np.asarray(estimate, dtype=np.float64).ravel()
        if ex.size == 0:
            return cls()
        err = ex - es
        return cls(count=int(ex.size), signal=float(np.dot(ex, ex)), noise=float(np.dot(err, err)),
                   err_sum=float(err.sum()), max_abs=float(np.abs(err).max()),
                   exact=int((err == 0).sum()))

    def merge(self, other: "ErrorStats") -> "ErrorStats":
        return ErrorStats(self.count + other.count, self.signal + other.signal,
                          self.noise + other.noise, self.err_sum + other.err_sum,
                          max(self.max_abs, other.max_abs), self.exact + other.exact)

    @property
    def sqnr_db(self) -> float:
        if self.noise == 0:
            return math.inf
        if self.signal == 0:
            return -math.inf
        return 10.0 * math.log10(self.signal / self.noise)

    @property
    def effective_bits(self) -> float:
        from golden.metrics import effective_bits
        return float(effective_bits(self.sqnr_db))

    def to_dict(self) -> dict:
        """JSON-safe: the sums plus ``sqnr_db``/``effective_bits`` (None when exact)."""
        s = self.sqnr_db
        finite = math.isfinite(s)
        return {
            "count": self.count, "signal": self.signal, "noise": self.noise,
            "err_sum": self.err_sum, "max_abs": self.max_abs, "exact": self.exact,
            "sqnr_db": round(s, 3) if finite else None,
            "effective_bits": round(self.effective_bits, 3) if finite else None,
            "exact_fraction": self.exact / self.count if self.count else None,
            "mse": self.noise / self.count if self.count else None,
            "mean_error": self.err_sum / self.count if self.count else None,
            "all_exact": self.count > 0 and self.noise == 0,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ErrorStats":
        return cls(int(d.get("count", 0)), float(d.get("signal", 0.0)),
                   float(d.get("noise", 0.0)), float(d.get("err_sum", 0.0)),
                   float(d.get("max_abs", 0.0)), int(d.get("exact", 0)))

    def format(self) -> str:
        if not self.count:
            return "no values"
        s = self.sqnr_db
        if not math.isfinite(s) and s > 0:
            return f"exact ({self.count} values)"
        return (f"SQNR {s:.2f} dB, {self.effective_bits:.2f} effective bits, max |err| "
                f"{self.max_abs:.0f}, {100.0 * self.exact / self.count:.1f} % exact "
                f"({self.count} values)")


@dataclasses.dataclass
class Expected:
    """Expected output beats: ``y`` (n, cols) int64, ``ovf`` (n, cols) bool, final sticky.

    Crossbar tops: ``acc`` (n, cols) the golden accumulators (for mismatch reports) and
    ``error`` the crossbar error against the exact result (``{"dot": ErrorStats,
    "out": ErrorStats}``).
    """

    y: np.ndarray
    ovf: np.ndarray
    sticky: np.ndarray | None
    acc: np.ndarray | None = None
    error: dict | None = None


class Model:
    """Golden model of the datapath for programs of fully-connected layers."""

    def __init__(self, hp: HwParams):
        self.hp = hp
        self._spec = hp.xb_spec() if hp.is_crossbar else None
        self._noise = hp.xb_noise() if hp.is_crossbar else None

    def _mac_layer(self, xp, wp, bp, m0p, shp, L):
        hp = self.hp
        m0 = m0p if hp.per_channel else int(m0p[0])
        shift = shp if hp.per_channel else int(shp[0])
        return datapath_model(
            xp, wp, bp, input_bits=hp.input_bits, weight_bits=hp.weight_bits,
            input_signed=hp.input_signed,
            weight_signed=hp.weight_signed, rows=hp.rows, acc_bits=hp.acc_bits,
            overflow=hp.overflow, m0=m0, shift=shift, y_zp=L.y_zp, act_min=L.act_min,
            act_max=L.act_max, rounding=hp.rounding)

    def layer(self, L: FoldedLayer) -> tuple[np.ndarray, np.ndarray]:
        """``(y, ovf)`` of a folded layer on the MAC path, padded to whole column tiles:
        shape (B, CT·cols). (Crossbar tops: :meth:`crossbar_layer`.)"""
        return self._mac_layer(*padded_layer(self.hp, L), L)

    def crossbar_layer(self, L: FoldedLayer, *, trim=None, read_rng=None) -> dict:
        """One layer through ``golden.crossbar.crossbar_datapath_model``, column tile by
        column tile (schedule order; ``read_rng`` continues across calls).

        Returns a dict with ``y``, ``ovf``, ``acc`` (B, CT·cols) and the error statistics
        ``dot`` and ``out`` (:class:`ErrorStats`) of the layer's real lanes.
        """
        from golden.crossbar import crossbar_datapath_model

        hp = self.hp
        xp, wp, bp, m0p, shp = padded_layer(hp, L)
        cc = hp.cols
        ct_n = wp.shape[0] // cc
        trim = np.zeros(hp.phys_cols, np.int64) if trim is None else np.asarray(trim, np.int64)
        b = xp.shape[0]
        y = np.zeros((b, ct_n * cc), np.int64)
        ovf = np.zeros((b, ct_n * cc), bool)
        acc = np.zeros((b, ct_n * cc), np.int64)
        dot = np.zeros((b, ct_n * cc), np.int64)
        for ct in range(ct_n):
            cs = slice(ct * cc, (ct + 1) * cc)
            m0 = m0p[cs] if hp.per_channel else int(m0p[0])
            shift = shp[cs] if hp.per_channel else int(shp[0])
            yt, ot, psums = crossbar_datapath_model(
                xp, wp[cs], bp[cs], spec=self._spec, acc_bits=hp.acc_bits,
                overflow=hp.overflow, m0=m0, shift=shift, y_zp=L.y_zp, act_min=L.act_min,
                act_max=L.act_max, rounding=hp.rounding, noise=self._noise, trim=trim,
                read_rng=read_rng)
            at, _ = accumulate(psums, bias=bp[cs], acc_bits=hp.acc_bits, overflow=hp.overflow)
            y[:, cs], ovf[:, cs], acc[:, cs] = yt, ot, at
            dot[:, cs] = psums.sum(axis=0)
        # error against the exact result, real lanes only
        _, _, c = L.shape
        exact_dot = int_matmul(L.x, L.w.T)
        y_mac, _ = self._mac_layer(xp, wp, bp, m0p, shp, L)
        out = {
            "y": y, "ovf": ovf, "acc": acc,
            "dot": ErrorStats.of(exact_dot, dot[:, :c]),
            "out": ErrorStats.of(y_mac[:, :c] - L.y_zp, y[:, :c] - L.y_zp),
        }
        return out

    def accumulators(self, L: FoldedLayer, b: int, col: int) -> tuple[int, bool]:
        """The MAC path's accumulator value and overflow flag of one output (reports)."""
        hp = self.hp
        xp, wp, bp, _, _ = padded_layer(hp, L)
        kt = xp.shape[1] // hp.rows
        psums = int_matmul(xp[b].reshape(kt, 1, hp.rows), wp[col].reshape(kt, hp.rows, 1))
        acc, ovf = accumulate(psums.reshape(kt, 1), bias=bp[col:col + 1], acc_bits=hp.acc_bits,
                              overflow=hp.overflow)
        return int(acc[0]), bool(ovf[0])

    def expected(self, prog: Program, *, mac_path: bool = False) -> Expected:
        """Expected beats of ``prog``. ``mac_path=True`` on a crossbar top: the MAC array's
        golden (``datapath_model``) instead of the crossbar's — what an ideal crossbar with
        a lossless ADC must reproduce bit for bit."""
        hp = self.hp
        cc = hp.cols
        xbar = hp.is_crossbar and not mac_path
        if xbar:
            from golden.crossbar import noise_streams
            rng = noise_streams(self._noise.seed)[1] if self._noise.read_sigma else None
            per_layer = [self.crossbar_layer(L, trim=prog.trim, read_rng=rng)
                         for L in prog.layers]
        else:
            per_layer = [dict(zip(("y", "ovf"), self.layer(L))) for L in prog.layers]
        n = prog.n_outputs
        y = np.zeros((n, cc), np.int64)
        ovf = np.zeros((n, cc), bool)
        acc = np.zeros((n, cc), np.int64) if xbar else None
        beats = prog.beats
        for li, d in enumerate(per_layer):
            sel = np.flatnonzero(beats[:, 0] == li)
            if sel.size == 0:
                continue
            b = beats[sel, 1]
            ct = beats[sel, 2]
            cols = ct[:, None] * cc + np.arange(cc)[None, :]
            y[sel] = d["y"][b[:, None], cols]
            ovf[sel] = d["ovf"][b[:, None], cols]
            if xbar:
                acc[sel] = d["acc"][b[:, None], cols]
        sticky = ovf.any(axis=0) if prog.sticky_cleared else None
        error = None
        if xbar:
            error = {"dot": ErrorStats(), "out": ErrorStats()}
            for d in per_layer:
                error = {k: error[k].merge(d[k]) for k in error}
        return Expected(y, ovf, sticky, acc, error)
