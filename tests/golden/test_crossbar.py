"""golden/crossbar.py against docs/crossbar.md: encodings, phases, ADC, reconstruction,
bit-exactness with the MAC path for an ideal crossbar and a lossless ADC, determinism of
the lossy and noisy models, error analysis, argument validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from golden import crossbar as xb
from golden.datapath import datapath_model, fold_zero_points, mac

from tests.helpers import crossbar_reference as ref
from tests.helpers.seeding import make_rng

ENCODINGS = list(itertools.product(xb.WEIGHT_ENCODINGS, xb.INPUT_ENCODINGS))
SIGNS = list(itertools.product([True, False], repeat=2))


def spec(**kw):
    base = dict(bits=8, input_signed=True, weight_signed=True, rows=16, cols=4, cell_bits=2,
                weight_encoding="differential", dac_bits=1, input_encoding="twos_complement")
    base.update(kw)
    if "adc_bits" not in base:
        base["adc_bits"] = xb.lossless_adc_bits(base["rows"], base["dac_bits"], base["cell_bits"])
    return xb.crossbar_tile(**base)   # adc_shift default: auto, k = max(0, L − B)


def rand_operands(rng, sp, shape):
    lo, hi = sp.input_range
    x = rng.integers(lo, hi + 1, shape + (sp.rows,))
    lo, hi = sp.weight_range
    w = rng.integers(lo, hi + 1, (sp.rows, sp.cols))
    return x, w


# --------------------------------------------------------------------------- sizing
@pytest.mark.parametrize("rows,v,b,expected", [
    (128, 1, 2, 9),          # ISAAC
    (64, 8, 8, 22),          # SIDRA Y1 tile, 64 rows
    (1, 1, 1, 1),
    (1, 8, 8, 16),
    (256, 16, 16, 40),       # the widest legal tile
    (3, 1, 1, 2), (4, 1, 1, 3),
])
def test_lossless_adc_bits(rows, v, b, expected):
    assert xb.lossless_adc_bits(rows, v, b) == expected
    assert expected == ref.lossless_bits(rows, v, b)


def test_lossless_adc_bits_formula_everywhere():
    for rows in (1, 2, 3, 5, 16, 64, 100, 128, 255, 256):
        for v in (1, 2, 3, 8, 16):
            for b in (1, 2, 4, 8, 16):
                assert xb.lossless_adc_bits(rows, v, b) == ref.lossless_bits(rows, v, b)


def test_derived_counts():
    sp = spec(bits=8, cell_bits=3, dac_bits=3, input_encoding="twos_complement")
    assert sp.slices == 3 and sp.slice_widths == (3, 3, 2)
    assert sp.phase_bits == ((0, 3), (3, 3), (6, 1), (7, 1))      # 7 magnitude bits + sign
    assert sp.phase_weights == (1, 8, 64, -32) and sp.sign_code == 4  # ω·code = −128
    assert sp.phases == math.ceil(7 / 3) + 1
    sp = spec(bits=8, dac_bits=3, input_encoding="offset")
    assert sp.phase_bits == ((0, 3), (3, 3), (6, 2)) and sp.phases == math.ceil(8 / 3)
    sp = spec(bits=8, dac_bits=1)
    assert sp.phases == 8 and sp.phase_weights[-1] == -128 and sp.sign_code == 1
    sp = spec(bits=8, dac_bits=8)
    assert sp.phase_bits == ((0, 7), (7, 1)) and sp.phase_weights == (1, -1)
    assert sp.sign_code == 128
    sp = spec(bits=8, dac_bits=8, input_encoding="offset")
    assert sp.phases == 1 and sp.input_offset == 128
    sp = spec(bits=8, input_signed=False, dac_bits=8)
    assert sp.phases == 1 and sp.input_offset == 0 and sp.phase_weights == (1,)
    sp = spec(cols=5, cell_bits=2, weight_encoding="differential")
    assert sp.phys_cols == 5 * 4 * 2 and sp.weight_offset == 0
    sp = spec(cols=5, cell_bits=8, weight_encoding="offset")
    assert sp.phys_cols == 5 and sp.weight_offset == 128


# --------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("bits", [2, 3, 5, 6])
@pytest.mark.parametrize("w_signed", [True, False])
@pytest.mark.parametrize("enc", xb.WEIGHT_ENCODINGS)
def test_weight_encoding_exhaustive(bits, w_signed, enc):
    for b in range(1, bits + 1):
        sp = spec(bits=bits, weight_signed=w_signed, cell_bits=b, weight_encoding=enc,
                  rows=1, cols=1)
        lo, hi = sp.weight_range
        ws = np.arange(lo, hi + 1).reshape(-1, 1, 1)
        lv = xb.encode_weights(ws, sp)
        assert lv.min() >= 0 and lv.max() <= 2**b - 1
        assert (xb.decode_levels(lv, sp) == ws).all()
        for w, row in zip(ws.ravel(), lv.reshape(len(ws), -1)):
            expect = ref.levels_of_column([int(w)], n=bits, signed=w_signed, b=b, encoding=enc)
            got = {(s, e): [int(row[s * sp.polarities + e])]
                   for s in range(sp.slices) for e in range(sp.polarities)}
            assert got == expect


def test_physical_column_order():
    sp = spec(bits=4, cell_bits=2, rows=1, cols=2, weight_encoding="differential")
    lv = xb.encode_weights(np.array([[7, -6]]), sp)
    # column c, slice s, polarity e at j = (c·S + s)·E + e
    assert lv.tolist() == [[3, 0, 1, 0, 0, 2, 0, 1]]


@pytest.mark.parametrize("bits", [2, 3, 5, 8])
@pytest.mark.parametrize("x_signed", [True, False])
@pytest.mark.parametrize("enc", xb.INPUT_ENCODINGS)
def test_input_phases_exhaustive(bits, x_signed, enc):
    for v in range(1, bits + 1):
        sp = spec(bits=bits, input_signed=x_signed, dac_bits=v, input_encoding=enc, rows=1)
        lo, hi = sp.input_range
        xs = np.arange(lo, hi + 1).reshape(-1, 1)
        d = xb.input_phases(xs, sp)
        assert d.shape == (sp.phases, len(xs), 1)
        assert d.min() >= 0 and d.max() <= 2**v - 1
        recon = np.tensordot(np.array(sp.phase_weights), d, axes=(0, 0))
        assert (recon == xs + sp.input_offset).all()
        for i, x in enumerate(xs.ravel()):
            plist, a_off = ref.phases([int(x)], n=bits, signed=x_signed, v=v, encoding=enc)
            assert a_off == sp.input_offset
            assert [(om, dd[0]) for om, dd in plist] == [
                (sp.phase_weights[p], int(d[p, i, 0])) for p in range(sp.phases)]


# --------------------------------------------------------------------------- ADC
def test_adc_round_half_up_and_clip():
    sp = spec(rows=16, cols=1, cell_bits=2, dac_bits=1, adc_bits=4, adc_shift=2,
              weight_encoding="offset")
    c = sp.phys_cols
    y = np.array([0, 1, 2, 3, 5, 6, 58, 59, 61, 62, 63, 1000])[:, None].repeat(c, axis=1)
    codes = xb.adc_quantize(y, sp, frac_bits=0)[:, 0]
    # y/4 + 1/2 floored: 2 → 1 (tie up), 6 → 2 (tie up), 58 → 15, 62 → 16 clips to 15
    assert codes.tolist() == [0, 0, 1, 1, 1, 2, 15, 15, 15, 15, 15, 15]
    for yy, cc in zip(y[:, 0], codes):
        assert cc == ref.adc(int(yy), k=2, bits=4)


def test_adc_fixed_point_equals_integer_path():
    sp = spec(rows=16, cols=2, adc_bits=5, adc_shift=[0, 1, 2, 3] * 4)
    rng = make_rng(3)
    y = rng.integers(0, sp.column_max + 1, (50, sp.phys_cols))
    a = xb.adc_quantize(y, sp, frac_bits=0)
    b = xb.adc_quantize(y << xb.ANALOG_FRAC_BITS, sp)
    assert (a == b).all()


def test_adc_offset():
    sp = spec(rows=16, cols=1, adc_bits=6, weight_encoding="offset", cell_bits=8,
              dac_bits=1, adc_shift=0)
    y = np.array([[10] * sp.phys_cols, [0] * sp.phys_cols])
    off = np.full(sp.phys_cols, 2.4)
    codes = xb.adc_quantize(y << 16, sp, offset_lsb=off)
    assert codes[:, 0].tolist() == [12, 2]
    off = np.full(sp.phys_cols, -3.5)       # −3.5 + 0.5 → floor(10 − 3) = 7; 0 clips at 0
    codes = xb.adc_quantize(y << 16, sp, offset_lsb=off)
    assert codes[:, 0].tolist() == [7, 0]


def test_adc_shift_for_full_scale():
    assert xb.adc_shift_for_full_scale("auto", adc_bits=8, lossless_bits=22) == 14
    assert xb.adc_shift_for_full_scale("auto", adc_bits=9, lossless_bits=9) == 0
    assert xb.adc_shift_for_full_scale("auto", adc_bits=12, lossless_bits=9) == 0
    assert xb.adc_shift_for_full_scale(2**20, adc_bits=8, lossless_bits=22) == 12
    with pytest.raises(ValueError, match=r"full_scale=1000 is out of range; allowed: 'auto' "
                                         r"or a power of two 2\^8\.\.2\^13"):
        xb.adc_shift_for_full_scale(1000, adc_bits=8, lossless_bits=9)
    with pytest.raises(ValueError, match=r"full_scale=128 is out of range"):
        xb.adc_shift_for_full_scale(128, adc_bits=8, lossless_bits=9)


# --------------------------------------------------------------------------- bit-exactness
@pytest.mark.parametrize("w_enc,x_enc", ENCODINGS)
@pytest.mark.parametrize("x_signed,w_signed", SIGNS)
def test_ideal_lossless_equals_exact_dot_product(w_enc, x_enc, x_signed, w_signed):
    """Ideal crossbar + lossless ADC ⇒ reconstruction == exact integer dot product."""
    rng = make_rng(w_enc, x_enc, x_signed, w_signed)
    for _ in range(25):
        bits = int(rng.integers(2, 17))
        b = int(rng.integers(1, bits + 1))
        v = int(rng.integers(1, bits + 1))
        rows = int(rng.choice([1, 2, 3, 7, 16, 33, 64, 128, 256]))
        sp = spec(bits=bits, input_signed=x_signed, weight_signed=w_signed, rows=rows,
                  cols=int(rng.integers(1, 6)), cell_bits=b, weight_encoding=w_enc, dac_bits=v,
                  input_encoding=x_enc)
        assert sp.lossless
        x, w = rand_operands(rng, sp, (9,))
        x[0], x[1] = sp.input_range                  # extremes included
        w[0], w[-1] = sp.weight_range[0], sp.weight_range[1]
        got = xb.crossbar_psums(x, w, sp)
        exact = np.array([[sum(int(a) * int(c) for a, c in zip(xv, w[:, j]))
                           for j in range(sp.cols)] for xv in x], dtype=object)
        assert (got == exact).all(), sp


def test_ideal_lossless_extreme_corners():
    for bits in (2, 8, 16):
        for b, v in ((1, 1), (bits, bits), (max(1, bits // 3), max(1, bits // 2))):
            for w_enc, x_enc in ENCODINGS:
                sp = spec(bits=bits, rows=5, cols=1, cell_bits=b, dac_bits=v,
                          weight_encoding=w_enc, input_encoding=x_enc)
                for xv in sp.input_range:
                    for wv in sp.weight_range:
                        x = np.full((1, 5), xv)
                        w = np.full((5, 1), wv)
                        assert xb.crossbar_psums(x, w, sp)[0, 0] == 5 * xv * wv


@pytest.mark.parametrize("w_enc,x_enc", ENCODINGS)
def test_layer_matches_mac_path(w_enc, x_enc):
    """K > R, per-channel, zero points, ReLU: the crossbar model equals datapath_model."""
    rng = make_rng(11)
    for x_signed, w_signed in SIGNS:
        bits, rows, cols, k, batch = 8, 16, 5, 53, 12
        sp = spec(bits=bits, input_signed=x_signed, weight_signed=w_signed, rows=rows,
                  cols=cols, cell_bits=3, dac_bits=2, weight_encoding=w_enc,
                  input_encoding=x_enc, weight_tiles=4)
        xlo, xhi = sp.input_range
        wlo, whi = sp.weight_range
        x = rng.integers(xlo, xhi + 1, (batch, k))
        w_raw = rng.integers(wlo // 2, whi // 2 + 1, (cols, k))
        w_zp = 3 if w_signed else 0
        w, bias = fold_zero_points(w_raw, rng.integers(-5000, 5000, cols), x_zp=-4, w_zp=w_zp)
        m0 = rng.integers(2**30, 2**31 - 1, cols)
        shift = rng.integers(-14, -8, cols)
        common = dict(acc_bits=32, overflow="wrap", m0=m0, shift=shift, y_zp=-3,
                      act_min=-3, act_max=127, rounding="double")
        y_mac, ovf_mac = datapath_model(x, w, bias, bits=bits, input_signed=x_signed,
                                        weight_signed=w_signed, rows=rows, **common)
        y_xb, ovf_xb, psums = xb.crossbar_datapath_model(x, w, bias, spec=sp, **common)
        assert (y_xb == y_mac).all() and (ovf_xb == ovf_mac).all()
        assert (psums == xb.exact_layer_psums(x, w, sp)).all()
        assert (psums.sum(axis=0) == mac(x, w, bits=bits, input_signed=x_signed,
                                         weight_signed=w_signed)).all()


# --------------------------------------------------------------------------- lossy ADC
@pytest.mark.parametrize("w_enc,x_enc", ENCODINGS)
def test_lossy_adc_matches_reference(w_enc, x_enc):
    """Lossy ADC (6 bits on 64 rows), per-column LSBs and trims: golden == the formulas."""
    rng = make_rng(5)
    for x_signed, w_signed in SIGNS:
        sp = spec(bits=6, input_signed=x_signed, weight_signed=w_signed, rows=64, cols=2,
                  cell_bits=2, dac_bits=2, weight_encoding=w_enc, input_encoding=x_enc,
                  adc_bits=6)
        assert not sp.lossless and sp.lossless_adc_bits == 10
        kmax = sp.lossless_adc_bits - sp.adc_bits
        ks = [int(k) for k in rng.integers(0, kmax + 3, sp.phys_cols)]
        trims = [int(t) for t in rng.integers(-3, 4, sp.phys_cols)]
        sp = xb.retile(sp, adc_shift=ks)
        x, w = rand_operands(rng, sp, (6,))
        got = xb.crossbar_psums(x, w, sp, trim=np.array(trims))
        for i in range(len(x)):
            expect = ref.psums([int(v) for v in x[i]], w.tolist(), n=6, x_signed=x_signed,
                               w_signed=w_signed, b=2, w_enc=w_enc, v=2, x_enc=x_enc,
                               adc_bits=6, k=ks, trim=trims)
            assert got[i].tolist() == expect


def test_lossy_adc_is_deterministic_and_has_error():
    sp = spec(rows=64, cols=8, cell_bits=8, dac_bits=8, input_encoding="offset", adc_bits=6)
    rng = make_rng(1)
    x = rng.integers(-128, 128, (40, 64))
    w = rng.integers(-128, 128, (8, 64))
    a = xb.crossbar_layer_psums(x, w, sp)
    b = xb.crossbar_layer_psums(x.copy(), w.copy(), sp)
    assert (a == b).all()
    exact = xb.exact_layer_psums(x, w, sp)
    rep = xb.error_report(exact, a)
    assert 0 < rep["sqnr_db"] < 60 and rep["exact_fraction"] < 1
    lo, hi = sp.psum_range
    assert a.min() >= lo and a.max() <= hi


def test_more_adc_bits_less_error():
    rng = make_rng(2)
    x = rng.integers(-128, 128, (64, 64))
    w = np.clip(np.rint(rng.normal(0, 30, (16, 64))), -128, 127).astype(np.int64)
    last = -np.inf
    for bits in (6, 8, 10, 12, 14, 16, 22):
        sp = spec(rows=64, cols=16, cell_bits=8, dac_bits=8, input_encoding="offset",
                  adc_bits=bits)
        rep = xb.error_report(xb.exact_layer_psums(x, w, sp), xb.crossbar_layer_psums(x, w, sp))
        assert rep["sqnr_db"] > last
        last = rep["sqnr_db"]
    assert last == np.inf


# --------------------------------------------------------------------------- noise
def test_noise_is_seeded_and_zero_noise_is_ideal():
    sp = spec(rows=32, cols=4, cell_bits=4, dac_bits=2, weight_tiles=2)
    rng = make_rng(8)
    x = rng.integers(-128, 128, (10, 50))
    w = rng.integers(-128, 128, (4, 50))
    ideal = xb.crossbar_layer_psums(x, w, sp)
    zero = xb.crossbar_layer_psums(x, w, sp, noise=xb.CrossbarNoise(seed=5))
    assert (ideal == zero).all() and (ideal == xb.exact_layer_psums(x, w, sp)).all()
    n1 = xb.CrossbarNoise(program_sigma=0.01, read_sigma=0.005, adc_offset_sigma=0.3, seed=1)
    a = xb.crossbar_layer_psums(x, w, sp, noise=n1)
    b = xb.crossbar_layer_psums(x, w, sp, noise=n1)
    c = xb.crossbar_layer_psums(x, w, sp, noise=xb.CrossbarNoise(
        program_sigma=0.01, read_sigma=0.005, adc_offset_sigma=0.3, seed=2))
    assert (a == b).all() and (a != c).any() and (a != ideal).any()


def test_read_noise_stream_continues_across_calls():
    """Splitting a batch into calls that share one read generator changes nothing."""
    sp = spec(rows=16, cols=3, cell_bits=4, dac_bits=4, input_encoding="offset")
    noise = xb.CrossbarNoise(read_sigma=0.02, seed=9)
    rng = make_rng(0)
    x = rng.integers(-128, 128, (7, 40))
    w = rng.integers(-128, 128, (3, 40))
    whole = xb.crossbar_layer_psums(x, w, sp, noise=noise)
    stream = xb.noise_streams(9)[1]
    parts = [xb.crossbar_layer_psums(x[i:i + 1], w, sp, noise=noise, read_rng=stream)
             for i in range(7)]
    assert (np.concatenate(parts, axis=1) == whole).all()


def test_program_noise_pattern_and_scale():
    sp = spec(rows=64, cols=16, cell_bits=8, weight_tiles=3)
    noise = xb.CrossbarNoise(program_sigma=0.01, seed=4)
    p = xb.program_noise_fx(sp, noise)
    assert p.shape == (3, 64, sp.phys_cols) and p.dtype == np.int64
    std_levels = p.std() / 2**16
    assert abs(std_levels / (0.01 * 255) - 1) < 0.05
    assert (p == xb.program_noise_fx(sp, noise)).all()
    off = xb.adc_offsets_lsb(spec(cols=4, cols_per_adc=4),
                             xb.CrossbarNoise(adc_offset_sigma=1.0, seed=1))
    assert (off.reshape(-1, 4) == off.reshape(-1, 4)[:, :1]).all()   # shared per ADC


def test_trim_cancels_integer_adc_offset():
    sp = spec(rows=32, cols=4, cell_bits=4, dac_bits=4, input_encoding="offset")
    noise = xb.CrossbarNoise(adc_offset_sigma=3.0, seed=12)
    off = xb.adc_offsets_lsb(sp, noise)
    rng = make_rng(6)
    x = rng.integers(-128, 128, (30, 32))
    w = rng.integers(-20, 21, (4, 32))
    exact = xb.exact_layer_psums(x, w, sp)
    raw = xb.error_report(exact, xb.crossbar_layer_psums(x, w, sp, noise=noise))
    trimmed = xb.error_report(exact, xb.crossbar_layer_psums(
        x, w, sp, noise=noise, trim=np.rint(off).astype(np.int64)))
    assert trimmed["sqnr_db"] > raw["sqnr_db"] + 10


# --------------------------------------------------------------------------- analysis
def test_error_report():
    rep = xb.error_report([1, 2, 3], [1, 2, 3])
    assert rep["sqnr_db"] == np.inf and rep["exact_fraction"] == 1.0
    rep = xb.error_report([10, -10], [9, -10])
    assert rep["mse"] == 0.5 and rep["max_abs_error"] == 1 and rep["mean_error"] == 0.5
    assert rep["sqnr_db"] == pytest.approx(10 * math.log10(100 / 0.5))
    assert rep["effective_bits"] == pytest.approx((rep["sqnr_db"] - 1.76) / 6.02)
    with pytest.raises(ValueError, match=r"estimate.shape=\(1,\) is out of range"):
        xb.error_report([1, 2], [1])


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kw,msg", [
    (dict(cell_bits=9), r"cell_bits=9 is out of range; allowed: \[1, 8\]"),
    (dict(dac_bits=0, adc_bits=8), r"dac_bits=0 is out of range; allowed: \[1, 8\]"),
    (dict(weight_encoding="flip"), r"weight_encoding='flip' is out of range; allowed: "
                                   r"'differential', 'offset'"),
    (dict(input_encoding="sign"), r"input_encoding='sign' is out of range"),
    (dict(adc_bits=41), r"adc_bits=41 is out of range; allowed: \[1, 40\]"),
    (dict(cols_per_adc=3), r"cols_per_adc=3 is out of range; allowed: a divisor of the 32 "
                           r"physical columns"),
    (dict(adc_shift=[0] * 5), r"len\(adc_shift\)=5 is out of range; allowed: 32"),
    (dict(adc_shift=-1), r"adc_shift=-1 is out of range; allowed: \[0, 4\]"),
    (dict(adc_bits=4, adc_shift=9), r"adc_shift=9 is out of range; allowed: \[0, 6\]"),
    (dict(rows=0, adc_bits=8), r"rows=0 is out of range; allowed: \[1, 256\]"),
])
def test_spec_validation(kw, msg):
    with pytest.raises(ValueError, match=msg):
        spec(**kw)


def test_argument_validation():
    sp = spec(rows=4, cols=2)
    with pytest.raises(ValueError, match=r"w\[0, 0\]=200 is out of range; allowed: \[-128, 127\]"):
        xb.encode_weights(np.full((4, 2), 200), sp)
    with pytest.raises(ValueError, match=r"w.shape=\(3, 2\) is out of range"):
        xb.encode_weights(np.zeros((3, 2), dtype=int), sp)
    with pytest.raises(ValueError, match=r"x\[0, 1\]=-129 is out of range"):
        xb.input_phases(np.array([[0, -129, 0, 0]]), sp)
    with pytest.raises(ValueError, match=r"trim=999 is out of range; allowed: \[-\d+, \d+\]"):
        xb.crossbar_psums(np.zeros((1, 4), dtype=int), np.zeros((4, 2), dtype=int), sp,
                          trim=999)
    with pytest.raises(ValueError,
                       match=r"program_sigma=-0.1 is out of range; allowed: \[0, 1.0\]"):
        xb.CrossbarNoise(program_sigma=-0.1)
    with pytest.raises(ValueError, match=r"seed=-1 is out of range"):
        xb.CrossbarNoise(seed=-1)
