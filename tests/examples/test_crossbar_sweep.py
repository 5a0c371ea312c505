"""Smoke test of the documented sweep command (examples/crossbar_sweep.py)."""

from __future__ import annotations

from tests.helpers.examples import run_example


def _sweep(png, *args) -> str:
    """``crossbar_sweep.py -o PNG ARGS`` must exit 0; returns its output."""
    res = run_example("crossbar_sweep.py", "-o", png, *args)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_crossbar_sweep_writes_png_and_tables(tmp_path):
    png = tmp_path / "sweep.png"
    out = _sweep(png, "--vectors", 24)
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lossless ADC = 22 bits, configured ADC = 8 bits (lossy)" in out
    assert "SQNR vs ADC bits" in out and "SQNR vs noise sigma" in out
    # the lossless row reconstructs exactly; the configured 8-bit ADC does not
    rows = {line.split("|")[0].strip(): line for line in out.splitlines() if "|" in line}
    assert "exact" in rows["22"] and "exact" not in rows["8"]


def test_crossbar_sweep_on_isaac(tmp_path, repo_root):
    out = _sweep(tmp_path / "i.png", "--config", repo_root / "constraints" / "isaac.yaml",
                 "--vectors", 8)
    assert "lossless ADC = 9 bits, configured ADC = 9 bits (lossless)" in out


def test_crossbar_sweep_on_a_mixed_width_tile(tmp_path, repo_root):
    """xbar_w4a8 (8-bit inputs, 4-bit weights): the example reads both widths."""
    out = _sweep(tmp_path / "x.png", "--config", repo_root / "constraints" / "xbar_w4a8.yaml",
                 "--vectors", 8)
    assert "R=8 C=4 A=8 W=4" in out
    assert "lossless ADC = 7 bits, configured ADC = 7 bits (lossless)" in out
