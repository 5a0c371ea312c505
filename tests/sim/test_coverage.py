"""``qmac regress``'s coverage report (sim/coverage.py): merging, holes, the table."""

from __future__ import annotations

from sim.config import resolve_config
from sim.coverage import coverage_summary, format_coverage, merge_rows
from sim.report import Row
from tb.coverage import lane_bin_names, stream_bin_names
from tb.hwparams import HwParams


def _hp():
    raw = {"operands": {"bits": 8}, "array": {"rows": 2, "cols": 2, "weight_tiles": 1},
           "accumulator": {"guard_bits": 8, "overflow": "saturate"},
           "requant": {"rounding": "single", "per_channel": True}}
    return HwParams.from_config_dict(resolve_config(raw, where="<t>").to_dict(), latency=2)


def test_every_bin_is_reported_and_holes_are_listed():
    hp = _hp()
    lanes = lane_bin_names(hp)
    assert "tie2+" not in lanes and "ovf_saturate+" in lanes    # single rounding: one step
    full = {"lanes": {b: [1, 1] for b in lanes}, "stream": {b: 1 for b in stream_bin_names(hp)}}
    part = {"lanes": {"tie1+": [0, 3]}, "stream": {"stall@1": 2}}
    rows = [Row(test="a", sim="verilator", status="pass", coverage=merge_rows([{"coverage": part}])),
            Row(test="b", sim="icarus", status="pass", coverage=full)]
    s = coverage_summary(hp, rows)
    v, i = s["verilator"], s["icarus"]
    assert i["holes"] == [] and i["hit"] == i["points"] == len(lanes) * 2 + 4
    assert v["lanes"]["tie1+"] == [0, 3] and v["stream"]["stall@1"] == 2
    assert "tie1+ lanes 0" in v["holes"] and "tie1- (every lane)" in v["holes"]
    assert "stall@2" in v["holes"] and "stall@1" not in v["holes"]
    text = format_coverage(s)
    assert "tie1+" in text and "1/2 / 3" in text
    assert f"coverage icarus: {i['points']}/{i['points']} points (100.0%), 0 hole(s)" in text
