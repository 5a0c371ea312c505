"""The survivor table (``qmac equiv --survivors``): lookups and well-formed entries."""

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
