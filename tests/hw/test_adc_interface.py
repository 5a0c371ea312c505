"""hw/adc_interface.py under the Amaranth simulator: the column multiplexer, trims and
variable per-ADC conversion latency."""

from __future__ import annotations

import numpy as np

from hw.adc_interface import AdcInterface
from tests.helpers.hwsim import simulate


def test_adc_interface_mux_trim_and_variable_latency():
    cp, m, B = 6, 3, 5
    dut = AdcInterface(phys_cols=cp, cols_per_adc=m, adc_bits=B, tag_bits=3)
    raw = np.array([3, 31, 0, 17, 8, 1])
    trims = np.array([0, -16, 15, 2, -1, 0])
    latencies = [[1, 4], [3, 2], [2, 2]]            # per step, per ADC

    async def bench(ctx):
        for j, t in enumerate(trims):
            ctx.set(dut.trim_we, 1)
            ctx.set(dut.trim_addr, j)
            ctx.set(dut.trim_data, int(t))
            await ctx.tick()
        ctx.set(dut.trim_we, 0)
        ctx.set(dut.i_scan.valid, 1)
        ctx.set(dut.i_scan.payload, 5)
        ctx.set(dut.o_codes.ready, 0)
        pending, cycle, starts, accepted = {}, 0, [], None
        while True:
            done = code = 0
            for a, (due, val) in list(pending.items()):
                if due == cycle:
                    done |= 1 << a
                    code |= val << (a * B)
                    del pending[a]
            ctx.set(dut.adc_done, done)
            ctx.set(dut.adc_code, code)
            if ctx.get(dut.i_scan.ready):
                accepted = cycle
            if ctx.get(dut.adc_start):
                sel = ctx.get(dut.adc_sel)
                starts.append((cycle, sel))
                for a in range(cp // m):
                    pending[a] = (cycle + latencies[sel][a], int(raw[a * m + sel]))
            await ctx.tick()
            cycle += 1
            if accepted is not None:
                break
        ctx.set(dut.i_scan.valid, 0)
        assert [s for _, s in starts] == [0, 1, 2]
        assert starts[1][0] == starts[0][0] + 4 + 1 and starts[2][0] == starts[1][0] + 3 + 1
        assert accepted == starts[2][0] + 2
        assert ctx.get(dut.o_codes.valid) and ctx.get(dut.o_codes.payload.tag) == 5
        codes = [ctx.get(dut.o_codes.payload.code[j]) for j in range(cp)]
        assert codes == (raw - trims).tolist()
        assert not ctx.get(dut.busy)

    simulate(dut, bench)
