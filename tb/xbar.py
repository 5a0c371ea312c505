"""The analog macro on a crossbar top's ports during a regression (docs/crossbar.md §3.1).

:class:`CrossbarAgent` connects the behavioural crossbar of :mod:`tb.crossbar_model` — a
:class:`~tb.crossbar_model.CrossbarMacro` (cell levels, analog column values, ADC codes via
``golden/crossbar.py``) inside an :class:`~tb.crossbar_model.AdcResponder` (start/done
handshake, latency and jitter, protocol checks) — to the harness ports ``o_prog__*``,
``dac_*`` and ``adc_*`` of ``tb/qmac_harness.sv``. It runs next to either stream path: the
fast path (the harness's command engine drives ``i_load``/``i_data``/``o_data``) or the
cycle-driven Driver/Monitor.

Timing is exactly that of :func:`tb.crossbar_model.drive_crossbar` (one step per clock
cycle at the falling edge: drive ``adc_done``/``adc_code`` for the cycle, then sample the
DUT's outputs of the cycle), with less simulator traffic per cycle: ``dac_codes`` (R·v bits)
is read only after it changed (a value-change trigger marks it), ``adc_sel`` only while a
conversion is pending or starting, and inputs are written only when they change.

Per run (:meth:`CrossbarAgent.begin_run`) the read-noise stream restarts from
``noise_streams(seed)[1]``, as the golden model's does (:class:`tb.model.Model`), so the
macro and golden draw the same normals in the same conversion order.
"""

from __future__ import annotations

import numpy as np

import cocotb
from cocotb.triggers import FallingEdge, ValueChange

from golden.crossbar import noise_streams

from .crossbar_model import AdcResponder, CrossbarMacro, ProtocolError
from .hwparams import HwParams

__all__ = ["CrossbarAgent"]


class CrossbarAgent:
    """Behavioural analog macro + ADCs serving a crossbar DUT through the harness."""

    def __init__(self, dut, hp: HwParams, *, seed: int = 0, log=None):
        self.dut = dut
        self.hp = hp
        self.log = log
        self.spec = hp.xb_spec()
        self.noise = hp.xb_noise()
        self.macro = CrossbarMacro(self.spec, self.noise)
        self.settle = hp.xb.dac_settle_cycles
        self.responder = AdcResponder(self.macro, adc_latency=hp.adc_latency, jitter=0,
                                      dac_settle_cycles=self.settle, seed=seed)
        self.rng = np.random.default_rng([seed, 0x5AB])
        self.prog_stall = 0.0
        self.errors: list[str] = []
        self.prog_beats = 0
        self.prog_stall_cycles = 0
        self._task = None
        self._watch = None
        self._codes_dirty = True
        self._tile_bits = hp.tile_bits
        self._col_bits = hp.col_bits

    # ------------------------------------------------------------------ configuration
    @property
    def adc_latency(self) -> int:
        return self.responder.adc_latency

    @property
    def jitter(self) -> int:
        return self.responder.jitter

    @property
    def max_latency(self) -> int:
        """Longest conversion the responder currently produces (latency + jitter)."""
        return self.responder.adc_latency + self.responder.jitter

    def set_adc(self, *, latency: int | None = None, jitter: int = 0) -> None:
        """Conversion latency (cycles, ``>= 1``; default nominal) and per-ADC jitter
        ``U{0..jitter}`` for the following runs. Only between runs (nothing pending)."""
        lat = self.hp.adc_latency if latency is None else int(latency)
        if lat < 1 or jitter < 0:
            raise ValueError(f"adc latency={lat}, jitter={jitter}; allowed: latency >= 1, "
                             f"jitter >= 0")
        self.responder.adc_latency = lat
        self.responder.jitter = int(jitter)

    def set_prog_stall(self, probability: float) -> None:
        """Probability that ``o_prog.ready`` is low in a cycle (programming backpressure)."""
        self.prog_stall = float(probability)

    def describe(self) -> str:
        s = f"ADC latency {self.adc_latency}"
        if self.jitter:
            s += f"+U{{0..{self.jitter}}}"
        if self.prog_stall:
            s += f", o_prog stall {self.prog_stall:.2f}"
        return s

    # ------------------------------------------------------------------ lifecycle
    def idle(self) -> None:
        d = self.dut
        d.adc_done.value = 0
        d.adc_code.value = 0
        d.o_prog__ready.value = 1

    def begin_run(self) -> None:
        """A new program starts: restart the read-noise stream (as the model does)."""
        if self.responder.pending:
            raise RuntimeError("begin_run with ADC conversions pending")
        self.macro.read_rng = noise_streams(self.noise.seed)[1]
        self.errors.clear()

    def reset(self) -> None:
        """The macro's ADCs are reset with the digital tile (a system reset): conversions in
        flight are dropped, so no ``adc_done`` of a start before the reset arrives after it.
        Call right after the rising edge that applied the DUT's reset."""
        resp = self.responder
        resp.pending.clear()
        resp.step_sel = None
        resp.phase_codes_word = resp.phase_tile = resp.phase_values = None
        self.dut.adc_done.value = 0

    def start(self) -> None:
        """Start serving the ports (call after reset)."""
        if self._task is None:
            self._watch = cocotb.start_soon(self._watch_codes())
            self._task = cocotb.start_soon(self._serve())

    def stop(self) -> None:
        for t in (self._task, self._watch):
            if t is not None and not t.done():
                t.cancel()
        self._task = self._watch = None

    # ------------------------------------------------------------------ the coroutines
    async def _watch_codes(self) -> None:
        trig = ValueChange(self.dut.dac_codes)
        while True:
            await trig
            self._codes_dirty = True

    def _error(self, msg: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(msg)
        if self.log is not None:
            self.log.error("crossbar protocol: %s", msg)

    def _serve_programming(self, ready: int) -> int:
        """One cycle of the programming port: drive ``o_prog.ready`` (``ready``: its value
        now; random stalls with probability ``prog_stall``), then a beat transfers (at the
        next rising edge) if valid is high in this cycle. Returns the ready driven."""
        dut = self.dut
        if self.prog_stall:
            new = 0 if self.rng.random() < self.prog_stall else 1
            if new != ready:
                dut.o_prog__ready.value = new
                ready = new
        elif not ready:
            dut.o_prog__ready.value = 1
            ready = 1
        if not int(dut.o_prog__valid.value):
            return ready
        if not ready:
            self.prog_stall_cycles += 1
            return ready
        payload = int(dut.o_prog__payload.value)
        tile_bits, col_bits = self._tile_bits, self._col_bits
        try:
            self.macro.program_beat(payload & ((1 << tile_bits) - 1),
                                    (payload >> tile_bits) & ((1 << col_bits) - 1),
                                    payload >> (tile_bits + col_bits))
        except ProtocolError as exc:
            self._error(str(exc))
        self.prog_beats += 1
        return ready

    async def _serve(self) -> None:
        dut, resp = self.dut, self.responder
        fe = FallingEdge(dut.clk)
        h_start, h_sel, h_codes = dut.adc_start, dut.adc_sel, dut.dac_codes
        h_tile, h_valid = dut.dac_tile, dut.dac_valid
        h_done, h_code = dut.adc_done, dut.adc_code
        codes = None
        driven_done = False
        ready = 1
        while True:
            await fe
            done, code = resp.outputs()
            if done or driven_done:
                h_done.value = done
                if done:
                    h_code.value = code
                driven_done = bool(done)
            ready = self._serve_programming(ready)
            # the DUT's DAC/ADC outputs of this cycle
            if self._codes_dirty:
                codes = int(h_codes.value)
                self._codes_dirty = False
            start = int(h_start.value)
            if start or resp.pending:
                sel = int(h_sel.value)
                tile = int(h_tile.value) if start else 0
                valid = int(h_valid.value) if start else 1
            else:
                sel = resp.step_sel
                tile, valid = 0, 1
            try:
                resp.sample(adc_start=start, adc_sel=sel, dac_codes=codes, dac_tile=tile,
                            dac_valid=valid)
            except ProtocolError as exc:
                self._error(str(exc))
                # recover: drop what was pending, keep serving
                resp.pending.clear()
                resp.cycle += 1
