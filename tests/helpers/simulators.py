"""Simulator availability for the tests: skip locally, fail under CI=true."""

from __future__ import annotations

import pytest

from sim.errors import ToolError
from sim.tools import require_simulators


def need(sim: str, in_ci: bool) -> None:
    """Skip locally if ``sim`` is missing; under CI=true let the ToolError fail the test."""
    try:
        require_simulators([sim], ci=in_ci)
    except ToolError as exc:
        if in_ci:
            raise
        pytest.skip(str(exc))
