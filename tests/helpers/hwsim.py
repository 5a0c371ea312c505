"""Shared helpers of the ``tests/hw`` suite: seeded RNG, Amaranth simulation, bit packing."""

from __future__ import annotations

from amaranth.sim import Simulator

# the one seeding policy (QMAC_SEED, printed), range helper and lane packing of the contract
from constraints import int_range, make_rng  # noqa: F401  (re-exported for the tests)
from constraints import pack_lanes as pack  # noqa: F401


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
