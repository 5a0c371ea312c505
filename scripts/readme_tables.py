# amaranth: UnusedElaboratable=no
#!/usr/bin/env python3
"""Print the README's generated tables (latency/throughput of the shipped configs, top ports).

    python scripts/readme_tables.py            # print the tables
    python scripts/readme_tables.py --check    # exit 1 if README.md or SCHEMA.md is stale
    python scripts/readme_tables.py --write    # rewrite both (SCHEMA.md from the field table)

The tables are built from the same component objects `qmac generate` uses, so the README
cannot drift from the hardware; tests/sim/test_readme.py runs the --check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from constraints.schema import SCHEMA_PATH  # noqa: E402
from constraints.schema import render as schema_render  # noqa: E402
from sim.config import CONSTRAINTS_DIR, load_config  # noqa: E402
from amaranth.hdl import Elaboratable  # noqa: E402

from hw._amaranth_private import silence_unused_warning  # noqa: E402
from sim.generate import build_component, manifest_for  # noqa: E402

BEGIN = "<!-- BEGIN GENERATED: {} -->"
END = "<!-- END GENERATED: {} -->"


def _manifest(cfg) -> dict:
    """The manifest of ``cfg``'s top, which is built only to be described (never
    elaborated: silenced, so no "created but never used" warning when it is collected)."""
    component = build_component(cfg)
    for part in (component, *vars(component).values()):   # the top and e.g. its engine
        if isinstance(part, Elaboratable):
            silence_unused_warning(part)
    return manifest_for(cfg, component)


def latency_table() -> str:
    rows = ["| config | engine | N (or A/W) | R×C (T tiles) | acc bits | out bits | rounding | latency (cycles) "
            "| vectors/cycle | MAC/cycle | MAC/s at target clock (not measured) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(CONSTRAINTS_DIR.glob("*.yaml")):
        cfg = load_config(path)
        m = _manifest(cfg)
        t = m["throughput"]
        engine = "crossbar" if cfg.crossbar is not None else "MAC array"
        vpc = t.get("input_vectors_per_cycle", 1)
        mpc = t.get("macs_per_cycle", cfg.rows * cfg.cols)
        rate = t.get("macs_per_second_at_clock", mpc * cfg.clock_mhz * 1e6)
        bits = f"{cfg.input_bits}/{cfg.weight_bits}" if cfg.mixed else cfg.bits
        rows.append(f"| `{path.name}` | {engine} | {bits} | {cfg.rows}×{cfg.cols} ({cfg.weight_tiles}) "
                    f"| {cfg.acc_bits} | {cfg.out_bits} | {cfg.rounding} | {m['latency_cycles']} "
                    f"| {vpc:.4g} | {mpc:.4g} | {rate / 1e9:.3g} G @ {cfg.clock_mhz:g} MHz |")
    return "\n".join(rows)


def ports_table() -> str:
    cfg = load_config()
    m = _manifest(cfg)
    pay = m["hardware"]["payloads"]
    rows = ["| port | dir | width (int8) | meaning |", "|---|---|---|---|"]
    meaning = {
        "clk": "clock (rising edge)", "rst": "synchronous reset, active high",
        "i_load__payload": "load beat: " + ", ".join(f"`{k}`[{v['offset']}+:{v['width']}]" for k, v in pay["i_load"].items()),
        "i_load__valid": "load beat valid", "i_load__ready": "high only when no data beat is in flight",
        "i_data__payload": "input vector beat: " + ", ".join(f"`{k}`[{v['offset']}+:{v['width']}]" for k, v in pay["i_data"].items()),
        "i_data__valid": "input beat valid", "i_data__ready": "low while the output is stalled or a load is pending",
        "o_data__payload": "result beat: " + ", ".join(f"`{k}`[{v['offset']}+:{v['width']}]" for k, v in pay["o_data"].items()),
        "o_data__valid": "result valid", "o_data__ready": "consumer ready (backpressure)",
        "o_ovf_sticky": "per-lane overflow flags since reset or the last clear",
    }
    ports = [{"name": "clk", "direction": "input", "width": 1},
             {"name": "rst", "direction": "input", "width": 1}] + m["ports"]
    for p in ports:
        rows.append(f"| `{p['name']}` | {p['direction']} | {p['width']} | {meaning.get(p['name'], '')} |")
    return "\n".join(rows)


SYNTH_RESULTS = ROOT / "docs" / "synth_results.json"
BENCH_CONFIGS = ("benchmarks/int8_4x4.yaml",)


def _rate(macs_per_second: float) -> str:
    return (f"{macs_per_second / 1e12:.3g} T" if macs_per_second >= 1e12
            else f"{macs_per_second / 1e9:.3g} G")


def _synth_row(name: str, cfg, entry: dict | None) -> str:
    t = _manifest(cfg)["throughput"]
    mpc = t.get("macs_per_cycle", cfg.rows * cfg.cols)
    at_clock = t.get("macs_per_second_at_clock", mpc * cfg.clock_mhz * 1e6)
    target = f"{_rate(at_clock)} **target** @ {cfg.clock_mhz:g} MHz"
    if entry is None or "ecp5" not in entry:
        return f"| `{name}` | not measured | | | | | | | {target} | |"
    e, g = entry["ecp5"], entry.get("generic")
    c, p = e["counts"], e.get("pnr")
    fits = "yes" if e["fits"] else "**no: " + ", ".join(e["over"]) + "**"
    if p:
        fmax = f"{p['fmax_mhz_median']:.1f} [{p['fmax_mhz_min']:.1f}–{p['fmax_mhz_max']:.1f}], {p['seeds']} seeds"
        rate = f"{_rate(entry['macs_per_cycle'] * p['fmax_mhz_median'] * 1e6)} at Fmax"
    else:
        fmax, rate = ("does not fit" if not e["fits"] else "not placed"), target
    nand = f"{g['nand2_equivalents']:,}" if g else "not measured"
    return (f"| `{name}` | {c['lut']} | {c['carry']} | {c['ff']} | {c['dsp']} | {c['lutram']} "
            f"| {fits} | {fmax} | {rate} | {nand} |")


def synthesis_table() -> str:
    """Counts of every shipped config from docs/synth_results.json (written by
    benchmarks/synth_sweep.py, which runs the tools); configs not in it say so."""
    import json
    results = json.loads(SYNTH_RESULTS.read_text())["configs"] if SYNTH_RESULTS.exists() else {}
    rows = ["| config | ECP5 LUT4 | CCU2C | FF | MULT18X18D | LUT-RAM | fits LFE5U-85F "
            "| Fmax MHz median [min–max] | MAC/s | generic NAND2-eq. (proxy) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    paths = [*sorted(CONSTRAINTS_DIR.glob("*.yaml")), *(ROOT / p for p in BENCH_CONFIGS)]
    for path in paths:
        cfg = load_config(path)
        rows.append(_synth_row(path.name, cfg, results.get(path.name)))
    return "\n".join(rows)


TABLES = {"latency": latency_table, "ports": ports_table, "synthesis": synthesis_table}


def render(readme: str) -> str:
    for key, fn in TABLES.items():
        b, e = BEGIN.format(key), END.format(key)
        if b in readme and e in readme:
            head, rest = readme.split(b, 1)
            _, tail = rest.split(e, 1)
            readme = f"{head}{b}\n{fn()}\n{e}{tail}"
    return readme


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    ap.add_argument("--write", action="store_true", help="rewrite the generated parts of README.md")
    args = ap.parse_args()
    path = ROOT / "README.md"
    text = path.read_text()
    new = render(text)
    schema = schema_render()
    if args.check:
        if new != text:
            print("README.md generated tables are out of date; run: python scripts/readme_tables.py --write")
            return 1
        if SCHEMA_PATH.read_text() != schema:
            print("constraints/SCHEMA.md is out of date; run: python scripts/readme_tables.py --write")
            return 1
        return 0
    if args.write:
        path.write_text(new)
        SCHEMA_PATH.write_text(schema)      # the field table's generated schema, too
        return 0
    for fn in TABLES.values():
        print(fn(), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
