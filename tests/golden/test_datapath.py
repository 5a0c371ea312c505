"""golden.datapath: block models against loop references, and against each other."""

import re

import numpy as np
import pytest

from golden.datapath import (
    accumulate,
    datapath_model,
    fold_zero_points,
    fully_connected,
    guard_bits,
    int_matmul,
    lossless_acc_bits,
    mac,
    operand_range,
    requantize,
    wrap,
)
from golden.fixedpoint import ROUNDINGS
from golden.multiplier import quantize_multiplier
from tests.helpers import fixedpoint_reference as ref

INT8 = dict(y_zp=-3, act_min=-128, act_max=127)


@pytest.fixture
def rng():
    return ref.make_rng()


def random_layer(rng, *, batch, k, channels, per_channel, shift_max=0):
    """A random TFLite-like int8 layer: multipliers from realistic scales."""
    x = rng.integers(-128, 128, (batch, k))
    w = rng.integers(-127, 128, (channels, k))
    bias = rng.integers(-(2**20), 2**20, channels)
    n = channels if per_channel else 1
    real = np.exp2(rng.uniform(-20, shift_max - 0.01, n))
    m0, shift = quantize_multiplier(real)
    if not per_channel:
        m0, shift = int(m0[0]), int(shift[0])
    return x, w, bias, m0, shift


def per_channel(v, channels):
    return list(np.broadcast_to(v, (channels,)).tolist())


# --- worked examples of requant-facts.md -------------------------------------------------

@pytest.mark.parametrize("acc, m0, shift, zp, double, single", [
    (3, 2**30, 0, 0, 2, 2),  # SRDHM tie +1.5 rounds up
    (-3, 2**30, 0, 0, -1, -1),  # SRDHM tie −1.5 rounds up (toward +inf)
    (5, 2**30, -1, 0, 2, 1),  # double: 2.5 → 3 → 1.5 → 2; single gives 1
    (-4, 2**30, -2, 0, -1, 0),  # RDBPOT tie −0.5 away from zero; single gives 0
    (1000, 1374389535, -6, 120, 127, 127),  # clamps after the zero point
])
def test_worked_examples(acc, m0, shift, zp, double, single):
    for rounding, want in (("double", double), ("single", single)):
        got = requantize(acc, m0=m0, shift=shift, y_zp=zp, act_min=-128, act_max=127,
                         rounding=rounding)
        assert got == want
        got = fully_connected([[acc]], [[1]], bias=None, x_zp=0, w_zp=0, m0=m0, shift=shift,
                              y_zp=zp, act_min=-128, act_max=127, rounding=rounding)
        assert got.tolist() == [[want]]


# --- mac, int_matmul ---------------------------------------------------------------------

@pytest.mark.parametrize("bits", range(2, 17))
@pytest.mark.parametrize("input_signed, weight_signed", [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_mac_all_widths(rng, bits, input_signed, weight_signed):
    xr = operand_range(bits, bool(input_signed))
    wr = operand_range(bits, bool(weight_signed))
    x = np.concatenate([rng.integers(*xr, (6, 9), endpoint=True), np.full((1, 9), xr[0]),
                        np.full((1, 9), xr[1])])
    w = np.concatenate([rng.integers(*wr, (4, 9), endpoint=True), np.full((1, 9), wr[0]),
                        np.full((1, 9), wr[1])])
    got = mac(x, w, bits=bits, input_signed=bool(input_signed), weight_signed=bool(weight_signed))
    want = [[sum(int(a) * int(b) for a, b in zip(xb, wc)) for wc in w] for xb in x]
    ref.assert_exact(got, want)
    ref.assert_exact(mac(x[0], w[0], bits=bits, input_signed=bool(input_signed),
                         weight_signed=bool(weight_signed)), want[0][0])


def test_int_matmul_exact_beyond_float_range(rng):
    # max|a|·max|b| = 2^50: float chunks of 7 columns, summed in int64.
    a = rng.integers(-(2**40), 2**40, (3, 100), endpoint=True)
    b = rng.integers(-(2**10), 2**10, (100, 4), endpoint=True)
    a[0, :] = 2**40
    b[:, 0] = 2**10
    want = [[sum(int(p) * int(q) for p, q in zip(row, col)) for col in b.T] for row in a]
    ref.assert_exact(int_matmul(a, b), want)
    big = np.array([[2**30, 2**30]])  # 2^60 products: int64 matmul path
    ref.assert_exact(int_matmul(big, big.T), [[2**61]])
    with pytest.raises(ValueError, match=re.escape("is out of range; allowed: < 2^63")):
        int_matmul(np.array([[2**31] * 4]), np.array([[2**31]] * 4))

@pytest.mark.parametrize("amax, bmax, k", [
    (128, 127, 1032),    # int8 codes: max|a|·max|b|·K = 16 776 192 < 2^24, one float32 call
    (128, 127, 1033),    # just beyond 2^24: two float32 chunks of <= 1032
    (255, 128, 600),     # x − x_zp: float32 chunks of 514
    (2**12, 2**12, 70),  # float32 chunk of 1 would be too short: one float64 call
])
def test_int_matmul_float32_tier_exact(rng, amax, bmax, k):
    """Sums reaching the float32 limit 2^24 (and beyond, chunked) stay exact: every row
    and column at the extremes, odd values so any rounding would show."""
    a = rng.integers(-amax, amax, (3, k), endpoint=True)
    b = rng.integers(-bmax, bmax, (k, 4), endpoint=True)
    a[0], a[1], b[:, 0], b[:, 1] = -amax, amax, bmax, -bmax
    a[0, 0], b[0, 1] = -amax + 1, -bmax + 1   # odd sums at the largest magnitudes
    want = [[sum(int(p) * int(q) for p, q in zip(row, col)) for col in b.T] for row in a]
    ref.assert_exact(int_matmul(a, b), want)
    ref.assert_exact(int_matmul(a[None], b[None]), [want])  # batched (..., M, K) too



def test_mac_uint16_long_dot_product_uses_chunks():
    k = 2**21 + 3  # (2^16 − 1)^2·K > 2^53: several BLAS chunks
    x = np.full((1, k), 2**16 - 1)
    got = mac(x, x, bits=16, input_signed=False, weight_signed=False)
    assert int(got[0, 0]) == k * (2**16 - 1) ** 2


def test_guard_bits_and_lossless_width():
    assert [guard_bits(d) for d in (1, 2, 3, 4, 5, 1024, 1025)] == [0, 1, 2, 2, 3, 10, 11]
    for bits in (2, 8, 16):
        for depth in (1, 2, 7, 1024):
            m = guard_bits(depth)
            assert lossless_acc_bits(bits=bits, input_signed=True, weight_signed=True,
                                     max_depth=depth) <= 2 * bits + m
            assert lossless_acc_bits(bits=bits, input_signed=True, weight_signed=False,
                                     max_depth=depth) <= 2 * bits + m
    # unsigned × unsigned: (2^N − 1)^2 needs 2N + 1 signed bits (one more than 2N + M).
    assert lossless_acc_bits(bits=8, input_signed=False, weight_signed=False, max_depth=1) == 17
    assert lossless_acc_bits(bits=8, input_signed=False, weight_signed=False,
                             max_depth=1024) == 27


# --- accumulate ---------------------------------------------------------------------------

@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
@pytest.mark.parametrize("acc_bits", [2, 8, 13, 32, 48])
def test_accumulate_against_loop(rng, overflow, acc_bits):
    lim = 2 ** (acc_bits - 1)
    psums = rng.integers(-lim, lim, (7, 300)) // rng.integers(1, 4, (7, 300))
    bias = rng.integers(-lim, lim, 300)
    acc, ovf = accumulate(psums, bias=bias, acc_bits=acc_bits, overflow=overflow)
    want = [ref.accumulate(psums[:, i].tolist(), int(bias[i]), acc_bits, overflow)
            for i in range(300)]
    ref.assert_exact(acc, [a for a, _ in want])
    ref.assert_exact(ovf, [o for _, o in want])
    assert ovf.any() and not ovf.all()


def test_accumulate_saturates_after_every_beat():
    # 8-bit acc: 100 + 100 → 127 (ovf), then −100 → 27; wrap gives 200 − 100 = 100.
    acc, ovf = accumulate([[100], [100], [-100]], bias=0, acc_bits=8, overflow="saturate")
    assert acc.tolist() == [27] and ovf.tolist() == [True]
    acc, ovf = accumulate([[100], [100], [-100]], bias=0, acc_bits=8, overflow="wrap")
    assert acc.tolist() == [100] and ovf.tolist() == [True]
    # the bias load is one addition: 127 + 1 overflows on beat 0
    acc, ovf = accumulate([[1]], bias=127, acc_bits=8, overflow="saturate")
    assert acc.tolist() == [127] and ovf.tolist() == [True]


# --- requantize ---------------------------------------------------------------------------

@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_requantize_per_channel_random(rng, rounding):
    acc = np.concatenate([rng.integers(-(2**47), 2**47, (6250, 8)),
                          ref.log_uniform_ints(rng, -(2**47), 2**47, (6250, 8))])
    m0 = rng.integers(0, 2**31, 8)
    shift = np.array([-31, -20, -9, -1, 0, 1, 16, 30])
    got = requantize(acc, m0=m0, shift=shift, y_zp=5, act_min=-100, act_max=2000,
                     rounding=rounding)
    want = ref.vec(lambda a, m, s: min(max(ref.mbqm_wide(a, m, s, rounding) + 5, -100), 2000))(
        acc, m0, shift)
    ref.assert_exact(got, want)


# --- fully_connected (TFLite) and datapath_model (hardware schedule) ----------------------

@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("per_ch", [False, True])
def test_fully_connected_matches_tflite_loops(rng, rounding, per_ch):
    x, w, bias, m0, shift = random_layer(rng, batch=4, k=37, channels=6, per_channel=per_ch,
                                         shift_max=2)
    bias[0] = 2**31 - 1  # forces int32 wrap in the accumulation
    kw = dict(x_zp=-7, w_zp=3, m0=m0, shift=shift, **INT8, rounding=rounding)
    got = fully_connected(x, w, bias=bias, **kw)
    want = ref.fully_connected(x.tolist(), w.tolist(), bias.tolist(), -7, 3,
                               per_channel(m0, 6), per_channel(shift, 6), -3, -128, 127,
                               rounding)
    ref.assert_exact(got, want)


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("per_ch", [False, True])
def test_datapath_wrap32_equals_fully_connected(rng, rounding, per_ch):
    for trial in range(10):
        k = int(rng.integers(1, 300))
        x, w, bias, m0, shift = random_layer(rng, batch=16, k=k, channels=12,
                                             per_channel=per_ch)
        x_zp = int(rng.integers(-128, 128))
        want = fully_connected(x, w, bias=bias, x_zp=x_zp, w_zp=0, m0=m0, shift=shift, **INT8,
                               rounding=rounding)
        w_f, bias_f = fold_zero_points(w, bias, x_zp=x_zp)
        got, ovf = datapath_model(x, w_f, wrap(bias_f, 32), bits=8, input_signed=True,
                                  weight_signed=True, rows=int(rng.integers(1, 40)),
                                  acc_bits=32, overflow="wrap", m0=m0, shift=shift, **INT8,
                                  rounding=rounding)
        ref.assert_exact(got, want)
        assert not ovf.any()


def test_datapath_wrap32_equals_fully_connected_with_weight_zero_point(rng):
    # uint8-style layer: w_zp = 128 makes w' = w − 128 a 9-bit signed value.
    x = rng.integers(0, 256, (5, 70))
    w = rng.integers(0, 256, (3, 70))
    bias = rng.integers(-1000, 1000, 3)
    kw = dict(m0=1374389535, shift=-9, y_zp=128, act_min=0, act_max=255)
    want = fully_connected(x, w, bias=bias, x_zp=110, w_zp=128, **kw)
    w_f, bias_f = fold_zero_points(w, bias, x_zp=110, w_zp=128)
    got, _ = datapath_model(x, w_f, bias_f, bits=9, input_signed=True, weight_signed=True,
                            rows=16, acc_bits=32, overflow="wrap", **kw)
    ref.assert_exact(got, want)


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
@pytest.mark.parametrize("rows", [1, 4, 16])
def test_datapath_against_schedule_loop(rng, overflow, rows):
    x = rng.integers(-128, 128, (6, 45))
    w = rng.integers(-128, 128, (5, 45))
    bias = rng.integers(-(2**15), 2**15, 5)
    m0, shift = rng.integers(2**30, 2**31, 5), rng.integers(-12, 3, 5)
    kw = dict(m0=m0, shift=shift, y_zp=0, act_min=-32768, act_max=32767, rounding="double")
    got, ovf = datapath_model(x, w, bias, bits=8, input_signed=True, weight_signed=True,
                              rows=rows, acc_bits=17, overflow=overflow, **kw)
    for b in range(6):
        want_y, want_ovf = ref.datapath(x[b].tolist(), w.tolist(), bias.tolist(), rows, 17,
                                        overflow, m0.tolist(), shift.tolist(), 0, -32768,
                                        32767, "double")
        ref.assert_exact(got[b], want_y)
        ref.assert_exact(ovf[b], want_ovf)
    assert ovf.any()


def test_datapath_tiling_matters_for_saturate():
    x = np.array([[100, 100, -100, -100]])
    w = np.array([[1, 1, 1, 1]])
    kw = dict(bits=8, input_signed=True, weight_signed=True, acc_bits=8, overflow="saturate",
              m0=2**30, shift=1, y_zp=0, act_min=-128, act_max=127)
    y1, ovf1 = datapath_model(x, w, None, rows=1, **kw)  # 100, 127, 27, −73
    y4, ovf4 = datapath_model(x, w, None, rows=4, **kw)  # one beat: 0
    assert (y1.tolist(), ovf1.tolist(), y4.tolist(), ovf4.tolist()) == \
        ([[-73]], [[True]], [[0]], [[False]])


def test_fold_zero_points_identity(rng):
    x = rng.integers(0, 256, (4, 33))
    w = rng.integers(0, 256, (7, 33))
    bias, w_zp = rng.integers(-999, 999, 7), rng.integers(0, 256, 7)
    w_f, bias_f = fold_zero_points(w, bias, x_zp=77, w_zp=w_zp)
    ref.assert_exact(w_f, w - w_zp[:, None])
    ref.assert_exact(x @ w_f.T + bias_f, (x - 77) @ (w - w_zp[:, None]).T + bias)


# --- bad arguments ------------------------------------------------------------------------

def _dp(**over):
    kw = dict(bits=8, input_signed=True, weight_signed=True, rows=4, acc_bits=32,
              overflow="wrap", m0=2**30, shift=-1, y_zp=0, act_min=-128, act_max=127)
    kw.update(over)
    return datapath_model(np.zeros((2, 5), np.int64), np.zeros((3, 5), np.int64), None, **kw)


@pytest.mark.parametrize("call, msg", [
    (lambda: _dp(bits=1), "bits=1 is out of range; allowed: [2, 16]"),
    (lambda: _dp(bits=17), "bits=17 is out of range; allowed: [2, 16]"),
    (lambda: _dp(acc_bits=49), "acc_bits=49 is out of range; allowed: [2, 48]"),
    (lambda: _dp(rows=0), "rows=0 is out of range; allowed: >= 1"),
    (lambda: _dp(overflow="clip"), "overflow='clip' is out of range; allowed: 'wrap', 'saturate'"),
    (lambda: _dp(shift=31), "shift=31 is out of range; allowed: [-31, 30]"),
    (lambda: _dp(m0=-1), "m0=-1 is out of range; allowed: [0, 2147483647]"),
    (lambda: _dp(act_min=5, act_max=3), "act_max=3 is out of range; allowed: [5, 65535]"),
    (lambda: _dp(input_signed=1), "input_signed=1 is not a bool; allowed: True, False"),
    (lambda: mac([[128]], [[1]], bits=8, input_signed=True, weight_signed=True),
     "x[0, 0]=128 is out of range; allowed: [-128, 127]"),
    (lambda: mac([[1]], [[-1]], bits=4, input_signed=True, weight_signed=False),
     "w[0, 0]=-1 is out of range; allowed: [0, 15]"),
    (lambda: mac([[1, 2]], [[1, 2, 3]], bits=4, input_signed=True, weight_signed=True),
     "shapes x.shape=(1, 2), w.shape=(1, 3) do not match; "
     "allowed: x (..., K) with w (K,) or (C, K)"),
    (lambda: mac([[1.5]], [[1]], bits=4, input_signed=True, weight_signed=True),
     "x=[[1.5]] is not an integer array; allowed: integers (got dtype float64)"),
    (lambda: accumulate([[1]], bias=128, acc_bits=8, overflow="wrap"),
     "bias=128 is out of range; allowed: [-128, 127]"),
    (lambda: accumulate([[1, 2]], bias=[1, 2, 3], acc_bits=8, overflow="wrap"),
     "shapes bias.shape=(3,), psums.shape[1:]=(2,) do not broadcast"),
    (lambda: requantize(2**47 + 1, m0=1, shift=0, y_zp=0, act_min=0, act_max=1),
     "acc=140737488355329 is out of range; allowed: [-140737488355328, 140737488355328]"),
    (lambda: requantize([1, 2], m0=[1, 2, 3], shift=0, y_zp=0, act_min=0, act_max=1),
     "shapes acc.shape=(2,), m0.shape=(3,), shift.shape=() do not broadcast"),
    (lambda: requantize(1, m0=1, shift=0, y_zp=2**16, act_min=0, act_max=1),
     "y_zp=65536 is out of range; allowed: [-65536, 65535]"),
    (lambda: requantize(1, m0=1, shift=0, y_zp=0, act_min=0, act_max=1, rounding="even"),
     "rounding='even' is out of range; allowed: 'double', 'single', 'ruy', 'single16'"),
    (lambda: fully_connected([[1]], [[1]], bias=[2**31], x_zp=0, w_zp=0, m0=1, shift=0,
                             y_zp=0, act_min=0, act_max=1),
     "bias[0]=2147483648 is out of range; allowed: [-2147483648, 2147483647]"),
    (lambda: fully_connected([[1]], [[1], [2]], bias=None, x_zp=0, w_zp=0, m0=[1, 2, 3],
                             shift=0, y_zp=0, act_min=0, act_max=1),
     "m0.shape=(3,) is out of range; allowed: () or (2,)"),
    (lambda: fold_zero_points([[1, 2]], None, x_zp=2**16),
     "x_zp=65536 is out of range; allowed: [-32768, 65535]"),
    (lambda: guard_bits(0), "max_depth=0 is out of range; allowed: >= 1"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        call()
