"""The ``qrun`` fixture: ``qmac run`` in this process, as tests/sim/test_run.py and
tests/sim/test_hwstep.py call it (use: ``from tests.helpers.qmac_run import qrun``)."""

from __future__ import annotations

import json

import pytest

__all__ = ["qrun"]


@pytest.fixture
def qrun(tmp_path, build_root, monkeypatch, capsys):
    """``qrun(model, *args, name="out")`` runs ``qmac run MODEL ARGS -o tmp_path/name`` (the
    shared test build directory) and returns ``(exit status, stdout, stderr, report.json
    as a dict or None when it was not written, output directory)``."""
    from sim.cli import main
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))

    def run(model, *extra, name="out"):
        out = tmp_path / name
        rc = main(["run", str(model), *map(str, extra), "-o", str(out)])
        cap = capsys.readouterr()
        rep = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() \
            else None
        return rc, cap.out, cap.err, rep, out
    return run
