"""``qmac bench``: how fast does the regression check vectors, and how close to the simulator?

For the datapath of a configuration, on every requested simulator, in one run and on the same
generated DUT (one Verilog file, one harness build for the cocotb paths):

(a) ``naive``  — a naive per-cycle cocotb loop (one packed write and one clock edge per
    cycle; ``tb/cocotb_bench.py::bench_naive``), the baseline;
(b) ``cycle``  — the regression's cycle-driven path (Driver + Monitor, ``bench_cycle``);
(c) ``fast``   — the fast path (NumPy command memory + harness engine, ``bench_fast``);
(d) ``native`` — the same harness and DUT with no Python at all (``tb/qmac_native.sv``:
    ``verilator --binary``, or ``vvp`` of the same harness without cocotb), replaying the
    same command stream as (c). Its captured outputs are checked with NumPy afterwards.
    Each native process is a fresh DUT, so a stream longer than the harness's command memory
    is replayed as self-contained pieces (the load prefix, then whole accumulations); the
    repeated loads (~0.2% of the cycles) are counted as cycles like any other.

(a)–(c) run in one cocotb simulator process (``tb.cocotb_bench``) and compare every lane of
every output beat with golden (:class:`tb.checker.Checker`); (d) is checked the same way
here. Each path reports cycles/s, verified MAC/s and verified outputs/s over its
*simulation* wall time (stimulus generation, golden model and comparison excluded for every
path alike; the ``test wall`` column has the whole test including them). The native wall
time is the sum of its process runs minus the process start-up (exec, model construction,
reset), measured with an empty command file — conservative for the (c)/(d) ratio.

Without ``--cycles`` the number of cycles per simulator comes from a short native
calibration run (about :data:`BUDGET_SECONDS` of simulation per fast/native measurement),
so ``qmac bench`` on the default int8 configuration takes a few minutes whatever the
simulator speed. ``--regress-timing`` also times ``qmac regress`` on the configuration in a
child process, cold (fresh build directory, ccache off) and warm (the second run), and a
regression of >= 10 million checked MACs (``--tests datapath``, warm) on Verilator.

The output is a table per simulator, the ratios, and the issue-6 targets as
``target / measured / met?`` (reported, never asserted); ``bench.json`` in ``outdir`` has
everything plus the machine description. Exit status: 0 if every measurement ran and every
output matched, 1 on a mismatch, 2 (one line, :class:`BenchError`) if something could not be
run (missing simulator, build failure, crash).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from .config import DatapathConfig, width_args
from .errors import ToolError, UserError
from .report import ProgressBar, format_count, format_seconds

__all__ = ["run_bench", "BenchError", "BUDGET_SECONDS", "PATHS", "TARGETS", "machine_info"]

ROOT = Path(__file__).resolve().parent.parent

#: the four measured paths, in table order: key → label
PATHS = {
    "naive": "(a) naive per-cycle cocotb",
    "cycle": "(b) default: Driver/Monitor",
    "fast": "(c) fast path",
    "native": "(d) native (no Python)",
}

#: seconds of simulation aimed at for each of the fast and the native measurement when
#: ``--cycles`` is not given (the naive and cycle-driven runs use 1/20 of the cycles, at
#: least 400 data beats: tb/cocotb_bench.py)
BUDGET_SECONDS = {"verilator": 5.0, "icarus": 20.0}
#: bounds of the calibrated cycle count (memory: ~150 bytes of stimulus per cycle)
CYCLES_RANGE = {"verilator": (20_000, 1_500_000), "icarus": (400, 200_000)}
#: data beats of the calibration run
CALIBRATION_BEATS = {"verilator": 40_000, "icarus": 80}
#: a conservative cycles/s guess for timeouts when nothing was calibrated
_SLOW_RATE = {"verilator": 5_000.0, "icarus": 10.0}

DEFAULT_SEED = 1
#: checked MACs of the big warm regression (issue 6 target)
TARGET_MACS = 10_000_000

#: issue 6 targets: key → (description, bound text)
TARGETS = {
    "verilator_fast_vs_naive": ("Verilator: fast path / naive per-cycle (cycles/s)", ">= 30x"),
    "verilator_fast_vs_native": ("Verilator: fast path / native (cycles/s)", ">= 50%"),
    "icarus_fast_vs_naive": ("Icarus: fast path / naive per-cycle (cycles/s)", ">= 10x"),
    "regress_warm": ("warm 'qmac regress' (both simulators)", "<= 60 s"),
    "regress_cold": ("cold 'qmac regress' (both simulators)", "<= 240 s"),
    "macs_10m": (">= 10M checked MACs on Verilator, warm", "<= 30 s"),
}


class BenchError(UserError):
    """Something ``qmac bench`` needs could not be run; one line, exit status 2."""


# ---------------------------------------------------------------------------- machine
def _first_line(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (res.stdout or res.stderr or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1 << 20)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "-"


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def machine_info(simulators: dict[str, Any] | None = None) -> dict[str, Any]:
    """CPU model (/proc/cpuinfo), cores, memory, OS, tool and simulator versions."""
    from .tools import find_ccache
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 1
    cxx = os.environ.get("CXX", "c++")
    ccache = shutil.which("ccache")
    mem = _mem_gib()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 1,
        "cores_available": affinity,
        "memory_gib": round(mem, 1) if mem else None,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "cocotb": _version("cocotb"),
        "numpy": _version("numpy"),
        "amaranth": _version("amaranth"),
        "cxx": _first_line([cxx, "--version"]),
        "ccache": _first_line([ccache, "--version"]) if ccache else "none",
        "ccache_used": bool(find_ccache()),
        "simulators": {name: sim.describe() for name, sim in (simulators or {}).items()},
        "simulator_versions": {name: sim.version_text for name, sim in (simulators or {}).items()},
    }


def _machine_line(m: dict[str, Any]) -> str:
    cxx = re.sub(r"\s*\(.*?\)\s*", " ", m["cxx"]).strip() if m["cxx"] else "c++ ?"
    mem = f", {m['memory_gib']} GiB RAM" if m.get("memory_gib") else ""
    return (f"{m['cpu']}, {m['cores']} cores{mem}, {m['os']}; Python {m['python']}, "
            f"cocotb {m['cocotb']}, numpy {m['numpy']}; {cxx}; {m['ccache']}")


# ---------------------------------------------------------------------------- helpers
@dataclasses.dataclass
class PathResult:
    """One measured path on one simulator."""

    path: str
    cycles: int = 0
    wall: float = 0.0          # simulation wall seconds (what the rates use)
    vectors: int = 0           # output beats compared with golden
    lanes: int = 0
    macs: int = 0              # useful MACs of the checked stream
    mismatches: int = 0
    test_wall: float = 0.0     # the whole test: stimulus, golden model, simulation, check
    first: list[str] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def cycles_per_s(self) -> float:
        return self.cycles / self.wall if self.wall > 0 else 0.0

    @property
    def macs_per_s(self) -> float:
        return self.macs / self.wall if self.wall > 0 else 0.0

    @property
    def outputs_per_s(self) -> float:
        return self.vectors / self.wall if self.wall > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(label=PATHS[self.path], cycles_per_s=round(self.cycles_per_s, 1),
                 verified_macs_per_s=round(self.macs_per_s, 1),
                 verified_outputs_per_s=round(self.outputs_per_s, 2),
                 wall=round(self.wall, 4), test_wall=round(self.test_wall, 3))
        return d


def _ratio(a: float, b: float) -> float | None:
    return a / b if a > 0 and b > 0 else None


def _nice(n: float) -> int:
    """``n`` rounded down to two significant digits."""
    n = int(n)
    if n < 100:
        return n
    p = 10 ** (len(str(n)) - 2)
    return n // p * p


def _bench_program(hp, seed: int, data_beats: int):
    """The stream ``tb.cocotb_bench.bench_fast`` runs for (seed, cycles) — same function."""
    from tb.cocotb_bench import bench_program
    return bench_program(SimpleNamespace(hp=hp, seed=seed), data_beats)


def _table(head: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _rate(x: float) -> str:
    return format_count(x) if x > 0 else "-"


def _wall(s: float) -> str:
    if s <= 0:
        return "-"
    return f"{s:.3f} s" if s < 10 else format_seconds(s)


# ---------------------------------------------------------------------------- native
class _Native:
    """The Python-free build of one simulator: start-up cost and chunked runs."""

    def __init__(self, program: Path, sim: str, hp, workdir: Path):
        self.program, self.sim, self.hp = program, sim, hp
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.cmd_path = workdir / "native.cmd.bin"
        self.out_path = workdir / "native.out.hex"
        self.chunk = (1 << hp.harness_depth_bits()) - 1
        self.startup = 0.0

    def _run_one(self, stream, timeout: float):
        from sim.runner import run_native
        from tb.schedule import hex_to_bits
        self.cmd_path.write_bytes(stream.with_end().to_bin())
        if self.out_path.exists():
            self.out_path.unlink()
        try:
            r = run_native(self.program, self.sim, self.cmd_path, self.out_path, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.sim} native run timed out after {timeout:.0f} s "
                             f"({self.cmd_path})") from None
        except RuntimeError as exc:
            raise BenchError(f"{self.sim} native run failed: "
                             f"{' '.join(str(exc).split())[:300]}") from None
        bits = unknown = None
        if r.outputs:
            bits, unknown = hex_to_bits(self.out_path.read_text(), self.hp.out_width)
        return r, bits, unknown

    def measure_startup(self, repeats: int = 3) -> float:
        """Seconds of a run with an empty command file (exec, model construction, reset)."""
        from tb.schedule import CommandStream
        empty = CommandStream.concat(self.hp, [])
        self.startup = min(self._run_one(empty, 300.0)[0].seconds for _ in range(repeats))
        return self.startup

    def chunks(self, stream) -> list:
        """``stream`` as self-contained pieces that each fit the harness's command memory.

        Every native run is a fresh process (a fresh DUT), unlike the fast path whose chunks
        share one simulation: each piece is the stream's load prefix (everything before the
        first data beat) followed by whole accumulations (cut after a ``last`` beat). Needs a
        stream whose loads all come first, as the bench stream's.
        """
        import numpy as np
        from tb.schedule import KIND_DATA, CommandStream
        if len(stream) <= self.chunk:
            return [stream]
        data = np.flatnonzero(stream.kind == KIND_DATA)
        d0 = int(data[0]) if data.size else len(stream)
        if d0 >= self.chunk or not (stream.kind[d0:] == KIND_DATA).all():
            raise BenchError(f"the bench stream of {len(stream)} commands cannot be split into "
                             f"self-contained native runs of <= {self.chunk} commands")
        prefix = stream.slice(0, d0)
        ends = list(np.flatnonzero(stream.is_last) + 1)
        if not ends or ends[-1] < len(stream):
            ends.append(len(stream))
        ends = np.asarray(ends)
        pieces, start, cap = [], d0, self.chunk - d0
        while start < len(stream):
            i = int(np.searchsorted(ends, start + cap, side="right")) - 1
            end = int(ends[i]) if i >= 0 and ends[i] > start else min(start + cap, len(stream))
            pieces.append(CommandStream.concat(self.hp, [prefix, stream.slice(start, end)]))
            start = end
        return pieces

    def run(self, stream, *, timeout: float):
        """Replay ``stream`` (in self-contained pieces); returns (cycles, raw s, net s, bits, unk)."""
        import numpy as np
        cycles, raw, net, bits, unks, chunks = 0, 0.0, 0.0, [], [], 0
        for piece in self.chunks(stream):
            r, b, u = self._run_one(piece, timeout)
            cycles += r.cycles
            raw += r.seconds
            # start-up is not simulation; keep at least 10% of the run (noise guard)
            net += max(r.seconds - self.startup, 0.1 * r.seconds)
            chunks += 1
            if b is not None:
                if b.shape[0] != r.outputs:
                    raise BenchError(f"{self.sim} native run reported {r.outputs} outputs but "
                                     f"wrote {b.shape[0]} ({self.out_path})")
                bits.append(b)
                unks.append(u)
        if bits:
            out_bits, unknown = np.concatenate(bits), np.concatenate(unks)
        else:
            out_bits = np.zeros((0, self.hp.out_width), np.uint8)
            unknown = np.zeros(0, bool)
        return cycles, raw, net, out_bits, unknown, chunks


# ---------------------------------------------------------------------------- one simulator
def _bench_sim(sim: str, prep, *, cycles: int | None, seed: int, build_root: Path,
               outdir: Path, bar: ProgressBar) -> dict[str, Any]:
    """(a)–(d) on one simulator: builds, native start-up and calibration, one cocotb run
    for (a)/(b)/(c), the native run (d) checked with NumPy, and the ratios."""
    info: dict[str, Any] = {"seed": seed}
    b, program = _bench_builds(sim, prep, build_root, bar)
    info["build"] = {"dir": str(b.build_dir), "rebuilt": b.rebuilt, "seconds": round(b.seconds, 2),
                     "native_program": str(program)}
    native = _Native(program, sim, prep.hp, outdir / sim)
    cycles, rate = _calibrate(sim, native, prep.hp, seed, cycles, info, bar)
    info["cycles"] = cycles
    slow_beats = max(400, cycles // 20)   # tb/cocotb_bench.py: naive and cycle-driven runs
    info["slow_data_beats"] = slow_beats
    r_guess = rate or _SLOW_RATE[sim]
    results, log = _cocotb_paths(sim, b, cycles, slow_beats, r_guess, seed, outdir, bar)
    info["log"] = log
    results["native"] = _native_path(sim, native, prep.hp, seed, cycles, r_guess,
                                     native.startup, results["fast"], bar)
    info["paths"] = {p: results[p].to_dict() for p in PATHS}
    info["ratios"] = _path_ratios(results)
    naive_rate, native_rate = results["naive"].cycles_per_s, results["native"].cycles_per_s
    if naive_rate and native_rate:
        info["per_cycle_us"] = {"simulator": 1e6 / native_rate,
                                "python_naive": max(0.0, 1e6 / naive_rate - 1e6 / native_rate)}
    info["status"] = "pass" if all(r.mismatches == 0 and r.vectors > 0
                                   for r in results.values()) else "fail"
    return info


def _bench_builds(sim: str, prep, build_root: Path, bar: ProgressBar):
    """The cocotb harness build and the native (Python-free) program of ``prep``."""
    from sim.runner import BuildError, build, build_native
    label = f"{sim}: build harness"
    bar.start(label)
    try:
        b = build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=prep.hp,
                  sim=sim, build_root=build_root, tag=prep.tag)
        bar.finish(label, "ok", "reused" if not b.rebuilt else f"{b.seconds:.1f} s")
        label = f"{sim}: build native"
        bar.start(label)
        t0 = time.perf_counter()
        program = build_native(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel,
                               hp=prep.hp, sim=sim, build_root=build_root, tag=prep.tag)
        bar.finish(label, "ok", f"{time.perf_counter() - t0:.1f} s")
    except (BuildError, ToolError, OSError) as exc:
        bar.finish(label, "FAILED")
        raise BenchError(f"{sim}: {str(exc).splitlines()[0]}") from None
    return b, program


def _calibrate(sim: str, native: "_Native", hp, seed: int, cycles: int | None,
               info: dict[str, Any], bar: ProgressBar) -> tuple[int, float | None]:
    """Native start-up and, without ``--cycles``, the cycle count that fills
    :data:`BUDGET_SECONDS`; ``(cycles, native data-beat rate or None)``."""
    label = f"{sim}: native start-up" + ("" if cycles else " + calibration")
    bar.start(label)
    startup = native.measure_startup()
    info["native_startup_s"] = round(startup, 4)
    if cycles is not None:
        bar.finish(label, "ok", f"start-up {startup * 1e3:.0f} ms")
        return cycles, None
    # marginal rate of data beats: (loads + data) minus loads alone. Load cycles are much
    # cheaper than data cycles on an event-driven simulator (the MAC array is idle).
    from tb.schedule import KIND_DATA
    import numpy as np
    cal = _bench_program(hp, seed, CALIBRATION_BEATS[sim])
    d0 = int(np.flatnonzero(cal.stream.kind == KIND_DATA)[0])
    a_cycles, a_raw, _, _, _, _ = native.run(cal.stream.slice(0, d0), timeout=900.0)
    c_cycles, c_raw, c_net, _, _, _ = native.run(cal.stream, timeout=900.0)
    if c_raw > a_raw and c_cycles > a_cycles:
        rate = (c_cycles - a_cycles) / (c_raw - a_raw)
    else:
        rate = c_cycles / c_net if c_net > 0 else None
    lo, hi = CYCLES_RANGE[sim]
    cycles = _nice(min(hi, max(lo, (rate or 0) * BUDGET_SECONDS[sim])))
    info["calibration"] = {"cycles": c_cycles, "seconds": round(c_raw, 4),
                           "load_only_cycles": a_cycles, "load_only_seconds": round(a_raw, 4),
                           "cycles_per_s": round(rate or 0, 1),
                           "budget_s": BUDGET_SECONDS[sim], "chosen_cycles": cycles}
    bar.finish(label, "ok", f"start-up {startup * 1e3:.0f} ms, native ~{format_count(rate or 0)} "
                            f"cycles/s -> {cycles} cycles")
    return cycles, rate


def _cocotb_paths(sim: str, b, cycles: int, slow_beats: int, r_guess: float, seed: int,
                  outdir: Path, bar: ProgressBar) -> tuple[dict[str, PathResult], str]:
    """(a) naive, (b) cycle-driven and (c) fast path: one cocotb run (tb/cocotb_bench.py)."""
    from sim.runner import run_test
    est = cycles / r_guess + 2 * (slow_beats + 200) / min(r_guess, 20_000.0)
    timeout = float(os.environ.get("QMAC_BENCH_TIMEOUT") or (600.0 + 6.0 * est))
    label = f"{sim}: cocotb naive + cycle + fast ({cycles} cycles)"
    bar.start(label)
    run = run_test(b, module="tb.cocotb_bench", test_dir=outdir / sim, seed=seed, vectors=1,
                   timeout=timeout, log_name="bench",
                   extra_env={"QMAC_BENCH_CYCLES": str(cycles)})
    results: dict[str, PathResult] = {}
    times = {c.name: c.time for c in run.testcases}
    for rec in run.records:
        p = rec.get("path")
        if p not in ("naive", "cycle", "fast"):
            continue
        results[p] = PathResult(
            path=p, cycles=int(rec.get("cycles", 0)), wall=float(rec.get("wall", 0.0)),
            vectors=int(rec.get("vectors", 0)), lanes=int(rec.get("lanes", 0)),
            macs=int(rec.get("macs", 0)), mismatches=int(rec.get("mismatches", 0)),
            test_wall=float(times.get(f"bench_{p}", 0.0)), first=list(rec.get("first", []))[:4])
    missing = [p for p in ("naive", "cycle", "fast") if p not in results]
    if run.status in ("error", "timeout", "interrupted") or missing:
        bar.finish(label, run.status.upper())
        why = run.message or f"no result for {', '.join(missing)}"
        raise BenchError(f"{sim} bench run failed: {why.splitlines()[0]}")
    bar.finish(label, run.status.upper(), ", ".join(
        f"{p} {format_count(results[p].cycles_per_s)} cycles/s" for p in ("naive", "cycle", "fast")))
    return results, str(run.log_path)


def _native_path(sim: str, native: "_Native", hp, seed: int, cycles: int, r_guess: float,
                 startup: float, fast: PathResult, bar: ProgressBar) -> PathResult:
    """(d) the native run of the same command stream, checked with NumPy afterwards."""
    from tb.checker import Checker, decode_outputs
    label = f"{sim}: native ({cycles} cycles) + NumPy check"
    bar.start(label)
    t_all = time.perf_counter()
    prog = _bench_program(hp, seed, cycles)
    n_timeout = 600.0 + 6.0 * (min(len(prog.stream), native.chunk) / r_guess)
    n_cycles, raw, net, out_bits, unknown, chunks = native.run(prog.stream, timeout=n_timeout)
    t_check = time.perf_counter()
    got_y, got_ovf = decode_outputs(hp, out_bits)
    res = Checker(hp, prog).check(got_y, got_ovf, unknown=unknown)
    check_s = time.perf_counter() - t_check
    result = PathResult(
        path="native", cycles=n_cycles, wall=net, vectors=res.vectors, lanes=res.lanes,
        macs=prog.macs, mismatches=res.mismatches, test_wall=time.perf_counter() - t_all,
        first=[m.format() for m in res.first[:4]],
        extra={"raw_process_seconds": round(raw, 4), "chunks": chunks,
               "startup_seconds_each": round(startup, 4), "check_seconds": round(check_s, 3),
               "program": str(native.program)})
    if res.vectors != fast.vectors or prog.macs != fast.macs:
        result.extra["note"] = (f"stream differs from the fast path's: {res.vectors} "
                                f"vs {fast.vectors} outputs")
    bar.finish(label, "PASS" if res.ok else "FAIL",
               f"{format_count(result.cycles_per_s)} cycles/s, {res.vectors} outputs, "
               f"{res.mismatches} mismatches")
    return result


def _path_ratios(results: dict[str, PathResult]) -> dict[str, float | None]:
    fast, naive, native = results["fast"], results["naive"], results["native"]
    return {
        "fast_over_naive": _ratio(fast.cycles_per_s, naive.cycles_per_s),
        "fast_over_cycle": _ratio(fast.cycles_per_s, results["cycle"].cycles_per_s),
        "fast_over_native": _ratio(fast.cycles_per_s, native.cycles_per_s),
        "fast_over_naive_macs": _ratio(fast.macs_per_s, naive.macs_per_s),
        "fast_over_native_macs": _ratio(fast.macs_per_s, native.macs_per_s),
        # No path driving the same DUT can beat the native run, so (d)/(a) is the ceiling
        # of (c)/(a): 1 + (Python per naive cycle) / (simulator per cycle).
        "ceiling_fast_over_naive": _ratio(native.cycles_per_s, naive.cycles_per_s),
    }


# ---------------------------------------------------------------------------- regress timing
def _regress_child(cfg: DatapathConfig, sims: list[str], *, seed: int, build_dir: Path,
                   out: Path, cold: bool, timeout: float) -> dict[str, Any]:
    """Run ``qmac regress`` in a child process; wall seconds, exit code and summary."""
    cmd = [sys.executable, "-m", "sim.cli", "regress", str(cfg.source), *width_args(cfg),
           "--sim", ",".join(sims), "--seed", str(seed), "-o", str(out)]
    env = dict(os.environ)
    env["QMAC_BUILD_DIR"] = str(build_dir)
    env["QMAC_RERUN_WAVES"] = "0"
    if cold:
        # no compiler cache at all: our own process may have exported OBJCACHE=ccache
        env["QMAC_NO_CCACHE"] = "1"
        env["CCACHE_DISABLE"] = "1"
        env.pop("OBJCACHE", None)
    out.mkdir(parents=True, exist_ok=True)
    log = out.parent / f"{out.name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            from .runner import _kill_group
            _kill_group(proc)  # the regression's own test children included
    wall = time.perf_counter() - t0
    summary: dict[str, Any] = {}
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        pass
    totals = summary.get("totals", {})
    return {"command": " ".join(["qmac"] + cmd[3:]), "cold": cold, "wall_seconds": round(wall, 2),
            "returncode": rc, "passed": rc == 0, "log": str(log),
            "vectors": totals.get("vectors"), "mismatches": totals.get("mismatches"),
            "macs": totals.get("macs"),
            "rebuilt": [bd.get("sim") for bd in summary.get("builds", []) if bd.get("rebuilt")],
            "env": {k: env[k] for k in ("QMAC_BUILD_DIR", "QMAC_NO_CCACHE", "CCACHE_DISABLE")
                    if k in env}}


def _macs_run(cfg: DatapathConfig, *, seed: int, build_root: Path, outdir: Path) -> dict[str, Any]:
    """A warm Verilator regression of >= TARGET_MACS checked MACs (``--tests datapath``)."""
    from .regress import prepare, run_regress
    from .runner import BuildError, build
    vectors = int(os.environ.get("QMAC_BENCH_MAC_VECTORS") or 0) or None
    attempts = []
    # warm means built: bring the Verilog and the Verilator build up to date first, untimed
    # (the hardware sources may have changed since the bench measurements)
    try:
        prep = prepare(cfg, build_root)
        build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=prep.hp,
              sim="verilator", build_root=build_root, tag=prep.tag)
    except (BuildError, ToolError) as exc:
        raise BenchError(f"verilator: {str(exc).splitlines()[0]}") from None
    # MACs per output vector depend on the random layer shapes: size once, top up if short
    for _ in range(2):
        if vectors is None:
            vectors = 21_000
        out = outdir / "macs"
        t0 = time.perf_counter()
        buf = io.StringIO()
        rc = run_regress(cfg, sims=["verilator"], seed=seed, vectors=vectors,
                         tests=["datapath"], outdir=out, build_root=build_root, stream=buf,
                         progress=False, rerun_waves=False)
        wall = time.perf_counter() - t0
        try:
            summary = json.loads((out / "summary.json").read_text())
        except (OSError, ValueError):
            summary = {}
        totals = summary.get("totals", {})
        macs = int(totals.get("macs") or 0)
        attempts.append({"vectors": vectors, "macs": macs, "wall_seconds": round(wall, 2),
                         "returncode": rc, "checked_vectors": totals.get("vectors"),
                         "mismatches": totals.get("mismatches"),
                         "rebuilt": [bd.get("sim") for bd in summary.get("builds", [])
                                     if bd.get("rebuilt")]})
        if macs >= TARGET_MACS or macs == 0 or rc != 0:
            break
        vectors = int(math.ceil(vectors * TARGET_MACS * 1.1 / macs))
    last = dict(attempts[-1])
    last["attempts"] = attempts
    last["summary"] = str(outdir / "macs" / "summary.json")
    last["command"] = (f"qmac regress {cfg.source} {' '.join(width_args(cfg))} --sim verilator "
                       f"--tests datapath --seed {seed} --vectors {last['vectors']}")
    return last


# ---------------------------------------------------------------------------- targets
def _targets(cfg: DatapathConfig, sims_info: dict[str, Any], regress: dict[str, Any] | None,
             macs: dict[str, Any] | None, sims: list[str]) -> list[dict[str, Any]]:
    rows = []

    def add(key, measured: str, met: bool | None, note: str = ""):
        what, bound = TARGETS[key]
        rows.append({"key": key, "target": what, "required": bound, "measured": measured,
                     "met": met, "note": note})

    def ratio(sim, key):
        info = sims_info.get(sim)
        return (info or {}).get("ratios", {}).get(key)

    not_run = "not measured"
    def ceiling_note(sim, required):
        c = ratio(sim, "ceiling_fast_over_naive")
        if c is None or c >= required:
            return ""
        us = (sims_info.get(sim) or {}).get("per_cycle_us") or {}
        return (f"unreachable on this DUT: even the native run is only {c:.1f}x the naive "
                f"baseline (the DUT costs {us.get('simulator', 0):.2f} us/cycle in {sim}, the "
                f"naive driver's Python {us.get('python_naive', 0):.2f} us/cycle)")

    r = ratio("verilator", "fast_over_naive")
    add("verilator_fast_vs_naive", f"{r:.1f}x" if r else not_run, (r >= 30) if r else None,
        ceiling_note("verilator", 30) if r and r < 30 else "")
    r = ratio("verilator", "fast_over_native")
    add("verilator_fast_vs_native", f"{100 * r:.0f}%" if r else not_run, (r >= 0.5) if r else None)
    r = ratio("icarus", "fast_over_naive")
    add("icarus_fast_vs_naive", f"{r:.1f}x" if r else not_run, (r >= 10) if r else None,
        ceiling_note("icarus", 10) if r and r < 10 else "")
    both = set(sims) >= {"icarus", "verilator"}
    for key, limit in (("regress_warm", 60.0), ("regress_cold", 240.0)):
        run = (regress or {}).get("warm" if key == "regress_warm" else "cold")
        if not run:
            add(key, not_run + " (--regress-timing)", None)
            continue
        ok = run["wall_seconds"] <= limit if run["passed"] else False
        scope = "" if both else f" ({', '.join(sims)} only)"
        note = "" if run["passed"] else f"the regression failed (exit {run['returncode']}); {run['log']}"
        if run.get("rebuilt") and key == "regress_warm":
            note = (note + "; " if note else "") + f"warm run rebuilt {', '.join(run['rebuilt'])}"
        add(key, f"{run['wall_seconds']:.1f} s{scope}", ok if both or ok is False else None,
            note or ("" if both else "timed on part of the simulators; the target is for both"))
    if macs:
        ok = (macs["returncode"] == 0 and macs["macs"] >= TARGET_MACS
              and macs["wall_seconds"] <= 30.0)
        note = "" if macs["returncode"] == 0 else f"the regression failed ({macs['summary']})"
        if macs["macs"] < TARGET_MACS:
            note = (note + "; " if note else "") + f"only {macs['macs']} MACs checked"
        if macs.get("rebuilt"):
            note = (note + "; " if note else "") + "not warm: the sources changed and the timed run rebuilt"
        add("macs_10m", f"{macs['wall_seconds']:.1f} s for {format_count(macs['macs'])} MACs",
            ok, note)
    else:
        add("macs_10m", not_run + (" (--regress-timing)" if "verilator" in sims else ""), None)
    return rows


# ---------------------------------------------------------------------------- report
def load_default_tag(path: Path) -> str:
    from .config import load_config
    try:
        return load_config(path).tag
    except UserError:
        return ""


def _format_results(sims_info: dict[str, Any]) -> str:
    head = ["simulator", "path", "cycles", "outputs", "mismatches", "sim wall", "cycles/s",
            "verified MAC/s", "verified out/s", "test wall"]
    rows = []
    for sim, info in sims_info.items():
        for p, label in PATHS.items():
            d = info["paths"][p]
            rows.append([sim, label, str(d["cycles"]), str(d["vectors"]), str(d["mismatches"]),
                         _wall(d["wall"]), _rate(d["cycles_per_s"]),
                         _rate(d["verified_macs_per_s"]), _rate(d["verified_outputs_per_s"]),
                         _wall(d["test_wall"])])
    return _table(head, rows, right={2, 3, 4, 5, 6, 7, 8, 9})


def _format_ratios(sims_info: dict[str, Any]) -> str:
    head = ["simulator", "(c)/(a) fast/naive", "(c)/(b) fast/cycle", "(c)/(d) fast/native",
            "ceiling (d)/(a)", "DUT us/cycle", "naive Python us/cycle", "native start-up"]
    rows = []
    for sim, info in sims_info.items():
        r = info["ratios"]
        rows.append([sim,
                     f"{r['fast_over_naive']:.1f}x" if r["fast_over_naive"] else "-",
                     f"{r['fast_over_cycle']:.1f}x" if r["fast_over_cycle"] else "-",
                     f"{100 * r['fast_over_native']:.0f}%" if r["fast_over_native"] else "-",
                     f"{r['ceiling_fast_over_naive']:.1f}x"
                     if r.get("ceiling_fast_over_naive") else "-",
                     f"{info['per_cycle_us']['simulator']:.2f}" if info.get("per_cycle_us")
                     else "-",
                     f"{info['per_cycle_us']['python_naive']:.2f}" if info.get("per_cycle_us")
                     else "-",
                     f"{info['native_startup_s'] * 1e3:.0f} ms"])
    text = _table(head, rows, right={1, 2, 3, 4, 5, 6, 7})
    return text + ("\n  ceiling (d)/(a): the native run is the fastest any path can drive this "
                   "DUT, so (c)/(a) <= (d)/(a) = 1 + (naive Python us/cycle) / (DUT us/cycle)")


def _format_targets(targets: list[dict[str, Any]], default_config: bool = True) -> str:
    rows = []
    for t in targets:
        met = {True: "yes", False: "NO", None: "-"}[t["met"]]
        rows.append([t["target"], t["required"], t["measured"], met])
    text = _table(["target (issue 6)", "required", "measured", "met?"], rows, right=set())
    notes = [f"  {t['target']}: {t['note']}" for t in targets if t["note"]]
    if not default_config:
        notes.append("  the targets are set for the default int8 configuration (constraints/int8.yaml)")
    return text + ("\nnotes:\n" + "\n".join(notes) if notes else "")


def _format_regress(regress: dict[str, Any] | None, macs: dict[str, Any] | None) -> str:
    lines = []
    for key in ("cold", "warm"):
        run = (regress or {}).get(key)
        if run:
            how = ("fresh build directory, ccache disabled" if key == "cold"
                   else "second run, same build directory")
            res = "PASS" if run["passed"] else f"FAIL (exit {run['returncode']})"
            lines.append(f"  {key:4} qmac regress: {format_seconds(run['wall_seconds']):>8}  {res}, "
                         f"{run['vectors']} vectors, {run['mismatches']} mismatches ({how})")
    if macs:
        res = "PASS" if macs["returncode"] == 0 else f"FAIL (exit {macs['returncode']})"
        lines.append(f"  warm datapath regression, verilator: "
                     f"{format_seconds(macs['wall_seconds'])}  {res}, {macs['checked_vectors']} "
                     f"vectors, {format_count(macs['macs'])} checked MACs, "
                     f"{macs['mismatches']} mismatches ({macs['command']})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- entry point
def run_bench(cfg: DatapathConfig, *, sims, cycles: int | None, outdir: str | Path,
              regress_timing: bool, seed: int = DEFAULT_SEED, build_root: str | Path | None = None,
              stream: TextIO | None = None, progress: bool = True) -> int:
    """Measure (a)–(d) on every simulator of ``sims``; print the tables, write ``bench.json``.

    Returns 0 if everything ran and every output matched golden, 1 on any mismatch (or a
    failing timed regression); raises :class:`BenchError` / :class:`~sim.errors.ToolError`
    (exit status 2 in the CLI) if something could not be run.
    """
    from .regress import default_build_root, prepare

    out = stream or sys.stdout
    t_start = time.perf_counter()
    sims = list(dict.fromkeys(sims or ["icarus", "verilator"]))
    found = _bench_check(cfg, sims, cycles)
    outdir = Path(outdir).resolve()
    build_root = Path(build_root).resolve() if build_root else default_build_root(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    load_start = _loadavg()
    machine = machine_info(found)
    prep = prepare(cfg, build_root)
    _bench_header(cfg, prep, machine, found, sims, seed, cycles, outdir, out)
    steps = 5 * len(sims) + ((3 if "verilator" in sims else 2) if regress_timing else 0)
    bar = ProgressBar(steps, enabled=progress)
    sims_info: dict[str, Any] = {}
    for s in sims:
        info = _bench_sim(s, prep, cycles=cycles, seed=seed, build_root=build_root,
                          outdir=outdir, bar=bar)
        info["simulator"] = found[s].describe()
        sims_info[s] = info
    regress, macs = (_regress_timing(cfg, sims, seed, build_root, outdir, bar)
                     if regress_timing else (None, None))
    machine["loadavg_start"], machine["loadavg_end"] = load_start, _loadavg()
    data = {
        "command": "qmac bench", "config": cfg.to_dict(), "tag": prep.tag,
        "toplevel": prep.toplevel, "verilog": str(prep.verilog_path), "latency": prep.hp.latency,
        "seed": seed, "cycles_requested": cycles, "machine": machine, "sims": sims_info,
        "regress_timing": regress, "macs_run": macs,
        "targets": _targets(cfg, sims_info, regress, macs, sims),
        "wall_seconds": round(time.perf_counter() - t_start, 2), "build_root": str(build_root),
    }
    return _bench_report(cfg, data, outdir, out)


def _bench_check(cfg: DatapathConfig, sims: list[str], cycles: int | None) -> dict[str, Any]:
    """Refuse what cannot be benchmarked; the simulators found."""
    from .tools import find_simulator
    if getattr(cfg, "crossbar", None) is not None:
        raise UserError(f"{cfg.source}: qmac bench measures the MAC-array datapath; crossbar "
                        f"configurations are not supported (their analog macro is served from "
                        f"Python every cycle, so there is no fast or native path to compare)")
    if cycles is not None and cycles < 1:
        raise UserError(f"--cycles={cycles} is out of range; allowed: >= 1")
    found = {}
    for s in sims:
        try:
            found[s] = find_simulator(s)
        except ToolError as exc:
            raise ToolError(f"{exc} (or choose another simulator with --sim)") from None
    return found


def _bench_header(cfg, prep, machine, found, sims, seed, cycles, outdir, out: TextIO) -> None:
    out.write(f"qmac bench: {cfg.name} ({cfg.source}) {cfg.widths_label} {cfg.rows}x{cfg.cols} "
              f"T={cfg.weight_tiles} acc_bits={cfg.acc_bits} {cfg.overflow} {cfg.rounding} "
              f"{'per-channel' if cfg.per_channel else 'per-tensor'}; DUT {prep.toplevel} "
              f"(latency {prep.hp.latency})\n")
    out.write(f"  machine: {_machine_line(machine)}\n")
    out.write(f"  simulators: {', '.join(f'{s} {found[s].version_text} ({found[s].origin})' for s in sims)}\n")
    out.write(f"  seed {seed}; "
              + (f"{cycles} cycles per fast/native measurement" if cycles else
                 "cycles per simulator calibrated to ~" + ", ".join(
                     f"{s} {BUDGET_SECONDS[s]:.0f} s" for s in sims) + " of simulation")
              + f"; results: {outdir}\n")
    out.flush()


def _regress_timing(cfg, sims, seed, build_root, outdir, bar):
    """``--regress-timing``: the 10M-MAC Verilator run, then cold and warm regressions."""
    macs = None
    if "verilator" in sims:
        label = "verilator: warm datapath regression (>= 10M MACs)"
        bar.start(label)
        macs = _macs_run(cfg, seed=seed, build_root=build_root, outdir=outdir / "regress-timing")
        bar.finish(label, "PASS" if macs["returncode"] == 0 else "FAIL",
                   f"{format_count(macs['macs'])} MACs in {macs['wall_seconds']:.1f} s")
    fresh = outdir / "regress-timing" / "build"
    if fresh.exists():
        shutil.rmtree(fresh)
    fresh.mkdir(parents=True)
    regress: dict[str, Any] = {"build_dir": str(fresh), "sims": sims}
    for key, cold in (("cold", True), ("warm", False)):
        label = f"{key} qmac regress ({', '.join(sims)})"
        bar.start(label)
        run = _regress_child(cfg, sims, seed=seed, build_dir=fresh,
                             out=outdir / "regress-timing" / key, cold=cold,
                             timeout=float(os.environ.get("QMAC_BENCH_REGRESS_TIMEOUT") or 3600))
        regress[key] = run
        bar.finish(label, "PASS" if run["passed"] else "FAIL", f"{run['wall_seconds']:.1f} s")
    return regress, macs


def _bench_report(cfg: DatapathConfig, data: dict[str, Any], outdir: Path, out: TextIO) -> int:
    """The tables, ``bench.json`` (atomically) and the verdict; the exit status."""
    from .config import DEFAULT_CONFIG
    from .report import atomic_write
    sims_info, regress, macs = data["sims"], data["regress_timing"], data["macs_run"]
    machine = data["machine"]
    out.write("\n" + _format_results(sims_info) + "\n\n")
    out.write(_format_ratios(sims_info) + "\n")
    out.write("  rates are per second of simulation wall time (stimulus generation, golden model and "
              "the bit-exact\n  check excluded for every path; 'test wall' includes them). Native: "
              "sum of its process runs\n  minus the start-up of each; checked with NumPy after the run.\n")
    if regress or macs:
        out.write("\n" + _format_regress(regress, macs) + "\n")
    default_config = (cfg.tag == load_default_tag(DEFAULT_CONFIG))
    out.write("\n" + _format_targets(data["targets"], default_config) + "\n")
    load_start, load_end, cores = machine["loadavg_start"], machine["loadavg_end"], machine["cores"]
    if load_start is not None and load_end is not None:
        busy = max(load_start, load_end) > 0.5 * cores
        out.write(f"\n  load average {load_start:.2f} at the start, {load_end:.2f} at the end "
                  f"({cores} cores)" + ("; other processes were running: timings are noisy"
                                        if busy else "") + "\n")
    failed = [f"{s}:{p}" for s, info in sims_info.items() for p, d in info["paths"].items()
              if d["mismatches"] or not d["vectors"]]
    bad_regress = [k for k, v in (regress or {}).items() if isinstance(v, dict) and not v["passed"]]
    if macs and macs["returncode"] != 0:
        bad_regress.append("datapath (10M MACs)")
    data["passed"] = not failed and not bad_regress
    path = outdir / "bench.json"
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))
    for f in failed:
        sim, p = f.split(":")
        d = sims_info[sim]["paths"][p]
        out.write(f"MISMATCH {sim} {PATHS[p]}: {d['mismatches']} mismatch(es), "
                  f"{d['vectors']} outputs checked\n")
        for m in d["first"][:4]:
            out.write("    " + m.replace("\n", "\n    ") + "\n")
    for k in bad_regress:
        out.write(f"FAILED timed regression: {k}\n")
    out.write(f"qmac bench: {'PASS' if data['passed'] else 'FAIL'} — every output of every path "
              f"{'matched golden' if not failed else 'compared with golden'}; wall "
              f"{format_seconds(data['wall_seconds'])}; {path}\n")
    out.flush()
    return 0 if data["passed"] else 1
