"""Timing closure, before and after: ``qmac synth`` (ECP5 synthesis + nextpnr, K seeds) of a
configuration with the current ``hw/`` and with ``hw/`` of a baseline git revision, on the
same machine in the same run, then one table with the ratio (a script, not a test).

Run::

    .venv/bin/python benchmarks/bench_synth.py [CONFIG] [--baseline-rev REV] [--seeds K]
                                               [-o DIR]

Defaults: ``benchmarks/int8_4x4.yaml``, ``--baseline-rev bd108c1`` (the last revision before
the requantizer was pipelined), 3 seeds, ``out/bench_synth``. The baseline's ``hw/`` is
extracted with ``git archive`` into ``DIR/baseline_src`` and put first on ``PYTHONPATH``;
everything else (the flow, the tools) is the current one. Also prints ``uptime`` (the load
matters: P&R wall time, not Fmax). Several minutes per seed on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE_REV = "bd108c1"


def _extract_hw(rev: str, dest: Path) -> None:
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "hw"],
                          check=True, capture_output=True).stdout
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")


def _synth(config: str, seeds: int, outdir: Path, pythonpath: str | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, str(ROOT)) if p)
    cmd = [sys.executable, "-m", "sim.cli", "synth", config, "--target", "ecp5",
           "--seeds", str(seeds), "-o", str(outdir)]
    print("$", " ".join(cmd), f"(PYTHONPATH={env['PYTHONPATH']})", flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return json.loads((outdir / "synth.json").read_text())


def _row(label: str, summary: dict, latency: int) -> list[str]:
    ecp5 = summary["targets"]["ecp5"]
    c, p = ecp5["counts"], ecp5.get("pnr", {})
    f = p.get("fmax_mhz_median")
    cp = p.get("critical_path") or {}
    return [label, str(latency), str(c["lut"]), str(c["carry"]), str(c["ff"]), str(c["dsp"]),
            f"{f:.1f} [{p['fmax_mhz_min']:.1f}-{p['fmax_mhz_max']:.1f}]" if f else "-",
            f"{summary['macs_per_cycle'] * f / 1e3:.2f} G" if f else "-",
            f"{cp.get('from', '?')} -> {cp.get('to', '?')} ({cp.get('delay_ns', 0):.1f} ns)"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", nargs="?", default="benchmarks/int8_4x4.yaml")
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("-o", "--out", default="out/bench_synth")
    args = ap.parse_args()
    out = (ROOT / args.out).resolve()
    subprocess.run(["uptime"], check=False)
    base_src = out / "baseline_src"
    _extract_hw(args.baseline_rev, base_src)
    before = _synth(args.config, args.seeds, out / "baseline", str(base_src))
    after = _synth(args.config, args.seeds, out / "current", None)
    subprocess.run(["uptime"], check=False)
    lat = [json.loads((out / d / "manifest.json").read_text())["latency_cycles"]
           for d in ("baseline", "current")]
    head = ["design", "latency", "LUT4", "CCU2C", "FF", "MULT18X18D", "Fmax MHz median [min-max]",
            "MAC/s", "critical path (slowest seed)"]
    rows = [head, _row(f"baseline {args.baseline_rev}", before, lat[0]),
            _row("current", after, lat[1])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip())
    fb = before["targets"]["ecp5"].get("pnr", {}).get("fmax_mhz_median")
    fa = after["targets"]["ecp5"].get("pnr", {}).get("fmax_mhz_median")
    if fb and fa:
        print(f"Fmax ratio current / baseline: {fa / fb:.2f}x "
              f"({args.seeds} seeds each, {before['targets']['ecp5']['device']}, "
              f"out-of-context; tools: "
              + ", ".join(f"{k} {v}" for k, v in after["tools"].items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
