"""The option vocabularies live in the contract (constraints/vocab.py); golden/ and hw/
implement exactly those, and sim/ takes them from there rather than restating them.
The contract package imports nothing of the project; everyone may import it."""

import ast
from pathlib import Path

import constraints
import golden.datapath
import golden.fixedpoint
import hw.accumulator_bank
import hw.crossbar_engine
import hw.dac_driver
import hw.requantizer
import sim.config

ROOT = Path(__file__).resolve().parent.parent


def test_option_vocabularies_agree():
    assert hw.requantizer.ROUNDINGS == golden.fixedpoint.ROUNDINGS == constraints.ROUNDINGS
    assert sim.config.ROUNDINGS is constraints.ROUNDINGS
    assert hw.accumulator_bank.OVERFLOW_POLICIES == constraints.OVERFLOW_POLICIES
    assert sim.config.OVERFLOW_POLICIES is constraints.OVERFLOW_POLICIES
    assert golden.datapath.OVERFLOWS == constraints.OVERFLOW_POLICIES
    assert hw.crossbar_engine.WEIGHT_ENCODINGS is constraints.WEIGHT_ENCODINGS
    assert hw.dac_driver.INPUT_ENCODINGS is constraints.INPUT_ENCODINGS


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_dependency_direction():
    """hw and golden never import each other or sim/tb; tb never imports hw or sim; the
    contract (constraints/) imports none of them, nor any third-party package at module
    level (NumPy only lazily, inside seeds.make_rng)."""
    forbidden = {"hw": {"golden", "sim", "tb"}, "golden": {"hw", "sim", "tb"},
                 "tb": {"hw", "sim"},
                 "constraints": {"hw", "golden", "sim", "tb", "amaranth", "numpy", "yaml"}}
    bad = []
    for package, banned in forbidden.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _imports(path):
                if name in banned and not (package == "constraints" and name == "numpy"
                                           and path.name == "seeds.py"):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, bad


def test_contract_module_level_imports_are_stdlib_only():
    import sys
    allowed = set(sys.stdlib_module_names) | {"constraints"}
    bad = []
    for path in sorted((ROOT / "constraints").glob("*.py")):
        for node in ast.parse(path.read_text()).body:       # module level only
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                     else [])
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] not in allowed]
    assert not bad, bad
