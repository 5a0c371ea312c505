"""The datapath under test as the testbenches see it: the contract's record.

The testbench never reads YAML (only ``sim/`` does, see docs/design.md): ``sim/runner.py``
writes the resolved configuration record (:meth:`constraints.DatapathRecord.to_dict`) plus
the generated top's latency and module name to a JSON file and passes its path in
``QMAC_TB_PARAMS``; :meth:`HwParams.from_env` reads the record back. Every width and
derived number is the record's (:class:`constraints.DatapathRecord`,
:class:`constraints.CrossbarRecord`): nothing is re-derived here.

Crossbar configurations (a ``crossbar:`` section, docs/crossbar.md) carry the tile's record
in ``crossbar``: converter parameters, per-column ADC LSB exponents, noise, nominal ADC
latency and DAC settle time, and the derived numbers (physical columns, phases, cycles per
vector). ``INDEX_BITS`` then also covers the ``C_phys`` trim registers (region 5).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from constraints import CrossbarRecord, DatapathRecord

__all__ = ["HwParams", "PARAMS_ENV"]

PARAMS_ENV = "QMAC_TB_PARAMS"


@dataclasses.dataclass(frozen=True)
class HwParams(DatapathRecord):
    """The configuration record of the generated top plus what only the generator knows:
    ``latency`` (the top's ``LATENCY``) and ``toplevel`` (its module name)."""

    latency: int = 0
    toplevel: str = ""

    @classmethod
    def from_record(cls, record: DatapathRecord, *, latency: int = 0,
                    toplevel: str = "") -> "HwParams":
        """``record`` as the testbench's parameters."""
        fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(DatapathRecord)}
        return cls(**fields, latency=int(latency or 0), toplevel=toplevel or record.toplevel)

    # ------------------------------------------------------------------ crossbar
    @property
    def xb(self) -> CrossbarRecord:
        """The crossbar tile's record (AttributeError for the MAC array)."""
        if self.crossbar is None:
            raise AttributeError("not a crossbar configuration")
        return self.crossbar

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

    def xb_spec(self) -> CrossbarRecord:
        """The tile as ``golden.crossbar`` takes it: the contract's record."""
        return self.xb

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
        """From a record's plain-data form (:meth:`constraints.DatapathRecord.to_dict`)."""
        return cls.from_record(DatapathRecord.from_dict(cfg), latency=latency,
                               toplevel=toplevel)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HwParams":
        """From :meth:`to_dict` (the record's plain-data form plus ``latency`` and
        ``toplevel``)."""
        return cls.from_config_dict(d, latency=d.get("latency", 0),
                                    toplevel=d.get("toplevel", ""))

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
