"""Per-lane fixed-point requantization: scale, round, add the output zero point, clamp."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from constraints.vocab import PIPELINES

from ._dsp import check_dsp, registered_product
from ._util import (add, check_bool, check_choice, check_fault, check_int, clamp,
                    clamp_parallel, extend, fits, int_range, lt, saturate, shift_right,
                    silent_on_error, sub, wire)

__all__ = ["Requantizer", "ROUNDINGS", "FAULTS"]

ROUNDINGS = ("double", "single", "ruy", "single16")
FAULTS = ("rounding_off_by_one",)

SHIFT_BITS = 6
SHIFT_MIN, SHIFT_MAX = -31, 30
M0_BITS = 32
#: width of the multiplier operand chunks: a CHUNK-bit unsigned (or a signed top) chunk fits
#: an 18x18 signed DSP multiplier (ECP5 MULT18X18D, Xilinx DSP48 pre-adder-free mode)
CHUNK = 17


class Requantizer(wiring.Component):
    """``cols`` lanes of ``y = clamp(mbqm(acc) + y_zp, act_min, act_max)``, one result per
    lane per cycle.

    ``mbqm`` is the exact ("wide") multiply-by-quantized-multiplier of ``docs/design.md``
    for any ``acc_bits``: with ``P = acc·m0`` (``m0`` = bits ``[0, 31)`` of the 32-bit
    register, so ``0 ≤ m0 < 2**31``), ``left = max(shift, 0)`` and ``right = max(-shift, 0)``,

    * ``"double"``: ``h = floor((P·2**left + 2**30) / 2**31)``, then ``h`` divided by
      ``2**right`` rounding ties away from zero (gemmlowp ``RoundingDivideByPOT``);
    * ``"ruy"``: as ``"double"``, but the second step rounds ties toward +inf;
    * ``"single"``: ``floor((P + 2**(t-1)) / 2**t)`` with ``t = 31 - shift``;
    * ``"single16"`` (TFLite's int64 ``MultiplyByQuantizedMultiplier``, 16x8 kernels):
      ``"single"`` with ``m0`` replaced by ``rm·2**16``, ``rm = min((m0 + 2**15) >> 16,
      2**15 - 1)`` (TFLite's ``reduced_multiplier``), i.e. ``floor((acc·rm + 2**(14-shift))
      / 2**(15-shift))``. ``rm`` is decoded into a register like ``shift`` (see below).

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
        ``"double"``, ``"single"``, ``"ruy"`` or ``"single16"``; fixed at generation time.
    per_channel : bool
        ``m0`` and ``shift`` per lane (``True``) or one pair shared by all lanes (``False``).
    chunk : int
        Width of the multiplier operand chunks, in [2, 30]; default :data:`CHUNK` (17, one
        18x18 DSP per partial product). For proof instances (``qmac prove`` proves the
        partial-product multiplier at chunk widths a solver can handle); shipped
        configurations keep the default.
    pipeline : str
        ``"standard"`` (default) or ``"deep"`` (``timing.pipeline``; ``LATENCY`` 14):
        ``m0`` is registered in stage 0 beside ``acc`` (so both multiplier operands come
        from registers: the DSP's input registers), the shift and the clamp limits are
        decoded in two register levels instead of one, the saturation of stage 6 is split
        in two (the "fits" flag, the sign, the low bits and the ties-away flag registered,
        then the selection), and so is stage 11: the comparisons with the limits and
        ``r + y_zp`` registered, then the selection (the output register).
    dsp : None or str
        ``"deep"`` only: ``"ecp5"`` builds each partial product as a ``MULT18X18D`` whose
        input registers are stage 0 and whose output register is stage 1 (``hw/_dsp.py``,
        for ``qmac synth --target ecp5``); ``None`` (default) generic RTL, same cycles.
    inject_fault : str or None
        Test only. ``"rounding_off_by_one"`` makes exact ties of the second rounding step
        (``shift < 0``) round toward −inf, so a regression can prove it catches the bug.

    Attributes
    ----------
    LATENCY : int
        Class constant, 12 (every stage registered, so that no stage holds more than one
        carry chain or about four LUT levels; ``qmac synth`` measures the result):

        0. ``acc`` registered (next to the DSP multipliers it feeds);
        1. ``CHUNK``-bit partial products of ``acc · m0[:31]`` (one 18x18 DSP each);
        2. the products of each accumulator chunk summed; 3. ``P``;
        4. first shift by the multiple of 4 in ``31 - left - 1``; 5. by the rest;
        6. saturation to ``max(acc_bits, out_bits + 2) + 1`` bits;
        7. first rounding (and, for ``"double"``, the ties-away correction);
        8. second shift by the multiple of 4 in ``right``; 9. by the rest;
        10. second rounding;
        11. zero point and activation clamp (the output register): ``r`` compared with the
            registered limits minus ``y_zp`` beside the low bits of ``r + y_zp``.

        The decoded shift and clamp limits are registered too (they load every cycle from
        the quasi-static ``shift``, ``act_min``, ``act_max``; see below).

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
    ``m0`` is read when a value enters stage 1 (``"single16"``: its reduced form is
    registered every cycle, so there ``m0`` is read when the value enters stage 0); ``shift``, ``act_min`` and ``act_max`` are
    decoded into registers that load at every clock edge, so a change takes effect for
    values entering stage 1 at that edge or later, like ``m0``. (``"deep"``: ``m0`` is read
    when a value enters stage 0; the two-level decodes take effect for values entering
    stage 2 at that edge or later.)
    No backpressure of its own: the caller's ``en`` stalls the pipeline.
    """

    LATENCY = 12
    #: ``LATENCY`` of the ``"deep"`` pipeline (an instance attribute then)
    LATENCY_DEEP = 14

    @classmethod
    def latency_for(cls, pipeline="standard"):
        """``LATENCY`` of a ``Requantizer`` with this ``pipeline`` (without building one)."""
        return cls.LATENCY_DEEP if pipeline == "deep" else cls.LATENCY

    @silent_on_error
    def __init__(self, *, cols, acc_bits, out_bits, out_signed, rounding, per_channel,
                 chunk=CHUNK, pipeline="standard", dsp=None, inject_fault=None):
        owner = type(self).__name__
        self.cols = check_int(owner, "cols", cols, 1, 256)
        self.acc_bits = check_int(owner, "acc_bits", acc_bits, 2, 64)
        self.out_bits = check_int(owner, "out_bits", out_bits, 2, 16)
        self.out_signed = check_bool(owner, "out_signed", out_signed)
        self.rounding = check_choice(owner, "rounding", rounding, ROUNDINGS)
        self.per_channel = check_bool(owner, "per_channel", per_channel)
        self.chunk = check_int(owner, "chunk", chunk, 2, M0_BITS - 2)
        self.inject_fault = check_fault(owner, inject_fault, FAULTS)
        self.pipeline = check_choice(owner, "pipeline", pipeline, PIPELINES)
        self.dsp = check_dsp(owner, dsp)
        if self.dsp is not None and self.pipeline != "deep":
            raise ValueError(f"{owner}: dsp={dsp!r} with pipeline={pipeline!r} is not "
                             f"allowed; allowed: dsp=None, or pipeline='deep'")
        if self.pipeline == "deep":
            self.LATENCY = self.LATENCY_DEEP

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
        """Registered shift amounts and rounding controls of one (m0, shift) pair.

        The registers load every cycle (not gated by ``en``): ``shift`` is quasi-static, and
        stage 1 never reads them, so a value entering stage 2 always sees the decoded form
        of the ``shift`` that was present when it entered stage 1. Registering them takes
        the decoding (a clamp and two subtractions) off every datapath stage."""
        sh = Signal(signed(SHIFT_BITS), name=f"shift_c{suffix}")
        limit = clamp_parallel if self.pipeline == "deep" else clamp
        m.d.comb += sh.eq(limit(m, shift, Const(SHIFT_MIN, signed(SHIFT_BITS)),
                                Const(SHIFT_MAX, signed(SHIFT_BITS)), SHIFT_BITS + 1,
                                name=f"shift_clamp{suffix}"))
        if self.pipeline == "deep":          # first of two register levels
            sh_q = Signal(signed(SHIFT_BITS), name=f"shift_c_q{suffix}", reset_less=True)
            m.d.sync += sh_q.eq(sh)
            sh = sh_q
        neg = sh[-1]
        pos = ~neg & sh.any()
        left = Mux(pos, sh[:5], Const(0, 5))
        a1 = Signal(5, name=f"a1_q{suffix}", reset_less=True)      # first shift - rounding bit
        s2 = Signal(5, name=f"s2_q{suffix}", reset_less=True)      # second shift (= right)
        s2_any = Signal(name=f"s2_any_q{suffix}", reset_less=True)
        rnd1 = Signal(name=f"rnd1_q{suffix}", reset_less=True)
        s2_d = Mux(neg, sub(m, Const(0, 1), sh, 7, name=f"s2_d{suffix}")[:5], Const(0, 5))
        m.d.sync += [
            a1.eq(sub(m, Const(30, 6), left, 7, name=f"a1_d{suffix}")[:5]),
            s2.eq(s2_d),
            s2_any.eq(neg),
            rnd1.eq(~neg if self.rounding in ("single", "single16") else Const(1, 1)),
        ]
        return a1, s2, s2_any, rnd1

    def _reduce_m0(self, m, m0, c):
        """``"single16"``: ``rm·2**16`` as the 31-bit multiplier, ``rm`` TFLite's
        ``reduced_multiplier`` (``m0[16:31] + m0[15]``, held at ``0x7FFF`` when
        ``m0[16:31]`` is already ``0x7FFF``), registered every cycle like the decoded shift
        (``m0`` is quasi-static)."""
        top = m0[16:31]
        rm = Signal(15, name=f"rm_q_{c}", reset_less=True)
        m.d.sync += rm.eq(Mux(top.all(), top, (top + m0[15])[:15]))
        return Cat(Const(0, 16), rm)

    def _limits(self, m):
        """Registered clamp limits (quasi-static like ``shift``; read only by the last
        stage): with ``lo``, ``hi`` the activation range intersected with the output range,
        ``min(lo, hi)``, ``hi``, and both minus ``y_zp`` — so the last stage compares the
        rounded value ``r`` with them in parallel with ``r + y_zp``:
        ``min(max(r + y_zp, lo), hi)`` is ``min(lo, hi)`` if ``r < lo - y_zp``, else ``hi``
        if ``hi - y_zp < r``, else ``r + y_zp``."""
        out_lo, out_hi = int_range(self.out_bits, self.out_signed)
        lim_bits = self.out_bits + 2
        c_lo, c_hi = Const(out_lo, signed(lim_bits)), Const(out_hi, signed(lim_bits))
        limit = clamp_parallel if self.pipeline == "deep" else clamp
        act_lo = limit(m, self.act_min, c_lo, c_hi, lim_bits, name="act_lo_c")
        act_hi = limit(m, self.act_max, c_lo, c_hi, lim_bits, name="act_hi_c")
        if self.pipeline == "deep":          # first of two register levels
            act_lo, act_hi = self._register(m, act_lo, "act_lo_c_q"), \
                self._register(m, act_hi, "act_hi_c_q")
        lo_eff = Mux(lt(m, act_hi, act_lo, name="act_empty"), act_hi, act_lo)
        regs = {"lo_eff": (lo_eff, lim_bits), "hi": (act_hi, lim_bits),
                "lo_r": (sub(m, act_lo, self.y_zp, lim_bits + 1, name="lo_r_d"), lim_bits + 1),
                "hi_r": (sub(m, act_hi, self.y_zp, lim_bits + 1, name="hi_r_d"), lim_bits + 1)}
        out = {}
        for name, (value, bits) in regs.items():
            out[name] = Signal(signed(bits), name=f"act_{name}_q", reset_less=True)
            m.d.sync += out[name].eq(value)
        return out

    def _output(self, m, load, r_q, lim, c):
        """Stage 11 (the output register): zero point and activation clamp, the two
        comparisons beside the addition (see :meth:`_limits`)."""
        w = self.out_bits
        # inside the limits r + y_zp is an output value: its low out_bits bits suffice
        y_low = add(m, r_q[:w], self.y_zp[:w], w, name=f"zp_{c}")
        below = lt(m, r_q, lim["lo_r"], name=f"below_{c}")
        above = lt(m, lim["hi_r"], r_q, name=f"above_{c}")
        if self.pipeline == "deep":       # compare (stage 11), then select (stage 12)
            below = self._stage(m, load[10], below, f"below_q_{c}")
            above = self._stage(m, load[10], above, f"above_q_{c}")
            y_low = self._stage(m, load[10], y_low[:w], f"y_low_q_{c}")
            load = load[1:]
        y = Mux(below, lim["lo_eff"][:w], Mux(above, lim["hi"][:w], y_low[:w]))
        return self._stage(m, load[10], wire(m, y, f"y_{c}"), f"y_q_{c}", self.out_shape)

    @staticmethod
    def _register(m, value, name):
        """``value`` registered at every edge (a quasi-static parameter's decode)."""
        q = Signal(value.shape(), name=name, reset_less=True)
        m.d.sync += q.eq(value)
        return q

    def _stage(self, m, load, value, name, shape=None):
        """A pipeline register for ``value`` that loads on ``load`` (operand isolation)."""
        q = Signal(shape if shape is not None else value.shape(), name=name, reset_less=True)
        with m.If(load):
            m.d.sync += q.eq(value)
        return q

    def _multiply(self, m, load, acc, m0, c, product=None):
        """Stages 1-3: ``P = acc · m0[:31]`` from registered ``chunk``-bit partial products
        (each fits one 18x18 DSP multiplier), summed in two registered steps. ``product(a_i,
        m_j, name)`` builds a registered partial product (default: the stage-1 register of
        ``a_i * m_j``)."""
        if product is None:
            def product(a_i, m_j, name):
                return self._stage(m, load[0], a_i * m_j, name)
        acc_bits, chunk = self.acc_bits, self.chunk
        a_chunks = [(lo, min(lo + chunk, acc_bits)) for lo in range(0, acc_bits, chunk)]
        m_chunks = [(0, chunk), (chunk, M0_BITS - 1)]
        rows = []
        for i, (lo, hi) in enumerate(a_chunks):
            top = hi == acc_bits
            a_i = acc[lo:hi].as_signed() if top else acc[lo:hi]
            pps = [product(a_i, m0[ml:mh], f"pp_q_{c}_{i}_{j}")
                   for j, (ml, mh) in enumerate(m_chunks)]
            # stage 2: row i = a_i · m0[:31], the low chunk bits of pp_i0 pass through
            lo_pp, hi_pp = pps
            width = len(a_i) + (M0_BITS - 1) + (0 if top else 1) - chunk
            upper = add(m, hi_pp, lo_pp[chunk:].as_signed() if top else lo_pp[chunk:],
                        width, name=f"row_{c}_{i}")
            row = Cat(lo_pp[:chunk], upper)
            rows.append(self._stage(m, load[1], row.as_signed() if top else row[:-1],
                                    f"row_q_{c}_{i}"))
        # stage 3: P = sum of rows << chunk·i, the low bits of each partial sum pass through
        p_bits = acc_bits + M0_BITS - 1
        total = rows[0]
        for i in range(1, len(rows)):
            k = chunk * i
            upper = add(m, total[k:], rows[i], p_bits - k, name=f"psum_{c}_{i}")
            total = Cat(total[:k], upper).as_signed()
        return self._stage(m, load[2], total.as_signed(), f"p_q_{c}", signed(p_bits))

    def elaborate(self, platform):
        m = Module()
        cols, acc_bits, out_bits = self.cols, self.acc_bits, self.out_bits
        w2 = max(acc_bits, out_bits + 2)
        ties_away = self.rounding == "double"
        fault = self.inject_fault == "rounding_off_by_one"
        lim = self._limits(m)
        if not self.per_channel:
            shared = self._decode_shift(m, self.shift, "")

        # stage enables: a stage loads only when a valid value enters it (operand isolation)
        valids = [self.valid]
        for stage in range(1, self.LATENCY):
            v_q = Signal(name=f"valid_q_{stage}")
            with m.If(self.en):
                m.d.sync += v_q.eq(valids[-1])
            valids.append(v_q)
        load = [wire(m, self.en & v, f"load_{stage + 1}") for stage, v in enumerate(valids)]

        for c in range(cols):
            if self.per_channel:
                dec = self._decode_shift(m, self.shift[c], f"_{c}")
                m0 = self.m0[c]
            else:
                dec, m0 = shared, self.m0
            if self.rounding == "single16":
                m0 = self._reduce_m0(m, m0, c)
            load_ = load[1:]
            if self.pipeline == "deep":
                p_q = self._multiply(m, load_, *self._deep_operands(m, load, m0, c))
            else:
                # stage 0: the accumulators, registered beside the DSP multipliers they feed
                acc_q = self._stage(m, load[0], self.acc[c], f"acc_q_{c}")
                p_q = self._multiply(m, load_, acc_q, m0, c)
            h_q = self._first_rounding(m, load_, p_q, dec, w2, ties_away, c)
            if self.pipeline == "deep":      # the split saturation: one stage more
                load_ = load_[1:]
            t_q, tie_q = self._second_shift(m, load_, h_q, dec, w2, fault, c)
            r_q = self._second_rounding(m, load_, t_q, dec, tie_q, c)
            m.d.comb += self.y[c].eq(self._output(m, load_, r_q, lim, c))
        return m

    def _deep_operands(self, m, load, m0, c):
        """``"deep"``: ``(acc, m0, c, product)`` for :meth:`_multiply`. Generic: ``acc`` and
        ``m0`` registered in stage 0, their chunks multiplied into stage-1 registers;
        ``"ecp5"``: each partial product one ``MULT18X18D`` sampling the chunks of the raw
        ``acc`` and ``m0`` in its input registers (stage 0) and registering the product
        (stage 1)."""
        if self.dsp is None:
            acc = self._stage(m, load[0], self.acc[c], f"acc_q_{c}")
            m0 = self._stage(m, load[0], m0, f"m0_q_{c}")
        else:
            acc = self.acc[c]

        def product(a_i, m_j, name):
            registered = dict(a_q=a_i, b_q=m_j) if self.dsp is None else {}
            return registered_product(m, a_i, m_j, ce_in=load[0], ce_out=load[1], name=name,
                                      dsp=self.dsp, **registered)
        return acc, m0, c, product

    def _first_rounding(self, m, load, p_q, dec, w2, ties_away, c):
        """Stages 4-7: ``v = sat(P >> a1)`` (coarse shift by multiples of 4, fine shift,
        saturation to ``w2 + 1`` bits), then ``h = (v + 1) >> 1`` — for ``"double"`` already
        corrected to ``h - 1`` when ``h < 0`` and the second shift is not 0 (ties away from
        zero = ties up applied to ``h - 1``); ``h < 0`` exactly when ``v < -1``."""
        a1, _, s2_any, rnd1 = dec
        coarse = shift_right(m, p_q, Cat(Const(0, 2), a1[2:]), 28, name=f"shr1c_{c}")
        c_q = self._stage(m, load[3], coarse, f"c1_q_{c}")
        fine = shift_right(m, c_q, a1[:2], 3, name=f"shr1f_{c}")
        f_q = self._stage(m, load[4], fine, f"f1_q_{c}")
        neg = (f_q[-1] & ~f_q.all() & s2_any) if ties_away else None
        if self.pipeline == "deep":
            v_q, neg_q = self._deep_saturation(m, load, f_q, neg, w2, c)
            load = load[1:]
        else:
            v_q = self._stage(m, load[5], saturate(m, f_q, w2 + 1, name=f"sat1_{c}"),
                              f"v_q_{c}")
            if ties_away:
                neg_q = self._stage(m, load[5], neg, f"neg_q_{c}")
        if ties_away:
            step = Mux(neg_q, Const(-1, signed(2)), Const(1, signed(2)))
        else:
            step = Cat(rnd1, Const(0, 1)).as_signed()
        h = add(m, v_q, step, w2 + 2, name=f"round1_{c}")[1:].as_signed()
        return self._stage(m, load[6], h, f"h_q_{c}", signed(w2 + 1))

    def _deep_saturation(self, m, load, f_q, neg, w2, c):
        """``"deep"``: the saturation of stage 6 split in two, like the output stage: the
        "fits in ``w2 + 1`` bits" flag, the sign, the low ``w2 + 1`` bits and the ties-away
        flag ``neg`` registered (stage 6), then only the selection (stage 7, ``v_q``)."""
        width = w2 + 1
        lo, hi = int_range(width, True)
        mask = (1 << width) - 1
        ok_q = self._stage(m, load[5], fits(m, f_q, width, name=f"sat1_ok_{c}"),
                           f"sat1_ok_q_{c}")
        sign_q = self._stage(m, load[5], f_q[-1], f"sat1_sign_q_{c}")
        low_q = self._stage(m, load[5], f_q[:width], f"sat1_low_q_{c}")
        limit = Mux(sign_q, Const(lo & mask, width), Const(hi & mask, width))
        v = wire(m, Mux(ok_q, low_q, limit).as_signed(), f"sat1_{c}")
        v_q = self._stage(m, load[6], v, f"v_q_{c}", signed(width))
        if neg is None:
            return v_q, None
        neg_q1 = self._stage(m, load[5], neg, f"neg_q1_{c}")
        return v_q, self._stage(m, load[6], neg_q1, f"neg_q_{c}")

    def _second_shift(self, m, load, h_q, dec, w2, fault, c):
        """Stages 8-9: ``t = (h << 1) >> right`` (coarse, then fine): ``t[0]`` is the
        rounding bit of the second step."""
        _, s2, _, _ = dec
        t_in = Cat(Const(0, 1), h_q).as_signed()
        coarse = shift_right(m, t_in, Cat(Const(0, 2), s2[2:]), 31, name=f"shr2c_{c}")
        c_q = self._stage(m, load[7], coarse, f"c2_q_{c}")
        t_q = self._stage(m, load[8], shift_right(m, c_q, s2[:2], 3, name=f"shr2f_{c}"),
                          f"t_q_{c}")
        if not fault:
            return t_q, None
        # test only: an exact tie of the second step (bit right-1 of h set, all below clear)
        below = Cat(lt(m, Const(i + 1, 6), s2, name=f"mask_{c}_{i}")
                    for i in range(min(31, w2 + 1)))
        bit = shift_right(m, t_in, s2, 31, name=f"tiebit_{c}")[0]
        tie = s2.any() & bit & ~(h_q[:len(below)] & below).any()
        tie_q = self._stage(m, load[7], tie, f"tie_q_{c}")
        return t_q, self._stage(m, load[8], tie_q, f"tie_q2_{c}")

    def _second_rounding(self, m, load, t_q, dec, tie_q, c):
        """Stage 10: ``r = (t + [right > 0]) >> 1`` (one carry chain; the last stage
        compares the full-width ``r`` with the limits, so no saturation here)."""
        _, _, s2_any, _ = dec
        rnd2 = s2_any if tie_q is None else s2_any & ~tie_q
        r = add(m, t_q, rnd2, len(t_q) + 1, name=f"round2_{c}")[1:].as_signed()
        return self._stage(m, load[9], r, f"r_q_{c}", signed(len(t_q)))
