"""Bank of per-channel accumulators with bias preload and overflow detection."""

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from constraints.vocab import PIPELINES

from ._util import add, ceil_log2, check_choice, check_int, eq_const, fits, saturate, wire

__all__ = ["AccumulatorBank", "OVERFLOW_POLICIES"]

OVERFLOW_POLICIES = ("wrap", "saturate")


class AccumulatorBank(wiring.Component):
    """``cols`` signed accumulators of ``acc_bits`` bits, fed by signed partial sums.

    Engine-agnostic: any engine delivering ``cols`` partial sums of ``psum_bits`` signed bits
    per beat (the MAC array, the crossbar) can feed it. A beat with ``first`` set starts an
    accumulation, loading ``bias + psum``; later beats add ``psum``; a beat with ``last`` set
    (it may also be ``first``) completes it, and the result appears on ``acc``/``ovf`` with
    ``acc_valid`` ``LATENCY`` = 1 enabled cycle later.

    Overflow (``docs/design.md``): each addition (``bias + psum`` on the first beat is one
    addition) is computed exactly; if the sum leaves ``[-2**(acc_bits-1), 2**(acc_bits-1)-1]``
    the lane's overflow flag of this accumulation is set, and the stored value is the sum
    modulo ``2**acc_bits`` (``"wrap"``) or the sum clamped to the range (``"saturate"``).

    Parameters
    ----------
    cols : int
        Number of lanes C, in [1, 256].
    psum_bits : int
        Width of the signed partial sums, in [2, 64].
    acc_bits : int
        Width of the signed accumulators and biases, in [2, 64].
    overflow : str
        ``"wrap"`` or ``"saturate"``.
    pipeline : str
        ``"standard"`` (default) or ``"deep"`` (``timing.pipeline``): the same cycle
        behaviour, but each lane computes ``bias + psum`` and ``acc + psum`` side by side and
        ``first`` selects between the two results (one more adder per lane), so ``first``
        no longer drives every adder input (``"standard"``: ``first`` selects the addend).

    Attributes
    ----------
    LATENCY : int
        Class constant, 1: the beat's sum is registered in the accumulator (stage 1), which
        drives ``acc`` directly.
    COL_BITS : int
        Width of ``bias_col``, ``max(1, ceil(log2 C))``.

    Members
    -------
    en : ``In(1)``
        Pipeline enable (global stall when low): accumulators, flags and ``acc_valid`` hold.
    valid : ``In(1)``
        A beat is present (sampled when ``en`` is high); beats without ``valid`` are bubbles.
    first : ``In(1)``
        The beat starts an accumulation (bias preload, fresh overflow flags).
    last : ``In(1)``
        The beat completes an accumulation.
    psum : ``In(data.ArrayLayout(signed(psum_bits), C))``
        The beat's partial sums.
    acc_valid : ``Out(1)``
        ``acc`` and ``ovf`` hold a completed accumulation (one cycle per ``last`` beat, held
        while ``en`` is low).
    acc : ``Out(data.ArrayLayout(signed(acc_bits), C))``
        Accumulator values (the completed results while ``acc_valid``).
    ovf : ``Out(C)``
        Per-lane overflow flags of the accumulation on ``acc``.
    ovf_sticky : ``Out(C)``
        OR of the ``ovf`` flags of every completed accumulation since reset or the last
        ``clear``; it is updated at the same edge that raises ``acc_valid``.
    bias_en : ``In(1)``
        Bias write strobe: ``bias_data`` becomes lane ``bias_col``'s bias at the next edge
        (ignored for ``bias_col ≥ C``; independent of ``en``). Biases reset to 0.
    bias_col : ``In(COL_BITS)``
        Lane of the bias write.
    bias_data : ``In(signed(acc_bits))``
        Bias value.
    clear : ``In(1)``
        Clears ``ovf_sticky`` at the next edge (flags of an accumulation completing at the
        same edge are kept). Independent of ``en``.

    A beat without ``first`` after reset adds to the reset value 0. No backpressure of its
    own: the caller's ``en`` stalls the bank.
    """

    LATENCY = 1

    def __init__(self, *, cols, psum_bits, acc_bits, overflow, pipeline="standard"):
        owner = type(self).__name__
        self.pipeline = check_choice(owner, "pipeline", pipeline, PIPELINES)
        self.cols = check_int(owner, "cols", cols, 1, 256)
        self.psum_bits = check_int(owner, "psum_bits", psum_bits, 2, 64)
        self.acc_bits = check_int(owner, "acc_bits", acc_bits, 2, 64)
        self.overflow = check_choice(owner, "overflow", overflow, OVERFLOW_POLICIES)
        self.COL_BITS = max(1, ceil_log2(self.cols))
        super().__init__({
            "en": In(1),
            "valid": In(1),
            "first": In(1),
            "last": In(1),
            "psum": In(data.ArrayLayout(signed(self.psum_bits), self.cols)),
            "acc_valid": Out(1),
            "acc": Out(data.ArrayLayout(signed(self.acc_bits), self.cols)),
            "ovf": Out(self.cols),
            "ovf_sticky": Out(self.cols),
            "bias_en": In(1),
            "bias_col": In(self.COL_BITS),
            "bias_data": In(signed(self.acc_bits)),
            "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cols, acc_bits = self.cols, self.acc_bits
        sum_bits = max(acc_bits, self.psum_bits) + 1

        acc_valid_q = Signal(name="acc_valid_q")
        ovf_sticky_q = Signal(cols, name="ovf_sticky_q")
        ovf_new = Signal(cols, name="ovf_new")
        m.d.comb += [
            self.acc_valid.eq(acc_valid_q),
            self.ovf_sticky.eq(ovf_sticky_q),
        ]
        with m.If(self.en):
            m.d.sync += acc_valid_q.eq(self.valid & self.last)

        for c in range(cols):
            bias_q = Signal(signed(acc_bits), name=f"bias_q_{c}")
            with m.If(self.bias_en & eq_const(self.bias_col, c)):
                m.d.sync += bias_q.eq(self.bias_data)

            acc_q = Signal(signed(acc_bits), name=f"acc_q_{c}")
            ovf_q = Signal(name=f"ovf_q_{c}")
            # stage 1: one exact addition, overflow check, wrap or saturate.
            if self.pipeline == "deep":
                fresh_ok, fresh = self._sum(m, bias_q, self.psum[c], sum_bits, c, "fresh_")
                more_ok, more = self._sum(m, acc_q, self.psum[c], sum_bits, c)
                stored = Mux(self.first, fresh, more)
                m.d.comb += ovf_new[c].eq(Mux(self.first, ~fresh_ok, ovf_q | ~more_ok))
            else:
                base = Mux(self.first, bias_q, acc_q)
                base = wire(m, base, f"base_{c}")
                in_range, stored = self._sum(m, base, self.psum[c], sum_bits, c)
                m.d.comb += ovf_new[c].eq((ovf_q & ~self.first) | ~in_range)
            with m.If(self.en & self.valid):
                m.d.sync += [acc_q.eq(stored), ovf_q.eq(ovf_new[c])]
            m.d.comb += [self.acc[c].eq(acc_q), self.ovf[c].eq(ovf_q)]

        completes = self.en & self.valid & self.last
        sticky = Mux(self.clear, Const(0, cols), ovf_sticky_q)
        m.d.sync += ovf_sticky_q.eq(sticky | Mux(completes, ovf_new, Const(0, cols)))
        return m

    def _sum(self, m, base, psum, sum_bits, c, prefix=""):
        """``(in_range, stored)`` of lane ``c``'s exact sum ``base + psum``: whether it fits
        ``acc_bits``, and the value stored (wrapped or saturated)."""
        total = add(m, base, psum, sum_bits, name=f"{prefix}sum_{c}")
        in_range = fits(m, total, self.acc_bits, name=f"{prefix}fits_{c}")
        if self.overflow == "wrap":
            return in_range, total[:self.acc_bits].as_signed()
        return in_range, saturate(m, total, self.acc_bits, name=f"{prefix}sat_{c}")
