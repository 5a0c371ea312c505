"""Build and run the cocotb testbenches on ``cocotb_tools.runner`` (no Makefiles).

* :func:`build` compiles the harness (tb/qmac_harness.sv) around the generated top under
  ``icarus`` or ``verilator`` into one build directory per (configuration tag, simulator,
  build options). A stamp file holds a hash of everything that goes into the build — the
  generated Verilog, the harness, parameters, defines, build arguments, simulator and cocotb
  versions — and the build is skipped while it matches (cocotb's Icarus runner would
  otherwise reuse a stale ``sim.vvp`` when only parameters change, and its Verilator runner
  would always re-run Verilator). Verilator's C++ compile goes through ``ccache`` when it is
  installed (``OBJCACHE``).
* :func:`run_test` runs one cocotb test module in a child process with a wall-clock
  timeout and its own log file; a crash or hang of the simulator becomes a failed
  :class:`TestRun` naming the log, never a hang of the regression.

The DUT-facing toplevel is always ``qmac_harness``; the generated module is selected with
the ``QMAC_DUT`` define, and the port widths come from :class:`tb.hwparams.HwParams`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import re
import hashlib
import json
import zlib
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tb.hwparams import HwParams, PARAMS_ENV

from .errors import ToolError
from .tools import find_ccache, find_simulator, verilator_fst_supported

__all__ = ["Build", "BuildError", "TestRun", "TestCase", "build", "run_test", "HARNESS",
           "STOP", "request_stop", "reset_stop", "kill_descendants", "signal_name",
           "waves_max_bytes", "WAVES_MAX_BYTES",
           "HARNESS_TOP", "build_dir_for", "hw_params_for", "build_native", "run_native",
           "NativeRun", "parse_results"]

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tb" / "qmac_harness.sv"
HARNESS_TOP = "qmac_harness"
STAMP = "qmac_build.json"
TIMESCALE = ("1ns", "1ps")


class BuildError(RuntimeError):
    """A simulator build failed; the message names the log file."""


@dataclasses.dataclass(frozen=True)
class Build:
    """A finished (or reused) simulator build."""

    sim: str
    build_dir: Path
    waves: bool
    rebuilt: bool
    seconds: float
    log_path: Path
    params_path: Path
    hp: HwParams
    dut_toplevel: str
    toplevel: str = HARNESS_TOP
    #: e.g. "damaged build cache: ... rebuilt" when a cached program failed its hash check
    note: str = ""


@dataclasses.dataclass
class TestCase:
    """One cocotb test function's result from the results XML."""

    name: str
    passed: bool
    skipped: bool
    time: float
    sim_time_ns: float
    message: str = ""


@dataclasses.dataclass
class TestRun:
    """One test module run in a child process."""

    module: str
    sim: str
    status: str               # "pass", "fail", "error" (crash / no results), "timeout",
    #                           "interrupted" (Ctrl-C / SIGTERM; or never started)
    returncode: int | None
    wall: float
    log_path: Path
    results_xml: Path
    test_dir: Path
    testcases: list[TestCase]
    records: list[dict]
    waves_path: Path | None = None
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


# ---------------------------------------------------------------------------- helpers
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------- processes
#: set by :func:`request_stop` (Ctrl-C / SIGTERM): no new test starts, running ones stop
STOP = threading.Event()
#: why the run was stopped (e.g. ``"SIGINT"``), for the reports
STOP_REASON: list[str] = []
_ACTIVE: dict[int, subprocess.Popen] = {}
_ACTIVE_LOCK = threading.Lock()
#: seconds between SIGTERM and SIGKILL of a child process group
KILL_GRACE = 2.0
#: largest waveform file a test may write (bytes; ``QMAC_MAX_WAVES_MB``); the test is
#: stopped when its waveform grows beyond it
WAVES_MAX_BYTES = 512 << 20


def waves_max_bytes() -> int:
    """:data:`WAVES_MAX_BYTES`, or ``QMAC_MAX_WAVES_MB`` megabytes."""
    env = os.environ.get("QMAC_MAX_WAVES_MB", "").strip()
    return int(float(env) * (1 << 20)) if env.replace(".", "", 1).isdigit() else WAVES_MAX_BYTES


def request_stop(reason: str) -> None:
    """Stop the run: no new child starts; every running child group gets SIGTERM now
    (and SIGKILL :data:`KILL_GRACE` seconds later, from the thread that waits for it)."""
    if not STOP.is_set():
        STOP_REASON[:] = [reason]
    STOP.set()
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE.values())
    for proc in procs:
        _signal_group(proc.pid, signal.SIGTERM)


def reset_stop() -> None:
    STOP.clear()
    STOP_REASON.clear()


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` (and SIGCONT, so a stopped process sees it) to a process group."""
    try:
        os.killpg(pgid, sig)
        if sig != signal.SIGKILL:
            os.killpg(pgid, signal.SIGCONT)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_group(proc: subprocess.Popen, grace: float = KILL_GRACE) -> None:
    """Terminate, then kill, the whole process group (session) of ``proc``: the runner
    child and the simulator it started. Nothing of the group survives."""
    if proc.poll() is None or _group_alive(proc.pid):
        _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(proc.pid):
                break
            time.sleep(0.05)
        _signal_group(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        pass


def _group_alive(pgid: int) -> bool:
    """Is any non-zombie process left in process group ``pgid``?"""
    for pid, state, _, pg in _processes():
        if pg == pgid and state != "Z":
            return True
    return False


def _processes():
    """``(pid, state, ppid, pgid)`` of every process (Linux ``/proc``)."""
    try:
        names = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux
        return []
    out = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) >= 3:
            out.append((int(name), fields[0], int(fields[1]), int(fields[2])))
    return out


def kill_descendants(root: int | None = None, grace: float = KILL_GRACE) -> int:
    """SIGTERM, then SIGKILL, every descendant of ``root`` (default: this process) — build
    tools, runner children, simulators. Returns how many were signalled."""
    root = os.getpid() if root is None else root

    def descendants() -> list[int]:
        procs = _processes()
        children: dict[int, list[int]] = {}
        for pid, state, ppid, _ in procs:
            if state != "Z":
                children.setdefault(ppid, []).append(pid)
        out, todo = [], [root]
        while todo:
            for c in children.get(todo.pop(), []):
                out.append(c)
                todo.append(c)
        return out

    pids = descendants()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
                if sig == signal.SIGTERM:
                    os.kill(pid, signal.SIGCONT)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if not set(descendants()) & set(pids):
                return len(pids)
            time.sleep(0.05)
    return len(pids)


def signal_name(returncode: int) -> str:
    """``-11`` → ``"SIGSEGV"``."""
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _cocotb_version() -> str:
    from importlib.metadata import version
    return version("cocotb")


def hw_params_for(cfg_dict: dict[str, Any], manifest: dict[str, Any] | None,
                  toplevel: str) -> HwParams:
    """:class:`HwParams` from a resolved configuration and the generator's manifest.

    Checks the generated port widths against the widths docs/design.md implies, so a
    contract drift fails with one clear line instead of a simulator width warning.
    """
    manifest = manifest or {}
    latency = manifest.get("latency_cycles") or 0
    hp = HwParams.from_config_dict(cfg_dict, latency=int(latency), toplevel=toplevel)
    ports = {p["name"]: p.get("width") for p in manifest.get("ports", []) if isinstance(p, dict)}
    for name, width in hp.expected_port_widths().items():
        got = ports.get(name)
        if ports and got is not None and int(got) != width:
            raise BuildError(f"generated port {name} is {got} bits wide, docs/design.md implies "
                             f"{width} bits for this configuration")
    return hp


def build_dir_for(build_root: Path, tag: str, sim: str, waves: bool) -> Path:
    return Path(build_root) / tag / (f"{sim}-waves" if waves else sim)


#: C++ optimisation of Verilator's per-cycle ("fast") code; verilated.mk's default is -Os.
#: -O3 runs the int8 16x16 DUT about twice as fast, for a few seconds more compile time
#: (the "slow" start-up code keeps the default).
VERILATOR_OPT_FAST = "-O3"


def _verilator_args(waves: bool, build_dir: Path, verilog: Path) -> list[str]:
    vlt = build_dir.parent / f"{build_dir.name}.vlt"
    vlt.parent.mkdir(parents=True, exist_ok=True)
    # the generated Verilog is the hardware team's; lint it separately (qmac generate --lint)
    vlt.write_text("`verilator_config\n"
                   f"lint_off -file \"*/{verilog.name}\"\n"
                   # cocotb reaches only the harness's own signals: keep the DUT optimisable
                   f"public_flat_rw -module \"{HARNESS_TOP}\" -var \"*\"\n")
    # an explicit X (a don't-care Yosys left) becomes a random constant drawn at start-up from
    # the test's seed (VERILATOR_X_PLUSARGS), as Icarus shows it as x; initial values stay as written
    args = ["--timing", "-CFLAGS", "-std=c++20", "-Wno-fatal", "--x-assign", "unique",
            "--x-initial", "fast", str(vlt)]
    if waves:
        # FST needs lz4.h (liblz4-dev); otherwise cocotb's runner's --trace gives VCD
        args += (["--trace-fst"] if verilator_fst_supported() else []) + ["--trace-structs"]
    return args


def verilator_x_plusargs(seed: int, module: str) -> list[str]:
    """Run-time arguments that give each explicit X a random value drawn from ``seed`` and the
    test module's name (replayable; each testbench draws its own values)."""
    n = (int(seed) + zlib.crc32(module.encode())) % 2147483646 + 1
    return ["+verilator+rand+reset+2", f"+verilator+seed+{n}"]


def waves_suffix(sim: str) -> str:
    """File suffix of the waveforms ``sim`` writes: ``.fst``, or ``.vcd`` (Verilator without lz4)."""
    if sim == "verilator" and not verilator_fst_supported():
        return ".vcd"
    return ".fst"


def _runner(sim: str):
    """cocotb's runner for ``sim``; Verilator without ``--public-flat-rw`` on the whole design.

    cocotb's Verilator runner makes every signal public, which stops Verilator from
    optimising the DUT (about 3x slower here). The harness's signals are made public
    through the control file instead (:func:`_verilator_args`).
    """
    from cocotb_tools.runner import Verilator, get_runner
    if sim != "verilator":
        return get_runner(sim)

    class _QmacVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            cmds[-1] = cmds[-1] + [f"OPT_FAST={VERILATOR_OPT_FAST}"]
            return cmds

    return _QmacVerilator()


def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


# ---------------------------------------------------------------------------- build
def build(*, verilog_path: Path, dut_toplevel: str, hp: HwParams, sim: str, build_root: Path,
          tag: str, waves: bool = False, coverage: bool = False) -> Build:
    """Build (or reuse) the harness + generated top for ``sim``; returns a :class:`Build`.

    Raises :class:`~sim.errors.ToolError` if the simulator is missing and
    :class:`BuildError` (naming the log) if compilation fails.
    """
    simulator = find_simulator(sim)
    verilog_path = Path(verilog_path).resolve()
    bdir = build_dir_for(build_root, tag, sim, waves).resolve()
    parameters = hp.harness_parameters()
    defines = {"QMAC_DUT": dut_toplevel}
    build_args = _verilator_args(waves, bdir, verilog_path) if sim == "verilator" else []
    if coverage and sim == "verilator":   # line/toggle coverage (sim/hwcov.py reads it)
        from .hwcov import VERILATOR_COVERAGE_ARGS
        build_args += VERILATOR_COVERAGE_ARGS
    ccache = find_ccache() if sim == "verilator" else None
    key = _build_key(simulator, waves, verilog_path, parameters, defines, build_args)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    stamp = bdir / STAMP
    artifact = bdir / ("sim.vvp" if sim == "icarus" else HARNESS_TOP)
    log_path = bdir.parent / f"{bdir.name}.build.log"
    params_path = bdir.parent / f"{bdir.name}.tb_params.json"
    lock = _locked(bdir.parent / f".{bdir.name}.lock")
    try:
        hp.write(params_path)
        reuse, note = _cached_build(stamp, digest, artifact)
        if reuse:
            return Build(sim, bdir, waves, False, 0.0, log_path, params_path, hp, dut_toplevel)
        if ccache:
            os.environ.setdefault("OBJCACHE", ccache)
        t0 = time.perf_counter()
        if stamp.exists():
            stamp.unlink()  # a build interrupted from here on leaves no valid stamp
        runner = _runner(sim)
        try:
            runner.build(
                sources=[HARNESS, verilog_path], hdl_toplevel=HARNESS_TOP, build_dir=bdir,
                parameters=parameters, defines=defines, build_args=build_args,
                timescale=TIMESCALE, waves=waves, clean=True, always=True, log_file=log_path)
        except (RuntimeError, SystemExit, OSError) as exc:
            tail = _tail(log_path, 6)
            raise BuildError(f"{sim} build of {dut_toplevel} failed ({exc}); see {log_path}"
                             + (f"\n{tail}" if tail else "")) from None
        if STOP.is_set():  # a killed compiler may leave a partial program: no stamp
            raise BuildError(f"{sim} build of {dut_toplevel} interrupted "
                             f"({STOP_REASON[0] if STOP_REASON else 'stop request'})")
        if not artifact.exists():
            raise BuildError(f"{sim} build produced no {artifact.name}; see {log_path}")
        seconds = time.perf_counter() - t0
        _write_stamp(stamp, {"digest": digest, "key": key, "seconds": seconds}, artifact)
        return Build(sim, bdir, waves, True, seconds, log_path, params_path, hp, dut_toplevel,
                     note=note)
    finally:
        lock.close()


def _build_key(simulator, waves, verilog_path, parameters, defines,
               build_args) -> dict[str, Any]:
    """Everything a build with ``simulator`` (:func:`find_simulator`) depends on: its digest
    decides whether a cached build is reused."""
    sim = simulator.name
    return {
        "sim": sim, "sim_version": simulator.version_text, "sim_exe": str(simulator.executable),
        "waves": waves, "verilog": _sha256_file(verilog_path), "harness": _sha256_file(HARNESS),
        "parameters": parameters, "defines": defines,
        "build_args": [a for a in build_args if not a.endswith(".vlt")],
        "makeflags": os.environ.get("MAKEFLAGS", "") if sim == "verilator" else "",
        "public": "harness-only", "opt_fast": VERILATOR_OPT_FAST if sim == "verilator" else "",
        "cocotb": _cocotb_version(), "python": sys.version.split()[0], "timescale": TIMESCALE,
    }


def _cached_build(stamp: Path, digest: str, artifact: Path) -> tuple[bool, str]:
    """Is the build behind ``stamp`` valid for ``digest``? ``(reuse, note)``.

    The stamp holds the SHA-256 and size of the produced program (``sim.vvp`` / the
    Verilator executable): a truncated or altered program does not match, is reported in
    ``note`` and rebuilt.
    """
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False, ""
    if not isinstance(data, dict) or data.get("digest") != digest:
        return False, ""
    want = data.get("artifact") or {}
    try:
        size = artifact.stat().st_size
    except OSError:
        return False, f"damaged build cache: {artifact} is missing; rebuilt"
    if want.get("size") == size and want.get("sha256") == _sha256_file(artifact):
        return True, ""
    return False, (f"damaged build cache: {artifact} does not match its stamp "
                   f"(size {size}, stamp {want.get('size')}); rebuilt")


def _write_stamp(stamp: Path, data: dict, artifact: Path) -> None:
    """The build stamp with the program's hash, written atomically (last, after the build)."""
    data = dict(data, artifact={"name": artifact.name, "size": artifact.stat().st_size,
                                "sha256": _sha256_file(artifact)})
    tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, stamp)


def _tail(path: Path, n: int) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + ln for ln in lines[-n:])


# ---------------------------------------------------------------------------- tests
def parse_results(path: Path) -> list[TestCase]:
    """cocotb's xUnit results → :class:`TestCase` list (empty if missing/unreadable)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    out = []
    for tc in root.iter("testcase"):
        fail = tc.find("failure")
        err = tc.find("error")
        skip = tc.find("skipped")
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        sim_ns = props.get("sim_time_duration") or tc.get("sim_time_ns") or 0
        msg = ""
        for el in (fail, err):
            if el is not None:
                msg = el.get("message") or (el.text or "")
        out.append(TestCase(
            name=tc.get("name", "?"), passed=fail is None and err is None, skipped=skip is not None,
            time=float(tc.get("time", 0) or 0), sim_time_ns=float(sim_ns or 0),
            message=msg.strip()))
    return out


def run_test(b: Build, *, module: str, test_dir: Path, seed: int, vectors: int,
             timeout: float, testcase: str | None = None, waves: bool = False,
             extra_env: dict[str, str] | None = None, log_name: str | None = None,
             waves_limit: int | None = None) -> TestRun:
    """Run cocotb test ``module`` (e.g. ``"tb.cocotb_datapath"``) on build ``b`` in a child.

    The child (``python -m sim.runner child``) starts in its own session and calls
    ``cocotb_tools.runner`` ``test()``; the simulator output goes to
    ``<test_dir>/<log_name>.log``. The whole process group is terminated, then killed, when
    ``timeout`` seconds pass (``"timeout"``), when :data:`STOP` is set (``"interrupted"``),
    or when the waveform grows beyond ``waves_limit`` bytes (default
    :func:`waves_max_bytes`); and after every run, so no simulator outlives its test.
    """
    test_dir = Path(test_dir).resolve()
    name = log_name or module.rsplit(".", 1)[-1]
    paths = _TestPaths(test_dir, name, waves_suffix(b.sim) if waves else None)
    if STOP.is_set():
        return TestRun(module, b.sim, "interrupted", None, 0.0, paths.log, paths.results,
                       test_dir, [], [], None, "not started: the run was interrupted")
    test_dir.mkdir(parents=True, exist_ok=True)
    for p in (paths.results, paths.records, paths.status):
        if p.exists():
            p.unlink()
    spec_path, child_env = _child_spec(b, module, paths, seed, vectors, testcase, waves,
                                       extra_env)
    t0 = time.perf_counter()
    with open(paths.runner_log, "w") as rl:
        proc = subprocess.Popen([sys.executable, "-m", "sim.runner", "child", str(spec_path)],
                                cwd=str(ROOT), env=child_env, stdout=rl, stderr=subprocess.STDOUT,
                                start_new_session=True)
        with _ACTIVE_LOCK:
            _ACTIVE[proc.pid] = proc
        try:
            rc, stopped = _supervise(proc, timeout, paths.waves,
                                     waves_max_bytes() if waves_limit is None else waves_limit)
        finally:
            _kill_group(proc)
            with _ACTIVE_LOCK:
                _ACTIVE.pop(proc.pid, None)
    wall = time.perf_counter() - t0
    _append_runner_log(paths)
    from tb.env import result_records
    records = result_records(paths.records)
    cases = parse_results(paths.results)
    status, msg = _classify(rc, stopped, cases, paths, timeout, waves_limit)
    waves_path = paths.waves if paths.waves is not None and paths.waves.exists() else None
    return TestRun(module, b.sim, status, rc, wall, paths.log, paths.results, test_dir, cases,
                   records, waves_path, msg)


@dataclasses.dataclass(frozen=True)
class _TestPaths:
    """The files of one test run in ``test_dir``."""

    test_dir: Path
    name: str
    waves_ext: str | None

    def _f(self, suffix: str) -> Path:
        return self.test_dir / f"{self.name}{suffix}"

    log = property(lambda self: self._f(".log"))
    results = property(lambda self: self._f(".results.xml"))
    records = property(lambda self: self._f(".records.jsonl"))
    status = property(lambda self: self._f(".child.json"))
    runner_log = property(lambda self: self._f(".runner.log"))
    waves = property(lambda self: self._f(self.waves_ext) if self.waves_ext else None)


def _child_spec(b: Build, module, paths: _TestPaths, seed, vectors, testcase, waves, extra_env):
    """Write the child's spec file; returns ``(spec path, child environment)``."""
    env_vars = {
        PARAMS_ENV: str(b.params_path),
        "QMAC_SEED": str(seed),
        "QMAC_VECTORS": str(vectors),
        "QMAC_RESULT": str(paths.records),
        "QMAC_CMD_FILE": str(paths._f(".cmd.bin")),
        "QMAC_OUT_FILE": str(paths._f(".out.hex")),
        "COCOTB_ANSI_OUTPUT": "0",
    }
    env_vars.update(extra_env or {})
    spec = {
        "sim": b.sim, "module": module, "build_dir": str(b.build_dir),
        "test_dir": str(paths.test_dir), "testcase": testcase, "seed": seed,
        "waves": bool(waves and b.waves), "log_file": str(paths.log),
        "results_xml": str(paths.results), "env": env_vars,
        "waves_path": str(paths.waves) if paths.waves else None,
        "status_file": str(paths.status),
    }
    spec_path = paths._f(".spec.json")
    spec_path.write_text(json.dumps(spec, indent=2))
    child_env = dict(os.environ)
    child_env.pop("PYTEST_CURRENT_TEST", None)
    child_env.update(env_vars)
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in child_env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return spec_path, child_env


def _supervise(proc: subprocess.Popen, timeout: float, waves: Path | None,
               waves_limit: int) -> tuple[int | None, str]:
    """Wait for ``proc``; ``(returncode, why it was stopped: "" / "timeout" / "interrupted"
    / "waves")``. Polls every 0.1 s so a stop request or an oversized waveform acts fast."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rc = proc.wait(timeout=0.1)
            # killed by the stop request's sweep before this loop saw it: interrupted
            return rc, "interrupted" if STOP.is_set() and rc != 0 else ""
        except subprocess.TimeoutExpired:
            pass
        if STOP.is_set():
            return None, "interrupted"
        if time.monotonic() > deadline:
            return None, "timeout"
        if waves is not None and waves_limit and _size(waves) > waves_limit:
            return None, "waves"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _append_runner_log(paths: _TestPaths) -> None:
    """Append the runner's own output (commands, exit codes) to the test log."""
    try:
        extra = paths.runner_log.read_text(errors="replace")
        if extra.strip():
            with open(paths.log, "a") as f:
                f.write("\n---- qmac runner ----\n" + extra)
        paths.runner_log.unlink()
    except OSError:
        pass


def _simulator_returncode(paths: _TestPaths) -> int | None:
    try:
        return json.loads(paths.status.read_text()).get("simulator_returncode")
    except (OSError, ValueError, AttributeError):
        return None


def _classify(rc, stopped: str, cases: list[TestCase], paths: _TestPaths, timeout: float,
              waves_limit: int | None) -> tuple[str, str]:
    """``(status, message)`` of a finished, stopped or crashed test run."""
    log = paths.log
    if stopped == "interrupted":
        why = STOP_REASON[0] if STOP_REASON else "stop request"
        return "interrupted", f"interrupted ({why}); partial log {log}"
    if stopped == "timeout":
        return "timeout", f"killed after {timeout:.0f} s (simulator hang?); see {log}"
    if stopped == "waves":
        limit = waves_max_bytes() if waves_limit is None else waves_limit
        return "error", (f"stopped: waveform {paths.waves} grew beyond {limit >> 20} MB "
                         f"(QMAC_MAX_WAVES_MB); see {log}")
    sim_rc = _simulator_returncode(paths)
    if sim_rc is not None and sim_rc < 0:
        return "error", f"simulator killed by {signal_name(sim_rc)}; see {log}"
    if rc is not None and rc < 0:
        return "error", f"test runner killed by {signal_name(rc)}; see {log}"
    if not cases:
        code = sim_rc if sim_rc is not None else rc
        return "error", (f"simulator exited with code {code} and wrote no results "
                         f"(crash?); see {log}")
    if any(not c.passed for c in cases):
        bad = [c for c in cases if not c.passed]
        return "fail", f"{len(bad)} of {len(cases)} test(s) failed: " + "; ".join(
            f"{c.name}: {c.message.splitlines()[0] if c.message else 'failed'}" for c in bad[:3])
    if rc not in (0, None) or sim_rc not in (0, None):
        return "error", f"simulator exited with code {sim_rc if sim_rc else rc}; see {log}"
    return "pass", ""


# ---------------------------------------------------------------------------- child
def _child(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    sys.path.insert(0, str(ROOT))
    os.environ.update(spec["env"])
    find_simulator(spec["sim"])  # exports VERILATOR_ROOT / PATH
    from cocotb_tools.runner import get_runner
    runner = get_runner(spec["sim"])
    plusargs = [f"+qmac_cmd={spec['env']['QMAC_CMD_FILE']}",
                f"+qmac_out={spec['env']['QMAC_OUT_FILE']}"]
    plusargs += os.environ.get("QMAC_PLUSARGS", "").split()  # e.g. "-vcd" for Icarus
    if spec["sim"] == "verilator":
        plusargs += verilator_x_plusargs(spec["seed"], spec["module"])
    test_args = []
    if spec["waves"] and spec.get("waves_path"):
        if spec["sim"] == "icarus":
            plusargs.append(f"+dumpfile_path={spec['waves_path']}")
        else:
            test_args += ["--trace-file", spec["waves_path"]]
    rc = 0
    try:
        runner.test(
            test_module=spec["module"], hdl_toplevel=HARNESS_TOP, hdl_toplevel_lang="verilog",
            build_dir=spec["build_dir"], test_dir=spec["test_dir"], testcase=spec["testcase"],
            seed=spec["seed"], plusargs=plusargs, test_args=test_args, extra_env=spec["env"],
            waves=spec["waves"], log_file=spec["log_file"], results_xml=spec["results_xml"],
            timescale=TIMESCALE)
    except SystemExit as exc:
        rc = int(exc.code or 0) if isinstance(exc.code, int) else 1
    except RuntimeError as exc:  # cocotb: "Command failed with return code: -11"
        m = re.search(r"return code: (-?\d+)", str(exc))
        rc = int(m.group(1)) if m else 1
        print(f"qmac runner: {exc}", file=sys.stderr)
    if spec.get("status_file"):
        Path(spec["status_file"]).write_text(json.dumps({"simulator_returncode": rc}) + "\n")
    return 1 if rc else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "child":
        try:
            return _child(argv[1])
        except ToolError as exc:
            print(f"qmac: error: {exc}", file=sys.stderr)
            return 2
    print("usage: python -m sim.runner child SPEC.json (internal)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------------------- native
NATIVE = ROOT / "tb" / "qmac_native.sv"


@dataclasses.dataclass(frozen=True)
class NativeRun:
    cycles: int
    outputs: int
    seconds: float
    out_path: Path


def build_native(*, verilog_path: Path, dut_toplevel: str, hp: HwParams, sim: str,
                 build_root: Path, tag: str) -> Path:
    """Build tb/qmac_native.sv (harness + DUT, no Python) for ``sim``; returns the program.

    Verilator: ``verilator --binary --timing`` executable; Icarus: a ``.vvp`` file. Cached
    like :func:`build` (hash stamp).
    """
    simulator = find_simulator(sim)
    verilog_path = Path(verilog_path).resolve()
    bdir = (Path(build_root) / tag / f"{sim}-native").resolve()
    params = hp.harness_parameters()
    key = {"sim": sim, "ver": simulator.version_text, "verilog": _sha256_file(verilog_path),
           "harness": _sha256_file(HARNESS), "native": _sha256_file(NATIVE), "params": params,
           "dut": dut_toplevel, "opt_fast": VERILATOR_OPT_FAST}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    program = bdir / ("Vqmac_native" if sim == "verilator" else "native.vvp")
    stamp = bdir / STAMP
    log_path = bdir.parent / f"{bdir.name}.build.log"
    lock = _locked(bdir.parent / f".{bdir.name}.lock")
    try:
        if _cached_build(stamp, digest, program)[0]:
            return program
        if bdir.exists():
            import shutil
            shutil.rmtree(bdir)
        bdir.mkdir(parents=True)
        if sim == "verilator":
            vlt = bdir / "native.vlt"
            vlt.write_text("`verilator_config\n" f"lint_off -file \"*/{verilog_path.name}\"\n")
            env = dict(os.environ)
            ccache = find_ccache()
            if ccache:
                env.setdefault("OBJCACHE", ccache)
            cmd = ["verilator", "--binary", "--timing", "-CFLAGS", "-std=c++20", "-Wno-fatal",
                   "-MAKEFLAGS", f"OPT_FAST={VERILATOR_OPT_FAST}",
                   "--top-module", "qmac_native", "-Mdir", str(bdir), f"-DQMAC_DUT={dut_toplevel}",
                   "-j", str(os.cpu_count() or 1)]
            cmd += [f"-G{k}={v}" for k, v in params.items()]
            cmd += [str(vlt), str(NATIVE), str(HARNESS), str(verilog_path)]
        else:
            env = dict(os.environ)
            cmd = ["iverilog", "-g2012", "-o", str(program), "-s", "qmac_native",
                   f"-DQMAC_DUT={dut_toplevel}"]
            cmd += [f"-Pqmac_native.{k}={v}" for k, v in params.items()]
            cmd += [str(NATIVE), str(HARNESS), str(verilog_path)]
        with open(log_path, "w") as log:
            res = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        if res.returncode != 0 or not program.exists():
            raise BuildError(f"{sim} native build failed; see {log_path}\n{_tail(log_path, 6)}")
        _write_stamp(stamp, {"digest": digest, "key": key}, program)
        return program
    finally:
        lock.close()


def run_native(program: Path, sim: str, cmd_file: Path, out_file: Path, *,
               timeout: float = 600.0) -> NativeRun:
    """Run a native build on ``cmd_file`` (an END-terminated binary ``$fread`` image)."""
    find_simulator(sim)
    cmd = ([str(program)] if sim == "verilator" else ["vvp", "-n", str(program)])
    cmd += [f"+qmac_cmd={cmd_file}", f"+qmac_out={out_file}"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    m = re.search(r"qmac_native: cycles=(\d+) outputs=(\d+) stalls=\d+ error=(\d+)",
                  res.stdout)
    if res.returncode != 0 or not m or m.group(3) != "0":
        raise RuntimeError(f"native run failed (exit {res.returncode}): "
                           f"{(res.stdout + res.stderr)[-500:]}")
    return NativeRun(int(m.group(1)), int(m.group(2)), seconds, Path(out_file))
