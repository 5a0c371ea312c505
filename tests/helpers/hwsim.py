"""Shared helpers of the ``tests/hw`` suite: seeded RNG, Amaranth simulation, bit packing."""

from __future__ import annotations

import os

import numpy as np
from amaranth.sim import Simulator

DEFAULT_SEED = 20240607


def make_rng(salt: int = 0) -> np.random.Generator:
    """``np.random.Generator`` seeded from ``QMAC_SEED`` (default :data:`DEFAULT_SEED`) + salt.

    The seed is printed (pytest shows it with a failure); rerun with ``QMAC_SEED=<seed>``.
    """
    seed = int(os.environ.get("QMAC_SEED", DEFAULT_SEED))
    print(f"QMAC_SEED={seed} (salt {salt})")
    return np.random.default_rng([seed, salt])


def simulate(dut, testbench, *, vcd: str | None = None) -> None:
    """Run ``testbench(ctx)`` against ``dut`` with a clock on the ``sync`` domain."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """Inclusive range of a ``bits``-wide integer."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def pack(values, bits: int) -> int:
    """Pack ``values`` (any sign) into one unsigned int, element ``i`` at bits ``i·bits``."""
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * bits)
    return word


def unpack(word: int, bits: int, count: int, signed: bool) -> list[int]:
    """Inverse of :func:`pack`."""
    mask = (1 << bits) - 1
    out = []
    for i in range(count):
        v = (int(word) >> (i * bits)) & mask
        if signed and v >> (bits - 1):
            v -= 1 << bits
        out.append(v)
    return out
