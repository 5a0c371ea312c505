"""golden.multiplier.quantize_multiplier against an exact Fraction reference."""

import math
import re

import numpy as np
import pytest

from golden.multiplier import REAL_MULTIPLIER_LIMIT, quantize_multiplier
from tests.helpers import fixedpoint_reference as ref

N_RANDOM = 100_000


@pytest.fixture
def rng():
    return ref.make_rng()


def check(reals):
    m0, shift = quantize_multiplier(reals)
    want = [ref.quantize_multiplier(float(r)) for r in reals]
    ref.assert_exact(m0, [w[0] for w in want], real_bits=reals.view(np.int64))
    ref.assert_exact(shift, [w[1] for w in want], real_bits=reals.view(np.int64))


def test_slide_example_0_01():
    # The seed slides print 1374389534 (truncated 0.64·2^31) and "shift 6" (magnitude).
    assert quantize_multiplier(0.01) == (1374389535, -6)
    assert 0.64 * 2**31 == pytest.approx(1374389534.72)


def test_known_values():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(-0.0) == (0, 0)
    assert quantize_multiplier(1.0) == (2**30, 1)
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(0.75) == (3 * 2**29, 0)
    assert quantize_multiplier(2.0**-31) == (2**30, -30)
    assert quantize_multiplier(2.0**-32) == (2**30, -31)
    assert quantize_multiplier(2.0**-33) == (0, 0)  # e = −32 < −31: flushed
    assert quantize_multiplier(np.nextafter(REAL_MULTIPLIER_LIMIT, 0)) == (2**31 - 1, 30)
    m0, shift = quantize_multiplier(0.3)
    assert isinstance(m0, int) and isinstance(shift, int)


def test_edges():
    reals = [0.0, 2.0**-1074, 5e-324, REAL_MULTIPLIER_LIMIT * (1 - 2**-52)]
    for e in range(-40, 31):
        for q in (0.5, np.nextafter(0.5, 1), np.nextafter(1.0, 0), 0.75, 1 / 1.5):
            reals.append(math.ldexp(q, e))
        # q·2^31 = k + 1/2 exactly: ties round away; k = 2^31 − 1 carries to 2^31.
        for k in (2**30, 2**30 + 1, 2**31 - 2, 2**31 - 1):
            reals.append(math.ldexp((k + 0.5) / 2**31, e))
            reals.append(math.ldexp(np.nextafter((k + 0.5) / 2**31, 0), e))
    reals = np.array([r for r in reals if r < REAL_MULTIPLIER_LIMIT])
    check(reals)
    m0, shift = quantize_multiplier(reals)
    assert set(np.unique(m0[m0 < 2**30])) <= {0}
    assert ((shift >= -31) & (shift <= 30)).all()


def test_carry_and_flush_order():
    # q just below 1 at e = −32 rounds to 2^31, carries to e = −31: not flushed (TFLite order).
    assert quantize_multiplier(math.ldexp((2**31 - 0.5) / 2**31, -32)) == (2**30, -31)
    assert quantize_multiplier(math.ldexp(np.nextafter((2**31 - 0.5) / 2**31, 0), -32)) == (0, 0)


def test_random(rng):
    reals = np.exp2(rng.uniform(-40, 29.9, N_RANDOM))
    check(reals)


def test_float32_per_channel(rng):
    reals = (rng.random((4, 8)) * 0.02).astype(np.float32)
    m0, shift = quantize_multiplier(reals)
    assert m0.shape == shift.shape == (4, 8) and m0.dtype == shift.dtype == np.int64
    want = [ref.quantize_multiplier(float(r)) for r in reals.ravel()]
    ref.assert_exact(m0.ravel(), [w[0] for w in want])
    ref.assert_exact(shift.ravel(), [w[1] for w in want])


@pytest.mark.parametrize("real, msg", [
    (-0.5, "real_multiplier=-0.5 is out of range; allowed: >= 0.0"),
    ([0.1, -1e-9], "real_multiplier[1]=-1e-09 is out of range; allowed: >= 0.0"),
    (float("nan"), "real_multiplier=nan is out of range; allowed: finite values"),
    (float("inf"), "real_multiplier=inf is out of range; allowed: finite values"),
    (2.0**30, "real_multiplier=1073741824.0 is out of range; allowed: [0, 2^30 - 2^-2)"),
    (REAL_MULTIPLIER_LIMIT,
     "real_multiplier=1073741823.75 is out of range; allowed: [0, 2^30 - 2^-2)"),
    ("0.5", "real_multiplier='0.5' is not a real array"),
])
def test_bad_arguments(real, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        quantize_multiplier(real)
