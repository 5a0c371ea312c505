"""Top level: MAC array → accumulator bank → requantizer, with load and data streams."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring

from ._top import check_common, describe_common, from_record, load_widths, stream_members
from constraints.vocab import PIPELINES

from ._dsp import check_dsp
from ._util import check_choice, check_fault, divmod_const, eq_const, lt, wire
from .accumulator_bank import AccumulatorBank
from .mac_array import MacArray
from .requant_stage import (REGION_BITS, REGIONS, RESET_M0, RESET_SHIFT, SCALAR_INDEX,
                            RequantStage)
from .requantizer import FAULTS, Requantizer

__all__ = ["Datapath", "REGIONS", "REGION_BITS", "SCALAR_INDEX", "RESET_M0", "RESET_SHIFT"]


def beat_flags(m, en, flags, latency):
    """Stages 1..``latency`` (the MAC array's): a beat's ``(valid, first, last)`` travel
    beside it in registers enabled by ``en``; returns every stage's valid bit and the flags
    at the last stage."""
    in_flight = []
    valid, first, last = flags
    for st in range(1, latency + 1):
        valid_q = Signal(name=f"mac_valid_q_{st}")
        first_q = Signal(name=f"mac_first_q_{st}", reset_less=True)
        last_q = Signal(name=f"mac_last_q_{st}", reset_less=True)
        with m.If(en):
            m.d.sync += [valid_q.eq(valid), first_q.eq(first), last_q.eq(last)]
        in_flight.append(valid_q)
        valid, first, last = valid_q, first_q, last_q
    return in_flight, (valid, first, last)


class Datapath(wiring.Component):
    """Quantized matrix-vector datapath: ``R × C`` MAC array, ``C`` accumulators, ``C``
    requantizers, with the ports and load address map of ``docs/design.md``.

    Each accepted ``i_data`` beat multiplies the ``R`` raw inputs ``x`` by weight tile
    ``tile`` (``w' = w - w_zp``, stored by loads) and adds the ``C`` exact dot products to the
    accumulators (``first``: ``bias' + psum``); each ``last`` beat emits one ``o_data`` beat
    ``y[c] = clamp(mbqm(acc[c]) + y_zp, act_min, act_max)`` with the accumulation's overflow
    flags, ``LATENCY`` cycles after it was accepted when not stalled.

    Parameters
    ----------
    input_bits, weight_bits : int
        Operand widths A (inputs ``x``) and W (stored weights ``w'``), each in [2, 16].
    bits : int, optional
        Shorthand for ``input_bits = weight_bits = bits``.
    input_signed, weight_signed : bool
        Signedness of ``x`` and of the stored weights ``w'``.
    rows, cols : int
        R and C, each in [1, 256].
    weight_tiles : int
        T, number of R×C weight tiles held, in [1, 4096].
    acc_bits : int
        Accumulator width ``A + W + M``, in [A + W, 48].
    overflow : str
        ``"wrap"`` or ``"saturate"``.
    out_bits : int
        Output width, in [2, 16] (the range of ``golden``, which verifies it).
    out_signed : bool
        Signedness of the outputs.
    rounding : str
        ``"double"``, ``"single"`` or ``"ruy"``.
    per_channel : bool
        One ``M0``/``SHIFT`` register per column (``True``) or one shared (``False``).
    pipeline : str
        ``"standard"`` (default) or ``"deep"`` (``timing.pipeline``): the MAC array's
        registered weight write and extra stage (:class:`MacArray`, latency +1) and the
        requantizer's registered multiplier operands, two-level parameter decodes and split
        output stage (:class:`Requantizer`, latency +1).
    dsp : None or str
        ``"deep"`` only: ``"ecp5"`` builds every multiplier as a ``MULT18X18D`` with its
        input and output registers (``qmac synth --target ecp5``); same cycle behaviour.
    inject_fault : str or None
        Test only: ``"rounding_off_by_one"`` (see :class:`Requantizer`).

    Attributes
    ----------
    LATENCY : int
        Instance attribute: ``MacArray.LATENCY + AccumulatorBank.LATENCY +
        Requantizer.LATENCY`` = ``(2 + ceil(ceil(log2 R) / 2)) + 1 + 12`` (``"deep"``: two
        more, one in each), the number of cycles
        from the cycle a ``last`` beat is accepted on ``i_data`` to the cycle its result is
        valid on ``o_data`` when ``o_data`` is not stalled. No extra registers.
    THROUGHPUT : int
        Input beats (vectors) per cycle when not stalled: 1.
    INDEX_BITS, ADDR_BITS, LOAD_DATA_BITS, TILE_BITS : int
        Widths of the load index, load address, load data and tile fields.
    psum_bits, acc_bits : int
        Widths of the MAC array's exact dot products and of the accumulators.
    LoadBeat, DataBeat, OutBeat : data.StructLayout
        Payload layouts (fields from bit 0 up, in the order listed below).

    Members
    -------
    i_load : ``In(stream.Signature(LoadBeat))``
        ``LoadBeat = {addr: unsigned(ADDR_BITS), data: unsigned(LOAD_DATA_BITS)}``, with
        ``ADDR_BITS = INDEX_BITS + 3``, ``INDEX_BITS = max(2, ceil(log2(max(T·C, 4))))``,
        ``LOAD_DATA_BITS = max(R·W, acc_bits, 32)``. ``ready`` is high only while no beat is
        in flight anywhere in the pipeline (including an ``o_data`` beat waiting for
        ``ready``). A beat takes effect at the edge that accepts it. Address map
        (``addr = region << INDEX_BITS | index``):

        * region 0 ``WEIGHTS``: index ``tile·C + col``; ``data[r·W +: W]`` = ``w'[r]``;
        * region 1 ``BIAS``: index ``col``; ``data[0 +: acc_bits]`` signed (reset 0);
        * region 2 ``M0``: index ``col`` (per-tensor: 0); ``data[0 +: 32]`` (reset 2**30; bit
          31 is ignored: ``m0 < 2**31``);
        * region 3 ``SHIFT``: index ``col`` (per-tensor: 0); ``data[0 +: 6]`` signed (reset 1;
          31 and −32 act as 30 and −31);
        * region 4 ``SCALARS``: index 0 ``y_zp``, 1 ``act_min``, 2 ``act_max``
          (``data[0 +: out_bits + 1]`` signed; reset 0, output minimum, output maximum),
          3 clears ``o_ovf_sticky`` (data ignored).

        Writes to regions 5–7 or to indices beyond a region are accepted and ignored. At
        reset the requantizer is the identity (``M0``, ``SHIFT`` = 1.0), clamped to the
        output range; the weight memory is not reset.
    i_data : ``In(stream.Signature(DataBeat))``
        ``DataBeat = {x: unsigned(R·A), tile: unsigned(TILE_BITS), first: 1, last: 1}``;
        ``x[r]`` at bits ``r·A`` (signed per ``input_signed``), ``TILE_BITS =
        max(1, ceil(log2 T))``, ``tile < T``. ``ready = ~stall & ~i_load.valid``: a pending
        load is a barrier (data waits while ``i_load.valid``, the load waits for the pipeline
        to drain), so loads and data keep their order whatever the drivers do.
    o_data : ``Out(stream.Signature(OutBeat))``
        ``OutBeat = {y: unsigned(C·out_bits), ovf: unsigned(C)}``, lane ``c`` of ``y`` at
        bits ``c·out_bits``; one beat per ``last`` input beat, in order. Registered; while
        ``valid`` is low the payload holds the last beat (the requantizer's stages load only
        valid results).
    o_ovf_sticky : ``Out(C)``
        OR of the ``ovf`` flags of every ``o_data`` beat presented (``valid``) since reset or
        the last clear: it is updated at the clock edge that raises the beat's ``valid``
        (registered next to the output register, so it never runs ahead of ``o_data``).

    Backpressure: global stall. ``stall = o_data.valid & ~o_data.ready``; while it is high
    every pipeline register holds and ``i_data.ready`` is low (a combinational path from
    ``o_data.ready`` to ``i_data.ready``). Throughput one beat per cycle otherwise.

    Clock domain ``sync`` (Verilog ``clk``), active-high synchronous reset ``rst``. The
    Verilog ports are the flattened members: ``i_load__payload`` (``addr`` in the low bits),
    ``i_load__valid``, ``i_load__ready``, ``i_data__payload``, ``i_data__valid``,
    ``i_data__ready``, ``o_data__payload``, ``o_data__valid``, ``o_data__ready``,
    ``o_ovf_sticky``.

    Verified (``tests/hw``): bit-exact against ``golden.datapath.datapath_model`` end to end
    with random gaps and backpressure (every beat once, in order; handshake rules and sticky
    flags checked every cycle); each block against its golden model (exhaustive operand
    space for N ≤ 6, requantizer edge cases and seeded randoms for every rounding); and
    lint-clean Verilog (``verilator --lint-only``) for N = 2..16, every option and every
    (A, W) in 2..16 × 2..16 (``tests/hw/test_generate_mixed.py``).
    """

    THROUGHPUT = 1

    def __init__(self, *, bits=None, input_bits=None, weight_bits=None, input_signed,
                 weight_signed, rows, cols, weight_tiles, acc_bits, overflow, out_bits,
                 out_signed, rounding, per_channel, pipeline="standard", dsp=None,
                 inject_fault=None):
        check_common(self, bits=bits, input_bits=input_bits, weight_bits=weight_bits,
                     input_signed=input_signed, weight_signed=weight_signed,
                     rows=rows, cols=cols, weight_tiles=weight_tiles, acc_bits=acc_bits,
                     overflow=overflow, out_bits=out_bits, out_signed=out_signed,
                     rounding=rounding, per_channel=per_channel)
        self.inject_fault = check_fault(type(self).__name__, inject_fault, FAULTS)
        self.pipeline = check_choice(type(self).__name__, "pipeline", pipeline, PIPELINES)
        self.dsp = check_dsp(type(self).__name__, dsp)
        if self.dsp is not None and self.pipeline != "deep":
            raise ValueError(f"Datapath: dsp={dsp!r} with pipeline={pipeline!r} is not "
                             f"allowed; allowed: dsp=None, or pipeline='deep'")

        r = self.rows
        self.psum_bits = MacArray.psum_bits_for(
            input_bits=self.input_bits, weight_bits=self.weight_bits,
            input_signed=input_signed, weight_signed=weight_signed, rows=r)
        load_widths(self)
        self.latency_breakdown = {
            "mac_array": MacArray.latency_for(rows=r, pipeline=self.pipeline),
            "accumulator_bank": AccumulatorBank.LATENCY,
            "requantizer": Requantizer.latency_for(self.pipeline),
        }
        self.LATENCY = sum(self.latency_breakdown.values())

        super().__init__(stream_members(self))

    #: ``Datapath.from_record(record, inject_fault=None)``: built from a
    #: ``constraints.DatapathRecord`` and checked against its widths.
    from_record = classmethod(from_record)

    def _requant_stage(self):
        return RequantStage(
            cols=self.cols, psum_bits=self.psum_bits, acc_bits=self.acc_bits,
            overflow=self.overflow, out_bits=self.out_bits, out_signed=self.out_signed,
            rounding=self.rounding, per_channel=self.per_channel, index_bits=self.INDEX_BITS,
            pipeline=self.pipeline, dsp=self.dsp, inject_fault=self.inject_fault)

    def describe(self):
        """Plain-data summary (widths, latency, address map) for the JSON manifest."""
        return describe_common(
            self, parameters={"inject_fault": self.inject_fault, "pipeline": self.pipeline},
            timing={"throughput_beats_per_cycle": self.THROUGHPUT}, extra={}, regions={},
            payloads={})

    def elaborate(self, platform):
        m = Module()
        w, rows, cols, tiles = self.weight_bits, self.rows, self.cols, self.weight_tiles

        m.submodules.mac = mac = MacArray(
            input_bits=self.input_bits, weight_bits=w, input_signed=self.input_signed,
            weight_signed=self.weight_signed, rows=rows, cols=cols, weight_tiles=tiles,
            pipeline=self.pipeline, dsp=self.dsp)
        m.submodules.stage = stage = self._requant_stage()
        assert mac.psum_bits == self.psum_bits and mac.LATENCY == self.latency_breakdown[
            "mac_array"]
        en = stage.en               # global stall: the output register holds a beat

        # --- loads: weights here, every other region in the RequantStage --------------------
        busy = Signal(name="busy")
        m.d.comb += self.i_load.ready.eq(~busy)
        load = self.i_load.valid & ~busy
        addr = self.i_load.payload.addr
        ldata = self.i_load.payload.data
        index = wire(m, addr[:self.INDEX_BITS], "index")
        region = wire(m, addr[self.INDEX_BITS:], "region")
        below = (Const(1, 1) if tiles * cols >= 1 << self.INDEX_BITS else
                 lt(m, index, Const(tiles * cols, unsigned(self.INDEX_BITS + 1)), name="w_ok"))
        w_tile, w_col = divmod_const(m, index, cols, (1 << self.INDEX_BITS) - 1, name="w_index")
        m.d.comb += [
            mac.w_en.eq(load & eq_const(region, REGIONS["WEIGHTS"]) & below),
            mac.w_tile.eq(w_tile[:mac.TILE_BITS]),
            mac.w_col.eq(w_col[:mac.COL_BITS]),
            mac.w_data.eq(ldata[:rows * w]),
            stage.p_we.eq(load),
            stage.p_region.eq(region),
            stage.p_index.eq(index),
            stage.p_data.eq(ldata),
        ]

        # --- data pipeline --------------------------------------------------------------
        m.d.comb += self.i_data.ready.eq(en & ~self.i_load.valid)
        accept = self.i_data.valid & self.i_data.ready
        beat = self.i_data.payload
        m.d.comb += [
            mac.en.eq(en),
            mac.x.eq(beat.x),
            mac.tile.eq(beat.tile),
        ]

        in_flight, (valid, first, last) = beat_flags(
            m, en, (accept, beat.first, beat.last), mac.LATENCY)

        # busy of the MAC stages from a register (it gates i_load.ready): the OR of their
        # flags' next values (en: the accepted beat and every flag but the last, which
        # leaves into the RequantStage's own busy; no en: they hold), equal to the OR of
        # the flags in every cycle.
        mac_busy_q = Signal(name="mac_busy_q")
        m.d.sync += mac_busy_q.eq(Mux(en, Cat(accept, *in_flight[:-1]).any(), mac_busy_q))

        # then the accumulator bank, the requantizer and the output register
        m.d.comb += [
            stage.valid.eq(valid),
            stage.first.eq(first),
            stage.last.eq(last),
            stage.psum.eq(mac.psum),
            busy.eq(mac_busy_q | stage.busy),
        ]
        wiring.connect(m, stage.o_data, wiring.flipped(self.o_data))
        m.d.comb += self.o_ovf_sticky.eq(stage.o_ovf_sticky)
        return m
