"""Shared helpers of the ``hw`` components: parameter checks and lint-clean arithmetic.

Why the arithmetic helpers exist
--------------------------------
Amaranth writes an operator's operands at their *natural* widths: an operand whose top bits
are copies of its sign bit (a sign extension written as ``Cat(x, x[-1])``) or zeros, and a
constant with leading zeros, are emitted at their minimal width (``$signed(x)``,
``x == 2'h3``). Verilator's default lint rules flag each such implicit extension
(``WIDTHEXPAND``/``WIDTHTRUNC``), except the one carry bit of an addition or subtraction.
The helpers below therefore

* use the native operator whenever the operands already have one common shape (an addition
  of two equally wide values into one more bit, a comparison of equal widths): this is the
  cheapest form for every simulator and synthesis tool;
* otherwise extend the operands to one common width with a form Amaranth cannot shrink: the
  extension bits come from a multiplexer (``Mux(x[-1], 0b11…1, 0)`` for a sign extension,
  ``Mux(x[-1], 0, 0)`` for zeros; Yosys folds the latter back into constant bits but keeps
  the operand width), and a constant operand gets a multiplexer as its top bit;
* shift with the native shift operators (``>>`` is ``>>>`` for signed values).

Multiplications are emitted with their natural widths, which Verilator does not flag.
The lint-cleanliness of everything built from these helpers is checked by
``tests/hw/test_generate_lint.py`` (``verilator --lint-only``, default warnings, no waivers).
"""

import functools
import operator

from amaranth.hdl import Cat, Const, Mux, Signal, Value, signed, unsigned
from amaranth.utils import ceil_log2

from constraints import int_range, limits, signed_width_for

from ._amaranth_private import silence_unused_warning

__all__ = [
    "check_int", "check_widths", "check_bool", "check_choice", "check_fault", "int_range",
    "signed_width_for",
    "wire", "as_signed", "extend", "add", "sub", "eq_const", "lt", "fits", "saturate", "clamp",
    "clamp_parallel",
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


def check_widths(obj, *, bits=None, input_bits=None, weight_bits=None):
    """Validate the operand widths and store ``input_bits`` (A), ``weight_bits`` (W) and
    ``bits`` (N = A = W, or ``None`` when they differ) on ``obj``. ``bits`` is the
    shorthand for both; given with a different ``input_bits`` / ``weight_bits`` it is an
    error. Each width in [2, 16] (``constraints/limits.py``)."""
    owner = type(obj).__name__
    a = bits if input_bits is None else input_bits
    w = bits if weight_bits is None else weight_bits
    if bits is not None and (a, w) != (bits, bits):
        raise ValueError(f"{owner}: bits={bits!r} with input_bits={input_bits!r}, "
                         f"weight_bits={weight_bits!r} is not allowed; allowed: bits (both "
                         f"widths) or input_bits and weight_bits")
    obj.input_bits = check_int(owner, "input_bits" if bits is None else "bits", a,
                               limits.BITS_MIN, limits.BITS_MAX)
    obj.weight_bits = check_int(owner, "weight_bits" if bits is None else "bits", w,
                                limits.BITS_MIN, limits.BITS_MAX)
    obj.bits = obj.input_bits if obj.input_bits == obj.weight_bits else None


def check_array(obj, *, bits=None, input_bits=None, weight_bits=None, input_signed,
                weight_signed, rows, cols, weight_tiles):
    """Validate an array's operand and tile parameters against the contract's limits
    (``constraints/limits.py``: A and W in [2, 16] — ``bits`` sets both —, R and C in
    [1, 256], T in [1, 1024]) and store them on ``obj`` (:func:`check_widths`); errors name
    ``obj``'s class."""
    owner = type(obj).__name__
    check_widths(obj, bits=bits, input_bits=input_bits, weight_bits=weight_bits)
    obj.input_signed = check_bool(owner, "input_signed", input_signed)
    obj.weight_signed = check_bool(owner, "weight_signed", weight_signed)
    obj.rows = check_int(owner, "rows", rows, 1, limits.DIM_MAX)
    obj.cols = check_int(owner, "cols", cols, 1, limits.DIM_MAX)
    obj.weight_tiles = check_int(owner, "weight_tiles", weight_tiles, 1, limits.TILES_MAX)


# --- integer ranges ----------------------------------------------------------------------

# ``int_range`` and ``signed_width_for`` are the contract's (constraints/ranges.py).


# --- lint-clean arithmetic ---------------------------------------------------------------
#
# Every helper takes the ``Module`` and stores its result in a named combinational
# ``Signal``: Amaranth lowers each *use* of an expression separately, so an expression used
# twice (a multiplexer's input, a clamp's operand) would otherwise be duplicated in the
# netlist, and nested helpers would grow exponentially. Constant operands stay ``Const``.

def _const_value(value):
    """The integer value of a constant expression (a ``Const``, slices and concatenations of
    constants: Amaranth's ``Const.cast``), else ``None``. Keep constants ``Const`` through
    signedness changes with :func:`as_signed` (``Const.cast`` does not evaluate
    ``.as_signed()``)."""
    try:
        return Const.cast(value).value
    except TypeError:
        return None


def as_signed(value):
    """``value.as_signed()``; a ``Const`` stays a ``Const`` (of the same bits, signed)."""
    if isinstance(value, Const):
        return Const(value.value, signed(len(value)))
    return value.as_signed()


def wire(m, value, name):
    """``value`` as a ``Signal`` named ``name`` (``value`` itself if it already is one; a
    constant expression becomes a ``Const``)."""
    if isinstance(value, (Signal, Const)):
        return value
    value = Value.cast(value)
    constant = _const_value(value)
    if constant is not None:
        return Const(constant, value.shape())
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def _fill(value, bits):
    """``bits`` copies of the sign bit of ``value`` (zeros if unsigned), from a multiplexer."""
    ones = (1 << bits) - 1 if value.shape().signed else 0
    return Mux(value[-1], Const(ones, bits), Const(0, bits))


def extend(value, width):
    """``value`` sign- (signed) or zero- (unsigned) extended to ``width`` bits, as raw bits.

    The result is ``unsigned(width)`` (a ``Const`` if ``value`` is one); the extension bits
    come from a multiplexer on the sign bit, so Amaranth keeps them as operand bits.
    """
    value = Value.cast(value)
    n = len(value)
    if n > width:
        raise ValueError(f"cannot extend a {n}-bit value to {width} bits")
    constant = _const_value(value)
    if constant is not None:
        return Const(constant & ((1 << width) - 1), width)
    if n == width:
        return value.as_unsigned()
    return Cat(value.as_unsigned(), _fill(value, width - n))


def _operand(value, width, sel):
    """Raw ``width`` bits of ``value`` (extended, or truncated modulo ``2**width``) in a form
    Amaranth emits at the full width; ``sel`` is any non-constant bit (for constants)."""
    constant = _const_value(value)
    if constant is not None:
        bits = constant & ((1 << width) - 1)
        top = Mux(sel, Const(bits >> (width - 1), 1), Const(bits >> (width - 1), 1))
        if width == 1:
            return top
        return Cat(Const(bits & ((1 << (width - 1)) - 1), width - 1), top)
    if len(value) >= width:
        return value.as_unsigned()[:width]
    return Cat(value.as_unsigned(), _fill(value, width - len(value)))


def _fits(value, width):
    """Whether every value of ``value``'s shape (or the constant) fits ``signed(width)``."""
    constant = _const_value(value)
    if constant is not None:
        return -(1 << (width - 1)) <= constant < (1 << (width - 1))
    shape = value.shape()
    return shape.width + (0 if shape.signed else 1) <= width


def _some_bit(a, b):
    return b[0] if _const_value(a) is not None or len(a) == 0 else a[0]


def _arith(m, op, a, b, width, name):
    a, b = wire(m, a, name + "_a"), wire(m, b, name + "_b")
    ca, cb = _const_value(a), _const_value(b)
    if ca is not None and cb is not None:
        return Const(op(ca, cb), signed(width))
    if ca is None and cb is None and a.shape() == b.shape() and width <= len(a) + 1:
        total = op(a, b)                       # natural width: one carry bit, lint-clean
    else:
        # a common operand width: one bit short of the result if both operands fit
        w = width - 1 if width >= 2 and _fits(a, width - 1) and _fits(b, width - 1) \
            else width
        sel = _some_bit(a, b)
        total = op(_operand(a, w, sel).as_signed(), _operand(b, w, sel).as_signed())
    return wire(m, total[:width].as_signed(), name)


def add(m, a, b, width, name="sum"):
    """``a + b`` modulo ``2**width``, as a ``signed(width)`` signal (choose ``width`` exact)."""
    return _arith(m, operator.add, a, b, width, name)


def sub(m, a, b, width, name="diff"):
    """``a - b`` modulo ``2**width``, as a ``signed(width)`` signal (choose ``width`` exact)."""
    return _arith(m, operator.sub, a, b, width, name)


def eq_const(value, constant):
    """1 when the raw bits of ``value`` equal ``constant`` (taken modulo ``2**len(value)``)."""
    value = Value.cast(value)
    n = len(value)
    constant %= 1 << n
    if constant == 0:          # (Yosys would write ``x == 0`` as ``!x``, a lint warning)
        return ~value.any()
    return value.as_unsigned() == _operand(Const(constant, n), n, value[-1])


def _common_width(*values):
    w = 1
    for v in values:
        constant = _const_value(v)
        if constant is not None:
            w = max(w, signed_width_for(constant, constant))
            continue
        shape = Value.cast(v).shape()
        w = max(w, shape.width + (0 if shape.signed else 1))
    return w


def lt(m, a, b, name="lt"):
    """``a < b`` for any mix of signed and unsigned operands (1 bit)."""
    a, b = wire(m, a, name + "_a"), wire(m, b, name + "_b")
    ca, cb = _const_value(a), _const_value(b)
    if ca is not None and cb is not None:
        return Const(int(ca < cb), 1)
    if ca is None and cb is None and a.shape() == b.shape():
        return wire(m, a < b, name)
    w = _common_width(a, b)
    sel = _some_bit(a, b)
    return wire(m, _operand(a, w, sel).as_signed() < _operand(b, w, sel).as_signed(), name)


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
        return wire(m, as_signed(extend(value, width)), name)
    lo, hi = int_range(width, True)
    mask = (1 << width) - 1
    neg = value[-1] if value.shape().signed else Const(0, 1)
    limit = Mux(neg, Const(lo & mask, width), Const(hi & mask, width))
    ok = fits(m, value, width, name + "_ok")
    return wire(m, Mux(ok, value[:width], limit).as_signed(), name)


def clamp(m, value, lo, hi, width, name="clamp"):
    """``min(max(value, lo), hi)`` as a ``signed(width)`` signal (``width`` holds all three)."""
    v = wire(m, as_signed(extend(wire(m, value, name + "_in"), width)), name + "_v")
    lo = wire(m, as_signed(extend(wire(m, lo, name + "_lo0"), width)), name + "_lo")
    hi = wire(m, as_signed(extend(wire(m, hi, name + "_hi0"), width)), name + "_hi")
    up = wire(m, Mux(lt(m, v, lo, name + "_below"), lo, v), name + "_up")
    return wire(m, Mux(lt(m, hi, up, name + "_above"), hi, up), name)


def clamp_parallel(m, value, lo, hi, width, name="clamp"):
    """:func:`clamp` with constant limits ``lo <= hi``: ``value`` is compared with both in
    parallel (one comparison and a multiplexer deep, not two of each in series)."""
    clo, chi = _const_value(Value.cast(lo)), _const_value(Value.cast(hi))
    if clo is None or chi is None or clo > chi:
        raise ValueError(f"clamp_parallel: limits {lo!r}, {hi!r} must be constants with "
                         f"lo <= hi")
    v = wire(m, as_signed(extend(wire(m, value, name + "_in"), width)), name + "_v")
    lo, hi = Const(clo, signed(width)), Const(chi, signed(width))
    below, above = lt(m, v, lo, name + "_below"), lt(m, hi, v, name + "_above")
    return wire(m, Mux(below, lo, Mux(above, hi, v)), name)


def shift_right(m, value, amount, max_amount, name="shr"):
    """Arithmetic (signed) / logical (unsigned) right shift by ``amount`` ≤ ``max_amount``.

    The native shift operator (``>>>`` for a signed ``value``): the result has the width and
    signedness of ``value``; ``amount`` bits above ``ceil_log2(max_amount + 1)`` are ignored.
    """
    value = wire(m, value, name + "_in")
    k = ceil_log2(max_amount + 1)
    if k == 0:
        return value
    return wire(m, value >> Value.cast(amount)[:k], name)


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


def silent_on_error(init):
    """Decorator for a component's ``__init__``: a construction error must not also warn
    "created but never used" at garbage collection (Amaranth's ``UnusedElaboratable``), so
    the half-built object is silenced before the error propagates."""
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except Exception:
            silence_unused_warning(self)
            raise
    return wrapper
