"""golden.fixedpoint against the independent references of
tests/helpers/fixedpoint_reference.py, zero tolerance."""

import re

import numpy as np
import pytest

import golden.fixedpoint as fp
from golden.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    ROUNDINGS,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_wide,
    rounding_divide_by_pot,
    rounding_divide_by_pot_ties_up,
    saturating_rounding_doubling_high_mul,
)
from tests.helpers import fixedpoint_reference as ref

N_RANDOM = 100_000
E32 = ref.edge_values(INT32_MIN, INT32_MAX)
E48 = ref.edge_values(-(2**47), 2**47)
M0_EDGES = ref.edge_values(0, INT32_MAX)
M0_SOME = np.array([0, 1, 2, 2**29, 2**30, 2**30 + 1, 1374389535, INT32_MAX - 1, INT32_MAX])
X_SOME = np.array([INT32_MIN, INT32_MIN + 1, -(2**20) - 1, -5, -4, -3, -1, 0, 1, 3, 5,
                   2**20 + 1, INT32_MAX - 1, INT32_MAX])
SHIFTS = np.arange(-31, 31)


@pytest.fixture
def rng():
    return ref.make_rng()


def grid(*axes):
    return [a.ravel() for a in np.meshgrid(*axes, indexing="ij")]


def random_int32(rng, n):
    """Half uniform over int32, half log-uniform (small magnitudes and ties are common)."""
    return np.concatenate([rng.integers(INT32_MIN, INT32_MAX, n // 2, endpoint=True),
                           ref.log_uniform_ints(rng, INT32_MIN, INT32_MAX, n - n // 2)])


def random_m0(rng, n):
    """Half QuantizeMultiplier-style [2^30, 2^31 − 1], half anywhere in [0, 2^31 − 1]."""
    return np.concatenate([rng.integers(2**30, INT32_MAX, n // 2, endpoint=True),
                           rng.integers(0, INT32_MAX, n - n // 2, endpoint=True)])


# --- SaturatingRoundingDoublingHighMul ----------------------------------------------------

def test_srdhm_edges():
    a, b = grid(E32, E32)
    ref.assert_exact(saturating_rounding_doubling_high_mul(a, b), ref.vec(ref.srdhm)(a, b),
                     a=a, b=b)


def test_srdhm_random(rng):
    a, b = random_int32(rng, N_RANDOM), random_int32(rng, N_RANDOM)
    ref.assert_exact(saturating_rounding_doubling_high_mul(a, b), ref.vec(ref.srdhm)(a, b),
                     a=a, b=b)


def test_srdhm_ties_go_toward_plus_inf(rng):
    a = rng.integers(-(2**20), 2**20, 1000) * 2 + 1  # odd: a·2^30 / 2^31 = a/2 is a tie
    got = saturating_rounding_doubling_high_mul(a, 2**30)
    ref.assert_exact(got, (a + 1) // 2, a=a)
    assert saturating_rounding_doubling_high_mul(3, 2**30) == 2
    assert saturating_rounding_doubling_high_mul(-3, 2**30) == -1


def test_srdhm_saturates_only_min_times_min():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN + 1) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == INT32_MIN + 1
    assert isinstance(saturating_rounding_doubling_high_mul(1, 1), np.int64)


# --- RoundingDivideByPOT and the ruy ties-up variant --------------------------------------

DIVIDES = [(rounding_divide_by_pot, ref.rdbpot), (rounding_divide_by_pot_ties_up,
                                                  ref.rdbpot_ties_up)]


@pytest.mark.parametrize("func, reference", DIVIDES, ids=["away", "up"])
def test_divide_by_pot_edges(func, reference):
    x, e = grid(E32, np.arange(32))
    ref.assert_exact(func(x, e), ref.vec(reference)(x, e), x=x, exponent=e)


@pytest.mark.parametrize("func, reference", DIVIDES, ids=["away", "up"])
def test_divide_by_pot_random(rng, func, reference):
    x, e = random_int32(rng, N_RANDOM), rng.integers(0, 32, N_RANDOM)
    ref.assert_exact(func(x, e), ref.vec(reference)(x, e), x=x, exponent=e)


def test_divide_by_pot_exact_ties(rng):
    e = rng.integers(1, 32, 20_000)
    k = rng.integers(0, 2**31, 20_000) >> e
    x = k * 2**e + 2 ** (e - 1)  # k + 1/2 after the division
    x = np.concatenate([x[x <= INT32_MAX], -x])
    e = np.concatenate([e[: x.size - e.size], e])
    ref.assert_exact(rounding_divide_by_pot(x, e), np.sign(x) * ((np.abs(x) >> e) + 1), x=x, e=e)
    ref.assert_exact(rounding_divide_by_pot_ties_up(x, e), (x >> e) + 1, x=x, e=e)
    assert rounding_divide_by_pot(-5, 1) == -3 and rounding_divide_by_pot_ties_up(-5, 1) == -2
    assert rounding_divide_by_pot(INT32_MAX, 1) == 2**30
    assert rounding_divide_by_pot_ties_up(INT32_MAX, 1) == 2**30


# --- MultiplyByQuantizedMultiplier (int32) ------------------------------------------------

def _mbqm_edge_grid():
    x1, m1, s1 = grid(E32, M0_SOME, SHIFTS)
    x2, m2, s2 = grid(X_SOME, M0_EDGES, SHIFTS)
    return np.concatenate([x1, x2]), np.concatenate([m1, m2]), np.concatenate([s1, s2])


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_mbqm_edges(rounding):
    x, m0, shift = _mbqm_edge_grid()
    got = multiply_by_quantized_multiplier(x, m0, shift, rounding)
    ref.assert_exact(got, ref.vec(ref.mbqm)(x, m0, shift, rounding), x=x, m0=m0, shift=shift)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_mbqm_random(rng, rounding):
    x, m0 = random_int32(rng, N_RANDOM), random_m0(rng, N_RANDOM)
    shift = rng.integers(-31, 31, N_RANDOM)
    got = multiply_by_quantized_multiplier(x, m0, shift, rounding)
    ref.assert_exact(got, ref.vec(ref.mbqm)(x, m0, shift, rounding), x=x, m0=m0, shift=shift)


def test_mbqm_ties_of_both_signs():
    # m0 = 2^30 is exactly 1/2: x·2^(shift−1), with ties at the SRDHM or the RDBPOT step.
    x = np.array([3, -3, 5, -5, 6, -6, 7, -7, 2**31 - 1, -(2**31)])
    for shift, double, single, ruy in [
        (0, [2, -1, 3, -2, 3, -3, 4, -3, 2**30, -(2**30)],
            [2, -1, 3, -2, 3, -3, 4, -3, 2**30, -(2**30)],
            [2, -1, 3, -2, 3, -3, 4, -3, 2**30, -(2**30)]),
        (-1, [1, -1, 2, -1, 2, -2, 2, -2, 2**29, -(2**29)],
             [1, -1, 1, -1, 2, -1, 2, -2, 2**29, -(2**29)],
             [1, 0, 2, -1, 2, -1, 2, -1, 2**29, -(2**29)]),
    ]:
        for rounding, want in [("double", double), ("single", single), ("ruy", ruy)]:
            got = multiply_by_quantized_multiplier(x, 2**30, shift, rounding)
            ref.assert_exact(got, want, x=x)
            ref.assert_exact(got, ref.vec(ref.mbqm)(x, 2**30, shift, rounding), x=x)


def test_mbqm_left_shift_wraps_like_compiled_tflite():
    # 2^30·2^2 = 2^32 wraps to 0 in int32 (UB in C++, wrap on x86/ARM).
    assert multiply_by_quantized_multiplier(2**30, 2**30, 2, "double") == 0
    assert multiply_by_quantized_multiplier(2**30, 2**30, 2, "ruy") == 0
    # single rounding never forms x·2^left, but its 2^31 result wraps on the int32 cast.
    assert multiply_by_quantized_multiplier(2**30, 2**30, 2, "single") == INT32_MIN
    assert multiply_by_quantized_multiplier_wide(2**30, 2**30, 2, "double") == 2**31


# --- the wide (exact) multiply -----------------------------------------------------------

@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_wide_edges(rounding):
    x, m0, shift = grid(E48, M0_SOME, SHIFTS)
    exact = np.frompyfunc(lambda a, b, c: ref.mbqm_wide(a, b, c, rounding), 3, 1)(
        x.astype(object), m0.astype(object), shift.astype(object))
    ok = np.array([-(2**62) <= v < 2**62 for v in exact])
    assert 0.8 * ok.size < ok.sum() < ok.size
    got = multiply_by_quantized_multiplier_wide(x[ok], m0[ok], shift[ok], rounding)
    ref.assert_exact(got, exact[ok].astype(np.int64), x=x[ok], m0=m0[ok], shift=shift[ok])
    for i in np.flatnonzero(~ok)[::97]:  # results beyond int64's safe range must raise
        with pytest.raises(ValueError, match=re.escape("allowed: -2^62 <= x·m0·2^(shift−31)")):
            multiply_by_quantized_multiplier_wide(x[i], m0[i], shift[i], rounding)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_wide_random(rng, rounding):
    x = np.concatenate([rng.integers(-(2**47), 2**47, N_RANDOM // 2, endpoint=True),
                        ref.log_uniform_ints(rng, -(2**47), 2**47, N_RANDOM // 2)])
    m0, shift = random_m0(rng, N_RANDOM), rng.integers(-31, 31, N_RANDOM)
    bit_length = np.frexp(np.abs(x).astype(np.float64))[1]  # exact: |x| <= 2^47
    shift = np.minimum(shift, 61 - bit_length)  # |x|·2^left < 2^61: result in int64
    got = multiply_by_quantized_multiplier_wide(x, m0, shift, rounding)
    want = ref.vec(lambda a, b, c: ref.mbqm_wide(a, b, c, rounding))(x, m0, shift)
    ref.assert_exact(got, want, x=x, m0=m0, shift=shift)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_wide_equals_int32_wherever_tflite_is_defined(rng, rounding):
    x, m0 = random_int32(rng, N_RANDOM), random_m0(rng, N_RANDOM)
    shift = rng.integers(-31, 31, N_RANDOM)
    xe, me, se = _mbqm_edge_grid()
    x, m0, shift = np.concatenate([x, xe]), np.concatenate([m0, me]), np.concatenate([shift, se])
    scaled = x << np.maximum(shift, 0)
    fits = (scaled >= INT32_MIN) & (scaled <= INT32_MAX)
    assert fits.sum() > N_RANDOM // 2
    x, m0, shift = x[fits], m0[fits], shift[fits]
    ref.assert_exact(multiply_by_quantized_multiplier_wide(x, m0, shift, rounding),
                     multiply_by_quantized_multiplier(x, m0, shift, rounding),
                     x=x, m0=m0, shift=shift)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_wide_direct_product_path_and_its_limit(rng, rounding, monkeypatch):
    """While max|x|·max(m0) < 2^62, x·m0 is formed directly in int64; one element beyond
    sends the whole array through the 16-bit split. Both equal the reference, at the limit
    itself, with per-channel m0 / shift kept compact ((C,) against [B, C])."""
    split_calls = []
    real_split = fp._scale_round_split
    monkeypatch.setattr(fp, "_scale_round_split",
                        lambda *a: split_calls.append(1) or real_split(*a))
    # the product formed is x·m0 (x·rm·2^16 for single16, whose largest multiplier is
    # 0x7FFF·2^16): largest |x| with the largest effective multiplier
    m_eff = (0x7FFF << 16) if rounding == "single16" else INT32_MAX
    lim = (2**62 - 1) // m_eff
    x = rng.integers(-lim, lim, (500, 8), endpoint=True)
    x[0, :4], x[1, :4] = lim, -lim
    x[2] = ref.log_uniform_ints(rng, -lim, lim, 8)
    m0 = random_m0(rng, 8)
    m0[0] = INT32_MAX
    shift = rng.integers(-31, 31, 8)                   # |result| <= 2^61
    vec = ref.vec(lambda a, b, c: ref.mbqm_wide(a, b, c, rounding))
    want = vec(x, np.broadcast_to(m0, x.shape), np.broadcast_to(shift, x.shape))
    got, saturated = fp._mbqm_wide(x, m0, shift, rounding)
    ref.assert_exact(got, want)
    assert not saturated.any() and not split_calls     # direct path
    x[3, 0] = lim + 1                                  # now max|x|·max(m0) >= 2^62
    want[3, 0] = vec(np.array([lim + 1]), m0[:1], shift[:1])[0]
    got, _ = fp._mbqm_wide(x, m0, shift, rounding)
    ref.assert_exact(got, want)
    assert split_calls                                 # split path, same results


def test_wide_result_limit():
    # 2^47·2^30·2^(16−31) = 2^62 is the first value outside [-2^62, 2^62).
    assert multiply_by_quantized_multiplier_wide(2**47, 2**30, 15) == 2**61
    assert multiply_by_quantized_multiplier_wide(-(2**47), 2**30, 16) == -(2**62)
    assert multiply_by_quantized_multiplier_wide(2**47, INT32_MAX, 14, "single") == \
        ref.mbqm_wide(2**47, INT32_MAX, 14, "single")
    msg = ("x[1]=140737488355328 is out of range for m0=1073741824, shift=16; "
           "allowed: -2^62 <= x·m0·2^(shift−31) < 2^62")
    with pytest.raises(ValueError, match=re.escape(msg)):
        multiply_by_quantized_multiplier_wide([0, 2**47], 2**30, 16)


# --- bad arguments ------------------------------------------------------------------------

@pytest.mark.parametrize("call, msg", [
    (lambda: saturating_rounding_doubling_high_mul(2**31, 1),
     "a=2147483648 is out of range; allowed: [-2147483648, 2147483647]"),
    (lambda: saturating_rounding_doubling_high_mul([1, 2], [1, 2, 3]),
     "shapes a.shape=(2,), b.shape=(3,) do not broadcast; allowed: NumPy-broadcastable shapes"),
    (lambda: saturating_rounding_doubling_high_mul(1.0, 1),
     "a=1.0 is not an integer; allowed: integers (got dtype float64)"),
    (lambda: rounding_divide_by_pot(1, 32), "exponent=32 is out of range; allowed: [0, 31]"),
    (lambda: rounding_divide_by_pot_ties_up(1, [0, -1]),
     "exponent[1]=-1 is out of range; allowed: [0, 31]"),
    (lambda: rounding_divide_by_pot(np.array([0.5]), 1),
     "x=array([0.5]) is not an integer array; allowed: integers (got dtype float64)"),
    (lambda: multiply_by_quantized_multiplier(1, 2**30, 31),
     "shift=31 is out of range; allowed: [-31, 30]"),
    (lambda: multiply_by_quantized_multiplier(1, 2**30, -32),
     "shift=-32 is out of range; allowed: [-31, 30]"),
    (lambda: multiply_by_quantized_multiplier(1, [2**30, -1], 0),
     "m0[1]=-1 is out of range; allowed: [0, 2147483647]"),
    (lambda: multiply_by_quantized_multiplier(1, 2**31, 0),
     "m0=2147483648 is out of range; allowed: [0, 2147483647]"),
    (lambda: multiply_by_quantized_multiplier(1, 2**30, 0, "nearest"),
     "rounding='nearest' is out of range; allowed: 'double', 'single', 'ruy', 'single16'"),
    (lambda: multiply_by_quantized_multiplier(np.zeros((2, 3), np.int64), [1, 2], 0),
     "shapes x.shape=(2, 3), m0.shape=(2,), shift.shape=() do not broadcast"),
    (lambda: multiply_by_quantized_multiplier_wide(2**47 + 1, 2**30, 0),
     "x=140737488355329 is out of range; allowed: [-140737488355328, 140737488355328]"),
    (lambda: multiply_by_quantized_multiplier_wide(True, 2**30, 0),
     "x=True is not an integer; allowed: integers"),
])
def test_bad_arguments(call, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        call()


def test_rounding_modes_are_one_table():
    """Every rounding name dispatches through golden.fixedpoint.ROUNDING_MODES: one
    documented function per mode, the same for the int32 and the wide multiply."""
    assert fp.ROUNDINGS == tuple(fp.ROUNDING_MODES) == ("double", "single", "ruy", "single16")
    for name, mode in fp.ROUNDING_MODES.items():
        assert mode.__doc__ and f'"{name}"' in mode.__doc__, name
        x = np.array([-(2**31), -5, -3, 3, 5, 2**31 - 1], dtype=np.int64)
        m0 = np.full(x.shape, 2**30, dtype=np.int64)
        shift = np.full(x.shape, -1, dtype=np.int64)
        narrow, _ = mode(x, m0, shift, wide=False)
        assert narrow.tolist() == fp.multiply_by_quantized_multiplier(x, 2**30, -1, name).tolist()
        wide, saturated = mode(x, m0, shift, wide=True)
        assert not saturated.any()
        assert wide.tolist() == narrow.tolist()


# --- "single16": TFLite's int64 MultiplyByQuantizedMultiplier (16x8 kernels) -------------

def test_reduced_multiplier_edges():
    m0 = np.array([0, 1, 2**15 - 1, 2**15, 2**30, 2**30 + 2**15 - 1, 2**30 + 2**15,
                   1374389535, 0x7FFEFFFF, 0x7FFF0000, 0x7FFF7FFF, 0x7FFF8000, INT32_MAX])
    want = [0, 0, 0, 1, 2**14, 2**14, 2**14 + 1, 20972, 0x7FFF, 0x7FFF, 0x7FFF, 0x7FFF, 0x7FFF]
    ref.assert_exact(fp.reduced_multiplier(m0), want, m0=m0)
    ref.assert_exact(fp.reduced_multiplier(M0_EDGES),
                     [ref.reduced_multiplier(int(v)) for v in M0_EDGES], m0=M0_EDGES)


def test_single16_worked_examples():
    # m0 = 2^30 → rm = 2^14: x·2^14·2^(shift−15) = x·2^(shift−1), one rounding half up
    x = np.array([3, -3, 5, -5, -4, 4])
    ref.assert_exact(multiply_by_quantized_multiplier_wide(x, 2**30, 0, "single16"),
                     [2, -1, 3, -2, -2, 2], x=x)
    ref.assert_exact(multiply_by_quantized_multiplier_wide(x, 2**30, -2, "single16"),
                     [0, 0, 1, -1, 0, 1], x=x)
    # the reduced multiplier is coarser than m0: 0.01 → rm = 20972 (0.0100002), not m0
    acc = 2**40 + 12345
    assert multiply_by_quantized_multiplier_wide(acc, 1374389535, -6, "single16") == \
        (acc * 20972 + 2**20) >> 21
    assert multiply_by_quantized_multiplier_wide(acc, 1374389535, -6, "single16") != \
        multiply_by_quantized_multiplier_wide(acc, 1374389535, -6, "single")
    # TFLite's domain ends at |x| < 2^47 with shift <= 7; the extremes
    assert multiply_by_quantized_multiplier_wide(-(2**47), INT32_MAX, 7, "single16") == \
        -(2**47) * 0x7FFF * 2**-8
    assert multiply_by_quantized_multiplier_wide(2**47 - 1, INT32_MAX, -31, "single16") == \
        ref.mbqm64(2**47 - 1, INT32_MAX, -31)


def test_single16_is_single_on_the_reduced_multiplier(rng):
    x = rng.integers(-(2**47), 2**47, N_RANDOM)
    m0, shift = random_m0(rng, N_RANDOM), rng.integers(-31, 8, N_RANDOM)
    rm = fp.reduced_multiplier(m0)
    ref.assert_exact(multiply_by_quantized_multiplier_wide(x, m0, shift, "single16"),
                     multiply_by_quantized_multiplier_wide(x, rm << 16, shift, "single"),
                     x=x, m0=m0, shift=shift)
    # TFLite's literal int64 expression (no overflow for |x| < 2^47, shift <= 7)
    t = 15 - shift
    ref.assert_exact(multiply_by_quantized_multiplier_wide(x, m0, shift, "single16"),
                     (x * rm + (np.int64(1) << (t - 1))) >> t, x=x, m0=m0, shift=shift)


def test_saturating_wide_multiply_clamps_beyond_2_62_and_is_exact_inside():
    """A 44-bit accumulator at shift 30 scales past 2^62: the saturating form gives ±2^62
    (what the requantizer's clamp sees); the checked form refuses it; inside they agree."""
    x = np.array([-(2**43), 2**43 - 1, 12345, -3])
    got = fp.multiply_by_quantized_multiplier_saturating(x, 2**30, 30)
    assert got.tolist() == [-(2**62), 2**62, 12345 * 2**29, -3 * 2**29]
    with pytest.raises(ValueError, match="out of range"):
        multiply_by_quantized_multiplier_wide(x, 2**30, 30)
    inside = x[2:]
    for r in ROUNDINGS:
        assert (fp.multiply_by_quantized_multiplier_saturating(inside, 2**30, -5, r)
                == multiply_by_quantized_multiplier_wide(inside, 2**30, -5, r)).all()
