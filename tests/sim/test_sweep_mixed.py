"""``qmac sweep`` on mixed-width configurations (input_bits ≠ weight_bits), golden only
(< 5 s): a sweep layer's b-bit inputs and weights must fit both widths, so W4A8 runs points of
up to 4 bits and refuses an 8-bit hardware check in one line; the W4A8 crossbar's lossless
tile gives exactly the MAC path's accuracy. (The hardware-checked W4A8 point is in the
report of issue 15: ``--bits 4 --hw-check`` on ``constraints/w4a8.yaml``.)"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from golden.network import FloatLayer, FloatNetwork, save_float_network
from sim.cli import main as qmac
from sim.config import load_config
from sim.sweep import crossbar_spec_for


def _seed():
    s = int(os.environ.get("QMAC_SEED") or 48)
    print(f"QMAC_SEED={s}")
    return s


@pytest.fixture
def files(tmp_path):
    """A random 12→8→3 MLP and 80 labelled examples (labels: its own float argmax)."""
    rng = np.random.default_rng(_seed())
    net = FloatNetwork(layers=(
        FloatLayer("dense", rng.normal(0, 0.4, (8, 12)), rng.normal(0, 0.1, 8), act="relu"),
        FloatLayer("dense", rng.normal(0, 0.4, (3, 8)), rng.normal(0, 0.1, 3))),
        input_shape=(12,))
    x = rng.normal(0, 1, (80, 12))
    y = net.forward(x)[-1].argmax(axis=1)
    save_float_network(net, tmp_path / "mlp.npz")
    np.savez(tmp_path / "d.npz", x=x, y=y, x_calib=x)
    return tmp_path / "mlp.npz", tmp_path / "d.npz"


def _sweep(files, tmp_path, config, *extra):
    model, data = files
    out = tmp_path / config
    rc = qmac(["sweep", str(model), f"constraints/{config}.yaml", "--data", str(data),
               "--no-plots", "-o", str(out), *extra])
    pts = json.loads((out / "sweep.json").read_text())["points"] if rc == 0 else None
    return rc, pts


def test_sweep_runs_on_w4a8_and_refuses_a_point_wider_than_its_weights(files, tmp_path,
                                                                       capsys):
    rc, pts = _sweep(files, tmp_path, "w4a8", "--bits", "4,3")
    assert rc == 0, capsys.readouterr().err
    assert [p["bits"] for p in pts] == ["4/4", "3/3"]
    assert all(0 <= p["accuracy"] <= 1 for p in pts)
    capsys.readouterr()
    rc, _ = _sweep(files, tmp_path, "w4a8", "--bits", "8", "--hw-check")
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "8-bit operands; allowed: <= 4 (w4a8: A=8 W=4)" in err


def test_sweep_on_the_w4a8_crossbar_lossless_equals_mac(files, tmp_path, capsys):
    rc, pts = _sweep(files, tmp_path, "xbar_w4a8", "--bits", "4")
    assert rc == 0, capsys.readouterr().err
    (mac,) = [p for p in pts if p["engine"] == "mac"]
    (xb,) = [p for p in pts if p["engine"] == "crossbar"]
    assert xb["bits"] == "4/4" and xb["sqnr_dot_db"] == "inf;inf"   # 7-bit ADC: lossless
    assert xb["accuracy"] == mac["accuracy"]


def test_crossbar_spec_for_widens_each_width_of_a_mixed_tile(repo_root):
    base = load_config(repo_root / "constraints" / "xbar_w4a8.yaml").crossbar
    assert (base.input_bits, base.weight_bits) == (8, 4)
    same = crossbar_spec_for(base, bits=4, adc_bits=base.adc_bits)
    assert (same.input_bits, same.weight_bits, same.cell_bits) == (8, 4, base.cell_bits)
    wide = crossbar_spec_for(base, bits=6, adc_bits=9)
    assert (wide.input_bits, wide.weight_bits, wide.adc_bits) == (8, 6, 9)
    assert wide.slices == -(-6 // base.cell_bits)
