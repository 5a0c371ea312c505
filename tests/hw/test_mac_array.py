# amaranth: UnusedElaboratable=no
"""hw.mac_array.MacArray against golden.datapath.mac (Amaranth simulator)."""

import itertools

import numpy as np
import pytest

from golden.datapath import mac
from hw.mac_array import MacArray
from tests.helpers.hwsim import int_range, make_rng, simulate

SIGNEDNESS = [(True, True), (True, False), (False, True), (False, False)]


def run_mac(dut, weights, vectors, *, rng=None, stall_rate=0.0):
    """Load ``weights[t][c][r]``, stream ``vectors`` = [(x, tile)], return one psum row each.

    With ``stall_rate`` > 0, ``en`` drops randomly; a Python model of the pipeline registers
    tracks which vector sits in the last stage, so holds are checked too.
    """
    results = [None] * len(vectors)
    lat = dut.LATENCY

    async def tb(ctx):
        for t, tile in enumerate(weights):
            for c, column in enumerate(tile):
                ctx.set(dut.w_en, 1)
                ctx.set(dut.w_tile, t)
                ctx.set(dut.w_col, c)
                for r, w in enumerate(column):
                    ctx.set(dut.w_data[r], int(w))
                await ctx.tick()
        ctx.set(dut.w_en, 0)
        stages = [None] * lat
        i = 0
        while i < len(vectors) or any(s is not None for s in stages):
            en = not (rng is not None and rng.random() < stall_rate)
            ctx.set(dut.en, en)
            current = None
            if i < len(vectors):
                x, tile = vectors[i]
                for r, v in enumerate(x):
                    ctx.set(dut.x[r], int(v))
                ctx.set(dut.tile, tile)
                if en:
                    current, i = i, i + 1
            await ctx.tick()
            if en:
                stages = [current] + stages[:-1]
            if stages[-1] is not None:
                got = [ctx.get(dut.psum[c]) for c in range(dut.cols)]
                if results[stages[-1]] is None:
                    results[stages[-1]] = got
                else:                      # held by a stall: must not change
                    assert results[stages[-1]] == got

    simulate(dut, tb)
    return np.array(results, dtype=np.int64)


def expected(weights, vectors, dut):
    return np.array([mac(np.array(x), np.array(weights[tile]), bits=dut.bits,
                         input_signed=dut.input_signed, weight_signed=dut.weight_signed)
                     for x, tile in vectors], dtype=np.int64)


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("input_signed, weight_signed", SIGNEDNESS)
def test_exhaustive_products(bits, input_signed, weight_signed):
    """Every (x, w) pair of the N-bit operand space, on a 1×2 array holding all weights."""
    cols = 2
    tiles = (1 << bits) // cols
    dut = MacArray(bits=bits, input_signed=input_signed, weight_signed=weight_signed,
                   rows=1, cols=cols, weight_tiles=tiles)
    wlo, whi = int_range(bits, weight_signed)
    ws = list(range(wlo, whi + 1))
    weights = [[[ws[t * cols + c]] for c in range(cols)] for t in range(tiles)]
    xlo, xhi = int_range(bits, input_signed)
    vectors = [([x], t) for x in range(xlo, xhi + 1) for t in range(tiles)]
    got = run_mac(dut, weights, vectors)
    assert np.array_equal(got, expected(weights, vectors, dut))
    # every pair was covered, and the products span exactly the product range
    assert got.size == (1 << bits) ** 2
    assert (got.min(), got.max()) == dut.product_range


@pytest.mark.parametrize("input_signed, weight_signed", SIGNEDNESS)
@pytest.mark.parametrize("rows", [2, 3, 4, 5])
def test_exhaustive_small_tile(rows, input_signed, weight_signed):
    """2-bit operands: every input vector of ``rows`` values against corner and mixed
    weight tiles, through every adder-tree shape up to two levels."""
    bits, cols = 2, 2
    lo_hi = [int_range(bits, weight_signed)[i] for i in (0, 1)]
    wlo, whi = lo_hi
    tiles_w = [[[wlo] * rows, [whi] * rows],
               [[(wlo, whi)[r % 2] for r in range(rows)], [(r % 3) - 1 if weight_signed
                                                           else r % 4 for r in range(rows)]]]
    dut = MacArray(bits=bits, input_signed=input_signed, weight_signed=weight_signed,
                   rows=rows, cols=cols, weight_tiles=len(tiles_w))
    xlo, xhi = int_range(bits, input_signed)
    vectors = [(list(x), t) for x in itertools.product(range(xlo, xhi + 1), repeat=rows)
               for t in range(len(tiles_w))]
    got = run_mac(dut, tiles_w, vectors)
    assert np.array_equal(got, expected(tiles_w, vectors, dut))


@pytest.mark.parametrize("input_signed, weight_signed", SIGNEDNESS)
@pytest.mark.parametrize("rows", [3, 4, 7])
def test_extremes_16bit(rows, input_signed, weight_signed):
    """N = 16: the corner dot products reach both ends of the psum range exactly."""
    bits = 16
    dut = MacArray(bits=bits, input_signed=input_signed, weight_signed=weight_signed,
                   rows=rows, cols=2, weight_tiles=2)
    xlo, xhi = int_range(bits, input_signed)
    wlo, whi = int_range(bits, weight_signed)
    weights = [[[wlo] * rows, [whi] * rows], [[whi] * rows, [wlo, whi] * (rows // 2)
                                              + [wlo] * (rows % 2)]]
    rng = make_rng(rows)
    vectors = [([v] * rows, t) for v in (xlo, xhi, 0, -1 if input_signed else 1)
               for t in range(2)]
    vectors += [(list(rng.integers(xlo, xhi, rows, endpoint=True)), int(rng.integers(2)))
                for _ in range(20)]
    got = run_mac(dut, weights, vectors)
    want = expected(weights, vectors, dut)
    assert np.array_equal(got, want)
    assert want.min() == dut.psum_range[0] and want.max() == dut.psum_range[1]


@pytest.mark.parametrize("bits, input_signed, weight_signed, rows, pipeline", [
    (8, True, True, 5, "standard"), (8, False, True, 16, "standard"),
    (4, False, False, 9, "standard"), (13, True, False, 6, "standard"),
    (8, True, True, 5, "deep"), (16, False, False, 3, "deep"),
])
def test_random_with_stalls(bits, input_signed, weight_signed, rows, pipeline):
    """Random vectors and tiles with ``en`` dropping 30 % of the cycles."""
    rng = make_rng(bits * 100 + rows)
    cols, tiles = 3, 3
    dut = MacArray(bits=bits, input_signed=input_signed, weight_signed=weight_signed,
                   rows=rows, cols=cols, weight_tiles=tiles, pipeline=pipeline)
    wlo, whi = int_range(bits, weight_signed)
    xlo, xhi = int_range(bits, input_signed)
    weights = rng.integers(wlo, whi, (tiles, cols, rows), endpoint=True).tolist()
    vectors = [(list(rng.integers(xlo, xhi, rows, endpoint=True)), int(rng.integers(tiles)))
               for _ in range(150)]
    got = run_mac(dut, weights, vectors, rng=rng, stall_rate=0.3)
    assert np.array_equal(got, expected(weights, vectors, dut))


@pytest.mark.parametrize("pipeline", ["standard", "deep"])
def test_write_port_edges(pipeline):
    """Writes to tiles ≥ T are ignored, tiles ≥ T read tile 0, writes work while stalled,
    and a vector sampled at the edge of a write sees the old weights (``"deep"``: the
    write lands one edge later, and the vector reads the memory one edge later)."""
    dut = MacArray(bits=4, input_signed=True, weight_signed=True, rows=2, cols=2,
                   weight_tiles=3, pipeline=pipeline)
    seen = []

    async def write(ctx, tile, col, values):
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_tile, tile)
        ctx.set(dut.w_col, col)
        for r, v in enumerate(values):
            ctx.set(dut.w_data[r], v)
        await ctx.tick()
        ctx.set(dut.w_en, 0)

    async def product(ctx, tile):
        ctx.set(dut.en, 1)
        ctx.set(dut.tile, tile)
        for r in range(2):
            ctx.set(dut.x[r], 1)
        await ctx.tick()
        ctx.set(dut.en, 0)
        await ctx.tick()
        ctx.set(dut.en, 1)
        await ctx.tick().repeat(dut.LATENCY - 1)
        return [ctx.get(dut.psum[c]) for c in range(2)]

    async def tb(ctx):
        ctx.set(dut.en, 0)                      # stalled: writes still land
        for t in range(3):
            for c in range(2):
                await write(ctx, t, c, [t + 1, c + 1])
        await write(ctx, 3, 0, [-8, -8])         # tile 3 does not exist: ignored
        seen.append(await product(ctx, 0))
        seen.append(await product(ctx, 2))
        seen.append(await product(ctx, 3))       # out of range: reads tile 0
        # a write at the same edge as the sampling of a vector: old weights for it
        ctx.set(dut.en, 1)
        ctx.set(dut.tile, 1)
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_tile, 1)
        ctx.set(dut.w_col, 0)
        ctx.set(dut.w_data[0], 7)
        ctx.set(dut.w_data[1], 7)
        await ctx.tick()
        ctx.set(dut.w_en, 0)
        await ctx.tick().repeat(dut.LATENCY - 1)
        seen.append([ctx.get(dut.psum[c]) for c in range(2)])
        seen.append(await product(ctx, 1))

    simulate(dut, tb)
    assert seen == [[1 + 1, 1 + 2], [3 + 1, 3 + 2], [2, 3], [2 + 1, 2 + 2], [14, 2 + 2]]


@pytest.mark.parametrize("bits, input_signed, weight_signed, rows, psum_bits", [
    (8, True, True, 1, 16), (8, True, True, 16, 20), (8, True, True, 3, 17),
    (8, True, False, 1, 16), (8, True, False, 16, 20), (8, False, False, 1, 17),
    (8, False, False, 16, 21), (2, True, True, 1, 4), (16, True, True, 64, 38),
])
def test_psum_bits_is_minimal(bits, input_signed, weight_signed, rows, psum_bits):
    dut = MacArray(bits=bits, input_signed=input_signed, weight_signed=weight_signed,
                   rows=rows, cols=1)
    assert dut.psum_bits == psum_bits
    lo, hi = dut.psum_range
    assert -(1 << (psum_bits - 1)) <= lo and hi < 1 << (psum_bits - 1)
    assert not (-(1 << (psum_bits - 2)) <= lo and hi < 1 << (psum_bits - 2))
    assert dut.LATENCY == MacArray.latency_for(rows=rows) == 2 + -(-(rows - 1).bit_length() // 2)


BASE = dict(bits=8, input_signed=True, weight_signed=True, rows=4, cols=4, weight_tiles=2)


@pytest.mark.parametrize("change, message", [
    (dict(bits=1), "MacArray: bits=1 is out of range; allowed: [2, 16]"),
    (dict(bits=17), "MacArray: bits=17 is out of range; allowed: [2, 16]"),
    (dict(bits=8.0), "MacArray: bits=8.0 is not an integer; allowed: [2, 16]"),
    (dict(bits=True), "MacArray: bits=True is not an integer; allowed: [2, 16]"),
    (dict(rows=0), "MacArray: rows=0 is out of range; allowed: [1, 256]"),
    (dict(cols=257), "MacArray: cols=257 is out of range; allowed: [1, 256]"),
    (dict(weight_tiles=0), "MacArray: weight_tiles=0 is out of range; allowed: [1, 1024]"),
    (dict(input_signed=1), "MacArray: input_signed=1 is not a bool; allowed: True, False"),
    (dict(weight_signed="yes"),
     "MacArray: weight_signed='yes' is not a bool; allowed: True, False"),
])
def test_constructor_errors(change, message):
    with pytest.raises(ValueError) as exc:
        MacArray(**{**BASE, **change})
    assert str(exc.value) == message


def test_keyword_only():
    with pytest.raises(TypeError):
        MacArray(8, True, True, 4, 4)    # noqa: parameters are keyword-only
