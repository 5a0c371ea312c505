"""tb/checker.py: the per-cycle o_ovf_sticky check (no simulator)."""

from tb.checker import sticky_errors


def test_sticky_errors_follow_the_shown_beats():
    ovf = [[False, True], [True, False], [False, False]]          # beats 0..2, 2 lanes
    good = [(0, 0, 0), (1, 0, 0b10), (1, 1, 0b10), (1, 0, 0b11), (1, 1, 0b11),
            (0, 1, 0b11), (1, 1, 0b11), (0, 0, 0b11)]
    assert sticky_errors(good, ovf) == []
    # the flag of beat 1 rising a cycle late (not with its beat), or early
    late = list(good)
    late[3] = (1, 0, 0b10)
    early = list(good)
    early[1] = (1, 0, 0b11)
    assert len(sticky_errors(late, ovf)) == 1 and "cycle 3" in sticky_errors(late, ovf)[0]
    assert len(sticky_errors(early, ovf)) == 1
