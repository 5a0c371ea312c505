"""Functional coverage: which corner cases the hardware was actually driven through.

Computed per checked run by :class:`tb.env.TbEnv` from what the testbench *presented to the
DUT* (the command stream's layers: inputs, stored weights, folded bias, ``m0``, ``shift``,
``y_zp``, clamp bounds — exactly the payloads the driver or the fast-path harness put on
``i_load`` / ``i_data``) and what it *observed* (every captured ``o_data`` beat, and on the
cycle-driven path the handshakes of every cycle). A lane-bin counts an output only where the
hardware's ``y`` and ``ovf`` of that lane matched the model, so a hit means "exercised and
checked".

The conditions are written from the math of ``docs/design.md`` (``P = acc·m0``,
``left = max(shift, 0)``, ``right = max(−shift, 0)``); ``golden`` supplies the accumulator
(``golden.datapath.accumulate``) and the scaled value
(``multiply_by_quantized_multiplier_saturating``) — it tells *where* a tie or a limit is, the bin says whether the DUT went there.

Per-lane bins (:func:`lane_bins`; counts per lane ``0..C−1``):

``tie1+`` / ``tie1−``
    first rounding step exactly halfway (``P·2^left mod 2^31 = 2^30``; ``"single"``: its one
    rounding, ``P mod 2^t = 2^(t−1)``, ``t = 31 − shift``), positive / negative ``P``.
``tie2+`` / ``tie2−``
    (``"double"``, ``"ruy"``) second step halfway: ``h mod 2^right = 2^(right−1)``,
    ``right > 0``, ``h`` the first step's result, by the sign of ``h``.
``sat_lo`` / ``sat_hi`` (and ``…±1``)
    the scaled value plus ``y_zp`` (``v``) below / above the output type's range while the
    clamp bound is the range limit itself (so the saturation decides ``y``); ``sat_lo-1`` is
    ``v`` exactly one below the limit, ``sat_lo+1`` exactly one inside (not saturated).
``clamp_min`` / ``clamp_max`` (and ``…±1``)
    ``v`` below ``act_min`` / above ``act_max`` for a bound strictly inside the output range;
    ``±1`` as above.
``ovf_<wrap|saturate>+`` / ``ovf_…−``
    the accumulator left its ``acc_bits`` range (the lane's ``ovf`` flag observed high), in
    the positive / negative direction (the first addition that overflowed).
``y_zp_min`` / ``y_zp_max``
    the output zero point at the output type's limits. (The input and weight zero points are
    folded into ``bias'`` and ``w'`` before they reach the hardware, which never sees them.)

Global bins (:func:`stream_bins`; cycle-driven runs only):

``stall@s`` (``s = 1 .. LATENCY``)
    a cycle with the pipeline stalled (``o_data.valid & ~o_data.ready``: the global stall of
    docs/design.md) while an output beat was ``LATENCY − s`` enabled cycles from ``o_data``:
    a stall with a beat held in stage ``s`` (``s = LATENCY``: the output register itself).
    ``LATENCY`` is the manifest's (the contract's), never a number written here.
``load_between_data``
    a load beat accepted after a data beat and before the next one.
``load_mid_accumulation``
    a load beat accepted inside an open accumulation (after a data beat that was not
    ``last``, before the accumulation's next beat).
"""

from __future__ import annotations

import numpy as np

from golden.datapath import accumulate, int_matmul
from golden.fixedpoint import multiply_by_quantized_multiplier_saturating

from .hwparams import HwParams
from .schedule import KIND_DATA, KIND_LOAD, Program, padded_layer

__all__ = ["lane_bin_names", "stream_bin_names", "lane_bins", "stream_bins", "merge"]


def _out_range(hp: HwParams) -> tuple[int, int]:
    if hp.out_signed:
        return -(1 << (hp.out_bits - 1)), (1 << (hp.out_bits - 1)) - 1
    return 0, (1 << hp.out_bits) - 1


def _acc_range(hp: HwParams) -> tuple[int, int]:
    return -(1 << (hp.acc_bits - 1)), (1 << (hp.acc_bits - 1)) - 1


def _neg_overflow_possible(hp: HwParams) -> bool:
    """A negative partial sum exists (else ``bias' + psum >= bias' >= acc_min``)."""
    return hp.input_signed or hp.weight_signed or hp.is_crossbar


def lane_bin_names(hp: HwParams) -> list[str]:
    """The per-lane bins of ``hp``'s configuration, in report order."""
    names = ["tie1+", "tie1-"]
    if hp.rounding != "single":
        names += ["tie2+", "tie2-"]
    for lim in ("sat_lo", "sat_hi", "clamp_min", "clamp_max"):
        names += [lim, f"{lim}-1" if lim.endswith(("lo", "min")) else f"{lim}+1",
                  f"{lim}+1" if lim.endswith(("lo", "min")) else f"{lim}-1"]
    names += [f"ovf_{hp.overflow}+"]
    if _neg_overflow_possible(hp):
        names += [f"ovf_{hp.overflow}-"]
    return names + ["y_zp_min", "y_zp_max"]


# ---------------------------------------------------------------------- per-lane bins
def _mac_accumulators(hp: HwParams, xp, wp, bp):
    """``(acc, ovf, direction)`` of a padded layer on the MAC path, shape (B, CT·C);
    ``direction`` is +1 / −1 for the first addition that left the range, 0 for none."""
    kt = xp.shape[1] // hp.rows
    psums = int_matmul(xp.reshape(-1, kt, hp.rows).transpose(1, 0, 2),
                       wp.reshape(-1, kt, hp.rows).transpose(1, 2, 0))       # (T, B, C)
    lo, hi = _acc_range(hp)
    acc = np.broadcast_to(bp, psums.shape[1:]).astype(np.int64)
    direction = np.zeros(psums.shape[1:], np.int64)
    for t in range(kt):                                   # golden's accumulator, beat by beat
        s = acc + psums[t]
        first = direction == 0
        direction = np.where(first & (s > hi), 1, np.where(first & (s < lo), -1, direction))
        acc, _ = accumulate(psums[t:t + 1], bias=acc, acc_bits=hp.acc_bits,
                            overflow=hp.overflow)
    return acc, direction


def _tie_bins(hp: HwParams, acc, m0, shift) -> dict[str, np.ndarray]:
    """Exact-tie masks of the rounding steps (Python integers: ``P`` may exceed 2^63)."""
    a = acc.astype(object)
    p = a * m0.astype(object)
    sh = shift.astype(object)
    out = {}
    if hp.rounding == "single":
        t = 31 - sh
        tie = (p % (1 << t)) == (1 << (t - 1))            # broadcasting object arrays
        out["tie1+"], out["tie1-"] = tie & (p > 0), tie & (p < 0)
        return {k: np.asarray(v, bool) for k, v in out.items()}
    left = np.maximum(shift, 0).astype(object)
    right = np.maximum(-shift, 0).astype(object)
    pl = p * (1 << left)
    tie1 = (pl % (1 << 31)) == (1 << 30)
    h = (pl + (1 << 30)) // (1 << 31)                    # the first step (ties toward +inf)
    half = np.where(right > 0, 1 << np.maximum(right - 1, 0), -1).astype(object)
    tie2 = (right > 0) & ((h % (1 << right)) == half)
    out["tie1+"], out["tie1-"] = tie1 & (pl > 0), tie1 & (pl < 0)
    out["tie2+"], out["tie2-"] = tie2 & (h > 0), tie2 & (h < 0)
    return {k: np.asarray(v, bool) for k, v in out.items()}


def _limit_bins(hp: HwParams, v, act_min: int, act_max: int) -> dict[str, np.ndarray]:
    """Saturation / clamp bins of the pre-clamp value ``v = scaled + y_zp``."""
    o_lo, o_hi = _out_range(hp)
    out = {}
    for name, lim, below, active in (("sat_lo", o_lo, True, act_min == o_lo),
                                     ("sat_hi", o_hi, False, act_max == o_hi),
                                     ("clamp_min", act_min, True, act_min > o_lo),
                                     ("clamp_max", act_max, False, act_max < o_hi)):
        sign = -1 if below else 1
        beyond = (v < lim) if below else (v > lim)
        out[name] = beyond & active
        out[f"{name}{'-' if below else '+'}1"] = (v == lim + sign) & active
        out[f"{name}{'+' if below else '-'}1"] = (v == lim - sign) & active
    return out


def _beat_bins(hp: HwParams, L, acc, direction, ovf, cols) -> dict[str, np.ndarray]:
    """Every per-lane bin of one layer's output beats, masks of shape (beats, C);
    ``cols`` (beats, C) are the layer columns of each lane."""
    _, _, _, m0p, shp = padded_layer(hp, L)
    m0, shift = m0p[cols], shp[cols]
    scaled = multiply_by_quantized_multiplier_saturating(acc, m0, shift, rounding=hp.rounding)
    v = np.asarray(scaled, np.int64) + L.y_zp
    bins = _tie_bins(hp, acc, m0, shift)
    bins.update(_limit_bins(hp, v, L.act_min, L.act_max))
    bins[f"ovf_{hp.overflow}+"] = ovf & (direction > 0)
    bins[f"ovf_{hp.overflow}-"] = ovf & (direction < 0)
    o_lo, o_hi = _out_range(hp)
    bins["y_zp_min"] = np.full(acc.shape, L.y_zp == o_lo)
    bins["y_zp_max"] = np.full(acc.shape, L.y_zp == o_hi)
    return bins


def _crossbar_direction(hp: HwParams, acc) -> np.ndarray:
    """Overflow direction from the crossbar golden's final accumulator: saturated at the
    top / bottom, or (wrap) wrapped once to the other sign."""
    lo, hi = _acc_range(hp)
    if hp.overflow == "saturate":
        return np.where(acc == hi, 1, np.where(acc == lo, -1, 0))
    return np.where(acc < 0, 1, -1)


def lane_bins(hp: HwParams, prog: Program, exp, got_y, got_ovf) -> dict[str, list[int]]:
    """Per-lane hit counts of every bin over the run's output beats.

    ``exp`` is the run's :class:`tb.model.Expected` (crossbar tops: its ``acc`` is the
    crossbar golden's accumulator); ``got_y`` / ``got_ovf`` the observed beats. Only output
    beats the hardware delivered and got right (``y`` and ``ovf`` of the lane) count.
    """
    names = lane_bin_names(hp)
    counts = {k: np.zeros(hp.cols, np.int64) for k in names}
    n = min(len(got_y), prog.n_outputs)
    good = ((np.asarray(got_y[:n]) == exp.y[:n]) & (np.asarray(got_ovf[:n]) == exp.ovf[:n]))
    beats = prog.beats[:n]
    lanes = np.arange(hp.cols)
    for li, L in enumerate(prog.layers):
        sel = np.flatnonzero(beats[:, 0] == li)
        if sel.size == 0:
            continue
        b, ct = beats[sel, 1], beats[sel, 2]
        cols = ct[:, None] * hp.cols + lanes[None, :]
        if exp.acc is not None:            # crossbar: the golden tile's accumulators
            acc = exp.acc[sel]
            direction = _crossbar_direction(hp, acc)
        else:
            xp, wp, bp, _, _ = padded_layer(hp, L)
            acc_l, dir_l = _mac_accumulators(hp, xp, wp, bp)
            acc, direction = acc_l[b[:, None], cols], dir_l[b[:, None], cols]
        for k, mask in _beat_bins(hp, L, acc, direction, exp.ovf[sel], cols).items():
            if k in counts:
                counts[k] += (mask & good[sel]).sum(axis=0)
    return {k: v.tolist() for k, v in counts.items()}


# ---------------------------------------------------------------------- stream bins
def _first_stage(hp: HwParams) -> int:
    """Lowest stage with a stall bin: 1 on the MAC array (one global stall over the whole
    pipeline); a crossbar's engine keeps converting while the back end stalls
    (docs/crossbar.md §3.2), so there the bins are the stages after the conversion."""
    return hp.cycles_per_vector() + 1 if hp.is_crossbar else 1


def stream_bin_names(hp: HwParams) -> list[str]:
    """The global (stream) bins: a stall in every pipeline stage, loads between beats."""
    return [f"stall@{s}" for s in range(_first_stage(hp), hp.latency + 1)] + [
        "load_between_data", "load_mid_accumulation"]


def stream_bins(hp: HwParams, trace: list[tuple[bool, bool]], out_cycles: list[int],
                accepts: list[tuple[int, bool]], latency: int) -> dict[str, int]:
    """Global bins of one cycle-driven run.

    ``trace[i]`` = ``(o_data.valid, o_data.ready)`` the monitor saw in its ``i``-th cycle;
    ``out_cycles`` the monitor cycle (same numbering) each output beat first appeared
    valid; ``accepts`` the driver's transfers in order, ``(kind, last)``; ``latency`` the
    LATENCY of this run's timing (``hp.latency_for`` the run's ADC latency).
    """
    names = stream_bin_names(hp)
    counts = dict.fromkeys(names, 0)
    first = _first_stage(hp) + latency - hp.latency
    stalled = np.array([v and not r for v, r in trace], bool)
    en_cum = np.concatenate([[0], np.cumsum(~stalled)])   # enabled cycles before cycle i
    for f in out_cycles:
        if not 0 <= f < len(stalled):
            continue
        # a stall cycle c <= f with this beat inside: stage = LATENCY − enabled cycles left
        # until it reaches o_data (en is low at c itself)
        for c in np.flatnonzero(stalled[:f + 1]):
            s = latency - int(en_cum[f] - en_cum[c])
            if first <= s <= latency:
                key = f"stall@{s - latency + hp.latency}"
                counts[key] = counts.get(key, 0) + 1
    prev, pending = None, 0           # prev: ``last`` of the latest data transfer
    for kind, last in accepts:
        if kind == KIND_DATA:
            if prev is not None:
                counts["load_between_data"] += pending
                counts["load_mid_accumulation"] += pending if not prev else 0
            prev, pending = last, 0
        elif kind == KIND_LOAD:
            pending += 1
    return {k: v for k, v in counts.items() if k in names}


def merge(into: dict, rec: dict) -> dict:
    """Add a run's coverage record (``{"lanes": {bin: [per lane]}, "stream": {bin: n}}``)."""
    for k, per in rec.get("lanes", {}).items():
        cur = into.setdefault("lanes", {}).setdefault(k, [0] * len(per))
        into["lanes"][k] = [a + b for a, b in zip(cur, per)]
    for k, n in rec.get("stream", {}).items():
        into.setdefault("stream", {})[k] = into.get("stream", {}).get(k, 0) + n
    return into
