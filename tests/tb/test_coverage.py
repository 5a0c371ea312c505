"""Functional coverage bins of tb/coverage.py — no simulator needed.

The tie bins are checked against an independent statement of "exactly halfway" with
``fractions.Fraction`` (the value of ``acc·m0·2^(shift−31)`` after each step), the limit
bins against hand-placed pre-clamp values, the stream bins against hand-made cycle traces.
"""

from __future__ import annotations

from fractions import Fraction
from math import floor

import numpy as np
import pytest

from sim.config import resolve_config
from tb.coverage import lane_bin_names, lane_bins, stream_bin_names, stream_bins
from tb.hwparams import HwParams
from tb.layers import FoldedLayer
from tb.model import Model
from tb.schedule import KIND_DATA, KIND_LOAD, schedule, unused_addresses
from tests.helpers.seeding import make_rng

LATENCY = 6


def _hp(rounding="double", per_channel=True, overflow="wrap", cols=3) -> HwParams:
    raw = {"operands": {"bits": 8}, "array": {"rows": 4, "cols": cols, "weight_tiles": 2},
           "accumulator": {"guard_bits": 8, "overflow": overflow},
           "requant": {"rounding": rounding, "per_channel": per_channel}}
    cfg = resolve_config(raw, where="<test>")
    return HwParams.from_config_dict(cfg.to_dict(), latency=LATENCY)


def _case_layer(hp, accs, m0s, shifts, *, y_zp=0, act=None):
    olo, ohi = hp.out_range
    amin, amax = act or (olo, ohi)
    c = hp.cols
    return FoldedLayer(x=np.zeros((1, 1), np.int64), w=np.zeros((c, 1), np.int64),
                       bias=np.array(accs, np.int64), m0=np.array(m0s, np.int64),
                       shift=np.array(shifts, np.int64), y_zp=y_zp, act_min=amin, act_max=amax,
                       per_tensor=False, name="cases", x_is_zero=True)


def _bins(hp, layers, *, corrupt_lane=None):
    prog = schedule(hp, layers)
    exp = Model(hp).expected(prog)
    y = exp.y.copy()
    if corrupt_lane is not None:
        y[:, corrupt_lane] += 1
    return lane_bins(hp, prog, exp, y, exp.ovf)


def _ties_reference(rounding, acc, m0, shift):
    """Which rounding step of ``acc·m0·2^(shift−31)`` is exactly halfway (Fractions)."""
    left, right = max(shift, 0), max(-shift, 0)
    if rounding == "single":
        v = Fraction(acc * m0, 2 ** (31 - shift))
        return {"tie1": v - floor(v) == Fraction(1, 2), "sign1": acc * m0, "tie2": False,
                "sign2": 0}
    v1 = Fraction(acc * m0 * 2 ** left, 2 ** 31)
    h = floor(v1 + Fraction(1, 2))
    v2 = Fraction(h, 2 ** right)
    return {"tie1": v1 - floor(v1) == Fraction(1, 2), "sign1": acc * m0,
            "tie2": right > 0 and v2 - floor(v2) == Fraction(1, 2), "sign2": h}


@pytest.mark.parametrize("rounding", ["double", "single", "ruy"])
def test_tie_bins_agree_with_fractions(rounding):
    rng = make_rng("coverage-ties", rounding)     # prints QMAC_SEED
    hp = _hp(rounding=rounding)
    alo, ahi = hp.acc_range
    cases = [(3, 1 << 30, 0), (-3, 1 << 30, 0), (2, 1 << 30, -1), (-2, 1 << 30, -1),
             (6, 1 << 30, -2), (-6, 1 << 30, -2)]
    for _ in range(300):
        sh = int(rng.integers(-12, 3))
        acc = int(rng.integers(-64, 65)) << int(rng.integers(0, 8))
        cases.append((int(np.clip(acc, alo, ahi)), int(rng.choice([1 << 30, 3 << 28, 5 << 27])),
                      sh))
    while len(cases) % hp.cols:
        cases.append(cases[0])
    layers = [_case_layer(hp, *zip(*cases[i:i + hp.cols])) for i in range(0, len(cases), hp.cols)]
    got = _bins(hp, layers)
    want = {k: [0] * hp.cols for k in lane_bin_names(hp) if k.startswith("tie")}
    for i, (acc, m0, sh) in enumerate(cases):
        ref = _ties_reference(rounding, acc, m0, sh)
        lane = i % hp.cols
        if ref["tie1"]:
            want["tie1+" if ref["sign1"] > 0 else "tie1-"][lane] += 1
        if ref["tie2"]:
            want["tie2+" if ref["sign2"] > 0 else "tie2-"][lane] += 1
    assert {k: got[k] for k in want} == want
    assert all(sum(v) > 0 for v in want.values())


def test_limit_bins_at_and_around_each_limit():
    hp = _hp()
    olo, ohi = hp.out_range               # int8: -128 .. 127
    ident = (1 << 30, 1)                  # m0 = 2^30, shift = 1: mbqm(acc) = acc
    # plain range (saturation decides), y_zp = 5: v = acc + 5
    sat = _case_layer(hp, [olo - 1 - 5, olo + 1 - 5, ohi + 1 - 5], [ident[0]] * 3,
                      [ident[1]] * 3, y_zp=5)
    # a window inside the range (the clamp decides)
    win = _case_layer(hp, [-11, 9, 30], [ident[0]] * 3, [ident[1]] * 3, y_zp=0, act=(-10, 10))
    got = _bins(hp, [sat, win])
    assert got["sat_lo-1"] == [1, 0, 0] and got["sat_lo"] == [1, 0, 0]
    assert got["sat_lo+1"] == [0, 1, 0]
    assert got["sat_hi+1"] == [0, 0, 1] and got["sat_hi"] == [0, 0, 1]
    assert got["clamp_min-1"] == [1, 0, 0] and got["clamp_min"] == [1, 0, 0]
    assert got["clamp_max-1"] == [0, 1, 0] and got["clamp_max"] == [0, 0, 1]
    assert got["clamp_max+1"] == [0, 0, 0]
    # the window layer never counts as saturation, the plain one never as clamp
    assert sum(got["sat_lo"]) + sum(got["sat_hi"]) == 2
    # a lane the hardware got wrong does not count
    bad = _bins(hp, [sat, win], corrupt_lane=0)
    assert bad["sat_lo"] == [0, 0, 0] and bad["clamp_min"] == [0, 0, 0]


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_overflow_bins_by_direction(overflow):
    hp = _hp(overflow=overflow)
    alo, ahi = hp.acc_range
    c, r = hp.cols, hp.rows
    up = FoldedLayer(x=np.full((1, r), 100), w=np.full((c, r), 100), bias=np.full(c, ahi),
                     m0=np.full(c, 1 << 30), shift=np.full(c, -20), y_zp=0, act_min=-128,
                     act_max=127, per_tensor=False)
    down = FoldedLayer(x=np.full((1, r), 100), w=np.full((c, r), -100), bias=np.full(c, alo),
                       m0=np.full(c, 1 << 30), shift=np.full(c, -20), y_zp=-128,
                       act_min=-128, act_max=127, per_tensor=False)
    got = _bins(hp, [up, down])
    assert got[f"ovf_{overflow}+"] == [1] * c
    assert got[f"ovf_{overflow}-"] == [1] * c
    assert got["y_zp_min"] == [1] * c and got["y_zp_max"] == [0] * c


def test_stream_bins_stage_of_each_stall():
    hp = _hp()
    assert stream_bin_names(hp)[:LATENCY] == [f"stall@{s}" for s in range(1, LATENCY + 1)]
    # one beat accepted in cycle 0, output register valid from cycle 6 (no stall) ...
    trace = [(False, True)] * 6 + [(True, True)]
    assert sum(stream_bins(hp, trace, [6], [], LATENCY).values()) == 0
    # ... stalled (another beat on o_data) in cycles 2 and 3: stage 2 both times, then it
    # reaches o_data in cycle 8 and waits one cycle there (stage LATENCY)
    trace = [(False, True), (False, True), (True, False), (True, False), (False, True),
             (False, True), (False, True), (False, True), (True, False), (True, True)]
    got = stream_bins(hp, trace, [8], [], LATENCY)
    assert got["stall@2"] == 2 and got[f"stall@{LATENCY}"] == 1
    assert sum(v for k, v in got.items() if k.startswith("stall")) == 3
    # loads: between two data beats, and inside an open accumulation (after a non-last beat)
    acc = [(KIND_LOAD, False), (KIND_DATA, True), (KIND_LOAD, False), (KIND_DATA, False),
           (KIND_LOAD, False), (KIND_LOAD, False), (KIND_DATA, True), (KIND_LOAD, False)]
    got = stream_bins(hp, [], [], acc, LATENCY)
    assert got["load_between_data"] == 3 and got["load_mid_accumulation"] == 2


def test_unused_addresses_are_outside_every_used_one():
    for per_channel in (True, False):
        hp = _hp(per_channel=per_channel)
        unused = set(unused_addresses(hp))
        top = (1 << hp.index_bits) - 1
        used = {(0, i) for i in range(hp.weight_tiles * hp.cols)}
        used |= {(r, i) for r in (1,) for i in range(hp.cols)}
        used |= {(r, i) for r in (2, 3) for i in range(hp.cols if per_channel else 1)}
        used |= {(4, i) for i in range(4)}
        assert not unused & used
        assert {(r, 0) for r in (5, 6, 7)} <= unused and (7, top) in unused
        if not per_channel:
            assert (2, 1) in unused and (3, 1) in unused
