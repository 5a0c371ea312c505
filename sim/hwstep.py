"""The hardware step of ``qmac run`` on one Python-free simulator process ("direct" driver).

The generated top runs inside the fast-path harness (tb/qmac_harness.sv) wrapped by
tb/qmac_native.sv in its ``+qmac_serve`` mode: ONE simulator process for the whole model,
which reads chunk numbers on its standard input, replays each command chunk through the
harness's command engine (the DUT state — weights, open accumulations — carries over from
chunk to chunk, as on the cocotb fast path) and prints one line per chunk. No cocotb, no
second Python start-up, no per-layer simulator restart.

This process does everything else, overlapped with the simulation (the simulator has one
chunk queued while it runs another):

* schedule — each op's program (:func:`tb.schedule.schedule`, NumPy) is built while the
  simulator runs the previous op, cut into chunks that fit the harness's command memory and
  written as ``$fread`` images (two slots, double-buffered);
* check — when an op's last chunk is done, every lane of every output beat (padding lanes,
  overflow flags, the sticky overflow flags, beat count, X/Z bits) is compared with the
  datapath model (:class:`tb.checker.Checker` on :meth:`tb.model.Model.expected`, the same
  check as the cocotb fast path), and the outputs are reassembled per product for
  sim/run.py, which compares every real output with the golden op chain.

:func:`native_replay` runs the same program on the same chunks with every chunk written
beforehand and standard input read from a file: the Python-free rate of the same command
stream, measured the same way (one process, start-up included, wall and CPU time).

MAC-array tops only (a crossbar top needs the behavioural analog macro: cocotb driver).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

__all__ = ["ServeError", "StepResult", "run_step", "native_replay", "chunk_spans"]

_LINE = re.compile(r"qmac_serve: chunk=(\d+) cycles=(\d+) outputs=(\d+) stalls=\d+ "
                   r"error=(\d+) overrun=(\d+) sticky=([0-9a-fA-FxXzZ]+)")
#: commands per chunk (at most the harness's command memory minus the END word); smaller
#: chunks start the simulator sooner and spread the checking, larger ones cost fewer turns
CHUNK = 1 << 14


class ServeError(RuntimeError):
    """The serving simulator failed (crash, harness error, timeout); names the log."""


@dataclasses.dataclass
class StepResult:
    """What :func:`run_step` returns: ``hw`` has the keys of tb/cocotb_model.py's output
    (``g{i}.{j}.y``, ``g{i}.cycles``, ``g{i}.mismatches``, ``g{i}.beats``,
    ``g{i}.expected_beats``) plus the first mismatch reports per op."""

    hw: dict
    wall: float            # seconds, first schedule to last check
    cpu_python: float      # CPU seconds of this process during the step
    cpu_sim: float         # CPU seconds of the simulator process (start-up included)
    chunks: int
    commands: int
    cycles: int
    reports: dict          # op index -> first mismatch text


def chunk_spans(n: int, depth: int, chunk: int = CHUNK) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` cutting ``n`` commands into chunks of at most
    ``min(chunk, depth − 1)`` (one word of the command memory is the END)."""
    size = max(1, min(chunk, depth - 1))
    return [(s, min(s + size, n)) for s in range(0, max(n, 1), size)]


class _Serve:
    """One ``+qmac_serve`` simulator process; chunk numbers in, one result line each out."""

    def __init__(self, program: Path, sim: str, base: Path, log_path: Path, timeout: float):
        cmd = [str(program)] if sim == "verilator" else ["vvp", "-n", str(program)]
        cmd += ["+qmac_serve", f"+qmac_cmd={base}.cmd", f"+qmac_out={base}.out"]
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, bufsize=1,
                                     start_new_session=True)
        self.timed_out = False
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self.timed_out = True
        self._kill()

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def submit(self, k: int) -> None:
        try:
            self.proc.stdin.write(f"{k}\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass        # the simulator died: the next result() reports it

    def result(self) -> tuple[int, int, int, bool, str]:
        """``(chunk, cycles, outputs, overrun, sticky hex)`` of the next finished chunk."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                why = "timed out" if self.timed_out else "exited"
                raise ServeError(f"simulator {why} before finishing its chunks; see "
                                 f"{self.log_path}")
            self._log.write(line)
            m = _LINE.match(line.strip())
            if m:
                if m.group(4) != "0":
                    raise ServeError(f"harness could not load command chunk {m.group(1)}; "
                                     f"see {self.log_path}")
                return (int(m.group(1)), int(m.group(2)), int(m.group(3)),
                        m.group(5) != "0", m.group(6))

    def close(self) -> float:
        """End the process (end of input); returns its CPU seconds (user + system)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        rest = self.proc.stdout.read()
        if rest:
            self._log.write(rest)
        self.proc.stdout.close()
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._timer.cancel()
        self._log.close()
        return ru.ru_utime + ru.ru_stime

    def abort(self) -> None:
        self._timer.cancel()
        self._kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:   # pragma: no cover - SIGKILL cannot be ignored
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if not self._log.closed:
            self._log.close()


@dataclasses.dataclass
class _Op:
    """One op's program while its chunks are in flight."""

    gi: int
    prog: object
    n_chunks: int
    golden: list | None
    bits: list = dataclasses.field(default_factory=list)
    unknown: list = dataclasses.field(default_factory=list)
    cycles: int = 0
    overrun: bool = False
    sticky: str = "0"


def _chunks(hp, groups, depth, golden, chunk):
    """``(op, start, stop)`` of every chunk; an op is scheduled when its first chunk is
    wanted, i.e. while the simulator runs the previous op's chunks."""
    from tb.schedule import schedule
    for gi, (_, layers) in enumerate(groups):
        prog = schedule(hp, layers)
        spans = chunk_spans(len(prog.stream), depth, chunk)
        op = _Op(gi, prog, len(spans), golden[gi] if golden is not None else None)
        for start, stop in spans:
            yield op, start, stop


def run_step(hp, program: Path, sim: str, groups, workdir: Path, *, timeout: float,
             golden: list | None = None, chunk: int = CHUNK) -> StepResult:
    """Schedule, simulate and check every group (op) of ``groups`` on one serving
    simulator process; see the module docstring. ``golden[i]``: the expected outputs of
    group ``i``'s layers in folded codes (:func:`tb.model_layers.expected_from_golden`;
    None: the datapath model). Raises :class:`ServeError`."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = workdir / "serve"
    depth = 1 << hp.harness_depth_bits()
    t0, c0 = time.perf_counter(), time.process_time()
    srv = _Serve(program, sim, base, workdir / "serve.log", timeout)
    hw: dict = {}
    reports: dict = {}
    inflight: collections.deque = collections.deque()
    n_chunks = n_cmds = cycles = 0
    try:
        for op, start, stop in _chunks(hp, groups, depth, golden, chunk):
            while len(inflight) >= 2:       # slot k % 2 is free once chunk k − 2 is read
                cycles += _collect(srv, hp, inflight.popleft(), base, hw, reports)
            k = n_chunks
            cmd = Path(f"{base}.cmd.{k % 2}")
            cmd.write_bytes(op.prog.stream.slice(start, stop).with_end().to_bin())
            srv.submit(k % 2)
            inflight.append((k, op))
            n_chunks += 1
            n_cmds += stop - start
        while inflight:
            cycles += _collect(srv, hp, inflight.popleft(), base, hw, reports)
    except BaseException:
        srv.abort()
        raise
    cpu_sim = srv.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for slot in (0, 1):          # the chunk images (the log keeps every chunk's line)
        for p in (Path(f"{base}.cmd.{slot}"), Path(f"{base}.out.{slot}")):
            p.unlink(missing_ok=True)
    return StepResult(hw, wall, cpu, cpu_sim, n_chunks, n_cmds, cycles, reports)


def _collect(srv: _Serve, hp, item, base: Path, hw: dict, reports: dict) -> int:
    """Read the result of in-flight chunk ``item``; check its op after its last chunk."""
    from tb.schedule import hex_to_bits
    k, op = item
    slot, cyc, n_out, overrun, sticky = srv.result()
    if slot != k % 2:
        raise ServeError(f"simulator answered chunk {slot}, expected {k % 2}; see "
                         f"{srv.log_path}")
    if n_out:
        bits, unk = hex_to_bits(Path(f"{base}.out.{slot}").read_text(), hp.out_width)
        op.bits.append(bits)
        op.unknown.append(unk)
    op.cycles += cyc
    op.overrun |= overrun
    op.sticky = sticky
    op.n_chunks -= 1
    if op.n_chunks == 0:
        _check_op(hp, op, hw, reports)
    return cyc


def _check_op(hp, op: _Op, hw: dict, reports: dict) -> None:
    """Every lane of every output beat of ``op`` against the datapath model."""
    from tb.checker import Checker, decode_outputs
    from tb.model import Model
    from tb.model_layers import expected_from_golden, reassemble_layers
    prog = op.prog
    bits = np.concatenate(op.bits) if op.bits else np.zeros((0, hp.out_width), np.uint8)
    unknown = np.concatenate(op.unknown) if op.unknown else np.zeros(0, bool)
    got_y, got_ovf = decode_outputs(hp, bits)
    sticky = _sticky_bits(op.sticky, hp.cols)
    exp = expected_from_golden(hp, prog, op.golden) if op.golden is not None else None
    exp = exp if exp is not None else Model(hp).expected(prog)
    res = Checker(hp, prog, exp).check(got_y, got_ovf, got_sticky=sticky, unknown=unknown)
    mism = res.mismatches + int(op.overrun)
    g = op.gi
    for i, y in enumerate(reassemble_layers(hp, prog, y=got_y)):
        hw[f"g{g}.{i}.y"] = y
    hw[f"g{g}.cycles"] = np.int64(op.cycles)
    hw[f"g{g}.mismatches"] = np.int64(mism)
    hw[f"g{g}.beats"] = np.int64(bits.shape[0])
    hw[f"g{g}.expected_beats"] = np.int64(prog.n_outputs)
    if mism:
        reports[g] = res.format() + ("\n  harness output memory overrun" if op.overrun else "")


def _sticky_bits(text: str, cols: int) -> np.ndarray | None:
    """``o_ovf_sticky`` as printed (``%h``) → (cols,) bool, lane 0 = bit 0; None if X/Z."""
    if any(c in "xXzZ" for c in text):
        return None
    v = int(text, 16)
    return np.array([(v >> i) & 1 for i in range(cols)], bool)


def native_replay(hp, program: Path, sim: str, groups, workdir: Path, *,
                  timeout: float, chunk: int = CHUNK, repeat: int = 3) -> dict:
    """The same program on the same chunks with no Python in the loop: every chunk written
    beforehand (not timed), standard input read from a file, one process per run. Returns
    the best of ``repeat`` runs' wall and CPU seconds (start-up included, like the hardware
    step; the best run, so a busy machine flatters the native rate, not the step), cycles,
    chunks, commands."""
    from tb.schedule import schedule
    workdir.mkdir(parents=True, exist_ok=True)
    base = workdir / "native"
    depth = 1 << hp.harness_depth_bits()
    k = n_cmds = 0
    for _, layers in groups:
        stream = schedule(hp, layers).stream
        for start, stop in chunk_spans(len(stream), depth, chunk):
            Path(f"{base}.cmd.{k}").write_bytes(stream.slice(start, stop).with_end().to_bin())
            k += 1
            n_cmds += stop - start
    order = workdir / "native.chunks"
    order.write_text("".join(f"{i}\n" for i in range(k)))
    cmd = [str(program)] if sim == "verilator" else ["vvp", "-n", str(program)]
    cmd += ["+qmac_serve", f"+qmac_cmd={base}.cmd", f"+qmac_out={base}.out"]
    runs = [_replay_once(cmd, order, workdir / "native.log", k, timeout) for _ in range(repeat)]
    for i in range(k):
        for p in (Path(f"{base}.cmd.{i}"), Path(f"{base}.out.{i}")):
            p.unlink(missing_ok=True)
    if len({r[2] for r in runs}) != 1:
        raise ServeError(f"native replays of the same chunks ran {sorted({r[2] for r in runs})} "
                         f"cycles; see {workdir / 'native.log'}")
    return {"wall": min(r[0] for r in runs), "cpu": min(r[1] for r in runs), "chunks": k,
            "commands": n_cmds, "cycles": runs[0][2], "runs": repeat}


def _replay_once(cmd, order: Path, log_path: Path, k: int, timeout: float):
    """One native run of ``k`` chunks: ``(wall s, CPU s, cycles)``."""
    with open(order) as stdin, open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=log, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    lines = _LINE.findall(log_path.read_text(errors="replace"))
    if proc.returncode != 0 or len(lines) != k or any(m[3] != "0" for m in lines):
        raise ServeError(f"native replay failed (exit {proc.returncode}, {len(lines)} of {k} "
                         f"chunks); see {log_path}")
    return wall, ru.ru_utime + ru.ru_stime, sum(int(m[1]) for m in lines)
