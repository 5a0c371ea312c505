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
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .config import DatapathConfig, width_args
from .errors import ToolError, UserError
from .report import (ProgressBar, Row, format_seconds, format_table, format_xbar_errors,
                     merge_xbar_errors, write_junit, write_summary)

__all__ = ["run_regress", "TESTBENCHES", "CROSSBAR_TESTBENCHES", "Testbench", "DEFAULT_VECTORS",
           "CROSSBAR_VECTORS", "prepare", "Prepared", "replay_command", "default_build_root",
           "testbenches_for", "default_vectors", "lossless_variant", "timeout_for",
           "default_budget", "DEFAULT_BUDGET_S"]

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

#: Icarus's default budget is time, not a count: without ``--vectors`` every random test
#: runs chunks of :data:`DEFAULT_VECTORS` vectors (one generator, continued) until it has
#: run this many wall-clock seconds (``QMAC_BUDGET_S``; ``tb.env.TbEnv.chunks``). The
#: replay command names the chunks each test ran (``QMAC_CHUNKS``), so it replays exactly.
#: ``QMAC_ICARUS_SECONDS`` overrides it (0: one chunk, the old fixed count).
DEFAULT_BUDGET_S = {"icarus": 10.0}

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


def default_budget(sim: str) -> float:
    """Seconds per random test of a default (no ``--vectors``) run on ``sim`` (0: none)."""
    env = os.environ.get(f"QMAC_{sim.upper()}_SECONDS")
    return float(env) if env not in (None, "") else DEFAULT_BUDGET_S.get(sim, 0.0)


def budget_env(budget: float) -> dict[str, str]:
    """The child environment of a time-budgeted test."""
    return {"QMAC_BUDGET_S": f"{budget:g}"} if budget > 0 else {}


def chunks_of(records: list[dict]) -> dict[str, int]:
    """``{cocotb test: chunks run}`` of a time-budgeted run (tests with more than one)."""
    out: dict[str, int] = {}
    for r in records:
        out[r.get("test", "")] = max(out.get(r.get("test", ""), 0), int(r.get("chunk", 0)) + 1)
    return {k: v for k, v in out.items() if v > 1}


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
    from .runner import _locked
    lock = _locked(rtl.parent / ".rtl.lock")  # two runs must not generate into one rtl/
    try:
        manifest, toplevel, verilog, cached = _cached_rtl(rtl, stamp, key)
        if not cached:
            from .generate import generate
            if stamp.exists():
                stamp.unlink()
            gen = generate(cfg, rtl, inject_fault=inject_fault)
            manifest, toplevel, verilog = gen.manifest, gen.toplevel, gen.verilog_path
            from .runner import _sha256_file
            tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
            tmp.write_text(f"{key}\n{_sha256_file(verilog)}\n")
            os.replace(tmp, stamp)
    finally:
        lock.close()
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


def _cached_rtl(rtl: Path, stamp: Path, key: str):
    """``(manifest, toplevel, verilog, True)`` if ``rtl/`` holds the generation of ``key``
    with the Verilog its stamp hashed (a truncated or edited file is regenerated)."""
    from .runner import _sha256_file
    try:
        lines = stamp.read_text().split()
        if len(lines) == 2 and lines[0] == key:
            manifest = json.loads((rtl / "manifest.json").read_text())
            toplevel = manifest["toplevel"]
            verilog = rtl / f"{toplevel}.v"
            if _sha256_file(verilog) == lines[1]:
                return manifest, toplevel, verilog, True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None, None, None, False


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
    parts = ["qmac", "regress", src, *width_args(cfg), "--sim", sim,
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
    from .coverage import merge_rows
    row.coverage = merge_rows(recs)
    for r in recs:
        if r.get("mismatches"):
            label = r.get("test", name) + (f"[{r['label']}]" if r.get("label") else "")
            row.first_mismatches += [f"{label}: {m}" for m in r.get("first", [])[:4]]
    if row.status == "pass" and row.mismatches:  # never "PASS ... N mismatches"
        row.status, row.message = "fail", f"{row.mismatches} mismatch(es) recorded"
    if row.status == "pass" and row.vectors == 0:
        row.status, row.message = "fail", "no output vectors were checked"
    if row.status != "pass" and row.mismatches and not row.message.startswith(str(row.mismatches)):
        row.message = f"{row.mismatches} mismatch(es); " + row.message
    return row


#: seconds the automatic re-run with waveforms may take (``QMAC_WAVES_RERUN_TIMEOUT``)
WAVES_RERUN_TIMEOUT = 180.0


@dataclasses.dataclass
class _Plan:
    """A validated regression: what runs where, with which seed and vectors."""

    cfg: DatapathConfig
    sims: list[str]
    names: list[str]
    benches: dict[str, Testbench]
    seed: int
    vectors: int | None
    vec: dict[str, int]
    budget: dict[str, float]
    jobs: int
    outdir: Path
    build_root: Path
    waves: bool
    rerun_waves: bool
    timeout: float | None
    inject_fault: str | None
    tests: list[str] | None
    found: dict[str, Any] = dataclasses.field(default_factory=dict)
    missing: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Verilator builds with line/toggle coverage (``--hw-coverage``, :mod:`sim.hwcov`)
    hw_coverage: bool = False

    @property
    def run_sims(self) -> list[str]:
        return [s for s in self.sims if s in self.found]


def run_regress(cfg: DatapathConfig, *, sims, seed: int | None = None, vectors: int | None = None,
                waves: bool = False, jobs: int | None = None, outdir: str | Path = "out/regress",
                inject_fault: str | None = None, tests: list[str] | None = None,
                build_root: str | Path | None = None, rerun_waves: bool | None = None,
                timeout: float | None = None, stream: TextIO | None = None,
                progress: bool = True, hw_coverage: bool = False) -> int:
    """Run the regression of ``cfg``; returns the exit status (0 only if all matched).

    Parameters beyond the CLI's: ``build_root`` (build cache, default
    :func:`default_build_root`), ``rerun_waves`` (re-run up to two failing tests with
    waveforms; default on unless ``QMAC_RERUN_WAVES=0``), ``timeout`` (seconds per test,
    default from the vector count), ``stream`` (summary output, default stdout).

    Steps: :func:`_plan` (validate; nothing written), lock ``outdir`` (:class:`_OutdirLock`:
    a second run on the same directory is refused), :func:`_print_header`,
    :func:`_prepare_all`, :func:`_build_and_run`, :func:`_rerun_with_waves`,
    :func:`_report`. Ctrl-C / SIGTERM (:class:`_StopOnSignals`) stop the run within seconds:
    no queued test starts, every child process group is terminated then killed, and the
    reports are still written, naming what passed and what was interrupted (exit 130 / 143).
    """
    from .runner import kill_descendants, reset_stop, STOP
    out = stream or sys.stdout
    t_start = time.perf_counter()
    plan = _plan(cfg, sims=sims, seed=seed, vectors=vectors, waves=waves, jobs=jobs,
                 outdir=outdir, inject_fault=inject_fault, tests=tests, build_root=build_root,
                 rerun_waves=rerun_waves, timeout=timeout)
    plan.hw_coverage = hw_coverage
    _find_simulators(plan)
    with _OutdirLock(plan.outdir), _StopOnSignals() as stop:
        reset_stop()
        try:
            _print_header(plan, out)
            if plan.hw_coverage:      # counts of an earlier run in this directory: gone
                for old in (plan.outdir / "verilator").rglob("coverage.dat"):
                    old.unlink()
            preps, variant_of = _prepare_all(plan, out)
            bar = ProgressBar(len(plan.run_sims) * (len(preps) + len(plan.names)),
                              enabled=progress)
            ctx = _RunContext(plan, preps, variant_of, bar)
            rows, builds = _build_and_run(ctx)
            if not STOP.is_set():
                _rerun_with_waves(ctx, rows, builds)
            if STOP.is_set():
                kill_descendants()
            return _report(ctx, rows, time.perf_counter() - t_start, out,
                           interrupted=stop.reason if STOP.is_set() else None)
        finally:
            reset_stop()


def _plan(cfg, *, sims, seed, vectors, waves, jobs, outdir, inject_fault, tests, build_root,
          rerun_waves, timeout) -> _Plan:
    """Validate the arguments (:class:`UserError`, nothing written) into a :class:`_Plan`."""
    from .cli import MAX_VECTORS
    from .inputs import check_output_path
    sims = list(dict.fromkeys(sims or ["icarus", "verilator"]))
    benches = testbenches_for(cfg)
    names = list(benches) if tests is None else list(dict.fromkeys(
        t.strip() for t in tests if t.strip()))
    if not names:
        raise UserError(f"--tests names no testbench; allowed: {', '.join(benches)}")
    for n in names:
        if n not in benches:
            kind = " of a crossbar configuration" if cfg.crossbar is not None else ""
            raise UserError(f"--tests: {n[:40]!r} is not a testbench{kind}; allowed: "
                            f"{', '.join(benches)}")
    if seed is None:
        seed = secrets.randbelow(2**31 - 1) + 1
    if seed < 0:
        raise UserError(f"--seed={seed} is out of range; allowed: >= 0")
    if vectors is not None and not 1 <= vectors <= MAX_VECTORS:
        raise UserError(f"--vectors={vectors} is out of range; allowed: 1..{MAX_VECTORS}")
    if rerun_waves is None:
        rerun_waves = os.environ.get("QMAC_RERUN_WAVES", "1") not in ("0", "false", "no")
    check_output_path(outdir, what="regress results directory (-o)", directory=True)
    outdir = Path(outdir).resolve()
    build_root = Path(build_root).resolve() if build_root else default_build_root(outdir)
    vec = {s: vectors if vectors is not None else default_vectors(cfg, s) for s in sims}
    budget = {s: (default_budget(s) if vectors is None else 0.0) for s in sims}
    return _Plan(cfg, sims, names, benches, seed, vectors, vec, budget,
                 max(1, jobs or os.cpu_count() or 1), outdir, build_root, waves, rerun_waves,
                 timeout, inject_fault, tests)


def _find_simulators(plan: _Plan) -> None:
    from .tools import require_simulators
    plan.found, plan.missing = require_simulators(plan.sims)
    for name, reason in plan.missing.items():
        sys.stderr.write(f"qmac: warning: skipping {name}: {reason}\n")


class _OutdirLock:
    """An exclusive lock on the results directory for the whole run: a second
    ``qmac regress`` on the same ``-o`` is refused with one line (exit 2)."""

    def __init__(self, outdir: Path):
        self.path = Path(outdir) / ".qmac-regress.lock"
        self.file = None

    def __enter__(self):
        import fcntl
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            other = self.file.read().strip() or "?"
            self.file.close()
            raise UserError(f"{self.path.parent}: another qmac regress (pid {other[:12]}) is "
                            f"writing its results there; allowed: one run per -o directory "
                            f"(choose another -o, or wait for it to finish)") from None
        self.file.truncate(0)
        self.file.write(f"{os.getpid()}\n")
        self.file.flush()
        return self

    def __exit__(self, *exc):
        self.file.close()  # releases the lock; the file stays (harmless, hidden)
        return False


class _StopOnSignals:
    """SIGINT / SIGTERM → :func:`sim.runner.request_stop` (and every descendant process
    terminated, then killed), instead of an exception in the middle of the run. Restores
    the previous handlers on exit. Only the main thread can install handlers."""

    def __init__(self):
        self.reason = ""
        self.old = {}

    def _handle(self, signum, frame):
        from .runner import kill_descendants, request_stop
        import threading
        first = not self.reason
        self.reason = self.reason or signal.Signals(signum).name
        request_stop(self.reason)
        if first:
            sys.stderr.write(f"\nqmac: {self.reason}: stopping (running tests are killed, "
                             f"queued tests not started; the summary is still written)\n")
            threading.Thread(target=kill_descendants, daemon=True).start()

    def __enter__(self):
        import threading
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self.old.items():
            signal.signal(sig, old)
        return False


def _print_header(plan: _Plan, out: TextIO) -> None:
    cfg, xb = plan.cfg, plan.cfg.crossbar
    out.write(f"qmac regress: {cfg.name} ({cfg.source}) {cfg.widths_label} "
              f"{cfg.rows}x{cfg.cols} T={cfg.weight_tiles} acc_bits={cfg.acc_bits} "
              f"{cfg.overflow} {cfg.rounding} {'per-channel' if cfg.per_channel else 'per-tensor'}"
              + (f" [fault: {plan.inject_fault}]" if plan.inject_fault else "") + "\n")
    if xb is not None:
        out.write(f"  crossbar: {xb.phys_cols} physical columns, {xb.cell_bits}-bit cells "
                  f"{xb.weight_encoding}, {xb.dac_bits}-bit DAC ({xb.phases} phase"
                  f"{'s' if xb.phases > 1 else ''}), {xb.num_adcs} ADCs x {xb.cols_per_adc} "
                  f"columns, {xb.adc_bits}-bit ADC "
                  f"{'lossless' if xb.lossless else f'lossy (lossless: {xb.lossless_adc_bits})'}"
                  f", {'ideal' if xb.ideal else 'noisy'} macro; {xb.cycles_per_vector} "
                  f"cycles/vector\n")
    out.write(f"  simulators: {', '.join(plan.found[s].describe() for s in plan.run_sims)}\n")
    out.write(f"  seed {plan.seed}; vectors per testbench: "
              + ", ".join(f"{s} {plan.vec[s]}" + (f" per chunk, chunks for {plan.budget[s]:g} s "
                                                  f"per random test" if plan.budget[s] else "")
                          for s in plan.run_sims) + f"; jobs {plan.jobs}\n")
    out.write(f"  results: {plan.outdir}  builds: {plan.build_root}\n")
    out.flush()


def _prepare_all(plan: _Plan, out: TextIO) -> tuple[dict[str, Prepared], dict[str, str]]:
    """Generate the configuration (and its lossless variant where a testbench needs it)."""
    cfg, xb, benches, names = plan.cfg, plan.cfg.crossbar, plan.benches, plan.names
    prep = prepare(cfg, plan.build_root, inject_fault=plan.inject_fault)
    out.write(f"  generated {prep.verilog_path.name} (latency {prep.hp.latency} cycles)"
              f"{' [cached]' if prep.cached else f' in {prep.seconds:.1f} s'}\n")
    preps: dict[str, Prepared] = {"": prep}
    variant_of: dict[str, str] = {n: "" for n in names}
    for n in names:
        if benches[n].variant == "lossless" and xb is not None and not (xb.lossless and xb.ideal):
            if "lossless" not in preps:
                vcfg = lossless_variant(cfg)
                preps["lossless"] = vp = prepare(vcfg, plan.build_root,
                                                 inject_fault=plan.inject_fault)
                out.write(f"  generated {vp.verilog_path.name}: lossless ideal variant "
                          f"({vcfg.crossbar.adc_bits}-bit ADC, no noise) for "
                          f"{', '.join(m for m in names if benches[m].variant == 'lossless')}"
                          f"{' [cached]' if vp.cached else f' in {vp.seconds:.1f} s'}\n")
            variant_of[n] = "lossless"
    out.flush()
    return preps, variant_of


@dataclasses.dataclass
class _RunContext:
    """What the build and test steps share."""

    plan: _Plan
    preps: dict[str, Prepared]
    variant_of: dict[str, str]
    bar: ProgressBar
    build_info: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def replay(self, sim: str, tests: list[str] | None) -> str:
        p = self.plan
        return replay_command(p.cfg, sim=sim, seed=p.seed, vectors=p.vec[sim], tests=tests,
                              inject_fault=p.inject_fault)

    def do_build(self, sim: str, key: str, with_waves: bool):
        from .runner import BuildError, build
        p = self.preps[key]
        label = f"build {sim}" + (f" ({p.cfg.name})" if key else "") + \
            (" (waves)" if with_waves else "")
        self.bar.start(label)
        try:
            cov = self.plan.hw_coverage and sim == "verilator"
            b = build(verilog_path=p.verilog_path, dut_toplevel=p.toplevel, hp=p.hp,
                      sim=sim, build_root=self.plan.build_root,
                      tag=p.tag + ("-hwcov" if cov else ""), waves=with_waves, coverage=cov)
        except (BuildError, ToolError) as exc:
            self.bar.finish(label, "FAILED", str(exc).splitlines()[0][:120])
            return sim, key, exc
        if b.note:
            self.bar.message(f"qmac: {b.note}")
        self.bar.finish(label, "ok", "reused" if not b.rebuilt else f"{b.seconds:.1f} s")
        return sim, key, b

    def do_test(self, sim: str, name: str, b, *, with_waves: bool = False,
                test_dir: Path | None = None, limit: float | None = None) -> Row:
        from .runner import run_test
        plan = self.plan
        tb = plan.benches[name]
        label = f"{sim}:{name}"
        budget = plan.budget.get(sim, 0.0)
        limit = limit or plan.timeout or float(os.environ.get("QMAC_TEST_TIMEOUT")
                                               or timeout_for(b.hp, sim, plan.vec[sim], tb)
                                               + 8 * budget)
        self.bar.start(label)
        run = run_test(b, module=tb.module, test_dir=test_dir or (plan.outdir / sim / name),
                       seed=plan.seed, vectors=plan.vec[sim], timeout=limit, waves=with_waves,
                       log_name=name, extra_env=budget_env(budget) or None)
        row = _row_from_run(name, run, seed=plan.seed, vectors=plan.vec[sim])
        row.replay = self.replay(sim, [name])
        chunks = chunks_of(run.records)
        if chunks:      # a time-budgeted run replays with the chunks each test ran
            row.replay = f"QMAC_CHUNKS={shlex.quote(json.dumps(chunks))} {row.replay}"
        if self.variant_of.get(name):
            row.variant = self.preps[self.variant_of[name]].cfg.name
        detail = f"{row.vectors} vectors, {row.mismatches} mismatches, {row.wall:.1f} s"
        self.bar.finish(label, row.status.upper(), detail)
        return row


def _build_and_run(ctx: _RunContext) -> tuple[list[Row], dict]:
    """Build every (simulator, variant) once, then run the tests in parallel.

    Returns the rows in summary order (build errors first) and the builds."""
    plan, preps, variant_of = ctx.plan, ctx.preps, ctx.variant_of
    rows: list[Row] = []
    builds: dict[tuple[str, str], Any] = {}
    with cf.ThreadPoolExecutor(max_workers=plan.jobs) as pool:
        pairs = [(s, k) for s in plan.run_sims for k in preps]
        for sim, key, res in pool.map(lambda sk: ctx.do_build(sk[0], sk[1], plan.waves), pairs):
            if isinstance(res, Exception):
                interrupted = "interrupted" in str(res).splitlines()[0]
                rows.append(Row(test="(build)" + (f" {preps[key].cfg.name}" if key else ""),
                                sim=sim, status="interrupted" if interrupted else "build-error",
                                seed=plan.seed, message=str(res).splitlines()[0],
                                replay=ctx.replay(sim, None)))
                ctx.bar.done += sum(1 for n in plan.names if variant_of[n] == key)
            else:
                builds[(sim, key)] = res
                ctx.build_info.append({"sim": sim, "config": preps[key].cfg.name,
                                       "dir": str(res.build_dir), "rebuilt": res.rebuilt,
                                       "note": res.note, "seconds": round(res.seconds, 2),
                                       "log": str(res.log_path)})
        # longest first: Icarus runs and the bulk testbenches
        order = sorted(((s, n) for s in plan.run_sims for n in plan.names
                        if (s, variant_of[n]) in builds),
                       key=lambda sn: (sn[0] != "icarus", -plan.benches[sn[1]].cost,
                                       sn[1] not in ("datapath", "mac_array")))
        futures = {pool.submit(ctx.do_test, s, n, builds[(s, variant_of[n])],
                               with_waves=plan.waves): (s, n) for s, n in order}
        results = {futures[f]: f.result() for f in cf.as_completed(futures)}
    for s in plan.sims:
        for n in plan.names:
            if (s, n) in results:
                rows.append(results[(s, n)])
            elif s in plan.missing:
                rows.append(Row(test=n, sim=s, status="skipped", seed=plan.seed,
                                message=plan.missing[s]))
    return rows, builds


def _rerun_with_waves(ctx: _RunContext, rows: list[Row], builds: dict) -> None:
    """Re-run the first two failures with waveforms — bounded in time
    (:data:`WAVES_RERUN_TIMEOUT`) and size (``QMAC_MAX_WAVES_MB``) — and record the outcome
    in the row (``rerun``, ``waves``, ``message``)."""
    plan = ctx.plan
    if not plan.rerun_waves or plan.waves:
        return
    failed = [r for r in rows if not r.passed and r.status not in ("skipped", "interrupted")
              and r.test in plan.benches and (r.sim, ctx.variant_of[r.test]) in builds]
    limit = float(os.environ.get("QMAC_WAVES_RERUN_TIMEOUT") or WAVES_RERUN_TIMEOUT)
    for r in failed[:2]:
        ctx.bar.message(f"qmac: re-running {r.sim}:{r.test} with waveforms "
                        f"(at most {limit:.0f} s) ...")
        ctx.bar.total += 2
        sim_b = ctx.do_build(r.sim, ctx.variant_of[r.test], True)[2]
        if isinstance(sim_b, Exception):
            ctx.bar.done += 1
            r.rerun = f"waves re-run not possible: build failed ({str(sim_b).splitlines()[0]})"
            continue
        rr = ctx.do_test(r.sim, r.test, sim_b, with_waves=True, limit=limit,
                         test_dir=plan.outdir / r.sim / f"{r.test}.waves")
        r.waves = rr.waves
        same = rr.status == r.status and rr.mismatches == r.mismatches
        r.rerun = (f"waves re-run: {rr.status.upper()}, {rr.mismatches} mismatches, "
                   f"{rr.wall:.1f} s — {'reproduced' if same else 'NOT reproduced'}"
                   + (f" ({rr.message})" if rr.message and not same else "")
                   + f"; waves: {rr.waves or 'none written'}")
        if same:
            r.message += " [reproduced in the re-run]"


def _report(ctx: _RunContext, rows: list[Row], wall: float, out: TextIO, *,
            interrupted: str | None) -> int:
    """Summary table, ``junit.xml``, ``summary.json``, failures with replay commands."""
    plan, cfg, xb = ctx.plan, ctx.plan.cfg, ctx.plan.cfg.crossbar
    prep = ctx.preps[""]
    out.write("\n" + format_table(rows) + "\n\n")
    from .coverage import coverage_summary, format_coverage
    coverage = coverage_summary(prep.hp, [r for r in rows if r.coverage])
    if coverage:
        out.write(format_coverage(coverage) + "\n\n")
    hwcov = None
    if plan.hw_coverage and "verilator" in plan.run_sims:
        from .hwcov import format_hw_coverage, hw_coverage
        dats = sorted((plan.outdir / "verilator").rglob("coverage.dat"))
        cov = hw_coverage(dats, prep.verilog_path.name)
        hwcov = cov.to_dict()
        out.write(format_hw_coverage(cov, prep.verilog_path.name) + "\n\n")
    meta = {
        "command": replay_command(cfg, sim="all" if len(plan.sims) > 1 else plan.sims[0],
                                  seed=plan.seed, vectors=plan.vectors or 0, tests=plan.tests,
                                  inject_fault=plan.inject_fault).replace(" --vectors 0", ""),
        "config": cfg.to_dict(), "tag": prep.tag, "toplevel": prep.toplevel,
        "verilog": str(prep.verilog_path), "latency": prep.hp.latency, "seed": plan.seed,
        "vectors": plan.vec, "sims": plan.sims, "missing": plan.missing,
        "simulators": {s: plan.found[s].describe() for s in plan.run_sims},
        "builds": ctx.build_info, "inject_fault": plan.inject_fault,
        "wall_seconds": round(wall, 2), "jobs": plan.jobs, "tests": plan.names,
        "interrupted": interrupted, "coverage": coverage, "hw_coverage": hwcov,
    }
    if xb is not None:
        meta["crossbar"] = _crossbar_summary(cfg, rows, ctx.preps, ctx.variant_of)
        out.write(format_xbar_errors(rows, lossless=xb.lossless, ideal=xb.ideal,
                                     variants={n: ctx.preps[k].cfg.name
                                               for n, k in ctx.variant_of.items() if k}) + "\n")
    junit = write_junit(rows, plan.outdir / "junit.xml", suite=f"qmac.{cfg.name}")
    summary = write_summary(plan.outdir / "summary.json", meta, rows)
    failed = [r for r in rows if not r.passed and r.status not in ("skipped", "interrupted")]
    _print_failures(rows, failed, plan.waves, out)
    ok = not failed and not interrupted and any(r.passed for r in rows)
    verdict = f"INTERRUPTED ({interrupted})" if interrupted else ("PASS" if ok else "FAIL")
    stopped = sum(1 for r in rows if r.status == "interrupted")
    out.write(f"qmac regress: {verdict} — {sum(r.vectors for r in rows)} vectors checked, "
              f"{sum(r.mismatches for r in rows)} mismatches, "
              f"{sum(1 for r in rows if r.passed)} passed, {len(failed)} failed, "
              + (f"{stopped} interrupted, " if interrupted else "")
              + f"{sum(1 for r in rows if r.status == 'skipped')} skipped, "
              f"wall {format_seconds(wall)}\n")
    out.write(f"  {junit}\n  {summary}\n")
    out.flush()
    if interrupted:
        return 128 + int(getattr(signal, interrupted, signal.SIGINT))
    return 0 if ok else 1


def _print_failures(rows: list[Row], failed: list[Row], waves: bool, out: TextIO) -> None:
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
        if r.rerun:
            out.write(f"  {r.rerun}\n")
        elif r.waves:
            out.write(f"  waves:  {r.waves}\n")
        out.write(f"  replay: {r.replay}\n")
    for r in rows:
        if r.status == "interrupted":
            out.write(f"INTERRUPTED {r.sim}:{r.test}: {r.message}\n")


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
