"""golden.crossbar.crossbar_layer_model: any number of output channels, tiled onto the
crossbar's columns as the hardware runs them — equal to the testbench model's column-tile
schedule (tb.model.Model.crossbar_layer, what the RTL is checked against) bit for bit, with
and without noise; equal to the exact datapath with a lossless ADC."""

from __future__ import annotations


import numpy as np
import pytest

from golden import crossbar as xb
from golden.datapath import datapath_model
from sim.config import load_config
from sim.runner import hw_params_for
from tb.layers import FoldedLayer
from tb.model import Model

from tests.helpers.seeding import make_rng


def _layer(rng, b, k, c, per_channel):
    x = rng.integers(-128, 128, (b, k))
    w = rng.integers(-127, 128, (c, k))
    bias = rng.integers(-(2**16), 2**16, c)
    n = c if per_channel else 1
    m0 = rng.integers(2**30, 2**31, n)
    shift = rng.integers(-14, -8, n)
    return x, w, bias, m0, shift


@pytest.mark.parametrize("c", [1, 16, 17, 40])
@pytest.mark.parametrize("noisy", [False, True])
def test_tiled_model_equals_testbench_schedule(c, noisy, repo_root):
    rng = make_rng()
    cfg = load_config(repo_root / "constraints" / "sidra_y1.yaml")
    hp = hw_params_for(cfg.to_dict(), None, "")
    x, w, bias, m0, shift = _layer(rng, 5, 150, c, True)
    noise = xb.CrossbarNoise(program_sigma=0.01, read_sigma=0.005, adc_offset_sigma=0.3,
                             seed=int(rng.integers(1 << 30))) if noisy else xb.CrossbarNoise()
    model = Model(hp)
    model._noise = noise  # the testbench model with this noise (the config has none)
    L = FoldedLayer(x=x, w=w, bias=bias, m0=m0, shift=shift, y_zp=-3, act_min=-128,
                    act_max=127, per_tensor=False)
    rng_tb = xb.noise_streams(noise.seed)[1] if noise.read_sigma else None
    want = model.crossbar_layer(L, read_rng=rng_tb)
    y, ovf, psums = xb.crossbar_layer_model(
        x, w, bias, spec=hp.xb_spec(), acc_bits=hp.acc_bits, overflow=hp.overflow, m0=m0,
        shift=shift, y_zp=-3, act_min=-128, act_max=127, rounding=hp.rounding, noise=noise)
    assert np.array_equal(y, want["y"][:, :c])
    assert np.array_equal(ovf, want["ovf"][:, :c])
    assert psums.shape == (3, 5, c)


@pytest.mark.parametrize("per_channel", [False, True])
def test_tiled_lossless_equals_exact_datapath(per_channel):
    rng = make_rng()
    spec = xb.crossbar_tile(bits=8, input_signed=True, weight_signed=True, rows=16, cols=4,
                            cell_bits=2, weight_encoding="differential", dac_bits=1,
                            input_encoding="twos_complement",
                            adc_bits=xb.lossless_adc_bits(16, 1, 2))
    x, w, bias, m0, shift = _layer(rng, 7, 37, 11, per_channel)
    m0, shift = (m0, shift) if per_channel else (int(m0[0]), int(shift[0]))
    kw = dict(acc_bits=32, overflow="wrap", m0=m0, shift=shift, y_zp=5, act_min=-100,
              act_max=120, rounding="double")
    y, _, psums = xb.crossbar_layer_model(x, w, bias, spec=spec, **kw)
    want, _ = datapath_model(x, w, bias, bits=8, input_signed=True, weight_signed=True,
                             rows=16, **kw)
    assert np.array_equal(y, want)
    assert np.array_equal(psums.sum(axis=0), x @ w.T)
    # a lossy ADC changes something (the test can fail)
    lossy = xb.retile(spec, adc_bits=4, adc_shift=None)
    y4, _, _ = xb.crossbar_layer_model(x, w, bias, spec=lossy, **kw)
    assert not np.array_equal(y4, want)


def test_tiled_model_rejects_bad_weights():
    spec = xb.crossbar_tile(bits=8, input_signed=True, weight_signed=True, rows=4, cols=2,
                            cell_bits=8, weight_encoding="offset", dac_bits=8,
                            input_encoding="offset", adc_bits=8)
    with pytest.raises(ValueError, match=r"w.shape=\(0, 4\) is out of range"):
        xb.crossbar_layer_model(np.zeros((1, 4), int), np.zeros((0, 4), int), None, spec=spec,
                                acc_bits=32, overflow="wrap", m0=1 << 30, shift=0, y_zp=0,
                                act_min=-128, act_max=127)
