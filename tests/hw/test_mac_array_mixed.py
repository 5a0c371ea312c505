# amaranth: UnusedElaboratable=no
"""hw.mac_array.MacArray with separate input and weight widths (A ≠ W) against
golden.datapath.mac: every (x, w) pair for small widths, operand extremes for 2/16 bits."""

import numpy as np
import pytest

from golden.datapath import mac
from hw.mac_array import MacArray
from tests.helpers.hwsim import int_range, make_rng
from tests.hw.test_mac_array import SIGNEDNESS, run_mac


def expected(weights, vectors, dut):
    return np.array([mac(np.array(x), np.array(weights[tile]), input_bits=dut.input_bits,
                         weight_bits=dut.weight_bits, input_signed=dut.input_signed,
                         weight_signed=dut.weight_signed)
                     for x, tile in vectors], dtype=np.int64)


EXHAUSTIVE = ([(2, 5, *s) for s in SIGNEDNESS] + [(5, 2, *s) for s in SIGNEDNESS]
              + [(3, 6, True, False), (6, 3, False, True)])


@pytest.mark.parametrize("a, w, input_signed, weight_signed", EXHAUSTIVE)
def test_exhaustive_products_mixed(a, w, input_signed, weight_signed):
    """Every (x, w) pair of an A-bit × W-bit operand space, on a 1×2 array holding all
    weights; the products span exactly the contract's product range."""
    cols = 2
    tiles = (1 << w) // cols
    dut = MacArray(input_bits=a, weight_bits=w, input_signed=input_signed,
                   weight_signed=weight_signed, rows=1, cols=cols, weight_tiles=tiles)
    assert dut.bits is None and dut.x_shape.width == a and dut.w_shape.width == w
    wlo, whi = int_range(w, weight_signed)
    ws = list(range(wlo, whi + 1))
    weights = [[[ws[t * cols + c]] for c in range(cols)] for t in range(tiles)]
    xlo, xhi = int_range(a, input_signed)
    vectors = [([x], t) for x in range(xlo, xhi + 1) for t in range(tiles)]
    got = run_mac(dut, weights, vectors)
    assert np.array_equal(got, expected(weights, vectors, dut))
    assert got.size == (1 << a) * (1 << w)
    assert (got.min(), got.max()) == dut.product_range


@pytest.mark.parametrize("a, w, input_signed, weight_signed", [
    (16, 2, True, True), (2, 16, False, True), (16, 8, True, False), (8, 16, False, False)])
def test_extremes_and_random_mixed(a, w, input_signed, weight_signed):
    """All-min / all-max / mixed-extreme vectors and seeded randoms, 4 rows: the psum range
    corners of the widest and narrowest operand pairs are reached exactly."""
    rng = make_rng(a * 100 + w * 4 + 2 * input_signed + weight_signed)
    rows, cols = 4, 3
    dut = MacArray(input_bits=a, weight_bits=w, input_signed=input_signed,
                   weight_signed=weight_signed, rows=rows, cols=cols, weight_tiles=2)
    xlo, xhi = int_range(a, input_signed)
    wlo, whi = int_range(w, weight_signed)
    weights = [[[wlo] * rows, [whi] * rows, [wlo, whi, wlo, whi]],
               rng.integers(wlo, whi + 1, (cols, rows)).tolist()]
    vectors = [([xlo] * rows, 0), ([xhi] * rows, 0), ([xlo, xhi, xhi, xlo], 0)]
    vectors += [(rng.integers(xlo, xhi + 1, rows).tolist(), int(t)) for t in
                rng.integers(0, 2, 12)]
    got = run_mac(dut, weights, vectors)
    assert np.array_equal(got, expected(weights, vectors, dut))
    lo, hi = dut.psum_range
    assert got[:2, :2].min() == lo and got[:2, :2].max() == hi
