"""``qmac run``'s direct hardware step (sim/hwstep.py): one serving simulator process.

* On both simulators, a small program of lowered layers (k-tiles beyond the weight tiles,
  padding lanes, per-channel scales) cut into many chunks (slot reuse, DUT state carried
  across chunks) comes back with every output equal to the datapath model, and the checker
  fails on a single wrong expected value; the native replay of the same chunks runs the
  same number of cycles.
* A simulator that dies is a :class:`ServeError` naming the log, not a hang.
* ``qmac run --driver direct`` and ``--driver cocotb`` give the same hardware outputs;
  ``--driver direct`` on a crossbar configuration is one line, exit 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.config import load_config
from sim.hwstep import ServeError, chunk_spans, native_replay, run_step
from tests.helpers.qmac_run import qrun  # noqa: F401 (the fixture)
from tests.helpers.seeding import printed_seed
from tests.helpers.simulators import need  # build_root: tests/conftest.py

REPO = Path(__file__).resolve().parents[2]


def _seed():
    return printed_seed(11)


def test_chunk_spans_cover_the_stream_within_the_memory():
    assert chunk_spans(10, depth=4, chunk=100) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert chunk_spans(10, depth=1024, chunk=5) == [(0, 5), (5, 10)]
    assert chunk_spans(0, depth=1024) == [(0, 0)]


def _groups(hp, rng):
    """Two ops: a long-K per-channel layer with padding lanes (K > R·T, C not a multiple
    of the columns) and a small one."""
    from tb.layers import FcLayer
    k_long = hp.rows * hp.weight_tiles + 3
    a = FcLayer(x=rng.integers(-128, 128, (3, k_long)), w=rng.integers(-127, 128, (21, k_long)),
                bias=rng.integers(-3000, 3000, 21), x_zp=-3, w_zp=0,
                m0=rng.integers(1 << 29, 1 << 30, 21), shift=rng.integers(-9, -5, 21),
                y_zp=4, act_min=-128, act_max=127, name="long").fold(hp)
    b = FcLayer(x=rng.integers(-128, 128, (3, 7)), w=rng.integers(-127, 128, (5, 7)),
                bias=rng.integers(-100, 100, 5), x_zp=0, w_zp=0, m0=np.full(5, 1 << 30),
                shift=np.full(5, -4), y_zp=-128, act_min=-128, act_max=127,
                name="small").fold(hp)
    return [("op0", [a]), ("op1", [b, b])]


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_run_step_checks_every_output_on_both_simulators(sim, tmp_path, build_root, in_ci):
    need(sim, in_ci)
    from sim.regress import prepare
    from sim.runner import build_native
    from tb.model import Model
    prep = prepare(load_config(REPO / "constraints" / "int8.yaml"), build_root)
    hp = prep.hp
    program = build_native(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=hp,
                           sim=sim, build_root=build_root, tag=prep.tag)
    groups = _groups(hp, np.random.default_rng(_seed()))
    model = Model(hp)
    golden = [[model.layer(L)[0][:, :L.shape[2]] for L in ls] for _, ls in groups]
    res = run_step(hp, program, sim, groups, tmp_path / "a", timeout=300, golden=golden,
                   chunk=40)
    assert res.chunks > 4 and not res.reports, res.reports
    for gi, ys in enumerate(golden):
        assert int(res.hw[f"g{gi}.mismatches"]) == 0
        assert res.hw[f"g{gi}.beats"] == res.hw[f"g{gi}.expected_beats"] > 0
        for i, y in enumerate(ys):
            np.testing.assert_array_equal(res.hw[f"g{gi}.{i}.y"], y)
    nat = native_replay(hp, program, sim, groups, tmp_path / "n", timeout=300, chunk=40)
    assert nat["cycles"] == res.cycles and nat["chunks"] == res.chunks
    assert nat["commands"] == res.commands and nat["cpu"] > 0
    if sim == "icarus":
        return
    # the checker can fail: one wrong expected value in the second op
    golden[1][1] = golden[1][1].copy()
    golden[1][1][2, 3] += 1
    bad = run_step(hp, program, sim, groups, tmp_path / "b", timeout=300, golden=golden,
                   chunk=40)
    assert int(bad.hw["g0.mismatches"]) == 0 and int(bad.hw["g1.mismatches"]) == 1
    assert "1 mismatch" in bad.reports[1] and "lane 3" in bad.reports[1], bad.reports


def test_a_dead_simulator_is_an_error_naming_its_log(tmp_path):
    from tb.hwparams import HwParams
    hp = HwParams.from_config_dict(load_config().to_dict())
    groups = _groups(hp, np.random.default_rng(1))
    with pytest.raises(ServeError, match=r"exited before finishing its chunks; see .*serve\.log"):
        run_step(hp, Path("/bin/true"), "verilator", groups, tmp_path, timeout=60)


def test_direct_and_cocotb_drivers_agree(qrun, tmp_path, in_ci):
    need("verilator", in_ci)
    from tests.helpers.tflite_builder import conv_model
    path = tmp_path / "conv.tflite"
    path.write_bytes(conv_model(np.random.default_rng(_seed()), kind="CONV_2D",
                                in_shape=(1, 5, 5, 20), kernel=(3, 3), cout_or_dm=18,
                                stride=(1, 1), dilation=(1, 1), padding="SAME", act="RELU",
                                per_channel=True, x_zp=-128, y_zp=-128))
    runs = {}
    for driver in ("direct", "cocotb"):
        rc, out, err, rep, outdir = qrun(path, "--seed", 3, "--count", 2, "--driver", driver,
                                         "--native", name=driver)
        assert rc == 0, out + err
        assert rep["native"]["driver"] == driver
        assert f"speed (verilator, {driver} driver)" in out and "end to end" in out, out
        with np.load(outdir / "layers.npz") as f:
            runs[driver] = {k: f[k] for k in f.files if ".hw." in k}
        hw = [r for r in rep["layers"] if r["hw_diff"] is not None]
        assert len(hw) == 1 and hw[0]["hw_diff"] == 0 and hw[0]["cycles"] > 0
    assert runs["direct"].keys() == runs["cocotb"].keys() and runs["direct"]
    for k, v in runs["direct"].items():
        np.testing.assert_array_equal(v, runs["cocotb"][k])


def test_direct_driver_on_a_crossbar_is_one_line_exit_2(qrun):
    rc, out, err, rep, outdir = qrun(REPO / "tests" / "data" / "models" /
                                     "anomaly_detection.tflite",
                                     REPO / "constraints" / "sidra_y1.yaml", "--driver", "direct")
    assert rc == 2 and rep is None and not outdir.exists()
    assert err.count("\n") == 1 and "crossbar configuration" in err and "--driver cocotb" in err
