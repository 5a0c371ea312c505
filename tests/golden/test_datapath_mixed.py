"""golden.datapath and golden.crossbar with separate input and weight widths (A ≠ W):
operand ranges per width, the MAC model against a plain integer dot product, the datapath
model against TFLite's fully-connected reference form, and the lossless ideal crossbar
(phases from A, slices from W) equal to the exact MAC for every encoding."""

import itertools

import numpy as np
import pytest

from constraints import MixedWidthsError, int_range, make_rng
from golden.crossbar import crossbar_psums, crossbar_tile, retile
from golden.datapath import (datapath_model, fold_zero_points, fully_connected,
                             lossless_acc_bits, mac)

PAIRS = [(8, 4), (4, 8), (8, 2), (2, 16), (16, 2), (16, 8), (3, 11)]


@pytest.mark.parametrize("a, w", PAIRS)
def test_mac_checks_each_operand_against_its_own_width(a, w):
    xlo, xhi = int_range(a, True)
    wlo, whi = int_range(w, True)
    x = np.array([[xlo, xhi, xlo]])
    wt = np.array([[wlo, whi, whi]])
    got = mac(x, wt, input_bits=a, weight_bits=w, input_signed=True, weight_signed=True)
    assert got.tolist() == [[xlo * wlo + xhi * whi + xlo * whi]]
    with pytest.raises(ValueError, match=r"x"):
        mac(x + (xhi - xlo + 1) * (x == xhi), wt, input_bits=a, weight_bits=w,
            input_signed=True, weight_signed=True)
    with pytest.raises(ValueError, match=r"w"):
        mac(x, wt - 1, input_bits=a, weight_bits=w, input_signed=True, weight_signed=True)


def test_bits_is_the_shorthand_and_conflicts_are_refused():
    x, w = np.array([[3, -4]]), np.array([[1, 2]])
    assert mac(x, w, bits=4, input_signed=True, weight_signed=True).tolist() == [[-5]]
    with pytest.raises(ValueError, match=r"bits=4 with input_bits=8"):
        mac(x, w, bits=4, input_bits=8, input_signed=True, weight_signed=True)


@pytest.mark.parametrize("a, w", PAIRS)
@pytest.mark.parametrize("signs", list(itertools.product((True, False), repeat=2)))
def test_lossless_acc_bits_is_exact_for_mixed_widths(a, w, signs):
    depth = 5
    bits = lossless_acc_bits(input_bits=a, weight_bits=w, input_signed=signs[0],
                             weight_signed=signs[1], max_depth=depth)
    corners = [p * q for p in int_range(a, signs[0]) for q in int_range(w, signs[1])]
    lo, hi = depth * min(corners), depth * max(corners)
    assert -(1 << (bits - 1)) <= lo and hi < 1 << (bits - 1)
    assert not (-(1 << (bits - 2)) <= lo and hi < 1 << (bits - 2))


@pytest.mark.parametrize("a, w", [(8, 4), (4, 8), (8, 2)])
def test_datapath_model_equals_tflite_reference_for_mixed_widths(a, w):
    """Random FC layers whose codes are A-bit inputs and W-bit weights: the hardware
    schedule (K tiled into rows of 4, 32-bit wrap) equals TFLite's literal form."""
    rng = make_rng("mixed-fc", a, w)
    b, k, c = 5, 11, 3
    xlo, xhi = int_range(a, True)
    wlo, whi = int_range(w, True)
    x = rng.integers(xlo, xhi + 1, (b, k))
    x[0] = xlo                                       # operand extremes on purpose
    x[1] = xhi
    wt = rng.integers(wlo, whi + 1, (c, k))
    wt[0] = wlo
    wt[1] = whi
    x_zp = int(rng.integers(xlo, xhi + 1))
    bias = rng.integers(-1000, 1000, c)
    m0 = rng.integers(1 << 30, 1 << 31, c)
    shift = rng.integers(-12, 0, c)
    w_f, bias_f = fold_zero_points(wt, bias, x_zp=x_zp)
    y, _ = datapath_model(x, w_f, bias_f, input_bits=a, weight_bits=w, input_signed=True,
                          weight_signed=True, rows=4, acc_bits=32, overflow="wrap", m0=m0,
                          shift=shift, y_zp=-3, act_min=-128, act_max=127)
    ref = fully_connected(x, wt, bias=bias, x_zp=x_zp, w_zp=0, m0=m0, shift=shift, y_zp=-3,
                          act_min=-128, act_max=127)
    assert np.array_equal(y, ref)


XB_CASES = [(8, 4, "offset", "offset", 2, 2), (8, 4, "differential", "twos_complement", 3, 3),
            (4, 8, "offset", "twos_complement", 3, 1), (8, 2, "differential", "offset", 1, 4),
            (2, 16, "differential", "twos_complement", 5, 1), (16, 3, "offset", "offset", 2, 5)]


@pytest.mark.parametrize("a, w, wenc, ienc, cell, dac", XB_CASES)
@pytest.mark.parametrize("signs", [(True, True), (False, True), (True, False)])
def test_lossless_crossbar_equals_exact_mac_for_mixed_widths(a, w, wenc, ienc, cell, dac,
                                                             signs):
    rows, cols = 5, 3
    spec = crossbar_tile(bits=None, input_bits=a, weight_bits=w, input_signed=signs[0],
                         weight_signed=signs[1], rows=rows, cols=cols, cell_bits=cell,
                         weight_encoding=wenc, dac_bits=dac, input_encoding=ienc,
                         adc_bits=40, adc_shift=0)
    assert spec.lossless and spec.mixed == (a != w)
    assert spec.slices == -(-w // cell)
    rng = make_rng("mixed-xbar", a, w, cell, dac, *signs)
    xlo, xhi = int_range(a, signs[0])
    wlo, whi = int_range(w, signs[1])
    x = rng.integers(xlo, xhi + 1, (6, rows))
    x[0], x[1] = xlo, xhi
    wt = rng.integers(wlo, whi + 1, (rows, cols))
    wt[:, 0], wt[:, 1] = wlo, whi
    got = crossbar_psums(x, wt, spec)
    assert np.array_equal(got, x @ wt)


def test_crossbar_spec_bits_sets_both_widths():
    spec = crossbar_tile(bits=None, input_bits=8, weight_bits=4, input_signed=True,
                         weight_signed=True, rows=2, cols=1, cell_bits=2,
                         weight_encoding="offset", dac_bits=2, input_encoding="offset",
                         adc_bits=10)
    assert (spec.phases, spec.slices, spec.input_offset, spec.weight_offset) == (4, 2, 128, 8)
    with pytest.raises(MixedWidthsError, match=r"bits is not defined for input_bits=8, "
                                               r"weight_bits=4"):
        spec.bits
    same = retile(spec, bits=6)
    assert (same.input_bits, same.weight_bits, same.bits) == (6, 6, 6)


@pytest.mark.parametrize("w_zp", [0, 1, 128, 254, 255])
@pytest.mark.parametrize("x_zp", [0, 255])
def test_weight_zero_point_in_a_one_bit_wider_store_is_exact(w_zp, x_zp):
    """uint8 weights with a per-tensor zero point anywhere in [0, 255]: w' = w − w_zp fits
    9 signed bits (W + 1), and the 8-bit-unsigned × 9-bit-signed datapath equals TFLite's
    literal Σ (x − x_zp)(w − w_zp) + bias, x and w at their extremes included."""
    rng = make_rng("wzp", w_zp, x_zp)
    x = rng.integers(0, 256, (4, 9))
    x[0], x[1] = 0, 255
    w = rng.integers(0, 256, (3, 9))
    w[0], w[1] = 0, 255
    bias = rng.integers(-9000, 9000, 3)
    w_f, bias_f = fold_zero_points(w, bias, x_zp=x_zp, w_zp=w_zp)
    assert w_f.min() >= -255 and w_f.max() <= 255             # 9 signed bits
    kw = dict(m0=1 << 30, shift=-9, y_zp=128, act_min=0, act_max=255)
    y, _ = datapath_model(x, w_f, bias_f, input_bits=8, weight_bits=9, input_signed=False,
                          weight_signed=True, rows=4, acc_bits=32, overflow="wrap", **kw)
    assert np.array_equal(y, fully_connected(x, w, bias=bias, x_zp=x_zp, w_zp=w_zp, **kw))
    if w_zp != 128:         # w' spans [-w_zp, 255 - w_zp]: 8 signed bits only for 128
        with pytest.raises(ValueError, match=r"w"):
            datapath_model(x, w_f, bias_f, input_bits=8, weight_bits=8, input_signed=False,
                           weight_signed=True, rows=4, acc_bits=32, overflow="wrap", **kw)
