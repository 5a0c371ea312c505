"""hw._util: the lint-clean arithmetic helpers, exhaustively on small widths."""

import itertools

import pytest
from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from hw._util import (add, ceil_log2, clamp, clamp_parallel, divmod_const, eq_const, fits,
                      lt, saturate, shift_right, sub)


def evaluate(m, inputs, outputs, cases):
    """Set ``inputs`` to each tuple of ``cases``; return the tuples of ``outputs``."""
    seen = []

    async def tb(ctx):
        for case in cases:
            for sig, v in zip(inputs, case):
                ctx.set(sig, v)
            seen.append(tuple(ctx.get(o) for o in outputs))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    return seen


def values(shape):
    lo, hi = (-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed \
        else (0, (1 << shape.width) - 1)
    return range(lo, hi + 1)


def wrap(v, width):
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


SHAPES = [signed(3), unsigned(3), signed(4), unsigned(2)]


@pytest.mark.parametrize("sa, sb", list(itertools.product(SHAPES, SHAPES)))
def test_add_sub_lt(sa, sb):
    m = Module()
    a, b = Signal(sa), Signal(sb)
    width = max(sa.width, sb.width) + 2
    s, d, less = add(m, a, b, width), sub(m, a, b, width), Signal()
    m.d.comb += less.eq(lt(m, a, b))
    cases = list(itertools.product(values(sa), values(sb)))
    got = evaluate(m, [a, b], [s, d, less], cases)
    assert got == [(x + y, x - y, int(x < y)) for x, y in cases]


@pytest.mark.parametrize("shape, width", [(signed(6), 4), (unsigned(5), 4), (signed(3), 5)])
def test_fits_saturate(shape, width):
    m = Module()
    v, ok = Signal(shape), Signal()
    m.d.comb += ok.eq(fits(m, v, width))
    sat = saturate(m, v, width)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    cases = [(x,) for x in values(shape)]
    got = evaluate(m, [v], [ok, sat], cases)
    assert got == [(int(lo <= x <= hi), min(max(x, lo), hi)) for (x,) in cases]


def test_clamp_and_eq_const():
    m = Module()
    v, lo, hi = Signal(signed(4)), Signal(signed(3)), Signal(unsigned(2))
    out, eq5 = clamp(m, v, lo, hi, 5), Signal()
    m.d.comb += eq5.eq(eq_const(v, 5))
    cases = list(itertools.product(values(signed(4)), values(signed(3)), values(unsigned(2))))
    got = evaluate(m, [v, lo, hi], [out, eq5], cases)
    assert got == [(min(max(x, a), b), int(x == 5)) for x, a, b in cases]


@pytest.mark.parametrize("shape, lo, hi, width", [
    (signed(6), -31, 30, 7), (signed(9), -128, 127, 10), (unsigned(4), 3, 12, 6),
    (signed(4), -2, -2, 5), (signed(3), -7, 9, 6)])
def test_clamp_parallel(shape, lo, hi, width):
    """Constant limits (the deep requantizer's shift and activation limits): every value,
    limits inside, at and beyond the value range."""
    m = Module()
    v = Signal(shape)
    out = clamp_parallel(m, v, Const(lo, signed(width)), Const(hi, signed(width)), width)
    cases = [(x,) for x in values(shape)]
    assert evaluate(m, [v], [out], cases) == [(min(max(x, lo), hi),) for (x,) in cases]


def test_clamp_parallel_refuses_variable_or_crossed_limits():
    with pytest.raises(ValueError, match="must be constants with lo <= hi"):
        clamp_parallel(None, Signal(signed(4)), Signal(signed(4)), Const(3, signed(4)), 5)
    with pytest.raises(ValueError, match="must be constants with lo <= hi"):
        clamp_parallel(None, Signal(signed(4)), Const(3, signed(4)), Const(2, signed(4)), 5)


@pytest.mark.parametrize("shape, max_amount", [(signed(7), 6), (unsigned(5), 7),
                                                (signed(4), 9)])
def test_shift_right(shape, max_amount):
    m = Module()
    v, amount = Signal(shape), Signal(ceil_log2(max_amount + 1))
    out = shift_right(m, v, amount, max_amount)
    cases = list(itertools.product(values(shape), range(max_amount + 1)))
    got = evaluate(m, [v, amount], [out], cases)
    assert got == [(x >> s,) for x, s in cases]


@pytest.mark.parametrize("divisor, max_value", [(3, 15), (5, 63), (7, 1023), (255, 4095),
                                                (4, 31), (1, 7)])
def test_divmod_const(divisor, max_value):
    """The load-index decoder (tile, col) = divmod(index, C) for every index."""
    m = Module()
    value = Signal(ceil_log2(max_value + 1))
    q, r = divmod_const(m, value, divisor, max_value)
    q_sig, r_sig = Signal(len(q)), Signal(max(1, len(r)))
    m.d.comb += [q_sig.eq(q), r_sig.eq(r)]
    cases = [(v,) for v in range(max_value + 1)]
    got = evaluate(m, [value], [q_sig, r_sig], cases)
    assert got == [divmod(v, divisor) for (v,) in cases]
