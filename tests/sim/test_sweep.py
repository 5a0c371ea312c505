"""qmac sweep (sim/sweep.py) and the digits example, golden only (< 1 min): the exact MAC
engine equals golden.datapath, a lossless noise-free crossbar gives exactly the exact
datapath's outputs and accuracy, KL's 4-bit collapse on digits is fixed, the CLI's bad
input is one line with exit 2. (Hardware-checked points: examples/digits_sweep.py without
--smoke, and test_sweep_hw_check_int8 below.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from golden.calibration import CalibrationWarning
from golden.crossbar import CrossbarNoise
from golden.network import save_float_network
from golden.netquant import datapath_layer, quantize_network, run_quantized
from sim.cli import main as qmac
from sim.config import load_config
from sim.errors import ConfigError
from sim.sweep import config_with_overrides, crossbar_engine, crossbar_spec_for, mac_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import digits_sweep  # noqa: E402  (needs the [examples] extra: scikit-learn)


@pytest.fixture(scope="module")
def digits():
    net, (xtr, ytr), (xte, yte) = digits_sweep.train_mlp(iters=60)
    return net, xtr, xte, yte


@pytest.fixture
def files(tmp_path, digits):
    net, xtr, xte, yte = digits
    save_float_network(net, tmp_path / "mlp.npz")
    np.savez(tmp_path / "d.npz", x=xte, y=yte, x_calib=xtr)
    return tmp_path / "mlp.npz", tmp_path / "d.npz"


def _acc(outs, y):
    return float(np.mean(outs[-1].argmax(axis=1) == y))


def test_mac_engine_equals_datapath_model(digits):
    net, xtr, xte, _ = digits
    for bits in (8, 3):
        q = quantize_network(net, xtr, bits=bits)
        xq = q.quantize_input(xte)
        fast = run_quantized(q, xq, mac_engine(bits=8, rows=16, acc_bits=32, overflow="wrap",
                                               rounding="double"))
        ref = run_quantized(q, xq, lambda i, L, x: datapath_layer(L, x, bits=8, rows=16))
        assert all(np.array_equal(a, b) for a, b in zip(fast, ref))
        # narrow accumulator: the modular wrap still matches the beat-by-beat schedule
        f18 = run_quantized(q, xq, mac_engine(bits=8, rows=16, acc_bits=18, overflow="wrap",
                                              rounding="single"))
        r18 = run_quantized(q, xq, lambda i, L, x: datapath_layer(
            L, x, bits=8, rows=16, acc_bits=18, rounding="single"))
        assert all(np.array_equal(a, b) for a, b in zip(f18, r18))


def test_mac_engine_outside_its_float32_path_equals_datapath_model(digits):
    """The engine's exact float32 product holds only for codes of the layer's width and
    ``2^(b-1)·max|w|·K < 2^24``: 16-bit operands (int64 path) and codes wider than the
    layer claims (the range guard falls back) still equal the beat-by-beat datapath."""
    net, xtr, xte, _ = digits
    q = quantize_network(net, xtr, bits=16)
    xq = q.quantize_input(xte[:50])
    fast = run_quantized(q, xq, mac_engine(bits=16, rows=16, acc_bits=48, overflow="wrap",
                                           rounding="double"))
    ref = run_quantized(q, xq, lambda i, L, x: datapath_layer(L, x, bits=16, rows=16,
                                                              acc_bits=48))
    assert all(np.array_equal(a, b) for a, b in zip(fast, ref))
    q3 = quantize_network(net, xtr, bits=3)
    wide = np.random.default_rng(5).integers(-128, 128, (50, 64))   # not 3-bit codes
    eng = mac_engine(bits=8, rows=16, acc_bits=32, overflow="wrap", rounding="double")
    L0 = q3.layers[0]
    np.testing.assert_array_equal(eng(0, L0, wide), datapath_layer(L0, wide, bits=8, rows=16))


def test_lossless_crossbar_accuracy_equals_exact_datapath(digits, repo_root):
    net, xtr, xte, yte = digits
    cfg = load_config(repo_root / "constraints" / "sidra_y1.yaml")
    base = cfg.crossbar
    q = quantize_network(net, xtr, bits=8)
    xq = q.quantize_input(xte)
    exact = run_quantized(q, xq, mac_engine(bits=8, rows=cfg.rows, acc_bits=32, overflow="wrap",
                                            rounding="double"))
    lossless = crossbar_spec_for(base, bits=8, adc_bits=base.lossless_adc_bits, adc_shift=0)
    assert lossless.lossless
    xbo = run_quantized(q, xq, crossbar_engine(lossless, CrossbarNoise(), acc_bits=32,
                                               overflow="wrap", rounding="double"))
    assert all(np.array_equal(a, b) for a, b in zip(xbo, exact))
    assert _acc(xbo, yte) == _acc(exact, yte)
    # the configured 8-bit ADC and noise do change outputs (so the check can fail)
    lossy = run_quantized(q, xq, crossbar_engine(base, CrossbarNoise(program_sigma=0.01, seed=3),
                                                 acc_bits=32, overflow="wrap",
                                                 rounding="double"))
    assert not np.array_equal(lossy[-1], exact[-1])


def test_kl_collapse_on_digits_is_fixed(digits):
    """The issue's symptom: KL at 4 bits on digits fell to ~23 % top-1."""
    net, xtr, xte, yte = digits
    eng = mac_engine(bits=8, rows=16, acc_bits=32, overflow="wrap", rounding="double")
    with pytest.warns(CalibrationWarning, match="keeping it"):
        old = quantize_network(net, xtr, bits=4, method="kl", fallback=None, num_bins=512)
    with pytest.warns(CalibrationWarning, match="falling back to 'mse'"):
        new = quantize_network(net, xtr, bits=4, method="kl", num_bins=512)
    a_old = _acc(run_quantized(old, old.quantize_input(xte), eng), yte)
    a_new = _acc(run_quantized(new, new.quantize_input(xte), eng), yte)
    print(f"digits 4-bit KL: collapsed {a_old:.3f}, with fallback {a_new:.3f}")
    assert a_old < 0.5 and a_new > 0.85


def test_example_smoke(tmp_path):
    rc = digits_sweep.main(["--smoke", "-o", str(tmp_path)])
    assert rc == 0
    meta = json.loads((tmp_path / "mlp" / "sidra_y1" / "sweep.json").read_text())
    pts = meta["points"]
    assert {p["engine"] for p in pts} == {"mac", "crossbar"}
    assert meta["meta"]["golden_mac_per_s"] > 0
    for name in ("accuracy_vs_bits.png", "sqnr_vs_bits.png", "accuracy_vs_adc_bits.png",
                 "effective_bits_vs_adc_bits.png", "sweep.csv"):
        assert (tmp_path / "mlp" / "sidra_y1" / name).stat().st_size > 0
    noisy = [p for p in pts if p["program_sigma"] > 0]
    assert len({p["seed"] for p in noisy}) == 2


def test_cli_sweep_table_and_files(files, tmp_path, capsys):
    model, data = files
    rc = qmac(["sweep", str(model), "constraints/sidra_y1.yaml", "--data", str(data),
               "--bits", "8", "--layer-bits", "8,4", "--adc-bits", "6", "--adc-full-scale",
               "auto,calibrated", "--read-noise", "0,0.01", "--seeds", "2", "--count", "100",
               "--no-plots", "-o", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "golden MAC path" in out and "G MAC/s" in out and "float network: top-1" in out
    rows = (tmp_path / "o" / "sweep.csv").read_text().splitlines()
    # mac: 8/8 and 8/4; crossbar: 2 full scales x (1 clean + 2 noisy seeds)
    assert len(rows) == 1 + 2 + 2 * 3


def test_cli_config_after_the_options_and_noise_adc_bits(files, tmp_path, capsys):
    """CONFIG may follow the options (argparse alone rejected it there); noisy points
    only at --noise-adc-bits, first full scale."""
    model, data = files
    rc = qmac(["sweep", str(model), "--data", str(data), "--adc-bits", "4,6",
               "--adc-full-scale", "config,auto", "--program-noise", "0,0.01", "--seeds", "2",
               "--noise-adc-bits", "6", "--count", "60", "--no-plots", "-o", str(tmp_path / "o"),
               "constraints/sidra_y1.yaml"])
    assert rc == 0, capsys.readouterr().err
    pts = json.loads((tmp_path / "o" / "sweep.json").read_text())["points"]
    xb = [p for p in pts if p["engine"] == "crossbar"]
    noisy = {(p["adc_bits"], p["full_scale"], p["seed"]) for p in xb if p["program_sigma"]}
    assert noisy == {(6, "config", 0), (6, "config", 1)}
    assert len(xb) == 2 * 2 + 2            # 2 ADC widths x 2 full scales clean, + 2 seeds
    with pytest.raises(SystemExit):        # still exactly one CONFIG
        qmac(["sweep", str(model), "--data", str(data), "constraints/int8.yaml",
              "constraints/sidra_y1.yaml"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: constraints/int8.yaml constraints/sidra_y1.yaml" in err


@pytest.mark.parametrize("args, msg", [
    (["--layer-bits", "8,4,2"], "--layer-bits=8,4,2 has 3 values; allowed: 2"),
    (["--bits", "1"], "--bits='1' is not allowed; allowed: integers 2..16"),
    (["--adc-bits", "6"], "--adc-bits needs a crossbar configuration"),
    (["--method", "entropy"], "--method='entropy' is not allowed"),
])
def test_cli_bad_arguments_one_line_exit_2(files, args, msg, capsys, tmp_path):
    model, data = files
    try:
        rc = qmac(["sweep", str(model), "--data", str(data), "-o", str(tmp_path / "x")] + args)
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    assert msg in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_cli_bad_files_one_line_exit_2(files, tmp_path):
    model, data = files
    np.savez(tmp_path / "wrong.npz", x=np.zeros((3, 10)), y=np.zeros(3, int))
    (tmp_path / "junk.npz").write_text("junk")
    for m, d, msg in ((tmp_path / "junk.npz", data, "cannot read it as .npz"),
                      (model, tmp_path / "wrong.npz", "does not match the model input [64]"),
                      (model, tmp_path / "missing.npz", "no such file")):
        r = subprocess.run([sys.executable, "-m", "sim.cli", "sweep", str(m), "--data", str(d),
                            "-o", str(tmp_path / "y")], capture_output=True, text=True)
        assert r.returncode == 2 and msg in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "y").exists()


def test_config_overrides_without_yaml_copy(repo_root):
    cfg = load_config(repo_root / "constraints" / "sidra_y1.yaml")
    with pytest.raises(ConfigError, match=r"sidra_y1.yaml \(with --adc-bits --cell-bits "
                                          r"--dac-bits\): crossbar.adc_full_scale: 524288 is "
                                          r"not allowed; allowed: 'auto' or a power of two"):
        config_with_overrides(cfg, adc_bits=6, cell_bits=4, dac_bits=2)
    o = config_with_overrides(cfg, adc_bits=6, cell_bits=4, dac_bits=2, adc_full_scale="auto")
    assert (o.crossbar.adc_bits, o.crossbar.cell_bits, o.crossbar.dac_bits) == (6, 4, 2)
    assert o.config_id != cfg.config_id and o.name.startswith("sidra_y1_")
    assert config_with_overrides(cfg) is cfg
    spec = crossbar_spec_for(cfg.crossbar, bits=8, adc_bits=5)
    assert spec.adc_bits == 5 and spec.adc_shift == (max(0, spec.lossless_adc_bits - 5),) * spec.phys_cols


def test_sweep_hw_check_int8(files, tmp_path, build_root, monkeypatch, in_ci, capsys):
    """--hw-check: both MLP layers of the 4-bit point through the int8 hardware (Verilator,
    the build the other int8 tests share); hardware == the sweep's golden on every output."""
    from tests.helpers.simulators import need

    need("verilator", in_ci)
    monkeypatch.setenv("QMAC_BUILD_DIR", str(build_root))
    model, data = files
    rc = qmac(["sweep", str(model), "--data", str(data), "--bits", "4", "--count", "40",
               "--hw-check", "--hw-count", "12", "--no-plots", "-o", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0, out
    meta = json.loads((tmp_path / "o" / "sweep.json").read_text())["meta"]["hw_check"]
    assert meta["pass"] and [x["hw_equals_sweep_golden"] for x in meta["layers"]] == [True] * 2
    assert [x["outputs"] for x in meta["layers"]] == [12 * 32, 12 * 10]
    assert re.search(r"layer 1 \(\d+-bit operands on [^)]*\): hardware == sweep golden on 120 "
                     r"outputs", out), out
