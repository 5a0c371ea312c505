"""Per-lane fixed-point requantization: scale, round, add the output zero point, clamp."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ._util import (add, check_bool, check_choice, check_fault, check_int, clamp, int_range,
                    lt, saturate, shift_right, sub, wire)

__all__ = ["Requantizer", "ROUNDINGS", "FAULTS"]

ROUNDINGS = ("double", "single", "ruy")
FAULTS = ("rounding_off_by_one",)

SHIFT_BITS = 6
SHIFT_MIN, SHIFT_MAX = -31, 30
M0_BITS = 32


class Requantizer(wiring.Component):
    """``cols`` lanes of ``y = clamp(mbqm(acc) + y_zp, act_min, act_max)``, one result per
    lane per cycle.

    ``mbqm`` is the exact ("wide") multiply-by-quantized-multiplier of ``docs/design.md``
    for any ``acc_bits``: with ``P = acc·m0`` (``m0`` = bits ``[0, 31)`` of the 32-bit
    register, so ``0 ≤ m0 < 2**31``), ``left = max(shift, 0)`` and ``right = max(-shift, 0)``,

    * ``"double"``: ``h = floor((P·2**left + 2**30) / 2**31)``, then ``h`` divided by
      ``2**right`` rounding ties away from zero (gemmlowp ``RoundingDivideByPOT``);
    * ``"ruy"``: as ``"double"``, but the second step rounds ties toward +inf;
    * ``"single"``: ``floor((P + 2**(t-1)) / 2**t)`` with ``t = 31 - shift``.

    The hardware computes every mode as two rounding right shifts (``P >> (31 - left)``,
    ties up — floor for ``"single"`` with ``shift < 0``, whose rounding bit then lies in the
    second step — and a second shift by ``right``), which is exact because nested floor
    divisions compose. Results outside the output range are saturated before the zero point
    is added, which cannot change ``y``.

    Parameters
    ----------
    cols : int
        Number of lanes C, in [1, 256].
    acc_bits : int
        Width of the signed accumulator inputs, in [2, 64].
    out_bits : int
        Width of each output, in [2, 16] (the range of ``golden``, which verifies it).
    out_signed : bool
        Whether the outputs are two's complement (else unsigned).
    rounding : str
        ``"double"``, ``"single"`` or ``"ruy"``; fixed at generation time.
    per_channel : bool
        ``m0`` and ``shift`` per lane (``True``) or one pair shared by all lanes (``False``).
    inject_fault : str or None
        Test only. ``"rounding_off_by_one"`` makes exact ties of the second rounding step
        (``shift < 0``) round toward −inf, so a regression can prove it catches the bug.

    Attributes
    ----------
    LATENCY : int
        Class constant, 4. Stage 1 registers ``P``; stage 2 the first shift (saturated to
        ``max(acc_bits, out_bits + 2) + 1`` bits); stage 3 the first rounding and the
        second shift; stage 4 the second rounding, the zero point and the clamp.

    Members
    -------
    en : ``In(1)``
        Pipeline enable (global stall when low): every stage holds.
    valid : ``In(1)``, default 1
        ``acc`` holds values to requantize (sampled when ``en`` is high). The flag travels
        with the values; a stage whose incoming values are not valid keeps its registers
        (operand isolation: bubbles cause no toggling, which saves power and simulation
        time). ``y`` therefore changes only when a valid result arrives and holds it
        otherwise. Left unconnected it is 1 (every cycle valid).
    acc : ``In(data.ArrayLayout(signed(acc_bits), C))``
        Accumulators, sampled when ``en`` is high.
    y : ``Out(data.ArrayLayout(signed(out_bits) or unsigned(out_bits), C))``
        Results for the ``acc`` sampled ``LATENCY`` enabled cycles earlier.
    m0 : ``In(data.ArrayLayout(unsigned(32), C))`` if ``per_channel`` else ``In(unsigned(32))``
        Quantized multipliers; bit 31 is ignored.
    shift : ``In(data.ArrayLayout(signed(6), C))`` if ``per_channel`` else ``In(signed(6))``
        Exponents (TFLite convention, negative = right shift), verified in [-31, 30];
        values outside are clamped to that range.
    y_zp : ``In(signed(out_bits + 1))``
        Output zero point.
    act_min, act_max : ``In(signed(out_bits + 1))``
        Activation clamp; the hardware also clamps to the output range, so values beyond it
        act as the range limits.

    ``m0``, ``shift``, ``y_zp``, ``act_min`` and ``act_max`` are quasi-static: they must not
    change while a value is in flight (the datapath only loads them when it is empty).
    No backpressure of its own: the caller's ``en`` stalls the pipeline.
    """

    LATENCY = 4

    def __init__(self, *, cols, acc_bits, out_bits, out_signed, rounding, per_channel,
                 inject_fault=None):
        owner = type(self).__name__
        self.cols = check_int(owner, "cols", cols, 1, 256)
        self.acc_bits = check_int(owner, "acc_bits", acc_bits, 2, 64)
        self.out_bits = check_int(owner, "out_bits", out_bits, 2, 16)
        self.out_signed = check_bool(owner, "out_signed", out_signed)
        self.rounding = check_choice(owner, "rounding", rounding, ROUNDINGS)
        self.per_channel = check_bool(owner, "per_channel", per_channel)
        self.inject_fault = check_fault(owner, inject_fault, FAULTS)

        self.out_shape = signed(self.out_bits) if out_signed else unsigned(self.out_bits)
        if per_channel:
            m0_shape = data.ArrayLayout(unsigned(M0_BITS), self.cols)
            shift_shape = data.ArrayLayout(signed(SHIFT_BITS), self.cols)
        else:
            m0_shape, shift_shape = unsigned(M0_BITS), signed(SHIFT_BITS)
        param_shape = signed(self.out_bits + 1)
        super().__init__({
            "en": In(1),
            "valid": In(1, init=1),
            "acc": In(data.ArrayLayout(signed(self.acc_bits), self.cols)),
            "y": Out(data.ArrayLayout(self.out_shape, self.cols)),
            "m0": In(m0_shape),
            "shift": In(shift_shape),
            "y_zp": In(param_shape),
            "act_min": In(param_shape),
            "act_max": In(param_shape),
        })

    def _decode_shift(self, m, shift, suffix):
        """Shift amounts and rounding controls of one (m0, shift) pair (combinational)."""
        sh = Signal(signed(SHIFT_BITS), name=f"shift_c{suffix}")
        m.d.comb += sh.eq(clamp(m, shift, Const(SHIFT_MIN, signed(SHIFT_BITS)),
                                Const(SHIFT_MAX, signed(SHIFT_BITS)), SHIFT_BITS + 1,
                                name=f"shift_clamp{suffix}"))
        neg = sh[-1]
        pos = ~neg & sh.any()
        left = Mux(pos, sh[:5], Const(0, 5))
        a1 = Signal(5, name=f"a1{suffix}")           # first shift minus its rounding bit
        s2 = Signal(5, name=f"s2{suffix}")           # second shift (= right)
        m.d.comb += [
            a1.eq(sub(m, Const(30, 6), left, 7, name=f"a1_d{suffix}")[:5]),
            s2.eq(Mux(neg, sub(m, Const(0, 1), sh, 7, name=f"s2_d{suffix}")[:5], Const(0, 5))),
        ]
        rnd1 = ~neg if self.rounding == "single" else Const(1, 1)
        return a1, s2, rnd1

    def elaborate(self, platform):
        m = Module()
        act_lo, act_hi = self._clamp_limits(m)
        if not self.per_channel:
            shared = self._decode_shift(m, self.shift, "")
        load = self._stage_loads(m)
        for c in range(self.cols):
            if self.per_channel:
                a1, s2, rnd1 = self._decode_shift(m, self.shift[c], f"_{c}")
                m0 = self.m0[c]
            else:
                a1, s2, rnd1 = shared
                m0 = self.m0
            t_q, rnd2 = self._scale_lane(m, c, m0, a1, s2, rnd1, load)
            self._output_lane(m, c, t_q, rnd2, act_lo, act_hi, load)
        return m

    def _clamp_limits(self, m):
        """Effective clamp limits: the activation range intersected with the output range."""
        out_lo, out_hi = int_range(self.out_bits, self.out_signed)
        lim_bits = self.out_bits + 2
        act_lo = Signal(signed(lim_bits), name="act_lo")
        act_hi = Signal(signed(lim_bits), name="act_hi")
        c_lo, c_hi = Const(out_lo, signed(lim_bits)), Const(out_hi, signed(lim_bits))
        m.d.comb += [
            act_lo.eq(clamp(m, self.act_min, c_lo, c_hi, lim_bits, name="act_lo_c")),
            act_hi.eq(clamp(m, self.act_max, c_lo, c_hi, lim_bits, name="act_hi_c")),
        ]
        return act_lo, act_hi

    def _stage_loads(self, m):
        """Stage enables: a stage loads only when a valid value enters it (operand
        isolation); ``load[k]`` enables stage ``k + 1``."""
        valids = [self.valid]
        for stage in range(1, self.LATENCY):
            v_q = Signal(name=f"valid_q_{stage}")
            with m.If(self.en):
                m.d.sync += v_q.eq(valids[-1])
            valids.append(v_q)
        return [wire(m, self.en & v, f"load_{stage + 1}") for stage, v in enumerate(valids)]

    def _scale_lane(self, m, c, m0, a1, s2, rnd1, load):
        """Stages 1–3 of lane ``c``: the exact product, the first shift and rounding (``h``),
        the second shift; returns its register ``t_q`` and the second rounding bit."""
        acc_bits, out_bits = self.acc_bits, self.out_bits
        p_bits = acc_bits + 31
        w2 = max(acc_bits, out_bits + 2)
        # stage 1: exact product P = acc · m0 (acc_bits + 31 bits).
        p_q = Signal(signed(p_bits), name=f"p_q_{c}", reset_less=True)
        with m.If(load[0]):
            m.d.sync += p_q.eq(self.acc[c] * m0[:31])

        # stage 2: first shift without its rounding bit, saturated to w2 + 1 bits.
        v_q = Signal(signed(w2 + 1), name=f"v_q_{c}", reset_less=True)
        with m.If(load[1]):
            m.d.sync += v_q.eq(saturate(m, shift_right(m, p_q, a1, 30, name=f"shr1_{c}"),
                                        w2 + 1, name=f"sat1_{c}"))

        # stage 3: first rounding (ties up) gives h; second shift without its rounding bit.
        h = wire(m, add(m, v_q, rnd1, w2 + 2, name=f"round1_{c}")[1:].as_signed(), f"h_{c}")
        # "double": ties away from zero = ties up applied to h - 1 when h < 0
        if self.rounding == "double":
            h = sub(m, h, h[-1] & s2.any(), w2 + 1, name=f"h_away_{c}")
        t_in = Cat(Const(0, 1), h).as_signed()
        t_q = Signal(signed(w2 + 2), name=f"t_q_{c}", reset_less=True)
        t = shift_right(m, t_in, s2, 31, name=f"shr2_{c}")
        with m.If(load[2]):
            m.d.sync += t_q.eq(t)
        rnd2 = s2.any()
        if self.inject_fault == "rounding_off_by_one":
            below = Cat(lt(m, Const(i + 1, 6), s2, name=f"mask_{c}_{i}")
                        for i in range(min(31, w2 + 1)))
            tie = s2.any() & t[0] & ~(h[:len(below)] & below).any()
            tie_q = Signal(name=f"tie_q_{c}", reset_less=True)
            with m.If(load[2]):
                m.d.sync += tie_q.eq(tie)
            rnd2 = rnd2 & ~tie_q
        return t_q, rnd2

    def _output_lane(self, m, c, t_q, rnd2, act_lo, act_hi, load):
        """Stage 4 of lane ``c``: second rounding, saturation, zero point, activation clamp."""
        out_bits = self.out_bits
        w2 = max(self.acc_bits, out_bits + 2)
        r = add(m, t_q, rnd2, w2 + 3, name=f"round2_{c}")[1:].as_signed()
        r_sat = saturate(m, r, out_bits + 2, name=f"sat2_{c}")
        y_sum = add(m, r_sat, self.y_zp, out_bits + 3, name=f"zp_{c}")
        y = clamp(m, y_sum, act_lo, act_hi, out_bits + 3, name=f"act_{c}")
        y_q = Signal(self.out_shape, name=f"y_q_{c}", reset_less=True)
        with m.If(load[3]):
            m.d.sync += y_q.eq(y[:out_bits])
        m.d.comb += self.y[c].eq(y_q)
