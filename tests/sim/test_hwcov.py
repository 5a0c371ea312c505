"""sim/hwcov.py: Verilator's coverage.dat read and merged without verilator_coverage."""

from sim.hwcov import format_hw_coverage, hw_coverage, read_points


def _point(f, line, page, comment, count, hier="TOP.h.dut"):
    body = "".join(f"\x01{k}\x02{v}" for k, v in
                   (("f", f), ("l", line), ("n", 3), ("page", page), ("o", comment),
                    ("h", hier)))
    return f"C '{body}' {count}\n"


def test_points_are_merged_and_holes_listed(tmp_path):
    a, b = tmp_path / "a.dat", tmp_path / "b.dat"
    a.write_text("# SystemC::Coverage-3\n"
                 + _point("/x/qmac_t.v", 10, "v_line/qmac_t", "block", 0)
                 + _point("/x/qmac_t.v", 11, "v_branch/qmac_t", "if", 2)
                 + _point("/x/qmac_t.v", 11, "v_branch/qmac_t", "else", 0)
                 + _point("/x/qmac_t.v", 5, "v_toggle/qmac_t", "sig[0]:0->1", 1)
                 + _point("/x/qmac_t.v", 5, "v_toggle/qmac_t", "sig[0]:1->0", 0)
                 + _point("/x/harness.sv", 3, "v_line/h", "block", 0))
    b.write_text(_point("/x/qmac_t.v", 10, "v_line/qmac_t", "block", 4)
                 + _point("/x/qmac_t.v", 5, "v_toggle/qmac_t", "sig[0]:1->0", 0))
    assert sum(read_points(a).values()) == 3
    cov = hw_coverage([a, b], "qmac_t.v")
    assert (cov.lines_hit, cov.lines_total) == (1, 2)      # line 11: one branch never taken
    assert cov.line_holes == [11]
    assert (cov.toggles_hit, cov.toggles_total) == (1, 2)
    assert cov.toggle_holes == ["sig[0]:1->0 (line 5)"]
    text = format_hw_coverage(cov, "qmac_t.v")
    assert "1/2 lines (50.0%)" in text and "uncovered lines (1): 11" in text
