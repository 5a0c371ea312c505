"""Case generators of tb/cocotb_requantizer.py — no simulator needed."""

from __future__ import annotations

import numpy as np

from golden.datapath import requantize
from sim.config import load_config
from tb.cocotb_requantizer import first_step_saturation
from tb.hwparams import HwParams


def _top_bits(p: int) -> tuple[int, int]:
    """Bits 62 and 61 of ``p`` as a 63-bit two's-complement product register."""
    u = p & ((1 << 63) - 1)
    return u >> 62 & 1, u >> 61 & 1


def test_first_step_saturation_reaches_both_top_bits_at_acc32():
    """At acc32 the cases put ``acc·m0`` on both sides of ``±2^61``: for each sign some
    product's bits 62 and 61 differ (a saturation that picks its end from bit 61 goes the
    wrong way) and some product's are equal, and every case saturates to its own end."""
    hp = HwParams.from_config_dict(load_config("constraints/int8.yaml").to_dict(), latency=5)
    cases = first_step_saturation(hp)
    assert hp.acc_bits == 32 and all(s == 30 for _, _, s in cases)
    for sign in (1, -1):
        tops = [_top_bits(a * m) for a, m, _ in cases if np.sign(a) == sign]
        assert any(b62 != b61 for b62, b61 in tops), sign
        assert any(b62 == b61 for b62, b61 in tops), sign
    olo, ohi = hp.out_range
    acc, m0, shift = (np.array(v, np.int64) for v in zip(*cases))
    y = requantize(acc, m0=m0, shift=shift, y_zp=0, act_min=olo, act_max=ohi)
    assert list(y) == [ohi if a > 0 else olo for a in acc]
