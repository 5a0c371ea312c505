"""Cycle-driven stream Driver and Monitor (the protocol path; the bulk path is tb/fastpath.py).

Both work on the harness's pass-through ports (``fast_mode = 0``), which carry the DUT's
own port names. Sampling convention, identical on Icarus and Verilator: inputs are written
right after a rising edge; handshakes are evaluated in the ``ReadOnly`` phase of that cycle,
when everything has settled, and take effect at the next rising edge.

* :class:`Driver` issues a :class:`~tb.schedule.CommandStream` in order — LOAD commands on
  ``i_load``, DATA on ``i_data``, GAP as idle cycles — holding ``valid`` and the payload
  until ``ready``, with optional random idle cycles between beats.
* :class:`Monitor` drives ``o_data.ready`` (random backpressure with a given probability),
  collects every transferred ``o_data`` payload, and checks the stream rules: while
  ``o_data.valid & ~ready`` the beat stays valid and unchanged and ``i_data.ready`` is low
  (global stall, docs/design.md; not for crossbar tops, whose engine keeps converting a
  vector while the output stage is stalled, docs/crossbar.md §3.2).
"""

from __future__ import annotations

import numpy as np

from cocotb.simtime import get_sim_time
from cocotb.triggers import ReadOnly, RisingEdge

from .hwparams import HwParams
from .schedule import CommandStream, KIND_DATA, KIND_END, KIND_GAP, KIND_LOAD

__all__ = ["Driver", "Monitor", "DirectedStalls", "sticky_bits"]


def _cycle(period_ns: int) -> int:
    return int(get_sim_time("ns")) // period_ns


class Driver:
    """Issue load and data beats in order, honouring ``ready``."""

    def __init__(self, dut, hp: HwParams, *, rng: np.random.Generator | None = None,
                 idle_rate: float = 0.0, period_ns: int = 10):
        self.dut = dut
        self.hp = hp
        self.rng = rng
        self.idle_rate = idle_rate
        self.period_ns = period_ns
        self.accepted = 0
        self.last_accept_cycles: list[int] = []
        self.load_accept_cycles: list[int] = []
        self.accept_log: list[tuple[int, int]] = []   # (kind, cycle) of every transfer
        self.accept_last: list[bool] = []               # ``last`` of every transfer (data)

    def idle(self) -> None:
        self.dut.i_load__valid.value = 0
        self.dut.i_data__valid.value = 0

    async def run(self, stream: CommandStream) -> None:
        dut, hp = self.dut, self.hp
        clk = dut.clk
        payloads = stream.payloads()
        kinds = stream.kind
        last_pos = hp.x_bits + hp.tile_bits + 1
        load_mask = (1 << hp.load_width) - 1
        data_mask = (1 << hp.data_width) - 1
        self.idle()
        await RisingEdge(clk)
        i = 0
        while i < len(payloads):
            kind = int(kinds[i])
            if kind == KIND_END:
                break
            if kind == KIND_GAP:
                self.idle()
                for _ in range(max(1, payloads[i] & 0xFFFFFFFF)):
                    await RisingEdge(clk)
                i += 1
                continue
            if self.rng is not None and self.idle_rate > 0 and self.rng.random() < self.idle_rate:
                self.idle()
                await RisingEdge(clk)
                continue
            if kind == KIND_LOAD:
                dut.i_data__valid.value = 0
                dut.i_load__payload.value = payloads[i] & load_mask
                dut.i_load__valid.value = 1
                ready = dut.i_load__ready
            elif kind == KIND_DATA:
                dut.i_load__valid.value = 0
                dut.i_data__payload.value = payloads[i] & data_mask
                dut.i_data__valid.value = 1
                ready = dut.i_data__ready
            else:  # pragma: no cover - kinds are 2 bits
                raise AssertionError(kind)
            await ReadOnly()
            fire = bool(ready.value)
            cycle = _cycle(self.period_ns)
            await RisingEdge(clk)
            if fire:
                if kind == KIND_DATA and (payloads[i] >> last_pos) & 1:
                    self.last_accept_cycles.append(cycle)
                if kind == KIND_LOAD:
                    self.load_accept_cycles.append(cycle)
                self.accept_log.append((kind, cycle))
                self.accept_last.append(kind == KIND_DATA and bool((payloads[i] >> last_pos) & 1))
                self.accepted += 1
                i += 1
        self.idle()


class Monitor:
    """Collect ``o_data`` beats under random backpressure and check the stream rules."""

    def __init__(self, dut, hp: HwParams, *, rng: np.random.Generator | None = None,
                 backpressure: float = 0.0, period_ns: int = 10,
                 check_stall_ready: bool | None = None, stall_pattern=None):
        self.dut = dut
        #: optional ``cycle -> bool`` (cycles counted from the Monitor's start): a directed
        #: ``o_data`` stall pattern in place of the random ``backpressure``
        self.stall_pattern = stall_pattern
        self.hp = hp
        self.rng = rng
        self.backpressure = backpressure
        self.period_ns = period_ns
        # the MAC array's global stall drops i_data.ready while o_data is stalled; a crossbar
        # engine keeps converting (and accepting a vector) until its results back up
        self.check_stall_ready = (not hp.is_crossbar) if check_stall_ready is None \
            else check_stall_ready
        self.payloads: list[int] = []
        self.first_valid_cycles: list[int] = []
        self.errors: list[str] = []
        self.stall_cycles = 0
        self.cycles = 0
        #: ``(o_data.valid, o_data.ready)`` of every cycle from ``first_cycle`` on (coverage)
        self.trace: list[tuple[bool, bool]] = []
        self.first_cycle: int | None = None

    def bits(self) -> np.ndarray:
        """The collected payloads as a bit matrix (n, OUT_W)."""
        w = self.hp.out_width
        nb = -(-w // 8)
        if not self.payloads:
            return np.zeros((0, w), np.uint8)
        by = np.frombuffer(b"".join(p.to_bytes(nb, "little") for p in self.payloads),
                           np.uint8).reshape(-1, nb)
        return np.unpackbits(by, axis=1, bitorder="little")[:, :w]

    def _error(self, msg: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(f"cycle {_cycle(self.period_ns)}: {msg}")

    async def run(self) -> None:
        dut = self.dut
        clk = dut.clk
        held: int | None = None       # payload of a stalled beat, must stay put
        pending_since: int | None = None
        while True:
            if self.stall_pattern is not None:
                stall = bool(self.stall_pattern(self.cycles))
            else:
                stall = (self.rng is not None and self.backpressure > 0
                         and self.rng.random() < self.backpressure)
            dut.o_data__ready.value = 0 if stall else 1
            await ReadOnly()
            self.cycles += 1
            valid = bool(dut.o_data__valid.value)
            if self.first_cycle is None:
                self.first_cycle = _cycle(self.period_ns)
            self.trace.append((valid, not stall))
            if held is not None and not valid:
                self._error("o_data.valid dropped before the beat was accepted")
                held = None
            if valid:
                payload = int(dut.o_data__payload.value)
                if pending_since is None:
                    pending_since = _cycle(self.period_ns)
                if held is not None and payload != held:
                    self._error("o_data.payload changed while stalled")
                if stall:
                    self.stall_cycles += 1
                    held = payload
                    if self.check_stall_ready and bool(dut.i_data__ready.value):
                        self._error("i_data.ready high while o_data is stalled")
                else:
                    self.payloads.append(payload)
                    self.first_valid_cycles.append(pending_since)
                    pending_since = None
                    held = None
            await RisingEdge(clk)


class DirectedStalls:
    """A directed ``o_data`` stall pattern (a :class:`Monitor`'s ``stall_pattern``) that
    follows what the ports did; :meth:`watch` (start it next to the run) samples them every
    cycle (``ReadOnly``) and records ``(o_data.valid, o_data.ready, o_ovf_sticky)`` in
    :attr:`trace`. Modes:

    * ``"full"``: ``ready`` high for one cycle only when no data beat has been accepted for
      ``quiet`` cycles (the input side is backed up), so a release moves a full pipeline by
      one stage and every stall holds each stage next to the following beat;
    * ``"after_accept"``: ``ready`` low exactly in the cycle after each accepted data beat,
      high otherwise.
    """

    def __init__(self, dut, mode: str, *, quiet: int = 0):
        if mode not in ("full", "after_accept"):
            raise ValueError(f"mode={mode!r}; allowed: full, after_accept")
        self.dut, self.mode, self.quiet = dut, mode, quiet
        self.idle = 0                  # cycles since a data beat was accepted or a release
        self.accepted = False          # a data beat was accepted in the last sampled cycle
        self.trace: list[tuple[int, int, int]] = []

    def __call__(self, cycle: int) -> bool:
        if self.mode == "after_accept":
            return self.accepted
        if self.idle >= self.quiet:
            self.idle = 0
            return False
        return True

    async def watch(self) -> None:
        d = self.dut
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            self.accepted = bool(int(d.i_data__valid.value) & int(d.i_data__ready.value))
            self.idle = 0 if self.accepted else self.idle + 1
            self.trace.append((int(d.o_data__valid.value), int(d.o_data__ready.value),
                               int(d.o_ovf_sticky.value)))


def sticky_bits(dut, hp: HwParams) -> np.ndarray:
    """``o_ovf_sticky`` as a bool array (cols,)."""
    v = int(dut.o_ovf_sticky.value)
    return np.array([(v >> c) & 1 for c in range(hp.cols)], bool)

