"""nextpnr-ecp5 for ``qmac synth``: arguments, device fit, and reading its JSON report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .synth_targets import Target

__all__ = ["pnr_args", "fit_check", "read_pnr_report", "critical_path_summary"]

#: LFE5U-85F, speed grade 6 (the fastest the tooling-facts trial used)
DEVICE_ARGS = ("--85k", "--speed", "6")


def pnr_args(top: str, clock_mhz: float, seed: int) -> list[str]:
    """nextpnr-ecp5 arguments (relative paths: run from the output directory). The clock
    is passed with ``--freq`` (nextpnr rejects the SDC's ``all_inputs``)."""
    return [*DEVICE_ARGS, "--json", f"{top}_ecp5.json", "--out-of-context",
            "--freq", f"{clock_mhz:g}", "--seed", str(seed), "--timing-allow-fail",
            "--threads", "1", "--report", f"pnr_seed{seed}.json", "--detailed-timing-report",
            "-q", "-l", f"pnr_seed{seed}.nextpnr.log"]


def fit_check(target: Target, counts: dict[str, int]) -> list[str]:
    """The counts that exceed the target device, as ``"dsp 320 > 156"`` strings."""
    used = dict(counts)
    if target.name == "ecp5":          # a CCU2C occupies the two LUT4s of a slice half
        used["lut"] = counts.get("lut", 0) + 2 * counts.get("carry", 0) \
            + 2 * counts.get("lutram", 0)
    return [f"{cls} {used[cls]} > {cap}" for cls, cap in target.capacity.items()
            if used.get(cls, 0) > cap]


def _cell_of(endpoint: Any) -> str:
    if isinstance(endpoint, dict):
        return str(endpoint.get("cell", ""))
    return str(endpoint or "")


def critical_path_summary(path: dict[str, Any]) -> dict[str, Any]:
    """From / to cells of a nextpnr critical path, its delay split into logic and routing,
    and the cells it passes through (in order, without repeats)."""
    segs = path.get("path", [])
    logic = sum(float(s.get("delay", 0)) for s in segs if s.get("type") != "routing")
    routing = sum(float(s.get("delay", 0)) for s in segs if s.get("type") == "routing")
    cells: list[str] = []
    for s in segs:
        for end in (s.get("from"), s.get("to")):
            c = _cell_of(end)
            if c and (not cells or cells[-1] != c):
                cells.append(c)
    return {"from": cells[0] if cells else _cell_of(path.get("from")),
            "to": cells[-1] if cells else _cell_of(path.get("to")),
            "delay_ns": round(logic + routing, 3), "logic_ns": round(logic, 3),
            "routing_ns": round(routing, 3), "segments": len(segs), "cells": cells}


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if "ERROR" in line:
            return re.sub(r"\s+", " ", line.split("ERROR:", 1)[-1]).strip()
    return "nextpnr failed (see its log)"


def read_pnr_report(report: Path, log: str, rc: int) -> dict[str, Any]:
    """Fmax (MHz, the slowest clock), utilization and critical path of one seed."""
    if rc != 0 or not report.exists():
        return {"error": _first_error(log)}
    data = json.loads(report.read_text())
    fmax = data.get("fmax", {})
    achieved = [float(v["achieved"]) for v in fmax.values() if "achieved" in v]
    out: dict[str, Any] = {"fmax_mhz": round(min(achieved), 2) if achieved else None,
                           "clocks": {k: round(float(v.get("achieved", 0)), 2)
                                      for k, v in sorted(fmax.items())}}
    util = data.get("utilization", {})
    out["utilization"] = {k: {"used": int(v.get("used", 0)), "available": int(v.get("available", 0))}
                          for k, v in sorted(util.items()) if int(v.get("used", 0)) > 0}
    paths = data.get("critical_paths", [])
    if paths:
        out["critical_path"] = critical_path_summary(paths[0])
    return out
