"""Miters: a hardware component and its reference model side by side, one assertion per output.

Every free input is an ``AnySeq`` (a new value each cycle) or ``AnyConst`` (one value for the
whole trace: the quasi-static parameters). The miter's ``sync`` domain has no reset, so the
trace starts from the registers' initial values (= their reset values). Names of the free
signals start with ``free_`` so :mod:`sim.formal.prove` can read them back from a trace.
"""

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Assume, ClockDomain, Elaboratable, Module, Signal, signed

from hw.accumulator_bank import AccumulatorBank
from hw.requantizer import Requantizer

from .reference import AccumulatorReference, RequantReference

__all__ = ["RequantMiter", "AccumulatorMiter"]


def _free(m, shape, name, const=False):
    sig = Signal(shape, name=f"free_{name}")
    m.d.comb += sig.eq((AnyConst if const else AnySeq)(shape))
    return sig


class RequantMiter(Elaboratable):
    """``Requantizer`` vs :class:`RequantReference` behind a pipeline of ``LATENCY`` stages.

    Parameters
    ----------
    cols, acc_bits, out_bits, out_signed, rounding, per_channel
        The ``Requantizer`` instance to prove.
    product : str
        ``"shared"``: the reference is fed the product ``acc·m0[:31]`` written as the same
        Amaranth expression as the hardware's (one exact ``$mul`` of the full widths; what is
        proved independently is everything after it). ``"independent"``: the reference
        forms the product itself from operands it sign-/zero-extends by one more bit (a
        different ``$mul`` than the hardware's), so the hardware's
        multiplier (widths, signedness) is proved too (small ``acc_bits`` only).
    control : bool
        ``en`` and ``valid`` free every cycle (stalls, bubbles) instead of constant 1.
    """

    def __init__(self, *, cols, acc_bits, out_bits, out_signed, rounding, per_channel,
                 product="shared", control=False):
        self.dut = Requantizer(cols=cols, acc_bits=acc_bits, out_bits=out_bits,
                               out_signed=out_signed, rounding=rounding,
                               per_channel=per_channel)
        self.product, self.control = product, control
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

    def _lane_ref(self, m, dut, c):
        acc = _free(m, signed(dut.acc_bits), f"acc_{c}")
        m.d.comb += dut.acc[c].eq(acc)
        m0 = dut.m0[c] if dut.per_channel else dut.m0
        if self.product == "shared":
            product = Signal(signed(dut.acc_bits + 32), name=f"product_{c}")
            m.d.comb += product.eq(acc * m0[:31])
            lo, hi = -(1 << (dut.acc_bits - 1)), (1 << (dut.acc_bits - 1)) - 1
            m.d.comb += Assume((product >= lo * (2**31 - 1)) & (product <= hi * (2**31 - 1)))
        else:
            wide_acc = Signal(signed(dut.acc_bits + 1), name=f"ref_acc_{c}")
            wide_m0 = Signal(signed(33), name=f"ref_m_{c}")
            m.d.comb += [wide_acc.eq(acc), wide_m0.eq(m0[:31])]
            product = wide_acc * wide_m0
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
        # the specified timing: a valid value appears on y LATENCY enabled cycles later and
        # y holds otherwise (LATENCY - 1 stages of (valid, value), then the output register)
        stages = dut.LATENCY - 1
        vq = [Signal(name=f"ref_valid_{i}") for i in range(stages)]
        for c in range(dut.cols):
            y_now = self._lane_ref(m, dut, c)
            yq = [Signal(y_now.shape(), name=f"ref_y_{c}_{i}") for i in range(stages)]
            yq.append(Signal(y_now.shape(), name=f"obs_ref_{c}"))
            with m.If(en):
                m.d.sync += yq[0].eq(y_now)
                m.d.sync += [yq[i].eq(yq[i - 1]) for i in range(1, stages)]
                with m.If(vq[-1]):
                    m.d.sync += yq[-1].eq(yq[-2])
            hw_y = Signal(y_now.shape(), name=f"obs_hw_{c}")
            m.d.comb += [hw_y.eq(dut.y[c]), Assert(hw_y == yq[-1])]
        with m.If(en):
            m.d.sync += vq[0].eq(valid)
            m.d.sync += [vq[i].eq(vq[i - 1]) for i in range(1, stages)]
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
