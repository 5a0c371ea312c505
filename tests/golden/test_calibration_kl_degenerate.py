"""KL calibration on data with few distinct values: the collapse is detected, warned about
and replaced by the fallback (golden/calibration.py, "Degenerate histograms")."""

import os

import numpy as np
import pytest

from golden.calibration import CalibrationWarning, calibrate_kl, calibrate_mse, \
    calibrate_minmax
from golden.quantize import fake_quantize


def _seed():
    seed = int(os.environ.get("QMAC_SEED", "1601"))
    print(f"QMAC_SEED={seed}")
    return seed


def _pixels(rng, n=20000):
    """Digits-like inputs: the 17 integers 0..16, most pixels 0 (scikit-learn's load_digits
    has this distribution)."""
    p = np.array([50] + [3] * 15 + [5], dtype=np.float64)
    return rng.choice(17, size=n, p=p / p.sum()).astype(np.float64)


def _clipped(x, scale, zp, bits):
    return float(np.mean(fake_quantize(x, scale, zp, bits=bits, signed=True) < x - scale))


def test_kl_collapse_reproduced_without_fallback():
    x = _pixels(np.random.default_rng(_seed()))
    with pytest.warns(CalibrationWarning, match=r"degenerate histogram \(tensor, bits=4\).*"
                                                r"keeping it"):
        s, z = calibrate_kl(x, bits=4, symmetric=False, fallback=None)
    # the old behaviour: a threshold just above the first spike, most non-zero pixels clipped
    hi = float(s) * (7 - int(z))
    assert hi < 2.0
    assert _clipped(x, s, z, 4) > 0.3


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_kl_degenerate_falls_back_to_mse(bits):
    x = _pixels(np.random.default_rng(_seed()))
    with pytest.warns(CalibrationWarning, match=r"falling back to 'mse'"):
        got = calibrate_kl(x, bits=bits, symmetric=False)
    assert got == calibrate_mse(x, bits=bits, symmetric=False)
    assert _clipped(x, *got, bits) < 0.1


@pytest.mark.parametrize("bits", [5, 8])
def test_kl_on_discrete_data_with_enough_levels_is_kept(bits):
    """With 2^b levels for 17 values KL keeps the whole range: no warning, no fallback."""
    import warnings
    x = _pixels(np.random.default_rng(_seed()))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        assert calibrate_kl(x, bits=bits, symmetric=False) == \
            calibrate_minmax(x, bits=bits, symmetric=False)


def test_kl_degenerate_minmax_fallback_and_per_channel_names_channel():
    rng = np.random.default_rng(_seed())
    x = np.stack([_pixels(rng, 5000), rng.normal(0, 1, 5000)])  # channel 0 discrete
    with pytest.warns(CalibrationWarning, match=r"channel 0, bits=4.*'minmax'") as rec:
        s, z = calibrate_kl(x, bits=4, symmetric=True, axis=0, fallback="minmax")
    assert len(rec) == 1  # the continuous channel is not degenerate
    s0, _ = calibrate_minmax(x[0], bits=4)
    assert s[0] == s0 and z[0] == 0


def test_kl_continuous_data_never_warns():
    rng = np.random.default_rng(_seed())
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        for bits in (2, 4, 8):
            calibrate_kl(rng.laplace(0, 1, 20000), bits=bits)
            calibrate_kl(np.maximum(rng.normal(0, 1, 20000), 0), bits=bits, symmetric=False)


def test_kl_fallback_argument_checked():
    with pytest.raises(ValueError, match=r"fallback='median' is out of range; allowed: "
                                         r"'mse', 'minmax', None"):
        calibrate_kl([1.0, 2.0], fallback="median")
