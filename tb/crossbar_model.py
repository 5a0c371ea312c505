"""Behavioural analog crossbar + ADCs for testbenches (``docs/crossbar.md`` §2–§3.1).

Three layers, so the same model serves the Amaranth simulator tests, cocotb and offline
checks:

* :class:`CrossbarMacro` — pure NumPy: holds the programmed cell levels of every tile,
  computes each phase's analog column values from the DAC codes (programming error, read
  noise) and converts them (ADC gain, rounding, clipping, offset) with the functions of
  ``golden/crossbar.py``, so its codes are by construction the golden model's.
* :class:`AdcResponder` — cycle-level, pure Python: fed the DUT's ports once per clock
  cycle, it answers every ``adc_start`` after the configured latency (optionally jittered
  per conversion and per ADC) on ``adc_done`` / ``adc_code`` and checks the protocol: no
  start while conversions are pending, ``adc_sel`` in range and stable, DAC codes valid,
  settled for ``dac_settle_cycles + 1`` cycles and unchanged while converting. Violations
  raise :class:`ProtocolError`.
* :func:`drive_crossbar` — a cocotb coroutine that connects an :class:`AdcResponder` and
  the programming port to a DUT (``CrossbarDatapath`` ports, any prefix).

Read noise is drawn when a phase's first conversion (``adc_sel = 0``) starts, ``C_phys``
normals from one generator, so a DUT that converts beats in the order of
``golden.crossbar.crossbar_layer_psums`` reproduces the golden codes exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from constraints import CrossbarRecord, derive
from golden.crossbar import (
    ANALOG_FRAC_BITS,
    CrossbarNoise,
    adc_offsets_lsb,
    adc_quantize,
    column_values,
    noise_streams,
    program_noise_fx,
    read_noise_fx,
)

__all__ = ["CrossbarMacro", "AdcResponder", "ProtocolError", "ConversionRecord",
           "drive_crossbar", "pack", "unpack"]


class ProtocolError(AssertionError):
    """The DUT violated the DAC/ADC protocol of ``docs/crossbar.md`` §3.1."""


def pack(values, width):
    """Pack non-negative ints (index 0 at the LSB) into one int, ``width`` bits each."""
    word = 0
    for i, v in enumerate(values):
        v = int(v)
        if not 0 <= v < 1 << width:
            raise ValueError(f"value[{i}]={v} is out of range; allowed: [0, {(1 << width) - 1}]")
        word |= v << (i * width)
    return word


def unpack(word, width, count):
    """Inverse of :func:`pack`: ``count`` fields of ``width`` bits, as an int64 array."""
    word = int(word)
    mask = (1 << width) - 1
    return np.array([(word >> (i * width)) & mask for i in range(count)], dtype=np.int64)


class CrossbarMacro:
    """The analog macro: ``T`` tiles of ``R × C_phys`` cells, ``C_phys / m`` ADCs.

    Parameters
    ----------
    spec : constraints.CrossbarRecord
    noise : golden.crossbar.CrossbarNoise, optional
    read_rng : numpy.random.Generator, optional
        Source of read-noise normals; default ``noise_streams(noise.seed)[1]``.
    """

    def __init__(self, spec: CrossbarRecord, noise: CrossbarNoise | None = None, *,
                 read_rng=None):
        self.spec = spec
        self.noise = noise if noise is not None else CrossbarNoise()
        self.levels = np.zeros((spec.weight_tiles, spec.rows, spec.phys_cols), dtype=np.int64)
        self.program_fx = program_noise_fx(spec, self.noise)
        self.offset_lsb = (adc_offsets_lsb(spec, self.noise) if self.noise.adc_offset_sigma
                           else None)
        self.read_rng = read_rng if read_rng is not None else noise_streams(self.noise.seed)[1]
        self.phases_evaluated = 0

    # --- programming --------------------------------------------------------------------
    def program_levels(self, tile, levels):
        """Write a whole tile's levels, shape (R, C_phys)."""
        self.levels[tile] = np.asarray(levels, dtype=np.int64)

    def program_beat(self, tile, col, levels_word):
        """Apply one ``o_prog`` beat: logical column ``col`` of ``tile``;
        ``levels[((s·E + e)·R + r)·b +: b]`` goes to physical column ``(col·S + s)·E + e``."""
        sp = self.spec
        if not 0 <= tile < sp.weight_tiles or not 0 <= col < sp.cols:
            raise ProtocolError(f"o_prog tile={tile}, col={col} is out of range; allowed: "
                                f"tile < {sp.weight_tiles}, col < {sp.cols}")
        fields = unpack(levels_word, sp.cell_bits, sp.slices * sp.polarities * sp.rows)
        fields = fields.reshape(sp.slices * sp.polarities, sp.rows)
        for k in range(sp.slices * sp.polarities):
            self.levels[tile, :, col * sp.slices * sp.polarities + k] = fields[k]

    # --- one phase ------------------------------------------------------------------------
    def phase_values(self, tile, dac_codes):
        """Analog values (fixed point, ``2^-16`` units) of all physical columns for one phase;
        draws the phase's read noise."""
        sp = self.spec
        d = np.asarray(dac_codes, dtype=np.int64)
        read = None
        if self.noise.read_sigma:
            normals = self.read_rng.standard_normal(sp.phys_cols)
            read = read_noise_fx(d, normals, sp, self.noise)
        self.phases_evaluated += 1
        return column_values(d, self.levels[tile], sp, program_fx=self.program_fx[tile],
                             read_fx=read)

    def convert(self, values):
        """ADC codes of every physical column for the given analog values."""
        return adc_quantize(values, self.spec, offset_lsb=self.offset_lsb,
                            frac_bits=ANALOG_FRAC_BITS)


@dataclasses.dataclass
class ConversionRecord:
    """One conversion step as seen by the responder (for timing checks in tests)."""

    start_cycle: int
    sel: int
    tile: int
    done_cycles: tuple


class AdcResponder:
    """Cycle-level ADC behaviour around a :class:`CrossbarMacro`.

    Call once per clock cycle, in this order: :meth:`outputs` (what to drive on
    ``adc_done`` / ``adc_code`` during this cycle), then :meth:`sample` with the DUT's outputs
    in this cycle (the values the next rising edge samples).

    Parameters
    ----------
    macro : CrossbarMacro
    adc_latency : int
        Cycles from the ``adc_start`` cycle to the ``adc_done`` cycle, ``>= 1``.
    jitter : int
        Each ADC's latency of each conversion is ``adc_latency + U{0..jitter}``.
    dac_settle_cycles : int or None
        Checked settling time (None: not checked).
    seed : int
        Seed of the jitter.
    """

    def __init__(self, macro: CrossbarMacro, *, adc_latency=1, jitter=0, dac_settle_cycles=None,
                 seed=0):
        if adc_latency < 1:
            raise ValueError(f"adc_latency={adc_latency} is out of range; allowed: >= 1")
        self.macro = macro
        self.spec = macro.spec
        self.adc_latency = adc_latency
        self.jitter = jitter
        self.settle = dac_settle_cycles
        self.rng = np.random.default_rng(seed)
        self.cycle = 0
        self.pending = {}                      # adc -> (due cycle, code)
        self.step_sel = None
        self.phase_values = None
        self.phase_codes_word = None
        self.phase_tile = None
        self.last_codes = None
        self.codes_changed_at = 0
        self.conversions = []
        self.phase_starts = []                 # cycles of the sel = 0 starts

    def outputs(self):
        """``(adc_done, adc_code)`` integers to drive during the current cycle."""
        done = code = 0
        B = self.spec.adc_bits
        for a, (due, value) in list(self.pending.items()):
            if due == self.cycle:
                done |= 1 << a
                code |= int(value) << (a * B)
                del self.pending[a]
        return done, code

    def sample(self, *, adc_start, adc_sel, dac_codes, dac_tile, dac_valid):
        """Record the DUT's outputs of the current cycle and advance to the next cycle."""
        sp = self.spec
        now = self.cycle
        if dac_codes != self.last_codes:
            if self.pending and self.phase_codes_word is not None:
                raise ProtocolError(f"cycle {now}: dac_codes changed while a conversion was "
                                    f"pending")
            self.last_codes = dac_codes
            self.codes_changed_at = now
        if self.pending and adc_sel != self.step_sel:
            raise ProtocolError(f"cycle {now}: adc_sel changed from {self.step_sel} to "
                                f"{adc_sel} during a conversion")
        if adc_start:
            if self.pending:
                raise ProtocolError(f"cycle {now}: adc_start while {len(self.pending)} "
                                    f"conversions are pending")
            if not dac_valid:
                raise ProtocolError(f"cycle {now}: adc_start with dac_valid low")
            if not 0 <= adc_sel < sp.cols_per_adc:
                raise ProtocolError(f"cycle {now}: adc_sel={adc_sel} is out of range; "
                                    f"allowed: < {sp.cols_per_adc}")
            if self.settle is not None and now - self.codes_changed_at < self.settle + 1:
                raise ProtocolError(f"cycle {now}: adc_start {now - self.codes_changed_at} "
                                    f"cycles after dac_codes changed; allowed: >= "
                                    f"{self.settle + 1}")
            if adc_sel == 0:
                codes = unpack(dac_codes, sp.dac_bits, sp.rows)
                self.phase_values = self.macro.phase_values(dac_tile, codes)
                self.phase_codes_word, self.phase_tile = dac_codes, dac_tile
                self.phase_starts.append(now)
            elif (self.phase_codes_word != dac_codes or self.phase_tile != dac_tile):
                raise ProtocolError(f"cycle {now}: adc_sel={adc_sel} without a preceding "
                                    f"adc_sel=0 conversion of these DAC codes")
            cols = [a * sp.cols_per_adc + adc_sel for a in range(sp.num_adcs)]
            codes = self.macro.convert(self.phase_values)[cols]
            dones = []
            for a in range(sp.num_adcs):
                lat = self.adc_latency + (int(self.rng.integers(0, self.jitter + 1))
                                          if self.jitter else 0)
                self.pending[a] = (now + lat, int(codes[a]))
                dones.append(now + lat)
            self.step_sel = adc_sel
            self.conversions.append(ConversionRecord(now, adc_sel, dac_tile, tuple(dones)))
        self.cycle += 1


async def drive_crossbar(dut, responder: AdcResponder, *, clk=None, prefix="", prog_ready=1):
    """cocotb coroutine: serve the DUT's programming, DAC and ADC ports forever.

    Drives ``adc_done``/``adc_code``/``o_prog__ready`` and samples the DUT outputs once per
    cycle at the falling edge of ``clk`` (the DUT works on the rising edge, so every value
    read is stable and every value written is sampled at the next rising edge). Start it with
    ``cocotb.start_soon(drive_crossbar(dut, responder))`` after reset.

    Parameters
    ----------
    dut : cocotb handle of ``CrossbarDatapath`` (or a wrapper exposing its ports)
    responder : AdcResponder
    clk : handle, optional
        Default ``dut.clk``.
    prefix : str
        Prefix of the crossbar port names in the DUT (e.g. ``"u_dut."`` is not supported;
        pass a sub-handle as ``dut`` instead).
    prog_ready : int
        Value driven on ``o_prog__ready`` (1: the macro programs a column per cycle).
    """
    from cocotb.triggers import FallingEdge

    def port(name):
        return getattr(dut, prefix + name)

    clk = clk if clk is not None else dut.clk
    macro = responder.macro
    sp = macro.spec
    prog = hasattr(dut, prefix + "o_prog__valid")
    if prog:
        port("o_prog__ready").value = prog_ready
    while True:
        await FallingEdge(clk)
        done, code = responder.outputs()
        port("adc_done").value = done
        port("adc_code").value = code
        if prog and prog_ready and int(port("o_prog__valid").value):
            payload = int(port("o_prog__payload").value)
            tile_bits, col_bits = derive.tile_bits(sp.weight_tiles), derive.col_bits(sp.cols)
            tile = payload & ((1 << tile_bits) - 1)
            col = (payload >> tile_bits) & ((1 << col_bits) - 1)
            macro.program_beat(tile, col, payload >> (tile_bits + col_bits))
        responder.sample(
            adc_start=int(port("adc_start").value),
            adc_sel=int(port("adc_sel").value),
            dac_codes=int(port("dac_codes").value),
            dac_tile=int(port("dac_tile").value),
            dac_valid=int(port("dac_valid").value),
        )
