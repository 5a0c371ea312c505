"""tb/streams.py: the directed o_data stall patterns' decisions (no simulator)."""

import pytest

from tb.streams import DirectedStalls


def test_full_releases_one_cycle_after_quiet_cycles():
    s = DirectedStalls(None, "full", quiet=3)
    got = []
    for _ in range(9):                    # no data beat accepted: watch() counts idle cycles
        got.append(s(0))
        s.idle += 1
    # a release (ready) once 3 quiet cycles have passed, then the count starts again
    assert got == [True, True, True, False, True, True, False, True, True]


def test_after_accept_stalls_the_next_cycle_only():
    s = DirectedStalls(None, "after_accept")
    seq = []
    for acc in (True, False, True, True, False):
        s.accepted = acc
        seq.append(s(0))
    assert seq == [True, False, True, True, False]
    with pytest.raises(ValueError, match="allowed: full, after_accept"):
        DirectedStalls(None, "random")
