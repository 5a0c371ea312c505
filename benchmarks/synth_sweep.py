"""Cost against operand bits (and the shipped configurations) with ``qmac synth``: a table
on stdout, the results as JSON, and a plot (a script, not a test).

Run::

    .venv/bin/python benchmarks/synth_sweep.py bits [CONFIG] [--bits 2,4,8,12,16] [--seeds K]
        [--targets ecp5,generic] [-j JOBS] [-o DIR] [--json FILE] [--png FILE]
    .venv/bin/python benchmarks/synth_sweep.py size [CONFIG] [--sizes 2,4,8,16] [--seeds K]
        [--targets ecp5,generic] [-j JOBS] [-o DIR] [--json FILE] [--png FILE]
    .venv/bin/python benchmarks/synth_sweep.py configs [CONFIG ...] [--seeds K]
        [--targets ecp5,generic] [-j JOBS] [-o DIR] [--results docs/synth_results.json]
    .venv/bin/python benchmarks/synth_sweep.py record DIR ... [--results FILE]
    .venv/bin/python benchmarks/synth_sweep.py plot JSON --png FILE

``bits``: ``qmac synth CONFIG --bits N --target TARGETS`` for each N (``--seeds 0`` =
counts only): ECP5 LUT4 / CCU2C / FF / MULT18X18D, the generic NAND2-equivalent proxy and,
where placed and routed, Fmax against N. ``size``: the same against the array size S×S
(CONFIG with ``array.rows = array.cols = S``, written to ``DIR/s<S>.yaml``). The points go
to ``--json`` (default ``DIR/sweep_<bits|size>.json``), the plot to ``--png``, both rewritten
after every finished point (an interrupted sweep keeps what it measured). The file is merged:
its points at other x stay, and a point at the same x from the same Verilog (SHA-256) and
tools keeps what this run did not measure, so ``--targets ecp5`` can cover every point
first and ``--targets generic`` (the expensive proxy, into another ``-o DIR``) fill in
later; a point measured again must give identical counts (exit 1 otherwise;
``reruns_identical`` counts them). Each point records the Verilog hash, the ``hw/`` tree,
the tools, the CPU seconds (user + sys of ``qmac synth`` and its tools, per run) and the
synthesis wall time per target. ``--generic-from X:KEY`` takes point X's generic proxy from
the ``--results`` entry KEY, only if it is the same configuration (config id) measured with
the same tools with identical ECP5 counts (e.g. the array-size point 16 from ``int8.yaml``).
``configs``: ECP5 and/or generic counts (and ECP5 Fmax with ``--seeds K``) of each config,
as a markdown table. Each point is one ``qmac synth`` process run from the repository root
(``-j`` of them at a time); its ``synth.json`` stays in ``DIR``. With ``--results FILE``
every config's counts go into that JSON (``docs/synth_results.json`` is what
``scripts/readme_tables.py`` renders into the README), keyed by the SHA-256 of the
generated Verilog: an entry measured before from the same Verilog with the same tool
versions is compared first (the counts must be identical on a rerun, exit 1 otherwise),
and a target this run did not measure is kept from it.
``record``: put existing ``qmac synth`` output directories (``synth.json`` +
``manifest.json``) into the results file without running a tool (e.g. a P&R run).
``plot``: redraw a ``bits``/``size`` plot from its ``--json`` file and print its table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


RESUME = False


def _reusable(config: str, outdir: Path, bits: int | None, targets: str, seeds: int) -> bool:
    """``--resume``: ``outdir`` holds a finished ``qmac synth`` run of every requested target
    (P&R as requested) of the Verilog that ``qmac generate`` writes for this point now."""
    try:
        old = json.loads((outdir / "synth.json").read_text())
    except (OSError, ValueError):
        return False
    want = targets.split(",")
    if any(t not in old["targets"] for t in want):
        return False
    if "ecp5" in want and bool(seeds) != bool(old["targets"]["ecp5"].get("pnr")):
        return False
    return generated_sha256(config, outdir.with_name(outdir.name + ".check"), bits) \
        == verilog_sha256(outdir)


def generated_sha256(config: str, outdir: Path, bits: int | None) -> str:
    """``qmac generate CONFIG [--bits N] -o OUTDIR`` (no tool run, a few seconds of CPU):
    the SHA-256 of the Verilog this point gives now."""
    cmd = [sys.executable, "-m", "sim.cli", "generate", config, "-o", str(outdir)]
    cmd += ["--bits", str(bits)] if bits else []
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return verilog_sha256(outdir)


def synth(config: str, outdir: Path, *, bits: int | None, targets: str, seeds: int) -> dict:
    """One ``qmac synth`` process (or its reused run with ``--resume``); its ``synth.json``
    plus ``_cpu_s``, the user + sys CPU seconds of that process and its tools (None when
    reused: ``-j 1`` makes the figure exact, with ``-j J`` it is shared)."""
    cmd = [sys.executable, "-m", "sim.cli", "synth", config, "--target", targets,
           "-o", str(outdir)]
    cmd += ["--bits", str(bits)] if bits else []
    cmd += ["--seeds", str(seeds)] if seeds else ["--no-pnr"]
    cpu, reused = None, RESUME and _reusable(config, outdir, bits, targets, seeds)
    if reused:
        print("reused (--resume, same Verilog):", " ".join(cmd[2:]), flush=True)
    else:
        print("$", " ".join(cmd[2:]), flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1)
    return dict(json.loads((outdir / "synth.json").read_text()), _cpu_s=cpu, _reused=reused)


def _fmax(res: dict) -> float | None:
    return res.get("pnr", {}).get("fmax_mhz_median")


ECP5_FIELDS = ("lut", "carry", "ff", "dsp", "fmax_mhz", "fits", "over")
PNR_FIELDS = ("fmax_mhz", "fmax_mhz_min", "fmax_mhz_max", "pnr_seeds", "critical_path")
GENERIC_FIELDS = ("nand2_equivalents", "generic_gates", "generic_ff")


def _pnr_fields(e: dict) -> dict:
    """Fmax of a placed and routed ECP5 run: median, spread, seeds, the critical path."""
    p = e.get("pnr") or {}
    if not p.get("fmax_mhz_median"):
        return {}
    cp = {k: v for k, v in (p.get("critical_path") or {}).items() if k != "cells"}
    return {"fmax_mhz_min": p.get("fmax_mhz_min"), "fmax_mhz_max": p.get("fmax_mhz_max"),
            "pnr_seeds": len(p.get("seeds", [])), "critical_path": cp}


def _point(key: str, value: int, s: dict, outdir: Path, pipeline: str) -> dict:
    """One point: the ECP5 and generic fields of the targets this run measured (None for a
    target it did not: ``--targets ecp5`` first for every point, ``generic`` later)."""
    e, g = s["targets"].get("ecp5"), s["targets"].get("generic", {})
    ecp5 = ({**{k: e["counts"][k] for k in ("lut", "carry", "ff", "dsp")},
             "fmax_mhz": _fmax(e), "fits": e["fits"], "over": e["over"], **_pnr_fields(e)}
            if e else dict.fromkeys(ECP5_FIELDS))
    seeds = (e or {}).get("pnr", {}).get("seeds") or []
    run = ",".join(s["targets"]) + (f"+pnr x{len(seeds)}" if seeds else "")
    return {key: value, **ecp5, "pipeline": pipeline, "macs_per_cycle": s["macs_per_cycle"],
            "nand2_equivalents": g.get("area_proxy", {}).get("nand2_equivalents"),
            "generic_gates": g.get("counts", {}).get("gates"),
            "generic_ff": g.get("counts", {}).get("ff"),
            "verilog_sha256": verilog_sha256(outdir), "hw_tree": hw_tree(),
            "tools": s["tools"],
            "cpu_s": {run: s.get("_cpu_s")},
            "synth_wall_s": {t: r.get("synth_wall_s") for t, r in s["targets"].items()}}


def _run_points(jobs: int, calls: list, done=None) -> list[dict]:
    """``calls`` (zero-argument functions, one ``qmac synth`` each), ``jobs`` at a time;
    results in order. ``done(i, result)`` is called as each one finishes."""
    from concurrent.futures import ThreadPoolExecutor, as_completed
    results: list = [None] * len(calls)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(f): i for i, f in enumerate(calls)}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            if done:
                done(futures[fut], results[futures[fut]])
    return results


_ANNOUNCED: set = set()


def _merged(stored: list[dict], key: str, points: list[dict]) -> list[dict]:
    """``points`` plus the ``stored`` points (the ``--json`` file as it was before this run)
    at other x values (so a sweep can be extended point by point), sorted by x. A stored
    point at the same x with the same Verilog and tools must have the same counts (exit 1
    otherwise); a point reused with ``--resume`` is the stored measurement, not a rerun."""
    new = {p[key]: dict(p) for p in points}
    for p in stored:
        q = new.get(p[key])
        if q and p.get("verilog_sha256") == q["verilog_sha256"] and p.get("tools") == q["tools"]:
            fields = ("lut", "carry", "ff", "dsp", "nand2_equivalents")
            if any(p.get(f) != q[f] for f in fields
                   if p.get(f) is not None and q[f] is not None):
                sys.exit(f"{key} = {p[key]} gave other counts than the stored point "
                         "from the same Verilog and tools (not deterministic)")
            rerun = {f for f in ("lut", "nand2_equivalents") if q[f] is not None
                     and p.get(f) is not None}
            for group in (ECP5_FIELDS + PNR_FIELDS, PNR_FIELDS,
                          GENERIC_FIELDS + ("generic_from",)):
                if q.get(group[0]) is None and p.get(group[0]) is not None:  # not measured now
                    q.update({f: p[f] for f in group if f in p})
            for f in ("cpu_s", "synth_wall_s"):
                old = p.get(f) if isinstance(p.get(f), dict) else {}
                q[f] = {**old, **{k: v for k, v in q[f].items() if v is not None}}
            if q.pop("_reused", False) or not rerun:
                if "reruns_identical" in p:
                    q["reruns_identical"] = p["reruns_identical"]
                continue
            q["reruns_identical"] = p.get("reruns_identical", 0) + 1
            if (key, p[key]) not in _ANNOUNCED:      # once, not at every rewrite
                _ANNOUNCED.add((key, p[key]))
                print(f"rerun of {key} = {p[key]}: counts identical to the stored point (same "
                      f"Verilog and tools; {q['reruns_identical']} identical rerun(s))",
                      flush=True)
        elif not q:
            new[p[key]] = p
        elif ("verilog_sha256" not in p and q["nand2_equivalents"] is None
              and p.get("nand2_equivalents") is not None):   # a point stored before hashes
            q.update({f: p[f] for f in GENERIC_FIELDS},
                     generic_from="an earlier sweep that did not record the Verilog hash")
    for q in new.values():
        q.pop("_reused", None)
    return [new[x] for x in sorted(new)]


def _json_path(args, key: str) -> Path:
    return Path(args.json) if args.json else Path(args.out) / f"sweep_{key}.json"


def _write(points: list[dict], stored: list[dict], key: str, label: str, args,
           title: str) -> list[dict]:
    """Merge ``points`` with the ``stored`` ones, write the ``--json`` file, redraw
    ``--png``."""
    path = _json_path(args, key)
    points = _merged(stored, key, points)
    measured = {t for p in points for t in p.get("synth_wall_s") or {}}
    data = {"title": title, "x": key, "pipeline": args.pipeline,
            "targets": ",".join(sorted(measured)) if measured else args.targets,
            "seeds": max([p.get("pnr_seeds") or 0 for p in points] + [args.seeds]),
            "points": points}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path} ({len(points)} points)", flush=True)
    if args.png:
        _plot(points, Path(args.png), key, label, title)
    return points


def _table(points: list[dict], key: str, label: str) -> None:
    print(f"| {label} | LUT4 | CCU2C | FF | MULT18X18D | fits | Fmax MHz (ECP5-85F-6) "
          f"| MAC/s at Fmax | generic NAND2-eq. (proxy) | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in points:
        f = (f"{p['fmax_mhz']:.1f}" if p["fmax_mhz"] else
             "does not fit" if p["fits"] is False else "not placed")
        rate = f"{p['macs_per_cycle'] * p['fmax_mhz'] / 1e3:.2f} G" if p["fmax_mhz"] else "-"
        fits = ("-" if p["fits"] is None else "yes" if p["fits"]
                else "no: " + ", ".join(p["over"]))
        nand = f"{p['nand2_equivalents']:,}" if p["nand2_equivalents"] else "-"
        src = (p.get("generic_from") or "").split(" (")[0]
        nand += f" (from {src.split(': ')[-1].replace('an earlier', 'earlier')})" if src else ""
        cpu_s = p.get("cpu_s") if isinstance(p.get("cpu_s"), dict) else {}
        cpu = " + ".join(f"{v:.0f} ({k})" for k, v in cpu_s.items() if v) or "-"
        print(f"| {p[key]} | {p['lut']} | {p['carry']} | {p['ff']} | {p['dsp']} | {fits} "
              f"| {f} | {rate} | {nand} | {cpu} |")


def _stored_points(args, key: str) -> list[dict]:
    """The points of the ``--json`` file (none if it does not exist); exit 1 when it holds
    another pipeline than ``--pipeline`` (a file is one pipeline; a file written before the
    field existed is checked point by point by its Verilog hash)."""
    path = _json_path(args, key)
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if data.get("pipeline", args.pipeline) != args.pipeline:
        sys.exit(f"{path} holds timing.pipeline: {data['pipeline']} points; this run is "
                 f"--pipeline {args.pipeline}: use another --json file")
    return data["points"]


def _check_stored(args, key: str, plan: list[tuple], stored: list[dict]) -> None:
    """Before any tool runs: each planned point that the ``--json`` file already holds is
    generated now (``qmac generate``, no tool) and its Verilog SHA-256 compared with the
    stored point's, so a stored measurement is only merged with (or kept beside) the same
    design. A difference exits 1 (``--replace-changed``: the stored point is dropped)."""
    by_x = {p[key]: p for p in stored}
    for x, config, bits, outdir in plan:
        old = by_x.get(x, {}).get("verilog_sha256")
        if not old:
            continue
        sha = generated_sha256(config, outdir.with_name(outdir.name + ".check"), bits)
        same = sha == old
        print(f"{key} = {x}: Verilog SHA-256 now {sha[:16]}… "
              f"{'= ' if same else '!='} the stored point's {old[:16]}…", flush=True)
        if same:
            continue
        if not args.replace_changed:
            sys.exit(f"{key} = {x}: the generated Verilog changed since the stored point was "
                     "measured; measure it into another --json file, or --replace-changed")
        stored.remove(by_x[x])


def _sweep(args, key: str, label: str, title: str, plan: list[tuple]) -> None:
    """Run the points of ``plan`` (x, config, ``--bits`` or None, output directory); after
    each one the ``--json`` file and the plot are rewritten (with the points finished so
    far), so an interrupted sweep keeps what it measured."""
    finished: dict[int, dict] = {}
    stored = _stored_points(args, key)
    _check_stored(args, key, plan, stored)
    if args.check_only:
        return
    xs = [x for x, *_ in plan]
    calls = [lambda c=c, b=b, d=d: dict(synth(c, d, bits=b, targets=args.targets,
                                              seeds=args.seeds), _outdir=d)
             for _, c, b, d in plan]

    def done(i: int, s: dict) -> None:
        finished[i] = dict(_point(key, xs[i], s, s["_outdir"], args.pipeline),
                           _reused=s["_reused"])
        if xs[i] in args.generic_from and "generic" not in s["targets"]:
            _borrow_generic(finished[i], s, args.generic_from[xs[i]], Path(args.results))
        _write([finished[j] for j in sorted(finished)], stored, key, label, args, title)

    _run_points(args.jobs, calls, done)
    _table(_write([finished[j] for j in sorted(finished)], stored, key, label, args, title),
           key, label)


def _borrow_generic(point: dict, s: dict, key: str, results: Path) -> None:
    """``--generic-from X:KEY``: the generic proxy of this point taken from the results
    file's entry ``KEY``, only if that entry is the same configuration (same config id, the
    hash of every field but the name), measured with the same tools, and this run's ECP5
    counts (every cell class) equal its stored ones; exit 1 otherwise."""
    entry = json.loads(results.read_text())["configs"][key]
    same = (entry["config_id"] == s["config_id"] and entry["tools"] == s["tools"]
            and entry["ecp5"]["counts"] == s["targets"]["ecp5"]["counts"])
    if not same or "generic" not in entry:
        sys.exit(f"--generic-from {key}: not the same configuration, tools and ECP5 counts "
                 f"as this point (config id {s['config_id']} vs {entry['config_id']}), or "
                 "no generic count stored; measure it")
    point.update(nand2_equivalents=entry["generic"]["nand2_equivalents"],
                 generic_gates=entry["generic"]["counts"]["gates"],
                 generic_ff=entry["generic"]["counts"]["ff"],
                 generic_from=f"{results.name}: {key} (config id {s['config_id']}, same ECP5 "
                              "counts, generic not rerun)")
    print(f"generic proxy of this point from {key}: {point['nand2_equivalents']:,} NAND2-eq.")


def _with_pipeline(cfg: dict, pipeline: str) -> dict:
    return dict(cfg, timing=dict(cfg.get("timing") or {}, pipeline=pipeline))


def pipeline_config(config: str, pipeline: str, out: Path) -> str:
    """CONFIG with ``timing.pipeline`` set to ``pipeline``, written to
    ``out/pipeline_<pipeline>/`` under the same file name (the generated Verilog names the
    file, so a standard-pipeline copy of a deep config gives the Verilog of the same config
    shipped with the standard pipeline)."""
    import yaml
    cfg = _with_pipeline(yaml.safe_load((ROOT / config).read_text()), pipeline)
    path = out / f"pipeline_{pipeline}" / Path(config).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


def sweep_bits(args) -> None:
    out = Path(args.out)
    base = pipeline_config(args.config[0], args.pipeline, out)
    plan = [(n, base, n, out / f"n{n}") for n in (int(b) for b in args.bits.split(","))]
    _sweep(args, "bits", "operand bits N", f"qmac synth {Path(args.config[0]).name} --bits N, "
           f"timing.pipeline: {args.pipeline}", plan)


def sweep_size(args) -> None:
    import yaml
    base = _with_pipeline(yaml.safe_load((ROOT / args.config[0]).read_text()), args.pipeline)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = []
    for n in (int(v) for v in args.sizes.split(",")):
        cfg = dict(base, name=f"{base['name']}_s{n}", array=dict(base["array"], rows=n, cols=n))
        path = out / f"s{n}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        plan.append((n, str(path), None, out / f"s{n}"))
    _sweep(args, "size", "array S×S", f"{Path(args.config[0]).name}, rows = cols = S, "
           f"timing.pipeline: {args.pipeline}", plan)


def _plot(points, png: Path, key: str, label: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xs = [p[key] for p in points]
    ecp5 = [p for p in points if p["lut"] is not None]
    fm = [(p[key], p["fmax_mhz"]) for p in points if p["fmax_mhz"]]
    nand = [(p[key], p["nand2_equivalents"]) for p in points if p.get("nand2_equivalents")]
    panels = 1 + bool(nand) + bool(fm)
    fig, axes = plt.subplots(1, panels, figsize=(max(7, 5 * panels), 4.5), squeeze=False)
    a, rest = axes[0][0], list(axes[0][1:])
    for cls, name in (("lut", "LUT4"), ("carry", "CCU2C"), ("ff", "FF")):
        a.plot([p[key] for p in ecp5], [p[cls] for p in ecp5], marker="o", label=name)
    a.set_xlabel(label)
    a.set_ylabel("ECP5 cells (synth_ecp5)")
    a.set_yscale("log")
    a.set_xticks(xs)
    ax2 = a.twinx()
    ax2.plot([p[key] for p in ecp5], [p["dsp"] for p in ecp5], "k--", marker="s",
             label="MULT18X18D (right)")
    ax2.set_ylabel("MULT18X18D")
    ax2.set_ylim(0, 1.6 * max([p["dsp"] for p in ecp5] or [1]))
    lines = a.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    a.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    a.set_title("ECP5 cell counts")
    if nand:
        b = rest.pop(0)
        b.plot(*zip(*nand), color="tab:purple")
        own = [(p[key], p["nand2_equivalents"]) for p in points
               if p.get("nand2_equivalents") and not p.get("generic_from")]
        other = [(p[key], p["nand2_equivalents"]) for p in points if p.get("generic_from")]
        for pts, face, name in ((own, "tab:purple", "measured by this sweep"),
                                (other, "white", "taken from another run (same design)")):
            if pts:
                b.plot(*zip(*pts), "o", color="tab:purple", markerfacecolor=face, label=name)
        b.legend(loc="upper left", fontsize=8)
        b.set_xlabel(label)
        b.set_ylabel("NAND2-equivalents (transistors / 4)")
        b.set_ylim(bottom=0)
        b.set_xticks(xs)
        b.set_title("generic: ASIC-style area PROXY")
    if fm:
        _plot_fmax(rest.pop(0), points, key, label, xs)
    seeds = max(p.get("pnr_seeds") or 0 for p in points)
    how = (f"Fmax: nextpnr-ecp5 0.11, LFE5U-85F-6, out of context, {seeds} seed(s)" if fm
           else "synthesis only, not placed")
    fig.suptitle(f"{title}\n(Yosys 0.70; {how})", fontsize=10)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    print(f"wrote {png}")


def _plot_fmax(c, points: list[dict], key: str, label: str, xs: list[int]) -> None:
    """Fmax (left axis) and MAC/s at Fmax (right axis, scaled apart from the Fmax line: with
    a constant MAC count per cycle the two are proportional) of the placed points."""
    placed = [p for p in points if p["fmax_mhz"]]
    fmax = [p["fmax_mhz"] for p in placed]
    rate = [p["macs_per_cycle"] * p["fmax_mhz"] / 1e3 for p in placed]
    c.plot([p[key] for p in placed], fmax, marker="o", color="tab:green", label="Fmax MHz")
    c.set_xlabel(label)
    c.set_ylabel("Fmax MHz (nextpnr, LFE5U-85F-6)")
    c.set_ylim(0, 1.45 * max(fmax))
    for p in points:
        if p["fits"] is False:
            c.annotate("does not fit", (p[key], 0), rotation=90, ha="center", va="bottom",
                       fontsize=8, color="gray")
    r = c.twinx()
    r.plot([p[key] for p in placed], rate, "--", marker="^", color="tab:red",
           label="MAC/s at Fmax (right)")
    r.set_ylabel("G MAC/s at Fmax")
    r.set_ylim(0, 2.0 * max(rate))
    c.set_xticks(xs)
    c.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    lines, more = c.get_legend_handles_labels(), r.get_legend_handles_labels()
    c.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=8)
    c.set_title("place and route (ECP5)")


def hw_tree() -> str:
    """The git tree hash of ``hw/`` (recorded for information)."""
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD:hw"], check=True,
                          capture_output=True, text=True).stdout.strip()


def verilog_sha256(outdir: Path) -> str:
    """The SHA-256 of the generated top-level Verilog (from ``manifest.json``): what the
    counts depend on, besides the tool versions."""
    m = json.loads((outdir / "manifest.json").read_text())
    return m["files"][f"{m['toplevel']}.v"]["sha256"]


def result_entry(summary: dict, config_path: str, verilog: str) -> dict:
    """One config's entry of the results file, from its ``synth.json``."""
    entry = {"config": config_path, "config_id": summary["config_id"],
             "macs_per_cycle": summary["macs_per_cycle"],
             "target_clock_mhz": summary["target_clock_mhz"], "tools": summary["tools"],
             "verilog_sha256": verilog}
    for name, res in summary["targets"].items():
        t = {"counts": res["counts"]}
        if "device" in res:
            t.update(device=res["device"], fits=res["fits"], over=res["over"])
        if "area_proxy" in res:
            t["nand2_equivalents"] = res["area_proxy"]["nand2_equivalents"]
        if "synth_wall_s" in res:
            t["synth_wall_s"] = res["synth_wall_s"]
        p = res.get("pnr", {})
        if p.get("fmax_mhz_median"):
            t["pnr"] = {k: p[k] for k in ("fmax_mhz_median", "fmax_mhz_min", "fmax_mhz_max")}
            t["pnr"]["seeds"] = len(p["seeds"])
        entry[name] = t
    return entry


def merge_result(path: Path, key: str, entry: dict, tree: str) -> bool:
    """Store ``entry`` under ``key``; False when the same Verilog and tools gave other
    counts before (not deterministic). What this run did not measure is kept from the stored
    entry when that was the same Verilog and tools."""
    data = json.loads(path.read_text()) if path.exists() else {"configs": {}}
    old = data["configs"].get(key, {})
    same = True
    if (old.get("verilog_sha256") == entry["verilog_sha256"]
            and old.get("tools") == entry["tools"]):
        reruns = set(old.get("reruns_identical", []))
        for target in ("ecp5", "generic"):
            if target in old and target in entry:
                ok = old[target]["counts"] == entry[target]["counts"]
                print(f"rerun of {key} {target}: counts "
                      f"{'identical' if ok else 'DIFFERENT'} to the stored run")
                same &= ok
                if ok:
                    reruns.add(target)
        for target in ("ecp5", "generic"):        # keep what this run did not measure
            if target in old and target not in entry:
                entry[target] = old[target]
            elif "pnr" in old.get(target, {}) and "pnr" not in entry.get(target, {}):
                entry[target]["pnr"] = old[target]["pnr"]
        if reruns:
            entry["reruns_identical"] = sorted(reruns)
    entry["hw_tree"] = tree
    data["configs"][key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return same


def record(args) -> int:
    ok = True
    for d in map(Path, args.config):
        summary = json.loads((d / "synth.json").read_text())
        manifest = json.loads((d / "manifest.json").read_text())
        key = Path(manifest["config"].get("source") or f"{summary['config']}.yaml").name
        stored = (json.loads(Path(args.results).read_text())["configs"].get(key, {})
                  if Path(args.results).exists() else {})
        ok &= merge_result(Path(args.results), key,
                           result_entry(summary, stored.get("config", key), verilog_sha256(d)),
                           hw_tree())
        print(f"recorded {d} as {key} in {args.results}")
    return 0 if ok else 1


def _config_row(config: str, s: dict) -> str:
    e, g = s["targets"].get("ecp5"), s["targets"].get("generic")
    nand = f"{g['area_proxy']['nand2_equivalents']}" if g else "-"
    if not e:
        return f"| `{Path(config).name}` | - | - | - | - | - | - | - | {nand} |"
    c, f = e["counts"], _fmax(e)
    fits = "yes" if e["fits"] else "no: " + ", ".join(e["over"])
    rate = f"{s['macs_per_cycle'] * f / 1e3:.2f} G" if f else "-"
    return (f"| `{Path(config).name}` | {c['lut']} | {c['carry']} | {c['ff']} | {c['dsp']} "
            f"| {fits} | {f'{f:.1f}' if f else '-'} | {rate} | {nand} |")


def sweep_configs(args) -> int:
    print("| config | ECP5 LUT4 | CCU2C | FF | MULT18X18D | fits LFE5U-85F | Fmax MHz | "
          "MAC/s at Fmax | generic NAND2-eq. (proxy) |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    tree = hw_tree()
    dirs = [Path(args.out) / Path(c).stem for c in args.config]
    calls = [lambda c=c, d=d: synth(c, d, bits=None, targets=args.targets, seeds=args.seeds)
             for c, d in zip(args.config, dirs)]
    ok = True
    for config, d, s in zip(args.config, dirs, _run_points(args.jobs, calls)):
        print(_config_row(config, s), flush=True)
        print(f"  {Path(config).name}: Verilog SHA-256 {verilog_sha256(d)[:12]}, CPU "
              f"{s['_cpu_s']} s (user + sys of qmac synth and its tools)", flush=True)
        if args.results:
            ok &= merge_result(Path(args.results), Path(config).name,
                               result_entry(s, config, verilog_sha256(d)), tree)
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("bits", "size", "configs", "record", "plot"))
    ap.add_argument("config", nargs="*")
    ap.add_argument("--bits", default="2,4,8,12,16")
    ap.add_argument("--sizes", default="2,4,8,16")
    ap.add_argument("--seeds", type=int, default=0)
    ap.add_argument("-o", "--out", default="out/synth_sweep")
    ap.add_argument("--png", default=None)
    ap.add_argument("--json", default=None,
                    help="bits/size: where the points go (default DIR/sweep_<bits|size>.json)")
    ap.add_argument("--targets", default="ecp5,generic",
                    help="qmac synth targets (ecp5 first; default ecp5,generic)")
    ap.add_argument("-j", "--jobs", type=int, default=1,
                    help="qmac synth processes in parallel (default 1)")
    ap.add_argument("--results", default=None,
                    help="JSON file collecting each config's counts (docs/synth_results.json)")
    ap.add_argument("--resume", action="store_true",
                    help="reuse a point's finished run in DIR when qmac generate gives the "
                         "same Verilog now (same targets and P&R)")
    ap.add_argument("--pipeline", choices=("standard", "deep"), default="standard",
                    help="bits/size: timing.pipeline of every point (default standard: the "
                         "pipeline of the stored sweep, whatever CONFIG says)")
    ap.add_argument("--check-only", action="store_true",
                    help="bits/size: only compare the Verilog generated now with the stored "
                         "points' SHA-256 (no tool run)")
    ap.add_argument("--replace-changed", action="store_true",
                    help="bits/size: drop a stored point whose Verilog changed instead of "
                         "stopping")
    ap.add_argument("--generic-from", default="", metavar="X:KEY[,X:KEY]",
                    help="bits/size: take point X's generic proxy from the --results entry "
                         "KEY if it is the same configuration with the same ECP5 counts "
                         "(e.g. 16:int8.yaml)")
    args = ap.parse_args()
    args.generic_from = dict((int(x), k) for x, k in
                             (v.split(":", 1) for v in args.generic_from.split(",") if v))
    if args.generic_from:
        args.results = args.results or "docs/synth_results.json"
    global RESUME
    RESUME = args.resume
    if args.mode in ("bits", "size"):
        args.config = args.config or ["benchmarks/int8_4x4.yaml"]
        (sweep_bits if args.mode == "bits" else sweep_size)(args)
        return 0
    if args.mode == "plot":                 # redraw from a --json file, no tool run
        data = json.loads(Path(args.config[0]).read_text())
        label = {"bits": "operand bits N", "size": "array S×S"}[data["x"]]
        _plot(data["points"], Path(args.png), data["x"], label, data["title"])
        _table(data["points"], data["x"], label)
        return 0
    if args.mode == "record":
        args.results = args.results or "docs/synth_results.json"
        return record(args)
    args.config = args.config or sorted(str(p.relative_to(ROOT))
                                        for p in (ROOT / "constraints").glob("*.yaml"))
    return sweep_configs(args)


if __name__ == "__main__":
    sys.exit(main())
