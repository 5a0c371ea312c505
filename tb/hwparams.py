"""Widths and options of the datapath under test, as the testbenches see them.

The testbench never reads YAML (only ``sim/`` does, see docs/design.md): ``sim/runner.py``
writes the resolved configuration plus the generated manifest to a JSON file and passes its
path in ``QMAC_TB_PARAMS``; :meth:`HwParams.from_env` reads it back. All derived widths
follow the address map and port layout of docs/design.md.

Crossbar configurations (a ``crossbar:`` section, docs/crossbar.md) carry a ``crossbar``
dict: the tile's converter parameters (cell/DAC/ADC bits, encodings, per-column ADC LSB
exponents, columns per ADC), the analog non-idealities, the nominal ADC latency and DAC
settle time, and the derived numbers the testbench needs (physical columns, phases, cycles
per vector). ``INDEX_BITS`` then also covers the ``C_phys`` trim registers (region 5).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any

from constraints import CrossbarRecord, PortWidths

__all__ = ["HwParams", "PARAMS_ENV", "crossbar_params"]

PARAMS_ENV = "QMAC_TB_PARAMS"


@dataclasses.dataclass(frozen=True)
class HwParams(PortWidths):
    """Parameters of the generated top as the testbench sees them. Every width is the
    contract's (:class:`constraints.PortWidths`, :class:`constraints.CrossbarRecord`):
    nothing is re-derived here."""

    input_bits: int
    weight_bits: int
    input_signed: bool
    weight_signed: bool
    rows: int
    cols: int
    weight_tiles: int
    acc_bits: int
    overflow: str
    out_bits: int
    out_signed: bool
    rounding: str
    per_channel: bool
    latency: int = 0
    name: str = "qmac"
    toplevel: str = ""
    #: crossbar engine parameters (:func:`crossbar_params`), None for the MAC array
    crossbar: dict | None = None

    # ------------------------------------------------------------------ crossbar
    @property
    def is_crossbar(self) -> bool:
        return bool(self.crossbar)

    @functools.cached_property
    def xb(self) -> CrossbarRecord:
        """The crossbar tile as the contract's record (AttributeError for the MAC array)."""
        if not self.crossbar:
            raise AttributeError("not a crossbar configuration")
        xb, noise = self.crossbar, self.crossbar["noise"]
        shift = tuple(int(k) for k in xb["adc_shift"])
        b = int(xb["adc_bits"])
        return CrossbarRecord(
            rows=self.rows, cols=self.cols, cell_bits=int(xb["cell_bits"]),
            weight_encoding=xb["weight_encoding"], dac_bits=int(xb["dac_bits"]),
            input_encoding=xb["input_encoding"], adc_bits=b,
            adc_full_scale=tuple(1 << (b + k) for k in shift), adc_full_scale_auto=False,
            adc_shift=shift, cols_per_adc=int(xb["cols_per_adc"]),
            adc_latency=int(xb["adc_latency"]), dac_settle_cycles=int(xb["dac_settle_cycles"]),
            program_sigma=float(noise["program_sigma"]), read_sigma=float(noise["read_sigma"]),
            adc_offset_sigma=float(noise["adc_offset_sigma"]), seed=int(noise["seed"]),
            input_bits=self.input_bits, weight_bits=self.weight_bits,
            input_signed=self.input_signed, weight_signed=self.weight_signed,
            weight_tiles=self.weight_tiles, clock_mhz=0.0,
            latency_cycles=int(xb.get("latency_cycles", 0)))

    @property
    def phys_cols_or_zero(self) -> int:
        return self.xb.phys_cols if self.crossbar else 0

    phys_cols = property(lambda self: self.xb.phys_cols, doc="``C_phys = C·S·E``.")
    num_adcs = property(lambda self: self.xb.num_adcs)
    phases = property(lambda self: self.xb.phases)
    adc_bits = property(lambda self: self.xb.adc_bits)
    adc_latency = property(lambda self: self.xb.adc_latency,
                           doc="Nominal ADC latency (cycles) the manifest's latency assumes.")
    trim_range = property(lambda self: self.xb.trim_range)
    sel_bits = property(lambda self: self.xb.sel_bits)
    dac_width = property(lambda self: self.xb.dac_width)
    lossless = property(lambda self: self.xb.lossless, doc="B ≥ L and every LSB 1.")

    @property
    def prog_width(self) -> int:
        """``o_prog`` payload: ``{levels: S·E·R·b, col: COL_BITS, tile: TILE_BITS}``."""
        return self.xb.prog_width(self.tile_bits, self.col_bits)

    def cycles_per_vector(self, adc_latency: int | None = None) -> int:
        """Cycles between accepted data beats: 1 for the MAC array, the contract's
        formula for a crossbar whose ADC answers after ``adc_latency`` cycles."""
        return self.xb.cycles_per_vector_at(adc_latency) if self.crossbar else 1

    def latency_for(self, adc_latency: int | None = None) -> int:
        """Cycles from an accepted ``last`` beat to ``o_data.valid`` with no stall, when every
        conversion takes ``adc_latency`` cycles (``LATENCY`` at the nominal latency)."""
        if not self.crossbar or adc_latency is None:
            return self.latency
        return self.latency + self.cycles_per_vector(adc_latency) - self.cycles_per_vector()

    @property
    def ideal(self) -> bool:
        """No analog noise configured (crossbar), always True for the MAC array."""
        return self.xb.ideal if self.crossbar else True

    def xb_spec(self):
        """The tile as a ``golden.crossbar.CrossbarSpec``."""
        from golden.crossbar import CrossbarSpec
        return CrossbarSpec.from_record(self.xb)

    def xb_noise(self):
        """The analog non-idealities as a ``golden.crossbar.CrossbarNoise``."""
        from golden.crossbar import CrossbarNoise
        return CrossbarNoise.from_record(self.xb)

    # ------------------------------------------------------------------ harness sizing
    def harness_depth_bits(self, budget_bits: int = 1 << 25) -> int:
        """Address bits of the harness command/output memories (≤ ``budget_bits`` each)."""
        words = budget_bits // max(self.cmd_width, self.out_width)
        return max(10, min(16, words.bit_length() - 1))

    def harness_parameters(self) -> dict[str, int]:
        """Verilog parameters of ``qmac_harness`` (tb/qmac_harness.sv) for this datapath."""
        aw = self.harness_depth_bits()
        params = {
            "ADDR_BITS": self.addr_bits,
            "LOAD_DATA_BITS": self.load_data_bits,
            "X_BITS": self.x_bits,
            "TILE_BITS": self.tile_bits,
            "Y_BITS": self.y_bits,
            "COLS": self.cols,
            "CMD_AW": aw,
            "OUT_AW": aw,
        }
        if self.crossbar:
            params.update({
                "PROG_W": self.prog_width,
                "DAC_W": self.dac_width,
                "DTILE_W": self.tile_bits,
                "SEL_W": self.sel_bits,
                "NADC": self.num_adcs,
                "ADC_CODE_W": self.num_adcs * self.adc_bits,
            })
        return params

    def expected_port_widths(self) -> dict[str, int]:
        """Widths the generated top's ports must have (checked against the manifest)."""
        ports = {
            "i_load__payload": self.load_width,
            "i_data__payload": self.data_width,
            "o_data__payload": self.out_width,
            "o_ovf_sticky": self.cols,
        }
        if self.crossbar:
            ports.update({
                "o_prog__payload": self.prog_width,
                "dac_codes": self.dac_width,
                "dac_tile": self.tile_bits,
                "adc_sel": self.sel_bits,
                "adc_done": self.num_adcs,
                "adc_code": self.num_adcs * self.adc_bits,
            })
        return ports

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_config_dict(cls, cfg: dict[str, Any], *, latency: int = 0,
                         toplevel: str = "") -> "HwParams":
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: cfg[k] for k in fields if k in cfg}
        for k in ("input_bits", "weight_bits"):     # ``bits``: the shorthand for both
            if kw.get(k) is None:
                kw[k] = cfg["bits"]
        kw["latency"] = int(latency or 0)
        kw["toplevel"] = toplevel
        kw["crossbar"] = crossbar_params(cfg.get("crossbar"), cfg)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HwParams":
        kw = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d}
        for k in ("input_bits", "weight_bits"):     # ``bits``: the shorthand for both
            if k not in kw:
                kw[k] = d["bits"]
        return cls(**kw)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_env(cls) -> "HwParams":
        """Read the parameters ``sim/runner.py`` passed in ``QMAC_TB_PARAMS``."""
        path = os.environ.get(PARAMS_ENV)
        if not path:
            raise RuntimeError(f"{PARAMS_ENV} is not set: run the testbenches through "
                               f"'qmac regress' (sim/regress.py)")
        return cls.from_dict(json.loads(Path(path).read_text()))


def crossbar_params(section: dict | None, cfg: dict[str, Any]) -> dict | None:
    """The testbench's view of a ``crossbar:`` section (JSON-friendly).

    Accepts the contract record's ``to_dict()`` (what ``DatapathConfig.to_dict`` holds: the
    resolved section plus ``derived``) or an already converted dict (which has
    ``adc_shift``). The record is rebuilt with :meth:`constraints.CrossbarRecord.from_dict`
    (the one full-scale → LSB mapping), and its numbers copied.
    """
    if not section:
        return None
    if "adc_shift" in section:
        return dict(section)
    xb = CrossbarRecord.from_dict(section, cfg)
    return {
        "cell_bits": xb.cell_bits, "weight_encoding": xb.weight_encoding,
        "dac_bits": xb.dac_bits, "input_encoding": xb.input_encoding,
        "adc_bits": xb.adc_bits, "adc_shift": list(xb.adc_shift),
        "cols_per_adc": xb.cols_per_adc, "adc_latency": xb.adc_latency,
        "dac_settle_cycles": xb.dac_settle_cycles,
        "noise": {"program_sigma": xb.program_sigma, "read_sigma": xb.read_sigma,
                  "adc_offset_sigma": xb.adc_offset_sigma, "seed": xb.seed},
        "slices": xb.slices, "polarities": xb.polarities, "phys_cols": xb.phys_cols,
        "phases": xb.phases, "num_adcs": xb.num_adcs,
        "lossless_adc_bits": xb.lossless_adc_bits, "lossless": xb.lossless,
        "cycles_per_vector": xb.cycles_per_vector, "latency_cycles": xb.latency_cycles,
    }
