"""The fast path: run a whole command stream at simulator speed (issue 6).

NumPy has already prepared every load and data beat (:class:`~tb.schedule.CommandStream`).
:class:`FastPath` writes them as a binary ``$fread`` image, pulses ``fast_go`` on the harness
(tb/qmac_harness.sv) and sleeps until ``fast_done``: the harness's command engine presents the
beats on ``i_load``/``i_data`` honouring ``ready``, captures every ``o_data`` beat into a
memory (optionally with LFSR backpressure on ``o_data.ready``) and dumps it with
``$writememh``. cocotb wakes up once per chunk, not once per cycle. Streams longer than the
harness memories are split into chunks; the DUT state (weights, open accumulations) carries
over between chunks.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np

from cocotb.triggers import RisingEdge, with_timeout

from .hwparams import HwParams
from .schedule import CommandStream, KIND_DATA, KIND_LOAD, hex_to_bits

__all__ = ["FastPath", "FastRun", "CMD_FILE", "OUT_FILE"]

CMD_FILE = "qmac_cmd.bin"
OUT_FILE = "qmac_out.hex"


@dataclasses.dataclass
class FastRun:
    """What one fast-path run returned."""

    out_bits: np.ndarray     # (n, OUT_W) captured o_data payloads
    unknown: np.ndarray      # (n,) rows with X/Z bits
    cycles: int              # clock cycles the engine ran
    stall_cycles: int        # cycles with o_data.valid & ~ready (backpressure)
    wall: float              # seconds of wall time for the simulation part
    chunks: int
    overrun: bool = False

    @property
    def cycles_per_second(self) -> float:
        return self.cycles / self.wall if self.wall > 0 else 0.0


class FastPath:
    """Drive a :class:`CommandStream` through the harness's command engine."""

    def __init__(self, dut, hp: HwParams, workdir: str | Path | None = None, *,
                 period_ns: int = 10, log=None):
        self.dut = dut
        self.hp = hp
        self.workdir = Path(workdir or os.getcwd())
        self.cmd_path = Path(os.environ.get("QMAC_CMD_FILE", self.workdir / CMD_FILE))
        self.out_path = Path(os.environ.get("QMAC_OUT_FILE", self.workdir / OUT_FILE))
        self.depth = 1 << hp.harness_depth_bits()
        self.period_ns = period_ns
        self.log = log
        #: crossbar tops: the longest ADC conversion the behavioural macro currently answers
        #: with (cycles; None = nominal) and its o_prog stall probability (timeouts only)
        self.adc_latency: int | None = None
        self.prog_stall = 0.0

    def _timeout_ns(self, chunk: CommandStream, backpressure: float) -> int:
        """Generous bound: every data beat at the engine's rate (crossbar: cycles per vector
        at the longest ADC latency, docs/crossbar.md §3.4), every load after a full pipeline
        drain (the manifest's latency), gaps, backpressure; ×4 plus a constant."""
        hp = self.hp
        n = len(chunk)
        loads = chunk.count(KIND_LOAD)
        data = chunk.count(KIND_DATA)
        slow = 1.0 / max(0.02, 1.0 - backpressure)
        lat = hp.latency_for(self.adc_latency)
        load_slow = 1.0 / max(0.02, 1.0 - self.prog_stall)
        cycles = (4 * n + chunk.gap_cycles() + loads * (lat + 8) * load_slow
                  + data * hp.cycles_per_vector(self.adc_latency)) * slow + 20000
        return int(cycles * 4) * self.period_ns

    async def run(self, stream: CommandStream, *, backpressure: float = 0.0,
                  bp_seed: int = 1) -> FastRun:
        """Run ``stream``; ``backpressure`` is the probability of ``o_data.ready`` low."""
        dut, hp = self.dut, self.hp
        threshold = int(round(min(max(backpressure, 0.0), 0.99) * 256))
        dut.fast_mode.value = 1
        dut.bp_enable.value = 1 if threshold > 0 else 0
        dut.bp_threshold.value = min(threshold, 255)
        outs, unknowns = [], []
        cycles = stalls = 0
        overrun = False
        chunk_len = self.depth - 1
        wall = 0.0
        chunks = 0
        for start in range(0, max(len(stream), 1), chunk_len):
            chunk = stream.slice(start, start + chunk_len)
            self.cmd_path.write_bytes(chunk.with_end().to_bin())
            if self.out_path.exists():
                self.out_path.unlink()
            dut.bp_seed.value = (bp_seed + 7919 * chunks) & 0xFFFF or 1
            await RisingEdge(dut.clk)
            dut.fast_go.value = 1
            t0 = time.perf_counter()
            await with_timeout(RisingEdge(dut.fast_done), self._timeout_ns(chunk, backpressure), "ns")
            wall += time.perf_counter() - t0
            dut.fast_go.value = 0
            await RisingEdge(dut.clk)
            chunks += 1
            n_out = int(dut.fast_out_count.value)
            cycles += int(dut.fast_cycles.value)
            stalls += int(dut.fast_stall_cycles.value)
            overrun |= bool(int(dut.fast_overrun.value))
            if int(dut.fast_error.value):
                raise RuntimeError(f"harness could not open or load the command file "
                                   f"{self.cmd_path} (see the simulator log)")
            if n_out:
                bits, unk = hex_to_bits(self.out_path.read_text(), hp.out_width)
                outs.append(bits)
                unknowns.append(unk)
        if outs:
            out_bits = np.concatenate(outs)
            unknown = np.concatenate(unknowns)
        else:
            out_bits = np.zeros((0, hp.out_width), np.uint8)
            unknown = np.zeros(0, bool)
        dut.fast_mode.value = 0
        dut.bp_enable.value = 0
        return FastRun(out_bits, unknown, cycles, stalls, wall, chunks, overrun)
