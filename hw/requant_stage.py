"""Back end shared by every compute engine: accumulator bank → requantizer → output stream,
with their load-mapped parameter registers and the sticky overflow flags."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from constraints.loadmap import REGION_BITS, REGIONS, SCALAR_INDEX

from ._util import check_bool, check_choice, check_fault, check_int, eq_const, int_range, lt
from .accumulator_bank import OVERFLOW_POLICIES, AccumulatorBank
from .requantizer import FAULTS, M0_BITS, ROUNDINGS, SHIFT_BITS, Requantizer

__all__ = ["RequantStage", "address_map", "REGIONS", "REGION_BITS", "SCALAR_INDEX", "RESET_M0",
           "RESET_SHIFT"]

#: Load address regions (``addr = region << INDEX_BITS | index``, the contract's load map,
#: ``constraints/loadmap.py``) of every datapath top. ``WEIGHTS`` belongs to the engine;
#: ``BIAS`` … ``SCALARS`` are decoded here; :data:`SCALAR_INDEX` inside ``SCALARS``.
#: Reset value of every ``M0``/``SHIFT`` register: multiplier 2**30 · 2**1 / 2**31 = 1.0.
RESET_M0, RESET_SHIFT = 1 << 30, 1


class RequantStage(wiring.Component):
    """The part of a datapath after its compute engine: ``C`` accumulators, ``C``
    requantizers, the registered ``o_data`` stream and ``o_ovf_sticky``.

    Engine-agnostic: the MAC array (:class:`hw.datapath.Datapath`) and the crossbar engine
    (:class:`hw.crossbar_datapath.CrossbarDatapath`) both feed it partial sums, so the two
    tops have one accumulate / requantize / output / flag behaviour, not two copies.

    Parameters
    ----------
    cols : int
        Number of lanes C, in [1, 256].
    psum_bits : int
        Width of the engine's signed partial sums, in [2, 64].
    acc_bits, overflow, out_bits, out_signed, rounding, per_channel
        As :class:`hw.datapath.Datapath`.
    index_bits : int
        Width of the load index (``p_index``), in [1, 20] (``ceil(log2(T·C))`` of a top with
        T ≤ 4096 tiles and C ≤ 256 columns).
    pipeline, dsp
        Passed to the requantizer (:class:`hw.requantizer.Requantizer`; ``"deep"``: latency
        +1); ``pipeline`` also to the accumulator bank (same latency).
    inject_fault : str or None
        Test only: a :data:`hw.requantizer.FAULTS` entry, passed to the requantizer.

    Attributes
    ----------
    LATENCY : int
        Class constant, ``AccumulatorBank.LATENCY + Requantizer.LATENCY`` = 13 (an instance
        attribute of 14 with ``pipeline="deep"``): cycles from the
        enabled edge that samples a ``last`` beat on ``valid``/``last`` to the cycle its
        result is valid on ``o_data`` (the last requantizer stage is the output register).
    P_DATA_BITS : int
        Width of ``p_data``, ``max(acc_bits, 32, out_bits + 1)``.
    OutBeat : data.StructLayout
        ``{y: unsigned(C·out_bits), ovf: unsigned(C)}``, lane ``c`` of ``y`` at bits
        ``c·out_bits``.

    Members
    -------
    en : ``Out(1)``
        Pipeline enable, ``~(o_data.valid & ~o_data.ready)``: low while the output register
        holds a beat nobody takes. The engine in front stalls with it (global stall).
    valid, first, last : ``In(1)``
        The engine's beat: present, starts an accumulation (bias preload), completes one.
        Sampled at edges where ``en`` is high.
    psum : ``In(data.ArrayLayout(signed(psum_bits), C))``
        The beat's partial sums.
    p_we : ``In(1)``
        A load beat is accepted this cycle. It is registered at the next edge and written
        at the edge after that (independent of ``en``), so a data beat accepted after the
        load beat sees it: the engine takes at least 2 cycles to deliver it. The sticky
        clear (visible on ``o_ovf_sticky``) takes effect at the next edge. The caller only
        accepts loads while ``busy`` is low.
    p_region : ``In(REGION_BITS)``, p_index : ``In(index_bits)``, p_data : ``In(P_DATA_BITS)``
        Address region, index and data of the load beat; regions ``BIAS``, ``M0``,
        ``SHIFT`` and ``SCALARS`` (:data:`REGIONS`, :data:`SCALAR_INDEX`) are decoded here,
        every other region and out-of-range index is ignored.
    busy : ``Out(1)``
        A beat is in the bank or the requantizer (including a valid ``o_data`` beat).
    o_data : ``Out(stream.Signature(OutBeat))``
        One beat per ``last`` beat, in order, ``LATENCY`` enabled cycles after it. Registered;
        while ``valid`` is low the payload holds the last beat.
    o_ovf_sticky : ``Out(C)``
        OR of the ``ovf`` flags of every ``o_data`` beat presented since reset or the last
        clear (``SCALARS`` index 3); updated at the edge that raises the beat's ``valid``,
        so it never runs ahead of ``o_data``.
    """

    LATENCY = AccumulatorBank.LATENCY + Requantizer.LATENCY

    def __init__(self, *, cols, psum_bits, acc_bits, overflow, out_bits, out_signed, rounding,
                 per_channel, index_bits, pipeline="standard", dsp=None, inject_fault=None):
        owner = type(self).__name__
        self.cols = check_int(owner, "cols", cols, 1, 256)
        self.psum_bits = check_int(owner, "psum_bits", psum_bits, 2, 64)
        self.acc_bits = check_int(owner, "acc_bits", acc_bits, 2, 64)
        self.overflow = check_choice(owner, "overflow", overflow, OVERFLOW_POLICIES)
        self.out_bits = check_int(owner, "out_bits", out_bits, 2, 16)
        self.out_signed = check_bool(owner, "out_signed", out_signed)
        self.rounding = check_choice(owner, "rounding", rounding, ROUNDINGS)
        self.per_channel = check_bool(owner, "per_channel", per_channel)
        self.index_bits = check_int(owner, "index_bits", index_bits, 1, 20)
        self.inject_fault = check_fault(owner, inject_fault, FAULTS)
        self.pipeline, self.dsp = pipeline, dsp      # checked by the Requantizer
        if pipeline == "deep":
            self.LATENCY = AccumulatorBank.LATENCY + Requantizer.latency_for(pipeline)
        self.P_DATA_BITS = max(self.acc_bits, M0_BITS, self.out_bits + 1)
        self.OutBeat = data.StructLayout({
            "y": unsigned(self.cols * self.out_bits),
            "ovf": unsigned(self.cols),
        })
        super().__init__({
            "en": Out(1),
            "valid": In(1),
            "first": In(1),
            "last": In(1),
            "psum": In(data.ArrayLayout(signed(self.psum_bits), self.cols)),
            "p_we": In(1),
            "p_region": In(REGION_BITS),
            "p_index": In(self.index_bits),
            "p_data": In(self.P_DATA_BITS),
            "busy": Out(1),
            "o_data": Out(stream.Signature(self.OutBeat)),
            "o_ovf_sticky": Out(self.cols),
        })

    def elaborate(self, platform):
        m = Module()
        cols, out_bits = self.cols, self.out_bits

        m.submodules.bank = bank = AccumulatorBank(
            cols=cols, psum_bits=self.psum_bits, acc_bits=self.acc_bits,
            overflow=self.overflow, pipeline=self.pipeline)
        m.submodules.rq = rq = Requantizer(
            cols=cols, acc_bits=self.acc_bits, out_bits=out_bits, out_signed=self.out_signed,
            rounding=self.rounding, per_channel=self.per_channel,
            pipeline=self.pipeline, dsp=self.dsp, inject_fault=self.inject_fault)

        o_valid_q = Signal(name="o_valid_q")
        en = self.en
        m.d.comb += en.eq(~(o_valid_q & ~self.o_data.ready))
        clear = self._parameter_registers(m, bank, rq)

        # --- accumulate, requantize ---------------------------------------------------------
        m.d.comb += [
            bank.en.eq(en),
            bank.valid.eq(self.valid),
            bank.first.eq(self.first),
            bank.last.eq(self.last),
            bank.psum.eq(self.psum),
            rq.en.eq(en),
            rq.valid.eq(bank.acc_valid),
            rq.acc.eq(bank.acc),
        ]
        in_flight, ovf = self._flag_pipeline(m, bank, rq, o_valid_q, clear)
        m.d.comb += [
            self.busy.eq(self._busy(m, in_flight)),
            self.o_data.valid.eq(o_valid_q),
            self.o_data.payload.y.eq(rq.y.as_value()),
            self.o_data.payload.ovf.eq(ovf),
        ]
        return m

    def _parameter_registers(self, m, bank, rq):
        """The loads (``p_we`` / ``p_region`` / ``p_index`` / ``p_data``): bias into the bank,
        M0 and shift per lane, y_zp and the clamp bounds; returns the clear-sticky strobe."""
        cols, out_bits = self.cols, self.out_bits
        # The load beat is registered first: the write then takes effect one edge later,
        # from a flip-flop instead of from the ready/valid logic, which cuts the path
        # busy -> i_load.ready -> every parameter register's enable. Safe because every
        # parameter is read at least MacArray/engine latency (>= 2) cycles after a data
        # beat is accepted, and data beats are accepted only after the load beat.
        we_q = Signal(name="p_we_q")
        region_q = Signal(REGION_BITS, name="p_region_q", reset_less=True)
        index = Signal(self.index_bits, name="p_index_q", reset_less=True)
        ldata = Signal(self.P_DATA_BITS, name="p_data_q", reset_less=True)
        m.d.sync += we_q.eq(self.p_we)
        with m.If(self.p_we):
            m.d.sync += [region_q.eq(self.p_region), index.eq(self.p_index),
                         ldata.eq(self.p_data)]

        def to(region_name):
            return we_q & eq_const(region_q, REGIONS[region_name])

        def at(i, idx=index):
            return eq_const(idx, i) if i < 1 << self.index_bits else Const(0, 1)

        below_cols = (Const(1, 1) if cols >= 1 << self.index_bits else
                      lt(m, index, Const(cols, unsigned(self.index_bits + 1)), name="bias_ok"))
        m.d.comb += [
            bank.bias_en.eq(to("BIAS") & below_cols),
            bank.bias_col.eq(index[:bank.COL_BITS] if self.index_bits >= bank.COL_BITS else
                             Cat(index, Const(0, bank.COL_BITS - self.index_bits))),
            bank.bias_data.eq(ldata[:self.acc_bits]),
        ]
        # the sticky clear is visible on o_ovf_sticky: it takes effect at the next edge, from
        # the load beat itself (it drives only C flip-flops)
        clear = (self.p_we & eq_const(self.p_region, REGIONS["SCALARS"])
                 & at(SCALAR_INDEX["clear_sticky"], self.p_index))

        for c in range(cols if self.per_channel else 1):
            m0_q = Signal(M0_BITS, name=f"m0_q_{c}", init=RESET_M0)
            shift_q = Signal(signed(SHIFT_BITS), name=f"shift_q_{c}", init=RESET_SHIFT)
            with m.If(to("M0") & at(c)):
                m.d.sync += m0_q.eq(ldata[:M0_BITS])
            with m.If(to("SHIFT") & at(c)):
                m.d.sync += shift_q.eq(ldata[:SHIFT_BITS])
            if self.per_channel:
                m.d.comb += [rq.m0[c].eq(m0_q), rq.shift[c].eq(shift_q)]
            else:
                m.d.comb += [rq.m0.eq(m0_q), rq.shift.eq(shift_q)]

        out_lo, out_hi = int_range(out_bits, self.out_signed)
        for name, init in (("y_zp", 0), ("act_min", out_lo), ("act_max", out_hi)):
            reg = Signal(signed(out_bits + 1), name=f"{name}_q", init=init)
            with m.If(to("SCALARS") & at(SCALAR_INDEX[name])):
                m.d.sync += reg.eq(ldata[:out_bits + 1])
            m.d.comb += getattr(rq, name).eq(reg)
        return clear

    def _busy(self, m, in_flight):
        """``busy`` from a register (it gates i_load.ready and so every load enable): the OR
        of the flags' next values — with ``en``, what enters each stage (a last beat into
        the bank, each stage's flag into the next; the output register's leaves); without
        ``en``, everything holds. So it equals the OR of the flags in every cycle."""
        busy_q = Signal(name="busy_q")
        entering = Cat(self.valid & self.last, *in_flight[:-1]).any()
        m.d.sync += busy_q.eq(Mux(self.en, entering, busy_q))
        return busy_q

    def _flag_pipeline(self, m, bank, rq, o_valid_q, clear):
        """``Requantizer.LATENCY`` stages: valid and the overflow flags travel beside the
        values; the last stage is the output register (``o_valid_q``) with the sticky flags.
        Returns the valid bit of every stage and the output's overflow flags."""
        cols, en = self.cols, self.en
        in_flight = [bank.acc_valid]
        valid, ovf = bank.acc_valid, bank.ovf
        for stage in range(1, rq.LATENCY + 1):
            last_stage = stage == rq.LATENCY
            valid_q = o_valid_q if last_stage else Signal(name=f"rq_valid_q_{stage}")
            ovf_q = Signal(cols, name=f"rq_ovf_q_{stage}", reset_less=True)
            with m.If(en):
                m.d.sync += valid_q.eq(valid)
            with m.If(en & valid):          # flags move with valid results (like rq.y)
                m.d.sync += ovf_q.eq(ovf)
            in_flight.append(valid_q)
            if last_stage:
                # Sticky flags beside the output register (the bank's own sticky flags run
                # Requantizer.LATENCY cycles ahead of o_data and are not used). A clear is a
                # load, so it never coincides with a beat entering this stage.
                sticky_q = Signal(cols, name="ovf_sticky_q")
                with m.If(clear):
                    m.d.sync += sticky_q.eq(0)
                with m.Elif(en & valid):
                    m.d.sync += sticky_q.eq(sticky_q | ovf)
                m.d.comb += self.o_ovf_sticky.eq(sticky_q)
            valid, ovf = valid_q, ovf_q
        return in_flight, ovf


def address_map(*, cols, acc_bits, out_bits, out_signed, per_channel):
    """The ``BIAS`` … ``SCALARS`` entries of a top's load address map (plain data, for the
    manifest), for the :class:`RequantStage` of these parameters."""
    lanes = cols if per_channel else 1
    out_lo, out_hi = int_range(out_bits, out_signed)
    return {
        "BIAS": {"region": REGIONS["BIAS"], "index": "col", "entries": cols,
                 "data": f"signed bits [0, {acc_bits})", "reset": 0},
        "M0": {"region": REGIONS["M0"], "index": "col" if per_channel else "0",
               "entries": lanes, "data": f"bits [0, {M0_BITS})", "reset": RESET_M0},
        "SHIFT": {"region": REGIONS["SHIFT"], "index": "col" if per_channel else "0",
                  "entries": lanes, "data": f"signed bits [0, {SHIFT_BITS})",
                  "reset": RESET_SHIFT},
        "SCALARS": {"region": REGIONS["SCALARS"], "entries": 4, "index": dict(SCALAR_INDEX),
                    "data": f"signed bits [0, {out_bits + 1})",
                    "reset": {"y_zp": 0, "act_min": out_lo, "act_max": out_hi}},
    }
