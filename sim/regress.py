"""``qmac regress``: generate, build, run every testbench on every simulator, report.

:func:`run_regress` is what the CLI calls. For a configuration it

1. finds the simulators (:func:`sim.tools.require_simulators`; under ``CI=true`` a missing
   one is an error, otherwise one warning line and the others run);
2. generates the Verilog (cached per configuration, hardware sources and fault);
3. builds the harness + top once per (configuration, simulator, options)
   (:func:`sim.runner.build`, reused while nothing changed);
4. runs the testbenches of :data:`TESTBENCHES` — one child process each, in parallel
   (``jobs``), each with a timeout and its own log (:func:`sim.runner.run_test`);
5. prints the summary table, writes ``junit.xml`` and ``summary.json`` in ``outdir``, prints
   for every failure the command that replays it (same seed, vectors, test and simulator),
   and re-runs the first failures with waveforms.

Returns 0 only if every testbench ran and matched.

Crossbar configurations (a ``crossbar:`` section, docs/crossbar.md) run the testbenches of
:data:`CROSSBAR_TESTBENCHES` instead: the generated ``CrossbarDatapath`` inside the same
harness, its programming/DAC/ADC ports served by the behavioural analog macro
(``tb/crossbar_model.py`` via ``tb/xbar.py``), every output compared bit-exactly with
``golden/crossbar.py``. ``crossbar_vs_mac`` needs an ideal macro and a lossless ADC: for a
lossy or noisy configuration it runs on the configuration's *lossless variant*
(:func:`lossless_variant`, generated and built next to it). For lossy or noisy
configurations the summary also reports the crossbar's error against the exact integer
result (SQNR, effective bits: ``golden.crossbar.error_report``'s definitions), from the
runs with calibrated trims, and writes it to ``summary.json`` (``crossbar``).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import os
import secrets
import shlex
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .config import DatapathConfig
from .errors import ToolError, UserError
from .report import (ProgressBar, Row, format_seconds, format_table, format_xbar_errors,
                     merge_xbar_errors, write_junit, write_summary)

__all__ = ["run_regress", "TESTBENCHES", "CROSSBAR_TESTBENCHES", "Testbench", "DEFAULT_VECTORS",
           "CROSSBAR_VECTORS", "prepare", "Prepared", "replay_command", "default_build_root",
           "testbenches_for", "default_vectors", "lossless_variant", "timeout_for"]

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Testbench:
    module: str
    description: str
    #: relative run time per requested vector (scales the timeout)
    cost: float = 1.0
    #: ``"lossless"``: needs an ideal crossbar with a lossless ADC; runs on
    #: :func:`lossless_variant` of a configuration that is not one
    variant: str | None = None


#: name → cocotb test module (tb/). The order is the order of the summary.
TESTBENCHES: dict[str, Testbench] = {
    "mac_array": Testbench("tb.cocotb_mac_array", "MAC array: extreme/one-hot operands, exact"),
    "accumulator": Testbench("tb.cocotb_accumulator", "accumulator: limits, overflow, flags, sticky"),
    "requantizer": Testbench("tb.cocotb_requantizer", "requantizer: ties, shifts, zero points, random"),
    "datapath": Testbench("tb.cocotb_datapath", "random FC layers, tiling, backpressure (fast path)"),
    "protocol": Testbench("tb.cocotb_protocol", "handshakes, stalls, latency (cycle-driven)"),
}

#: crossbar configurations (name → cocotb test module, tb/cocotb_crossbar_*.py)
CROSSBAR_TESTBENCHES: dict[str, Testbench] = {
    "crossbar_layers": Testbench(
        "tb.cocotb_crossbar_layers", "random FC layers through the analog macro (K > R, "
        "per-channel, zero points, ReLU), random trims", cost=1.5),
    "crossbar_adc": Testbench(
        "tb.cocotb_crossbar_adc", "ADC limits: extreme operands (top code / clipping), trims at "
        "their limits, requantizer through the crossbar top"),
    "crossbar_latency": Testbench(
        "tb.cocotb_crossbar_latency", "variable ADC latency and jitter; exact LATENCY and cycles "
        "per vector (cycle-driven)", cost=1.5),
    "crossbar_backpressure": Testbench(
        "tb.cocotb_crossbar_backpressure", "o_data/input/o_prog backpressure, ADC jitter, "
        "reprogramming inside an accumulation", cost=2.0),
    "crossbar_vs_mac": Testbench(
        "tb.cocotb_crossbar_vs_mac", "ideal crossbar + lossless ADC == MAC-array golden "
        "(datapath_model), bit-exact", variant="lossless"),
}

#: default ``--vectors`` per simulator: keeps a warm ``qmac regress`` of the default
#: configuration on both simulators under a minute on 2 cores. Icarus runs the 16x16
#: array at a few hundred cycles/s, Verilator's fast path at ~200k cycles/s.
DEFAULT_VECTORS = {"verilator": 5000, "icarus": 24}

#: crossbar configurations: a vector takes ``cycles_per_vector`` cycles (40 for sidra_y1, 169
#: for isaac) and the analog macro is served from Python every cycle. Verilator runs at
#: 20k-50k cycles/s (bound by the Python side), Icarus at ~1000 cycles/s for sidra_y1's
#: 64 x 32-cell tile and ~200 for isaac's 128 x 64 (bound by the tile's size). These counts
#: are for sidra_y1 (40-cycle vectors, R·C_phys = 2048) and shrink in proportion to the
#: cycles per vector (and, on Icarus, to the cells), down to the minimum: a warm
#: ``qmac regress --sim all`` of either shipped crossbar config takes under a minute.
CROSSBAR_VECTORS = {"verilator": 200, "icarus": 24}
CROSSBAR_VECTORS_MIN = {"verilator": 48, "icarus": 4}
_CROSSBAR_REFERENCE_CPV = 40
_CROSSBAR_REFERENCE_CELLS = 64 * 32

#: seconds allowed per test: base + per requested vector
_TIMEOUT = {"verilator": (300.0, 0.05), "icarus": (600.0, 6.0)}
#: crossbar tests: the per-vector allowance comes from the manifest's cycles per vector and
#: latency at these (pessimistic) simulation speeds, in cycles per second
_CROSSBAR_SLOW_RATE = {"verilator": 2000.0, "icarus": 40.0}


def testbenches_for(cfg: DatapathConfig) -> dict[str, Testbench]:
    """The testbenches of a configuration: MAC array or crossbar engine."""
    return CROSSBAR_TESTBENCHES if cfg.crossbar is not None else TESTBENCHES


def default_vectors(cfg: DatapathConfig, sim: str) -> int:
    """Default ``--vectors`` of ``cfg`` on ``sim`` (:data:`DEFAULT_VECTORS`; crossbar:
    :data:`CROSSBAR_VECTORS` × 40 / cycles per vector, on Icarus also × 2048 / (R·C_phys),
    at least :data:`CROSSBAR_VECTORS_MIN`)."""
    if cfg.crossbar is None:
        return DEFAULT_VECTORS[sim]
    xb = cfg.crossbar
    scale = min(1.0, _CROSSBAR_REFERENCE_CPV / xb.cycles_per_vector)
    if sim == "icarus":
        scale *= min(1.0, _CROSSBAR_REFERENCE_CELLS / (xb.rows * xb.phys_cols))
    return max(CROSSBAR_VECTORS_MIN[sim], int(round(CROSSBAR_VECTORS[sim] * scale)))


def timeout_for(hp, sim: str, vectors: int, tb: Testbench) -> float:
    """Seconds a test may run before it is killed (a hang, not a slow machine).

    MAC array: ``base + per·vectors`` (:data:`_TIMEOUT`). Crossbar: the per-vector allowance
    is about four k-tiles at the manifest's cycles per vector — at the slowest ADC the
    testbenches use (3× the nominal latency + 3) — plus one pipeline drain (the manifest's
    latency), at :data:`_CROSSBAR_SLOW_RATE`, times the testbench's cost.
    """
    base, per = _TIMEOUT[sim]
    if hp.is_crossbar:
        slow_lat = 3 * hp.adc_latency + 3
        cycles = 4 * hp.cycles_per_vector(slow_lat) + hp.latency_for(slow_lat)
        per = cycles / _CROSSBAR_SLOW_RATE[sim]
    return base + per * vectors * tb.cost


def lossless_variant(cfg: DatapathConfig) -> DatapathConfig:
    """A crossbar configuration with an ideal macro and a lossless ADC, otherwise the same.

    ``adc_bits`` = the lossless resolution L, ``adc_full_scale: auto`` (LSB 1), every noise
    sigma 0; named ``<name>_lossless`` (so its top is ``qmac_<name>_lossless``). Validated
    by ``sim.crossbar_config.parse_crossbar`` like a user's section.
    """
    from .crossbar_config import parse_crossbar
    xb = cfg.crossbar
    if xb is None:
        raise ValueError("lossless_variant: not a crossbar configuration")
    if xb.lossless and xb.ideal:
        return cfg
    section = xb.to_dict()
    section.pop("derived", None)
    section.update(adc_bits=xb.lossless_adc_bits, adc_full_scale="auto")
    section["noise"] = dict(section["noise"], program_sigma=0.0, read_sigma=0.0,
                            adc_offset_sigma=0.0)
    base = dataclasses.replace(cfg, crossbar=None)
    new = parse_crossbar(section, base, f"{cfg.source} (lossless variant)")
    return dataclasses.replace(cfg, name=f"{cfg.name}_lossless", crossbar=new,
                               description=f"{cfg.name} with a lossless "
                                           f"{xb.lossless_adc_bits}-bit ADC and an ideal macro")


def default_build_root(outdir: Path) -> Path:
    """Builds are cached across runs: ``$QMAC_BUILD_DIR`` or ``<outdir>/../build``."""
    env = os.environ.get("QMAC_BUILD_DIR")
    if env:
        return Path(env)
    outdir = Path(outdir).resolve()
    return outdir.parent / "build"


def _hw_sources_digest() -> str:
    h = hashlib.sha256()
    for p in sorted((ROOT / "hw").glob("*.py")) + [ROOT / "sim" / "generate.py",
                                                   ROOT / "sim" / "config.py"]:
        if p.exists():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    try:
        import amaranth
        h.update(amaranth.__version__.encode())
    except ImportError:  # pragma: no cover
        pass
    return h.hexdigest()


@dataclasses.dataclass
class Prepared:
    """Generated Verilog and the testbench parameters of a configuration."""

    cfg: DatapathConfig
    tag: str
    verilog_path: Path
    toplevel: str
    manifest: dict[str, Any]
    hp: Any
    cached: bool
    seconds: float


def prepare(cfg: DatapathConfig, build_root: Path, *, inject_fault: str | None = None) -> Prepared:
    """Generate (or reuse) the Verilog of ``cfg`` under ``build_root/<tag>/rtl``."""
    from .runner import hw_params_for
    t0 = time.perf_counter()
    tag = cfg.tag + (f"-fault-{inject_fault}" if inject_fault else "")
    rtl = Path(build_root) / tag / "rtl"
    key = hashlib.sha256(json.dumps({"cfg": cfg.to_dict(), "fault": inject_fault,
                                     "hw": _hw_sources_digest()}, sort_keys=True,
                                    default=str).encode()).hexdigest()
    stamp = rtl / "qmac_generate.stamp"
    manifest_path = rtl / "manifest.json"
    cached = False
    manifest = None
    try:
        if stamp.read_text().strip() == key:
            manifest = json.loads(manifest_path.read_text())
            toplevel = manifest["toplevel"]
            verilog = rtl / f"{toplevel}.v"
            cached = verilog.exists()
    except (OSError, ValueError, KeyError):
        cached = False
    if not cached:
        from .generate import generate
        gen = generate(cfg, rtl, inject_fault=inject_fault)
        manifest, toplevel, verilog = gen.manifest, gen.toplevel, gen.verilog_path
        stamp.write_text(key + "\n")
    hp = hw_params_for(cfg.to_dict(), manifest, toplevel)
    if hp.is_crossbar:
        # the testbench's timing formulas must be the manifest's (docs/crossbar.md §3.4)
        from .runner import BuildError
        thr = (manifest.get("crossbar") or {}).get("throughput") or {}
        cpv = thr.get("cycles_per_vector")
        if cpv is not None and int(cpv) != hp.cycles_per_vector():
            raise BuildError(f"manifest cycles_per_vector={cpv}, the testbench computes "
                             f"{hp.cycles_per_vector()} (docs/crossbar.md §3.4)")
    return Prepared(cfg, tag, Path(verilog), toplevel, manifest, hp, cached,
                    time.perf_counter() - t0)


def replay_command(cfg: DatapathConfig, *, sim: str, seed: int, vectors: int,
                   tests: list[str] | None, inject_fault: str | None = None,
                   waves: bool = False) -> str:
    """The ``qmac regress`` command line that reruns exactly this (sim, seed, test)."""
    src = cfg.source
    try:
        rel = os.path.relpath(src)
        if not rel.startswith(".."):
            src = rel
    except ValueError:
        pass
    parts = ["qmac", "regress", src, "--bits", str(cfg.bits), "--sim", sim,
             "--seed", str(seed), "--vectors", str(vectors)]
    if tests:
        parts += ["--tests", ",".join(tests)]
    if inject_fault:
        parts += ["--inject-fault", inject_fault]
    if waves:
        parts.append("--waves")
    return shlex.join(parts)


def _row_from_run(name: str, run, *, seed: int, vectors: int) -> Row:
    recs = run.records
    row = Row(test=name, sim=run.sim, status=run.status, seed=seed, vectors_requested=vectors,
              wall=run.wall, log=str(run.log_path), message=run.message,
              waves=str(run.waves_path) if run.waves_path else "")
    row.vectors = sum(int(r.get("vectors", 0)) for r in recs)
    row.lanes = sum(int(r.get("lanes", 0)) for r in recs)
    row.mismatches = sum(int(r.get("mismatches", 0)) for r in recs)
    row.cycles = sum(int(r.get("cycles", 0)) for r in recs)
    row.macs = sum(int(r.get("macs", 0)) for r in recs)
    fast = [r for r in recs if r.get("path") == "fast"]
    row.fast_cycles = sum(int(r.get("cycles", 0)) for r in fast)
    row.fast_wall = sum(float(r.get("wall", 0.0)) for r in fast)
    row.sim_ns = sum(c.sim_time_ns for c in run.testcases)
    row.testcases = [dataclasses.asdict(c) for c in run.testcases]
    row.xbar_error = merge_xbar_errors(recs)
    for r in recs:
        if r.get("mismatches"):
            label = r.get("test", name) + (f"[{r['label']}]" if r.get("label") else "")
            row.first_mismatches += [f"{label}: {m}" for m in r.get("first", [])[:4]]
    if row.status == "pass" and row.vectors == 0:
        row.status, row.message = "fail", "no output vectors were checked"
    if row.status != "pass" and row.mismatches and not row.message.startswith(str(row.mismatches)):
        row.message = f"{row.mismatches} mismatch(es); " + row.message
    return row


def run_regress(cfg: DatapathConfig, *, sims, seed: int | None = None, vectors: int | None = None,
                waves: bool = False, jobs: int | None = None, outdir: str | Path = "out/regress",
                inject_fault: str | None = None, tests: list[str] | None = None,
                build_root: str | Path | None = None, rerun_waves: bool | None = None,
                timeout: float | None = None, stream: TextIO | None = None,
                progress: bool = True) -> int:
    """Run the regression of ``cfg``; returns the exit status (0 only if all matched).

    Parameters beyond the CLI's: ``build_root`` (build cache, default
    :func:`default_build_root`), ``rerun_waves`` (re-run up to two failing tests with
    waveforms; default on unless ``QMAC_RERUN_WAVES=0``), ``timeout`` (seconds per test,
    default from the vector count), ``stream`` (summary output, default stdout).
    """
    out = stream or sys.stdout
    t_start = time.perf_counter()
    sims = list(dict.fromkeys(sims or ["icarus", "verilator"]))
    benches = testbenches_for(cfg)
    names = list(benches) if not tests else [t.strip() for t in tests if t.strip()]
    for n in names:
        if n not in benches:
            kind = " of a crossbar configuration" if cfg.crossbar is not None else ""
            raise UserError(f"--tests: {n!r} is not a testbench{kind}; allowed: "
                            f"{', '.join(benches)}")
    if seed is None:
        seed = secrets.randbelow(2**31 - 1) + 1
    if seed < 0:
        raise UserError(f"--seed={seed} is out of range; allowed: >= 0")
    if vectors is not None and vectors < 1:
        raise UserError(f"--vectors={vectors} is out of range; allowed: >= 1")
    if rerun_waves is None:
        rerun_waves = os.environ.get("QMAC_RERUN_WAVES", "1") not in ("0", "false", "no")
    outdir = Path(outdir).resolve()
    build_root = Path(build_root).resolve() if build_root else default_build_root(outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    from .tools import require_simulators
    found, missing = require_simulators(sims)
    for name, reason in missing.items():
        sys.stderr.write(f"qmac: warning: skipping {name}: {reason}\n")
    run_sims = [s for s in sims if s in found]
    vec = {s: vectors if vectors is not None else default_vectors(cfg, s) for s in sims}
    jobs = max(1, jobs or os.cpu_count() or 1)
    xb = cfg.crossbar

    out.write(f"qmac regress: {cfg.name} ({cfg.source}) N={cfg.bits} "
              f"{cfg.rows}x{cfg.cols} T={cfg.weight_tiles} acc_bits={cfg.acc_bits} "
              f"{cfg.overflow} {cfg.rounding} {'per-channel' if cfg.per_channel else 'per-tensor'}"
              + (f" [fault: {inject_fault}]" if inject_fault else "") + "\n")
    if xb is not None:
        out.write(f"  crossbar: {xb.phys_cols} physical columns, {xb.cell_bits}-bit cells "
                  f"{xb.weight_encoding}, {xb.dac_bits}-bit DAC ({xb.phases} phase"
                  f"{'s' if xb.phases > 1 else ''}), {xb.num_adcs} ADCs x {xb.cols_per_adc} "
                  f"columns, {xb.adc_bits}-bit ADC "
                  f"{'lossless' if xb.lossless else f'lossy (lossless: {xb.lossless_adc_bits})'}"
                  f", {'ideal' if xb.ideal else 'noisy'} macro; {xb.cycles_per_vector} "
                  f"cycles/vector\n")
    out.write(f"  simulators: {', '.join(found[s].describe() for s in run_sims)}\n")
    out.write(f"  seed {seed}; vectors per testbench: "
              + ", ".join(f"{s} {vec[s]}" for s in run_sims) + f"; jobs {jobs}\n")
    out.write(f"  results: {outdir}  builds: {build_root}\n")
    out.flush()

    from .runner import BuildError, build, run_test
    prep = prepare(cfg, build_root, inject_fault=inject_fault)
    out.write(f"  generated {prep.verilog_path.name} (latency {prep.hp.latency} cycles)"
              f"{' [cached]' if prep.cached else f' in {prep.seconds:.1f} s'}\n")
    preps: dict[str, Prepared] = {"": prep}
    variant_of: dict[str, str] = {n: "" for n in names}
    for n in names:
        if benches[n].variant == "lossless" and xb is not None and not (xb.lossless and xb.ideal):
            if "lossless" not in preps:
                vcfg = lossless_variant(cfg)
                preps["lossless"] = prepare(vcfg, build_root, inject_fault=inject_fault)
                vp = preps["lossless"]
                out.write(f"  generated {vp.verilog_path.name}: lossless ideal variant "
                          f"({vcfg.crossbar.adc_bits}-bit ADC, no noise) for "
                          f"{', '.join(m for m in names if benches[m].variant == 'lossless')}"
                          f"{' [cached]' if vp.cached else f' in {vp.seconds:.1f} s'}\n")
            variant_of[n] = "lossless"
    out.flush()

    total_steps = len(run_sims) * (len(preps) + len(names))
    bar = ProgressBar(total_steps, enabled=progress)
    rows: list[Row] = []
    builds: dict[tuple[str, str], Any] = {}
    build_info: list[dict[str, Any]] = []

    def do_build(sim: str, key: str, with_waves: bool):
        p = preps[key]
        label = f"build {sim}" + (f" ({p.cfg.name})" if key else "") + \
            (" (waves)" if with_waves else "")
        bar.start(label)
        try:
            b = build(verilog_path=p.verilog_path, dut_toplevel=p.toplevel, hp=p.hp,
                      sim=sim, build_root=build_root, tag=p.tag, waves=with_waves)
        except (BuildError, ToolError) as exc:
            bar.finish(label, "FAILED", str(exc).splitlines()[0][:120])
            return sim, key, exc
        bar.finish(label, "ok", "reused" if not b.rebuilt else f"{b.seconds:.1f} s")
        return sim, key, b

    def do_test(sim: str, name: str, b, *, with_waves: bool = False, test_dir: Path | None = None):
        tb = benches[name]
        label = f"{sim}:{name}"
        limit = timeout or float(os.environ.get("QMAC_TEST_TIMEOUT")
                                 or timeout_for(b.hp, sim, vec[sim], tb))
        bar.start(label)
        run = run_test(b, module=tb.module, test_dir=test_dir or (outdir / sim / name),
                       seed=seed, vectors=vec[sim], timeout=limit, waves=with_waves,
                       log_name=name)
        row = _row_from_run(name, run, seed=seed, vectors=vec[sim])
        row.replay = replay_command(cfg, sim=sim, seed=seed, vectors=vec[sim], tests=[name],
                                    inject_fault=inject_fault)
        if variant_of.get(name):
            row.variant = preps[variant_of[name]].cfg.name
        detail = f"{row.vectors} vectors, {row.mismatches} mismatches, {row.wall:.1f} s"
        bar.finish(label, row.status.upper(), detail)
        return row

    build_errors: dict[tuple[str, str], Exception] = {}
    with cf.ThreadPoolExecutor(max_workers=jobs) as pool:
        pairs = [(s, k) for s in run_sims for k in preps]
        for sim, key, res in pool.map(lambda sk: do_build(sk[0], sk[1], waves), pairs):
            if isinstance(res, Exception):
                build_errors[(sim, key)] = res
                rows.append(Row(test="(build)" + (f" {preps[key].cfg.name}" if key else ""),
                                sim=sim, status="build-error", seed=seed,
                                message=str(res).splitlines()[0],
                                replay=replay_command(cfg, sim=sim, seed=seed,
                                                      vectors=vec[sim], tests=None,
                                                      inject_fault=inject_fault)))
                bar.done += sum(1 for n in names if variant_of[n] == key)
            else:
                builds[(sim, key)] = res
                build_info.append({"sim": sim, "config": preps[key].cfg.name,
                                   "dir": str(res.build_dir), "rebuilt": res.rebuilt,
                                   "seconds": round(res.seconds, 2), "log": str(res.log_path)})
        # longest first: Icarus runs and the bulk testbenches
        order = sorted(((s, n) for s in run_sims for n in names
                        if (s, variant_of[n]) in builds),
                       key=lambda sn: (sn[0] != "icarus", -benches[sn[1]].cost,
                                       sn[1] not in ("datapath", "mac_array")))
        futures = {pool.submit(do_test, s, n, builds[(s, variant_of[n])], with_waves=waves): (s, n)
                   for s, n in order}
        results = {}
        for fut in cf.as_completed(futures):
            results[futures[fut]] = fut.result()
    for s in sims:
        for n in names:
            if (s, n) in results:
                rows.append(results[(s, n)])
            elif s in missing:
                rows.append(Row(test=n, sim=s, status="skipped", seed=seed, message=missing[s]))

    failed = [r for r in rows if not r.passed and r.status != "skipped"]
    # automatic re-run of the first failures with waveforms (same seed, same vectors)
    if failed and rerun_waves and not waves:
        for r in [r for r in failed if r.test in benches
                  and (r.sim, variant_of[r.test]) in builds][:2]:
            bar.message(f"qmac: re-running {r.sim}:{r.test} with waveforms ...")
            bar.total += 2
            sim_b = do_build(r.sim, variant_of[r.test], True)[2]
            if isinstance(sim_b, Exception):
                bar.done += 1
                continue
            rr = do_test(r.sim, r.test, sim_b, with_waves=True,
                         test_dir=outdir / r.sim / f"{r.test}.waves")
            r.waves = rr.waves
            if rr.status == r.status and rr.mismatches == r.mismatches:
                r.message += " [reproduced in the re-run]"

    wall = time.perf_counter() - t_start
    out.write("\n" + format_table(rows) + "\n\n")
    xb_summary = None
    if xb is not None:
        xb_summary = _crossbar_summary(cfg, rows, preps, variant_of)
        out.write(format_xbar_errors(rows, lossless=xb.lossless, ideal=xb.ideal,
                                     variants={n: preps[k].cfg.name for n, k in variant_of.items()
                                               if k}) + "\n")
    meta = {
        "command": replay_command(cfg, sim="all" if len(sims) > 1 else sims[0], seed=seed,
                                  vectors=vectors or 0, tests=tests,
                                  inject_fault=inject_fault).replace(" --vectors 0", ""),
        "config": cfg.to_dict(), "tag": prep.tag, "toplevel": prep.toplevel,
        "verilog": str(prep.verilog_path), "latency": prep.hp.latency, "seed": seed,
        "vectors": vec, "sims": sims, "missing": missing,
        "simulators": {s: found[s].describe() for s in run_sims}, "builds": build_info,
        "inject_fault": inject_fault, "wall_seconds": round(wall, 2), "jobs": jobs,
        "tests": names,
    }
    if xb_summary is not None:
        meta["crossbar"] = xb_summary
    junit = write_junit(rows, outdir / "junit.xml", suite=f"qmac.{cfg.name}")
    summary = write_summary(outdir / "summary.json", meta, rows)
    if waves:
        for r in rows:
            if r.waves:
                out.write(f"waves {r.sim}:{r.test}: {r.waves}\n")
    for r in failed:
        out.write(f"FAILED {r.sim}:{r.test}: {r.message}\n")
        for m in r.first_mismatches[:4]:
            out.write("    " + m.replace("\n", "\n    ") + "\n")
        if r.log:
            out.write(f"  log:    {r.log}\n")
        if r.waves:
            out.write(f"  waves:  {r.waves}\n")
        out.write(f"  replay: {r.replay}\n")
    total_vec = sum(r.vectors for r in rows)
    ok = not failed and any(r.passed for r in rows)
    out.write(f"qmac regress: {'PASS' if ok else 'FAIL'} — {total_vec} vectors checked, "
              f"{sum(r.mismatches for r in rows)} mismatches, {len(failed)} failed, "
              f"{sum(1 for r in rows if r.status == 'skipped')} skipped, "
              f"wall {format_seconds(wall)}\n")
    out.write(f"  {junit}\n  {summary}\n")
    out.flush()
    return 0 if ok else 1


def _crossbar_summary(cfg: DatapathConfig, rows: list[Row], preps: dict[str, Prepared],
                      variant_of: dict[str, str]) -> dict[str, Any]:
    """``summary.json``'s ``crossbar`` section: the tile, variants, the error report."""
    xb = cfg.crossbar
    merged = merge_xbar_errors([{"xbar": {"calibrated": True, "mac_path": False,
                                          "error": r.xbar_error}}
                                for r in rows if r.xbar_error])
    return {
        "derived": xb.derived(),
        "lossless": xb.lossless,
        "ideal": xb.ideal,
        "noise": {"program_sigma": xb.program_sigma, "read_sigma": xb.read_sigma,
                  "adc_offset_sigma": xb.adc_offset_sigma, "seed": xb.seed},
        "variants": {n: {"config": preps[k].cfg.name, "tag": preps[k].tag,
                         "toplevel": preps[k].toplevel,
                         "adc_bits": preps[k].cfg.crossbar.adc_bits}
                     for n, k in variant_of.items() if k},
        "error_against_exact": merged,
        "error_by_test": [{"test": r.test, "sim": r.sim, **(r.xbar_error or {})}
                          for r in rows if r.xbar_error],
        "error_definition": "golden.crossbar.error_report: sqnr_db = 10*log10(sum(exact^2) / "
                            "sum((exact - estimate)^2)), effective_bits = (sqnr_db - 1.76) / "
                            "6.02; 'dot': crossbar dot products (sum of partial sums over "
                            "k-tiles, no bias) vs the exact integer x.w'; 'out': requantized "
                            "outputs - y_zp vs the MAC path's (datapath_model); runs with "
                            "calibrated trims only",
    }
