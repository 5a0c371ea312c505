"""hw/dac_driver.py under the Amaranth simulator: the phases of golden/crossbar.py's
``input_phases``, the settle time, tile and tag passed through."""

from __future__ import annotations

import numpy as np
import pytest

from golden.crossbar import crossbar_tile, input_phases
from hw.dac_driver import DacDriver
from tb.crossbar_model import unpack
from tests.helpers.hwsim import simulate


@pytest.mark.parametrize("x_enc", ["twos_complement", "offset"])
@pytest.mark.parametrize("v", [1, 3, 8])
def test_dac_driver_phases(x_enc, v):
    rows, bits, settle = 3, 8, 2
    dut = DacDriver(rows=rows, bits=bits, input_signed=True, dac_bits=v, input_encoding=x_enc,
                    dac_settle_cycles=settle, tile_bits=2, tag_bits=4)
    sp = crossbar_tile(bits=bits, input_signed=True, weight_signed=True, rows=rows, cols=1,
                       cell_bits=1, weight_encoding="offset", dac_bits=v, input_encoding=x_enc,
                       adc_bits=12)
    assert dut.PHASES == sp.phases
    xs = np.array([-128, 127, -37])
    expect = input_phases(xs, sp)

    async def bench(ctx):
        word = sum((int(x) & 0xFF) << (8 * r) for r, x in enumerate(xs))
        ctx.set(dut.i_vec.valid, 1)
        ctx.set(dut.i_vec.payload.x, word)
        ctx.set(dut.i_vec.payload.tile, 2)
        ctx.set(dut.i_vec.payload.tag, 9)
        assert ctx.get(dut.i_vec.ready)
        await ctx.tick()
        ctx.set(dut.i_vec.valid, 0)
        seen = []
        changed = 0
        ctx.set(dut.o_phase.ready, 1)
        for cycle in range(200):
            if ctx.get(dut.o_phase.valid):
                assert cycle - changed == settle
                codes = unpack(ctx.get(dut.dac_codes), v, rows)
                seen.append(codes.tolist())
                assert ctx.get(dut.dac_tile) == 2 and ctx.get(dut.o_phase.payload.tag) == 9
                assert ctx.get(dut.o_phase.payload.phase) == len(seen) - 1
                last = ctx.get(dut.o_phase.payload.last)
                assert last == (len(seen) == sp.phases)
                await ctx.tick()
                changed = cycle + 1
                if last:
                    break
            else:
                assert ctx.get(dut.dac_valid)
                await ctx.tick()
        assert not ctx.get(dut.dac_valid) and ctx.get(dut.i_vec.ready)
        assert seen == expect.tolist()

    simulate(dut, bench)
