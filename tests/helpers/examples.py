"""Run a script of examples/ as a user would: this Python, from the repository root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["run_example"]

ROOT = Path(__file__).resolve().parents[2]


def run_example(script: str, *args, timeout: float = 600, env=None):
    """``examples/<script> ARGS`` → its ``CompletedProcess`` (text output captured)."""
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
