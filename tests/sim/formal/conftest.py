"""Fixtures of the formal tests: the Yosys/solver tools (a failure under CI, else a skip)."""

import pytest

from sim.errors import ToolError
from sim.formal import tools


@pytest.fixture(scope="module")
def formal_tools(in_ci):
    try:
        return tools.require()
    except ToolError as exc:
        if in_ci:
            raise
        pytest.skip(str(exc))
