"""Miters: a hardware component and its reference model side by side, one assertion per output.

Every free input is an ``AnySeq`` (a new value each cycle) or ``AnyConst`` (one value for the
whole trace: the quasi-static parameters). The miter's ``sync`` domain has no reset, so the
trace starts from the registers' initial values (= their reset values). Names of the free
signals start with ``free_`` so :mod:`sim.formal.prove` can read them back from a trace.
"""

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Assume, ClockDomain, Elaboratable, Module, Signal, signed

from hw.accumulator_bank import AccumulatorBank
from hw.requantizer import CHUNK, M0_BITS, Requantizer

from .reference import (AccumulatorReference, RequantReference, clamp_reference, clamp_window,
                        mbqm_reference, reduced_multiplier_reference)

__all__ = ["RequantMiter", "MultiplierMiter", "AccumulatorMiter", "ClampLemma", "PRODUCT_STAGE",
           "ROUNDING_STAGE", "SEGMENTS", "r_bits"]


def _free(m, shape, name, const=False):
    sig = Signal(shape, name=f"free_{name}")
    m.d.comb += sig.eq((AnyConst if const else AnySeq)(shape))
    return sig


class _CutRequantizer(Requantizer):
    """The requantizer with its multiplier (stages 0-3) cut out: the stage-3 register ``p_q``
    loads ``products[c]``, a value the miter chooses (the product abstraction). Everything
    after ``p_q`` is the hardware's own code. ``segment="clamp"``: the stage-10 register
    ``r_q`` (the second rounding's result) loads ``r_in[c]`` instead (a free value);
    ``segment`` set: the ``r_q`` registers are exposed as ``r_q[c]`` (what the rounding
    segment observes)."""

    def __init__(self, *, segment=None, **kwargs):
        super().__init__(**kwargs)
        shape = signed(self.acc_bits + M0_BITS - 1)
        self.products = [Signal(shape, name=f"product_{c}") for c in range(self.cols)]
        #: the multiplier operand the hardware formed from ``m0`` (``"single16"``: ``rm·2**16``)
        self.m0_in = [Signal(M0_BITS - 1, name=f"probe_m0_{c}") for c in range(self.cols)]
        self.segment = segment
        self.r_q = [Signal(signed(r_bits(self.acc_bits, self.out_bits)), name=f"probe_r_{c}")
                    for c in range(self.cols)] if segment else []
        #: ``segment="clamp"``: what the stage-10 registers load (the miter drives them)
        self.r_in = [Signal(signed(r_bits(self.acc_bits, self.out_bits)), name=f"cut_r_{c}")
                     for c in range(self.cols)] if segment == "clamp" else []

    def _multiply(self, m, load, acc, m0, c):
        m.d.comb += self.m0_in[c].eq(m0[:M0_BITS - 1])
        return self._stage(m, load[2], self.products[c], f"p_q_{c}", self.products[c].shape())

    def _second_rounding(self, m, load, t_q, dec, tie_q, c):
        if not self.segment:
            return super()._second_rounding(m, load, t_q, dec, tie_q, c)
        if len(t_q) != len(self.r_q[c]):
            raise AssertionError(f"r_q is {len(t_q)} bits, the harness assumes "
                                 f"{len(self.r_q[c])}: update harness.r_bits")
        if self.segment == "clamp":
            r_q = self._stage(m, load[9], self.r_in[c], f"r_q_{c}")
        else:
            r_q = super()._second_rounding(m, load, t_q, dec, tie_q, c)
        m.d.comb += self.r_q[c].eq(r_q)
        return r_q


def r_bits(acc_bits, out_bits):
    """Width of the requantizer's stage-10 register ``r_q``: ``max(acc_bits, out_bits + 2)
    + 2`` (the first rounding saturates to ``w2 + 1`` bits; ``t = (h << 1) >> right``)."""
    return max(acc_bits, out_bits + 2) + 2


class _ProbedRequantizer(Requantizer):
    """The requantizer as generated, with the stage-3 product registers ``p_q`` exposed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        shape = signed(self.acc_bits + M0_BITS - 1)
        self.p_q = [Signal(shape, name=f"probe_p_{c}") for c in range(self.cols)]

    def _multiply(self, m, load, acc, m0, c):
        p_q = super()._multiply(m, load, acc, m0, c)
        m.d.comb += self.p_q[c].eq(p_q)
        return p_q


def _valid_chain(m, en, valid, stages):
    """``vq[i]`` = ``valid`` delayed by ``i + 1`` enabled cycles (the hardware's stage flags)."""
    vq = [Signal(name=f"ref_valid_{i}") for i in range(stages)]
    with m.If(en):
        m.d.sync += vq[0].eq(valid)
        m.d.sync += [vq[i].eq(vq[i - 1]) for i in range(1, stages)]
    return vq


def _reference_pipeline(m, value, en, load_out, regs, name, obs):
    """The specified timing of a pipelined value: ``regs`` registers that shift when ``en``
    is high, then the output register ``obs`` that loads only when ``load_out`` (a valid
    result arrives) and holds otherwise."""
    q = [Signal(value.shape(), name=f"{name}_{i}") for i in range(regs)]
    q.append(Signal(value.shape(), name=obs))
    with m.If(en):
        m.d.sync += q[0].eq(value) if regs else []
        m.d.sync += [q[i].eq(q[i - 1]) for i in range(1, regs)]
        with m.If(load_out):
            m.d.sync += q[-1].eq(q[-2] if regs else value)
    return q[-1]


def _parameters(m, dut, free=True):
    """The quasi-static parameters every requantizer miter drives: free constants (``m0`` and
    ``shift`` per lane if ``per_channel``; ``y_zp``, ``act_min``, ``act_max`` with the one
    assumption ``act_min <= act_max``) or, ``free=False`` (the multiplier proof), only a
    free ``m0`` and the rest 0. Returns the free ``m0`` of the multiplier proof and the
    statements that drive it (the caller adds them after :func:`_enables`)."""
    if not free:
        m0 = _free(m, 32, "m0", const=True)
        return m0, [dut.m0.eq(m0)] + [getattr(dut, n).eq(0)
                                      for n in ("shift", "y_zp", "act_min", "act_max")]
    lanes = range(dut.cols) if dut.per_channel else [None]
    for c in lanes:
        sfx = "" if c is None else f"_{c}"
        m0 = _free(m, 32, "m0" + sfx, const=True)
        shift = _free(m, signed(6), "shift" + sfx, const=True)
        m.d.comb += [(dut.m0 if c is None else dut.m0[c]).eq(m0),
                     (dut.shift if c is None else dut.shift[c]).eq(shift)]
    for name in ("y_zp", "act_min", "act_max"):
        m.d.comb += getattr(dut, name).eq(
            _free(m, signed(dut.out_bits + 1), name, const=True))
    m.d.comb += Assume(dut.act_min <= dut.act_max)
    return None, []


def _enables(m, dut, control, first=()):
    """``en`` and ``valid``: free every cycle if ``control``, else 1 (``first``: statements
    to add before them). Returns ``(en, valid)``."""
    en = _free(m, 1, "en") if control else 1
    valid = _free(m, 1, "valid") if control else 1
    m.d.comb += [*first[:1], dut.en.eq(en), dut.valid.eq(valid)]
    m.d.comb += first[1:]
    return en, valid


#: The requantizer's stage whose register holds the product ``P`` (stages 0-3 multiply).
PRODUCT_STAGE = 3
#: The stage whose register ``r_q`` holds the second rounding's result (the RDBPOT result
#: before the zero point): where the proof cuts the pipeline in two segments.
ROUNDING_STAGE = 10
#: The proof segments of the requantizer data path (``RequantMiter(segment=...)``).
SEGMENTS = ("all", "round", "clamp")


class RequantMiter(Elaboratable):
    """``Requantizer`` vs the reference behind the pipeline's registers.

    Parameters
    ----------
    cols, acc_bits, out_bits, out_signed, rounding, per_channel, chunk
        The ``Requantizer`` instance to prove (``chunk``: its multiplier's chunk width).
    product : str
        ``"cut"``: the hardware's multiplier (stages 0-3) is replaced by a free product
        ``P`` entering the stage-3 register, any value in ``[lo·(2**31-1), hi·(2**31-1)]``
        (``lo``, ``hi`` the accumulator's range); the reference is fed the same ``P``:
        stages 4-11 are proved for every product (the multiplier is proved separately by
        :class:`MultiplierMiter`). ``"operands"``: as ``"cut"`` but ``P = acc·m0[:31]`` of
        free operands (one ``$mul``; used to turn a ``"cut"`` counterexample into operands).
        ``"independent"``: the whole hardware; the reference forms the product itself from
        operands it sign-/zero-extends by one more bit (small ``acc_bits`` only).
    segment : str
        ``"all"``: ``y`` vs :class:`RequantReference` (stages 4-11 when cut). ``"round"``
        (cut products only): stages 4-10 — the stage-10 register ``r_q`` vs the reference's
        rounded value ``r = mbqm_reference(P)``, both seen through :func:`clamp_window`.
        ``"clamp"``: stage 11 — ``r_q`` loads a free value (any ``r_bits`` value) and ``y``
        vs ``clamp_reference(r_q)``. With :class:`ClampLemma` the two segments give
        ``"all"`` (see :mod:`sim.formal.prove`).
    control : bool
        ``en`` and ``valid`` free every cycle (stalls, bubbles) instead of constant 1.
    """

    def __init__(self, *, cols, acc_bits, out_bits, out_signed, rounding, per_channel,
                 chunk=CHUNK, product="cut", control=False, segment="all"):
        if segment not in SEGMENTS or (segment != "all" and product != "cut"):
            raise ValueError(f"segment={segment!r} with product={product!r}; allowed: "
                             f"{SEGMENTS}, the segments with product='cut' only")
        kind = _CutRequantizer if product in ("cut", "operands") else Requantizer
        extra = {} if segment == "all" else {"segment": segment}
        self.dut = kind(cols=cols, acc_bits=acc_bits, out_bits=out_bits,
                        out_signed=out_signed, rounding=rounding, per_channel=per_channel,
                        chunk=chunk, **extra)
        self.product, self.control, self.segment = product, control, segment
        self.entry = {"all": 0 if product == "independent" else PRODUCT_STAGE,
                      "round": PRODUCT_STAGE, "clamp": ROUNDING_STAGE}[segment]
        self.observed = ROUNDING_STAGE if segment == "round" else Requantizer.LATENCY - 1
        self.domain = ClockDomain("sync", reset_less=True)

    def _product(self, m, dut, c):
        acc = _free(m, signed(dut.acc_bits), f"acc_{c}")
        m0 = dut.m0[c] if dut.per_channel else dut.m0
        if self.product == "independent":
            m.d.comb += dut.acc[c].eq(acc)
            wide_acc = Signal(signed(dut.acc_bits + 1), name=f"ref_acc_{c}")
            wide_m0 = Signal(signed(33), name=f"ref_m_{c}")
            mult = (reduced_multiplier_reference(m0) if dut.rounding == "single16"
                    else m0[:31])
            m.d.comb += [wide_acc.eq(acc), wide_m0.eq(mult)]
            return wide_acc * wide_m0
        product = dut.products[c]
        if self.product == "operands":      # the hardware's own multiplier operand
            m.d.comb += product.eq(acc * dut.m0_in[c])
        else:
            m.d.comb += product.eq(AnySeq(product.shape()))
            lo, hi = -(1 << (dut.acc_bits - 1)), (1 << (dut.acc_bits - 1)) - 1
            m.d.comb += Assume((product >= lo * (2**31 - 1)) & (product <= hi * (2**31 - 1)))
        return product

    def _lane_ref(self, m, dut, c):
        """The reference value of lane ``c`` at the segment's entry and the hardware value
        at its observed register, both as the assertion compares them."""
        shift = dut.shift[c] if dut.per_channel else dut.shift
        if self.segment == "clamp":
            return (clamp_reference(dut.r_in[c], dut.y_zp, dut.act_min, dut.act_max, dut.out_bits,
                                    dut.out_signed), dut.y[c])
        product = self._product(m, dut, c)
        if self.segment == "round":
            r = mbqm_reference(m, product, shift, dut.rounding)
            return (clamp_window(r, dut.out_bits), clamp_window(dut.r_q[c], dut.out_bits))
        ref = RequantReference(product_shape=product.shape(), out_bits=dut.out_bits,
                               out_signed=dut.out_signed, rounding=dut.rounding)
        m.submodules[f"ref_{c}"] = ref
        m.d.comb += [ref.product.eq(product), ref.y_zp.eq(dut.y_zp),
                     ref.act_min.eq(dut.act_min), ref.act_max.eq(dut.act_max),
                     ref.shift.eq(shift)]
        return ref.y, dut.y[c]

    def _reduced_multiplier(self, m, dut, c):
        """``"single16"``: the multiplier operand (``rm_q``, registered every cycle from the
        constant ``m0``) is TFLite's ``reduced_multiplier(m0)·2**16`` from the first clock
        edge on (the multiplier itself is proved for any 31-bit operand)."""
        m0 = dut.m0[c] if dut.per_channel else dut.m0
        ref = Signal(M0_BITS - 1, name=f"ref_m0_{c}")
        primed = Signal(name=f"ref_primed_{c}")
        m.d.sync += primed.eq(1)
        m.d.comb += [ref.eq(reduced_multiplier_reference(m0)),
                     Assert(~primed | (dut.m0_in[c] == ref))]

    def ports(self):
        return [self.domain.clk]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        m.submodules.dut = dut = self.dut
        _parameters(m, dut)
        if dut.rounding == "single16" and self.entry and self.segment != "clamp":
            for c in range(dut.cols):
                self._reduced_multiplier(m, dut, c)
        en, valid = _enables(m, dut, self.control)
        for c in range(dut.cols if self.segment == "clamp" else 0):
            m.d.comb += dut.r_in[c].eq(_free(m, dut.r_in[c].shape(), f"r_{c}"))
        # the specified timing: a valid value appears in the register of stage ``observed``
        # (``y``: stage LATENCY - 1) ``observed - entry`` enabled cycles after it entered the
        # register of stage ``entry`` (from stage 0: LATENCY cycles) and holds otherwise
        vq = _valid_chain(m, en, valid, dut.LATENCY - 1)
        regs = self.observed - self.entry
        for c in range(dut.cols):
            value, hw = self._lane_ref(m, dut, c)
            ref = _reference_pipeline(m, value, en, vq[self.observed - 1], regs,
                                      f"ref_y_{c}", f"obs_ref_{c}")
            hw_y = Signal(ref.shape(), name=f"obs_hw_{c}")
            m.d.comb += [hw_y.eq(hw), Assert(hw_y == ref)]
        return m


class MultiplierMiter(Elaboratable):
    """The requantizer's multiplier (stages 0-3: ``CHUNK``-bit partial products, row sums,
    ``P``) vs the exact product ``acc·m0[:31]``: the stage-3 register ``p_q`` equals the
    product of the ``acc`` that entered stage 0 four enabled cycles earlier and holds
    otherwise. ``m0`` free (constant), ``acc`` free every cycle; ``en``, ``valid`` free every
    cycle if ``control``, else 1."""

    def __init__(self, *, acc_bits, chunk=CHUNK, cols=1, control=False):
        self.dut = _ProbedRequantizer(cols=cols, acc_bits=acc_bits, out_bits=8, out_signed=True,
                                      rounding="double", per_channel=False, chunk=chunk)
        self.control = control
        self.domain = ClockDomain("sync", reset_less=True)

    def ports(self):
        return [self.domain.clk]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        m.submodules.dut = dut = self.dut
        m0, drive = _parameters(m, dut, free=False)
        en, valid = _enables(m, dut, self.control, first=drive)
        vq = _valid_chain(m, en, valid, PRODUCT_STAGE)
        for c in range(dut.cols):
            acc = _free(m, signed(dut.acc_bits), f"acc_{c}")
            m.d.comb += dut.acc[c].eq(acc)
            wide_acc = Signal(signed(dut.acc_bits + 1), name=f"ref_acc_{c}")
            wide_m0 = Signal(signed(33), name=f"ref_m_{c}")
            m.d.comb += [wide_acc.eq(acc), wide_m0.eq(m0[:31])]
            want = Signal(signed(dut.acc_bits + M0_BITS - 1), name=f"ref_product_{c}")
            m.d.comb += want.eq(wide_acc * wide_m0)
            p_ref = _reference_pipeline(m, want, en, vq[-1], PRODUCT_STAGE, f"ref_p_{c}",
                                        f"obs_ref_{c}")
            hw_p = Signal(p_ref.shape(), name=f"obs_hw_{c}")
            m.d.comb += [hw_p.eq(dut.p_q[c]), Assert(hw_p == p_ref)]
        return m


class ClampLemma(Elaboratable):
    """A lemma about the reference alone (no hardware, combinational): for every ``value`` of
    ``value_bits`` bits and every ``y_zp``, ``act_min``, ``act_max``,
    ``clamp_reference(value) == clamp_reference(clamp_window(value))`` — what lets the
    rounding segment compare the rounded values through :func:`clamp_window` only."""

    def __init__(self, *, value_bits, out_bits, out_signed, window_bits=None):
        self.value_bits, self.out_bits, self.out_signed = value_bits, out_bits, out_signed
        #: test only: the window of another ``out_bits`` (a narrower one must fail)
        self.window_bits = out_bits if window_bits is None else window_bits

    def ports(self):
        return []

    def elaborate(self, platform):
        m = Module()
        value = _free(m, signed(self.value_bits), "value")
        params = [_free(m, signed(self.out_bits + 1), n) for n in ("y_zp", "act_min", "act_max")]
        full = Signal(signed(self.out_bits + 1), name="obs_ref_0")
        seen = Signal(signed(self.out_bits + 1), name="obs_hw_0")
        m.d.comb += [full.eq(clamp_reference(value, *params, self.out_bits, self.out_signed)),
                     seen.eq(clamp_reference(clamp_window(value, self.window_bits), *params,
                                             self.out_bits, self.out_signed)),
                     Assert(full == seen)]
        return m


class AccumulatorMiter(Elaboratable):
    """``AccumulatorBank`` vs one :class:`AccumulatorReference` per lane, every input free."""

    def __init__(self, *, cols, psum_bits, acc_bits, overflow):
        self.dut = AccumulatorBank(cols=cols, psum_bits=psum_bits, acc_bits=acc_bits,
                                   overflow=overflow)
        self.domain = ClockDomain("sync", reset_less=True)

    def ports(self):
        return [self.domain.clk]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        m.submodules.dut = dut = self.dut
        ctl = {n: _free(m, 1, n) for n in ("en", "valid", "first", "last", "clear", "bias_en")}
        for n, s in ctl.items():
            m.d.comb += getattr(dut, n).eq(s)
        bias_col = _free(m, dut.COL_BITS, "bias_col")
        bias_data = _free(m, signed(dut.acc_bits), "bias_data")
        m.d.comb += [dut.bias_col.eq(bias_col), dut.bias_data.eq(bias_data)]
        valid_q = Signal(name="ref_acc_valid")
        with m.If(ctl["en"]):
            m.d.sync += valid_q.eq(ctl["valid"] & ctl["last"])
        m.d.comb += Assert(dut.acc_valid == valid_q)
        for c in range(dut.cols):
            ref = AccumulatorReference(psum_bits=dut.psum_bits, acc_bits=dut.acc_bits,
                                       overflow=dut.overflow)
            m.submodules[f"ref_{c}"] = ref
            psum = _free(m, signed(dut.psum_bits), f"psum_{c}")
            bias = Signal(signed(dut.acc_bits), name=f"ref_bias_{c}")
            with m.If(ctl["bias_en"] & (bias_col == c)):
                m.d.sync += bias.eq(bias_data)
            m.d.comb += [dut.psum[c].eq(psum), ref.psum.eq(psum), ref.bias.eq(bias)]
            m.d.comb += [getattr(ref, n).eq(ctl[n])
                         for n in ("en", "valid", "first", "last", "clear")]
            hw = {"acc": Signal(signed(dut.acc_bits), name=f"obs_hw_acc_{c}"),
                  "ovf": Signal(name=f"obs_hw_ovf_{c}"), "sticky": Signal(name=f"obs_hw_sticky_{c}")}
            m.d.comb += [hw["acc"].eq(dut.acc[c]), hw["ovf"].eq(dut.ovf[c]),
                         hw["sticky"].eq(dut.ovf_sticky[c])]
            for n in hw:
                obs = Signal(hw[n].shape(), name=f"obs_ref_{n}_{c}")
                m.d.comb += [obs.eq(getattr(ref, n)), Assert(hw[n] == obs)]
        return m
