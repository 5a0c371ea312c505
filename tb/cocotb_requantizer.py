"""Requantizer: directed edge cases and seeded random cases through carefully built layers.

Each case is ``(acc, m0, shift)`` in one lane, with ``y_zp``/``act_min``/``act_max`` per
layer. The accumulator is set exactly by a zero input vector (``x = 0``, so
``acc = bias'``), which makes every case a single data beat. Per-channel configurations
pack C cases (own m0/shift) into one beat; per-tensor ones group cases by (m0, shift).

Directed: ties ±0.5 at every right shift (double rounding's two steps, single rounding,
ruy's ties-up second step), the worked examples of docs (3, −3, 5, −4, 1000 at m0 = 2^30 or
0.01), shift 0 / −31 / +30, m0 ∈ {0, 2^30, 2^30+1, 2^31−1}, the accumulator limits, saturation
at both ends, zero points at both ends of the output range and narrow clamp windows.
"""

from __future__ import annotations

import numpy as np

import cocotb

from tb.env import TbEnv
from tb.layers import FoldedLayer
from tb.schedule import schedule

M0_EDGES = (0, 1 << 30, (1 << 30) + 1, 1374389535, (1 << 31) - 1)


def edge_accs(hp) -> list[int]:
    alo, ahi = hp.acc_range
    vals = {alo, alo + 1, alo + 2, ahi - 2, ahi - 1, ahi, 0, 1, -1, 2, -2, 3, -3, 5, -4, 1000}
    for i in range(hp.acc_bits - 1):
        for d in (-2, -1, 0, 1, 2):
            vals.add((1 << i) + d)
            vals.add(-(1 << i) + d)
    return sorted(v for v in vals if alo <= v <= ahi)


def tie_cases(hp) -> list[tuple[int, int, int]]:
    """Exact ±0.5 ties after the high multiply and after the right shift."""
    alo, ahi = hp.acc_range
    cases = []
    for s in range(0, -32, -1):        # m0 = 2^30 → value = acc·2^(s−1)
        step = 1 << (-s)               # acc = (2j+1)·2^(−s) gives a .5 fraction
        for j in (0, -1, 1, -2, 2, 5, -6):
            acc = (2 * j + 1) * step
            if alo <= acc <= ahi:
                cases.append((acc, 1 << 30, s))
            for d in (-1, 1):          # just below / above the tie
                if alo <= acc + d <= ahi:
                    cases.append((acc + d, 1 << 30, s))
    return cases


def directed_cases(hp) -> list[tuple[int, int, int]]:
    cases = [(3, 1 << 30, 0), (-3, 1 << 30, 0), (5, 1 << 30, -1), (-4, 1 << 30, -2),
             (1000, 1374389535, -6), (-1000, 1374389535, -6)]
    cases += tie_cases(hp)
    accs = edge_accs(hp)
    for m0 in M0_EDGES:
        for shift in (30, 29, 1, 0, -1, -15, -30, -31):
            for acc in accs[:: max(1, len(accs) // 24)] + [accs[0], accs[-1]]:
                cases.append((acc, m0, shift))
    return cases


def random_cases(hp, rng, n) -> list[tuple[int, int, int]]:
    alo, ahi = hp.acc_range
    mag = rng.uniform(0, hp.acc_bits - 1, size=n)
    acc = np.clip(np.round(np.sign(rng.random(n) - 0.5) * np.exp2(mag)), alo, ahi).astype(np.int64)
    m0 = rng.integers(1 << 30, 1 << 31, size=n)
    m0[rng.random(n) < 0.05] = 0
    # shifts concentrated where outputs are neither all-zero nor all-clamped
    centre = hp.out_bits - 1 - np.ceil(mag).astype(np.int64) + 1
    shift = np.clip(centre + rng.integers(-4, 5, size=n), -31, 30)
    wide = rng.random(n) < 0.15
    shift[wide] = rng.integers(-31, 31, size=int(wide.sum()))
    return [(int(a), int(m), int(s)) for a, m, s in zip(acc, m0, shift)]


def output_groups(hp, rng, n_random: int):
    """(y_zp, act_min, act_max) groups: zero points at the limits, narrow windows, random."""
    olo, ohi = hp.out_range
    mid = (olo + ohi + 1) // 2 if not hp.out_signed else 0
    groups = [(mid, olo, ohi), (olo, olo, ohi), (ohi, olo, ohi), (mid, mid, min(ohi, mid + 3)),
              (olo, olo, min(ohi, olo + 6)), (ohi, max(olo, ohi - 6), ohi)]
    for _ in range(n_random):
        a, b = sorted(int(v) for v in rng.integers(olo, ohi + 1, size=2))
        groups.append((int(rng.integers(olo, ohi + 1)), a, b))
    return groups


def case_layers(hp, cases, groups, rng, name) -> list[FoldedLayer]:
    """Pack (acc, m0, shift) cases into one-beat layers (x = 0 so acc = bias')."""
    C = hp.cols
    layers = []
    if hp.per_channel:
        buckets = [cases[i:i + C] for i in range(0, len(cases), C)]
    else:  # one (m0, shift) per layer
        by = {}
        for acc, m0, sh in cases:
            by.setdefault((m0, sh), []).append((acc, m0, sh))
        buckets = [v[i:i + C] for v in by.values() for i in range(0, len(v), C)]
    for i, bucket in enumerate(buckets):
        bucket = (bucket + [bucket[-1]] * C)[:C]
        y_zp, amin, amax = groups[i % len(groups)]
        layers.append(FoldedLayer(
            x=np.zeros((1, 1), np.int64), w=np.zeros((C, 1), np.int64),
            bias=np.array([c[0] for c in bucket], np.int64),
            m0=np.array([c[1] for c in bucket], np.int64),
            shift=np.array([c[2] for c in bucket], np.int64),
            y_zp=y_zp, act_min=amin, act_max=amax, per_tensor=not hp.per_channel,
            name=f"{name} {i}", x_is_zero=True))
    return layers


@cocotb.test()
async def requant_directed(dut):
    """Ties, worked examples, shift 0/−31/+30, m0 edges, acc limits, zero points at limits."""
    env = TbEnv(dut, "requant_directed")
    await env.start()
    hp, rng = env.hp, env.rng
    cases = directed_cases(hp)
    groups = output_groups(hp, rng, 0)
    # the whole directed set under the plain output range, then the worked examples, the
    # ties of a few shifts and the accumulator limits under every zero-point/clamp group
    layers = case_layers(hp, cases, groups[:1], rng, "directed")
    alo, ahi = hp.acc_range
    core = cases[:6] + [c for c in tie_cases(hp) if c[2] in (0, -1, -7)]
    core += [(a, m0, sh) for a in (alo, ahi, 0) for m0 in (1 << 30, (1 << 31) - 1)
             for sh in (30, 0, -31)]
    for gi, group in enumerate(groups[1:], 1):
        layers += case_layers(hp, core, [group], rng, f"directed g{gi}")
    await env.run(schedule(hp, layers), path="fast")
    env.finish()


@cocotb.test()
async def requant_random(dut):
    """Seeded random (acc, m0, shift, y_zp, act range) cases."""
    env = TbEnv(dut, "requant_random")
    await env.start()
    hp, rng = env.hp, env.rng
    n = max(hp.cols, env.vectors * hp.cols // 2)
    for chunk in env.chunks():
        cases = random_cases(hp, rng, n)
        layers = case_layers(hp, cases, output_groups(hp, rng, 16), rng, "random")
        await env.run(schedule(hp, layers), path="fast", label=f"chunk {chunk}" if chunk else "")
    env.finish()


def corner_cases(hp, group) -> list[tuple[int, int, int]]:
    """For one (y_zp, act_min, act_max) group, cases putting the pre-clamp value
    ``v = mbqm(acc) + y_zp`` one below, at and one above every limit (output range and
    clamp bounds) and the ties of both rounding steps; ``m0 = 2^30, shift = 1`` is the
    identity (``mbqm(acc) = acc``)."""
    alo, ahi = hp.acc_range
    olo, ohi = hp.out_range
    y_zp, amin, amax = group
    cases = [(a, 1 << 30, 0) for a in (3, -3)]            # first step: acc·2^30 + 2^30, odd acc
    cases += [(a, 1 << 30, -1) for a in (2, -2, 6, -6)]   # second step: h odd, right = 1
    for lim in {olo, ohi, amin, amax}:
        for d in (-2, -1, 0, 1, 2):
            acc = lim + d - y_zp
            if alo <= acc <= ahi:
                cases.append((acc, 1 << 30, 1))
    far = [(alo, 1 << 30, 30), (ahi, 1 << 30, 30)]        # far beyond both ends
    return cases + far


def corner_repeats(env) -> int:
    """Copies of each corner case: C (every case in every lane) for the default vector
    counts of Verilator (≥ 64), one (the cases spread over the lanes) for the small counts
    of Icarus and the test suite."""
    return env.hp.cols if env.vectors >= 64 else 1


def corner_groups(hp) -> list[tuple[int, int, int]]:
    """(y_zp, act_min, act_max) groups of the corner tests: zero points at both limits and
    mid-range under the plain output range (saturation decides), and a window strictly
    inside it (the clamp decides)."""
    olo, ohi = hp.out_range
    mid = 0 if hp.out_signed else (olo + ohi + 1) // 2
    span = max(1, (ohi - olo) // 4)
    return [(mid, olo, ohi), (olo, olo, ohi), (ohi, olo, ohi),
            (mid, max(olo + 1, mid - span), min(ohi - 1, mid + span))]


def corner_layers(env, groups) -> list:
    """Every :func:`corner_cases` case of every group, :func:`corner_repeats` times."""
    layers = []
    for gi, group in enumerate(groups):
        cases = [c for c in corner_cases(env.hp, group) for _ in range(corner_repeats(env))]
        layers += case_layers(env.hp, cases, [group], env.rng, f"corners g{gi}")
    return layers


def shift_alias_layers(env, group, reps) -> list:
    """The shifts at both ends loaded through the 6-bit aliases (−32 acts as −31, 31 as
    30), each case ``reps`` times (every lane with ``reps = C``); with ``m0`` at both ends
    of its range, so the value after the shift stays in the output range for some cases."""
    hp = env.hp
    alo, ahi = hp.acc_range
    ends = [(a, m0, sh) for sh in (-31, 30) for m0 in (1 << 30, (1 << 31) - 1)
            for a in (alo, -(1 << 30) - 1, -3, -1, 1, 3, 1 << 30, ahi) if alo <= a <= ahi]
    # m0 = 1, 3: a left shift of 30 keeps small values in range (acc·m0/2), so 30 and 29
    # give different outputs (with m0 >= 2^30 both saturate)
    ends += [(a, m0, 30) for m0 in (1, 3) for a in (-200, -5, -3, 3, 5, 200)
             if alo <= a <= ahi]
    layers = case_layers(hp, [c for c in ends for _ in range(reps)], [group], env.rng,
                         "shift aliases")
    for L in layers:
        L.shift_alias = True
    return layers


def product_extremes(hp) -> list[tuple[int, int, int]]:
    """The 17-bit chunks of ``acc`` and ``m0`` at their extremes, so every partial product
    of ``acc·m0`` reaches the top of its width (its sign bit and the one below differ),
    with the shift chosen to bring the result into the output range: an error in a partial
    product's upper bits then changes the output instead of saturating with it."""
    alo, ahi = hp.acc_range
    accs = {alo, ahi, (1 << 17) - 1, -(1 << 17), 1 << 16, -(1 << 16) - 1}
    # large m0 (every chunk full) and small ones with a full low chunk: only with a small
    # m0 does a partial product near 2^31 leave the result small enough to show its error
    m0s = ((1 << 31) - 1, (1 << 30) | ((1 << 17) - 1), 0x7FFE0000, 1 << 30, (1 << 17) - 1,
           (1 << 24) | ((1 << 17) - 1))
    room = max(1, hp.out_range[1].bit_length() - 1)
    cases = []
    for a in sorted(a for a in accs if alo <= a <= ahi):
        for m0 in m0s:
            r = (abs(a) * m0) >> 31
            cases.append((a, m0, -min(31, max(0, r.bit_length() - room))))
    return cases


def first_step_saturation(hp) -> list[tuple[int, int, int]]:
    """The first rounding step saturating at both ends with the product ``P = acc·m0`` at
    the top of its range: ``shift = 30`` (no right shift before the saturation) and ``P``
    one below, at and one above ``±2^61`` where the product's sign bit and the bit below
    it start to differ at acc32 (``alo·2^30 = -2^61``; ``ahi·2^30`` and ``ahi·(2^30 + 1)`` bracket
    ``2^61``), and ``m0 = 2^31 - 1`` at both ends — a saturation that took its direction
    from the wrong bit saturates to the wrong end."""
    alo, ahi = hp.acc_range
    top, one = (1 << 31) - 1, 1 << 30
    cases = [(alo, top), (ahi, top), (alo, one), (alo, one + 1), (alo + 1, one),
             (ahi, one), (ahi, one + 1)]
    return [(a, m0, 30) for a, m0 in cases]


@cocotb.test()
async def requant_corners_every_lane(dut):
    """Every corner in every lane: each case of :func:`corner_cases` is repeated C times
    (:func:`corner_repeats`) so lane ``c`` of some beat carries it — for zero points at both limits, the plain output
    range (saturation decides) and a window strictly inside it (the clamp decides); and, on
    every simulator, :func:`product_extremes` and :func:`first_step_saturation` in every
    lane."""
    env = TbEnv(dut, "requant_corners_every_lane")
    await env.start()
    hp = env.hp
    groups = corner_groups(hp)
    reps = corner_repeats(env)
    layers = corner_layers(env, groups) + shift_alias_layers(env, groups[0], reps)
    layers += case_layers(hp, [c for c in product_extremes(hp) for _ in range(hp.cols)],
                          groups[:1], env.rng, "partial products at their extremes")
    layers += case_layers(hp, [c for c in first_step_saturation(hp) for _ in range(hp.cols)],
                          groups[:1], env.rng, "first step saturated at both ends")
    await env.run(schedule(hp, layers), path="fast")
    env.finish()
