"""cocotb testbench (run by tests/tb/test_crossbar_model.py): a generated CrossbarDatapath with the
behavioural crossbar of tb/crossbar_model.py on its DAC/ADC/programming ports.

The pytest side writes a JSON job (``QMAC_XB_JOB``): the golden spec and noise, the
responder's latency/jitter, the command list (loads and data beats) and the expected
outputs of golden/crossbar.py; this testbench drives the commands and compares.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from golden.crossbar import CrossbarNoise, CrossbarSpec
from tb.crossbar_model import AdcResponder, CrossbarMacro, drive_crossbar


@cocotb.test()
async def crossbar_layer(dut):
    with open(os.environ["QMAC_XB_JOB"]) as f:
        job = json.load(f)
    spec = CrossbarSpec(**{**job["spec"], "adc_shift": tuple(job["spec"]["adc_shift"])})
    macro = CrossbarMacro(spec, CrossbarNoise(**job["noise"]))
    resp = AdcResponder(macro, adc_latency=job["adc_latency"], jitter=job["jitter"],
                        dac_settle_cycles=job["dac_settle_cycles"], seed=1)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in ("i_load__valid", "i_data__valid", "adc_done", "adc_code"):
        getattr(dut, name).value = 0
    dut.o_data__ready.value = 1
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    cocotb.start_soon(drive_crossbar(dut, resp))

    w = job["widths"]
    outs = []
    queue = list(job["commands"])
    rng = np.random.default_rng(7)
    cycles = 0
    while len(outs) < len(job["expected_y"]):
        await FallingEdge(dut.clk)
        cycles += 1
        assert cycles < job["max_cycles"], f"timeout, {len(outs)} outputs"
        head = queue[0] if queue else None
        dut.i_load__valid.value = int(bool(head) and head[0] == "load")
        dut.i_data__valid.value = int(bool(head) and head[0] == "data")
        if head and head[0] == "load":
            dut.i_load__payload.value = head[1] | (head[2] << w["addr"])
        elif head:
            x, tile, first, last = head[1:]
            dut.i_data__payload.value = (x | (tile << w["x"]) | (first << (w["x"] + w["tile"]))
                                         | (last << (w["x"] + w["tile"] + 1)))
        ready = int(rng.random() >= job["stall"])
        dut.o_data__ready.value = ready
        await ReadOnly()
        if head and head[0] == "load" and int(dut.i_load__ready.value):
            queue.pop(0)
        elif head and head[0] == "data" and int(dut.i_data__ready.value):
            queue.pop(0)
        if int(dut.o_data__valid.value) and ready:
            outs.append(int(dut.o_data__payload.value))
    ob, cols = w["out_bits"], w["cols"]
    got = []
    for word in outs:
        lanes = [(word >> (c * ob)) & ((1 << ob) - 1) for c in range(cols)]
        got.append([v - (1 << ob) if (w["out_signed"] and v >> (ob - 1)) else v for v in lanes])
    assert got == job["expected_y"], f"hardware {got} != golden {job['expected_y']}"
    dut._log.info("crossbar layer: %d outputs bit-exact, %d conversions, %d cycles",
                  len(got), len(resp.conversions), cycles)
