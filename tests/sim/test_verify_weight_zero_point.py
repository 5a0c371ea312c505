"""Weight zero points (legacy uint8 models) handled exactly in hardware.

Design (docs/design.md, "Zero points"): the hardware multiplies the stored weight
``w' = w − w_zp``; for W-bit weight codes with a per-tensor zero point anywhere in the code
range, ``w'`` spans ``[−(2^W − 1), 2^W − 1]`` and is stored in ``weight_bits = W + 1``
signed bits (uint8 weights: ``weight_bits: 9``). The input zero point is folded into the
bias as before. Checked here against TFLite's literal form (``golden.datapath.
fully_connected``, which subtracts ``w_zp`` itself) with ``w_zp`` and ``x_zp`` at their
limits and ``x`` at its extremes; a W-bit store that cannot hold ``w − w_zp`` is refused
with one line. The simulator runs (Icarus and Verilator) are opt-in (``QMAC_LONG=1``).
"""

from __future__ import annotations


import numpy as np
import pytest
import yaml

from golden.datapath import fully_connected
from tests.helpers.simulators import need
from tests.sim.test_verify import verify  # noqa: F401 (fixture; build_root: tests/conftest.py)

UINT8_W9 = {"name": "u8w9", "operands": {"input_bits": 8, "weight_bits": 9,
                                         "input_signed": False, "weight_signed": True},
            "array": {"rows": 4, "cols": 4, "weight_tiles": 4},
            "accumulator": {"guard_bits": 15, "overflow": "wrap"},       # 8 + 9 + 15 = 32
            "requant": {"out_bits": 8, "out_signed": False, "rounding": "double",
                        "per_channel": False}}


def _config(tmp_path, **operands):
    raw = {**UINT8_W9, "operands": {**UINT8_W9["operands"], **operands}}
    path = tmp_path / "u8w9.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _layer(rng, w_zp, x_zp, *, b=6, k=11, c=5):
    """A uint8 layer: x and w codes in [0, 255], rows 0/1 of x at 0 and 255, weight rows
    at 0 and 255 (so w − w_zp reaches ±255 with w_zp at its limits)."""
    x = rng.integers(0, 256, (b, k))
    x[0], x[1] = 0, 255
    w = rng.integers(0, 256, (c, k))
    w[0], w[1] = 0, 255
    bias = rng.integers(-5000, 5000, c)
    return dict(x=x, w=w, bias=bias, x_zp=np.int32(x_zp), w_zp=np.int32(w_zp),
                m0=np.int64(1 << 30), shift=np.int64(-9), y_zp=np.int32(128),
                act_min=np.int32(0), act_max=np.int32(255))


def _expected(d):
    return fully_connected(d["x"], d["w"], bias=d["bias"], x_zp=int(d["x_zp"]),
                           w_zp=int(d["w_zp"]), m0=int(d["m0"]), shift=int(d["shift"]),
                           y_zp=int(d["y_zp"]), act_min=int(d["act_min"]),
                           act_max=int(d["act_max"]), rounding="double", acc_bits=32)


def test_a_store_one_bit_too_narrow_is_refused(verify, tmp_path):
    """With weight_bits = 8 (unsigned) a non-zero w_zp makes w − w_zp negative: exit 2, one
    line naming the stored-weight range, before any simulator work."""
    d = _layer(np.random.default_rng(1), w_zp=255, x_zp=0)
    path = tmp_path / "u8.npz"
    np.savez(path, **d)
    rc, out, err, data = verify(path, config=_config(tmp_path, weight_bits=8,
                                                      weight_signed=False))
    assert rc == 2 and data is None
    assert "w - w_zp" in err and "8-bit unsigned stored weights" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.long
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_uint8_weight_zero_points_at_their_limits_bit_exact(verify, tmp_path, in_ci, sim):
    need(sim, in_ci)
    config = _config(tmp_path)
    rng = np.random.default_rng(15)
    for w_zp, x_zp in ((0, 0), (255, 255), (255, 0), (0, 255), (1, 254), (128, 77)):
        d = _layer(rng, w_zp, x_zp)
        path = tmp_path / f"u8_w{w_zp}_x{x_zp}.npz"
        np.savez(path, **d)
        rc, out, err, data = verify(path, sim=sim, config=config)
        assert rc == 0, out + err
        np.testing.assert_array_equal(data["y_hw"], _expected(d))
        np.testing.assert_array_equal(data["y_golden"], _expected(d))
