"""Load and validate a datapath configuration (``constraints/*.yaml``).

The YAML file is the single source of truth for widths and options; every field is
documented in ``constraints/SCHEMA.md``. :func:`load_config` turns it into a frozen
:class:`DatapathConfig` with every derived width resolved, or raises :class:`ConfigError`
with one line naming the file, the field, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from golden.fixedpoint import ROUNDINGS

from .errors import ConfigError
from .inputs import read_yaml

__all__ = ["DatapathConfig", "load_config", "DEFAULT_CONFIG", "CONSTRAINTS_DIR", "ROUNDINGS",
           "OVERFLOW_POLICIES"]

CONSTRAINTS_DIR = Path(__file__).resolve().parent.parent / "constraints"
DEFAULT_CONFIG = CONSTRAINTS_DIR / "int8.yaml"

OVERFLOW_POLICIES = ("wrap", "saturate")
BITS_RANGE = (2, 16)
DIM_RANGE = (1, 256)
TILES_RANGE = (1, 1024)
ACC_BITS_MAX = 48
GUARD_RANGE = (0, 32)
OUT_BITS_MAX = 16

# field -> (type, default); None default means "derived" (see SCHEMA.md)
_SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    "operands": {
        "bits": (int, 8),
        "input_signed": (bool, True),
        "weight_signed": (bool, True),
    },
    "array": {
        "rows": (int, 16),
        "cols": (int, 16),
        "weight_tiles": (int, 16),
    },
    "accumulator": {
        "guard_bits": (int, None),
        "max_depth": (int, None),
        "overflow": (str, "wrap"),
    },
    "requant": {
        "out_bits": (int, None),
        "out_signed": (bool, True),
        "rounding": (str, "double"),
        "per_channel": (bool, True),
    },
    "timing": {
        "clock_mhz": ((int, float), 200.0),
    },
}
_TOP_LEVEL = ("name", "description", *_SCHEMA, "crossbar")


@dataclasses.dataclass(frozen=True)
class DatapathConfig:
    """A validated datapath configuration with all derived widths resolved.

    Attributes mirror ``constraints/SCHEMA.md``; derived ones are noted there:
    ``guard_bits`` (M), ``acc_bits`` (2N + M), ``psum_bits`` (exact dot-product width,
    2N + ceil(log2 R) for signed operands and R a power of two),
    ``out_bits`` (defaults to N), ``max_depth`` (largest accumulation depth that cannot
    overflow the accumulator).
    """

    name: str
    description: str
    source: str
    bits: int
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
    crossbar: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain data (for manifests and summaries)."""
        d = dataclasses.asdict(self)
        d["source"] = Path(self.source).name  # no absolute paths in manifests
        if self.crossbar is not None and hasattr(self.crossbar, "to_dict"):
            d["crossbar"] = self.crossbar.to_dict()
        return d

    @property
    def config_id(self) -> str:
        """Short stable hash of everything that affects the generated hardware."""
        d = self.to_dict()
        for k in ("name", "description", "source"):
            d.pop(k)
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def tag(self) -> str:
        """Human-readable unique label, e.g. ``int8-1330209693b8``."""
        return f"{self.name}-{self.config_id}"

    def hw_params(self) -> dict[str, Any]:
        """Keyword parameters of :class:`hw.datapath.Datapath`."""
        return dict(
            bits=self.bits, input_signed=self.input_signed, weight_signed=self.weight_signed,
            rows=self.rows, cols=self.cols, weight_tiles=self.weight_tiles,
            acc_bits=self.acc_bits, overflow=self.overflow, out_bits=self.out_bits,
            out_signed=self.out_signed, rounding=self.rounding, per_channel=self.per_channel,
        )

    def operand_range(self, signed: bool) -> tuple[int, int]:
        """Inclusive integer range of an N-bit operand."""
        return _int_range(self.bits, signed)

    @property
    def toplevel(self) -> str:
        """Name of the generated top-level Verilog module."""
        return f"qmac_{self.name}"

    @property
    def out_range(self) -> tuple[int, int]:
        """Inclusive integer range of the output."""
        return _int_range(self.out_bits, self.out_signed)


def exact_max_depth(bits: int, acc_bits: int, input_signed: bool, weight_signed: bool) -> int:
    """Largest number of N-bit products whose sum can never leave an ``acc_bits`` accumulator
    (not counting the bias)."""
    xs, ws = _int_range(bits, input_signed), _int_range(bits, weight_signed)
    products = [a * b for a in xs for b in ws]
    hi, lo = max(products), min(products)
    top = (1 << (acc_bits - 1)) - 1
    depth = top // hi if hi > 0 else top
    if lo < 0:
        depth = min(depth, (top + 1) // -lo)
    return depth


def dot_product_bits(bits: int, rows: int, input_signed: bool, weight_signed: bool) -> int:
    """Smallest signed width holding every sum of ``rows`` products of N-bit operands."""
    xs, ws = _int_range(bits, input_signed), _int_range(bits, weight_signed)
    products = [a * b for a in xs for b in ws]
    lo, hi = rows * min(products), rows * max(products)
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def _int_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _fail(where: str, field: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{where}: {field}: {value!r} is not allowed; allowed: {allowed}")


def _check_int(where, field, value, lo, hi):
    if not lo <= value <= hi:
        raise _fail(where, field, value, f"an integer in {lo}..{hi}")
    return value


def _typed(where: str, field: str, value: Any, typ) -> Any:
    names = {int: "an integer", bool: "true or false", str: "a string",
             (int, float): "a number"}
    ok = isinstance(value, typ) and not (typ in (int, (int, float)) and isinstance(value, bool))
    if not ok:
        raise _fail(where, field, value, names.get(typ, str(typ)))
    return value


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML would silently keep the last one)."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              _mapping_without_duplicates)


def load_config(path: str | Path | None = None, *, bits: int | None = None) -> DatapathConfig:
    """Read, validate and resolve a datapath configuration.

    Parameters
    ----------
    path : str or Path, optional
        YAML file; default ``constraints/int8.yaml``.
    bits : int, optional
        Override of ``operands.bits`` (N); widths derived from N follow it.

    Raises
    ------
    ConfigError
        One line: ``<file>: <field>: <value> is not allowed; allowed: <range>``.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    where = str(path)
    raw = read_yaml(path, allowed="a YAML file, e.g. one of " + ", ".join(sorted(p.name for p in CONSTRAINTS_DIR.glob("*.yaml"))))  # noqa: E501 - sim/inputs.py bounds size, depth, aliases
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(where, "<top level>", type(raw).__name__, "a mapping of sections")
    return resolve_config(raw, where=where, bits=bits, default_name=path.stem)


def resolve_config(raw: dict, *, where: str = "<config>", bits: int | None = None,
                   default_name: str = "custom") -> DatapathConfig:
    """Validate a configuration given as plain data (already parsed YAML)."""
    for key in raw:
        if key not in _TOP_LEVEL:
            raise _fail(where, str(key), "unknown key", f"one of {', '.join(_TOP_LEVEL)}")
    v: dict[str, Any] = {}
    for section, fields in _SCHEMA.items():
        sec = raw.get(section)
        sec = {} if sec is None else sec
        if not isinstance(sec, dict):
            raise _fail(where, section, sec, "a mapping")
        for key in sec:
            if key not in fields:
                raise _fail(where, f"{section}.{key}", "unknown key",
                            f"one of {', '.join(fields)}")
        for key, (typ, default) in fields.items():
            val = sec.get(key, default)
            if val is not None:
                val = _typed(where, f"{section}.{key}", val, typ)
            v[key] = val

    if bits is not None:
        if isinstance(bits, bool) or not isinstance(bits, int):
            raise _fail("--bits", "operands.bits", bits, "an integer in 2..16")
        v["bits"] = bits
        where_bits = "--bits"
    else:
        where_bits = where
    n = _check_int(where_bits, "operands.bits", v["bits"], *BITS_RANGE)
    rows = _check_int(where, "array.rows", v["rows"], *DIM_RANGE)
    _check_int(where, "array.cols", v["cols"], *DIM_RANGE)
    _check_int(where, "array.weight_tiles", v["weight_tiles"], *TILES_RANGE)

    if v["overflow"] not in OVERFLOW_POLICIES:
        raise _fail(where, "accumulator.overflow", v["overflow"], " or ".join(OVERFLOW_POLICIES))
    if v["rounding"] not in ROUNDINGS:
        raise _fail(where, "requant.rounding", v["rounding"], ", ".join(ROUNDINGS))

    guard, depth = v["guard_bits"], v["max_depth"]
    signs = (v["input_signed"], v["weight_signed"])
    if guard is not None and depth is not None:
        raise _fail(where, "accumulator.guard_bits", guard,
                    "give guard_bits or max_depth, not both")
    if guard is None:
        field = "accumulator.max_depth"
        if depth is None:
            depth = rows * v["weight_tiles"]
            field = f"accumulator.max_depth (derived: rows*weight_tiles = {depth})"
        _check_int(where, field, depth, 1, 1 << GUARD_RANGE[1])
        guard = 0
        while exact_max_depth(n, 2 * n + guard, *signs) < depth:
            guard += 1
        if 2 * n + guard > ACC_BITS_MAX:
            raise _fail(where, field, depth,
                        f"at most {exact_max_depth(n, ACC_BITS_MAX, *signs)} for N={n} "
                        f"(needs guard_bits={guard}; 2N+M <= {ACC_BITS_MAX} bits)")
    _check_int(where, "accumulator.guard_bits", guard, *GUARD_RANGE)
    acc_bits = 2 * n + guard
    if acc_bits > ACC_BITS_MAX:
        raise _fail(where, "accumulator.guard_bits", guard,
                    f"at most {ACC_BITS_MAX - 2 * n} for N={n} (2N+M <= {ACC_BITS_MAX} bits)")
    psum_bits = dot_product_bits(n, rows, *signs)
    if psum_bits > acc_bits:
        raise _fail(where, "accumulator.guard_bits", guard,
                    f"at least {psum_bits - 2 * n} so one pass of {rows} rows fits")
    max_depth = exact_max_depth(n, acc_bits, *signs)

    out_bits = v["out_bits"] if v["out_bits"] is not None else n
    if not 2 <= out_bits <= min(OUT_BITS_MAX, acc_bits):
        raise _fail(where, "requant.out_bits", out_bits,
                    f"an integer in 2..{min(OUT_BITS_MAX, acc_bits)} (not wider than the "
                    f"{acc_bits}-bit accumulator, at most {OUT_BITS_MAX})")
    clock = float(v["clock_mhz"])
    if not 0 < clock <= 5000:
        raise _fail(where, "timing.clock_mhz", v["clock_mhz"], "a number in (0, 5000]")

    name = raw.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", name):
        raise _fail(where, "name", name, "an ASCII letter followed by up to 63 letters, digits and '_'")
    file_bits = (raw.get("operands") or {}).get("bits", _SCHEMA["operands"]["bits"][1])
    if bits is not None and bits != file_bits:
        name = f"{name}_n{bits}"      # keep generated module names distinct per width
    desc = raw.get("description", "")
    if not isinstance(desc, str):
        raise _fail(where, "description", desc, "a string")

    cfg = DatapathConfig(
        name=name, description=desc.strip(), source=where, bits=n,
        input_signed=v["input_signed"], weight_signed=v["weight_signed"], rows=rows,
        cols=v["cols"], weight_tiles=v["weight_tiles"], guard_bits=guard, max_depth=max_depth,
        overflow=v["overflow"], acc_bits=acc_bits, psum_bits=psum_bits, out_bits=out_bits,
        out_signed=v["out_signed"], rounding=v["rounding"], per_channel=v["per_channel"],
        clock_mhz=clock,
    )
    if "crossbar" in raw and raw["crossbar"] is not None:
        from .crossbar_config import parse_crossbar
        cfg = dataclasses.replace(cfg, crossbar=parse_crossbar(raw["crossbar"], cfg, where))
    return cfg
