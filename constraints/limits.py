"""One set of limits, used by the YAML validation, the hw constructors and the golden
models alike, and the generation budget.

``ACC_BITS_MAX`` = 48 is the widest accumulator the golden requantizer verifies
(``|acc| <= 2^47`` keeps ``acc·M0`` exact in its int64/Python arithmetic);
``TILES_MAX`` = 1024 keeps the weight memory of the largest array (256·256·16 bits per tile)
addressable with a 20-bit load index. Everything a configuration may ask for inside these
limits is generated and verified; a configuration beyond :data:`COST_BUDGET` is refused
before elaboration (see :func:`cost_estimate`).
"""

__all__ = ["BITS_MIN", "BITS_MAX", "DIM_MAX", "TILES_MAX", "ACC_BITS_MAX", "GUARD_BITS_MAX",
           "OUT_BITS_MIN", "OUT_BITS_MAX", "CLOCK_MHZ_MIN", "CLOCK_MHZ_MAX", "ADC_BITS_MAX",
           "FULL_SCALE_HEADROOM_BITS", "ADC_LATENCY_MAX", "SETTLE_CYCLES_MAX", "SIGMA_MAX",
           "ADC_OFFSET_SIGMA_MAX", "SEED_MAX", "M0_BITS", "SHIFT_BITS", "SHIFT_MIN",
           "SHIFT_MAX", "NAME_PATTERN", "COST_BUDGET", "cost_estimate"]

BITS_MIN, BITS_MAX = 2, 16            # operands.bits (N), input_bits (A), weight_bits (W)
DIM_MAX = 256                         # array.rows (R), array.cols (C)
TILES_MAX = 1024                      # array.weight_tiles (T)
ACC_BITS_MAX = 48                     # A + W + M
GUARD_BITS_MAX = 32                   # M
OUT_BITS_MIN, OUT_BITS_MAX = 2, 16    # requant.out_bits
CLOCK_MHZ_MIN, CLOCK_MHZ_MAX = 0.001, 5000.0
ADC_BITS_MAX = 40                     # widest lossless ADC of any legal tile (R=256, v=b=16)
FULL_SCALE_HEADROOM_BITS = 4          # explicit full scale at most 16x the lossless range
ADC_LATENCY_MAX = 1024
SETTLE_CYCLES_MAX = 255
SIGMA_MAX = 1.0                       # program/read noise, fraction of the cell range
ADC_OFFSET_SIGMA_MAX = 64.0           # ADC offset noise, in LSB
SEED_MAX = 2**63 - 1
M0_BITS = 32                          # run-time M0 register (0 .. 2^31 − 1)
SHIFT_BITS = 6                        # run-time shift register
SHIFT_MIN, SHIFT_MAX = -31, 30
NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,63}"

#: Generation/simulation budget in "cost units" (:func:`cost_estimate`), an estimate, not a
#: measured bound: the largest shipped configuration (isaac.yaml) costs ~0.3 M units, a
#: 64x64 N=16 array ~1.1 M; N=16, 256x256, 1024 tiles (~84 M) is refused.
COST_BUDGET = 1 << 22


def cost_estimate(*, bits=None, rows, cols, weight_tiles, phys_cols=None, input_bits=None,
                  weight_bits=None):
    """``(units, what)``: rough cost of generating and simulating a datapath.

    ``units = R·C·A·W + R·C·T·W / 16`` (``bits`` = N is the shorthand for A = W = N): the
    MAC array's partial-product bits (cells of logic, which dominate elaboration and
    Verilator time) plus the weight memory bits at a sixteenth of a unit each. A crossbar
    (``phys_cols``) has no multipliers: its digital side costs the ``C_phys``
    reconstruction adders, ``C_phys·R·max(A, W)`` units.
    """
    a = bits if input_bits is None else input_bits
    w = bits if weight_bits is None else weight_bits
    mem_bits = rows * cols * weight_tiles * w
    logic = rows * phys_cols * max(a, w) if phys_cols else rows * cols * a * w
    units = logic + mem_bits // 16
    what = (f"~{units / 1e6:.1f} M cost units ({logic} logic + {mem_bits} weight-memory "
            f"bits / 16)")
    return units, what
