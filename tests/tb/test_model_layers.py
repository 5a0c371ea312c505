"""tb/model_layers.py: the direct hardware step's expected beats from golden outputs.

:func:`tb.model_layers.expected_from_golden` must give exactly what the datapath model
(:meth:`tb.model.Model.expected`) gives — every lane of every beat, padding lanes included,
flags clear — whenever it answers, on per-channel and per-tensor configurations (padding
lanes: zero or the layer's multiplier) with uneven column tiles and long K; and it must
refuse (None) a program whose accumulators can overflow.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import resolve_config
from tb.hwparams import HwParams
from tb.layers import random_layer
from tb.model import Model
from tb.model_layers import expected_from_golden
from tb.schedule import schedule


def _hp(per_channel=True, **acc):
    raw = {"operands": {"bits": 8}, "array": {"rows": 4, "cols": 3, "weight_tiles": 2},
           "accumulator": {"guard_bits": 8, "overflow": "wrap", **acc},
           "requant": {"rounding": "double", "per_channel": per_channel}}
    return HwParams.from_config_dict(resolve_config(raw, where="<test>").to_dict(), latency=5)


@pytest.mark.parametrize("per_channel", [True, False])
def test_expected_from_golden_equals_the_datapath_model(per_channel):
    hp = _hp(per_channel)
    rng = np.random.default_rng(21 + per_channel)
    layers = [random_layer(hp, rng, batch=b, k=k, c=c, per_channel=per_channel, act=act,
                           zp=zp, name=f"L{i}").fold(hp)
              for i, (b, k, c, act, zp) in enumerate([(3, 5, 4, "relu", "limits"),
                                                      (2, 19, 7, "none", "random"),
                                                      (4, 2, 1, "relu6", "zero")])]
    prog = schedule(hp, layers)
    exp = Model(hp).expected(prog)
    golden = [Model(hp).layer(L)[0][:, :L.shape[2]] for L in layers]
    got = expected_from_golden(hp, prog, golden)
    assert got is not None
    np.testing.assert_array_equal(got.y, exp.y)
    np.testing.assert_array_equal(got.ovf, exp.ovf)
    np.testing.assert_array_equal(got.sticky, exp.sticky)
    # padding lanes are really compared: layer 2 has 1 of 3 lanes real
    assert (prog.beats[:, 0] == 2).sum() == 4


def test_expected_from_golden_refuses_a_program_that_can_overflow():
    hp = _hp(overflow="saturate", guard_bits=2)
    rng = np.random.default_rng(3)
    L = random_layer(hp, rng, batch=3, k=hp.rows * 2, c=hp.cols, per_channel=True).fold(hp)
    L.bias[:] = hp.acc_range[1]
    prog = schedule(hp, [L])
    assert Model(hp).expected(prog).ovf.any()
    assert expected_from_golden(hp, prog, [np.zeros((3, hp.cols), np.int64)]) is None
