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
import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["HwParams", "PARAMS_ENV"]

PARAMS_ENV = "QMAC_TB_PARAMS"


def _clog2(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0


@dataclasses.dataclass(frozen=True)
class HwParams:
    """Parameters of ``hw.datapath.Datapath`` and the port layout derived from them."""

    bits: int
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

    # ------------------------------------------------------------------ derived widths
    @property
    def index_bits(self) -> int:
        """``INDEX_BITS = max(2, ceil(log2(max(T·C, 4))))``; crossbar tops also cover the
        ``C_phys`` trim registers: ``max(2, ceil(log2(max(T·C, C_phys, 4))))``."""
        n = max(self.weight_tiles * self.cols, 4)
        if self.crossbar:
            n = max(n, self.phys_cols)
        return max(2, _clog2(n))

    @property
    def addr_bits(self) -> int:
        return self.index_bits + 3

    @property
    def load_data_bits(self) -> int:
        """``LOAD_DATA_BITS = max(R·N, acc_bits, 32)``."""
        return max(self.rows * self.bits, self.acc_bits, 32)

    @property
    def tile_bits(self) -> int:
        return max(1, _clog2(self.weight_tiles))

    @property
    def x_bits(self) -> int:
        return self.rows * self.bits

    @property
    def y_bits(self) -> int:
        return self.cols * self.out_bits

    @property
    def load_width(self) -> int:
        return self.addr_bits + self.load_data_bits

    @property
    def data_width(self) -> int:
        return self.x_bits + self.tile_bits + 2

    @property
    def out_width(self) -> int:
        return self.y_bits + self.cols

    @property
    def cmd_width(self) -> int:
        """Width of a harness command word: 2 kind bits + the wider payload."""
        return 2 + max(self.load_width, self.data_width)

    @property
    def scalar_bits(self) -> int:
        """``y_zp``, ``act_min``, ``act_max`` are ``out_bits + 1`` bits signed."""
        return self.out_bits + 1

    # ------------------------------------------------------------------ crossbar
    @property
    def is_crossbar(self) -> bool:
        return bool(self.crossbar)

    def _xb(self, key: str):
        if not self.crossbar:
            raise AttributeError(f"{key}: not a crossbar configuration")
        return self.crossbar[key]

    @property
    def phys_cols(self) -> int:
        """``C_phys = C·S·E`` physical columns (crossbar only)."""
        return int(self._xb("phys_cols"))

    @property
    def num_adcs(self) -> int:
        return self.phys_cols // int(self._xb("cols_per_adc"))

    @property
    def phases(self) -> int:
        return int(self._xb("phases"))

    @property
    def adc_bits(self) -> int:
        return int(self._xb("adc_bits"))

    @property
    def adc_latency(self) -> int:
        """Nominal ADC conversion latency (cycles) the manifest's latency assumes."""
        return int(self._xb("adc_latency"))

    @property
    def trim_range(self) -> tuple[int, int]:
        b = self.adc_bits
        return -(1 << (b - 1)), (1 << (b - 1)) - 1

    @property
    def col_bits(self) -> int:
        return max(1, _clog2(self.cols))

    @property
    def sel_bits(self) -> int:
        return max(1, _clog2(int(self._xb("cols_per_adc"))))

    @property
    def dac_width(self) -> int:
        return self.rows * int(self._xb("dac_bits"))

    @property
    def prog_width(self) -> int:
        """``o_prog`` payload: ``{levels: S·E·R·b, col: COL_BITS, tile: TILE_BITS}``."""
        xb = self.crossbar
        levels = int(xb["slices"]) * int(xb["polarities"]) * self.rows * int(xb["cell_bits"])
        return self.tile_bits + self.col_bits + levels

    def cycles_per_vector(self, adc_latency: int | None = None) -> int:
        """Cycles between accepted data beats (docs/crossbar.md §3.4): 1 for the MAC array,
        ``P·(m·(Lc + 1) + settle + 1) + 1`` for a crossbar whose ADC answers after ``Lc``
        cycles (default: the nominal latency)."""
        if not self.crossbar:
            return 1
        xb = self.crossbar
        lc = self.adc_latency if adc_latency is None else int(adc_latency)
        return (int(xb["phases"]) * (int(xb["cols_per_adc"]) * (lc + 1)
                                     + int(xb["dac_settle_cycles"]) + 1) + 1)

    def latency_for(self, adc_latency: int | None = None) -> int:
        """Cycles from an accepted ``last`` beat to ``o_data.valid`` with no stall, when every
        conversion takes ``adc_latency`` cycles (``LATENCY`` at the nominal latency)."""
        if not self.crossbar or adc_latency is None:
            return self.latency
        return self.latency + self.cycles_per_vector(adc_latency) - self.cycles_per_vector()

    @property
    def lossless(self) -> bool:
        """Crossbar ADC lossless (B ≥ L and every LSB 1)."""
        return bool(self._xb("lossless"))

    @property
    def ideal(self) -> bool:
        """No analog noise configured (crossbar), always True for the MAC array."""
        if not self.crossbar:
            return True
        n = self.crossbar["noise"]
        return not (n["program_sigma"] or n["read_sigma"] or n["adc_offset_sigma"])

    def xb_spec(self):
        """The tile as a ``golden.crossbar.CrossbarSpec``."""
        from golden.crossbar import CrossbarSpec
        self._xb("adc_shift")
        xb = self.crossbar
        return CrossbarSpec(
            bits=self.bits, input_signed=self.input_signed, weight_signed=self.weight_signed,
            rows=self.rows, cols=self.cols, cell_bits=int(xb["cell_bits"]),
            weight_encoding=xb["weight_encoding"], dac_bits=int(xb["dac_bits"]),
            input_encoding=xb["input_encoding"], adc_bits=int(xb["adc_bits"]),
            adc_shift=tuple(int(k) for k in xb["adc_shift"]),
            cols_per_adc=int(xb["cols_per_adc"]), tiles=self.weight_tiles)

    def xb_noise(self):
        """The analog non-idealities as a ``golden.crossbar.CrossbarNoise``."""
        from golden.crossbar import CrossbarNoise
        n = self._xb("noise")
        return CrossbarNoise(program_sigma=float(n["program_sigma"]),
                             read_sigma=float(n["read_sigma"]),
                             adc_offset_sigma=float(n["adc_offset_sigma"]), seed=int(n["seed"]))

    # ------------------------------------------------------------------ ranges
    @staticmethod
    def _range(bits: int, signed: bool) -> tuple[int, int]:
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

    @property
    def x_range(self) -> tuple[int, int]:
        return self._range(self.bits, self.input_signed)

    @property
    def w_range(self) -> tuple[int, int]:
        return self._range(self.bits, self.weight_signed)

    @property
    def out_range(self) -> tuple[int, int]:
        return self._range(self.out_bits, self.out_signed)

    @property
    def acc_range(self) -> tuple[int, int]:
        return self._range(self.acc_bits, True)

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
        kw["latency"] = int(latency or 0)
        kw["toplevel"] = toplevel
        kw["crossbar"] = crossbar_params(cfg.get("crossbar"), cfg)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HwParams":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

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
    """The testbench's view of a ``crossbar:`` section.

    Accepts ``sim.crossbar_config.CrossbarConfig.to_dict()`` (what ``DatapathConfig.to_dict``
    holds: the resolved section plus ``derived``) or an already converted dict (which has
    ``adc_shift``). The ADC LSB exponent of physical column j follows docs/crossbar.md §2.4:
    ``auto`` → ``max(0, L − B)``, a full scale ``2^(B+k)`` → k.
    """
    if not section:
        return None
    if "adc_shift" in section:
        return dict(section)
    d = section["derived"]
    b = int(section["adc_bits"])
    lossless_bits = int(d["lossless_adc_bits"])
    cphys = int(d["physical_columns"])
    fs = section["adc_full_scale"]
    if fs == "auto":
        shift = [max(0, lossless_bits - b)] * cphys
    else:
        fs = list(fs) if isinstance(fs, (list, tuple)) else [fs] * cphys
        if len(fs) != cphys:
            raise ValueError(f"crossbar.adc_full_scale has {len(fs)} entries; expected the "
                             f"{cphys} resolved per-column values")
        shift = [int(v).bit_length() - 1 - b for v in fs]
    noise = section.get("noise") or {}
    return {
        "cell_bits": int(section["cell_bits"]),
        "weight_encoding": section["weight_encoding"],
        "dac_bits": int(section["dac_bits"]),
        "input_encoding": section["input_encoding"],
        "adc_bits": b,
        "adc_shift": shift,
        "cols_per_adc": int(section["cols_per_adc"]),
        "adc_latency": int(section["adc_latency"]),
        "dac_settle_cycles": int(section["dac_settle_cycles"]),
        "noise": {"program_sigma": float(noise.get("program_sigma", 0.0)),
                  "read_sigma": float(noise.get("read_sigma", 0.0)),
                  "adc_offset_sigma": float(noise.get("adc_offset_sigma", 0.0)),
                  "seed": int(noise.get("seed", 0))},
        "slices": int(d["slices"]),
        "polarities": int(d["polarities"]),
        "phys_cols": cphys,
        "phases": int(d["phases"]),
        "num_adcs": int(d["num_adcs"]),
        "lossless_adc_bits": lossless_bits,
        "lossless": bool(d["adc_lossless"]),
        "cycles_per_vector": int(d["cycles_per_vector"]),
        "latency_cycles": int(d["latency_cycles"]),
    }
