"""Smoke test of the documented sweep command (examples/crossbar_sweep.py)."""

from __future__ import annotations

import subprocess
import sys


def test_crossbar_sweep_writes_png_and_tables(tmp_path, repo_root):
    png = tmp_path / "sweep.png"
    res = subprocess.run(
        [sys.executable, str(repo_root / "examples" / "crossbar_sweep.py"), "-o", str(png),
         "--vectors", "24"],
        capture_output=True, text=True, timeout=600, cwd=repo_root)
    assert res.returncode == 0, res.stderr
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = res.stdout
    assert "lossless ADC = 22 bits, configured ADC = 8 bits (lossy)" in out
    assert "SQNR vs ADC bits" in out and "SQNR vs noise sigma" in out
    # the lossless row reconstructs exactly; the configured 8-bit ADC does not
    rows = {line.split("|")[0].strip(): line for line in out.splitlines() if "|" in line}
    assert "exact" in rows["22"] and "exact" not in rows["8"]


def test_crossbar_sweep_on_isaac(tmp_path, repo_root):
    res = subprocess.run(
        [sys.executable, str(repo_root / "examples" / "crossbar_sweep.py"), "--config",
         str(repo_root / "constraints" / "isaac.yaml"), "-o", str(tmp_path / "i.png"),
         "--vectors", "8"],
        capture_output=True, text=True, timeout=600, cwd=repo_root)
    assert res.returncode == 0, res.stderr
    assert "lossless ADC = 9 bits, configured ADC = 9 bits (lossless)" in res.stdout


def test_crossbar_sweep_on_a_mixed_width_tile(tmp_path, repo_root):
    """xbar_w4a8 (8-bit inputs, 4-bit weights): the example reads both widths."""
    res = subprocess.run(
        [sys.executable, str(repo_root / "examples" / "crossbar_sweep.py"), "--config",
         str(repo_root / "constraints" / "xbar_w4a8.yaml"), "-o", str(tmp_path / "x.png"),
         "--vectors", "8"],
        capture_output=True, text=True, timeout=600, cwd=repo_root)
    assert res.returncode == 0, res.stderr
    assert "R=8 C=4 A=8 W=4" in res.stdout
    assert "lossless ADC = 7 bits, configured ADC = 7 bits (lossless)" in res.stdout
