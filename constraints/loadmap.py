"""The load address map and the harness command word: the one definition every command
builder (``tb/schedule.py``, the hw tests' drivers) and every decoder
(``hw/requant_stage.py``, ``hw/datapath.py``, ``hw/crossbar_datapath.py``) uses.

A load beat's address is ``addr = region << INDEX_BITS | index`` (``docs/design.md``);
its data holds one or more lanes packed LSB first (:func:`pack_lanes`).

A harness command word (``tb/qmac_harness.sv``) is ``{payload, kind[1:0]}``: bits [1:0] the
kind (:data:`KINDS`), the payload from bit :data:`KIND_BITS` (a LOAD the ``i_load``
payload, a DATA the ``i_data`` payload, a GAP the number of idle cycles in its low
:data:`GAP_BITS` bits). ``tests/tb`` checks the SystemVerilog constants against these.
"""

__all__ = ["REGION_BITS", "REGIONS", "CROSSBAR_REGIONS", "SCALAR_INDEX", "LANE_BITS",
           "KIND_BITS", "KINDS", "KIND_NAMES", "GAP_BITS", "encode_load", "decode_load",
           "pack_lanes"]

REGION_BITS = 3
#: Load regions of every datapath top; ``TRIM`` exists on crossbar tops only.
REGIONS = {"WEIGHTS": 0, "BIAS": 1, "M0": 2, "SHIFT": 3, "SCALARS": 4}
CROSSBAR_REGIONS = {**REGIONS, "TRIM": 5}
#: Indices inside the ``SCALARS`` region (``clear_sticky``: data ignored).
SCALAR_INDEX = {"y_zp": 0, "act_min": 1, "act_max": 2, "clear_sticky": 3}
#: Fixed lane widths of the run-time registers (the others follow the configuration:
#: ``WEIGHTS`` N per row, ``BIAS`` acc_bits, ``SCALARS`` out_bits + 1, ``TRIM`` adc_bits).
LANE_BITS = {"M0": 32, "SHIFT": 6, "clear_sticky": 1}

KIND_BITS = 2
KINDS = {"END": 0, "LOAD": 1, "DATA": 2, "GAP": 3}
KIND_NAMES = {v: k for k, v in KINDS.items()}
GAP_BITS = 32


def encode_load(region, index, index_bits):
    """Load address ``region << index_bits | index``; ``region`` is a name of
    :data:`CROSSBAR_REGIONS` or its number. Works element-wise on NumPy int arrays."""
    if isinstance(region, str):
        region = CROSSBAR_REGIONS[region]
    return (region << index_bits) | index


def decode_load(addr, index_bits):
    """``(region, index)`` of a load address."""
    return addr >> index_bits, addr & ((1 << index_bits) - 1)


def pack_lanes(values, width):
    """``values`` as one word, lane ``i`` at bits ``i·width`` (two's complement, masked)."""
    mask = (1 << width) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word
