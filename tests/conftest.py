"""Shared pytest fixtures for the qmac suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def in_ci() -> bool:
    """True under CI=true (or 1/yes/on, as sim.tools.in_ci): a missing simulator must fail,
    never skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


@pytest.fixture(scope="session")
def build_root() -> Path:
    """Build directory shared by the simulator tests (``$QMAC_TEST_BUILD_DIR`` to move it):
    one sub-directory per (configuration, simulator), reused while nothing changed."""
    root = Path(os.environ.get("QMAC_TEST_BUILD_DIR") or REPO_ROOT / "build" / "test-sim")
    root.mkdir(parents=True, exist_ok=True)
    return root


def pytest_collection_modifyitems(config, items):
    """The one gate of ``@pytest.mark.long`` tests: they run only with ``QMAC_LONG=1``."""
    if os.environ.get("QMAC_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long: set QMAC_LONG=1")
    for item in items:
        if item.get_closest_marker("long") is not None:
            item.add_marker(skip)
