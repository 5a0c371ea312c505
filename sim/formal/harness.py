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

from .reference import AccumulatorReference, RequantReference

__all__ = ["RequantMiter", "MultiplierMiter", "AccumulatorMiter", "PRODUCT_STAGE"]


def _free(m, shape, name, const=False):
    sig = Signal(shape, name=f"free_{name}")
    m.d.comb += sig.eq((AnyConst if const else AnySeq)(shape))
    return sig


class _CutRequantizer(Requantizer):
    """The requantizer with its multiplier (stages 0-3) cut out: the stage-3 register ``p_q``
    loads ``products[c]``, a value the miter chooses (the product abstraction). Everything
    after ``p_q`` is the hardware's own code."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        shape = signed(self.acc_bits + M0_BITS - 1)
        self.products = [Signal(shape, name=f"product_{c}") for c in range(self.cols)]

    def _multiply(self, m, load, acc, m0, c):
        return self._stage(m, load[2], self.products[c], f"p_q_{c}", self.products[c].shape())


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


#: The requantizer's stage whose register holds the product ``P`` (stages 0-3 multiply).
PRODUCT_STAGE = 3


class RequantMiter(Elaboratable):
    """``Requantizer`` vs :class:`RequantReference` behind a pipeline of ``LATENCY`` stages.

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
    control : bool
        ``en`` and ``valid`` free every cycle (stalls, bubbles) instead of constant 1.
    """

    def __init__(self, *, cols, acc_bits, out_bits, out_signed, rounding, per_channel,
                 chunk=CHUNK, product="cut", control=False):
        kind = _CutRequantizer if product in ("cut", "operands") else Requantizer
        self.dut = kind(cols=cols, acc_bits=acc_bits, out_bits=out_bits,
                        out_signed=out_signed, rounding=rounding, per_channel=per_channel,
                        chunk=chunk)
        self.product, self.control = product, control
        self.entry = 0 if product == "independent" else PRODUCT_STAGE
        self.domain = ClockDomain("sync", reset_less=True)

    def _params(self, m, dut):
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

    def _product(self, m, dut, c):
        acc = _free(m, signed(dut.acc_bits), f"acc_{c}")
        m0 = dut.m0[c] if dut.per_channel else dut.m0
        if self.product == "independent":
            m.d.comb += dut.acc[c].eq(acc)
            wide_acc = Signal(signed(dut.acc_bits + 1), name=f"ref_acc_{c}")
            wide_m0 = Signal(signed(33), name=f"ref_m_{c}")
            m.d.comb += [wide_acc.eq(acc), wide_m0.eq(m0[:31])]
            return wide_acc * wide_m0
        product = dut.products[c]
        if self.product == "operands":
            m.d.comb += product.eq(acc * m0[:31])
        else:
            m.d.comb += product.eq(AnySeq(product.shape()))
            lo, hi = -(1 << (dut.acc_bits - 1)), (1 << (dut.acc_bits - 1)) - 1
            m.d.comb += Assume((product >= lo * (2**31 - 1)) & (product <= hi * (2**31 - 1)))
        return product

    def _lane_ref(self, m, dut, c):
        product = self._product(m, dut, c)
        ref = RequantReference(product_shape=product.shape(), out_bits=dut.out_bits,
                               out_signed=dut.out_signed, rounding=dut.rounding)
        m.submodules[f"ref_{c}"] = ref
        m.d.comb += [ref.product.eq(product), ref.y_zp.eq(dut.y_zp),
                     ref.act_min.eq(dut.act_min), ref.act_max.eq(dut.act_max),
                     ref.shift.eq(dut.shift[c] if dut.per_channel else dut.shift)]
        return ref.y

    def ports(self):
        return [self.domain.clk]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        m.submodules.dut = dut = self.dut
        self._params(m, dut)
        en = _free(m, 1, "en") if self.control else 1
        valid = _free(m, 1, "valid") if self.control else 1
        m.d.comb += [dut.en.eq(en), dut.valid.eq(valid)]
        # the specified timing: a valid value appears on y LATENCY enabled cycles after it
        # entered stage 0 (``self.entry`` stages fewer after it entered stage ``entry``) and
        # y holds otherwise
        vq = _valid_chain(m, en, valid, dut.LATENCY - 1)
        for c in range(dut.cols):
            y_ref = _reference_pipeline(m, self._lane_ref(m, dut, c), en, vq[-1],
                                        dut.LATENCY - 1 - self.entry, f"ref_y_{c}",
                                        f"obs_ref_{c}")
            hw_y = Signal(y_ref.shape(), name=f"obs_hw_{c}")
            m.d.comb += [hw_y.eq(dut.y[c]), Assert(hw_y == y_ref)]
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
        m0 = _free(m, 32, "m0", const=True)
        en = _free(m, 1, "en") if self.control else 1
        valid = _free(m, 1, "valid") if self.control else 1
        m.d.comb += [dut.m0.eq(m0), dut.en.eq(en), dut.valid.eq(valid)]
        for name in ("shift", "y_zp", "act_min", "act_max"):
            m.d.comb += getattr(dut, name).eq(0)
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
