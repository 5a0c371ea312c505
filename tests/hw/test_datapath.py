# amaranth: UnusedElaboratable=no
"""hw.datapath.Datapath end to end against golden.datapath.datapath_model, through its
streams, with random gaps and random backpressure."""

import numpy as np
import pytest

from golden.datapath import datapath_model, fold_zero_points, fully_connected
from golden.multiplier import quantize_multiplier
from constraints import LANE_BITS, SCALAR_INDEX, encode_load, limits
from hw.datapath import Datapath
from tests.helpers.hwsim import int_range, make_rng, pack, simulate, unpack


class Layer:
    """One layer's worth of stimulus: stored weights w' (C, K), bias', requant parameters."""

    def __init__(self, w, bias, m0, shift, y_zp, act_min, act_max):
        self.w, self.bias = np.asarray(w), np.asarray(bias)
        self.m0, self.shift = m0, shift
        self.y_zp, self.act_min, self.act_max = y_zp, act_min, act_max


def load_items(dut, layer, *, clear=False):
    """The i_load beats that install ``layer`` (weights, bias, M0, SHIFT, scalars)."""
    items = []

    def addr(region, index):
        return encode_load(region, index, dut.INDEX_BITS)

    cols, rows, k = dut.cols, dut.rows, layer.w.shape[1]
    tiles = -(-k // rows)
    wpad = np.pad(layer.w, ((0, 0), (0, tiles * rows - k)))
    for t in range(tiles):
        for c in range(cols):
            items.append(("load", addr("WEIGHTS", t * cols + c),
                          pack(wpad[c, t * rows:(t + 1) * rows], dut.bits)))
    for c in range(cols):
        items.append(("load", addr("BIAS", c), int(layer.bias[c]) & ((1 << dut.acc_bits) - 1)))
    m0s = np.broadcast_to(layer.m0, (cols,)) if dut.per_channel else [layer.m0]
    shifts = np.broadcast_to(layer.shift, (cols,)) if dut.per_channel else [layer.shift]
    for c, (m0, shift) in enumerate(zip(m0s, shifts)):
        items.append(("load", addr("M0", c), int(m0)))
        items.append(("load", addr("SHIFT", c), pack([shift], LANE_BITS["SHIFT"])))
    mask = (1 << (dut.out_bits + 1)) - 1
    for name in ("y_zp", "act_min", "act_max"):
        items.append(("load", addr("SCALARS", SCALAR_INDEX[name]), getattr(layer, name) & mask))
    if clear:
        items.append(("load", addr("SCALARS", SCALAR_INDEX["clear_sticky"]), 0))
    return items


def data_items(dut, x):
    """The i_data beats of the input vectors ``x`` (B, K): one beat per tile of R rows."""
    rows = dut.rows
    k = x.shape[1]
    tiles = -(-k // rows)
    xpad = np.pad(x, ((0, 0), (0, tiles * rows - k)))
    items = []
    for vec in xpad:
        for t in range(tiles):
            items.append(("data", pack(vec[t * rows:(t + 1) * rows], dut.bits), t,
                          int(t == 0), int(t == tiles - 1)))
    return items


def run_datapath(dut, items, *, rng, ready_rate=0.6, gap_rate=0.2, extra=None):
    """Drive ``items`` in order (a driver that issues loads and data in order), accept
    ``o_data`` with probability ``ready_rate``; check the handshake rules every cycle.

    Returns the output beats ``[(y lanes, ovf lanes)]``, the final sticky flags and the
    latencies seen (cycles from the acceptance of a ``last`` beat to its ``o_data.valid``).
    """
    outputs, latencies = [], []
    lm = dut.latency_breakdown["mac_array"]
    final = {}
    clear_addr = encode_load("SCALARS", SCALAR_INDEX["clear_sticky"], dut.INDEX_BITS)

    async def tb(ctx):
        accepted_at = []           # cycles at which data beats were accepted
        last_at = []               # acceptance cycles of last beats, in order
        delivered = 0
        valid_since = None
        sticky = [0] * dut.cols    # OR of the ovf of every beat presented since the clear
        i = cycle = 0
        idle = 0
        while i < len(items) or delivered < len(last_at) or idle < 3:
            idle = idle + 1 if i >= len(items) and delivered == len(last_at) else 0
            ready = int(rng.random() < ready_rate)
            ctx.set(dut.o_data.ready, ready)
            item = items[i] if i < len(items) else None
            gap = rng.random() < gap_rate
            ctx.set(dut.i_load.valid, 0)
            ctx.set(dut.i_data.valid, 0)
            if item is not None and not gap:
                if item[0] == "load":
                    ctx.set(dut.i_load.valid, 1)
                    ctx.set(dut.i_load.payload.addr, item[1])
                    ctx.set(dut.i_load.payload.data, item[2])
                else:
                    ctx.set(dut.i_data.valid, 1)
                    ctx.set(dut.i_data.payload.x, item[1])
                    ctx.set(dut.i_data.payload.tile, item[2])
                    ctx.set(dut.i_data.payload.first, item[3])
                    ctx.set(dut.i_data.payload.last, item[4])
            # --- handshake rules of docs/design.md, checked before the edge --------------
            o_valid = ctx.get(dut.o_data.valid)
            pending = len(last_at) - delivered
            busy = pending > 0 or any(cycle - lm <= a < cycle for a in accepted_at[-lm:])
            assert ctx.get(dut.i_load.ready) == int(not busy), f"cycle {cycle}"
            load_valid = ctx.get(dut.i_load.valid)
            assert ctx.get(dut.i_data.ready) == int(not (o_valid and not ready)
                                                    and not load_valid), f"cycle {cycle}"
            if o_valid and valid_since is None:
                valid_since = cycle
                latencies.append(cycle - last_at[delivered])
                ovf = unpack(ctx.get(dut.o_data.payload.ovf), 1, dut.cols, False)
                sticky = [a | b for a, b in zip(sticky, ovf)]
            assert unpack(ctx.get(dut.o_ovf_sticky), 1, dut.cols, False) == sticky, cycle
            if o_valid and ready:
                y = unpack(ctx.get(dut.o_data.payload.y), dut.out_bits, dut.cols,
                           dut.out_signed)
                ovf = unpack(ctx.get(dut.o_data.payload.ovf), 1, dut.cols, False)
                outputs.append((y, ovf))
                delivered += 1
                valid_since = None
            if ctx.get(dut.i_load.valid) and ctx.get(dut.i_load.ready):
                if item[1] == clear_addr:
                    sticky = [0] * dut.cols
                i += 1
            elif ctx.get(dut.i_data.valid) and ctx.get(dut.i_data.ready):
                accepted_at.append(cycle)
                if item[4]:
                    last_at.append(cycle)
                i += 1
            if extra is not None:
                extra(ctx, cycle, outputs)
            await ctx.tick()
            cycle += 1
        final["sticky"] = unpack(ctx.get(dut.o_ovf_sticky), 1, dut.cols, False)
        final["cycles"] = cycle

    simulate(dut, tb)
    return outputs, final, latencies


def model(dut, layer, x):
    y, ovf = datapath_model(
        x, layer.w, layer.bias, bits=dut.bits, input_signed=dut.input_signed,
        weight_signed=dut.weight_signed, rows=dut.rows, acc_bits=dut.acc_bits,
        overflow=dut.overflow, m0=np.asarray(layer.m0), shift=np.asarray(layer.shift),
        y_zp=layer.y_zp, act_min=layer.act_min, act_max=layer.act_max, rounding=dut.rounding)
    return y.tolist(), ovf.astype(int).tolist()


def random_layer(dut, rng, x, *, shift_range=None):
    """Random weights (lane 0 at its extreme value, so the extreme input vectors overflow
    small accumulators) and bias; multipliers scaled so the outputs spread over the output
    range (or random ones with shifts in ``shift_range``)."""
    cols, k = dut.cols, x.shape[1]
    wlo, whi = int_range(dut.bits, dut.weight_signed)
    w = rng.integers(wlo, whi, (cols, k), endpoint=True)
    w[0] = wlo if dut.weight_signed else whi
    alo, ahi = int_range(dut.acc_bits, True)
    # bias: random, but centring each lane's accumulations (else the requantized lanes
    # saturate for most seeds and the outputs carry little information)
    dots = (x @ w.T).astype(float)
    noise = rng.integers(alo // 8, ahi // 8, cols, endpoint=True).astype(float)
    noise = np.clip(noise, -(dots.std(axis=0) + 1), dots.std(axis=0) + 1)
    bias = np.clip(np.rint(noise - dots.mean(axis=0)), alo // 8, ahi // 8).astype(np.int64)
    bias[0] = 0
    lanes = cols if dut.per_channel else 1
    out_lo, out_hi = int_range(dut.out_bits, dut.out_signed)
    if shift_range is None:
        acc = (x @ w.T + bias).astype(float)
        spread = acc.std(axis=0) + 1.0
        real = (out_hi - out_lo) / (4 * spread) * rng.uniform(0.7, 1.4, cols)
        if not dut.per_channel:
            real = real.mean(keepdims=True)
        m0, shift = quantize_multiplier(np.clip(real, 2.0**-30, 2.0**20))
    else:
        m0 = rng.integers(1 << 30, 1 << 31, lanes)
        shift = rng.integers(*shift_range, lanes, endpoint=True)
    if not dut.per_channel:
        m0, shift = int(m0[0]), int(shift[0])
    zp_lo, zp_hi = int_range(dut.out_bits, True)
    y_zp = int(rng.integers(zp_lo // 2, zp_hi // 2, endpoint=True)) + (out_lo + out_hi) // 2
    act_min = int(rng.integers(out_lo, (3 * out_lo + out_hi) // 4, endpoint=True))
    return Layer(w, bias, m0, shift, y_zp, act_min, out_hi)


CONFIGS = [
    dict(bits=4, input_signed=True, weight_signed=True, rows=3, cols=2, weight_tiles=3,
         acc_bits=10, overflow="saturate", out_bits=4, out_signed=True, rounding="double",
         per_channel=True),
    dict(bits=3, input_signed=False, weight_signed=True, rows=2, cols=3, weight_tiles=2,
         acc_bits=7, overflow="wrap", out_bits=6, out_signed=False, rounding="single",
         per_channel=False),
    dict(bits=5, input_signed=True, weight_signed=False, rows=5, cols=2, weight_tiles=1,
         acc_bits=11, overflow="wrap", out_bits=3, out_signed=True, rounding="ruy",
         per_channel=True),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"N{c['bits']}R{c['rows']}C{c['cols']}"
                         f"T{c['weight_tiles']}-{c['overflow']}-{c['rounding']}")
def test_end_to_end_with_backpressure(cfg):
    """Two layers back to back (the second one after a sticky clear), random input gaps and
    output backpressure: every output beat arrives once, in order, bit-exact with golden."""
    rng = make_rng(cfg["bits"] * 10 + cfg["rows"])
    dut = Datapath(**cfg)
    k = dut.rows * dut.weight_tiles - (1 if dut.rows > 1 else 0)
    xlo, xhi = int_range(dut.bits, dut.input_signed)
    layers, xs = [], []
    for _ in range(2):
        x = rng.integers(xlo, xhi, (24, k), endpoint=True)
        x[0], x[1] = xhi, xlo                      # extreme vectors (overflow candidates)
        layers.append(random_layer(dut, rng, x))
        xs.append(x)
    items = (load_items(dut, layers[0]) + data_items(dut, xs[0])
             + load_items(dut, layers[1], clear=True) + data_items(dut, xs[1]))
    outputs, final, latencies = run_datapath(dut, items, rng=rng)

    want_y, want_ovf = [], []
    for layer, x in zip(layers, xs):
        y, ovf = model(dut, layer, x)
        want_y += y
        want_ovf += ovf
    assert len(outputs) == len(want_y)
    assert [o[0] for o in outputs] == want_y
    assert [o[1] for o in outputs] == want_ovf
    # the sticky flags cover the second layer only (cleared in between)
    second = np.array(want_ovf[len(xs[0]):])
    assert final["sticky"] == second.any(axis=0).astype(int).tolist()
    assert latencies and min(latencies) == dut.LATENCY
    # the stimulus is not degenerate: overflows and clean lanes, many distinct outputs
    assert 0 < np.sum(want_ovf) < np.size(want_ovf)
    assert len({v for y in want_y for v in y}) >= min(8, 2 ** dut.out_bits // 2)


WIDE = [   # (the first CONFIGS entry with wide operands, accumulators and rows)
    dict(CONFIGS[0], bits=16, rows=6, weight_tiles=2, acc_bits=40, overflow="wrap",
         out_bits=16),
    dict(CONFIGS[0], bits=12, input_signed=False, rows=9, cols=3, weight_tiles=2,
         acc_bits=33, out_bits=8, out_signed=False, rounding="ruy"),
]


@pytest.mark.parametrize("cfg", WIDE, ids=lambda c: f"N{c['bits']}R{c['rows']}"
                         f"acc{c['acc_bits']}-{c['rounding']}")
def test_wide_operands_and_accumulators(cfg):
    """N up to 16, accumulators wider than 32 bits (values beyond int32 on purpose) and
    R > 5 (a deeper adder tree, longer LATENCY), end to end with gaps and backpressure."""
    rng = make_rng(cfg["bits"] * 100 + cfg["acc_bits"])
    dut = Datapath(**cfg)
    k = dut.rows * dut.weight_tiles - 1
    xlo, xhi = int_range(dut.bits, dut.input_signed)
    x = rng.integers(xlo, xhi, (16, k), endpoint=True)
    x[0], x[1] = xhi, xlo
    layer = random_layer(dut, rng, x)
    layer.bias[-1] = (1 << (dut.acc_bits - 1)) - (1 << 29)   # near the top: beyond int32
    outputs, _, latencies = run_datapath(dut, load_items(dut, layer) + data_items(dut, x),
                                         rng=rng)
    want_y, want_ovf = model(dut, layer, x)
    assert [o[0] for o in outputs] == want_y
    assert [o[1] for o in outputs] == want_ovf
    assert latencies and min(latencies) == dut.LATENCY
    acc = x @ layer.w.T + layer.bias
    assert np.abs(acc).max() > 2**31          # the accumulators really leave int32
    assert len({v for y in want_y for v in y[:-1]}) >= 8


def test_out_bits_16_scalars_at_their_limits():
    """out_bits = 16 (the widest): y_zp / act_min / act_max are 17-bit signed registers;
    the zero point at its negative limit and the clamp at the output range load with their
    sign, and the outputs cover both ends."""
    rng = make_rng(16)
    dut = Datapath(**dict(CONFIGS[0], bits=8, rows=2, cols=2, weight_tiles=2, acc_bits=32,
                          overflow="wrap", out_bits=16))
    x = rng.integers(-128, 128, (12, 3))
    layer = random_layer(dut, rng, x)
    layer.act_min, layer.act_max, layer.y_zp = -(1 << 15), (1 << 15) - 1, -(1 << 15)
    outputs, _, _ = run_datapath(dut, load_items(dut, layer) + data_items(dut, x), rng=rng)
    want_y, _ = model(dut, layer, x)
    assert [o[0] for o in outputs] == want_y
    assert min(min(y) for y in want_y) == -(1 << 15)


def test_index_bits_of_the_largest_tops_elaborate():
    """T·C up to 1024·256 needs an 18-bit load index; the shared RequantStage must take it."""
    from amaranth.hdl import Fragment
    dut = Datapath(**dict(CONFIGS[0], rows=1, cols=128, weight_tiles=limits.TILES_MAX))
    assert dut.INDEX_BITS == 17
    Fragment.get(dut, None)


def test_int8_layer_matches_tflite_form():
    """A TFLite-style int8 fully connected layer (zero points folded by the driver, wrap,
    acc_bits 32) equals golden.fully_connected, the literal TFLite reference form."""
    rng = make_rng(8)
    dut = Datapath(bits=8, input_signed=True, weight_signed=True, rows=4, cols=3,
                   weight_tiles=3, acc_bits=32, overflow="wrap", out_bits=8, out_signed=True,
                   rounding="double", per_channel=True)
    k, x_zp, y_zp = 10, -5, 7
    x = rng.integers(-128, 128, (20, k))
    w = rng.integers(-127, 128, (3, k))
    bias = rng.integers(-5000, 5000, 3)
    m0, shift = quantize_multiplier(np.array([0.004, 0.0021, 0.013]))
    w_folded, bias_folded = fold_zero_points(w, bias, x_zp=x_zp)
    layer = Layer(w_folded, bias_folded, m0, shift, y_zp, -128, 127)
    outputs, _, _ = run_datapath(dut, load_items(dut, layer) + data_items(dut, x), rng=rng)
    want = fully_connected(x, w, bias=bias, x_zp=x_zp, w_zp=0, m0=m0, shift=shift, y_zp=y_zp,
                           act_min=-128, act_max=127, rounding="double")
    assert [o[0] for o in outputs] == want.tolist()


def test_inject_fault_is_caught():
    """The end-to-end check fails on the faulty datapath and passes on the correct one."""
    cfg = dict(CONFIGS[0], acc_bits=12, out_bits=8)
    rng = make_rng(99)
    results = {}
    for fault in (None, "rounding_off_by_one"):
        dut = Datapath(**cfg, inject_fault=fault)
        rng = make_rng(99)
        x = rng.integers(-8, 8, (40, 6))
        layer = random_layer(dut, rng, x, shift_range=(-3, -1))
        layer.m0 = np.full(dut.cols, 1 << 30)        # ties are frequent with m0 = 2^30
        outputs, _, _ = run_datapath(dut, load_items(dut, layer) + data_items(dut, x),
                                     rng=rng, ready_rate=1.0, gap_rate=0.0)
        results[fault] = [o[0] for o in outputs] == model(dut, layer, x)[0]
    assert results == {None: True, "rounding_off_by_one": False}


def test_reset_state_is_identity_requantizer():
    """After reset (no M0/SHIFT/scalar loads) the requantizer is the identity, clamped."""
    rng = make_rng(5)
    dut = Datapath(bits=4, input_signed=True, weight_signed=True, rows=2, cols=2,
                   weight_tiles=1, acc_bits=8, overflow="wrap", out_bits=4, out_signed=True,
                   rounding="double", per_channel=False)
    w = np.array([[1, 1], [3, -2]])
    items = [("load", encode_load("WEIGHTS", c, dut.INDEX_BITS), pack(w[c], 4))
             for c in range(2)]
    x = np.array([[1, 2], [-8, 7], [7, 7], [-8, -8]])
    items += data_items(dut, x)
    outputs, _, _ = run_datapath(dut, items, rng=rng)
    acc = x @ w.T
    assert [o[0] for o in outputs] == np.clip(acc, -8, 7).tolist()


def test_out_of_range_loads_are_ignored():
    """Loads to missing indices and to regions 5-7 change nothing."""
    rng = make_rng(6)
    cfg = dict(CONFIGS[1])
    dut = Datapath(**cfg)
    x = rng.integers(0, 8, (6, 4))
    layer = random_layer(dut, rng, x)
    base = load_items(dut, layer)
    ib = dut.INDEX_BITS
    junk = [("load", encode_load("WEIGHTS", dut.weight_tiles * dut.cols, ib), 0),
            ("load", encode_load("BIAS", dut.cols, ib), 12345),
            ("load", encode_load("M0", 1, ib), 0),      # per-tensor: only 0
            ("load", encode_load("SHIFT", 1, ib), 5),
            ("load", encode_load(5, 0, ib), 0),
            ("load", encode_load(7, 3, ib), 0xFFFF)]
    outputs, _, _ = run_datapath(dut, base + junk + data_items(dut, x), rng=rng)
    assert [o[0] for o in outputs] == model(dut, layer, x)[0]


def test_describe_and_widths():
    dut = Datapath(bits=8, input_signed=True, weight_signed=True, rows=16, cols=16,
                   weight_tiles=4, acc_bits=32, overflow="wrap", out_bits=8, out_signed=True,
                   rounding="double", per_channel=True)
    d = dut.describe()
    assert d["latency"] == dut.LATENCY == 4 + 1 + 12
    assert d["latency_breakdown"] == {"mac_array": 4, "accumulator_bank": 1,
                                      "requantizer": 12}
    assert (d["index_bits"], d["addr_bits"], d["load_data_bits"], d["tile_bits"]) == (
        6, 9, 128, 2)
    assert (d["psum_bits"], d["acc_bits"], d["throughput_beats_per_cycle"]) == (20, 32, 1)
    assert d["payloads"]["i_data"] == {"x": {"offset": 0, "width": 128},
                                       "tile": {"offset": 128, "width": 2},
                                       "first": {"offset": 130, "width": 1},
                                       "last": {"offset": 131, "width": 1}}
    assert d["payloads"]["o_data"]["ovf"] == {"offset": 128, "width": 16}
    assert d["address_map"]["SCALARS"]["index"] == SCALAR_INDEX
    small = Datapath(bits=2, input_signed=False, weight_signed=False, rows=1, cols=1,
                     weight_tiles=1, acc_bits=4, overflow="saturate", out_bits=2,
                     out_signed=False, rounding="single", per_channel=False)
    assert (small.INDEX_BITS, small.ADDR_BITS, small.LOAD_DATA_BITS, small.TILE_BITS) == (
        2, 5, 32, 1)
    assert small.psum_bits == 5 and small.LATENCY == 2 + 1 + 12


BASE = CONFIGS[0]


@pytest.mark.parametrize("change, message", [
    (dict(bits=17), "Datapath: bits=17 is out of range; allowed: [2, 16]"),
    (dict(rows=0), "Datapath: rows=0 is out of range; allowed: [1, 256]"),
    (dict(cols=300), "Datapath: cols=300 is out of range; allowed: [1, 256]"),
    (dict(weight_tiles=0), "Datapath: weight_tiles=0 is out of range; allowed: [1, 1024]"),
    (dict(acc_bits=7), "Datapath: acc_bits=7 is out of range; allowed: [8, 48]"),
    (dict(acc_bits=49), "Datapath: acc_bits=49 is out of range; allowed: [8, 48]"),
    (dict(overflow="clamp"),
     "Datapath: overflow='clamp' is out of range; allowed: 'wrap', 'saturate'"),
    (dict(out_bits=1), "Datapath: out_bits=1 is out of range; allowed: [2, 16]"),
    (dict(out_signed=0), "Datapath: out_signed=0 is not a bool; allowed: True, False"),
    (dict(rounding="even"),
     "Datapath: rounding='even' is out of range; allowed: 'double', 'single', 'ruy', 'single16'"),
    (dict(per_channel="yes"), "Datapath: per_channel='yes' is not a bool; allowed: True, False"),
    (dict(inject_fault="off_by_two"), "Datapath: inject_fault='off_by_two' is out of range; "
                                      "allowed: None, 'rounding_off_by_one'"),
])
def test_constructor_errors(change, message):
    with pytest.raises(ValueError) as exc:
        Datapath(**{**BASE, **change})
    assert str(exc.value) == message

