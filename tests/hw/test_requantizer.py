# amaranth: UnusedElaboratable=no
"""hw.requantizer.Requantizer against golden.datapath.requantize (wide semantics)."""

import numpy as np
import pytest

from golden.datapath import requantize
from hw.requantizer import Requantizer
from tests.helpers.hwsim import int_range, make_rng, simulate

ROUNDINGS = ["double", "single", "ruy"]
M0_EDGES = [0, 1 << 30, (1 << 31) - 1, 1374389535]
# "single16": its reduced multiplier rounds up (2^30 + 2^15) and saturates at 0x7FFF
M0_EDGES_16 = [0, 1 << 30, (1 << 30) + (1 << 15), 1374389535, 0x7FFEFFFF, 0x7FFF8000]
SHIFT_EDGES = [-31, -17, -2, -1, 0, 1, 14, 30]
SHIFT_EDGES_16 = [-31, -15, -1, 0, 7, 30]  # TFLite's domain is shift <= 7


def run_rq(dut, batches, *, rng=None, stall_rate=0.0):
    """Stream each batch's accumulators with its (quasi-static) parameters; outputs per acc.

    A batch is a dict with ``m0``/``shift`` (per lane lists, or scalars when per-tensor),
    ``y_zp``, ``act_min``, ``act_max`` and ``acc`` (list of per-lane lists). The pipeline
    drains between batches. ``en`` drops at ``stall_rate``; a model of the stage registers
    tracks which input sits in the last stage.
    """
    results = []
    lat = dut.LATENCY

    async def tb(ctx):
        for batch in batches:
            if dut.per_channel:
                for c in range(dut.cols):
                    ctx.set(dut.m0[c], batch["m0"][c])
                    ctx.set(dut.shift[c], batch["shift"][c])
            else:
                ctx.set(dut.m0, batch["m0"])
                ctx.set(dut.shift, batch["shift"])
            for name in ("y_zp", "act_min", "act_max"):
                ctx.set(getattr(dut, name), batch[name])
            accs = batch["acc"]
            out = [None] * len(accs)
            stages = [None] * lat
            i = 0
            while i < len(accs) or any(s is not None for s in stages):
                en = not (rng is not None and rng.random() < stall_rate)
                ctx.set(dut.en, en)
                current = None
                if i < len(accs):
                    for c in range(dut.cols):
                        ctx.set(dut.acc[c], int(accs[i][c]))
                    if en:
                        current, i = i, i + 1
                await ctx.tick()
                if en:
                    stages = [current] + stages[:-1]
                if stages[-1] is not None:
                    got = [ctx.get(dut.y[c]) for c in range(dut.cols)]
                    assert out[stages[-1]] in (None, got)      # held while stalled
                    out[stages[-1]] = got
            results.append(np.array(out, dtype=np.int64))

    simulate(dut, tb)
    return results


def expected(dut, batch):
    m0, shift = np.array(batch["m0"]), np.array(batch["shift"])
    return requantize(np.array(batch["acc"], dtype=np.int64), m0=m0, shift=shift,
                      y_zp=batch["y_zp"], act_min=batch["act_min"], act_max=batch["act_max"],
                      rounding=dut.rounding)


def mismatches(dut, batches, results):
    bad = []
    for batch, got in zip(batches, results):
        want = expected(dut, batch)
        for i, j in zip(*np.nonzero(got != want)):
            bad.append(dict(acc=batch["acc"][i][j], m0=np.broadcast_to(batch["m0"], (dut.cols,))
                            [j], shift=np.broadcast_to(batch["shift"], (dut.cols,))[j],
                            y_zp=batch["y_zp"], got=int(got[i, j]), want=int(want[i, j])))
    return bad


def acc_edges(acc_bits):
    """The range limits ± 2, INT32_MIN-ish values, −2..2, ±2^i for every i and ±(2^i ± 1)
    for every third i and the top bits."""
    lo, hi = int_range(acc_bits, True)
    vals = {lo, lo + 1, lo + 2, hi, hi - 1, hi - 2, -2, -1, 0, 1, 2,
            -(2**31), -(2**31) + 1, 2**31 - 1, -(2**31) - 1}
    for i in range(acc_bits):
        vals |= {2**i, -(2**i)}
        if i % 3 == 0 or i >= acc_bits - 3:
            vals |= {2**i + 1, 2**i - 1, -(2**i) + 1, -(2**i) - 1}
    return sorted(v for v in vals if lo <= v <= hi)


def ties(m0, shift, acc_bits, rounding):
    """Accumulators whose exact scaled value is a tie (x.5) in some rounding step."""
    lo, hi = int_range(acc_bits, True)
    vals = set()
    if m0 == 1 << 30:                   # acc·2^(shift−1): ties are acc = 2^(−shift)·odd
        base = 1 << max(0, -shift)
        for k in (1, 3, 5, 7, 9, 11):
            vals |= {k * base, -k * base}
        # second-step ties of the double/ruy path: h = acc/2 exactly, h = 2^(r−1)·odd
        r = max(0, -shift)
        if r >= 1:
            for k in (1, 3, 5):
                vals |= {2 * k << (r - 1), -(2 * k << (r - 1))}
    return sorted(v for v in vals if lo <= v <= hi)


def edge_batches(dut, rng, m0s=M0_EDGES, shifts=SHIFT_EDGES):
    cols = dut.cols
    out_lo, out_hi = int_range(dut.out_bits, dut.out_signed)
    zp_lo, zp_hi = int_range(dut.out_bits + 1, True)
    pairs = [(m0, s) for m0 in m0s for s in shifts]
    scalars = [(0, out_lo, out_hi), (zp_lo, out_lo, out_hi), (zp_hi, out_lo, out_hi),
               (int(rng.integers(zp_lo, zp_hi)), out_lo + 1, out_hi - 1)]
    batches = []
    per_batch = cols if dut.per_channel else 1
    for b in range(0, len(pairs), per_batch):
        group = pairs[b:b + per_batch]
        group += [group[-1]] * (per_batch - len(group))
        accs = set(acc_edges(dut.acc_bits))
        for m0, s in group:
            accs |= set(ties(m0, s, dut.acc_bits, dut.rounding))
        accs = sorted(accs)
        y_zp, act_min, act_max = scalars[(b // per_batch) % len(scalars)]
        if dut.per_channel:          # every lane sees every accumulator
            rows = [[a] * cols for a in accs]
        else:                        # one shared pair: spread the accumulators over the lanes
            accs += accs[:(-len(accs)) % cols]
            rows = [accs[i:i + cols] for i in range(0, len(accs), cols)]
        batch = dict(y_zp=y_zp, act_min=act_min, act_max=act_max, acc=rows)
        if dut.per_channel:
            batch["m0"] = [m0 for m0, _ in group]
            batch["shift"] = [s for _, s in group]
        else:
            batch["m0"], batch["shift"] = group[0]
        batches.append(batch)
    return batches


def random_batches(dut, rng, n_batches, n_accs, *, shift_range=(-31, 30), small=False):
    cols = dut.cols
    lanes = cols if dut.per_channel else 1
    out_lo, out_hi = int_range(dut.out_bits, dut.out_signed)
    zp_lo, zp_hi = int_range(dut.out_bits + 1, True)
    alo, ahi = int_range(dut.acc_bits, True)
    batches = []
    for _ in range(n_batches):
        m0 = [int(rng.choice([rng.integers(1 << 30, 1 << 31), rng.integers(0, 1 << 31),
                              1 << 30])) for _ in range(lanes)]
        # shifts that keep results inside the output range often enough to be interesting
        shift = [int(rng.integers(*shift_range, endpoint=True)) for _ in range(lanes)]
        act_min = int(rng.integers(out_lo, out_hi, endpoint=True))
        act_max = int(rng.integers(act_min, out_hi, endpoint=True))
        if rng.random() < 0.5:
            act_min, act_max = out_lo, out_hi
        mag = rng.integers(1, dut.acc_bits, (n_accs, cols), endpoint=True)
        if small:
            mag = np.minimum(mag, 12)
        acc = rng.integers(-(2 ** (mag - 1)), 2 ** (mag - 1))
        acc = np.clip(acc, alo, ahi)
        batches.append(dict(
            m0=m0 if dut.per_channel else m0[0], shift=shift if dut.per_channel else shift[0],
            y_zp=int(rng.integers(zp_lo, zp_hi, endpoint=True)) if rng.random() < 0.5 else 0,
            act_min=act_min, act_max=act_max, acc=acc.tolist()))
    return batches


EDGE_CONFIGS = [  # (acc_bits, out_bits, out_signed, per_channel)
    (32, 8, True, True), (48, 16, True, True), (20, 8, False, True), (32, 8, True, False),
]


@pytest.mark.parametrize("acc_bits, out_bits, out_signed, per_channel", EDGE_CONFIGS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_edges(rounding, acc_bits, out_bits, out_signed, per_channel):
    """Edge accumulators (range limits, INT32_MIN-ish, ±2^i ± 1, ties of both signs) for
    edge multipliers and shifts (−31, 0, +30, ...) with zero points at their limits."""
    rng = make_rng(acc_bits)
    dut = Requantizer(cols=4, acc_bits=acc_bits, out_bits=out_bits,
                      out_signed=out_signed, rounding=rounding, per_channel=per_channel)
    batches = edge_batches(dut, rng)
    results = run_rq(dut, batches)
    assert mismatches(dut, batches, results) == []
    # both ends of the output range were reached
    every = np.concatenate([r.ravel() for r in results])
    assert every.min() == int_range(out_bits, out_signed)[0]
    assert every.max() == int_range(out_bits, out_signed)[1]


def test_edges_single16():
    """``"single16"`` (TFLite's 16x8 int64 path) on a 48-bit accumulator, 16-bit output:
    accumulator extremes ±2^47, ties of both signs, the reduced multiplier's rounding and
    saturation edges, shifts −31 .. +30 (TFLite's own domain ends at +7), both output ends.
    (Seeded random cases with stalls: the requantizer testbench, ``qmac regress
    constraints/tflite16x8.yaml --tests requantizer``.)"""
    rng = make_rng(16)
    dut = Requantizer(cols=4, acc_bits=48, out_bits=16, out_signed=True, rounding="single16",
                      per_channel=True)
    batches = edge_batches(dut, rng, M0_EDGES_16, SHIFT_EDGES_16)
    results = run_rq(dut, batches)
    assert mismatches(dut, batches, results) == []
    every = np.concatenate([r.ravel() for r in results])
    assert every.min() == -(2**15) and every.max() == 2**15 - 1


@pytest.mark.parametrize("rounding, per_channel, pipeline", [
    *((r, pc, "standard") for r in ROUNDINGS for pc in (True, False)),
    ("double", True, "deep"), ("single", False, "deep")])
def test_random(rounding, per_channel, pipeline):
    """Seeded random accumulators (all magnitudes), multipliers and shifts, with stalls
    (``"deep"``: registered multiplier operands, two-level parameter decodes)."""
    rng = make_rng(ROUNDINGS.index(rounding) + 10 * per_channel)
    dut = Requantizer(cols=3, acc_bits=40, out_bits=8, out_signed=True, rounding=rounding,
                      per_channel=per_channel, pipeline=pipeline)
    batches = random_batches(dut, rng, 12, 40)
    batches += random_batches(dut, rng, 12, 40, shift_range=(-12, 2), small=True)
    results = run_rq(dut, batches, rng=rng, stall_rate=0.2)
    assert mismatches(dut, batches, results) == []


@pytest.mark.parametrize("acc, m0, shift, zp, double, single, ruy", [
    (3, 2**30, 0, 0, 2, 2, 2),              # SRDHM tie +1.5 rounds up
    (-3, 2**30, 0, 0, -1, -1, -1),          # SRDHM tie −1.5 rounds up (toward +inf)
    (5, 2**30, -1, 0, 2, 1, 2),             # double: 2.5 → 3 → 1.5 → 2; single gives 1
    (-4, 2**30, -2, 0, -1, 0, 0),           # RDBPOT tie −0.5 away from zero; ruy/single 0
    (1000, 1374389535, -6, 120, 127, 127, 127),   # clamps after the zero point
])
def test_worked_examples(acc, m0, shift, zp, double, single, ruy):
    """The worked examples of requant-facts.md, as literal numbers."""
    for rounding, want in (("double", double), ("single", single), ("ruy", ruy)):
        dut = Requantizer(cols=1, acc_bits=32, out_bits=8, out_signed=True, rounding=rounding,
                          per_channel=False)
        batch = dict(m0=m0, shift=shift, y_zp=zp, act_min=-128, act_max=127, acc=[[acc]])
        (got,) = run_rq(dut, [batch])
        assert got.tolist() == [[want]], rounding


@pytest.mark.parametrize("pipeline", ["standard", "deep"])
def test_shift_outside_range_is_clamped(pipeline):
    """shift 31 acts as 30 and −32 as −31 (6-bit register, verified range [−31, 30];
    ``"deep"`` clamps with both comparisons in parallel)."""
    dut = Requantizer(cols=2, acc_bits=32, out_bits=16, out_signed=True, rounding="double",
                      per_channel=True, pipeline=pipeline)
    accs = [[a, a] for a in (1, 3, -3, 2**20 + 1, -(2**31), 2**31 - 1, 12345)]
    batch = dict(m0=[2**30, (1 << 31) - 1], shift=[31, -32], y_zp=0, act_min=-(2**15),
                 act_max=2**15 - 1, acc=accs)
    (got,) = run_rq(dut, [batch])
    want = expected(dut, dict(batch, shift=[30, -31]))
    assert np.array_equal(got, want)


@pytest.mark.parametrize("pipeline", ["standard", "deep"])
@pytest.mark.parametrize("out_signed, act_min, act_max, want", [
    (True, -16, 15, [-8, -8, -1, 0, 7, 7, 7]),
    (False, -16, 15, [0, 0, 0, 0, 7, 15, 15]),
])
def test_act_limits_beyond_output_range_clamp_to_it(out_signed, act_min, act_max, want,
                                                     pipeline):
    dut = Requantizer(cols=1, acc_bits=16, out_bits=4, out_signed=out_signed,
                      rounding="double", per_channel=False, pipeline=pipeline)
    batch = dict(m0=2**30, shift=1, y_zp=0, act_min=act_min, act_max=act_max,
                 acc=[[a] for a in (-100, -9, -1, 0, 7, 15, 100)])
    (got,) = run_rq(dut, [batch])
    assert got.ravel().tolist() == want


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_inject_fault_is_caught(rounding):
    """The regression catches the deliberate tie bug: the same seeded stimulus passes on the
    correct hardware and fails on the faulty one."""
    rng = make_rng(77)
    kwargs = dict(cols=2, acc_bits=24, out_bits=8, out_signed=True, rounding=rounding,
                  per_channel=True)
    good = Requantizer(**kwargs)
    bad = Requantizer(**kwargs, inject_fault="rounding_off_by_one")
    batches = random_batches(good, rng, 4, 50, shift_range=(-6, 0), small=True)
    assert mismatches(good, batches, run_rq(good, batches)) == []
    found = mismatches(bad, batches, run_rq(bad, batches))
    assert found, "inject_fault produced no mismatch"
    # the fault only moves ties by one
    assert all(abs(b["got"] - b["want"]) == 1 for b in found)


BASE = dict(cols=4, acc_bits=32, out_bits=8, out_signed=True, rounding="double",
            per_channel=True)


@pytest.mark.parametrize("change, message", [
    (dict(cols=0), "Requantizer: cols=0 is out of range; allowed: [1, 256]"),
    (dict(acc_bits=1), "Requantizer: acc_bits=1 is out of range; allowed: [2, 64]"),
    (dict(acc_bits=65), "Requantizer: acc_bits=65 is out of range; allowed: [2, 64]"),
    (dict(out_bits=17), "Requantizer: out_bits=17 is out of range; allowed: [2, 16]"),
    (dict(out_signed="x"), "Requantizer: out_signed='x' is not a bool; allowed: True, False"),
    (dict(rounding="nearest"), "Requantizer: rounding='nearest' is out of range; "
                               "allowed: 'double', 'single', 'ruy', 'single16'"),
    (dict(per_channel=None), "Requantizer: per_channel=None is not a bool; allowed: True, False"),
    (dict(inject_fault="stuck_at_0"), "Requantizer: inject_fault='stuck_at_0' is out of "
                                      "range; allowed: None, 'rounding_off_by_one'"),
])
def test_constructor_errors(change, message):
    with pytest.raises(ValueError) as exc:
        Requantizer(**{**BASE, **change})
    assert str(exc.value) == message


def test_valid_gates_the_stages():
    """``valid`` low: the value is not requantized and ``y`` keeps the last valid result (the
    stages hold, so bubbles cause no toggling); valid values come out ``LATENCY`` enabled
    cycles later as usual, with stalls mixed in."""
    rng = make_rng(91)
    dut = Requantizer(cols=2, acc_bits=20, out_bits=8, out_signed=True, rounding="double",
                      per_channel=True)
    m0, shift = [1374389535, 2**30], [-3, 0]
    n = 60
    accs = rng.integers(-(2**19), 2**19, size=(n, 2))
    valid = rng.random(n) < 0.4
    en = rng.random(4 * n) < 0.8
    want = requantize(accs, m0=np.array(m0), shift=np.array(shift), y_zp=3, act_min=-128,
                      act_max=127, rounding="double")
    seen = []

    async def tb(ctx):
        for c in range(2):
            ctx.set(dut.m0[c], m0[c])
            ctx.set(dut.shift[c], shift[c])
        ctx.set(dut.y_zp, 3)
        ctx.set(dut.act_min, -128)
        ctx.set(dut.act_max, 127)
        stages = [None] * dut.LATENCY
        i = cycle = 0
        last = None
        while i < n or any(s is not None for s in stages):
            e = bool(en[cycle]) or i >= n
            cycle += 1
            ctx.set(dut.en, e)
            ctx.set(dut.valid, bool(valid[i]) if i < n else 0)
            current = None
            if i < n:
                for c in range(2):
                    ctx.set(dut.acc[c], int(accs[i][c]))
                if e:
                    current = i if valid[i] else None
                    i += 1
            await ctx.tick()
            if e:
                stages = [current] + stages[:-1]
            y = [ctx.get(dut.y[c]) for c in range(2)]
            if e and stages[-1] is not None:
                seen.append(stages[-1])
                assert y == want[stages[-1]].tolist()
                last = y
            elif last is not None:
                assert y == last            # held: no valid value arrived

    simulate(dut, tb)
    assert seen == [k for k in range(n) if valid[k]]


def test_empty_activation_range_gives_act_max():
    """``act_min > act_max`` (outside the verified contract, which golden refuses): the
    hardware computes ``min(max(v, act_min), act_max)`` = ``act_max`` for every value, as
    before the last stage compared both limits in parallel."""
    dut = Requantizer(cols=2, acc_bits=16, out_bits=8, out_signed=True, rounding="double",
                      per_channel=False)
    accs = [[a, -a] for a in (0, 1, 100, 5000, 32767)]
    batch = dict(m0=2**30, shift=0, y_zp=3, act_min=20, act_max=-7, acc=accs)
    (got,) = run_rq(dut, [batch])
    assert got.ravel().tolist() == [-7] * 10
