"""Processes still alive: what the interrupt / timeout tests check is gone."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["live_processes"]


def live_processes(text: str) -> list[str]:
    """``"pid [state] command"`` of every live process (not a zombie, not this one) whose
    command line mentions ``text`` (e.g. a test's temporary directory)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z" and int(pid) != os.getpid():
            found.append(f"{pid} [{state}] {cmd[:120]}")
    return found
