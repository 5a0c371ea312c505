"""Stimulus for the crossbar testbenches (``tb/cocotb_crossbar_*.py``): trims, layers, extremes.

* trims (region 5, one per physical column, signed ``adc_bits``): :func:`calibrated_trim`
  (what a calibration would load: ``rint`` of the macro's ADC offsets, zeros without offset
  noise — the runs whose error against the exact result ``qmac regress`` reports),
  :func:`random_trim` (small random offsets) and :func:`limit_trim` (the ends of the range);
* :func:`xb_random_layers` — random fully-connected layers of ``tb.cocotb_datapath`` (K > R
  k-tiles, C > cols column tiles, batch > 1, per-tensor/per-channel, zero points random / at
  the limits / zero, no activation / ReLU / ReLU6), sized for the crossbar's cycle cost;
* :func:`extreme_layers` — one layer whose columns are weight patterns (all max, all min,
  checkerboard, one-hot rows, zero, random extremes) and whose batch rows are input patterns:
  column sums from 0 to the ADC's clipping point in few data beats; :func:`corner_layers` —
  every lane at the four corner dot products (both ends of the psum clamp on every lane);
* :func:`folded` — a :class:`~tb.layers.FoldedLayer` from raw ``x``/``w'`` with a multiplier
  that maps the accumulator's spread onto the output range;
* :func:`alternating_overflow_layer` — beats whose ``ovf`` alternates in every lane (bias'
  set from the model's psums so the limit falls between two beats' accumulators).
"""

from __future__ import annotations

import numpy as np

from golden.crossbar import adc_offsets_lsb
from golden.multiplier import quantize_multiplier

from .hwparams import HwParams
from .layers import ACTIVATIONS, FoldedLayer, random_layer

__all__ = ["calibrated_trim", "random_trim", "limit_trim", "limit_trim_sets", "corner_layers", "xb_random_layers", "extreme_layers",
           "folded", "beats_of", "alternating_overflow_layer"]


def calibrated_trim(hp: HwParams) -> np.ndarray:
    """The trims a calibration loads: ``rint`` of each column's ADC offset (in LSB), clipped
    to the trim range; zeros without ADC-offset noise."""
    noise = hp.xb_noise()
    if not noise.adc_offset_sigma:
        return np.zeros(hp.phys_cols, np.int64)
    lo, hi = hp.trim_range
    return np.clip(np.rint(adc_offsets_lsb(hp.xb_spec(), noise)), lo, hi).astype(np.int64)


def random_trim(hp: HwParams, rng: np.random.Generator, span: int = 4) -> np.ndarray:
    lo, hi = hp.trim_range
    span = max(1, min(span, hi))
    return np.clip(rng.integers(-span, span + 1, size=hp.phys_cols), lo, hi).astype(np.int64)


def _limit_candidates(hp: HwParams) -> np.ndarray:
    """The ends of the signed ``adc_bits`` trim range, ±1 inside them, and 0, ±1."""
    lo, hi = hp.trim_range
    return np.array(sorted({lo, lo + 1, -1, 0, 1, hi - 1, hi} & set(range(lo, hi + 1))),
                    np.int64)


def limit_trim(hp: HwParams, rng: np.random.Generator) -> np.ndarray:
    """Trims at the ends of the signed ``adc_bits`` range (and 0, ±1), per column."""
    return rng.choice(_limit_candidates(hp), size=hp.phys_cols).astype(np.int64)


def limit_trim_sets(hp: HwParams) -> list[np.ndarray]:
    """Every limit trim on every physical column: set ``k`` gives column ``j`` candidate
    ``(j + k) mod n`` (a random choice per column can miss a column's sign bit)."""
    cand, j = _limit_candidates(hp), np.arange(hp.phys_cols)
    return [cand[(j + k) % len(cand)] for k in range(len(cand))]


def beats_of(hp: HwParams, layers) -> int:
    """Output beats of ``layers``: Σ B·ceil(C / cols)."""
    return sum(L.shape[0] * -(-L.shape[2] // hp.cols) for L in layers)


def xb_random_layers(env, target_beats: int, *, allow_reload: bool = False,
                     max_ktiles: int = 3, zp_modes=("random", "limits", "zero"),
                     acts=ACTIVATIONS) -> list[FoldedLayer]:
    """Random layers with about ``target_beats`` output beats in total (never far more:
    every data beat costs cycles-per-vector cycles on a crossbar).

    Shapes: K mostly in (R, max_ktiles·R] (k-tiles; sometimes ≤ R), C in 1..2.5·cols
    (column tiles), batch ≥ 1 limited by the remaining beats; with ``allow_reload`` one
    layer in ten has K > R·T (reprogramming inside an open accumulation, batch 1).
    Per-tensor / per-channel, zero points (``zp_modes``) and activations (``acts``) cycle,
    like ``tb.cocotb_datapath.random_layers``; the first layer always has K > R, ReLU and
    (when the configuration is per-channel) per-channel multipliers.
    """
    hp, rng = env.hp, env.rng
    R, CC, T = hp.rows, hp.cols, hp.weight_tiles
    layers, beats, i = [], 0, 0
    target_beats = max(1, int(target_beats))
    while beats < target_beats:
        left = target_beats - beats
        r = rng.random() if i else 0.5         # layer 0: always K > R
        if allow_reload and i and r < 0.1:
            k = int(rng.integers(R * T + 1, R * (T + 1) + 1))
            b, c = 1, int(rng.integers(1, CC + 1))
        else:
            if r < 0.8 and max_ktiles > 1:
                k = int(rng.integers(R + 1, max_ktiles * R + 1))
            else:
                k = int(rng.integers(1, R + 1))
            c = int(rng.integers(1, max(2, int(2.5 * CC)) + 1))
            ct = -(-c // CC)
            if ct > left:                       # keep within the budget: fewer columns
                c = int(rng.integers(1, CC * max(1, left) + 1))
                ct = -(-c // CC)
            b = int(rng.integers(1, max(1, min(8, left // ct)) + 1))
        # layer 0 is per-channel (when configured) with ReLU: small budgets still cover them
        per_channel = hp.per_channel and (i == 0 or bool(rng.random() < 0.6))
        act = acts[(i + 1) % len(acts)]
        zp = zp_modes[(i // len(acts)) % len(zp_modes)]
        layer = random_layer(hp, rng, batch=b, k=k, c=c, per_channel=per_channel, act=act,
                             zp=zp, w_zp=bool(rng.random() < 0.2),
                             name=f"layer{i}(B={b},K={k},C={c},{act},zp={zp},"
                                  f"{'per-channel' if per_channel else 'per-tensor'})")
        layers.append(layer.fold(hp))
        beats += b * -(-c // CC)
        i += 1
    return layers


def corner_layers(hp: HwParams, rng: np.random.Generator) -> list[FoldedLayer]:
    """Every lane at the four corner dot products ``R·x·w`` (x, w at their limits): all
    columns ``w_lo`` (then ``w_hi``) against the rows all ``x_lo`` and all ``x_hi`` — both
    ends of the psum clamp on every lane, not only on the one column a pattern lands on."""
    (xlo, xhi), (wlo, whi), K = hp.x_range, hp.w_range, hp.rows
    x = np.stack([np.full(K, xlo), np.full(K, xhi)])
    return [folded(hp, x, np.full((hp.cols, K), v), rng, f"every lane at w = {v}")
            for v in (wlo, whi)]


def folded(hp: HwParams, x, w, rng: np.random.Generator, name: str, *, bias=None,
           act_min: int | None = None, act_max: int | None = None, y_zp: int = 0
           ) -> FoldedLayer:
    """A folded layer from raw ``x`` [B, K] and ``w'`` [C, K]: multipliers (per channel if
    the configuration is) map about ±2 accumulator spreads onto the output range."""
    x = np.atleast_2d(np.asarray(x, np.int64))
    w = np.atleast_2d(np.asarray(w, np.int64))
    c = w.shape[0]
    olo, ohi = hp.out_range
    exact = x @ w.T
    per_channel = hp.per_channel
    if per_channel:
        spread = np.maximum(1.0, np.abs(exact).max(axis=0).astype(np.float64))
    else:
        spread = np.full(c, max(1.0, float(np.abs(exact).max())))
    real = (ohi - olo + 1) / 2.5 / spread * np.exp2(rng.uniform(-0.5, 0.5, size=c))
    m0, shift = quantize_multiplier(real)
    m0 = np.asarray(m0, np.int64).reshape(-1)
    shift = np.asarray(shift, np.int64).reshape(-1)
    if not per_channel:
        m0 = np.full(c, m0[0], np.int64)
        shift = np.full(c, shift[0], np.int64)
    if bias is None:
        bias = np.zeros(c, np.int64)
    y_zp = int(np.clip(y_zp, olo, ohi))
    return FoldedLayer(x=x, w=w, bias=np.asarray(bias, np.int64), m0=m0, shift=shift,
                       y_zp=y_zp, act_min=olo if act_min is None else act_min,
                       act_max=ohi if act_max is None else act_max,
                       per_tensor=not per_channel, name=name)


def extreme_layers(hp: HwParams, rng: np.random.Generator, *, k_tiles: int = 1,
                   max_rows: int = 8) -> list[FoldedLayer]:
    """Layers of extreme operands, as few data beats as possible.

    Columns (weight patterns over K): all max, all min, all zero, checkerboard max/min,
    one-hot rows (row 0, R/2, R−1 at max / min), alternating halves, random extremes.
    Batch rows (input patterns): all max, all min, zero, alternating, one-hot, random
    extremes. ``k_tiles`` k-tiles of R rows (K = k_tiles·R).
    """
    R, C = hp.rows, hp.cols
    K = k_tiles * R
    xlo, xhi = hp.x_range
    wlo, whi = hp.w_range
    wz = 0 if wlo <= 0 <= whi else wlo
    xz = 0 if xlo <= 0 <= xhi else xlo
    cols = [np.full(K, whi), np.full(K, wlo), np.full(K, wz),
            np.where(np.arange(K) % 2 == 0, whi, wlo), np.where(np.arange(K) % 2 == 0, wlo, whi)]
    for r, v in ((0, whi), (R // 2, wlo), (R - 1, whi), (K - 1, wlo)):
        col = np.full(K, wz)
        col[r] = v
        cols.append(col)
    cols.append(np.where(np.arange(K) < K // 2, whi, wlo))
    wcand = np.array(sorted({wlo, wlo + 1, whi - 1, whi} | ({-1, 0, 1} if wlo < 0 else {0, 1})))
    while len(cols) < max(C, len(cols)):
        cols.append(rng.choice(wcand, size=K))
    rows = [np.full(K, xhi), np.full(K, xlo), np.full(K, xz),
            np.where(np.arange(K) % 2 == 0, xhi, xlo)]
    one = np.full(K, xz)
    one[R // 3] = xhi
    rows.append(one)
    xcand = np.array(sorted({xlo, xlo + 1, xhi - 1, xhi} | ({-1, 0, 1} if xlo < 0 else {0, 1})))
    while len(rows) < max_rows:
        rows.append(rng.choice(xcand, size=K))
    w = np.stack(cols)
    x = np.stack(rows[:max(max_rows, 5)])
    layers = [folded(hp, x, w[:C], rng, f"extremes K={K} (columns 0..{C - 1})")]
    if w.shape[0] > C:   # the patterns that did not fit one column tile
        layers.append(folded(hp, x[:4], w[C:], rng, f"extremes K={K} (columns {C}..)"))
    return layers


def alternating_overflow_layer(hp: HwParams, model, beats: int, *, trim=None) -> FoldedLayer:
    """``beats`` one-k-tile vectors alternating ``x = x_max`` / ``x = x_min`` on every row,
    weights ``w_max`` / ``w_min`` by lane, and per-lane bias' that puts the accumulator
    limit between the two beats' partial sums: the beat with the larger (smaller) psum
    ends exactly 1 above ``acc_max`` (below ``acc_min``), the other stays in range — every
    lane's ``ovf`` alternates beat by beat. The psums are the crossbar model's (``model``:
    :class:`tb.model.Model`, with ``trim``; lossy ADCs and noise included), so the split
    holds on any tile; a tile where the two beats' psums overlap is refused."""
    from tb.cocotb_accumulator import acc_layer
    from tb.schedule import schedule
    (xlo, xhi), (wlo, whi), (alo, ahi) = hp.x_range, hp.w_range, hp.acc_range
    R, C = hp.rows, hp.cols
    x = np.where(np.arange(beats)[:, None] % 2 == 0, xhi, xlo) * np.ones((1, R), np.int64)
    w = np.where(np.arange(C)[:, None] % 2 == 0, whi, wlo) * np.ones((1, R), np.int64)
    name = f"alternating overflow ({beats} beats)"
    psum = model.expected(schedule(hp, [acc_layer(hp, x, w, np.zeros(C), name)],
                                   trim=trim)).acc          # bias 0, one k-tile: acc = psum
    bias = np.zeros(C, np.int64)
    for c in range(C):
        a, b = psum[0::2, c], psum[1::2, c]
        hi, lo = (a, b) if a.min() > b.max() else (b, a)
        if hi.min() <= lo.max():
            raise AssertionError(f"lane {c}: the psums of x_max and x_min beats overlap "
                                 f"({a.min()}..{a.max()} vs {b.min()}..{b.max()})")
        bias[c] = ahi - hi.min() + 1 if hi.min() >= 1 else alo - lo.max() - 1
    return acc_layer(hp, x, w, bias, name)
