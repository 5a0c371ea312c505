"""Regression reporting: progress bar, summary table, JUnit XML, JSON summary.

All output is plain text. The progress bar redraws one line on a terminal and prints one
line per finished step otherwise (CI logs, pipes), always on stderr so stdout keeps only
the summary.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, TextIO

__all__ = ["atomic_write", "Row", "ProgressBar", "format_table", "write_junit", "write_summary",
           "format_seconds", "format_count", "merge_xbar_errors", "format_xbar_errors"]


def atomic_write(path: str | Path, write) -> Path:
    """Write ``path`` all at once: ``write(f)`` fills a temporary file in the same
    directory (binary), which then replaces ``path``. On any failure the temporary file is
    removed and ``path`` is left as it was; an :class:`OSError` (full disk, permissions)
    becomes one :class:`~sim.errors.OutputError` line naming ``path``."""
    from .errors import OutputError
    from .inputs import show_path
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"{show_path(path)}: cannot write it ({exc.strerror or exc}); "
                          f"allowed: a writable path on a file system with free space") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


@dataclasses.dataclass
class Row:
    """One testbench on one simulator (or a build step that failed)."""

    test: str
    sim: str
    status: str                 # pass / fail / error / timeout / skipped / build-error /
    #                             interrupted (Ctrl-C / SIGTERM, or never started)
    vectors: int = 0            # output vectors (beats of C lanes) compared
    lanes: int = 0
    mismatches: int = 0
    cycles: int = 0
    sim_ns: float = 0.0
    wall: float = 0.0
    seed: int = 0
    vectors_requested: int = 0
    macs: int = 0
    fast_cycles: int = 0
    fast_wall: float = 0.0
    log: str = ""
    waves: str = ""
    replay: str = ""
    message: str = ""
    testcases: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    first_mismatches: list[str] = dataclasses.field(default_factory=list)
    #: crossbar: error against the exact integer result of the calibrated runs
    #: (:func:`merge_xbar_errors`: ``{"dot": {...}, "out": {...}}``), None otherwise
    xbar_error: dict[str, Any] | None = None
    #: crossbar: the configuration variant the test ran on (e.g. ``sidra_y1_lossless``)
    variant: str = ""
    #: outcome of the automatic re-run with waveforms after a failure ("" if none)
    rerun: str = ""
    #: functional coverage of the run (``tb/coverage.py``: ``{"lanes": …, "stream": …}``)
    coverage: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def cycles_per_second(self) -> float:
        return self.fast_cycles / self.fast_wall if self.fast_wall > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cycles_per_second_fast_path"] = round(self.cycles_per_second, 1)
        return d


def format_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)}m{s % 60:04.1f}s"


def format_count(n: float) -> str:
    n = float(n)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{int(n)}"


def _sim_time(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.0f} ns"


def format_table(rows: list[Row]) -> str:
    """The summary table: test, simulator, status, vectors, mismatches, times, seed."""
    head = ["test", "simulator", "result", "vectors", "mismatches", "MACs", "sim time",
            "wall", "fast cyc/s", "seed"]
    body = []
    for r in rows:
        body.append([r.test, r.sim, r.status.upper(), str(r.vectors), str(r.mismatches),
                     format_count(r.macs), _sim_time(r.sim_ns), format_seconds(r.wall),
                     format_count(r.cycles_per_second) if r.fast_wall else "-", str(r.seed)])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    right = {3, 4, 5, 6, 7, 8, 9}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(head), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    return "\n".join(out)


class ProgressBar:
    """A thread-safe plain-text progress bar on stderr."""

    def __init__(self, total: int, *, stream: TextIO | None = None, width: int = 24,
                 enabled: bool = True):
        self.total = max(1, total)
        self.done = 0
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._lock = threading.Lock()
        self._running: list[str] = []

    def _bar(self) -> str:
        filled = int(self.width * self.done / self.total)
        return "[" + "#" * filled + "." * (self.width - filled) + "]"

    def start(self, label: str) -> None:
        with self._lock:
            self._running.append(label)
            if self.enabled and self.tty:
                self._draw()

    def _draw(self) -> None:
        run = ", ".join(self._running[-2:])
        text = (f"\r{self._bar()} {self.done}/{self.total} "
                f"{format_seconds(time.perf_counter() - self.t0)}  {run}")
        self.stream.write(text[:160].ljust(100))
        self.stream.flush()

    def finish(self, label: str, status: str, detail: str = "") -> None:
        with self._lock:
            if label in self._running:
                self._running.remove(label)
            self.done += 1
            if not self.enabled:
                return
            elapsed = format_seconds(time.perf_counter() - self.t0)
            msg = f"{self._bar()} {self.done}/{self.total} {elapsed:>8}  {label}: {status}"
            if detail:
                msg += f" ({detail})"
            if self.tty:
                self.stream.write("\r" + msg.ljust(100) + "\n")
                if self._running:
                    self._draw()
            else:
                self.stream.write(msg + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        with self._lock:
            if self.tty and self.enabled:
                self.stream.write("\r" + " " * 100 + "\r")
            self.stream.write(text + "\n")
            self.stream.flush()


# ---------------------------------------------------------------------------- crossbar error
_ERR_SUMS = ("count", "signal", "noise", "err_sum", "exact")


def _finish_error(d: dict[str, Any]) -> dict[str, Any]:
    """Derived quantities of summed error statistics (tb.model.ErrorStats.to_dict)."""
    from golden.metrics import effective_bits
    n = d["count"]
    if d["noise"] == 0:
        s = math.inf if n else math.nan
    elif d["signal"] == 0:
        s = -math.inf
    else:
        s = 10.0 * math.log10(d["signal"] / d["noise"])
    finite = math.isfinite(s)
    d.update(
        sqnr_db=round(s, 3) if finite else None,
        effective_bits=round(float(effective_bits(s)), 3) if finite else None,
        exact_fraction=d["exact"] / n if n else None,
        mse=d["noise"] / n if n else None,
        mean_error=d["err_sum"] / n if n else None,
        all_exact=bool(n) and d["noise"] == 0,
    )
    return d


def merge_xbar_errors(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Merge the crossbar error statistics of the records of calibrated, crossbar-golden runs
    (``rec["xbar"]["error"]``, written by tb/env.py) into ``{"dot": ..., "out": ...}`` with
    SQNR and effective bits recomputed from the sums; None when there are none."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        x = r.get("xbar") or {}
        if not x.get("calibrated") or x.get("mac_path") or not x.get("error"):
            continue
        for key, st in x["error"].items():
            acc = out.setdefault(key, {k: 0 for k in _ERR_SUMS} | {"max_abs": 0.0})
            for k in _ERR_SUMS:
                acc[k] += st.get(k, 0)
            acc["max_abs"] = max(acc["max_abs"], float(st.get("max_abs", 0.0)))
    if not out:
        return None
    return {k: _finish_error(v) for k, v in out.items()}


def _err_cells(d: dict[str, Any] | None) -> list[str]:
    if not d or not d.get("count"):
        return ["-", "-", "-", "-"]
    if d.get("all_exact"):
        return ["exact", "-", "100.0 %", "0"]
    s = d.get("sqnr_db")
    return [f"{s:.2f} dB" if s is not None else "-",
            f"{d['effective_bits']:.2f}" if d.get("effective_bits") is not None else "-",
            f"{100.0 * d['exact_fraction']:.1f} %", f"{d['max_abs']:.0f}"]


def format_xbar_errors(rows: list[Row], *, lossless: bool, ideal: bool,
                       variants: dict[str, str] | None = None) -> str:
    """The crossbar section of the summary: variants used, and the error of the crossbar
    result against the exact integer result (per test and simulator, and all together)."""
    lines = []
    for test, name in sorted((variants or {}).items()):
        lines.append(f"{test} ran on {name}: the lossless ideal variant of this configuration "
                     f"(the ADC at its lossless resolution, no noise)")
    with_err = [r for r in rows if r.xbar_error]
    total = merge_xbar_errors([{"xbar": {"calibrated": True, "error": r.xbar_error}}
                               for r in with_err])
    if total is None:
        lines.append("crossbar error against the exact integer result: no calibrated runs")
        return "\n".join(lines) + "\n"
    dot, outp = total.get("dot"), total.get("out")
    if lossless and ideal and dot and dot.get("all_exact") and outp and outp.get("all_exact"):
        lines.append(f"crossbar: lossless ADC, ideal macro: all {dot['count']} dot products and "
                     f"{outp['count']} outputs of the calibrated runs equal the exact integer "
                     f"result (bit-exact hardware-vs-golden check above)")
        return "\n".join(lines) + "\n"
    kind = ("lossy ADC" if not lossless else "lossless ADC") + (", noisy macro" if not ideal
                                                               else ", ideal macro")
    lines.append(f"crossbar error against the exact integer result ({kind}; calibrated runs; "
                 f"golden.crossbar.error_report) — the hardware matched golden bit-exactly "
                 f"above:")
    head = ["test", "simulator", "dot SQNR", "eff. bits", "exact", "max|err|", "out SQNR",
            "eff. bits", "exact", "max|err|", "dot products"]
    body = []
    for r in with_err:
        e = r.xbar_error
        body.append([r.test, r.sim, *_err_cells(e.get("dot")), *_err_cells(e.get("out")),
                     str((e.get("dot") or {}).get("count", 0))])
    body.append(["all", "", *_err_cells(dot), *_err_cells(outp), str((dot or {}).get("count", 0))])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines += ["  " + line(head), "  " + line(["-" * w for w in widths])]
    lines += ["  " + line(b) for b in body]
    lines.append("  dot: crossbar dot products (partial sums over k-tiles, no bias) vs exact "
                 "x·w'; out: requantized outputs − y_zp vs the MAC path's")
    return "\n".join(lines) + "\n"


def write_junit(rows: list[Row], path: Path, *, suite: str) -> Path:
    """JUnit XML: one testcase per cocotb test (or per row when no testcase ran)."""
    root = ET.Element("testsuites", name="qmac regress")
    by_sim: dict[str, list[Row]] = {}
    for r in rows:
        by_sim.setdefault(r.sim, []).append(r)
    for sim, srows in by_sim.items():
        cases = []
        for r in srows:
            for tc in r.testcases:
                cases.append((r, tc["name"], tc["passed"], tc.get("skipped", False),
                              tc["time"], tc.get("message", "")))
            if not r.testcases or (not r.passed and all(tc["passed"] for tc in r.testcases)):
                # no cocotb results (build error, crash, timeout) or a failure outside them
                cases.append((r, r.test if not r.testcases else f"{r.test} (run)", r.passed,
                              r.status == "skipped", r.wall, r.message))
        ts = ET.SubElement(root, "testsuite", name=f"{suite}.{sim}", tests=str(len(cases)),
                           failures=str(sum(1 for c in cases if not c[2] and not c[3])),
                           skipped=str(sum(1 for c in cases if c[3])),
                           time=f"{sum(c[4] for c in cases):.3f}")
        for r, name, passed, skipped, t, msg in cases:
            tc = ET.SubElement(ts, "testcase", classname=f"{suite}.{sim}.{r.test}",
                               name=name, time=f"{t:.3f}")
            ET.SubElement(tc, "properties")
            for k, v in (("vectors", r.vectors), ("mismatches", r.mismatches),
                         ("seed", r.seed), ("log", r.log), ("waves", r.waves)):
                ET.SubElement(tc.find("properties"), "property", name=k, value=str(v))
            if skipped:
                ET.SubElement(tc, "skipped", message=msg or "skipped")
            elif not passed:
                text = (msg or r.message) + (f"\nreplay: {r.replay}" if r.replay else "")
                if r.first_mismatches:
                    text += "\n" + "\n".join(r.first_mismatches)
                f = ET.SubElement(tc, "failure", message=(msg or r.message or r.status)[:500])
                f.text = text
            out = ET.SubElement(tc, "system-out")
            out.text = f"log: {r.log}" + (f"\nwaves: {r.waves}" if r.waves else "")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return atomic_write(path, lambda f: tree.write(f, encoding="utf-8", xml_declaration=True))


def write_summary(path: Path, meta: dict[str, Any], rows: list[Row]) -> Path:
    data = dict(meta)
    data["results"] = [r.to_dict() for r in rows]
    data["passed"] = all(r.passed for r in rows if r.status != "skipped") and any(
        r.passed for r in rows)
    data["passed_tests"] = [f"{r.sim}:{r.test}" for r in rows if r.passed]
    data["interrupted_tests"] = [f"{r.sim}:{r.test}" for r in rows if r.status == "interrupted"]
    data["totals"] = {
        "vectors": sum(r.vectors for r in rows),
        "mismatches": sum(r.mismatches for r in rows),
        "macs": sum(r.macs for r in rows),
        "failed": sum(1 for r in rows if not r.passed and r.status != "skipped"),
    }
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))
