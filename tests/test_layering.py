"""The option vocabularies that golden/ and hw/ each define (they never import each other,
docs/design.md) must agree, and sim/ takes them from there rather than restating them."""

import ast
from pathlib import Path

import golden.fixedpoint
import hw.accumulator_bank
import hw.requantizer
import sim.config

ROOT = Path(__file__).resolve().parent.parent


def test_option_vocabularies_agree():
    assert hw.requantizer.ROUNDINGS == golden.fixedpoint.ROUNDINGS == sim.config.ROUNDINGS
    assert hw.accumulator_bank.OVERFLOW_POLICIES == sim.config.OVERFLOW_POLICIES


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_dependency_direction():
    """hw and golden never import each other or sim/tb; tb never imports hw or sim."""
    forbidden = {"hw": {"golden", "sim", "tb"}, "golden": {"hw", "sim", "tb"},
                 "tb": {"hw", "sim"}}
    bad = []
    for package, banned in forbidden.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _imports(path):
                if name in banned:
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, bad
