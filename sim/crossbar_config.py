"""The ``crossbar:`` section of a configuration (``docs/crossbar.md`` §1).

:func:`parse_crossbar` validates the section against the already-resolved datapath record
and the field table (``constraints/fields.py``), in short named steps, and returns the
contract's frozen :class:`constraints.CrossbarRecord` (``CrossbarConfig`` here) with every
derived number. Every problem is one :class:`~sim.errors.ConfigError` line::

    <file>: crossbar.<field>: <value> is not allowed; allowed: <...>
"""

from __future__ import annotations

import dataclasses
from typing import Any

from constraints import ContractError, CrossbarRecord, derive
from constraints import fields as F
from constraints import limits as L

from .errors import ConfigError

__all__ = ["CrossbarConfig", "parse_crossbar", "CROSSBAR_FIELDS", "NOISE_FIELDS"]

CrossbarConfig = CrossbarRecord
CROSSBAR_FIELDS = tuple(f.key for f in F.section_fields("crossbar"))
NOISE_FIELDS = tuple(f.key for f in F.section_fields("crossbar.noise"))


def _get(section: dict, key: str, default: Any, *, lo=None, hi=None, why: str = "") -> Any:
    """``section[key]`` (or ``default``) checked against the table, with the context bounds
    ``lo``..``hi`` (``why`` explains them) when given."""
    f = F.field(f"crossbar.{key}")
    value = section.get(key, default)
    if f.type == "int" and lo is not None:
        f = dataclasses.replace(f, lo=lo, hi=hi, allowed_doc=f"an integer in {lo}..{hi}{why}")
    return F.check_value(f, value)


def _geometry(section: dict, cfg) -> dict[str, Any]:
    """rows, cols (= the datapath's tile), cell/DAC widths and the encodings."""
    a, w = cfg.input_bits, cfg.weight_bits
    same = " (must equal array.{}: the crossbar tile is the datapath's R×C tile)"
    wname = "operands.bits" if a == w else "operands.weight_bits"
    aname = "operands.bits" if a == w else "operands.input_bits"
    return dict(
        rows=_get(section, "rows", cfg.rows, lo=cfg.rows, hi=cfg.rows, why=same.format("rows")),
        cols=_get(section, "cols", cfg.cols, lo=cfg.cols, hi=cfg.cols, why=same.format("cols")),
        cell_bits=_get(section, "cell_bits", min(w, 8), lo=1, hi=w,
                       why=f" (at most {wname} = {w}: a cell cannot hold more than a weight)"),
        weight_encoding=_get(section, "weight_encoding", "differential"),
        dac_bits=_get(section, "dac_bits", 1, lo=1, hi=a, why=f" (at most {aname} = {a})"),
        input_encoding=_get(section, "input_encoding", "twos_complement"))


def _cols_per_adc(section: dict, cphys: int, g: dict, weight_bits: int) -> int:
    m = section.get("cols_per_adc", 1)
    divisors = [d for d in range(1, cphys + 1) if cphys % d == 0]
    shown = ", ".join(map(str, divisors[:16])) if len(divisors) <= 16 else \
        ", ".join(map(str, divisors[:15])) + ", ..."
    slices = derive.slices(weight_bits, g["cell_bits"])
    pol = derive.polarities(g["weight_encoding"])
    what = (f"a divisor of the {cphys} physical columns (C·S·E = {g['cols']}·{slices}·{pol}): "
            f"{shown}")
    if isinstance(m, bool) or not isinstance(m, int) or m < 1 or cphys % m:
        raise ContractError("crossbar.cols_per_adc", m, what)
    return m


def _full_scale_one(field: str, value: Any, adc_bits: int, lossless_bits: int):
    """(full scale, k) of one ``adc_full_scale`` entry (the one mapping in the contract)."""
    try:
        k = derive.adc_shift_for_full_scale(value, adc_bits, lossless_bits)
    except derive.FullScaleError as exc:
        raise ContractError(f"crossbar.{field}", value, exc.allowed) from None
    return 1 << (adc_bits + k), k


def _full_scales(raw_fs: Any, g: dict, cphys: int, adc_bits: int, lossless_bits: int):
    """``[(full scale, k)]`` per physical column and the name of each column's entry."""
    cols, per = g["cols"], cphys // g["cols"]
    if isinstance(raw_fs, list):
        if len(raw_fs) not in (cols, cphys):
            raise ContractError("crossbar.adc_full_scale", raw_fs,
                                f"'auto', one value, or a list of {cols} (per logical column) "
                                f"or {cphys} (per physical column) values")
        entries = [_full_scale_one(f"adc_full_scale[{i}]", v, adc_bits, lossless_bits)
                   for i, v in enumerate(raw_fs)]
        names = [f"adc_full_scale[{i}]" for i in range(len(raw_fs))]
        if len(raw_fs) == cols and cols != cphys:
            entries = [e for e in entries for _ in range(per)]
            names = [n for n in names for _ in range(per)]
        return entries, names
    entry = _full_scale_one("adc_full_scale", raw_fs, adc_bits, lossless_bits)
    return [entry] * cphys, ["adc_full_scale"] * cphys


def _check_cell_step(entries, names, *, auto, adc_bits, lossless_bits, g, cell_max) -> None:
    """An ADC must represent one cell step without clipping one fully-on cell."""
    for (fs, k), name in zip(entries, names):
        if fs <= cell_max:
            raise ContractError(f"crossbar.{name}", fs,
                                f"> {cell_max}: one fully-on cell, (2^{g['dac_bits']}-1)"
                                f"(2^{g['cell_bits']}-1) = {cell_max}, must not clip the ADC")
        if (1 << k) <= 2 * cell_max:
            continue
        if auto:
            b_min = adc_bits
            while (1 << max(0, lossless_bits - b_min)) > 2 * cell_max:
                b_min += 1
            raise ContractError("crossbar.adc_bits", adc_bits,
                                f"{b_min}..{L.ADC_BITS_MAX} for rows={g['rows']}: with the auto "
                                f"full scale 2^{lossless_bits} the LSB 2^{k} exceeds twice one "
                                f"cell's largest contribution {cell_max}, so the ADC could not "
                                f"represent even one cell step")
        fs_max = adc_bits + (2 * cell_max).bit_length() - 1
        raise ContractError(f"crossbar.{name}", fs,
                            f"at most 2^{fs_max}: its LSB 2^{k} exceeds twice one cell's "
                            f"largest contribution {cell_max}, so the ADC could not represent "
                            f"even one cell step")


def _converters(section: dict, g: dict, cphys: int) -> dict[str, Any]:
    """ADC width, full scales and LSB exponents, latency, DAC settle time."""
    lossless_bits = derive.lossless_adc_bits(g["rows"], g["dac_bits"], g["cell_bits"])
    adc_bits = _get(section, "adc_bits", lossless_bits)
    raw_fs = section.get("adc_full_scale", "auto")
    entries, names = _full_scales(raw_fs, g, cphys, adc_bits, lossless_bits)
    _check_cell_step(entries, names, auto=raw_fs == "auto", adc_bits=adc_bits,
                     lossless_bits=lossless_bits, g=g,
                     cell_max=derive.cell_max(g["dac_bits"], g["cell_bits"]))
    return dict(adc_bits=adc_bits, adc_full_scale=tuple(fs for fs, _ in entries),
                adc_full_scale_auto=raw_fs == "auto", adc_shift=tuple(k for _, k in entries),
                adc_latency=_get(section, "adc_latency", adc_bits),
                dac_settle_cycles=_get(section, "dac_settle_cycles", 1))


def _noise(section: dict) -> dict[str, Any]:
    noise = section.get("noise")
    noise = {} if noise is None else noise
    if not isinstance(noise, dict):
        raise ContractError("crossbar.noise", noise,
                            f"a mapping with keys {', '.join(NOISE_FIELDS)}")
    F.check_keys("crossbar.noise", noise)
    return {f.key: F.check_value(f, noise[f.key]) if f.key in noise else F.default_of(f.path)
            for f in F.section_fields("crossbar.noise")}


def _latency(record: CrossbarRecord, cfg) -> int:
    """The crossbar top's ``LATENCY`` at the nominal ADC latency (the hardware's own)."""
    from hw.crossbar_datapath import CrossbarDatapath
    return CrossbarDatapath.latency_for(
        phases=record.phases, cols_per_adc=record.cols_per_adc,
        adc_latency=record.adc_latency, dac_settle_cycles=record.dac_settle_cycles)


def parse_crossbar(section: Any, cfg, where: str) -> CrossbarConfig:
    """Validate the ``crossbar:`` section of ``where`` against the resolved ``cfg``.

    Raises
    ------
    ConfigError
        One line ``<file>: crossbar.<field>: <value> is not allowed; allowed: <...>``.
    """
    try:
        return _parse(section, cfg)
    except ContractError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _parse(section: Any, cfg) -> CrossbarConfig:
    if not isinstance(section, dict):
        raise ContractError("crossbar", section,
                            f"a mapping with keys {', '.join(CROSSBAR_FIELDS)}")
    F.check_keys("crossbar", section)
    g = _geometry(section, cfg)
    cphys = derive.phys_cols(g["cols"], cfg.weight_bits, g["cell_bits"], g["weight_encoding"])
    m = _cols_per_adc(section, cphys, g, cfg.weight_bits)
    record = CrossbarRecord(
        **g, **_converters(section, g, cphys), cols_per_adc=m, **_noise(section),
        input_bits=cfg.input_bits, weight_bits=cfg.weight_bits, input_signed=cfg.input_signed, weight_signed=cfg.weight_signed,
        weight_tiles=cfg.weight_tiles, clock_mhz=cfg.clock_mhz)
    return dataclasses.replace(record, latency_cycles=_latency(record, cfg))
