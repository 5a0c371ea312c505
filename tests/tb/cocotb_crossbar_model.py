"""cocotb testbench (run by tests/tb/test_crossbar_model.py through sim/runner.py): a
generated CrossbarDatapath inside tb/qmac_harness.sv (cycle mode: the harness's stream ports
are the DUT's), with the behavioural crossbar of tb/crossbar_model.py on its
DAC/ADC/programming ports.

The pytest side writes a JSON job (``QMAC_XB_JOB``): the golden spec and noise, the
responder's latency/jitter, the command list (loads and data beats), the o_data stall
probability and the expected outputs of golden/crossbar.py; this testbench drives the
commands cycle by cycle and compares every lane.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from golden.crossbar import CrossbarNoise, crossbar_tile
from tb.crossbar_model import AdcResponder, CrossbarMacro, drive_crossbar

#: harness inputs held at 0 in cycle mode (fast-mode controls, idle streams, ADC answers)
IDLE_INPUTS = ("fast_mode", "fast_go", "bp_enable", "bp_seed", "bp_threshold",
               "i_load__valid", "i_data__valid", "adc_done", "adc_code")


def _payload(head, w):
    """The stream payload of one job command: a load ``(addr, data)`` or a data beat."""
    if head[0] == "load":
        return head[1] | (head[2] << w["addr"])
    x, tile, first, last = head[1:]
    flags = w["x"] + w["tile"]
    return x | (tile << w["x"]) | (first << flags) | (last << (flags + 1))


def _lanes(word, w):
    ob, cols = w["out_bits"], w["cols"]
    lanes = [(word >> (c * ob)) & ((1 << ob) - 1) for c in range(cols)]
    return [v - (1 << ob) if (w["out_signed"] and v >> (ob - 1)) else v for v in lanes]


@cocotb.test()
async def crossbar_layer(dut):
    with open(os.environ["QMAC_XB_JOB"]) as f:
        job = json.load(f)
    spec = crossbar_tile(**job["spec"])
    macro = CrossbarMacro(spec, CrossbarNoise(**job["noise"]))
    resp = AdcResponder(macro, adc_latency=job["adc_latency"], jitter=job["jitter"],
                        dac_settle_cycles=job["dac_settle_cycles"], seed=1)
    dut.rst.value = 1            # the harness generates the clock
    for name in IDLE_INPUTS:
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
        if head:
            stream = dut.i_load__payload if head[0] == "load" else dut.i_data__payload
            stream.value = _payload(head, w)
        ready = int(rng.random() >= job["stall"])
        dut.o_data__ready.value = ready
        await ReadOnly()
        if head and int((dut.i_load__ready if head[0] == "load" else dut.i_data__ready).value):
            queue.pop(0)
        if int(dut.o_data__valid.value) and ready:
            outs.append(int(dut.o_data__payload.value))
    got = [_lanes(word, w) for word in outs]
    assert got == job["expected_y"], f"hardware {got} != golden {job['expected_y']}"
    dut._log.info("crossbar layer: %d outputs bit-exact, %d conversions, %d cycles",
                  len(got), len(resp.conversions), cycles)
