"""Widths and options of the datapath under test, as the testbenches see them.

The testbench never reads YAML (only ``sim/`` does, see docs/design.md): ``sim/runner.py``
writes the resolved configuration plus the generated manifest to a JSON file and passes its
path in ``QMAC_TB_PARAMS``; :meth:`HwParams.from_env` reads it back. All derived widths
follow the address map and port layout of docs/design.md.
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

    # ------------------------------------------------------------------ derived widths
    @property
    def index_bits(self) -> int:
        """``INDEX_BITS = max(2, ceil(log2(max(T·C, 4))))``."""
        return max(2, _clog2(max(self.weight_tiles * self.cols, 4)))

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
        return {
            "ADDR_BITS": self.addr_bits,
            "LOAD_DATA_BITS": self.load_data_bits,
            "X_BITS": self.x_bits,
            "TILE_BITS": self.tile_bits,
            "Y_BITS": self.y_bits,
            "COLS": self.cols,
            "CMD_AW": aw,
            "OUT_AW": aw,
        }

    def expected_port_widths(self) -> dict[str, int]:
        """Widths the generated top's ports must have (checked against the manifest)."""
        return {
            "i_load__payload": self.load_width,
            "i_data__payload": self.data_width,
            "o_data__payload": self.out_width,
            "o_ovf_sticky": self.cols,
        }

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_config_dict(cls, cfg: dict[str, Any], *, latency: int = 0,
                         toplevel: str = "") -> "HwParams":
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: cfg[k] for k in fields if k in cfg}
        kw["latency"] = int(latency or 0)
        kw["toplevel"] = toplevel
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
