"""golden/lowering.py against a direct, loop-by-loop convolution written from the definition
(taps outside the input skipped), for random shapes, strides, dilations, paddings, depth
multipliers, channel groups and zero points. Exact int64 accumulators (no requantization:
``m0 = 2^30, shift = 1`` is the identity multiplier, clamps opened wide)."""

from __future__ import annotations

import numpy as np
import pytest

from golden.lowering import (conv_geometry, depthwise_group, lower_conv_2d,
                             lower_depthwise_conv_2d)
from tests.helpers.seeding import printed_seed


def _seed():
    return printed_seed(3)


def _acc(low):
    """Σ (x − x_zp)(w − w_zp) + bias of every product, assembled."""
    ys = [(L.x - L.x_zp) @ (L.w - L.w_zp).T + L.bias for L in low.layers]
    return low.assemble(ys)


def _direct(x, w, bias, x_zp, w_zp, opt, depthwise, dm=1):
    n, h, wd, cin = x.shape
    kh, kw = (w.shape[1], w.shape[2])
    cout = w.shape[3] if depthwise else w.shape[0]
    oh, pt = conv_geometry(h, kh, opt["stride_h"], opt["dilation_h_factor"], opt["padding"])
    ow, pl = conv_geometry(wd, kw, opt["stride_w"], opt["dilation_w_factor"], opt["padding"])
    out = np.zeros((n, oh, ow, cout), np.int64)
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for oc in range(cout):
                    s = int(bias[oc])
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * opt["stride_h"] - pt + ky * opt["dilation_h_factor"]
                            ix = ox * opt["stride_w"] - pl + kx * opt["dilation_w_factor"]
                            if not (0 <= iy < h and 0 <= ix < wd):
                                continue
                            if depthwise:
                                s += (int(x[b, iy, ix, oc // dm]) - x_zp) * \
                                     (int(w[0, ky, kx, oc]) - w_zp)
                            else:
                                s += int(np.dot(x[b, iy, ix, :].astype(np.int64) - x_zp,
                                                w[oc, ky, kx, :].astype(np.int64) - w_zp))
                    out[b, oy, ox, oc] = s
    return out


def _quant(c, x_zp, w_zp):
    return dict(x_zp=x_zp, w_zp=w_zp, m0=np.full(c, 2**30), shift=np.ones(c, np.int64),
                y_zp=0, act_min=-(2**40), act_max=2**40)


@pytest.mark.parametrize("trial", range(12))
def test_conv_and_depthwise_lowering_equal_direct_convolution(trial):
    rng = np.random.default_rng([_seed(), trial])
    h, wd, cin = (int(v) for v in rng.integers(3, 9, size=3))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    opt = dict(stride_h=int(rng.integers(1, 4)), stride_w=int(rng.integers(1, 4)),
               dilation_h_factor=int(rng.integers(1, 3)), dilation_w_factor=int(rng.integers(1, 3)),
               padding=str(rng.choice(["SAME", "VALID"])), depth_multiplier=int(rng.integers(1, 4)))
    if opt["padding"] == "VALID" and ((kh - 1) * opt["dilation_h_factor"] >= h or
                                      (kw - 1) * opt["dilation_w_factor"] >= wd):
        opt["padding"] = "SAME"
    x_zp, w_zp = int(rng.choice([-128, 0, 127, 5])), int(rng.choice([0, 0, 3]))
    x = rng.integers(-128, 128, size=(2, h, wd, cin))
    cout = int(rng.integers(1, 20))
    w = rng.integers(-127, 128, size=(cout, kh, kw, cin))
    bias = rng.integers(-1000, 1000, size=cout)
    low = lower_conv_2d(x, w, bias=bias, quant=_quant(cout, x_zp, w_zp), options=opt)
    np.testing.assert_array_equal(_acc(low), _direct(x, w, bias, x_zp, w_zp, opt, False))
    dm = opt["depth_multiplier"]
    wdw = rng.integers(-127, 128, size=(1, kh, kw, cin * dm))
    bdw = rng.integers(-1000, 1000, size=cin * dm)
    for group in (1, 3, 16):
        low = lower_depthwise_conv_2d(x, wdw, bias=bdw, quant=_quant(cin * dm, x_zp, w_zp),
                                      options=opt, group=group)
        np.testing.assert_array_equal(_acc(low),
                                      _direct(x, wdw, bdw, x_zp, w_zp, opt, True, dm))


@pytest.mark.parametrize("n, k, s, d, pad, out, before", [
    (7, 3, 1, 1, "SAME", 7, 1), (7, 3, 2, 1, "SAME", 4, 1), (8, 3, 2, 1, "SAME", 4, 0),
    (7, 3, 1, 2, "SAME", 7, 2), (7, 3, 1, 1, "VALID", 5, 0), (7, 3, 3, 2, "VALID", 1, 0),
    (10, 1, 3, 1, "SAME", 4, 0), (10, 7, 1, 1, "VALID", 4, 0),
])
def test_conv_geometry(n, k, s, d, pad, out, before):
    assert conv_geometry(n, k, s, d, pad) == (out, before)


@pytest.mark.parametrize("cols, taps, m, limit, want", [
    (16, 9, 1, 256, 16),      # 3×3: 16 channels, K = 144
    (16, 25, 1, 256, 10),     # 5×5: K = 250 <= 256 (16 channels would need 400: reloads)
    (16, 49, 1, 256, 5),      # 7×7
    (16, 49, 2, 256, 10),     # m = 2: 5 input channels feed 10 columns
    (16, 300, 1, 256, 1),     # one channel is already too long: 1
    (16, 9, 1, None, 16),
])
def test_depthwise_group(cols, taps, m, limit, want):
    g = depthwise_group(cols, taps, m, limit)
    assert g == want
    if limit and taps <= limit:
        assert -(-g // m) * taps <= limit and g % m == 0
