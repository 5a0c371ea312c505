"""Throughput measurements on one DUT for ``qmac bench`` (issue 6), all checked bit-exactly.

The same stream — one random layer with ``K = 4R`` and ``C = cols``, about
``QMAC_BENCH_CYCLES`` data beats (default 20000), every output compared with golden — is
run three ways:

* ``bench_naive``: a naive per-cycle cocotb loop: one packed payload write and one clock
  edge per cycle, outputs sampled after the edge (no handshake logic, ``o_data.ready = 1``);
* ``bench_cycle``: the regression's cycle-driven path (Driver + Monitor, handshakes
  evaluated in ReadOnly);
* ``bench_fast``: the fast path (command memory + harness engine, one wake-up per chunk).

Each writes a record (``path`` = naive / cycle / fast) with cycles, wall time, vectors and
MACs to ``QMAC_RESULT``; the naive and cycle runs use a shorter stream (Python-bound).
"""

from __future__ import annotations

import os
import time

import numpy as np

import cocotb
from cocotb.triggers import RisingEdge

from tb.checker import Checker, decode_outputs
from tb.env import TbEnv
from tb.layers import random_layer
from tb.schedule import KIND_DATA, KIND_LOAD, schedule


def bench_program(env: TbEnv, data_beats: int):
    hp = env.hp
    k = 4 * hp.rows
    batch = max(1, data_beats // 4)
    layer = random_layer(hp, np.random.default_rng(env.seed), batch=batch, k=k, c=hp.cols,
                         per_channel=hp.per_channel, name=f"bench(B={batch},K={k},C={hp.cols})")
    return schedule(hp, [layer.fold(hp)])


def _cycles() -> int:
    return int(os.environ.get("QMAC_BENCH_CYCLES") or 20000)


@cocotb.test()
async def bench_fast(dut):
    """Fast path: the whole stream through the harness engine."""
    env = TbEnv(dut, "bench_fast")
    await env.start()
    await env.run(bench_program(env, _cycles()), path="fast", label="fast")
    env.finish()


@cocotb.test()
async def bench_cycle(dut):
    """Cycle-driven Driver/Monitor path (what the protocol tests use)."""
    env = TbEnv(dut, "bench_cycle")
    await env.start()
    await env.run(bench_program(env, max(400, _cycles() // 20)), path="cycle", label="cycle")
    env.finish()


@cocotb.test()
async def bench_naive(dut):
    """Naive per-cycle loop: write the beat, one edge, read o_data; check at the end."""
    env = TbEnv(dut, "bench_naive")
    await env.start()
    hp = env.hp
    prog = bench_program(env, max(400, _cycles() // 20))
    stream = prog.stream
    payloads = stream.payloads()
    load_mask = (1 << hp.load_width) - 1
    data_mask = (1 << hp.data_width) - 1
    clk = dut.clk
    dut.o_data__ready.value = 1
    got = []
    t0 = time.perf_counter()
    cycles = 0
    # loads: one per cycle, waiting for ready (the pipeline is empty at the start)
    for i in np.flatnonzero(stream.kind == KIND_LOAD):
        dut.i_load__payload.value = payloads[i] & load_mask
        dut.i_load__valid.value = 1
        await RisingEdge(clk)
        cycles += 1
        while not int(dut.i_load__ready.value):
            await RisingEdge(clk)
            cycles += 1
    dut.i_load__valid.value = 0
    # data: one packed write and one edge per cycle, o_data sampled after the edge
    for i in np.flatnonzero(stream.kind == KIND_DATA):
        dut.i_data__payload.value = payloads[i] & data_mask
        dut.i_data__valid.value = 1
        await RisingEdge(clk)
        cycles += 1
        if int(dut.o_data__valid.value):
            got.append(int(dut.o_data__payload.value))
    dut.i_data__valid.value = 0
    for _ in range(hp.latency + 4):
        await RisingEdge(clk)
        cycles += 1
        if int(dut.o_data__valid.value):
            got.append(int(dut.o_data__payload.value))
    wall = time.perf_counter() - t0
    # loads first then data is only valid because the bench layer has a single column tile
    nb = -(-hp.out_width // 8)
    if got:
        by = np.frombuffer(b"".join(p.to_bytes(nb, "little") for p in got), np.uint8)
        bits = np.unpackbits(by.reshape(-1, nb), axis=1, bitorder="little")[:, :hp.out_width]
    else:
        bits = np.zeros((0, hp.out_width), np.uint8)
    gy, go = decode_outputs(hp, bits)
    res = Checker(hp, prog).check(gy, go)
    env.results.append(res)
    env.log.info("naive: %d cycles in %.3f s (%.0f cycles/s); %s", cycles, wall,
                 cycles / wall if wall else 0, res.format().splitlines()[0])
    env._record({"test": "bench_naive", "label": "naive", "path": "naive",
                 "vectors": res.vectors, "lanes": res.lanes, "mismatches": res.mismatches,
                 "cycles": cycles, "wall": wall, "sim_ns": 0.0, "macs": prog.macs,
                 "seed": env.seed, "backpressure": 0.0, "first": [m.format() for m in res.first]})
    if not res.ok:
        env.failures.append(f"naive: {res.mismatches} mismatch(es)")
    env.finish()
