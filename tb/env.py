"""Test environment shared by every testbench: parameters, seed, reset, run, check, record.

A testbench does::

    env = TbEnv(dut, "random_layers")
    await env.start()                                   # idle inputs, reset
    prog = schedule(env.hp, [layer.fold(env.hp), ...])  # NumPy: every beat
    await env.run(prog, path="fast", backpressure=0.3)  # or path="cycle" (Driver/Monitor)
    env.finish()                                        # AssertionError on any mismatch

Environment variables (set by ``sim/runner.py``; all optional except the first):

``QMAC_TB_PARAMS``  JSON with the datapath parameters (:class:`~tb.hwparams.HwParams`).
``QMAC_SEED``       base seed (default: cocotb's ``RANDOM_SEED``); each test derives its own
                    generator from (seed, test name), so one test replays alone.
``QMAC_VECTORS``    output vectors for the random testbenches (default 200).
``QMAC_RESULT``     JSON-lines file receiving one record per checked run (vectors, lanes,
                    mismatches, cycles, wall time, first mismatches) for the summary.
``QMAC_BUDGET_S``   wall-clock seconds per random test: :meth:`TbEnv.chunks` keeps running
                    further chunks of ``QMAC_VECTORS`` random vectors (the same generator,
                    continued) while the test has run for less than this (``qmac regress``
                    sets it for Icarus when ``--vectors`` is not given).
``QMAC_CHUNKS``     JSON ``{test: chunks}``: run exactly that many chunks (a replay of a
                    time-budgeted run; overrides ``QMAC_BUDGET_S``).
``QMAC_PLANT``      test-only: ``beat,lane,bit`` flips one captured output bit before the
                    comparison, to prove the checker looks at every lane of every vector.

Crossbar tops (``hp.is_crossbar``): :attr:`TbEnv.xbar` is a :class:`tb.xbar.CrossbarAgent`
— the behavioural analog macro of ``tb/crossbar_model.py`` on the DUT's programming, DAC and
ADC ports — started after reset and running next to either stream path; the model is
``golden.crossbar`` (:class:`tb.model.Model`), protocol violations of the macro's ports
count as mismatches, and each record also carries the crossbar's error against the exact
integer result (``xbar.error``: SQNR, effective bits) and the ADC timing used.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from constraints.seeds import base_seed, seed_key

from .checker import Checker, CheckResult, decode_outputs
from .coverage import lane_bins, stream_bins
from .fastpath import FastPath
from .hwparams import HwParams
from .model import Model
from .schedule import KIND_DATA, Program
from .streams import Driver, Monitor, sticky_bits
from .xbar import CrossbarAgent

__all__ = ["TbEnv", "DEFAULT_VECTORS"]

DEFAULT_VECTORS = 200
PERIOD_NS = 10


class TbEnv:
    """Everything a testbench needs around the harness ``dut``."""

    def __init__(self, dut, test: str):
        self.dut = dut
        self.test = test
        self.hp = HwParams.from_env()
        self.seed = base_seed(default=cocotb.RANDOM_SEED)     # the contract's QMAC_SEED policy
        self.vectors = int(os.environ.get("QMAC_VECTORS") or DEFAULT_VECTORS)
        self.rng = np.random.default_rng(seed_key(self.seed, test))
        self.log = cocotb.log.getChild(test) if hasattr(cocotb.log, "getChild") else cocotb.log
        self.model = Model(self.hp)
        self.fast = FastPath(dut, self.hp, period_ns=PERIOD_NS, log=self.log)
        self.results: list[CheckResult] = []
        self.failures: list[str] = []
        self._result_path = os.environ.get("QMAC_RESULT")
        self._stream_cov: dict | None = None
        self._t_start = time.perf_counter()
        self.budget = float(os.environ.get("QMAC_BUDGET_S") or 0.0)
        fixed = json.loads(os.environ.get("QMAC_CHUNKS") or "{}")
        self.fixed_chunks = int(fixed.get(test, 0)) if isinstance(fixed, dict) else 0
        self.chunk = 0
        self.xbar: CrossbarAgent | None = None
        if self.hp.is_crossbar:
            self.xbar = CrossbarAgent(dut, self.hp, seed=int(self.rng.integers(1 << 31)),
                                      log=self.log)
        self.log.info("qmac test %s: seed=%d vectors=%d config=%s %s R=%d C=%d T=%d "
                      "acc_bits=%d %s %s per_channel=%s", test, self.seed, self.vectors,
                      self.hp.name, self.hp.widths_label, self.hp.rows, self.hp.cols,
                      self.hp.weight_tiles, self.hp.acc_bits, self.hp.overflow,
                      self.hp.rounding, self.hp.per_channel)
        if self.xbar is not None:
            xb = self.hp.crossbar
            self.log.info("crossbar: %d physical columns, %d phases, %d ADCs x %d columns, "
                          "%d-bit ADC (%s, LSB 2^%s), ADC latency %d, settle %d, noise %s; "
                          "%d cycles/vector, latency %d", self.hp.phys_cols, self.hp.phases,
                          self.hp.num_adcs, xb.cols_per_adc, xb.adc_bits,
                          "lossless" if xb.lossless else "lossy",
                          ",".join(map(str, sorted(set(xb.adc_shift)))), xb.adc_latency,
                          xb.dac_settle_cycles, xb.to_dict()["noise"], self.hp.cycles_per_vector(),
                          self.hp.latency)

    def chunks(self):
        """Chunk indices of a random test: one chunk, or — time-budgeted
        (``QMAC_BUDGET_S``) — more while the test has run for less than the budget, or
        exactly ``QMAC_CHUNKS[test]`` (replay). Each chunk draws from the same generator,
        so a count of chunks replays exactly."""
        i = 0
        while True:
            self.chunk = i
            yield i
            i += 1
            if self.fixed_chunks:
                if i >= self.fixed_chunks:
                    return
            elif not self.budget or time.perf_counter() - self._t_start >= self.budget:
                return

    # ------------------------------------------------------------------ reset
    def _idle_inputs(self) -> None:
        d = self.dut
        d.fast_mode.value = 0
        d.fast_go.value = 0
        d.bp_enable.value = 0
        d.bp_seed.value = 1
        d.bp_threshold.value = 0
        d.i_load__valid.value = 0
        d.i_load__payload.value = 0
        d.i_data__valid.value = 0
        d.i_data__payload.value = 0
        d.o_data__ready.value = 0
        if self.xbar is not None:
            self.xbar.idle()

    async def start(self) -> None:
        """Idle every input and reset the DUT (4 cycles)."""
        self._idle_inputs()
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        if self.xbar is not None:
            self.xbar.start()

    # ------------------------------------------------------------------ running programs
    async def run(self, prog: Program, *, path: str = "fast", backpressure: float = 0.0,
                  idle_rate: float = 0.0, label: str = "", check_latency: bool = False,
                  mac_path: bool = False, calibrated: bool = False,
                  stall_pattern=None) -> CheckResult:
        """Run ``prog`` through the DUT (fast path or cycle-driven) and check every lane.

        Crossbar tops: ``mac_path`` compares with the MAC array's golden
        (``golden.datapath.datapath_model``) instead of the crossbar's; ``calibrated`` marks
        a run of the tile as configured (calibrated trims, nominal conditions) whose error
        against the exact integer result ``qmac regress`` reports. ``stall_pattern``
        (cycle path): ``cycle -> bool``, a directed ``o_data`` stall pattern replacing the
        random one (``backpressure`` then only scales the time limits).
        """
        hp = self.hp
        t_sim0 = get_sim_time("ns")
        t0 = time.perf_counter()
        exp = self.model.expected(prog, mac_path=mac_path)
        t_model = time.perf_counter() - t0
        xb = self.xbar
        if xb is not None:
            xb.begin_run()
            self.fast.adc_latency = xb.max_latency
            self.fast.prog_stall = xb.prog_stall
        self._stream_cov = None
        bits, unknown, cycles, wall, extra = await self._drive(
            prog, path, backpressure=backpressure, idle_rate=idle_rate,
            check_latency=check_latency, stall_pattern=stall_pattern)
        if xb is not None and xb.errors:
            extra += [f"crossbar port protocol: {e}" for e in xb.errors]
        bits = self._plant(bits)
        self.last_bits, self.last_unknown, self.last_cycles = bits, unknown, cycles
        got_y, got_ovf = decode_outputs(hp, bits)
        checker = Checker(hp, prog, exp)
        res = checker.check(got_y, got_ovf, got_sticky=sticky_bits(self.dut, hp), unknown=unknown)
        cov = {"lanes": lane_bins(hp, prog, exp, got_y, got_ovf)}
        if self._stream_cov is not None:
            cov["stream"] = self._stream_cov
        if extra:
            res.mismatches += len(extra)
        self.results.append(res)
        sim_ns = get_sim_time("ns") - t_sim0
        name = f"{self.test}[{label}]" if label else self.test
        rate = cycles / wall if wall > 0 else 0.0
        self.log.info("%s: %s path, %s; %d cycles in %.3f s (%.0f cycles/s), model %.3f s",
                      name, path, prog.summary(), cycles, wall, rate, t_model)
        xrec = None if xb is None else self._crossbar_record(
            prog, exp, name, mac_path=mac_path, calibrated=calibrated)
        if res.ok:
            self.log.info("%s: %s", name, res.format().splitlines()[0])
        else:
            text = res.format() + "".join(f"\n  protocol: {e}" for e in extra)
            self.log.error("%s: MISMATCH\n%s", name, text)
            self.failures.append(f"{name}: {res.mismatches} mismatch(es)")
        self._record({
            "test": self.test, "label": label, "path": path, "vectors": res.vectors,
            "lanes": res.lanes, "mismatches": res.mismatches, "cycles": int(cycles),
            "wall": wall, "sim_ns": float(sim_ns), "macs": prog.macs, "seed": self.seed,
            "backpressure": backpressure, "chunk": self.chunk, "first": [m.format() for m in res.first] + extra,
            **({"xbar": xrec} if xrec is not None else {}), "coverage": cov,
        })
        return res

    async def _drive(self, prog: Program, path: str, *, backpressure: float, idle_rate: float,
                     check_latency: bool, stall_pattern=None):
        """Run ``prog`` on the fast or the cycle-driven path; returns ``(bits, unknown,
        cycles, wall, extra)`` (``extra``: problems beside the outputs)."""
        if path == "cycle":
            return await self._run_cycle(prog, backpressure=backpressure, idle_rate=idle_rate,
                                         check_latency=check_latency,
                                         stall_pattern=stall_pattern)
        if stall_pattern is not None:
            raise ValueError("stall_pattern needs path='cycle'")
        if path != "fast":
            raise ValueError(f"path={path!r}; allowed: fast, cycle")
        run = await self.fast.run(prog.stream, backpressure=backpressure,
                                  bp_seed=int(self.rng.integers(1, 1 << 16)))
        extra = ["harness output memory overrun"] if run.overrun else []
        return run.out_bits, run.unknown, run.cycles, run.wall, extra

    def _crossbar_record(self, prog: Program, exp, name: str, *, mac_path: bool,
                         calibrated: bool) -> dict:
        """What a crossbar run records beside the mismatches (conditions, error vs exact)."""
        hp, xb = self.hp, self.xbar
        xrec = {"adc_latency": xb.adc_latency, "jitter": xb.jitter,
                "prog_stall": xb.prog_stall, "mac_path": mac_path,
                "calibrated": calibrated,
                "cycles_per_vector": hp.cycles_per_vector(xb.adc_latency),
                "data_beats": prog.stream.count(KIND_DATA),
                "lossless": hp.lossless, "ideal": hp.ideal}
        if exp.error is not None:
            xrec["error"] = {k: v.to_dict() for k, v in exp.error.items()}
            self.log.info("%s: crossbar vs exact integer result (%s): dot products %s; "
                          "outputs vs MAC path %s", name, xb.describe(),
                          exp.error["dot"].format(), exp.error["out"].format())
        return xrec

    async def _run_cycle(self, prog: Program, *, backpressure: float, idle_rate: float,
                         check_latency: bool, stall_pattern=None):
        hp, dut = self.hp, self.dut
        dut.fast_mode.value = 0
        mon = Monitor(dut, hp, rng=self.rng, backpressure=backpressure, period_ns=PERIOD_NS,
                      stall_pattern=stall_pattern)
        drv = Driver(dut, hp, rng=self.rng, idle_rate=idle_rate, period_ns=PERIOD_NS)
        c0 = int(get_sim_time("ns")) // PERIOD_NS
        t0 = time.perf_counter()
        mon_task = cocotb.start_soon(mon.run())
        n = len(prog.stream)
        slow = 1.0 / max(0.05, 1.0 - backpressure) / max(0.05, 1.0 - idle_rate)
        adc_lat = self.xbar.max_latency if self.xbar is not None else None
        if self.xbar is not None:
            slow /= max(0.05, 1.0 - self.xbar.prog_stall)
        latency = hp.latency_for(adc_lat)
        limit = int((4 * n + prog.stream.gap_cycles() + n * (latency + 4)) * slow + 2000)
        extra: list[str] = []
        try:
            await with_timeout(drv.run(prog.stream), limit * PERIOD_NS, "ns")
        except Exception as exc:  # SimTimeoutError
            extra.append(f"driver did not finish within {limit} cycles ({type(exc).__name__}); "
                         f"{drv.accepted} of {n} beats accepted")
        # drain: wait for the outstanding outputs, then a few more cycles for extra beats
        want = prog.n_outputs
        waited = 0
        drain_limit = int((latency + 8) * slow * 4 + 100)
        while len(mon.payloads) < want and waited < drain_limit:
            await RisingEdge(dut.clk)
            waited += 1
        await ClockCycles(dut.clk, latency + 4)
        mon_task.cancel()
        dut.o_data__ready.value = 0
        wall = time.perf_counter() - t0
        cycles = int(get_sim_time("ns")) // PERIOD_NS - c0
        extra += mon.errors
        jitter = self.xbar.jitter if self.xbar is not None else 0
        if check_latency and hp.latency and backpressure == 0 and not jitter:
            # crossbar: the manifest's LATENCY assumes the nominal ADC latency; another
            # (fixed) conversion latency shifts it by P·m cycles per extra cycle
            want_lat = hp.latency_for(adc_lat)
            lat = [f - a for a, f in zip(drv.last_accept_cycles, mon.first_valid_cycles)]
            bad = [(i, v) for i, v in enumerate(lat) if v != want_lat]
            if bad:
                i, v = bad[0]
                extra.append(f"latency of output beat {i} was {v} cycles, LATENCY={want_lat} "
                             f"({len(bad)} beats off)")
            # throughput: back-to-back data beats (no load in between) go in every cycle
            # (crossbar: one every cycles-per-vector, docs/crossbar.md §3.4)
            cpv = hp.cycles_per_vector(adc_lat)
            log = drv.accept_log
            gaps = [(b[1] - a[1]) for a, b in zip(log, log[1:])
                    if a[0] == b[0] == KIND_DATA and b[1] - a[1] != cpv]
            if gaps and idle_rate == 0:
                extra.append(f"{len(gaps)} back-to-back data beats were not accepted "
                             f"{cpv} cycle(s) apart (gap {gaps[0]} cycles): throughput "
                             f"< 1/{cpv} per cycle")
        bits = mon.bits()
        c0 = mon.first_cycle or 0
        self._stream_cov = stream_bins(
            hp, mon.trace, [f - c0 for f in mon.first_valid_cycles],
            [(k, last) for (k, _), last in zip(drv.accept_log, drv.accept_last)],
            hp.latency_for(adc_lat))
        return bits, np.zeros(bits.shape[0], bool), cycles, wall, extra

    def _plant(self, bits: np.ndarray) -> np.ndarray:
        """Test-only fault in the *captured* data (``QMAC_PLANT=beat,lane,bit``)."""
        spec = os.environ.get("QMAC_PLANT")
        if not spec or bits.shape[0] == 0:
            return bits
        beat, lane, bit = (int(v) for v in spec.split(","))
        if beat >= bits.shape[0]:
            return bits
        bits = bits.copy()
        pos = lane * self.hp.out_bits + bit
        bits[beat, pos] ^= 1
        self.log.warning("QMAC_PLANT: flipped bit %d of lane %d in output beat %d", bit, lane, beat)
        return bits

    # ------------------------------------------------------------------ results
    def _record(self, rec: dict) -> None:
        if not self._result_path:
            return
        with open(self._result_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def finish(self) -> None:
        """Fail the cocotb test if any run had mismatches."""
        total = sum(r.vectors for r in self.results)
        self.log.info("%s: %d output vectors checked in %d run(s), seed=%d", self.test, total,
                      len(self.results), self.seed)
        if self.failures:
            raise AssertionError("; ".join(self.failures) + f" (seed={self.seed})")
        if total == 0:
            raise AssertionError(f"{self.test}: no output vectors were checked")


def result_records(path: str | Path) -> list[dict]:
    """Read the JSON-lines records a test run wrote (used by sim/regress.py)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
