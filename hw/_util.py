"""Shared helpers of the ``hw`` components: parameter checks and lint-clean arithmetic.

Why the arithmetic helpers exist
--------------------------------
The Verilog that Amaranth emits through Yosys gives each operator its operands at their
*natural* widths: a signed operand is written as ``$signed(a)`` at its minimal width even when
the source sign-extended it, an unsigned one loses explicit leading zero bits, and constants
are written at their minimal width (``x == 1'h1``, ``! x`` for ``x == 0``). Verilator's default
lint rules flag each such implicit extension (``WIDTHEXPAND``/``WIDTHTRUNC``), except the one
carry bit of an addition. The helpers below therefore

* do additions, subtractions and comparisons on operands extended *explicitly* to one common
  width ``W`` whose top bits are inverted: ``(a ^ 2**(W-1)) + (b ^ 2**(W-1)) ≡ a + b`` and
  ``(a ^ 2**(W-1)) - (b ^ 2**(W-1)) = a - b`` modulo ``2**W``, and an inverted top bit is
  never a constant zero or a copy of the sign, so the operand keeps its full width;
* compare with constants bit by bit (:func:`eq_const`) and test for zero with reductions;
* build variable shifts from explicit multiplexers (:func:`shift_right`).

Multiplications are emitted with their natural widths, which Verilator does not flag.
"""

import operator

from amaranth.hdl import Cat, Const, Mux, Signal, Value, unsigned
from amaranth.utils import ceil_log2

__all__ = [
    "check_int", "check_bool", "check_choice", "check_fault", "int_range", "signed_width_for",
    "wire", "extend", "add", "sub", "eq_const", "lt", "fits", "saturate", "clamp",
    "shift_right", "divmod_const", "ceil_log2",
]


# --- parameter checks --------------------------------------------------------------------

def check_int(owner, name, value, lo, hi):
    """Return ``value`` as an ``int`` or raise ``ValueError`` naming it and ``[lo, hi]``.

    Messages follow ``golden/_validate.py``, prefixed with the component:
    ``MacArray: bits=17 is out of range; allowed: [2, 16]``.
    """
    if isinstance(value, bool):
        problem = "is not an integer"
    else:
        try:
            value = operator.index(value)
        except TypeError:
            problem = "is not an integer"
        else:
            if lo <= value <= hi:
                return value
            problem = "is out of range"
    raise ValueError(f"{owner}: {name}={value!r} {problem}; allowed: [{lo}, {hi}]")


def check_bool(owner, name, value):
    """Return ``value`` if it is a ``bool``, else raise ``ValueError``."""
    if not isinstance(value, bool):
        raise ValueError(f"{owner}: {name}={value!r} is not a bool; allowed: True, False")
    return value


def check_choice(owner, name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError``."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{owner}: {name}={value!r} is out of range; allowed: {allowed}")
    return value


def check_fault(owner, value, choices):
    """Return ``value`` if it is ``None`` or one of the fault names ``choices``."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in (None, *choices))
        raise ValueError(f"{owner}: inject_fault={value!r} is out of range; allowed: {allowed}")
    return value


# --- integer ranges ----------------------------------------------------------------------

def int_range(bits, is_signed):
    """Inclusive range ``(lo, hi)`` of a ``bits``-wide integer."""
    if is_signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def signed_width_for(lo, hi):
    """Smallest ``w`` such that ``signed(w)`` holds every integer in ``[lo, hi]``."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


# --- lint-clean arithmetic ---------------------------------------------------------------
#
# Every helper takes the ``Module`` and stores its result in a named combinational
# ``Signal``: Amaranth lowers each *use* of an expression separately, so an expression used
# twice (a multiplexer's input, a clamp's operand) would otherwise be duplicated in the
# netlist, and nested helpers would grow exponentially.

def wire(m, value, name):
    """``value`` as a ``Signal`` named ``name`` (``value`` itself if it already is one)."""
    if isinstance(value, (Signal, Const)):
        return value
    value = Value.cast(value)
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def extend(value, width):
    """``value`` sign- (signed) or zero- (unsigned) extended to ``width`` bits, as raw bits.

    The result is ``unsigned(width)``. ``value`` should be a ``Signal`` or ``Const`` (it is
    referenced twice when signed).
    """
    value = Value.cast(value)
    n = len(value)
    if n > width:
        raise ValueError(f"cannot extend a {n}-bit value to {width} bits")
    if n == width:
        return value.as_unsigned()
    if value.shape().signed:
        return Cat(value.as_unsigned(), value[-1].replicate(width - n))
    return Cat(value, Const(0, width - n))


def _operand(m, value, width, name):
    bits = wire(m, extend(wire(m, value, name), width), name + "_x")
    return Cat(bits[:-1], ~bits[-1])


def add(m, a, b, width, name="sum"):
    """``a + b`` modulo ``2**width``, as a ``signed(width)`` signal (choose ``width`` exact)."""
    total = (_operand(m, a, width, name + "_a") + _operand(m, b, width, name + "_b"))
    return wire(m, total[:width].as_signed(), name)


def sub(m, a, b, width, name="diff"):
    """``a - b`` modulo ``2**width``, as a ``signed(width)`` signal (choose ``width`` exact)."""
    total = (_operand(m, a, width, name + "_a") - _operand(m, b, width, name + "_b"))
    return wire(m, total[:width].as_signed(), name)


def eq_const(value, constant):
    """1 when the raw bits of ``value`` equal ``constant`` (taken modulo ``2**len(value)``)."""
    value = Value.cast(value)
    return Cat(value[i] if (constant >> i) & 1 else ~value[i]
               for i in range(len(value))).all()


def _common_width(*values):
    w = 1
    for v in values:
        shape = Value.cast(v).shape()
        w = max(w, shape.width + (0 if shape.signed else 1))
    return w


def lt(m, a, b, name="lt"):
    """``a < b`` for any mix of signed and unsigned operands (1 bit)."""
    w = _common_width(a, b) + 1
    return sub(m, a, b, w, name=name)[-1]


def fits(m, value, width, name="fits"):
    """1 when ``value`` lies in the ``signed(width)`` range."""
    value = wire(m, value, name + "_v")
    n = len(value)
    if not value.shape().signed:
        return ~value[width - 1:].any() if n >= width else Const(1, 1)
    if n <= width:
        return Const(1, 1)
    top = value[width - 1:]
    return top.all() | ~top.any()


def saturate(m, value, width, name="sat"):
    """``value`` clamped into the ``signed(width)`` range, as a ``signed(width)`` signal."""
    value = wire(m, value, name + "_v")
    if len(value) <= width and value.shape().signed:
        return wire(m, extend(value, width).as_signed(), name)
    lo, hi = int_range(width, True)
    mask = (1 << width) - 1
    neg = value[-1] if value.shape().signed else Const(0, 1)
    limit = Mux(neg, Const(lo & mask, width), Const(hi & mask, width))
    ok = fits(m, value, width, name + "_ok")
    return wire(m, Mux(ok, value[:width], limit).as_signed(), name)


def clamp(m, value, lo, hi, width, name="clamp"):
    """``min(max(value, lo), hi)`` as a ``signed(width)`` signal (``width`` holds all three)."""
    v = wire(m, extend(wire(m, value, name + "_in"), width).as_signed(), name + "_v")
    lo = wire(m, extend(wire(m, lo, name + "_lo0"), width).as_signed(), name + "_lo")
    hi = wire(m, extend(wire(m, hi, name + "_hi0"), width).as_signed(), name + "_hi")
    up = wire(m, Mux(lt(m, v, lo, name + "_below"), lo, v), name + "_up")
    return wire(m, Mux(lt(m, hi, up, name + "_above"), hi, up), name)


def shift_right(m, value, amount, max_amount, name="shr"):
    """Arithmetic (signed) / logical (unsigned) right shift by ``amount`` ≤ ``max_amount``.

    A logarithmic shifter of explicit multiplexers, one signal per level: the result has the
    width and signedness of ``value``; ``amount`` bits above ``ceil_log2(max_amount + 1)``
    are ignored.
    """
    value = wire(m, value, name + "_in")
    is_signed = value.shape().signed
    n = len(value)
    fill = value[-1] if is_signed else Const(0, 1)
    bits = value.as_unsigned()
    for k in range(ceil_log2(max_amount + 1)):
        step = 1 << k
        if step >= n:
            shifted = fill.replicate(n)
        else:
            shifted = Cat(bits[step:], fill.replicate(step))
        bits = wire(m, Mux(amount[k], shifted, bits), f"{name}_{k}")
    return wire(m, bits.as_signed() if is_signed else bits, name)


def divmod_const(m, value, divisor, max_value, name="div"):
    """``(value // divisor, value % divisor)`` for an unsigned ``value`` ≤ ``max_value``.

    Powers of two are bit slices; otherwise ``q = (value · r) >> k`` with
    ``k = ceil(log2(max_value + 1)) + ceil(log2 divisor)`` and ``r = ceil(2**k / divisor)``.
    Exact: with ``value = q·d + s`` (``s ≤ d − 1``) and ``e = r·d − 2**k < d``,
    ``value·r / 2**k = q + s/d + value·e/(d·2**k)`` and ``value·e < 2**k``, so the error
    never reaches the next integer.
    """
    value = wire(m, value, name + "_in")
    if divisor & (divisor - 1) == 0:
        k = ceil_log2(divisor)
        q = value[k:] if k < len(value) else Const(0, 1)
        r = value[:k] if k > 0 else Const(0, 1)
        return q, r
    k = ceil_log2(max_value + 1) + ceil_log2(divisor)
    recip = -(-(1 << k) // divisor)
    qbits = max(1, ceil_log2(max_value // divisor + 1))
    product = value * Const(recip, unsigned(recip.bit_length()))
    q = wire(m, product[k:k + qbits], name + "_q")
    back = q * Const(divisor, unsigned(divisor.bit_length()))
    width = max(len(value), len(back))
    rem = sub(m, value, back, width, name + "_r")[:ceil_log2(divisor)]
    return q, rem
