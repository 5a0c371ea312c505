"""golden.network / golden.netquant: float networks, their quantization (TFLite conventions)
and the integer forward pass on the datapath, against loop references."""

import numpy as np
import pytest
from tests.helpers import fixedpoint_reference as ref

from golden.calibration import calibrate
from golden.datapath import datapath_model, fold_zero_points, fully_connected
from golden.layer import activation_range, layer_multipliers
from golden.network import FloatLayer, FloatNetwork, im2col, load_float_network, \
    save_float_network
from golden.netquant import datapath_layer, quantize_bias, quantize_network, run_quantized
from golden.quantize import quantize_symmetric


@pytest.fixture
def rng():
    return ref.make_rng()


def _mlp(rng, sizes=(20, 12, 5)):
    layers = []
    for i, (k, c) in enumerate(zip(sizes[:-1], sizes[1:])):
        act = "relu" if i < len(sizes) - 2 else "none"
        layers.append(FloatLayer("dense", rng.normal(0, 0.4, (c, k)), rng.normal(0, 0.2, c), act))
    return FloatNetwork(tuple(layers), (sizes[0],))


def _cnn(rng):
    return FloatNetwork((
        FloatLayer("conv2d", rng.normal(0, 0.3, (4, 3, 3, 2)), rng.normal(0, 0.1, 4), "relu6",
                   (2, 1), "same"),
        FloatLayer("conv2d", rng.normal(0, 0.3, (3, 2, 1, 4)), rng.normal(0, 0.1, 3), "relu",
                   (1, 1), "valid"),
        FloatLayer("dense", rng.normal(0, 0.3, (5, 3 * 6 * 3)), rng.normal(0, 0.1, 5), "none"),
    ), (7, 6, 2))


# ---------------------------------------------------------------------------------------
# bias

def test_quantize_bias_tflite_convention():
    # float32 scale product, multiply by its float32 inverse, round half away, clamp int32
    xs, ws = 0.5, np.array([0.25, 0.25, 0.25, 1e-12, 0.25])
    b = np.array([0.125 * 2.5, -0.125 * 2.5, 1.0, 1.0, -1e9])  # ties ±2.5 → ±3
    q = quantize_bias(b, xs, ws)
    assert q.tolist() == [3, -3, 8, 2**31 - 1, -(2**31)]
    # loop reference in float32
    rng = np.random.default_rng(5)
    xs, ws, b = 0.0123, rng.uniform(1e-3, 1e-2, 50), rng.normal(0, 1, 50)
    want = []
    for bc, wc in zip(b, ws):
        s = np.float32(np.float32(xs) * np.float32(wc))
        v = float(np.float32(bc) * np.float32(np.float32(1) / s))
        want.append(int(np.sign(v) * np.floor(abs(v) + 0.5)))
    assert quantize_bias(b, xs, ws).tolist() == want


# ---------------------------------------------------------------------------------------
# quantize_network

@pytest.mark.parametrize("method", ["minmax", "percentile", "mse", "kl"])
def test_quantize_network_conventions(rng, method):
    net = _mlp(rng)
    xc = rng.normal(0, 1, (300, 20))
    opts = {"num_bins": 256} if method == "kl" else {}  # 2048 bins: 10x slower
    q = quantize_network(net, xc, bits=[6, 4], method=method, **opts)
    acts = net.forward(xc)
    tbits = [6, 4, 4]
    for i, (L, F) in enumerate(zip(q.layers, net.layers)):
        qw, ws, zw = quantize_symmetric(F.w, bits=L.bits, axis=0)
        assert np.array_equal(L.w, qw) and np.allclose(L.w_scale, ws) and not np.any(zw)
        assert np.abs(L.w).max() <= 2 ** (L.bits - 1) - 1             # narrow range
        xs, xz = calibrate(acts[i].reshape(-1), method, bits=tbits[i], symmetric=False, **opts)
        ys, yz = calibrate(acts[i + 1].reshape(-1), method, bits=tbits[i + 1],
                           symmetric=False, **opts)
        assert (L.x_scale, L.x_zp, L.y_scale, L.y_zp) == (xs, xz, ys, yz)
        m0, sh = layer_multipliers(xs, ws, ys)
        assert np.array_equal(L.m0, m0) and np.array_equal(L.shift, sh)
        assert (L.act_min, L.act_max) == activation_range(F.act, ys, yz, out_bits=tbits[i + 1])
        assert np.array_equal(L.bias, quantize_bias(F.b, xs, ws))
    # the output tensor of layer 0 is the input tensor of layer 1: same parameters
    assert (q.layers[0].y_scale, q.layers[0].y_zp) == (q.layers[1].x_scale, q.layers[1].x_zp)
    assert q.bits == (6, 4) and q.macs == 20 * 12 + 12 * 5


def test_per_layer_bits_codes_stay_in_range(rng):
    net = _mlp(rng, (16, 10, 8, 4))
    xc = rng.normal(0, 1, (200, 16))
    q = quantize_network(net, xc, bits=[3, 8, 2])
    xq = q.quantize_input(xc)
    assert xq.min() >= -4 and xq.max() <= 3
    outs = run_quantized(q, xq, lambda i, L, x: datapath_layer(L, x, bits=8, rows=4))
    for o, b in zip(outs, (8, 2, 2)):
        assert o.min() >= -(1 << (b - 1)) and o.max() <= (1 << (b - 1)) - 1


def test_datapath_layer_equals_tflite_reference_fc(rng):
    """The MAC-array schedule (fold, K tiles, wrap, requantize) equals TFLite's literal
    int32 fully connected on quantized layers."""
    net = _mlp(rng, (40, 24, 10))
    xc = rng.normal(0, 1, (256, 40))
    for bits in (8, 5):
        q = quantize_network(net, xc, bits=bits)
        t = q.quantize_input(xc)
        for L in q.layers:
            got = datapath_layer(L, t, bits=8, rows=16)
            want = fully_connected(t, L.w, bias=L.bias, x_zp=L.x_zp, w_zp=0, m0=L.m0,
                                   shift=L.shift, y_zp=L.y_zp, act_min=L.act_min,
                                   act_max=L.act_max)
            assert np.array_equal(got, want)
            t = got


def _conv_loop(xq, L, in_shape):
    """Integer conv by loops: TFLite reference conv with zero-point padding."""
    kh, kw = L.kernel
    sh, sw = L.stride
    b, h, w, c = xq.shape
    if L.padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph = max((oh - 1) * sh + kh - h, 0) // 2
        pw = max((ow - 1) * sw + kw - w, 0) // 2
    else:
        oh, ow, ph, pw = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0
    wk = L.w.reshape(-1, kh, kw, c)
    acc = np.zeros((b, oh, ow, wk.shape[0]), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            for dy in range(kh):
                for dx in range(kw):
                    iy, ix = oy * sh + dy - ph, ox * sw + dx - pw
                    if 0 <= iy < h and 0 <= ix < w:
                        acc[:, oy, ox] += (xq[:, iy, ix, :] - L.x_zp) @ wk[:, dy, dx, :].T
    return _requant(acc + L.bias, L)


def _requant(acc, L):
    from golden.datapath import requantize
    return requantize(acc, m0=L.m0, shift=L.shift, y_zp=L.y_zp, act_min=L.act_min,
                      act_max=L.act_max)


def test_conv_network_im2col_equals_loop_reference(rng):
    net = _cnn(rng)
    xc = rng.normal(0, 1, (6, 7, 6, 2))
    q = quantize_network(net, xc, bits=8, method="mse")
    outs = run_quantized(q, q.quantize_input(xc),
                         lambda i, L, x: datapath_layer(L, x, bits=8, rows=8))
    t = q.quantize_input(xc)
    for i in range(2):
        want = _conv_loop(t, q.layers[i], t.shape[1:])
        assert np.array_equal(outs[i], want), i
        t = want
    assert outs[0].shape == (6, 4, 6, 4) and outs[1].shape == (6, 3, 6, 3)
    assert q.layers[0].positions == 24 and q.macs == 24 * 4 * 18 + 18 * 3 * 8 + 5 * 54
    # float forward: same im2col, float
    acts = net.forward(xc)
    assert acts[1].shape == (6, 4, 6, 4) and acts[3].shape == (6, 5)


def test_im2col_same_padding_value_and_order():
    x = np.arange(2 * 3 * 3 * 2).reshape(2, 3, 3, 2)
    cols, shape = im2col(x, (2, 2), (2, 2), "same", -7)
    assert shape == (2, 2, 2)
    # TFLite SAME: out 2x2, total pad 1 → 0 before, 1 after; order (kh, kw, C)
    assert cols[0].tolist() == [0, 1, 2, 3, 6, 7, 8, 9]
    assert cols[3].tolist() == [16, 17, -7, -7, -7, -7, -7, -7]


def test_quantized_accuracy_tracks_float(rng):
    """A quantized net agrees with its float net on almost every argmax at 8 bits."""
    net = _mlp(rng, (30, 32, 6))
    x = rng.normal(0, 1, (2000, 30))
    q = quantize_network(net, x[:500], bits=8)
    outs = run_quantized(q, q.quantize_input(x),
                         lambda i, L, t: datapath_layer(L, t, bits=8, rows=16))
    agree = np.mean(outs[-1].argmax(1) == net.forward(x)[-1].argmax(1))
    assert agree > 0.97


# ---------------------------------------------------------------------------------------
# .npz format

def test_npz_round_trip(tmp_path, rng):
    net = _cnn(rng)
    save_float_network(net, tmp_path / "n.npz")
    back = load_float_network(tmp_path / "n.npz")
    assert back.input_shape == net.input_shape and len(back.layers) == 3
    x = rng.normal(0, 1, (2, 7, 6, 2))
    assert np.array_equal(back.forward(x)[-1], net.forward(x)[-1])


@pytest.mark.parametrize("patch, msg", [
    ({"l0_kind": np.array("lstm")}, r"l0_kind='lstm' is out of range; allowed: 'dense', 'conv2d'"),
    ({"l0_act": np.array("gelu")}, r"l0_act='gelu' is out of range"),
    ({"l0_w": np.zeros((12, 19))}, r"l0_w: shape \[12, 19\] does not match its input \[20\]"),
    ({"l1_b": np.zeros(4)}, r"l1_b: shape \[4\] is out of range; allowed: \[5\]"),
    ({"l0_w": np.full((12, 20), np.nan)}, r"l0_w: .* allowed: finite numbers"),
    ({"extra": np.zeros(1)}, r"unknown key 'extra'"),
    ({"input_shape": np.array([0])}, r"input_shape=\[0\] is out of range"),
])
def test_npz_bad_files_one_line(tmp_path, rng, patch, msg):
    net = _mlp(rng)
    save_float_network(net, tmp_path / "n.npz")
    d = dict(np.load(tmp_path / "n.npz"))
    d.update(patch)
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(ValueError, match=msg) as exc:
        load_float_network(tmp_path / "bad.npz")
    assert "\n" not in str(exc.value)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"cannot read it as .npz"):
        load_float_network(tmp_path / "junk.npz")


def test_quantize_network_rejects_bad_arguments(rng):
    net = _mlp(rng)
    with pytest.raises(ValueError, match=r"len\(bits\)=3 is out of range; allowed: one int or 2"):
        quantize_network(net, rng.normal(0, 1, (5, 20)), bits=[8, 8, 8])
    with pytest.raises(ValueError, match=r"calib_x.shape=\(5, 19\) is out of range"):
        quantize_network(net, rng.normal(0, 1, (5, 19)))
    with pytest.raises(ValueError, match=r"bits\[1\]=17 is out of range"):
        quantize_network(net, rng.normal(0, 1, (5, 20)), bits=[8, 17])


def test_fold_matches_datapath_model_definition(rng):
    """datapath_layer is fold_zero_points + datapath_model (no other arithmetic)."""
    net = _mlp(rng)
    q = quantize_network(net, rng.normal(0, 1, (50, 20)))
    L = q.layers[0]
    x = q.quantize_input(rng.normal(0, 1, (9, 20)))
    wf, bf = fold_zero_points(L.w, L.bias, x_zp=L.x_zp)
    want, _ = datapath_model(x, wf, bf, bits=8, input_signed=True, weight_signed=True, rows=3,
                             acc_bits=32, overflow="saturate", m0=L.m0, shift=L.shift,
                             y_zp=L.y_zp, act_min=L.act_min, act_max=L.act_max)
    got = datapath_layer(L, x, bits=8, rows=3, overflow="saturate")
    assert np.array_equal(got, want)


def test_calibration_cache_changes_nothing(rng):
    net = _mlp(rng)
    xc = rng.normal(0, 1, (100, 20))
    cache = {}
    for bits in ([8, 8], [8, 4], [4, 8], [4, 4]):
        a = quantize_network(net, xc, bits=bits, method="mse", calib_cache=cache)
        b = quantize_network(net, xc, bits=bits, method="mse")
        for la, lb in zip(a.layers, b.layers):
            assert (la.x_scale, la.x_zp, la.y_scale, la.y_zp) == \
                (lb.x_scale, lb.x_zp, lb.y_scale, lb.y_zp)
    assert len(cache) == 6  # 3 tensors x 2 widths: the per-layer mixes were all cached
