"""Reference models for the proofs, written from the arithmetic definitions, not from the RTL.

Each model is an Amaranth netlist of the *definition*: exact integer arithmetic (Amaranth
widens every ``+``, ``-``, ``*``, ``<<`` so nothing overflows), C-style truncating division
where gemmlowp uses it, and the mask/threshold form of ``RoundingDivideByPOT``. The hardware
computes the same functions in a different way (two rounding right shifts, saturation to
narrow widths, operand isolation); the solver proves the two equal for all inputs.

Definitions (``x`` the accumulator, ``m`` = bits [0, 31) of ``m0``, ``s`` the shift clamped
to [-31, 30], ``left = max(s, 0)``, ``right = max(-s, 0)``, ``P = x·m`` exact):

* ``"double"`` — gemmlowp: ``ab = P·2**left``; ``nudge = 2**30`` if ``ab >= 0`` else
  ``1 - 2**30``; ``h = trunc((ab + nudge) / 2**31)`` (C division, toward zero);
  ``RoundingDivideByPOT(h, right) = (h >> right) + ((h & mask) > (mask >> 1) + (h < 0))``,
  ``mask = 2**right - 1`` (ties away from zero);
* ``"ruy"`` — the same ``h``, then ``(h + 2**(right-1)) >> right`` (ties toward +inf);
* ``"single"`` — TFLite ``TFLITE_SINGLE_ROUNDING``: ``t = 31 - s``,
  ``(P + 2**(t-1)) >> t``;
* ``"single16"`` — TFLite's int64 ``MultiplyByQuantizedMultiplier``: ``"single"`` of
  ``P = x·rm·2**16``, ``rm`` the ``reduced_multiplier`` of ``m``
  (:func:`reduced_multiplier_reference`; ``x·rm / 2**(15-s)`` is the same quotient);

then ``y = min(max(r + y_zp, act_min), act_max)`` limited to the output type's range.
"""

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RequantReference", "AccumulatorReference", "mbqm_reference", "clamp_reference",
           "clamp_window", "reduced_multiplier_reference"]

SHIFT_MIN, SHIFT_MAX = -31, 30


def _trunc_div_pot(value, k):
    """C ``value / 2**k`` (rounds toward zero), ``k`` a constant."""
    return Mux(value >= 0, value >> k, -((-value) >> k))


def _rdbpot_away(h, right):
    """gemmlowp ``RoundingDivideByPOT(h, right)``: mask / threshold form."""
    mask = (Const(1, 1) << right) - 1
    remainder = h & mask
    threshold = (mask >> 1) + (h < 0)
    return (h >> right) + (remainder > threshold)


def _rdbpot_up(h, right):
    """ruy's rounding right shift: ``floor((h + 2**(right-1)) / 2**right)``; ``h`` if 0."""
    half = (Const(1, 1) << right) >> 1
    return (h + half) >> right


def mbqm_reference(m, product, shift, rounding):
    """Exact multiply-by-quantized-multiplier of ``product = x·m`` (an Amaranth value).

    ``shift`` is the raw 6-bit register; values outside [-31, 30] are clamped (documented
    hardware behaviour). Returns a wide signed value.
    """
    s = Signal(signed(7), name="ref_shift")
    m.d.comb += s.eq(Mux(shift < SHIFT_MIN, SHIFT_MIN, Mux(shift > SHIFT_MAX, SHIFT_MAX, shift)))
    left = Mux(s > 0, s, 0)[:5]
    right = Mux(s < 0, -s, 0)[:5]
    if rounding in ("single", "single16"):     # single16: product = x·rm·2**16 (see below)
        t = (31 - s)[:6]                                   # 1 .. 62
        return (product + ((Const(1, 1) << t) >> 1)) >> t
    ab = product << left
    nudge = Mux(ab >= 0, Const(2**30, signed(32)), Const(1 - 2**30, signed(32)))
    h = Signal(signed(len(ab) + 2), name="ref_h")
    m.d.comb += h.eq(_trunc_div_pot(ab + nudge, 31))
    if rounding == "double":
        return _rdbpot_away(h, right)
    return _rdbpot_up(h, right)


def reduced_multiplier_reference(m0):
    """TFLite's ``reduced_multiplier`` of the int64 ``MultiplyByQuantizedMultiplier`` (16x8
    kernels) of ``m0`` (bits [0, 31) of the register): ``(m0 + 2**15) >> 16`` if
    ``m0 < 0x7FFF0000``, else ``0x7FFF``; returned as the 31-bit multiplier ``rm·2**16``
    that ``"single16"`` uses in place of ``m0``."""
    m = m0[:31]
    rm = Mux(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    return rm << 16


def clamp_reference(value, y_zp, act_min, act_max, out_bits, out_signed):
    """``min(max(value + y_zp, act_min), act_max)`` limited to the output type's range."""
    lo, hi = (-(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1) if out_signed \
        else (0, (1 << out_bits) - 1)
    y = value + y_zp
    y = Mux(y < act_min, act_min, y)
    y = Mux(y > act_max, act_max, y)
    y = Mux(y < lo, lo, y)
    return Mux(y > hi, hi, y)


def clamp_window(value, out_bits):
    """``value`` limited to ``[-2**(out_bits+1), 2**(out_bits+1)]``: :func:`clamp_reference`
    with any ``y_zp``, ``act_min``, ``act_max`` (``out_bits + 1`` bits) gives the same result
    for both — beyond the window ``value + y_zp`` is beyond the output range on the same side
    — which ``qmac prove`` proves (:class:`~sim.formal.harness.ClampLemma`), so a rounded
    value need only be proved equal through this window. (The hardware saturates its
    first rounding to ``out_bits + 3`` bits or more, so its rounded value reaches
    ``±2**(out_bits+1)``.)"""
    edge = 1 << (out_bits + 1)
    return Mux(value < -edge, -edge, Mux(value > edge, edge, value))


class RequantReference(wiring.Component):
    """Combinational reference of one requantizer lane (no pipeline): ``y = f(acc, ...)``.

    ``product`` is an input: the harness feeds the exact product ``acc·m0[:31]`` (see
    :mod:`sim.formal.harness` for how it is formed in each proof instance).
    """

    def __init__(self, *, product_shape, out_bits, out_signed, rounding):
        self.out_bits, self.out_signed, self.rounding = out_bits, out_signed, rounding
        out_shape = signed(out_bits) if out_signed else unsigned(out_bits)
        super().__init__({
            "product": In(product_shape),
            "shift": In(signed(6)),
            "y_zp": In(signed(out_bits + 1)),
            "act_min": In(signed(out_bits + 1)),
            "act_max": In(signed(out_bits + 1)),
            "y": Out(out_shape),
        })

    def elaborate(self, platform):
        m = Module()
        r = mbqm_reference(m, self.product, self.shift, self.rounding)
        y = clamp_reference(r, self.y_zp, self.act_min, self.act_max, self.out_bits,
                            self.out_signed)
        m.d.comb += self.y.eq(y)
        return m


class AccumulatorReference(wiring.Component):
    """Cycle model of one accumulator lane from its specification (docs/design.md).

    On an enabled beat: ``total = (bias if first else acc) + psum`` exactly; ``acc`` becomes
    ``total`` reduced modulo ``2**acc_bits`` into the signed range (``"wrap"``) or clamped to
    it (``"saturate"``); the lane's flag becomes ``(flag and not first) or total out of
    range``. ``sticky`` ORs the flags of every completed (``last``) accumulation, cleared by
    ``clear`` (a flag completing at the same edge is kept).
    """

    def __init__(self, *, psum_bits, acc_bits, overflow):
        self.acc_bits, self.overflow = acc_bits, overflow
        super().__init__({
            "en": In(1), "valid": In(1), "first": In(1), "last": In(1), "clear": In(1),
            "psum": In(signed(psum_bits)), "bias": In(signed(acc_bits)),
            "acc": Out(signed(acc_bits)), "ovf": Out(1), "sticky": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        a = self.acc_bits
        lo, hi = -(1 << (a - 1)), (1 << (a - 1)) - 1
        acc, ovf, sticky = Signal(signed(a)), Signal(), Signal()
        total = Mux(self.first, self.bias, acc) + self.psum
        out_of_range = (total < lo) | (total > hi)
        if self.overflow == "wrap":
            stored = ((total - lo) % (1 << a)) + lo
        else:
            stored = Mux(total < lo, lo, Mux(total > hi, hi, total))
        flag = (ovf & ~self.first) | out_of_range
        beat = self.en & self.valid
        with m.If(beat):
            m.d.sync += [acc.eq(stored), ovf.eq(flag)]
        kept = Mux(self.clear, 0, sticky)
        m.d.sync += sticky.eq(kept | (beat & self.last & flag))
        m.d.comb += [self.acc.eq(acc), self.ovf.eq(ovf), self.sticky.eq(sticky)]
        return m
