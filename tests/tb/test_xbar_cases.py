"""tb/xbar_cases.py stimulus that the crossbar testbenches rely on (NumPy only, no simulator)."""

from pathlib import Path

import numpy as np
import pytest

from sim.config import load_config
from tb.hwparams import HwParams
from tb.model import Model
from tb.schedule import schedule
from tb.xbar_cases import alternating_overflow_layer, calibrated_trim

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["sidra_y1", "isaac", "xbar_w4a8"])
def test_alternating_overflow_layer(name):
    """Every lane's ovf alternates beat by beat on lossy (sidra_y1: clipped x_max psums) and
    lossless tiles, one beat ends exactly 1 past the limit, and y differs between beats."""
    cfg = load_config(REPO / "constraints" / f"{name}.yaml")
    hp = HwParams.from_config_dict(cfg.to_dict(), latency=cfg.crossbar.latency_cycles)
    model, trim = Model(hp), calibrated_trim(hp)
    layer = alternating_overflow_layer(hp, model, 10, trim=trim)
    exp = model.expected(schedule(hp, [layer], trim=trim))
    assert (exp.ovf[1:] != exp.ovf[:-1]).all()
    assert (exp.y[1:] != exp.y[:-1]).all()
    alo, ahi = hp.acc_range
    # the overflowing beat's true sum (bias' + psum, unwrapped) is ahi + 1 or alo - 1
    true = layer.bias[None, :] + (exp.acc - layer.bias[None, :] + (1 << 31)) % (1 << 32) \
        - (1 << 31)
    edge = np.where(exp.ovf, true, 0)
    assert set(np.unique(edge[exp.ovf]).tolist()) <= {ahi + 1, alo - 1}
