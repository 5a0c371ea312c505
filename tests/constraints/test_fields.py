"""The field table (constraints/fields.py): every field documented, SCHEMA.md generated from
it and current, and the table's checks refuse every class of bad value with one line."""

import math

import pytest

from constraints import FIELDS, ContractError, field, limits, show
from constraints.fields import Field, check_value
from constraints.schema import SCHEMA_PATH, render


def test_schema_md_is_generated_and_current():
    """Fails when constraints/SCHEMA.md differs from what the field table renders
    (fix: python -m constraints.schema --write)."""
    assert SCHEMA_PATH.read_text() == render()


def test_every_field_has_a_one_line_doc_and_appears_in_the_schema():
    text = render()
    for f in FIELDS:
        assert f.doc.strip(), f"{f.path} has no doc line"
        assert "\n" not in f.doc and f.doc.rstrip().endswith((".", ")")), f.path
        assert f"| `{f.key}` |" in text, f.path


@pytest.mark.parametrize("doc", ["", "   ", "two\nlines"])
def test_a_field_without_a_one_line_doc_cannot_be_added(doc):
    with pytest.raises(ValueError, match="operands.zero_point: every field needs a one-line doc"):
        Field("operands.zero_point", "int", 0, doc)


def test_paths_are_unique():
    paths = [f.path for f in FIELDS]
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize("path, value, allowed", [
    ("operands.bits", None, "an integer in 2..16"),
    ("operands.bits", True, "an integer in 2..16"),
    ("operands.bits", 1.0, "an integer in 2..16"),
    ("operands.bits", 10**400, "an integer in 2..16"),
    ("array.rows", 0, "an integer in 1..256"),
    ("array.weight_tiles", limits.TILES_MAX + 1, "an integer in 1..1024"),
    ("timing.clock_mhz", None, "a number in [0.001, 5000.0]"),
    ("timing.clock_mhz", 5e-324, "a number in [0.001, 5000.0]"),
    ("timing.clock_mhz", math.inf, "a number in [0.001, 5000.0]"),
    ("timing.clock_mhz", math.nan, "a number in [0.001, 5000.0]"),
    ("timing.clock_mhz", 10**400, "a number in [0.001, 5000.0]"),
    ("timing.clock_mhz", "fast", "a number in [0.001, 5000.0]"),
    ("timing.clock_mhz", False, "a number in [0.001, 5000.0]"),
    ("requant.rounding", "even", "double, single, ruy or single16"),
    ("requant.rounding", ["double"], "double, single, ruy or single16"),
    ("requant.per_channel", 1, "true or false"),
    ("crossbar.noise.read_sigma", -0.1, "a number in [0.0, 1.0]"),
])
def test_check_value_refuses_with_one_line(path, value, allowed):
    with pytest.raises(ContractError) as exc:
        check_value(field(path), value)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: ") and msg.endswith(f"allowed: {allowed}")
    assert "\n" not in msg and len(msg) < 200


def test_show_abbreviates_long_values():
    text = show(10**400)
    assert len(text) <= 80 and "chars" in text
    assert show([1] * 10**5).startswith("[1, 1") and len(show([1] * 10**5)) <= 80
    assert show("abc") == "'abc'"


@pytest.mark.parametrize("path, value", [("operands.bits", 2), ("operands.bits", 16),
                                         ("timing.clock_mhz", 0.001), ("timing.clock_mhz", 5000),
                                         ("array.weight_tiles", 1024)])
def test_limits_themselves_are_allowed(path, value):
    assert check_value(field(path), value) == value


def test_cost_estimate_orders_configurations():
    small, _ = limits.cost_estimate(bits=8, rows=16, cols=16, weight_tiles=16)
    huge, what = limits.cost_estimate(bits=16, rows=256, cols=256, weight_tiles=1024)
    assert small < limits.COST_BUDGET < huge and "M cost units" in what
