"""Integer ranges and widths: the one signed/unsigned range helper and the widths derived
from it (pure Python, exact for any width)."""

__all__ = ["int_range", "ceil_log2", "signed_width_for", "product_range", "dot_product_range",
           "dot_product_bits",
           "exact_max_depth"]


def int_range(bits, signed):
    """Inclusive ``(lo, hi)`` of a ``bits``-bit two's-complement (``signed``) or unsigned
    integer."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def ceil_log2(n):
    """``ceil(log2(n))`` for ``n >= 1`` (0 for 1), exact for any int."""
    return max(0, (int(n) - 1).bit_length())


def signed_width_for(lo, hi):
    """Smallest ``w`` such that a ``w``-bit signed integer holds every value in [lo, hi]."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def product_range(bits, input_signed, weight_signed, *, weight_bits=None):
    """``(lo, hi)`` of the product of a ``bits``-bit input and a ``weight_bits``-bit weight
    (``weight_bits`` defaults to ``bits``: one width N for both operands)."""
    wb = bits if weight_bits is None else weight_bits
    corners = [a * b for a in int_range(bits, input_signed) for b in int_range(wb, weight_signed)]
    return min(corners), max(corners)


def dot_product_range(bits, rows, input_signed, weight_signed, *, weight_bits=None):
    """``(lo, hi)`` of a sum of ``rows`` products (:func:`product_range`)."""
    lo, hi = product_range(bits, input_signed, weight_signed, weight_bits=weight_bits)
    return rows * lo, rows * hi


def dot_product_bits(bits, rows, input_signed, weight_signed, *, weight_bits=None):
    """Smallest signed width holding every sum of ``rows`` products of a ``bits``-bit input
    and a ``weight_bits``-bit weight (default: ``bits``)."""
    return signed_width_for(*dot_product_range(bits, rows, input_signed, weight_signed,
                                               weight_bits=weight_bits))


def exact_max_depth(bits, acc_bits, input_signed, weight_signed, *, weight_bits=None):
    """Largest number of products (``bits``-bit input × ``weight_bits``-bit weight, default
    ``bits``) whose sum can never leave an ``acc_bits`` signed accumulator (not counting the
    bias)."""
    lo, hi = product_range(bits, input_signed, weight_signed, weight_bits=weight_bits)
    top = (1 << (acc_bits - 1)) - 1
    depth = top // hi if hi > 0 else top
    if lo < 0:
        depth = min(depth, (top + 1) // -lo)
    return depth
