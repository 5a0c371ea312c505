"""Frozen parameter records: the resolved parameters of a datapath and of its crossbar tile,
and every value derived from them (as properties, one formula each in
:mod:`constraints.derive`). ``sim`` builds them from YAML, ``hw`` tops check their widths
against them, ``tb`` and ``golden`` read them.

:class:`PortWidths` holds the port/load-map widths; :class:`DatapathRecord` and the
testbench's ``tb.hwparams.HwParams`` both inherit it, so no width is written twice.
"""

import dataclasses
import hashlib
import json
from pathlib import PurePath

from . import derive
from .fields import default_of
from .ranges import dot_product_range, int_range

__all__ = ["PortWidths", "DatapathRecord", "CrossbarRecord", "MixedWidthsError",
           "common_bits"]


class MixedWidthsError(ValueError):
    """``.bits`` asked of a configuration whose input and weight widths differ."""


def common_bits(owner, input_bits, weight_bits):
    """The one operand width N of ``owner`` (``input_bits == weight_bits``), or
    :class:`MixedWidthsError` naming both widths."""
    if input_bits != weight_bits:
        raise MixedWidthsError(
            f"{owner}: bits is not defined for input_bits={input_bits}, "
            f"weight_bits={weight_bits}; allowed: equal widths (use input_bits / weight_bits)")
    return input_bits


class OperandWidths:
    """``bits`` (N) of a record with ``input_bits`` (A) and ``weight_bits`` (W): the
    shorthand for both when they are equal; mixed widths raise :class:`MixedWidthsError`,
    so code written for one width cannot silently use the wrong one."""

    @property
    def bits(self):
        return common_bits(type(self).__name__, self.input_bits, self.weight_bits)

    @property
    def mixed(self):
        """True when the input and weight widths differ."""
        return self.input_bits != self.weight_bits

    @property
    def widths_label(self):
        """``N=8`` or ``A=8 W=4`` (summaries, Verilog header)."""
        if self.mixed:
            return f"A={self.input_bits} W={self.weight_bits}"
        return f"N={self.input_bits}"


class PortWidths(OperandWidths):
    """Widths of the load/data/output ports (``docs/design.md``). Needs ``input_bits``,
    ``weight_bits``, ``rows``, ``cols``, ``weight_tiles``, ``acc_bits``, ``out_bits``, the
    three signedness flags and :attr:`phys_cols_or_zero` (0 for the MAC array)."""

    @property
    def phys_cols_or_zero(self):
        return 0

    @property
    def index_bits(self):
        return derive.index_bits(self.weight_tiles, self.cols, self.phys_cols_or_zero)

    @property
    def addr_bits(self):
        return derive.addr_bits(self.index_bits)

    @property
    def load_data_bits(self):
        return derive.load_data_bits(self.rows, self.weight_bits, self.acc_bits)

    @property
    def tile_bits(self):
        return derive.tile_bits(self.weight_tiles)

    @property
    def col_bits(self):
        return derive.col_bits(self.cols)

    @property
    def x_bits(self):
        return self.rows * self.input_bits

    @property
    def y_bits(self):
        return self.cols * self.out_bits

    @property
    def load_width(self):
        return self.addr_bits + self.load_data_bits

    @property
    def data_width(self):
        """``i_data`` payload ``{x, tile, first, last}``."""
        return self.x_bits + self.tile_bits + 2

    @property
    def out_width(self):
        """``o_data`` payload ``{y, ovf}``."""
        return self.y_bits + self.cols

    @property
    def cmd_width(self):
        return derive.cmd_width(self.load_width, self.data_width)

    @property
    def scalar_bits(self):
        """``y_zp``, ``act_min``, ``act_max`` registers: ``out_bits + 1`` bits signed."""
        return self.out_bits + 1

    @property
    def x_range(self):
        return int_range(self.input_bits, self.input_signed)

    @property
    def w_range(self):
        return int_range(self.weight_bits, self.weight_signed)

    @property
    def out_range(self):
        return int_range(self.out_bits, self.out_signed)

    @property
    def acc_range(self):
        return int_range(self.acc_bits, True)


@dataclasses.dataclass(frozen=True)
class CrossbarRecord(OperandWidths):
    """A resolved ``crossbar:`` section (``docs/crossbar.md`` §1) with its derived numbers.

    ``adc_full_scale`` / ``adc_shift`` hold one value per physical column; the context fields
    ``input_bits`` … ``clock_mhz`` are the datapath's (weights are sliced from
    ``weight_bits``, DAC phases cut from ``input_bits``). ``latency_cycles`` is the generated top's
    ``LATENCY`` at the nominal ADC latency (filled in by whoever resolves the record from
    the hardware's own latency, 0 when unknown).
    """

    rows: int
    cols: int
    cell_bits: int
    weight_encoding: str
    dac_bits: int
    input_encoding: str
    adc_bits: int
    adc_full_scale: tuple
    adc_full_scale_auto: bool
    adc_shift: tuple
    cols_per_adc: int
    adc_latency: int
    dac_settle_cycles: int
    program_sigma: float
    read_sigma: float
    adc_offset_sigma: float
    seed: int
    input_bits: int
    weight_bits: int
    input_signed: bool
    weight_signed: bool
    weight_tiles: int
    clock_mhz: float
    latency_cycles: int = 0

    # --- geometry (docs/crossbar.md §2) --------------------------------------------------
    slices = property(lambda s: derive.slices(s.weight_bits, s.cell_bits), doc="S = ceil(W / b).")
    polarities = property(lambda s: derive.polarities(s.weight_encoding),
                          doc="E = 2 (differential) or 1 (offset).")
    phys_cols = property(lambda s: derive.phys_cols(s.cols, s.weight_bits, s.cell_bits,
                                                    s.weight_encoding), doc="C_phys = C·S·E.")
    num_adcs = property(lambda s: s.phys_cols // s.cols_per_adc, doc="C_phys / m.")
    sel_bits = property(lambda s: derive.sel_bits(s.cols_per_adc), doc="ADC select width.")
    sign_phase = property(lambda s: derive.sign_phase(s.input_signed, s.input_encoding),
                          doc="The sign bit of two's-complement inputs has a phase of its own.")
    phase_plan = property(lambda s: derive.phase_plan(s.input_bits, s.input_signed, s.dac_bits,
                                                      s.input_encoding),
                          doc="((lsb, width, is_sign), ...) of every DAC phase.")
    phases = property(lambda s: len(s.phase_plan),
                      doc="P = ceil(A/v), or ceil((A−1)/v) + 1 with a sign phase.")
    cell_max = property(lambda s: derive.cell_max(s.dac_bits, s.cell_bits),
                        doc="Largest contribution of one cell, (2^v − 1)·(2^b − 1).")
    column_max = property(lambda s: s.rows * s.cell_max, doc="Ymax = R·(2^v − 1)·(2^b − 1).")
    lossless_adc_bits = property(lambda s: derive.lossless_adc_bits(s.rows, s.dac_bits,
                                                                    s.cell_bits),
                                 doc="L = ceil(log2(Ymax + 1)).")
    lossless = property(lambda s: s.adc_bits >= s.lossless_adc_bits and not any(s.adc_shift),
                        doc="B ≥ L and every column's LSB is 1.")
    trim_range = property(lambda s: int_range(s.adc_bits, True),
                          doc="Per-column ADC offset trim, signed B bits.")
    dac_width = property(lambda s: s.rows * s.dac_bits, doc="``dac_codes`` port width.")
    slice_widths = property(lambda s: derive.slice_widths(s.weight_bits, s.cell_bits),
                            doc="Bits held by slice s (``b``, the top slice ``W − (S−1)·b``).")
    weight_offset = property(lambda s: derive.encoding_offset(s.weight_bits, s.weight_signed,
                                                              s.weight_encoding),
                             doc="G: ``2^(W−1)`` for signed weights in ``offset`` encoding.")
    input_offset = property(lambda s: derive.encoding_offset(s.input_bits, s.input_signed,
                                                             s.input_encoding),
                            doc="``2^(A−1)`` for signed inputs in ``offset`` encoding.")
    phase_bits = property(lambda s: tuple((lo, w) for lo, w, _ in s.phase_plan),
                          doc="``(lsb, width)`` of each phase's digit of the A-bit input.")
    phase_weights = property(lambda s: derive.phase_weights(s.input_bits, s.dac_bits,
                                                            s.phase_plan),
                             doc="ω_p: ``2^lsb``; the sign phase ``−2^(A−v)``.")
    sign_code = property(lambda s: 1 << (s.dac_bits - 1),
                         doc="DAC code of the sign phase for a negative input: the DAC's MSB.")
    adc_lsb = property(lambda s: tuple(1 << k for k in s.adc_shift),
                       doc="LSB of each physical column's conversion, ``2^k_j``.")
    input_range = property(lambda s: int_range(s.input_bits, s.input_signed))
    weight_range = property(lambda s: int_range(s.weight_bits, s.weight_signed))
    psum_range = property(lambda s: dot_product_range(s.input_bits, s.rows, s.input_signed,
                                                      s.weight_signed,
                                                      weight_bits=s.weight_bits),
                          doc="Range of an exact dot product of R terms.")

    @property
    def ideal(self):
        """No noise configured."""
        return not (self.program_sigma or self.read_sigma or self.adc_offset_sigma)

    def cycles_per_vector_at(self, adc_latency=None):
        """Cycles between accepted vectors when a conversion takes ``adc_latency`` cycles
        (default: the nominal :attr:`adc_latency`)."""
        lc = self.adc_latency if adc_latency is None else int(adc_latency)
        return derive.cycles_per_vector(self.phases, self.cols_per_adc, lc,
                                        self.dac_settle_cycles)

    cycles_per_vector = property(cycles_per_vector_at, doc="Throughput at the nominal latency.")

    def prog_width(self, tile_bits, col_bits):
        """``o_prog`` payload ``{levels: S·E·R·b, col, tile}``."""
        return tile_bits + col_bits + self.slices * self.polarities * self.rows * self.cell_bits

    def top_parameters(self):
        """The crossbar keyword parameters of ``hw.crossbar_datapath.CrossbarDatapath``."""
        return dict(cell_bits=self.cell_bits, weight_encoding=self.weight_encoding,
                    dac_bits=self.dac_bits, input_encoding=self.input_encoding,
                    adc_bits=self.adc_bits, adc_shift=tuple(self.adc_shift),
                    cols_per_adc=self.cols_per_adc, dac_settle_cycles=self.dac_settle_cycles,
                    adc_latency=self.adc_latency)

    def hw_params(self, cfg):
        """Every keyword parameter of ``CrossbarDatapath``: ``cfg``'s plus the tile's."""
        params = {k: v for k, v in cfg.hw_params().items() if k != "pipeline"}  # MAC top only
        return {**params, **self.top_parameters()}

    # --- plain data ----------------------------------------------------------------------
    #: The parameters of a bare tile (what ``golden.crossbar.crossbar_tile`` takes).
    TILE_PARAMETERS = ("input_bits", "weight_bits", "input_signed", "weight_signed", "rows",
                       "cols", "cell_bits", "weight_encoding", "dac_bits", "input_encoding",
                       "adc_bits", "adc_shift", "cols_per_adc", "weight_tiles")

    def tile_parameters(self):
        """``{name: value}`` of :data:`TILE_PARAMETERS`."""
        return {k: getattr(self, k) for k in self.TILE_PARAMETERS}

    @classmethod
    def for_tile(cls, *, adc_shift, adc_full_scale_auto, **tile):
        """A record of a bare tile (:data:`TILE_PARAMETERS`, ``adc_shift`` one exponent per
        physical column): the full scales ``2^(B + k)`` follow from the shifts; nominal
        ADC latency ``adc_bits``, the table's settle cycles, no noise, no clock."""
        b = tile["adc_bits"]
        return cls(adc_shift=tuple(adc_shift), adc_full_scale_auto=adc_full_scale_auto,
                   adc_full_scale=tuple(1 << (b + k) for k in adc_shift), adc_latency=b,
                   dac_settle_cycles=default_of("crossbar.dac_settle_cycles"),
                   program_sigma=0.0, read_sigma=0.0, adc_offset_sigma=0.0, seed=0,
                   clock_mhz=0.0, **tile)

    def to_dict(self):
        """The section as configured (resolved) plus the derived numbers."""
        fs = "auto" if self.adc_full_scale_auto else list(self.adc_full_scale)
        return {
            "rows": self.rows, "cols": self.cols, "cell_bits": self.cell_bits,
            "weight_encoding": self.weight_encoding, "dac_bits": self.dac_bits,
            "input_encoding": self.input_encoding, "adc_bits": self.adc_bits,
            "adc_full_scale": fs, "cols_per_adc": self.cols_per_adc,
            "adc_latency": self.adc_latency, "dac_settle_cycles": self.dac_settle_cycles,
            "noise": {"program_sigma": self.program_sigma, "read_sigma": self.read_sigma,
                      "adc_offset_sigma": self.adc_offset_sigma, "seed": self.seed},
            "derived": self.derived(),
        }

    def derived(self):
        """Derived numbers (manifest ``crossbar.derived``)."""
        shifts = sorted(set(self.adc_shift))
        return {
            "slices": self.slices,
            "polarities": self.polarities,
            "physical_columns": self.phys_cols,
            "phases": self.phases,
            "num_adcs": self.num_adcs,
            "conversions_per_phase": self.cols_per_adc,
            "column_max": self.column_max,
            "lossless_adc_bits": self.lossless_adc_bits,
            "adc_lossless": self.lossless,
            "adc": "lossless" if self.lossless else "lossy",
            "adc_lsb": [1 << k for k in shifts] if len(shifts) > 1 else 1 << shifts[0],
            "adc_full_scale_values": sorted(set(self.adc_full_scale)),
            "cycles_per_vector": self.cycles_per_vector,
            "latency_cycles": self.latency_cycles,
        }

    def manifest(self, cfg):
        """The manifest's ``crossbar`` section; its ``throughput`` replaces the MAC path's."""
        cpv = self.cycles_per_vector
        macs = self.rows * self.cols
        d = self.to_dict()
        d["throughput"] = {
            "cycles_per_vector": cpv,
            "input_vectors_per_cycle": 1.0 / cpv,
            "macs_per_cycle": macs / cpv,
            "vectors_per_second_at_clock": cfg.clock_mhz * 1e6 / cpv,
            "macs_per_second_at_clock": macs * cfg.clock_mhz * 1e6 / cpv,
            "adc_conversions_per_vector": self.phases * self.phys_cols,
            "assumes_adc_latency": self.adc_latency,
        }
        d["latency_cycles"] = self.latency_cycles
        return d

    @classmethod
    def from_dict(cls, section, datapath):
        """The record back from :meth:`to_dict` (e.g. a manifest or ``QMAC_TB_PARAMS``),
        ``datapath`` giving the context fields; the LSB exponents follow the one full-scale
        mapping :func:`constraints.derive.adc_shift_for_full_scale`."""
        d = section["derived"]
        b, lossless_bits, cphys = (int(section["adc_bits"]), int(d["lossless_adc_bits"]),
                                   int(d["physical_columns"]))
        fs = section["adc_full_scale"]
        auto = fs == "auto"
        values = [fs] * cphys if auto or not isinstance(fs, (list, tuple)) else list(fs)
        if len(values) != cphys:
            raise ValueError(f"crossbar.adc_full_scale has {len(values)} entries; expected "
                             f"the {cphys} resolved per-column values")
        shift = tuple(derive.adc_shift_for_full_scale(v, b, lossless_bits) for v in values)
        if auto:
            values = [1 << (b + k) for k in shift]
        noise = section.get("noise") or {}
        return cls(
            rows=int(section["rows"]), cols=int(section["cols"]),
            cell_bits=int(section["cell_bits"]), weight_encoding=section["weight_encoding"],
            dac_bits=int(section["dac_bits"]), input_encoding=section["input_encoding"],
            adc_bits=b, adc_full_scale=tuple(int(v) for v in values), adc_full_scale_auto=auto,
            adc_shift=shift, cols_per_adc=int(section["cols_per_adc"]),
            adc_latency=int(section["adc_latency"]),
            dac_settle_cycles=int(section["dac_settle_cycles"]),
            program_sigma=float(noise.get("program_sigma", 0.0)),
            read_sigma=float(noise.get("read_sigma", 0.0)),
            adc_offset_sigma=float(noise.get("adc_offset_sigma", 0.0)),
            seed=int(noise.get("seed", 0)), **_widths_of(datapath),
            input_signed=bool(datapath["input_signed"]),
            weight_signed=bool(datapath["weight_signed"]),
            weight_tiles=int(datapath["weight_tiles"]),
            clock_mhz=float(datapath.get("clock_mhz", 0.0)),
            latency_cycles=int(d.get("latency_cycles", 0)))


def _widths_of(d):
    """``{input_bits, weight_bits}`` of a plain-data datapath (``bits`` as the shorthand)."""
    a = d.get("input_bits") if d.get("input_bits") is not None else d["bits"]
    w = d.get("weight_bits") if d.get("weight_bits") is not None else d["bits"]
    return {"input_bits": int(a), "weight_bits": int(w)}


@dataclasses.dataclass(frozen=True)
class DatapathRecord(PortWidths):
    """A resolved datapath configuration (``constraints/SCHEMA.md``): the configured
    fields (operand widths ``input_bits`` A and ``weight_bits`` W; ``bits`` is N when they
    are equal), the derived ``guard_bits`` (M), ``acc_bits`` (A + W + M), ``psum_bits``
    (exact dot-product width), ``out_bits`` (default A), ``max_depth`` (largest K that
    cannot overflow), the port widths of :class:`PortWidths`, and the crossbar tile or
    ``None``."""

    name: str
    description: str
    source: str
    input_bits: int
    weight_bits: int
    input_signed: bool
    weight_signed: bool
    rows: int
    cols: int
    weight_tiles: int
    guard_bits: int
    max_depth: int
    overflow: str
    acc_bits: int
    psum_bits: int
    out_bits: int
    out_signed: bool
    rounding: str
    per_channel: bool
    clock_mhz: float
    pipeline: str = "standard"
    crossbar: CrossbarRecord = None

    @property
    def phys_cols_or_zero(self):
        return self.crossbar.phys_cols if self.crossbar is not None else 0

    @property
    def is_crossbar(self):
        return self.crossbar is not None

    def to_dict(self):
        """The resolved configuration as plain data (for manifests and summaries): the
        fields, plus ``bits`` = N (``None`` when the input and weight widths differ)."""
        d = {"bits": None if self.mixed else self.input_bits, **dataclasses.asdict(self)}
        d["source"] = PurePath(self.source).name  # no absolute paths in manifests
        if self.crossbar is not None:
            d["crossbar"] = self.crossbar.to_dict()
        return d

    @classmethod
    def from_dict(cls, d):
        """The record back from :meth:`to_dict` (``bits`` as the shorthand for both widths
        when ``input_bits`` / ``weight_bits`` are missing; the crossbar section through
        :meth:`CrossbarRecord.from_dict`). Extra keys are ignored."""
        names = [f.name for f in dataclasses.fields(cls) if f.name != "crossbar"]
        kw = {**{k: d[k] for k in names if k in d}, **_widths_of(d)}
        xb = d.get("crossbar")
        return cls(**kw, crossbar=CrossbarRecord.from_dict(xb, d) if xb else None)

    @property
    def config_id(self):
        """Short stable hash of everything that affects the generated hardware (one width
        N is hashed as ``bits``, as before the widths were separate, so the id of a
        configuration with equal widths did not change)."""
        d = self.to_dict()
        for k in ("name", "description", "source"):
            d.pop(k)
        if d["pipeline"] == default_of("timing.pipeline"):
            d.pop("pipeline")      # hashed only when not the default: ids from before stay
        for k in (("input_bits", "weight_bits") if not self.mixed else ("bits",)):
            d.pop(k)
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def tag(self):
        """Human-readable unique label, e.g. ``int8-1330209693b8``."""
        return f"{self.name}-{self.config_id}"

    @property
    def toplevel(self):
        """Name of the generated top-level Verilog module."""
        return f"qmac_{self.name}"

    def hw_params(self):
        """Keyword parameters of ``hw.datapath.Datapath`` (the MAC-array top)."""
        return dict(
            input_bits=self.input_bits, weight_bits=self.weight_bits,
            input_signed=self.input_signed, weight_signed=self.weight_signed,
            rows=self.rows, cols=self.cols, weight_tiles=self.weight_tiles,
            acc_bits=self.acc_bits, overflow=self.overflow, out_bits=self.out_bits,
            out_signed=self.out_signed, rounding=self.rounding, per_channel=self.per_channel,
            pipeline=self.pipeline,
        )

    def top_parameters(self):
        """Every keyword parameter of the generated top (MAC array or crossbar)."""
        if self.crossbar is None:
            return self.hw_params()
        return self.crossbar.hw_params(self)

    def operand_range(self, signed):
        """Inclusive integer range of an N-bit operand (equal widths only; else
        :attr:`x_range` / :attr:`w_range`)."""
        return int_range(self.bits, signed)

    def expected_widths(self):
        """The widths the generated top must have (``hw`` tops check themselves against
        these; ``tb`` sizes the harness from them)."""
        w = {"INDEX_BITS": self.index_bits, "ADDR_BITS": self.addr_bits,
             "LOAD_DATA_BITS": self.load_data_bits, "TILE_BITS": self.tile_bits,
             "psum_bits": self.psum_bits, "acc_bits": self.acc_bits, "out_bits": self.out_bits}
        if self.crossbar is not None:
            xb = self.crossbar
            w.update(PHYS_COLS=xb.phys_cols, PHASES=xb.phases, NUM_ADCS=xb.num_adcs,
                     SLICES=xb.slices, POLARITIES=xb.polarities, COL_BITS=self.col_bits,
                     CYCLES_PER_VECTOR=xb.cycles_per_vector)
        return w
