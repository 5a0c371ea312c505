"""The survivor table (``qmac equiv --survivors``): lookups and well-formed entries."""

import pytest

from sim.formal import survivors


def test_lookup_by_config_path_and_toplevel():
    entry = survivors.lookup("constraints/sidra_y1.yaml", 1, 2)
    assert entry is not None and entry.diverged and len(entry.invariants) == 6
    assert survivors.lookup_top("qmac_sidra_y1", 1, 2) is entry
    assert survivors.lookup("constraints/sidra_y1.yaml", 2, 2) is None     # other seed
    assert survivors.lookup("constraints/int8.yaml", 1, 5) is None         # killed mutant


def test_entries_are_unique_and_name_only_gold_gate_signals():
    names = [s.name for s in survivors.SURVIVORS]
    assert len(names) == len(set(names))
    for s in survivors.SURVIVORS:
        assert s.depth >= 1
        for inv in s.invariants:
            assert "gold." in inv and "\\" not in inv, inv


@pytest.mark.long
def test_every_listed_survivor_proved(formal_tools, tmp_path):
    """The README's claim: ``qmac equiv --survivors`` proves all of them (about 260 s of
    Yosys + Yices CPU; one entry alone, e.g. ``sidra_y1 20``, about 20 s)."""
    rows = []
    assert survivors.prove_all(tmp_path, log=rows.append) == 0, "\n".join(rows)
    assert len(rows) == 1 + len(survivors.SURVIVORS)      # the header, one row each
    assert all(" PROVED " in r and "NOT PROVED" not in r for r in rows[1:]), "\n".join(rows)
