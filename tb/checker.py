"""Compare the hardware's output beats with the model, lane by lane, bit-exactly.

:class:`Checker` takes what the DUT produced (from the fast path's capture memory or the
cycle-driven :class:`~tb.streams.Monitor`) and the :class:`~tb.model.Expected` beats, and
reports: beats missing or extra, every mismatching lane (``y`` and ``ovf``), the sticky
overflow flags, and — for the first few mismatches — the inputs that produced them
(layer, batch row, column, the x row, w' column, bias', m0, shift, y_zp, clamp bounds and
the golden accumulator), so a failure can be understood without a waveform.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .hwparams import HwParams
from .model import Expected, Model
from .schedule import Program, field_values

__all__ = ["Checker", "CheckResult", "Mismatch", "decode_outputs", "sticky_errors"]


def decode_outputs(hp: HwParams, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output words (bit matrix, n × OUT_W) → ``(y (n, cols) int64, ovf (n, cols) bool)``."""
    y = field_values(bits, 0, hp.out_bits, hp.cols, signed=hp.out_signed)
    ovf = field_values(bits, hp.y_bits, 1, hp.cols).astype(bool)
    return y, ovf


def _short(a: np.ndarray, limit: int = 16) -> str:
    a = np.asarray(a).ravel()
    if a.size <= limit:
        return "[" + " ".join(str(int(v)) for v in a) + "]"
    head = " ".join(str(int(v)) for v in a[: limit // 2])
    tail = " ".join(str(int(v)) for v in a[-limit // 4:])
    return f"[{head} ... {tail}] ({a.size} values)"


@dataclasses.dataclass
class Mismatch:
    beat: int
    lane: int
    field: str          # "y", "ovf", "sticky", "count", "unknown"
    expected: int
    got: int
    where: str = ""     # layer / batch row / column
    inputs: str = ""    # x row, w' column, bias', m0, shift, ...

    def format(self) -> str:
        if self.field == "count":
            return (f"output beats: expected {self.expected}, got {self.got} ({self.where}; "
                    f"the comparison covers the first {min(self.expected, self.got)})")
        if self.field == "unknown":
            return f"output beat {self.beat}: X/Z bits ({self.where})"
        s = (f"output beat {self.beat} lane {self.lane} {self.field}: expected "
             f"{self.expected}, got {self.got}")
        if self.where:
            s += f" ({self.where})"
        if self.inputs:
            s += f"\n      {self.inputs}"
        return s


@dataclasses.dataclass
class CheckResult:
    vectors: int               # output beats compared
    lanes: int                 # lanes compared (y and ovf)
    mismatches: int            # mismatching lanes + beat-count errors + sticky errors
    first: list[Mismatch]
    expected_beats: int
    got_beats: int

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def format(self) -> str:
        lines = [f"{self.vectors} output beats ({self.lanes} lanes) compared, "
                 f"{self.mismatches} mismatch(es)"]
        if self.expected_beats != self.got_beats:
            lines.append(f"  beat count: expected {self.expected_beats}, got {self.got_beats}")
        for m in self.first:
            lines.append("  " + m.format())
        return "\n".join(lines)


class Checker:
    """Bit-exact comparison of output beats against the golden model."""

    def __init__(self, hp: HwParams, prog: Program, exp: Expected | None = None, *,
                 max_report: int = 8):
        self.hp = hp
        self.prog = prog
        self.model = Model(hp)
        self.exp = exp if exp is not None else self.model.expected(prog)
        self.max_report = max_report

    def _where(self, beat: int, lane: int) -> tuple[str, str]:
        prog, hp = self.prog, self.hp
        if beat >= prog.n_outputs:
            return "", ""
        li, b, ct = (int(v) for v in prog.beats[beat])
        L = prog.layers[li]
        col = ct * hp.cols + lane
        where = f"{L.name}, batch row {b}, column {col}"
        if col >= L.shape[2]:
            return where + " (padding lane)", f"y_zp={L.y_zp} act=[{L.act_min}, {L.act_max}]"
        if self.exp.acc is not None:      # crossbar golden (ADC, trims, noise included)
            acc, ovf = int(self.exp.acc[beat, lane]), bool(self.exp.ovf[beat, lane])
            exact, _ = self.model.accumulators(L, b, col)
            what = f"golden crossbar acc={acc} (exact {exact})"
        else:
            acc, ovf = self.model.accumulators(L, b, col)
            what = f"golden acc={acc}"
        inputs = (f"x[{b}]={_short(L.x[b])} w'[{col}]={_short(L.w[col])} "
                  f"bias'={int(L.bias[col])} m0={int(L.m0[col])} shift={int(L.shift[col])} "
                  f"y_zp={L.y_zp} act=[{L.act_min}, {L.act_max}] {what} ovf={int(ovf)} "
                  f"rounding={hp.rounding} overflow={hp.overflow}")
        return where, inputs

    def check(self, got_y: np.ndarray, got_ovf: np.ndarray, *, got_sticky: np.ndarray | None = None,
              unknown: np.ndarray | None = None) -> CheckResult:
        """Compare; ``got_*`` may have more or fewer beats than expected (reported)."""
        exp = self.exp
        n_exp, n_got = exp.y.shape[0], got_y.shape[0]
        n = min(n_exp, n_got)
        first: list[Mismatch] = []
        mism = 0
        if n_exp != n_got:
            mism += abs(n_exp - n_got)
            first.append(Mismatch(n, -1, "count", n_exp, n_got,
                                  "beats missing" if n_got < n_exp else "extra beats"))
        if unknown is not None and unknown[:n].any():
            bad = np.flatnonzero(unknown[:n])
            mism += int(bad.size)
            first.append(Mismatch(int(bad[0]), -1, "unknown", 0, 0,
                                  f"{bad.size} beats contain X/Z bits"))
        dy = got_y[:n] != exp.y[:n]
        do = got_ovf[:n] != exp.ovf[:n]
        mism += int(dy.sum() + do.sum())
        bad = np.argwhere(dy | do)
        for beat, lane in bad[: self.max_report]:
            beat, lane = int(beat), int(lane)
            where, inputs = self._where(beat, lane)
            if dy[beat, lane]:
                first.append(Mismatch(beat, lane, "y", int(exp.y[beat, lane]),
                                      int(got_y[beat, lane]), where, inputs))
            else:
                first.append(Mismatch(beat, lane, "ovf", int(exp.ovf[beat, lane]),
                                      int(got_ovf[beat, lane]), where, inputs))
        if got_sticky is not None and exp.sticky is not None:
            ds = np.flatnonzero(np.asarray(got_sticky, bool) != exp.sticky)
            mism += int(ds.size)
            for lane in ds[:2]:
                first.append(Mismatch(n_got, int(lane), "sticky", int(exp.sticky[lane]),
                                      int(got_sticky[lane]), "o_ovf_sticky after the run"))
        return CheckResult(vectors=n, lanes=2 * n * self.hp.cols, mismatches=mism,
                           first=first[: self.max_report + 2], expected_beats=n_exp,
                           got_beats=n_got)


def sticky_errors(trace, ovf) -> list[str]:
    """``trace``: ``(o_data.valid, o_data.ready, o_ovf_sticky)`` of every cycle of a run
    that starts with the flags clear; ``ovf`` (n, cols): the model's flags of its beats.
    Cycles whose ``o_ovf_sticky`` is not the OR of the model's ``ovf`` over the beats
    shown so far (the beat on ``o_data`` included: the flag rises with its beat)."""
    cum = np.cumsum(np.asarray(ovf, bool), axis=0) > 0
    want_after = [0] + [sum(1 << int(c) for c in np.flatnonzero(row)) for row in cum]
    errs, n = [], 0
    for cycle, (valid, ready, got) in enumerate(trace):
        want = want_after[min(n + valid, len(want_after) - 1)]
        if got != want:
            errs.append(f"cycle {cycle} ({n} beats taken, o_data.valid={valid}): "
                        f"o_ovf_sticky={got:#x}, want {want:#x}")
        n += valid & ready
    return errs
