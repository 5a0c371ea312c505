"""The field table: every configuration field once, with its type, default, allowed values
and a one-line doc. It drives the YAML validation (``sim/config.py``,
``sim/crossbar_config.py``) and generates ``constraints/SCHEMA.md`` (``constraints.schema``).

A field's ``lo``/``hi`` are its static bounds (from :mod:`constraints.limits`); bounds that
depend on other fields (``out_bits`` ≤ ``acc_bits``, ``cell_bits`` ≤ N, ...) are checked by
the resolve steps and described in ``allowed`` for the schema.
"""

import dataclasses
import math

from . import limits as L
from .vocab import (INPUT_ENCODINGS, OVERFLOW_POLICIES, PIPELINES, ROUNDINGS,
                    WEIGHT_ENCODINGS)

__all__ = ["Field", "FIELDS", "SECTIONS", "TOP_LEVEL", "DERIVED", "ContractError", "field",
           "section_fields", "show", "check_value", "check_keys", "default_of"]

#: Default of a field whose value is derived from others (the schema says how).
DERIVED = object()
_SHOW_MAX = 60


class ContractError(ValueError):
    """A value outside the contract: ``<field>: <value> is not allowed; allowed: <...>``."""

    def __init__(self, field, value, allowed, *, shown=None):
        self.field, self.value, self.allowed = field, value, allowed
        shown = show(value) if shown is None else shown
        super().__init__(f"{field}: {shown} is not allowed; allowed: {allowed}")


@dataclasses.dataclass(frozen=True)
class Field:
    """One configuration field (``path`` = ``section.key``, or ``key`` at top level)."""

    path: str
    type: str               # int | bool | str | number | choice | identifier | full_scale | mapping
    default: object
    doc: str
    lo: object = None
    hi: object = None
    choices: tuple = ()
    default_doc: str = ""   # how SCHEMA.md shows the default when it is not a plain value
    allowed_doc: str = ""   # how SCHEMA.md shows the allowed values when not lo..hi/choices

    def __post_init__(self):
        if not self.doc.strip() or "\n" in self.doc:
            raise ValueError(f"field {self.path}: every field needs a one-line doc")

    @property
    def section(self):
        return self.path.rpartition(".")[0]

    @property
    def key(self):
        return self.path.rpartition(".")[2]

    def allowed(self):
        """What is allowed, in words (errors and SCHEMA.md)."""
        if self.allowed_doc:
            return self.allowed_doc
        if self.type == "choice":
            return ", ".join(self.choices[:-1]) + " or " + self.choices[-1]
        if self.type == "int":
            return f"an integer in {self.lo}..{self.hi}"
        if self.type == "number":
            return f"a number in [{self.lo}, {self.hi}]"
        return _TYPE_WORDS[self.type]


_TYPE_WORDS = {"int": "an integer", "bool": "true or false", "str": "a string",
               "number": "a number", "identifier": "an identifier", "mapping": "a mapping",
               "choice": "one of the choices", "full_scale": "'auto' or an integer"}

F = Field
FIELDS = (
    # --- top level -------------------------------------------------------------------------
    F("name", "identifier", DERIVED, "Names the generated module `qmac_<name>`; with `--bits N` "
      "different from the file's, `_n<N>` is appended.", default_doc="file name",
      allowed_doc="an ASCII letter followed by up to 63 letters, digits and '_'"),
    F("description", "str", "", "Free text, copied into the manifest and the Verilog header."),
    F("crossbar", "mapping", None, "Present: generate the crossbar (DAC/ADC) engine instead of "
      "the MAC array (`docs/crossbar.md`).", default_doc="absent"),
    # --- operands --------------------------------------------------------------------------
    F("operands.bits", "int", 8, "N: shorthand for both operand widths (`input_bits` = "
      "`weight_bits` = N unless given); `--bits` overrides both.", L.BITS_MIN, L.BITS_MAX),
    F("operands.input_bits", "int", DERIVED, "A: width of the inputs `x` (activations).",
      L.BITS_MIN, L.BITS_MAX, default_doc="N"),
    F("operands.weight_bits", "int", DERIVED, "W: width of the stored weights "
      "`w' = w − w_zp` (the driver subtracts the weight zero point, so `w'` must fit; "
      "b-bit codes with any per-tensor zero point need W = b + 1, e.g. 9 for uint8).",
      L.BITS_MIN, L.BITS_MAX, default_doc="N"),
    F("operands.input_signed", "bool", True, "`x` is two's complement (int8) or unsigned (uint8)."),
    F("operands.weight_signed", "bool", True, "Weights are two's complement or unsigned."),
    # --- array -----------------------------------------------------------------------------
    F("array.rows", "int", 16, "R: input depth per pass (one input vector has R values).",
      1, L.DIM_MAX),
    F("array.cols", "int", 16, "C: output channels computed in parallel (lanes).", 1, L.DIM_MAX),
    F("array.weight_tiles", "int", 16, "T: R×C weight tiles held on chip; a layer with "
      "K ≤ T·R streams its whole batch without reloading weights.", 1, L.TILES_MAX),
    # --- accumulator -----------------------------------------------------------------------
    F("accumulator.guard_bits", "int", DERIVED, "M: the accumulator has `acc_bits = A + W + M` "
      "bits (give at most one of `guard_bits` and `max_depth`).", 0, L.GUARD_BITS_MAX,
      default_doc="from `max_depth`",
      allowed_doc=f"an integer in 0..{L.GUARD_BITS_MAX}, A+W+M ≤ {L.ACC_BITS_MAX}, enough for "
                  f"one pass of R rows"),
    F("accumulator.max_depth", "int", DERIVED, "Smallest K that must never overflow "
      "(worst-case operands, bias not counted); M is the smallest guard width that "
      "guarantees it.", 1, 1 << L.GUARD_BITS_MAX, default_doc="R·T"),
    F("accumulator.overflow", "choice", "wrap", "What the accumulator does when a sum leaves "
      "its range (either way the lane's overflow flag is set); `wrap` with 32 bits is "
      "TFLite's int32 arithmetic.", choices=OVERFLOW_POLICIES),
    # --- requant ---------------------------------------------------------------------------
    F("requant.out_bits", "int", DERIVED, "Width of the requantized output (independent of "
      "the operand widths).", L.OUT_BITS_MIN, None, default_doc="A",     # upper bound min(16, acc_bits): checked when resolved
      allowed_doc=f"an integer in {L.OUT_BITS_MIN}..min({L.OUT_BITS_MAX}, acc_bits)"),
    F("requant.out_signed", "bool", True, "Output is int (`[−2^(b−1), 2^(b−1)−1]`) or uint "
      "(`[0, 2^b−1]`)."),
    F("requant.rounding", "choice", "double", "Fixed-point rounding of `acc·M0·2^shift`: "
      "`double` gemmlowp SRDHM + RoundingDivideByPOT (TFLite reference, TFLite Micro), "
      "`single` TFLITE_SINGLE_ROUNDING / CMSIS-NN, `ruy` TFLite's optimized x86 kernels, "
      "`single16` TFLite's int64 path of the 16x8 kernels (M0 reduced to 15 bits, one "
      "rounding).",
      choices=ROUNDINGS),
    F("requant.per_channel", "bool", True, "One (M0, shift) per output channel, or one shared "
      "pair."),
    # --- timing ----------------------------------------------------------------------------
    F("timing.clock_mhz", "number", 200.0, "Target clock (a target, not a measured figure): "
      "throughput figures in the manifest and the timing constraints file.",
      L.CLOCK_MHZ_MIN, L.CLOCK_MHZ_MAX),
    F("timing.pipeline", "choice", "standard", "Pipeline depth of the MAC-array top: `deep` "
      "registers the weight write (weights read one edge later), registers every adder-tree "
      "level of the MAC array (`standard`: two levels per register; MAC array latency "
      "`3 + ceil(log2 R)` instead of `2 + ceil(ceil(log2 R) / 2)`), "
      "decodes shift and clamp limits in two register levels and registers every multiplier's "
      "operands and product in the FPGA DSP (`qmac synth --target ecp5`: MULT18X18D input and "
      "output registers); `standard` generates the shipped Verilog.", choices=PIPELINES),
    # --- crossbar --------------------------------------------------------------------------
    F("crossbar.rows", "int", DERIVED, "Crossbar rows; must equal `array.rows` (the tile is "
      "the datapath's R×C tile).", 1, L.DIM_MAX, default_doc="array.rows",
      allowed_doc="array.rows"),
    F("crossbar.cols", "int", DERIVED, "Logical crossbar columns; must equal `array.cols`.",
      1, L.DIM_MAX, default_doc="array.cols", allowed_doc="array.cols"),
    F("crossbar.cell_bits", "int", DERIVED, "b: a cell holds a level 0 .. 2^b − 1; a weight "
      "is sliced over S = ceil(W/b) cells.", 1, L.BITS_MAX, default_doc="min(W, 8)",
      allowed_doc="an integer in 1..W"),
    F("crossbar.weight_encoding", "choice", "differential", "`differential`: two cells per "
      "slice, w' = g+ − g−; `offset`: one cell holding w' + 2^(W−1).",
      choices=WEIGHT_ENCODINGS),
    F("crossbar.dac_bits", "int", 1, "v: DAC code width; the A-bit input takes P DAC phases "
      "per vector.", 1, L.BITS_MAX, allowed_doc="an integer in 1..A"),
    F("crossbar.input_encoding", "choice", "twos_complement", "`twos_complement`: a separate "
      "sign phase; `offset`: DAC code x + 2^(A−1), corrected digitally.",
      choices=INPUT_ENCODINGS),
    F("crossbar.adc_bits", "int", DERIVED, "B: ADC resolution.", 1, L.ADC_BITS_MAX,
      default_doc="lossless L"),
    F("crossbar.adc_full_scale", "full_scale", "auto", "Column sum at ADC code 2^B (`auto`, one "
      "power of two, or a list per logical or physical column); sets the LSB 2^k.",
      allowed_doc="'auto' or 2^(B+k), 0 ≤ k ≤ max(0, L−B) + "
                  f"{L.FULL_SCALE_HEADROOM_BITS}, above one cell's contribution"),
    F("crossbar.cols_per_adc", "int", 1, "m: physical columns multiplexed onto one ADC.", 1,
      None, allowed_doc="a divisor of C·S·E"),
    F("crossbar.adc_latency", "int", DERIVED, "Nominal ADC conversion cycles (SAR: one per "
      "bit); the manifest's latency and throughput assume it.", 1, L.ADC_LATENCY_MAX,
      default_doc="adc_bits"),
    F("crossbar.dac_settle_cycles", "int", 1, "Cycles the DAC outputs settle per phase.", 0,
      L.SETTLE_CYCLES_MAX),
    F("crossbar.noise", "mapping", None, "Analog non-idealities (all off by default, seeded).",
      default_doc="ideal"),
    F("crossbar.noise.program_sigma", "number", 0.0, "Programming noise, sigma as a fraction "
      "of the cell's conductance range.", 0.0, L.SIGMA_MAX),
    F("crossbar.noise.read_sigma", "number", 0.0, "Read noise per conversion, same unit.", 0.0,
      L.SIGMA_MAX),
    F("crossbar.noise.adc_offset_sigma", "number", 0.0, "ADC offset per physical column, "
      "sigma in LSB.", 0.0, L.ADC_OFFSET_SIGMA_MAX),
    F("crossbar.noise.seed", "int", 0, "Seed of the noise draws.", 0, L.SEED_MAX),
)
del F

_BY_PATH = {f.path: f for f in FIELDS}
#: Datapath sections in file order (the crossbar section is parsed on its own).
SECTIONS = ("operands", "array", "accumulator", "requant", "timing")
TOP_LEVEL = ("name", "description", *SECTIONS, "crossbar")


def field(path):
    """The :class:`Field` at ``path``."""
    return _BY_PATH[path]


def section_fields(section):
    """Fields directly inside ``section`` ("" for the top level), in table order."""
    return tuple(f for f in FIELDS if f.section == section)


def default_of(path):
    """The table default of ``path`` (``None`` for derived ones)."""
    d = _BY_PATH[path].default
    return None if d is DERIVED else d


def show(value):
    """``repr(value)`` abbreviated to about 60 characters (huge numbers, deep lists)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):      # 400-digit ints: repr limit; deep nesting
        text = f"<{type(value).__name__}>"
    if len(text) > _SHOW_MAX:
        text = f"{text[:_SHOW_MAX - 15]}…{text[-10:]} ({len(text)} chars)"
    return text


def check_keys(section, mapping, fields=None):
    """Every key of ``mapping`` names a field of ``section``."""
    names = [f.key for f in (fields or section_fields(section))]
    if section == "":
        names = list(TOP_LEVEL)
    for key in mapping:
        if not isinstance(key, str) or key not in names:
            text = str(key)
            text = text if len(text) <= _SHOW_MAX else show(text)
            raise ContractError(f"{section}.{text}" if section else text,
                                "unknown key", f"one of {', '.join(names)}")


def check_value(f, value):
    """``value`` checked against field ``f``'s type and static bounds; returns it (a
    ``number`` as float). Rejects ``None``, bools for numbers, nan/inf and out-of-range
    values of any size before converting anything."""
    t = f.type
    if t == "bool":
        if not isinstance(value, bool):
            raise ContractError(f.path, value, "true or false")
        return value
    if t in ("str", "identifier"):
        if not isinstance(value, str):
            raise ContractError(f.path, value, f.allowed() if t == "identifier" else "a string")
        return value
    if t == "choice":
        if not isinstance(value, str) or value not in f.choices:
            raise ContractError(f.path, value, f.allowed())
        return value
    if t == "mapping":
        if not isinstance(value, dict):
            raise ContractError(f.path, value, "a mapping")
        return value
    if t == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ContractError(f.path, value, f.allowed())
        if (f.lo is not None and value < f.lo) or (f.hi is not None and value > f.hi):
            raise ContractError(f.path, value, f.allowed())
        return value
    if t == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        # compare before float(): a 400-digit int compares exactly, float() would overflow
        if not ok or (isinstance(value, float) and not math.isfinite(value)) \
                or not f.lo <= value <= f.hi:
            raise ContractError(f.path, value, f.allowed())
        return float(value)
    return value
