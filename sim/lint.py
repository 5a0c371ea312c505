"""Lint generated Verilog with Verilator's default warnings (no ``-Wno-*`` flags)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import UserError
from .tools import find_simulator

__all__ = ["lint", "LintError"]


class LintError(UserError):
    """Verilator reported warnings or errors on generated Verilog."""


def lint(paths: list[Path], *, top: str | None = None) -> str:
    """Run ``verilator --lint-only`` on ``paths``; return its output, raise on any message."""
    sim = find_simulator("verilator")
    cmd = [str(sim.executable), "--lint-only", "--quiet"]
    if top:
        cmd += ["--top-module", top]
    cmd += [str(p) for p in paths]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = (res.stdout + res.stderr).strip()
    if res.returncode != 0 or out:
        first = out.splitlines()[0] if out else f"exit status {res.returncode}"
        raise LintError(f"verilator --lint-only {' '.join(str(p) for p in paths)}: {first}")
    return out
