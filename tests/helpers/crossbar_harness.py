# amaranth: UnusedElaboratable=no
"""Amaranth-simulator harness for ``CrossbarDatapath``: a load/data driver, the behavioural
crossbar + ADC of ``tb/crossbar_model.py``, an output collector with optional backpressure,
and a golden-model layer builder."""

from __future__ import annotations

import dataclasses

import numpy as np
from amaranth.sim import Simulator

from constraints import (LANE_BITS, SCALAR_INDEX, CrossbarRecord, derive, encode_load, int_range,
                         pack_lanes)
from golden.crossbar import CrossbarNoise, crossbar_datapath_model, crossbar_tile
from golden.datapath import datapath_model, fold_zero_points
from hw.crossbar_datapath import CrossbarDatapath
from tb.crossbar_model import AdcResponder, CrossbarMacro

__all__ = ["Layer", "make_top", "spec_of", "random_layer", "commands_for", "run", "expected"]


@dataclasses.dataclass
class Layer:
    x: np.ndarray          # (B, K) raw inputs
    w: np.ndarray          # (C, K) stored weights w'
    bias: np.ndarray       # (C,) folded bias'
    m0: np.ndarray         # (C,) or ()
    shift: np.ndarray
    y_zp: int
    act_min: int
    act_max: int
    trim: np.ndarray       # (C_phys,)


BASE = dict(bits=8, input_signed=True, weight_signed=True, rows=4, cols=2, weight_tiles=3,
            acc_bits=32, overflow="wrap", out_bits=8, out_signed=True, rounding="double",
            per_channel=True, cell_bits=3, weight_encoding="differential", dac_bits=2,
            input_encoding="twos_complement", adc_bits=None, adc_shift=None, cols_per_adc=2,
            dac_settle_cycles=1, adc_latency=2)


def make_top(**kw):
    p = {**BASE, **kw}
    if "input_bits" in kw or "weight_bits" in kw:       # separate widths replace BASE's bits
        p.pop("bits")
    lossless = derive.lossless_adc_bits(p["rows"], p["dac_bits"], p["cell_bits"])
    if p["adc_bits"] is None:
        p["adc_bits"] = lossless
    if p["adc_shift"] is None:
        p["adc_shift"] = max(0, lossless - p["adc_bits"])
    return CrossbarDatapath(**p)


def spec_of(top):
    """The tile of a ``CrossbarDatapath`` top as ``golden.crossbar`` takes it."""
    return crossbar_tile(**{k: getattr(top, k) for k in CrossbarRecord.TILE_PARAMETERS})


def random_layer(top, rng, *, batch, k, relu=True, trim_span=0):
    xlo, xhi = int_range(top.input_bits, top.input_signed)
    wlo, whi = int_range(top.weight_bits, top.weight_signed)
    x = rng.integers(xlo, xhi + 1, (batch, k))
    x[0, :] = xlo
    if batch > 1:
        x[1, :] = xhi
    w_zp = int(rng.integers(-3, 4)) if top.weight_signed else 0
    w_raw = rng.integers(max(wlo, wlo + w_zp), min(whi, whi + w_zp) + 1, (top.cols, k))
    x_zp = int(rng.integers(xlo // 4, xhi // 4 + 1))
    w, bias = fold_zero_points(w_raw, rng.integers(-3000, 3000, top.cols), x_zp=x_zp,
                               w_zp=w_zp)
    m0 = rng.integers(1 << 30, (1 << 31) - 1, top.cols)
    shift = rng.integers(-12, -6, top.cols)
    if not top.per_channel:
        m0, shift = m0[0], shift[0]
    lo, hi = int_range(top.out_bits, top.out_signed)
    y_zp = int(rng.integers(lo // 2, hi // 2 + 1))
    act_min = max(lo, y_zp) if relu else lo
    trim = rng.integers(-trim_span, trim_span + 1, top.PHYS_COLS) if trim_span else \
        np.zeros(top.PHYS_COLS, dtype=np.int64)
    return Layer(x, w, bias, np.asarray(m0), np.asarray(shift), y_zp, act_min, hi, trim)


def commands_for(top, L):
    """The load and data beats of one layer, in issue order: ("load", addr, data) /
    ("data", x_word, tile, first, last)."""
    rows, cols = top.rows, top.cols
    k = L.x.shape[1]
    chunks = -(-k // rows)
    assert chunks <= top.weight_tiles
    pad = chunks * rows - k
    xp = np.pad(L.x, ((0, 0), (0, pad)))
    wp = np.pad(L.w, ((0, 0), (0, pad)))
    def addr(region, index):
        return encode_load(region, index, top.INDEX_BITS)

    word = pack_lanes

    cmds = []
    for t in range(chunks):
        for c in range(cols):
            cmds.append(("load", addr("WEIGHTS", t * cols + c),
                         word(wp[c, t * rows:(t + 1) * rows], top.weight_bits)))
    for c in range(cols):
        cmds.append(("load", addr("BIAS", c), word([L.bias[c]], top.acc_bits)))
    m0 = np.atleast_1d(L.m0)
    shift = np.atleast_1d(L.shift)
    for c in range(len(m0)):
        cmds.append(("load", addr("M0", c), int(m0[c])))
        cmds.append(("load", addr("SHIFT", c), word([shift[c]], LANE_BITS["SHIFT"])))
    ob = top.out_bits + 1
    for name, v in (("y_zp", L.y_zp), ("act_min", L.act_min), ("act_max", L.act_max)):
        cmds.append(("load", addr("SCALARS", SCALAR_INDEX[name]), word([v], ob)))
    for j in range(top.PHYS_COLS):
        cmds.append(("load", addr("TRIM", j), word([L.trim[j]], top.adc_bits)))
    for b in range(L.x.shape[0]):
        for t in range(chunks):
            cmds.append(("data", word(xp[b, t * rows:(t + 1) * rows], top.input_bits), t,
                         int(t == 0),
                         int(t == chunks - 1)))
    return cmds


def expected(top, L, noise=None, *, mac_path=False):
    """(y, ovf) of the golden crossbar model (or of the MAC path)."""
    m0 = L.m0 if top.per_channel else int(L.m0)
    shift = L.shift if top.per_channel else int(L.shift)
    common = dict(acc_bits=top.acc_bits, overflow=top.overflow, m0=m0, shift=shift,
                  y_zp=L.y_zp, act_min=L.act_min, act_max=L.act_max, rounding=top.rounding)
    if mac_path:
        return datapath_model(L.x, L.w, L.bias, input_bits=top.input_bits,
                              weight_bits=top.weight_bits, input_signed=top.input_signed,
                              weight_signed=top.weight_signed, rows=top.rows, **common)
    y, ovf, _ = crossbar_datapath_model(L.x, L.w, L.bias, spec=spec_of(top), noise=noise,
                                        trim=L.trim, **common)
    return y, ovf


@dataclasses.dataclass
class RunResult:
    y: np.ndarray
    ovf: np.ndarray
    accept_cycles: list     # cycle of every accepted data beat
    out_cycles: list        # cycle of every o_data beat taken
    responder: AdcResponder
    macro: CrossbarMacro
    cycles: int


def run(top, cmds, *, n_out, noise=None, adc_latency=None, jitter=0, stall=0.0, seed=0,
        check_settle=True, max_cycles=200_000):
    """Simulate ``cmds`` on ``top`` with the behavioural crossbar; return the outputs."""
    spec = spec_of(top)
    macro = CrossbarMacro(spec, noise or CrossbarNoise())
    resp = AdcResponder(macro, adc_latency=adc_latency or top.adc_latency, jitter=jitter,
                        dac_settle_cycles=top.dac_settle_cycles if check_settle else None,
                        seed=seed)
    rng = np.random.default_rng(seed + 1)
    outs, ovfs, accept_cycles, out_cycles = [], [], [], []
    state = {"cycles": 0}
    ob, cols = top.out_bits, top.cols

    clear_addr = encode_load("SCALARS", SCALAR_INDEX["clear_sticky"], top.INDEX_BITS)

    async def bench(ctx):
        queue = list(cmds)
        ctx.set(top.o_prog.ready, 1)
        cycle = 0
        sticky, presented = 0, False    # expected o_ovf_sticky; o_data beat already counted
        while len(outs) < n_out:
            if cycle > max_cycles:
                raise AssertionError(f"timeout after {cycle} cycles, {len(outs)} outputs")
            done, code = resp.outputs()
            ctx.set(top.adc_done, done)
            ctx.set(top.adc_code, code)
            head = queue[0] if queue else None
            ctx.set(top.i_load.valid, int(bool(head) and head[0] == "load"))
            ctx.set(top.i_data.valid, int(bool(head) and head[0] == "data"))
            if head and head[0] == "load":
                ctx.set(top.i_load.payload.addr, head[1])
                ctx.set(top.i_load.payload.data, head[2])
            elif head:
                ctx.set(top.i_data.payload.x, head[1])
                ctx.set(top.i_data.payload.tile, head[2])
                ctx.set(top.i_data.payload.first, head[3])
                ctx.set(top.i_data.payload.last, head[4])
            ready_out = int(rng.random() >= stall)
            ctx.set(top.o_data.ready, ready_out)
            # handshakes of this cycle
            # o_ovf_sticky = OR of the ovf flags of every o_data beat presented so far, from
            # the cycle the beat's valid rises (never ahead of o_data), checked every cycle
            o_valid = ctx.get(top.o_data.valid)
            if o_valid and not presented:
                sticky |= ctx.get(top.o_data.payload.ovf)
                presented = True
            got = ctx.get(top.o_ovf_sticky)
            assert got == sticky, (f"cycle {cycle}: o_ovf_sticky = {got:#x}, expected "
                                   f"{sticky:#x} (OR of the ovf of the o_data beats so far)")
            if head and head[0] == "load" and ctx.get(top.i_load.ready):
                queue.pop(0)
                if head[1] == clear_addr:
                    sticky = 0              # takes effect at this edge
            elif head and head[0] == "data" and ctx.get(top.i_data.ready):
                queue.pop(0)
                accept_cycles.append(cycle)
            if ctx.get(top.o_prog.valid):
                macro.program_beat(ctx.get(top.o_prog.payload.tile),
                                   ctx.get(top.o_prog.payload.col),
                                   ctx.get(top.o_prog.payload.levels))
            if ctx.get(top.o_data.valid) and ready_out:
                yw = ctx.get(top.o_data.payload.y)
                lanes = [(yw >> (c * ob)) & ((1 << ob) - 1) for c in range(cols)]
                if top.out_signed:
                    lanes = [v - (1 << ob) if v >> (ob - 1) else v for v in lanes]
                outs.append(lanes)
                ovfs.append([(ctx.get(top.o_data.payload.ovf) >> c) & 1 for c in range(cols)])
                out_cycles.append(cycle)
                presented = False
            resp.sample(adc_start=ctx.get(top.adc_start), adc_sel=ctx.get(top.adc_sel),
                        dac_codes=ctx.get(top.dac_codes), dac_tile=ctx.get(top.dac_tile),
                        dac_valid=ctx.get(top.dac_valid))
            await ctx.tick()
            cycle += 1
        state["cycles"] = cycle

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return RunResult(np.array(outs, dtype=np.int64), np.array(ovfs, dtype=bool),
                     accept_cycles, out_cycles, resp, macro, state["cycles"])
