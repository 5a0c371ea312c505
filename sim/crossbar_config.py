"""The ``crossbar:`` section of a configuration (``docs/crossbar.md`` §1).

:func:`parse_crossbar` validates the section against the already-resolved
:class:`~sim.config.DatapathConfig` and returns a frozen :class:`CrossbarConfig` with every
derived number (lossless ADC bits, lossy flag, slices, phases, physical columns, ADC LSBs,
cycles per vector, latency). Every problem is one :class:`~sim.errors.ConfigError` line::

    <file>: crossbar.<field>: <value> is not allowed; allowed: <...>
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from golden.crossbar import lossless_adc_bits

from .errors import ConfigError

__all__ = ["CrossbarConfig", "parse_crossbar", "CROSSBAR_FIELDS", "NOISE_FIELDS"]

WEIGHT_ENCODINGS = ("differential", "offset")
INPUT_ENCODINGS = ("twos_complement", "offset")
ADC_BITS_MAX = 40
FULL_SCALE_HEADROOM_BITS = 4       # explicit full scale at most 16x the lossless range
ADC_LATENCY_RANGE = (1, 1024)
SETTLE_RANGE = (0, 255)
SIGMA_MAX = 1.0
ADC_OFFSET_SIGMA_MAX = 64.0

#: field → meaning of its default (documented in docs/crossbar.md §1)
CROSSBAR_FIELDS = ("rows", "cols", "cell_bits", "weight_encoding", "dac_bits", "input_encoding",
                   "adc_bits", "adc_full_scale", "cols_per_adc", "adc_latency",
                   "dac_settle_cycles", "noise")
NOISE_FIELDS = ("program_sigma", "read_sigma", "adc_offset_sigma", "seed")


def _fail(where: str, field: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{where}: crossbar.{field}: {value!r} is not allowed; allowed: {allowed}")


def _int(where, field, value, lo, hi, why=""):
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, field, value, f"an integer in {lo}..{hi}{why}")
    if not lo <= value <= hi:
        raise _fail(where, field, value, f"an integer in {lo}..{hi}{why}")
    return value


def _choice(where, field, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise _fail(where, field, value, " or ".join(choices))
    return value


def _real(where, field, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _fail(where, field, value, f"a number in [{lo}, {hi}]")
    return float(value)


@dataclasses.dataclass(frozen=True)
class CrossbarConfig:
    """A validated ``crossbar:`` section with every derived number.

    Configured fields are those of ``docs/crossbar.md`` §1 (``adc_full_scale`` resolved to
    one value per physical column, ``adc_shift`` its LSB exponent ``k_j``); the context
    fields ``bits``, ``input_signed``, ``weight_signed``, ``weight_tiles``, ``clock_mhz``
    are copied from the datapath configuration.
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
    bits: int
    input_signed: bool
    weight_signed: bool
    weight_tiles: int
    clock_mhz: float

    # --- derived (docs/crossbar.md §2): golden.crossbar.CrossbarSpec's, not restated -------
    @functools.cached_property
    def _spec(self):
        return self.spec()

    slices = property(lambda self: self._spec.slices, doc="S = ceil(N / b).")
    polarities = property(lambda self: self._spec.polarities,
                          doc="E = 2 (differential) or 1 (offset).")
    phys_cols = property(lambda self: self._spec.phys_cols, doc="C_phys = C·S·E.")
    num_adcs = property(lambda self: self._spec.num_adcs, doc="C_phys / m.")
    sign_phase = property(lambda self: self._spec.sign_phase,
                          doc="The sign bit of two's-complement inputs has a phase of its own.")
    phases = property(lambda self: self._spec.phases,
                      doc="P = ceil(N/v), or ceil((N−1)/v) + 1 with a sign phase.")
    cell_max = property(lambda self: self._spec.cell_max,
                        doc="Largest contribution of one cell, (2^v − 1)·(2^b − 1).")
    column_max = property(lambda self: self._spec.column_max,
                          doc="Ymax = R·(2^v − 1)·(2^b − 1).")
    lossless_adc_bits = property(lambda self: self._spec.lossless_adc_bits,
                                 doc="L = ceil(log2(R·(2^v − 1)·(2^b − 1) + 1)).")
    lossless = property(lambda self: self._spec.lossless,
                        doc="B ≥ L and every column's LSB is 1.")

    @property
    def cycles_per_vector(self) -> int:
        """Throughput: cycles between accepted vectors (docs/crossbar.md §3.4)."""
        from hw.crossbar_engine import CrossbarEngine
        return CrossbarEngine.cycles_per_vector_for(
            phases=self.phases, cols_per_adc=self.cols_per_adc,
            adc_latency=self.adc_latency, dac_settle_cycles=self.dac_settle_cycles)

    @property
    def latency_cycles(self) -> int:
        """Cycles from an accepted ``last`` beat to its ``o_data.valid`` (no stall)."""
        from hw.crossbar_datapath import CrossbarDatapath
        return CrossbarDatapath.latency_for(
            phases=self.phases, cols_per_adc=self.cols_per_adc,
            adc_latency=self.adc_latency, dac_settle_cycles=self.dac_settle_cycles)

    # --- views ----------------------------------------------------------------------------
    def spec(self):
        """The ``golden.crossbar.CrossbarSpec`` of this tile."""
        from golden.crossbar import CrossbarSpec
        return CrossbarSpec(
            bits=self.bits, input_signed=self.input_signed, weight_signed=self.weight_signed,
            rows=self.rows, cols=self.cols, cell_bits=self.cell_bits,
            weight_encoding=self.weight_encoding, dac_bits=self.dac_bits,
            input_encoding=self.input_encoding, adc_bits=self.adc_bits,
            adc_shift=self.adc_shift, cols_per_adc=self.cols_per_adc, tiles=self.weight_tiles)

    def noise(self):
        """The ``golden.crossbar.CrossbarNoise`` of this tile."""
        from golden.crossbar import CrossbarNoise
        return CrossbarNoise(program_sigma=self.program_sigma, read_sigma=self.read_sigma,
                             adc_offset_sigma=self.adc_offset_sigma, seed=self.seed)

    @property
    def ideal(self) -> bool:
        """No noise configured."""
        return not (self.program_sigma or self.read_sigma or self.adc_offset_sigma)

    def hw_params(self, cfg) -> dict[str, Any]:
        """Keyword parameters of :class:`hw.crossbar_datapath.CrossbarDatapath`."""
        params = cfg.hw_params()
        params.update(
            cell_bits=self.cell_bits, weight_encoding=self.weight_encoding,
            dac_bits=self.dac_bits, input_encoding=self.input_encoding,
            adc_bits=self.adc_bits, adc_shift=tuple(self.adc_shift),
            cols_per_adc=self.cols_per_adc, dac_settle_cycles=self.dac_settle_cycles,
            adc_latency=self.adc_latency)
        return params

    def to_dict(self) -> dict[str, Any]:
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

    def derived(self) -> dict[str, Any]:
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

    def manifest(self, cfg) -> dict[str, Any]:
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


def _full_scale_one(where, field, value, *, adc_bits, lossless_bits):
    """(full scale, k) of one ``adc_full_scale`` entry."""
    kmax = max(0, lossless_bits - adc_bits) + FULL_SCALE_HEADROOM_BITS
    allowed = (f"'auto' or a power of two 2^{adc_bits}..2^{adc_bits + kmax} (2^adc_bits times "
               f"a power-of-two LSB; at most 16x the lossless range 2^{lossless_bits})")
    if value == "auto":
        k = max(0, lossless_bits - adc_bits)
        return 1 << (adc_bits + k), k
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value & (value - 1):
        raise _fail(where, field, value, allowed)
    k = value.bit_length() - 1 - adc_bits
    if not 0 <= k <= kmax:
        raise _fail(where, field, value, allowed)
    return value, k


def parse_crossbar(section: Any, cfg, where: str) -> CrossbarConfig:
    """Validate the ``crossbar:`` section of ``where`` against the resolved ``cfg``.

    Raises
    ------
    ConfigError
        One line ``<file>: crossbar.<field>: <value> is not allowed; allowed: <...>``.
    """
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: crossbar: {section!r} is not allowed; allowed: a mapping "
                          f"with keys {', '.join(CROSSBAR_FIELDS)}")
    for key in section:
        if key not in CROSSBAR_FIELDS:
            raise _fail(where, str(key), "unknown key", f"one of {', '.join(CROSSBAR_FIELDS)}")
    n = cfg.bits
    get = section.get

    rows = get("rows", cfg.rows)
    _int(where, "rows", rows, cfg.rows, cfg.rows,
         " (must equal array.rows: the crossbar tile is the datapath's R×C tile)")
    cols = get("cols", cfg.cols)
    _int(where, "cols", cols, cfg.cols, cfg.cols,
         " (must equal array.cols: the crossbar tile is the datapath's R×C tile)")

    cell_bits = _int(where, "cell_bits", get("cell_bits", min(n, 8)), 1, n,
                     f" (at most operands.bits = {n}: a cell cannot hold more than a weight)")
    weight_encoding = _choice(where, "weight_encoding", get("weight_encoding", "differential"),
                              WEIGHT_ENCODINGS)
    dac_bits = _int(where, "dac_bits", get("dac_bits", 1), 1, n,
                    f" (at most operands.bits = {n})")
    input_encoding = _choice(where, "input_encoding", get("input_encoding", "twos_complement"),
                             INPUT_ENCODINGS)

    slices = -(-n // cell_bits)
    pol = 2 if weight_encoding == "differential" else 1
    cphys = cols * slices * pol
    m = get("cols_per_adc", 1)
    divisors = [d for d in range(1, cphys + 1) if cphys % d == 0]
    shown = ", ".join(map(str, divisors)) if len(divisors) <= 16 else \
        ", ".join(map(str, divisors[:15])) + ", ..."
    what = f"a divisor of the {cphys} physical columns (C·S·E = {cols}·{slices}·{pol}): {shown}"
    if isinstance(m, bool) or not isinstance(m, int) or m < 1 or cphys % m:
        raise _fail(where, "cols_per_adc", m, what)

    lossless_bits = lossless_adc_bits(rows, dac_bits, cell_bits)
    adc_bits = _int(where, "adc_bits", get("adc_bits", lossless_bits), 1, ADC_BITS_MAX)

    cell_max = ((1 << dac_bits) - 1) * ((1 << cell_bits) - 1)
    raw_fs = get("adc_full_scale", "auto")
    auto = raw_fs == "auto"
    if isinstance(raw_fs, list):
        if len(raw_fs) not in (cols, cphys):
            raise _fail(where, "adc_full_scale", raw_fs,
                        f"'auto', one value, or a list of {cols} (per logical column) or "
                        f"{cphys} (per physical column) values")
        entries = [_full_scale_one(where, f"adc_full_scale[{i}]", v, adc_bits=adc_bits,
                                   lossless_bits=lossless_bits) for i, v in enumerate(raw_fs)]
        if len(raw_fs) == cols and cols != cphys:
            entries = [e for e in entries for _ in range(slices * pol)]
        names = [f"adc_full_scale[{i}]" for i in range(len(raw_fs))]
        name_of = (lambda j: names[j // (slices * pol)]) if len(raw_fs) != cphys else \
            (lambda j: names[j])
    else:
        fs, k = _full_scale_one(where, "adc_full_scale", raw_fs, adc_bits=adc_bits,
                                lossless_bits=lossless_bits)
        entries = [(fs, k)] * cphys
        name_of = lambda j: "adc_full_scale"          # noqa: E731

    # an ADC that cannot represent even one cell step (docs/crossbar.md §1)
    for j, (fs, k) in enumerate(entries):
        if fs <= cell_max:
            raise _fail(where, name_of(j), fs,
                        f"> {cell_max}: one fully-on cell, (2^{dac_bits}-1)(2^{cell_bits}-1) = "
                        f"{cell_max}, must not clip the ADC")
        if (1 << k) > 2 * cell_max:
            if auto:
                b_min = adc_bits
                while (1 << max(0, lossless_bits - b_min)) > 2 * cell_max:
                    b_min += 1
                raise _fail(where, "adc_bits", adc_bits,
                            f"{b_min}..{ADC_BITS_MAX} for rows={rows}: with the auto full scale "
                            f"2^{lossless_bits} the LSB 2^{k} exceeds twice one cell's largest "
                            f"contribution {cell_max}, so the ADC could not represent even one "
                            f"cell step")
            fs_max = adc_bits + (2 * cell_max).bit_length() - 1
            raise _fail(where, name_of(j), fs,
                        f"at most 2^{fs_max}: its LSB 2^{k} exceeds "
                        f"twice one cell's largest contribution {cell_max}, so the ADC could "
                        f"not represent even one cell step")

    adc_latency = _int(where, "adc_latency", get("adc_latency", adc_bits), *ADC_LATENCY_RANGE)
    settle = _int(where, "dac_settle_cycles", get("dac_settle_cycles", 1), *SETTLE_RANGE)

    noise = get("noise") or {}
    if not isinstance(noise, dict):
        raise _fail(where, "noise", noise, f"a mapping with keys {', '.join(NOISE_FIELDS)}")
    for key in noise:
        if key not in NOISE_FIELDS:
            raise _fail(where, f"noise.{key}", "unknown key", f"one of {', '.join(NOISE_FIELDS)}")
    program_sigma = _real(where, "noise.program_sigma", noise.get("program_sigma", 0.0), 0.0,
                          SIGMA_MAX)
    read_sigma = _real(where, "noise.read_sigma", noise.get("read_sigma", 0.0), 0.0, SIGMA_MAX)
    adc_offset_sigma = _real(where, "noise.adc_offset_sigma",
                             noise.get("adc_offset_sigma", 0.0), 0.0, ADC_OFFSET_SIGMA_MAX)
    seed = _int(where, "noise.seed", noise.get("seed", 0), 0, 2**63 - 1)

    return CrossbarConfig(
        rows=rows, cols=cols, cell_bits=cell_bits, weight_encoding=weight_encoding,
        dac_bits=dac_bits, input_encoding=input_encoding, adc_bits=adc_bits,
        adc_full_scale=tuple(fs for fs, _ in entries), adc_full_scale_auto=auto,
        adc_shift=tuple(k for _, k in entries), cols_per_adc=m, adc_latency=adc_latency,
        dac_settle_cycles=settle, program_sigma=program_sigma, read_sigma=read_sigma,
        adc_offset_sigma=adc_offset_sigma, seed=seed, bits=n, input_signed=cfg.input_signed,
        weight_signed=cfg.weight_signed, weight_tiles=cfg.weight_tiles,
        clock_mhz=cfg.clock_mhz)
