"""Top level: MAC array → accumulator bank → requantizer, with load and data streams."""

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._util import (ceil_log2, check_bool, check_choice, check_fault, check_int, divmod_const,
                    eq_const, int_range, lt, wire)
from .accumulator_bank import OVERFLOW_POLICIES, AccumulatorBank
from .mac_array import MacArray
from .requantizer import FAULTS, ROUNDINGS, SHIFT_BITS, Requantizer

__all__ = ["Datapath", "REGIONS", "SCALAR_INDEX"]

#: Load address regions (``addr = region << INDEX_BITS | index``).
REGIONS = {"WEIGHTS": 0, "BIAS": 1, "M0": 2, "SHIFT": 3, "SCALARS": 4}
#: Indices inside the ``SCALARS`` region.
SCALAR_INDEX = {"y_zp": 0, "act_min": 1, "act_max": 2, "clear_sticky": 3}
REGION_BITS = 3
#: Reset value of every ``M0``/``SHIFT`` register: multiplier 2**30 · 2**1 / 2**31 = 1.0.
RESET_M0, RESET_SHIFT = 1 << 30, 1


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
    bits : int
        Operand width N, in [2, 16].
    input_signed, weight_signed : bool
        Signedness of ``x`` and of the stored weights ``w'``.
    rows, cols : int
        R and C, each in [1, 256].
    weight_tiles : int
        T, number of R×C weight tiles held, in [1, 4096].
    acc_bits : int
        Accumulator width ``2N + M``, in [2N, 64].
    overflow : str
        ``"wrap"`` or ``"saturate"``.
    out_bits : int
        Output width, in [2, 32].
    out_signed : bool
        Signedness of the outputs.
    rounding : str
        ``"double"``, ``"single"`` or ``"ruy"``.
    per_channel : bool
        One ``M0``/``SHIFT`` register per column (``True``) or one shared (``False``).
    inject_fault : str or None
        Test only: ``"rounding_off_by_one"`` (see :class:`Requantizer`).

    Attributes
    ----------
    LATENCY : int
        Instance attribute: ``MacArray.LATENCY + AccumulatorBank.LATENCY +
        Requantizer.LATENCY`` = ``(2 + ceil(ceil(log2 R) / 2)) + 1 + 4``, the number of cycles
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
        ``LOAD_DATA_BITS = max(R·N, acc_bits, 32)``. ``ready`` is high only while no beat is
        in flight anywhere in the pipeline (including an ``o_data`` beat waiting for
        ``ready``). A beat takes effect at the edge that accepts it. Address map
        (``addr = region << INDEX_BITS | index``):

        * region 0 ``WEIGHTS``: index ``tile·C + col``; ``data[r·N +: N]`` = ``w'[r]``;
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
        ``DataBeat = {x: unsigned(R·N), tile: unsigned(TILE_BITS), first: 1, last: 1}``;
        ``x[r]`` at bits ``r·N`` (signed per ``input_signed``), ``TILE_BITS =
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
    lint-clean Verilog (``verilator --lint-only``) for N = 2..16 and every option.
    """

    THROUGHPUT = 1

    def __init__(self, *, bits, input_signed, weight_signed, rows, cols, weight_tiles,
                 acc_bits, overflow, out_bits, out_signed, rounding, per_channel,
                 inject_fault=None):
        owner = type(self).__name__
        self.bits = check_int(owner, "bits", bits, 2, 16)
        self.input_signed = check_bool(owner, "input_signed", input_signed)
        self.weight_signed = check_bool(owner, "weight_signed", weight_signed)
        self.rows = check_int(owner, "rows", rows, 1, 256)
        self.cols = check_int(owner, "cols", cols, 1, 256)
        self.weight_tiles = check_int(owner, "weight_tiles", weight_tiles, 1, 4096)
        self.acc_bits = check_int(owner, "acc_bits", acc_bits, 2 * self.bits, 64)
        self.overflow = check_choice(owner, "overflow", overflow, OVERFLOW_POLICIES)
        self.out_bits = check_int(owner, "out_bits", out_bits, 2, 32)
        self.out_signed = check_bool(owner, "out_signed", out_signed)
        self.rounding = check_choice(owner, "rounding", rounding, ROUNDINGS)
        self.per_channel = check_bool(owner, "per_channel", per_channel)
        self.inject_fault = check_fault(owner, inject_fault, FAULTS)

        n, r, c, t = self.bits, self.rows, self.cols, self.weight_tiles
        self.psum_bits = MacArray.psum_bits_for(bits=n, input_signed=input_signed,
                                                weight_signed=weight_signed, rows=r)
        self.INDEX_BITS = max(2, ceil_log2(max(t * c, 4)))
        self.ADDR_BITS = self.INDEX_BITS + REGION_BITS
        self.LOAD_DATA_BITS = max(r * n, self.acc_bits, 32)
        self.TILE_BITS = max(1, ceil_log2(t))
        self.latency_breakdown = {
            "mac_array": MacArray.latency_for(rows=r),
            "accumulator_bank": AccumulatorBank.LATENCY,
            "requantizer": Requantizer.LATENCY,
        }
        self.LATENCY = sum(self.latency_breakdown.values())

        self.LoadBeat = data.StructLayout({
            "addr": unsigned(self.ADDR_BITS),
            "data": unsigned(self.LOAD_DATA_BITS),
        })
        self.DataBeat = data.StructLayout({
            "x": unsigned(r * n),
            "tile": unsigned(self.TILE_BITS),
            "first": unsigned(1),
            "last": unsigned(1),
        })
        self.OutBeat = data.StructLayout({
            "y": unsigned(c * self.out_bits),
            "ovf": unsigned(c),
        })
        super().__init__({
            "i_load": In(stream.Signature(self.LoadBeat)),
            "i_data": In(stream.Signature(self.DataBeat)),
            "o_data": Out(stream.Signature(self.OutBeat)),
            "o_ovf_sticky": Out(c),
        })

    def describe(self):
        """Plain-data summary (widths, latency, address map) for the JSON manifest."""
        def fields(layout):
            return {name: {"offset": f.offset, "width": f.width} for name, f in layout}
        out_lo, out_hi = int_range(self.out_bits, self.out_signed)
        return {
            "top": type(self).__name__,
            "parameters": {
                "bits": self.bits, "input_signed": self.input_signed,
                "weight_signed": self.weight_signed, "rows": self.rows, "cols": self.cols,
                "weight_tiles": self.weight_tiles, "acc_bits": self.acc_bits,
                "overflow": self.overflow, "out_bits": self.out_bits,
                "out_signed": self.out_signed, "rounding": self.rounding,
                "per_channel": self.per_channel, "inject_fault": self.inject_fault,
            },
            "latency": self.LATENCY,
            "latency_breakdown": dict(self.latency_breakdown),
            "throughput_beats_per_cycle": self.THROUGHPUT,
            "psum_bits": self.psum_bits,
            "acc_bits": self.acc_bits,
            "out_bits": self.out_bits,
            "addr_bits": self.ADDR_BITS,
            "index_bits": self.INDEX_BITS,
            "load_data_bits": self.LOAD_DATA_BITS,
            "tile_bits": self.TILE_BITS,
            "address_map": {
                "WEIGHTS": {"region": 0, "index": "tile*C + col", "entries": self.weight_tiles
                            * self.cols, "data": f"w'[r] at bits r*{self.bits}"},
                "BIAS": {"region": 1, "index": "col", "entries": self.cols,
                         "data": f"signed bits [0, {self.acc_bits})", "reset": 0},
                "M0": {"region": 2, "index": "col" if self.per_channel else "0",
                       "entries": self.cols if self.per_channel else 1,
                       "data": "bits [0, 32)", "reset": RESET_M0},
                "SHIFT": {"region": 3, "index": "col" if self.per_channel else "0",
                          "entries": self.cols if self.per_channel else 1,
                          "data": f"signed bits [0, {SHIFT_BITS})", "reset": RESET_SHIFT},
                "SCALARS": {"region": 4, "entries": 4,
                            "index": dict(SCALAR_INDEX),
                            "data": f"signed bits [0, {self.out_bits + 1})",
                            "reset": {"y_zp": 0, "act_min": out_lo, "act_max": out_hi}},
            },
            "payloads": {
                "i_load": fields(self.LoadBeat),
                "i_data": fields(self.DataBeat),
                "o_data": fields(self.OutBeat),
            },
        }

    def elaborate(self, platform):
        m = Module()
        n, rows, cols, tiles = self.bits, self.rows, self.cols, self.weight_tiles
        out_bits = self.out_bits

        m.submodules.mac = mac = MacArray(
            bits=n, input_signed=self.input_signed, weight_signed=self.weight_signed,
            rows=rows, cols=cols, weight_tiles=tiles)
        m.submodules.bank = bank = AccumulatorBank(
            cols=cols, psum_bits=mac.psum_bits, acc_bits=self.acc_bits,
            overflow=self.overflow)
        m.submodules.rq = rq = Requantizer(
            cols=cols, acc_bits=self.acc_bits, out_bits=out_bits, out_signed=self.out_signed,
            rounding=self.rounding, per_channel=self.per_channel,
            inject_fault=self.inject_fault)
        assert mac.psum_bits == self.psum_bits and mac.LATENCY == self.latency_breakdown[
            "mac_array"]

        # Global stall: the output register holds a beat nobody takes.
        o_valid_q = Signal(name="o_valid_q")
        en = Signal(name="en")
        m.d.comb += en.eq(~(o_valid_q & ~self.o_data.ready))

        # --- loads ----------------------------------------------------------------------
        busy = Signal(name="busy")
        m.d.comb += self.i_load.ready.eq(~busy)
        load = self.i_load.valid & ~busy
        addr = self.i_load.payload.addr
        ldata = self.i_load.payload.data
        index = wire(m, addr[:self.INDEX_BITS], "index")
        region = wire(m, addr[self.INDEX_BITS:], "region")

        def to(region_name):
            return load & eq_const(region, REGIONS[region_name])

        def below(limit):
            if limit >= 1 << self.INDEX_BITS:
                return Const(1, 1)
            return lt(m, index, Const(limit, unsigned(self.INDEX_BITS + 1)), name=f"below_{limit}")

        w_tile, w_col = divmod_const(m, index, cols, (1 << self.INDEX_BITS) - 1, name="w_index")
        m.d.comb += [
            mac.w_en.eq(to("WEIGHTS") & below(tiles * cols)),
            mac.w_tile.eq(w_tile[:mac.TILE_BITS]),
            mac.w_col.eq(w_col[:mac.COL_BITS]),
            mac.w_data.eq(ldata[:rows * n]),
            bank.bias_en.eq(to("BIAS") & below(cols)),
            bank.bias_col.eq(index[:bank.COL_BITS]),
            bank.bias_data.eq(ldata[:self.acc_bits]),
            bank.clear.eq(to("SCALARS") & eq_const(index, SCALAR_INDEX["clear_sticky"])),
        ]

        lanes = cols if self.per_channel else 1
        for c in range(lanes):
            m0_q = Signal(32, name=f"m0_q_{c}", init=RESET_M0)
            shift_q = Signal(signed(SHIFT_BITS), name=f"shift_q_{c}", init=RESET_SHIFT)
            with m.If(to("M0") & eq_const(index, c)):
                m.d.sync += m0_q.eq(ldata[:32])
            with m.If(to("SHIFT") & eq_const(index, c)):
                m.d.sync += shift_q.eq(ldata[:SHIFT_BITS])
            if self.per_channel:
                m.d.comb += [rq.m0[c].eq(m0_q), rq.shift[c].eq(shift_q)]
            else:
                m.d.comb += [rq.m0.eq(m0_q), rq.shift.eq(shift_q)]

        out_lo, out_hi = int_range(out_bits, self.out_signed)
        for name, init in (("y_zp", 0), ("act_min", out_lo), ("act_max", out_hi)):
            reg = Signal(signed(out_bits + 1), name=f"{name}_q", init=init)
            with m.If(to("SCALARS") & eq_const(index, SCALAR_INDEX[name])):
                m.d.sync += reg.eq(ldata[:out_bits + 1])
            m.d.comb += getattr(rq, name).eq(reg)

        # --- data pipeline --------------------------------------------------------------
        m.d.comb += self.i_data.ready.eq(en & ~self.i_load.valid)
        accept = self.i_data.valid & self.i_data.ready
        beat = self.i_data.payload
        m.d.comb += [
            mac.en.eq(en),
            mac.x.eq(beat.x),
            mac.tile.eq(beat.tile),
            bank.en.eq(en),
            rq.en.eq(en),
        ]

        in_flight = []

        # stages 1..MacArray.LATENCY: the MAC array; its beat flags travel alongside.
        valid, first, last = accept, beat.first, beat.last
        for stage in range(1, mac.LATENCY + 1):
            valid_q = Signal(name=f"mac_valid_q_{stage}")
            first_q = Signal(name=f"mac_first_q_{stage}", reset_less=True)
            last_q = Signal(name=f"mac_last_q_{stage}", reset_less=True)
            with m.If(en):
                m.d.sync += [valid_q.eq(valid), first_q.eq(first), last_q.eq(last)]
            in_flight.append(valid_q)
            valid, first, last = valid_q, first_q, last_q

        # stage MacArray.LATENCY + 1: the accumulator bank.
        m.d.comb += [
            bank.valid.eq(valid),
            bank.first.eq(first),
            bank.last.eq(last),
            bank.psum.eq(mac.psum),
            rq.valid.eq(bank.acc_valid),
            rq.acc.eq(bank.acc),
        ]
        in_flight.append(bank.acc_valid)

        # following Requantizer.LATENCY stages: the requantizer; valid and flags alongside.
        valid, ovf = bank.acc_valid, bank.ovf
        for stage in range(1, rq.LATENCY + 1):
            valid_q = o_valid_q if stage == rq.LATENCY else Signal(name=f"rq_valid_q_{stage}")
            ovf_q = Signal(cols, name=f"rq_ovf_q_{stage}", reset_less=True)
            with m.If(en):
                m.d.sync += valid_q.eq(valid)
            with m.If(en & valid):          # flags move with valid results (like rq.y)
                m.d.sync += ovf_q.eq(ovf)
            in_flight.append(valid_q)
            if stage == rq.LATENCY:
                # sticky flags, updated with the output register (the bank's own sticky
                # flags run Requantizer.LATENCY cycles ahead and are not used here). A clear
                # is a load, so it never coincides with a beat entering this stage.
                sticky_q = Signal(cols, name="ovf_sticky_q")
                with m.If(bank.clear):
                    m.d.sync += sticky_q.eq(0)
                with m.Elif(en & valid):
                    m.d.sync += sticky_q.eq(sticky_q | ovf)
                m.d.comb += self.o_ovf_sticky.eq(sticky_q)
            valid, ovf = valid_q, ovf_q

        m.d.comb += [
            busy.eq(Cat(*in_flight).any()),
            self.o_data.valid.eq(o_valid_q),
            self.o_data.payload.y.eq(rq.y.as_value()),
            self.o_data.payload.ovf.eq(ovf),
        ]
        return m
