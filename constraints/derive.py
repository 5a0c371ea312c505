"""Every width and number derived from the parameters, one function per formula
(``docs/design.md`` port layout, ``docs/crossbar.md`` §2–§3). The records in
:mod:`constraints.records` expose them as properties; ``hw`` checks its own widths against
them; ``tb`` and ``golden`` use them instead of restating them."""

from .limits import FULL_SCALE_HEADROOM_BITS
from .loadmap import KIND_BITS, REGION_BITS
from .ranges import ceil_log2
from .vocab import FULL_SCALE_AUTO

__all__ = ["index_bits", "addr_bits", "load_data_bits", "tile_bits", "col_bits", "sel_bits",
           "cmd_width", "slices", "slice_widths", "polarities", "phys_cols",
           "encoding_offset", "sign_phase", "phase_plan", "phase_weights", "cell_max", "lossless_adc_bits", "max_adc_shift", "adc_shift_for_full_scale",
           "cycles_per_vector", "FullScaleError"]


# --- load / data ports ------------------------------------------------------------------
def index_bits(weight_tiles, cols, phys_cols=0):
    """``INDEX_BITS = max(2, ceil(log2(max(T·C, C_phys, 4))))`` (``C_phys`` = 0 for the MAC
    array; crossbar tops also address the ``C_phys`` trim registers)."""
    return max(2, ceil_log2(max(weight_tiles * cols, phys_cols, 4)))


def addr_bits(index_bits_):
    """``ADDR_BITS = INDEX_BITS + REGION_BITS``."""
    return index_bits_ + REGION_BITS


def load_data_bits(rows, weight_bits, acc_bits):
    """``LOAD_DATA_BITS = max(R·W, acc_bits, 32)`` (W = ``weight_bits``: a load carries one
    weight column)."""
    return max(rows * weight_bits, acc_bits, 32)


def tile_bits(weight_tiles):
    """``TILE_BITS = max(1, ceil(log2 T))``."""
    return max(1, ceil_log2(weight_tiles))


def col_bits(cols):
    """``COL_BITS = max(1, ceil(log2 C))``."""
    return max(1, ceil_log2(cols))


def sel_bits(cols_per_adc):
    """``SEL_BITS = max(1, ceil(log2 m))``."""
    return max(1, ceil_log2(cols_per_adc))


def cmd_width(load_width, data_width):
    """Harness command word: kind bits + the wider of the two payloads."""
    return KIND_BITS + max(load_width, data_width)


# --- crossbar geometry ------------------------------------------------------------------
def slices(weight_bits, cell_bits):
    """S = ceil(W / b) cells per weight (W = ``weight_bits``)."""
    return -(-weight_bits // cell_bits)


def slice_widths(weight_bits, cell_bits):
    """Bits held by slice s: ``b``, the top slice ``W − (S−1)·b``."""
    return tuple(min(cell_bits, weight_bits - s * cell_bits)
                 for s in range(slices(weight_bits, cell_bits)))


def polarities(weight_encoding):
    """E = 2 columns per slice (``differential``: w+, w−), 1 for ``offset``."""
    return 2 if weight_encoding == "differential" else 1


def phys_cols(cols, weight_bits, cell_bits, weight_encoding):
    """``C_phys = C·S·E``."""
    return cols * slices(weight_bits, cell_bits) * polarities(weight_encoding)


def encoding_offset(bits, signed, encoding):
    """The offset added before a value is driven/stored unsigned: ``2^(bits−1)`` for signed
    values in ``offset`` encoding (inputs: A, weights: G), else 0."""
    return 1 << (bits - 1) if signed and encoding == "offset" else 0


def sign_phase(input_signed, input_encoding):
    """The sign bit is a DAC phase of its own (signed inputs, ``twos_complement``)."""
    return bool(input_signed) and input_encoding == "twos_complement"


def phase_plan(bits, input_signed, dac_bits, input_encoding):
    """``((lsb, width, is_sign), ...)`` of every DAC phase: the input's ``bits``-bit pattern
    (``input_bits``) cut into ``dac_bits`` digits from the LSB, the sign bit last and alone
    with a sign phase."""
    sign = sign_phase(input_signed, input_encoding)
    top = bits - 1 if sign else bits
    plan = [(lo, min(dac_bits, top - lo), False) for lo in range(0, top, dac_bits)]
    if sign:
        plan.append((bits - 1, 1, True))
    return tuple(plan)


def phase_weights(bits, dac_bits, plan):
    """ω_p of every phase of ``plan`` (:func:`phase_plan`): ``2^lsb``; the sign phase (DAC
    code ``2^(v−1)``) has ``−2^(A−v)``, so that ``ω·code = −2^(A−1)``: two's-complement MSB
    weighting."""
    return tuple(-(1 << (bits - dac_bits)) if sign else 1 << lo for lo, _, sign in plan)


def cell_max(dac_bits, cell_bits):
    """Largest contribution of one cell: ``(2^v − 1)·(2^b − 1)``."""
    return ((1 << dac_bits) - 1) * ((1 << cell_bits) - 1)


def lossless_adc_bits(rows, dac_bits, cell_bits):
    """``L = ceil(log2(R·(2^v − 1)·(2^b − 1) + 1))``: bits to convert every ideal column
    sum exactly (ISAAC: R = 128, v = 1, b = 2 → 9)."""
    return (rows * cell_max(dac_bits, cell_bits)).bit_length()


def max_adc_shift(adc_bits, lossless_bits):
    """Largest LSB exponent k: ``max(0, L − B) + FULL_SCALE_HEADROOM_BITS``."""
    return max(0, lossless_bits - adc_bits) + FULL_SCALE_HEADROOM_BITS


class FullScaleError(ValueError):
    """An ``adc_full_scale`` value outside what :func:`adc_shift_for_full_scale` allows;
    ``allowed`` says what is."""

    def __init__(self, value, allowed):
        super().__init__(f"full_scale={value!r} is out of range; allowed: {allowed}")
        self.value, self.allowed = value, allowed


def adc_shift_for_full_scale(full_scale, adc_bits, lossless_bits):
    """The ADC full-scale → LSB mapping: LSB exponent ``k`` (LSB = 2^k column units).

    ``"auto"`` → ``k = max(0, L − B)`` (the smallest power-of-two range holding every
    column sum); an int ``2^(B + k)`` with ``0 <= k <= max_adc_shift`` → k. Anything else
    raises :class:`FullScaleError`.
    """
    if full_scale == FULL_SCALE_AUTO:
        return max(0, lossless_bits - adc_bits)
    kmax = max_adc_shift(adc_bits, lossless_bits)
    ok = (isinstance(full_scale, int) and not isinstance(full_scale, bool) and full_scale >= 1
          and not full_scale & (full_scale - 1))
    k = full_scale.bit_length() - 1 - adc_bits if ok else -1
    if not 0 <= k <= kmax:
        raise FullScaleError(full_scale, (
            f"'auto' or a power of two 2^{adc_bits}..2^{adc_bits + kmax} (2^adc_bits times a "
            f"power-of-two LSB; at most 16x the lossless range 2^{lossless_bits})"))
    return k


def cycles_per_vector(phases, cols_per_adc, adc_latency, dac_settle_cycles):
    """Crossbar throughput, cycles between accepted vectors (``docs/crossbar.md`` §3.4):
    ``P·(m·(Lc + 1) + settle + 1) + 1``."""
    return phases * (cols_per_adc * (adc_latency + 1) + dac_settle_cycles + 1) + 1
