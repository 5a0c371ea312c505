"""Tests for golden.calibration: each method against an independent reference."""

import math

import numpy as np
import pytest

from golden.calibration import (
    METHODS,
    calibrate,
    calibrate_kl,
    calibrate_minmax,
    calibrate_mse,
    calibrate_percentile,
    kl_threshold_bin,
)
from golden.quantize import (
    asymmetric_params,
    fake_quantize,
    quantize_asymmetric,
    quantize_symmetric,
    symmetric_params,
)


def gaussian_with_outliers(seed, n=20_000):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n)
    x[:5] = [12.0, -9.0, 15.0, -11.0, 10.0]
    return x


# ---------------------------------------------------------------- min-max / percentile


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_minmax_matches_quantize(bits):
    x = gaussian_with_outliers(bits)
    _, s, z = quantize_symmetric(x, bits=bits)
    assert calibrate_minmax(x, bits=bits) == (s, z)
    for signed in (True, False):
        _, s, z = quantize_asymmetric(x, bits=bits, signed=signed)
        assert calibrate_minmax(x, bits=bits, symmetric=False, signed=signed) == (s, z)


def test_percentile():
    x = gaussian_with_outliers(1)
    assert calibrate_percentile(x, percentile=100) == calibrate_minmax(x)
    t = np.percentile(np.abs(x), 99.9)
    assert calibrate_percentile(x, percentile=99.9) == symmetric_params(t)
    lo, hi = np.percentile(x, 100 - 99.9), np.percentile(x, 99.9)
    assert calibrate_percentile(x, percentile=99.9, symmetric=False) == asymmetric_params(lo, hi)
    s_clip, _ = calibrate_percentile(x, percentile=99.9)
    s_full, _ = calibrate_minmax(x)
    assert s_clip < s_full / 3  # the outliers are clipped away


# ---------------------------------------------------------------- MSE search


def ref_mse_search(x, bits, symmetric, signed, n):
    """Brute force: every candidate's round-trip MSE; lowest wins, ties → larger range."""
    amax, lo, hi = np.max(np.abs(x)), x.min(), x.max()
    best = None
    for k in range(1, n + 1):
        f = k / n
        if symmetric:
            s, z = symmetric_params(f * amax, bits=bits)
            xh = fake_quantize(x, s, z, bits=bits, narrow=True)
        else:
            s, z = asymmetric_params(f * lo, f * hi, bits=bits, signed=signed)
            xh = fake_quantize(x, s, z, bits=bits, signed=signed)
        err = np.mean((x - xh) ** 2)
        if best is None or err <= best[0]:
            best = (err, s, z)
    return best[1], best[2]


@pytest.mark.parametrize("bits", [3, 4, 8])
@pytest.mark.parametrize("symmetric, signed", [(True, True), (False, True), (False, False)])
def test_mse_matches_brute_force(bits, symmetric, signed):
    x = gaussian_with_outliers(bits, n=5000)
    got = calibrate_mse(x, bits=bits, symmetric=symmetric, signed=signed, num_candidates=40)
    assert got == ref_mse_search(x, bits, symmetric, signed, 40)


def test_mse_beats_minmax_with_outliers():
    x = gaussian_with_outliers(7)
    for symmetric in (True, False):
        s_m, z_m = calibrate_mse(x, bits=4, symmetric=symmetric)
        s_0, z_0 = calibrate_minmax(x, bits=4, symmetric=symmetric)
        narrow = symmetric
        e_m = np.mean((x - fake_quantize(x, s_m, z_m, bits=4, narrow=narrow)) ** 2)
        e_0 = np.mean((x - fake_quantize(x, s_0, z_0, bits=4, narrow=narrow)) ** 2)
        assert s_m < s_0 and e_m < e_0 / 2
    assert calibrate_mse(x, num_candidates=1) == calibrate_minmax(x)


# ---------------------------------------------------------------- KL (entropy)


def ref_kl_threshold_bin(hist, levels):
    """Plain-loop transcription of the TensorRT entropy search (module docstring)."""
    hist = [float(h) for h in hist]
    nbins = len(hist)
    if levels >= nbins:
        return nbins

    def smooth(p, eps=1e-4):
        zeros = [v == 0 for v in p]
        nz = sum(zeros)
        if nz == 0:
            return p
        take = eps * nz / (len(p) - nz)
        smallest = min(v for v in p if v != 0)
        if take > 0.5 * smallest:
            eps *= 0.5 * smallest / take
            take = 0.5 * smallest
        return [eps if z else v - take for v, z in zip(p, zeros)]

    best = None
    for i in range(levels, nbins + 1):
        p = hist[:i]
        p[-1] += sum(hist[i:])
        q = [0.0] * i
        for j in range(levels):
            a, b = j * i // levels, (j + 1) * i // levels
            group = hist[a:b]
            used = [k for k in range(a, b) if hist[k] != 0]
            for k in used:
                q[k] = sum(group) / len(used)
        if not any(q):
            continue
        p, q = smooth(p), smooth(q)
        sp, sq = sum(p), sum(q)
        kl = sum((pi / sp) * math.log((pi / sp) / (qi / sq)) for pi, qi in zip(p, q))
        if best is None or kl <= best[0] + 1e-12 * abs(best[0]):
            best = (kl, i)
    return best[1]


@pytest.mark.parametrize("seed", range(4))
def test_kl_threshold_bin_matches_reference(seed):
    rng = np.random.default_rng(seed)
    data = np.abs(rng.laplace(0, 1, 5000)) if seed % 2 else np.abs(rng.normal(0, 1, 3000))
    hist, _ = np.histogram(data, bins=96, range=(0, data.max()))
    for levels in (8, 16, 33):
        assert kl_threshold_bin(hist, levels) == ref_kl_threshold_bin(hist, levels)


def test_kl_threshold_bin_edge_cases():
    hist = np.zeros(64)
    hist[-1] = 5
    assert kl_threshold_bin(hist, 8) == 64  # everything at the top: never clip
    assert kl_threshold_bin(np.ones(20), 30) == 20  # more levels than bins
    assert kl_threshold_bin(np.ones(20), 20) == 20


def test_kl_clips_heavy_tails_but_not_uniform():
    rng = np.random.default_rng(11)
    lap = rng.laplace(0, 1, 50_000)
    s_kl, _ = calibrate_kl(lap)
    s_mm, _ = calibrate_minmax(lap)
    assert s_kl < 0.9 * s_mm
    uni = rng.uniform(-1, 1, 50_000)
    s_kl, z = calibrate_kl(uni)
    assert z == 0 and s_kl >= 0.97 * calibrate_minmax(uni)[0]


def test_kl_relu_zero_spike_and_unsigned_levels():
    rng = np.random.default_rng(12)
    relu = np.maximum(rng.normal(0, 1, 50_000), 0.0)  # half the samples are exactly 0
    s, z = calibrate_kl(relu, bits=8, symmetric=False, signed=False)
    assert z == 0
    t = s * 255
    assert 2.0 < t <= relu.max()  # the zero spike does not drag the threshold to ~0


def test_kl_wide_bits_do_not_clip():
    x = gaussian_with_outliers(3)
    assert calibrate_kl(x, bits=13) == calibrate_minmax(x, bits=13)
    assert calibrate_kl(x, bits=16) == calibrate_minmax(x, bits=16)


# ---------------------------------------------------------------- per-channel, dispatch


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("symmetric", [True, False])
def test_per_channel_equals_per_slice(method, symmetric):
    rng = np.random.default_rng(20)
    x = rng.normal(0, 1, size=(3, 400, 2)) * np.array([1.0, 5.0])
    x[:, :, 0] += 0.5
    opts = {"bits": 6, "symmetric": symmetric}
    if method == "kl":
        opts["num_bins"] = 256
    s, z = calibrate(x, method, axis=-1, **opts)
    assert s.shape == (2,) and z.shape == (2,)
    for c in range(2):
        assert calibrate(x[:, :, c], method, **opts) == (s[c], z[c])


@pytest.mark.parametrize("method", METHODS)
def test_all_zero_input(method):
    s, z = calibrate(np.zeros(50), method)
    assert (s, z) == (1.0, 0)
    s, z = calibrate(np.zeros(50), method, symmetric=False)
    assert (s, z) == (1.0, -128)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: calibrate([1.0], "entropy"),
         "method='entropy' is out of range; allowed: 'minmax', 'percentile', 'mse', 'kl'"),
        (lambda: calibrate_minmax([1.0], bits=1), "bits=1 is out of range; allowed: [2, 16]"),
        (lambda: calibrate_kl([1.0], bits=17), "bits=17 is out of range; allowed: [2, 16]"),
        (lambda: calibrate_minmax([1.0], signed=False),
         "signed=False is out of range; allowed: True when symmetric=True"),
        (lambda: calibrate_percentile([1.0], percentile=50),
         "percentile=50 is out of range; allowed: (50, 100]"),
        (lambda: calibrate_percentile([1.0], percentile=100.5),
         "percentile=100.5 is out of range; allowed: (50, 100]"),
        (lambda: calibrate_mse([1.0], num_candidates=0),
         "num_candidates=0 is out of range; allowed: [1, 10000]"),
        (lambda: calibrate_kl([1.0], num_bins=8),
         "num_bins=8 is out of range; allowed: [16, 65536]"),
        (lambda: calibrate_minmax([]), "x.size=0 is out of range; allowed: >= 1 element"),
        (lambda: calibrate_minmax(np.ones((2, 0)), axis=0),
         "x.size=0 is out of range; allowed: >= 1 element per channel"),
        (lambda: calibrate_kl(np.ones((0, 3)), axis=0),
         "x.size=0 is out of range; allowed: >= 1 element per channel"),
        (lambda: calibrate_minmax(np.ones((2, 3)), axis=2),
         "axis=2 is out of range; allowed: [-2, 1]"),
        (lambda: calibrate_minmax([1.0, float("inf")]),
         "x[1]=inf is out of range; allowed: finite"),
        (lambda: kl_threshold_bin([0, 0], 4), "hist.shape=(2,) is out of range"),
        (lambda: kl_threshold_bin([1, 2], 0), "levels=0 is out of range; allowed: >= 1"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(message), str(info.value)
