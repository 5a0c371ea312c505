"""Load a datapath configuration (``constraints/*.yaml``) into the contract's record.

The YAML file is the single source of truth for widths and options; every field is in the
field table of ``constraints/fields.py`` (rendered as ``constraints/SCHEMA.md``).
:func:`load_config` reads the file, :func:`resolve_config` validates the plain data against
the table and resolves the derived values, in short named steps, into a frozen
:class:`constraints.DatapathRecord` (``DatapathConfig`` here), or raises
:class:`ConfigError` with one line naming the file, the field, the value (abbreviated) and
what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from constraints import ContractError, DatapathRecord, exact_max_depth, show
from constraints import dot_product_bits as _dot_product_bits
from constraints import fields as F
from constraints import limits as L
from constraints.vocab import OVERFLOW_POLICIES, ROUNDINGS

from .errors import ConfigError
from .inputs import read_yaml

__all__ = ["DatapathConfig", "load_config", "resolve_config", "DEFAULT_CONFIG", "width_args",
           "CONSTRAINTS_DIR", "ROUNDINGS", "OVERFLOW_POLICIES", "exact_max_depth",
           "dot_product_bits"]

CONSTRAINTS_DIR = Path(__file__).resolve().parent.parent / "constraints"
DEFAULT_CONFIG = CONSTRAINTS_DIR / "int8.yaml"

#: The resolved configuration is the contract's record.
DatapathConfig = DatapathRecord
dot_product_bits = _dot_product_bits


def _fail(where: str, field: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{where}: {field}: {show(value)} is not allowed; allowed: {allowed}")


def _contract(where: str, exc: ContractError) -> ConfigError:
    return ConfigError(f"{where}: {exc}")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML would silently keep the last one)."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            dup = key in seen
            seen.add(key)
        except TypeError:                 # a list or mapping used as a key
            raise yaml.constructor.ConstructorError(
                None, None, f"a {type(key).__name__} used as a key (keys are names)",
                key_node.start_mark) from None
        if dup:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              _mapping_without_duplicates)


def _read_yaml(path: Path, where: str) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_StrictLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{where}: YAML syntax error{at}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read file: {exc}") from None


def load_config(path: str | Path | None = None, *, bits: int | None = None) -> DatapathConfig:
    """Read, validate and resolve a datapath configuration.

    Parameters
    ----------
    path : str or Path, optional
        YAML file; default ``constraints/int8.yaml``.
    bits : int, optional
        Override of ``operands.bits`` (N): both operand widths become N (the file's
        ``input_bits`` / ``weight_bits`` too); widths derived from them follow.

    Raises
    ------
    ConfigError
        One line: ``<file>: <field>: <value> is not allowed; allowed: <range>``.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    where = str(path)
    shipped = ", ".join(sorted(p.name for p in CONSTRAINTS_DIR.glob("*.yaml")))
    raw = read_yaml(path, allowed=f"a YAML file, e.g. one of {shipped}")  # sim/inputs.py bounds
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(where, "<top level>", type(raw).__name__, "a mapping of sections")
    return resolve_config(raw, where=where, bits=bits, default_name=path.stem)


# --- resolve steps -------------------------------------------------------------------------
def _read_sections(raw: dict) -> dict[str, Any]:
    """Every datapath field's value, type- and static-range-checked against the field table
    (absent → the table default; derived fields absent → ``None``)."""
    F.check_keys("", raw)
    values: dict[str, Any] = {}
    for section in F.SECTIONS:
        sec = raw.get(section)
        sec = {} if sec is None else sec
        if not isinstance(sec, dict):
            raise ContractError(section, sec, "a mapping")
        F.check_keys(section, sec)
        for f in F.section_fields(section):
            values[f.key] = F.check_value(f, sec[f.key]) if f.key in sec else \
                F.default_of(f.path)
    return values


def _apply_bits(values: dict[str, Any], bits: int | None) -> None:
    """Operand widths: ``input_bits`` / ``weight_bits`` default to ``operands.bits``;
    ``--bits N`` replaces all three (errors name ``--bits``)."""
    if bits is not None:
        try:
            values["bits"] = F.check_value(F.field("operands.bits"), bits)
        except ContractError as exc:
            raise _contract("--bits", exc) from None
        values["input_bits"] = values["weight_bits"] = values["bits"]
    for key in ("input_bits", "weight_bits"):
        if values[key] is None:
            values[key] = values["bits"]


def _widths(v: dict[str, Any]) -> tuple[int, int, str]:
    """``(A, W, label)``: the operand widths and how errors name them (``N=8``, ``A=8 W=4``)."""
    a, w = v["input_bits"], v["weight_bits"]
    return a, w, (f"N={a}" if a == w else f"input_bits={a}, weight_bits={w}")


def _guard_from_depth(v: dict[str, Any], depth: int | None, signs) -> int:
    """M: the smallest guard width whose accumulator holds ``depth`` worst-case products."""
    a, w, label = _widths(v)
    field = "accumulator.max_depth"
    if depth is None:
        depth = v["rows"] * v["weight_tiles"]
        field = f"accumulator.max_depth (derived: rows*weight_tiles = {depth})"
    guard = 0
    while exact_max_depth(a, a + w + guard, *signs, weight_bits=w) < depth:
        guard += 1
    if a + w + guard > L.ACC_BITS_MAX:
        top = exact_max_depth(a, L.ACC_BITS_MAX, *signs, weight_bits=w)
        raise ContractError(field, depth,
                            f"at most {top} for {label} "
                            f"(needs guard_bits={guard}; A+W+M <= {L.ACC_BITS_MAX} bits)")
    return guard


def _resolve_accumulator(v: dict[str, Any]) -> tuple[int, int, int, int]:
    """``(guard_bits, acc_bits, psum_bits, max_depth)``: ``acc_bits = A + W + M``."""
    a, w, label = _widths(v)
    rows, guard, depth = v["rows"], v["guard_bits"], v["max_depth"]
    signs = (v["input_signed"], v["weight_signed"])
    if guard is not None and depth is not None:
        raise ContractError("accumulator.guard_bits", guard,
                            "give guard_bits or max_depth, not both")
    if guard is None:
        guard = _guard_from_depth(v, depth, signs)
    acc_bits = a + w + guard
    if acc_bits > L.ACC_BITS_MAX:
        raise ContractError("accumulator.guard_bits", guard,
                            f"at most {L.ACC_BITS_MAX - a - w} for {label} "
                            f"(A+W+M <= {L.ACC_BITS_MAX} bits)")
    psum_bits = dot_product_bits(a, rows, *signs, weight_bits=w)
    if psum_bits > acc_bits:
        raise ContractError("accumulator.guard_bits", guard,
                            f"at least {psum_bits - a - w} so one pass of {rows} rows fits")
    return guard, acc_bits, psum_bits, exact_max_depth(a, acc_bits, *signs, weight_bits=w)


def _resolve_out_bits(out_bits: int | None, n: int, acc_bits: int) -> int:
    """``out_bits``, default the input width A (the next layer's activations)."""
    out_bits = n if out_bits is None else out_bits
    top = min(L.OUT_BITS_MAX, acc_bits)
    if not L.OUT_BITS_MIN <= out_bits <= top:
        raise ContractError("requant.out_bits", out_bits,
                            f"an integer in {L.OUT_BITS_MIN}..{top} (not wider than the "
                            f"{acc_bits}-bit accumulator, at most {L.OUT_BITS_MAX})")
    return out_bits


def _resolve_name(raw: dict, default_name: str, bits: int | None) -> tuple[str, str]:
    """``(name, description)``; ``--bits`` different from the file's appends ``_n<N>``."""
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(L.NAME_PATTERN, name):
        raise ContractError("name", name, F.field("name").allowed())
    ops = raw.get("operands") or {}
    file_bits = ops.get("bits", F.default_of("operands.bits"))
    file_widths = (ops.get("input_bits", file_bits), ops.get("weight_bits", file_bits))
    if bits is not None and (bits, bits) != file_widths:
        name = f"{name}_n{bits}"      # keep generated module names distinct per width
    desc = F.check_value(F.field("description"), raw.get("description", ""))
    return name, desc.strip()


def width_args(cfg: DatapathConfig) -> list[str]:
    """The ``qmac`` arguments that reproduce ``cfg``'s operand widths from its file:
    ``["--bits", "N"]`` for one width N; none for mixed widths (only a file gives them)."""
    return [] if cfg.mixed else ["--bits", str(cfg.bits)]


def check_budget(cfg: DatapathConfig) -> None:
    """Refuse a configuration whose generation cost exceeds :data:`limits.COST_BUDGET`."""
    xb = cfg.crossbar
    units, what = L.cost_estimate(input_bits=cfg.input_bits, weight_bits=cfg.weight_bits,
                                  rows=cfg.rows, cols=cfg.cols, weight_tiles=cfg.weight_tiles,
                                  phys_cols=xb.phys_cols if xb is not None else None)
    if units > L.COST_BUDGET:
        shown = f"{cfg.widths_label} R={cfg.rows} C={cfg.cols} T={cfg.weight_tiles}"
        raise ContractError("array", shown,
                            f"a configuration within the generation budget of "
                            f"{L.COST_BUDGET} cost units (constraints/SCHEMA.md); this one "
                            f"costs {what}", shown=shown)


def resolve_config(raw: dict, *, where: str = "<config>", bits: int | None = None,
                   default_name: str = "custom") -> DatapathConfig:
    """Validate a configuration given as plain data (already parsed YAML)."""
    try:
        return _resolve(raw, where, bits, default_name)
    except ContractError as exc:
        raise _contract(where, exc) from None


def _resolve(raw: dict, where: str, bits: int | None, default_name: str) -> DatapathConfig:
    v = _read_sections(raw)
    _apply_bits(v, bits)
    guard, acc_bits, psum_bits, max_depth = _resolve_accumulator(v)
    name, desc = _resolve_name(raw, default_name, bits)
    cfg = DatapathConfig(
        name=name, description=desc, source=where, input_bits=v["input_bits"],
        weight_bits=v["weight_bits"], input_signed=v["input_signed"], weight_signed=v["weight_signed"], rows=v["rows"],
        cols=v["cols"], weight_tiles=v["weight_tiles"], guard_bits=guard, max_depth=max_depth,
        overflow=v["overflow"], acc_bits=acc_bits, psum_bits=psum_bits,
        out_bits=_resolve_out_bits(v["out_bits"], v["input_bits"], acc_bits),
        out_signed=v["out_signed"], rounding=v["rounding"], per_channel=v["per_channel"],
        clock_mhz=v["clock_mhz"], pipeline=v["pipeline"])
    if raw.get("crossbar") is not None:
        if cfg.pipeline != F.default_of("timing.pipeline"):
            raise ContractError("timing.pipeline", cfg.pipeline,
                                "standard (the deep pipeline is the MAC array's)")
        from .crossbar_config import parse_crossbar
        cfg = dataclasses.replace(cfg, crossbar=parse_crossbar(raw["crossbar"], cfg, where))
    check_budget(cfg)
    return cfg
