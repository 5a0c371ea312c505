"""The qmac command line: user errors are one line and exit status 2, nothing left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

QMAC = [sys.executable, "-m", "sim.cli"]


def run(args, cwd, **kw):
    return subprocess.run(QMAC + args, cwd=cwd, capture_output=True, text=True, timeout=120, **kw)


BAD_CONFIGS = {
    "unknown_key": ("operands: {bits: 8, colour: red}\n", "operands.colour"),
    "n0": ("operands: {bits: 0}\n", "operands.bits: 0"),
    "n1": ("operands: {bits: 1}\n", "operands.bits: 1"),
    "n65": ("operands: {bits: 65}\n", "operands.bits: 65"),
    "r0": ("array: {rows: 0}\n", "array.rows: 0"),
    "out_wide": ("array: {rows: 1}\naccumulator: {guard_bits: 0}\nrequant: {out_bits: 20}\n",
                 "requant.out_bits: 20"),
    "banana": ("requant: {rounding: banana}\n", "requant.rounding: 'banana'"),
    "syntax": ("operands: {bits: 8\n", "YAML syntax error"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("command", ["generate", "regress"])
def test_bad_config_exits_2_with_one_line_and_no_output(tmp_path, case, command, repo_root):
    text, expected = BAD_CONFIGS[case]
    cfg = tmp_path / f"{case}.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    res = run([command, str(cfg), "-o", str(out)], cwd=repo_root)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("qmac: error: ") and expected in lines[0]
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert not out.exists()


@pytest.mark.parametrize("args,expected", [
    (["generate", "missing.yaml"], "missing.yaml: no such configuration file"),
    (["generate", "--bits", "65"], "--bits=65 is not allowed; allowed: an integer in 2..16"),
    (["generate", "--bits", "x"], "--bits='x' is not allowed; allowed: an integer in 2..16"),
    (["generate", "--bits", "0x8"], "--bits='0x8' is not allowed; allowed: an integer in 2..16"),
    (["generate", "--bits", "1"], "--bits=1 is not allowed; allowed: an integer in 2..16"),
    (["regress", "--sim", "modelsim"], "--sim='modelsim' is not a simulator; allowed: icarus, verilator, all"),
    (["regress", "--vectors", "0"], "--vectors=0 is out of range; allowed: 1..1000000"),
    (["regress", "--vectors", "1000001"], "--vectors=1000001 is out of range; allowed: 1..1000000"),
    (["regress", "--sim", ""], "--sim='' names no simulator"),
    (["regress", "--sim", ","], "--sim=',' names no simulator"),
    (["regress", "--tests", ","], "--tests=',' names no testbench"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, expected, repo_root):
    res = run(args + ["-o", str(tmp_path / "o")] if args[0] != "frobnicate" else args, cwd=repo_root)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], res.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("make_bad", ["file", "unwritable"])
def test_bad_output_path_is_one_line(tmp_path, make_bad, repo_root):
    if make_bad == "file":
        target = tmp_path / "afile"
        target.write_text("x")
        expected = "a regular file, not a directory"
    else:
        target = Path("/proc/qmac-out")
        expected = "/proc"
    res = run(["generate", "-o", str(target)], cwd=repo_root)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in res.stderr


def test_a_command_needing_one_width_says_so_in_one_line(tmp_path, monkeypatch, capsys,
                                                        repo_root):
    """No command reads ``cfg.bits`` of a mixed-width configuration today (issue 15); should
    one again, ``constraints.MixedWidthsError`` becomes one line naming the command, exit 2."""
    import sim.cli as cli
    from constraints import common_bits
    monkeypatch.setattr(cli, "_cmd_generate", lambda args, cfg: common_bits("Probe", 8, 4))
    rc = cli.main(["generate", str(repo_root / "constraints" / "w4a8.yaml"), "-o",
                   str(tmp_path / "g")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("qmac generate: error: Probe: bits is not defined for input_bits=8, "
                          "weight_bits=4") and "input_bits == weight_bits" in err
