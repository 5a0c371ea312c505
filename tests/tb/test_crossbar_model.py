"""tb/crossbar_model.py: the behavioural crossbar + ADC refuses protocol violations, and
drives the crossbar top under both HDL simulators: hardware == golden/crossbar.py, lossless
(== the MAC path) and lossy with noise, trims, variable ADC latency and backpressure.

The HDL runs go the way of every cocotb run (``sim/runner.py``): the top is a configuration
(:func:`sim.config.resolve_config`), generated and built inside ``tb/qmac_harness.sv`` by
:func:`sim.regress.prepare` and :func:`sim.runner.build`, and the cocotb module
``tests/tb/cocotb_crossbar_model.py`` runs in the harness's cycle mode through
:func:`sim.runner.run_test`, driving the command list of a JSON job cycle by cycle.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from amaranth.back import rtlil

from golden.crossbar import CrossbarNoise, adc_offsets_lsb, crossbar_tile
from sim.config import resolve_config
from sim.generate import build_component
from sim.regress import prepare
from sim.runner import build, run_test
from tb.crossbar_model import ProtocolError
from tests.helpers.crossbar_harness import commands_for, expected, make_top, random_layer, spec_of
from tests.helpers.simulators import need

SIMS = ("icarus", "verilator")


def _config_of(top, name: str):
    """The configuration whose generated top is ``top`` (a ``CrossbarDatapath``)."""
    shifts = top.adc_shift if isinstance(top.adc_shift, (tuple, list)) else [top.adc_shift]
    raw = {
        "name": name,
        "operands": {"bits": top.bits, "input_signed": top.input_signed,
                     "weight_signed": top.weight_signed},
        "array": {"rows": top.rows, "cols": top.cols, "weight_tiles": top.weight_tiles},
        "accumulator": {"guard_bits": top.acc_bits - 2 * top.bits, "overflow": top.overflow},
        "requant": {"out_bits": top.out_bits, "out_signed": top.out_signed,
                    "rounding": top.rounding, "per_channel": top.per_channel},
        "crossbar": {
            "rows": top.rows, "cols": top.cols, "cell_bits": top.cell_bits,
            "weight_encoding": top.weight_encoding, "dac_bits": top.dac_bits,
            "input_encoding": top.input_encoding, "adc_bits": top.adc_bits,
            "adc_full_scale": [1 << (top.adc_bits + int(k)) for k in shifts],
            "cols_per_adc": top.cols_per_adc, "adc_latency": top.adc_latency,
            "dac_settle_cycles": top.dac_settle_cycles},
    }
    return resolve_config(raw, where=f"<{name}>")


def _case(case):
    """(top, noise, layer shape, ADC jitter, o_data stall probability) of a case."""
    if case == "lossless":
        top = make_top(rows=4, cols=2, cell_bits=4, dac_bits=2, cols_per_adc=2)
        return top, CrossbarNoise(), dict(batch=3, k=10), 0, 0.0
    top = make_top(rows=8, cols=2, cell_bits=8, dac_bits=8, input_encoding="offset",
                   adc_bits=6, cols_per_adc=4)
    noise = CrossbarNoise(program_sigma=0.01, read_sigma=0.005, adc_offset_sigma=0.8, seed=3)
    return top, noise, dict(batch=4, k=16), 3, 0.3


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("case", ["lossless", "lossy_noisy"])
def test_crossbar_under_hdl_simulators(tmp_path, sim, case, in_ci, build_root):
    need(sim, in_ci)
    top, noise, kw, jitter, stall = _case(case)
    rng = np.random.default_rng(21)
    L = random_layer(top, rng, **kw)
    if case == "lossy_noisy":
        L.trim = np.rint(adc_offsets_lsb(spec_of(top), noise)).astype(np.int64)
    y, _ = expected(top, L, noise)
    if case == "lossless":
        y_mac, _ = expected(top, L, mac_path=True)
        assert y.tolist() == y_mac.tolist()
    prep = prepare(_config_of(top, f"xb_model_{case}"), build_root)
    # the generated top is the one golden models (this also elaborates the test's top)
    assert prep.hp.xb_spec().tile_parameters() == spec_of(top).tile_parameters()
    assert (rtlil.convert(top, name="xb", emit_src=False)
            == rtlil.convert(build_component(prep.cfg), name="xb", emit_src=False))
    job = {
        "spec": {k: (list(v) if isinstance(v, tuple) else v)
                 for k, v in spec_of(top).tile_parameters().items()},
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
    b = build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=prep.hp, sim=sim,
              build_root=build_root, tag=prep.tag)
    run = run_test(b, module="tests.tb.cocotb_crossbar_model", test_dir=tmp_path / "run",
                   seed=1, vectors=1, timeout=600, extra_env={"QMAC_XB_JOB": str(job_path)},
                   log_name="crossbar_model")
    assert run.passed, run.message
    assert [c.name for c in run.testcases] == ["crossbar_layer"]


def test_responder_detects_protocol_violations():
    """The behavioural ADC refuses what the protocol forbids (so passing runs mean the DUT
    respected it)."""
    from tb.crossbar_model import AdcResponder, CrossbarMacro

    sp = crossbar_tile(bits=4, input_signed=True, weight_signed=True, rows=2, cols=1,
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
