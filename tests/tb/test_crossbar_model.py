"""tb/crossbar_model.py: the behavioural crossbar + ADC refuses protocol violations, and
drives the crossbar top under both HDL simulators (cocotb 2.1, the cocotb module
tests/tb/cocotb_crossbar_model.py): hardware == golden/crossbar.py, lossless (== the MAC
path) and lossy with noise, trims and variable ADC latency."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from golden.crossbar import CrossbarNoise, CrossbarSpec, adc_offsets_lsb
from hw.generate import generate_verilog
from tb.crossbar_model import ProtocolError
from tests.helpers.crossbar_harness import commands_for, expected, make_top, random_layer, spec_of

SIMS = ("icarus", "verilator")


def _runner(sim, in_ci):
    from sim.tools import find_simulator
    from sim.errors import ToolError
    try:
        found = find_simulator(sim)
    except ToolError as exc:
        if in_ci:
            raise
        pytest.skip(str(exc))
    return found


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("case", ["lossless", "lossy_noisy"])
def test_crossbar_under_hdl_simulators(tmp_path, sim, case, in_ci, repo_root, monkeypatch):
    if case == "lossless":
        top = make_top(rows=4, cols=2, cell_bits=4, dac_bits=2, cols_per_adc=2)
        noise = CrossbarNoise()
        kw = dict(batch=3, k=10)
        jitter, stall = 0, 0.0
    else:
        top = make_top(rows=8, cols=2, cell_bits=8, dac_bits=8, input_encoding="offset",
                       adc_bits=6, cols_per_adc=4)
        noise = CrossbarNoise(program_sigma=0.01, read_sigma=0.005, adc_offset_sigma=0.8,
                              seed=3)
        kw = dict(batch=4, k=16)
        jitter, stall = 3, 0.3
    rng = np.random.default_rng(21)
    L = random_layer(top, rng, **kw)
    if case == "lossy_noisy":
        L.trim = np.rint(adc_offsets_lsb(spec_of(top), noise)).astype(np.int64)
    y, _ = expected(top, L, noise)
    if case == "lossless":
        y_mac, _ = expected(top, L, mac_path=True)
        assert y.tolist() == y_mac.tolist()
    verilog = generate_verilog(top, name="xb_top", header_lines=["crossbar cocotb test"])
    src = tmp_path / "xb_top.v"
    src.write_text(verilog)
    spec = spec_of(top)
    job = {
        "spec": {k: (list(v) if isinstance(v, tuple) else v)
                 for k, v in dataclasses.asdict(spec).items()},
        "noise": dataclasses.asdict(noise),
        "adc_latency": top.adc_latency, "jitter": jitter, "stall": stall,
        "dac_settle_cycles": top.dac_settle_cycles,
        "commands": [list(c) for c in commands_for(top, L)],
        "expected_y": y.tolist(),
        "widths": {"addr": top.ADDR_BITS, "x": top.rows * top.bits, "tile": top.TILE_BITS,
                   "out_bits": top.out_bits, "cols": top.cols, "out_signed": top.out_signed},
        "max_cycles": 100_000,
    }
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    found = _runner(sim, in_ci)
    for key, value in found.env:
        monkeypatch.setenv(key, value)
    if found.name == "verilator":
        monkeypatch.setenv("PATH", f"{found.executable.parent}{os.pathsep}{os.environ['PATH']}")
    from cocotb_tools.runner import get_runner
    runner = get_runner(sim)
    # cocotb's runner hands sys.path to the simulator's Python as PYTHONPATH
    monkeypatch.syspath_prepend(str(repo_root))
    build_args = ["-CFLAGS", "-std=c++20"] if sim == "verilator" else []
    runner.build(sources=[src], hdl_toplevel="xb_top", build_dir=tmp_path / "build",
                 build_args=build_args, timescale=("1ns", "1ps"), always=True)
    results = runner.test(
        hdl_toplevel="xb_top", test_module="tests.tb.cocotb_crossbar_model",
        test_dir=tmp_path, build_dir=tmp_path / "build",
        extra_env={"QMAC_XB_JOB": str(job_path)},
    )
    from cocotb_tools.runner import get_results
    total, failed = get_results(results)
    assert (total, failed) == (1, 0)


def test_responder_detects_protocol_violations():
    """The behavioural ADC refuses what the protocol forbids (so passing runs mean the DUT
    respected it)."""
    from tb.crossbar_model import AdcResponder, CrossbarMacro

    sp = CrossbarSpec(bits=4, input_signed=True, weight_signed=True, rows=2, cols=1,
                      cell_bits=2, weight_encoding="differential", dac_bits=2,
                      input_encoding="twos_complement", adc_bits=4, cols_per_adc=2)

    def responder():
        return AdcResponder(CrossbarMacro(sp), adc_latency=3, dac_settle_cycles=2)

    idle = dict(adc_start=0, adc_sel=0, dac_codes=5, dac_tile=0, dac_valid=1)
    r = responder()
    r.sample(**idle)
    with pytest.raises(ProtocolError, match=r"adc_start 1 cycles after dac_codes changed; "
                                            r"allowed: >= 3"):
        r.sample(**{**idle, "adc_start": 1})
    r = responder()
    for _ in range(3):
        r.outputs()
        r.sample(**idle)
    r.outputs()
    r.sample(**{**idle, "adc_start": 1})
    r.outputs()
    with pytest.raises(ProtocolError, match=r"adc_start while 2 conversions are pending"):
        r.sample(**{**idle, "adc_start": 1})
    r = responder()
    for _ in range(3):
        r.sample(**idle)
    r.sample(**{**idle, "adc_start": 1})
    with pytest.raises(ProtocolError, match=r"dac_codes changed while a conversion"):
        r.sample(**{**idle, "dac_codes": 6})
    r = responder()
    for _ in range(3):
        r.sample(**idle)
    with pytest.raises(ProtocolError, match=r"adc_sel=1 without a preceding adc_sel=0"):
        r.sample(**{**idle, "adc_start": 1, "adc_sel": 1})
    with pytest.raises(ProtocolError, match=r"adc_start with dac_valid low"):
        responder().sample(**{**idle, "adc_start": 1, "dac_valid": 0})
