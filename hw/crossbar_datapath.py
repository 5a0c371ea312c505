"""Top level of the crossbar path: analog-macro ports, crossbar engine → accumulator bank →
requantizer, with the load and data streams of ``hw.datapath.Datapath``."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from constraints import derive, limits
from constraints.loadmap import CROSSBAR_REGIONS

from ._top import check_common, describe_common, from_record, load_widths, stream_members
from ._util import (check_choice, check_fault, check_int, divmod_const,
                    eq_const, lt, silent_on_error, sub, wire)
from .accumulator_bank import AccumulatorBank
from .crossbar_engine import FAULTS as ENGINE_FAULTS
from .crossbar_engine import INPUT_ENCODINGS, WEIGHT_ENCODINGS, CrossbarEngine
from .requant_stage import RequantStage
from .requantizer import FAULTS as REQUANT_FAULTS
from .requantizer import Requantizer

__all__ = ["CrossbarDatapath", "CROSSBAR_REGIONS", "FAULTS"]

# CROSSBAR_REGIONS (the contract's load map): ``Datapath``'s load regions plus the ADC trims.
FAULTS = REQUANT_FAULTS + ENGINE_FAULTS




class CrossbarDatapath(wiring.Component):
    """Quantized matrix-vector datapath computed on an analog crossbar (``docs/crossbar.md``).

    Same streams and load map as :class:`hw.datapath.Datapath` (plus region 5 ``TRIM``), the
    MAC array replaced by a :class:`~hw.crossbar_engine.CrossbarEngine` that drives an
    external analog macro through the DAC / ADC / programming ports below, followed by the
    same :class:`~hw.accumulator_bank.AccumulatorBank` and
    :class:`~hw.requantizer.Requantizer`. With an ideal macro and a lossless ADC every output
    equals ``Datapath``'s for the same load and data beats.

    Parameters
    ----------
    input_bits, weight_bits, bits, input_signed, weight_signed, rows, cols, weight_tiles,
    acc_bits, overflow, out_bits, out_signed, rounding, per_channel
        As :class:`hw.datapath.Datapath`.
    cell_bits : int
        b, in [1, W] (weights are sliced from ``weight_bits``).
    weight_encoding : str
        ``"differential"`` or ``"offset"``.
    dac_bits : int
        v, in [1, A] (DAC phases are cut from ``input_bits``).
    input_encoding : str
        ``"twos_complement"`` or ``"offset"``.
    adc_bits : int
        B, in [1, 40].
    adc_shift : int or sequence of int
        ADC LSB exponent per physical column (``docs/crossbar.md`` §2.4).
    cols_per_adc : int
        m, divides ``C_phys``.
    dac_settle_cycles : int
        In [0, 255].
    adc_latency : int
        Nominal conversion latency (cycles, in [1, 1024]); only used for :attr:`LATENCY` and
        :meth:`describe`: the hardware accepts any latency.
    inject_fault : str or None
        Test only: ``"rounding_off_by_one"`` (:class:`~hw.requantizer.Requantizer`) or
        ``"crossbar_lsb_off_by_one"`` (:class:`~hw.crossbar_engine.CrossbarEngine`).

    Attributes
    ----------
    LATENCY : int
        Cycles from an accepted ``last`` beat to its ``o_data.valid`` when every conversion
        takes ``adc_latency`` cycles and nothing stalls: :meth:`latency_for`.
    CYCLES_PER_VECTOR : int
        Cycles between accepted ``i_data`` beats (same assumption):
        ``P·(m·(adc_latency + 1) + dac_settle_cycles + 1) + 1``.
    INDEX_BITS, ADDR_BITS, LOAD_DATA_BITS, TILE_BITS, COL_BITS, SEL_BITS, NUM_ADCS : int
        ``INDEX_BITS = max(2, ceil(log2(max(T·C, C_phys, 4))))``; the others as ``Datapath``
        and ``docs/crossbar.md`` §3.1.
    SLICES, POLARITIES, PHYS_COLS, PHASES : int
        S, E, C_phys, P.
    LoadBeat, DataBeat, OutBeat, ProgBeat : data.StructLayout

    Members
    -------
    i_load, i_data, o_data, o_ovf_sticky
        As :class:`hw.datapath.Datapath` (``docs/design.md``), with ``INDEX_BITS`` above and
        region 5 ``TRIM``: index j (physical column), ``data[0 +: B]`` signed offset trim
        (reset 0). ``i_load.ready`` is high only when no beat is anywhere in the datapath and
        no ``o_prog`` beat is waiting; ``i_data.ready`` is low while a load is offered or an
        ``o_prog`` beat waits.
    o_prog : ``Out(stream.Signature({tile: TILE_BITS, col: COL_BITS, levels: S·E·R·b}))``
        Programs the cells of logical column ``col`` of tile ``tile``: physical column
        ``j = (col·S + s)·E + e`` gets ``levels[((s·E + e)·R + r)·b +: b]`` in row r (offset
        or differential encoding, bit slicing: ``golden.crossbar.encode_weights``). Sent the
        cycle after a ``WEIGHTS`` load is accepted; held until ``ready``.
    dac_codes : ``Out(R·v)``
        Row r's DAC code at bits ``r·v``.
    dac_tile : ``Out(TILE_BITS)``
    dac_valid : ``Out(1)``
    adc_start : ``Out(1)``
    adc_sel : ``Out(SEL_BITS)``
    adc_done : ``In(NUM_ADCS)``
    adc_code : ``In(NUM_ADCS·B)``
        The analog macro's DAC and ADC ports, protocol of ``docs/crossbar.md`` §3.1.

    Backpressure: ``o_data`` stalls the accumulator bank and the requantizer (global stall as
    in ``Datapath``); the engine then holds its finished partial sums and stops taking
    beats, the analog ports simply wait.
    """

    @silent_on_error
    def __init__(self, *, bits=None, input_bits=None, weight_bits=None, input_signed,
                 weight_signed, rows, cols, weight_tiles, acc_bits, overflow, out_bits,
                 out_signed, rounding, per_channel, cell_bits, weight_encoding, dac_bits,
                 input_encoding, adc_bits, adc_shift, cols_per_adc, dac_settle_cycles,
                 adc_latency=1, inject_fault=None):
        check_common(self, bits=bits, input_bits=input_bits, weight_bits=weight_bits,
                     input_signed=input_signed, weight_signed=weight_signed, rows=rows, cols=cols, weight_tiles=weight_tiles, acc_bits=acc_bits,
                     overflow=overflow, out_bits=out_bits, out_signed=out_signed,
                     rounding=rounding, per_channel=per_channel)
        owner = type(self).__name__
        self.cell_bits = check_int(owner, "cell_bits", cell_bits, 1, self.weight_bits)
        self.weight_encoding = check_choice(owner, "weight_encoding", weight_encoding,
                                            WEIGHT_ENCODINGS)
        self.dac_bits = check_int(owner, "dac_bits", dac_bits, 1, self.input_bits)
        self.input_encoding = check_choice(owner, "input_encoding", input_encoding,
                                           INPUT_ENCODINGS)
        self.adc_bits = check_int(owner, "adc_bits", adc_bits, 1, limits.ADC_BITS_MAX)
        self.dac_settle_cycles = check_int(owner, "dac_settle_cycles", dac_settle_cycles, 0,
                                           limits.SETTLE_CYCLES_MAX)
        self.adc_latency = check_int(owner, "adc_latency", adc_latency, 1,
                                     limits.ADC_LATENCY_MAX)
        self.inject_fault = check_fault(owner, inject_fault, FAULTS)
        self.cols_per_adc = cols_per_adc
        self.adc_shift = tuple(adc_shift) if isinstance(adc_shift, (list, tuple)) else adc_shift

        # the engine validates the crossbar parameters (cols_per_adc, adc_shift) and owns the
        # derived numbers; it becomes a submodule in elaborate()
        self.engine = eng = self._engine()
        self.SLICES, self.POLARITIES, self.PHYS_COLS = eng.SLICES, eng.POLARITIES, eng.PHYS_COLS
        self.PHASES, self.NUM_ADCS, self.SEL_BITS = eng.PHASES, eng.NUM_ADCS, eng.SEL_BITS
        self.TRIM_ADDR_BITS = eng.TRIM_ADDR_BITS
        self.phase_weights = eng.phase_weights
        self.psum_bits = eng.psum_bits
        self.adc_shift = eng.adc_shift
        self.cols_per_adc = eng.cols_per_adc

        r = self.rows
        load_widths(self, self.PHYS_COLS)
        self.COL_BITS = derive.col_bits(self.cols)
        self.CYCLES_PER_VECTOR = CrossbarEngine.cycles_per_vector_for(
            phases=self.PHASES, cols_per_adc=self.cols_per_adc, adc_latency=self.adc_latency,
            dac_settle_cycles=self.dac_settle_cycles)
        self.latency_breakdown = {
            "crossbar_engine": CrossbarEngine.latency_for(
                phases=self.PHASES, cols_per_adc=self.cols_per_adc,
                adc_latency=self.adc_latency, dac_settle_cycles=self.dac_settle_cycles),
            "accumulator_bank": AccumulatorBank.LATENCY,
            "requantizer": Requantizer.LATENCY,
        }
        self.LATENCY = sum(self.latency_breakdown.values())

        members = stream_members(self)
        self.ProgBeat = data.StructLayout({
            "tile": unsigned(self.TILE_BITS),
            "col": unsigned(self.COL_BITS),
            "levels": unsigned(self.SLICES * self.POLARITIES * r * self.cell_bits),
        })
        super().__init__({
            **members,
            "o_prog": Out(stream.Signature(self.ProgBeat)),
            "dac_codes": Out(r * self.dac_bits),
            "dac_tile": Out(self.TILE_BITS),
            "dac_valid": Out(1),
            "adc_start": Out(1),
            "adc_sel": Out(self.SEL_BITS),
            "adc_done": In(self.NUM_ADCS),
            "adc_code": In(self.NUM_ADCS * self.adc_bits),
        })

    #: ``CrossbarDatapath.from_record(record, inject_fault=None)``: built from a
    #: ``constraints.DatapathRecord`` with a crossbar tile and checked against its widths.
    from_record = classmethod(from_record)

    def _engine(self):
        fault = self.inject_fault if self.inject_fault in ENGINE_FAULTS else None
        return CrossbarEngine(
            input_bits=self.input_bits, weight_bits=self.weight_bits,
            input_signed=self.input_signed, weight_signed=self.weight_signed,
            rows=self.rows, cols=self.cols, weight_tiles=self.weight_tiles,
            cell_bits=self.cell_bits, weight_encoding=self.weight_encoding,
            dac_bits=self.dac_bits, input_encoding=self.input_encoding, adc_bits=self.adc_bits,
            adc_shift=self.adc_shift, cols_per_adc=self.cols_per_adc,
            dac_settle_cycles=self.dac_settle_cycles, inject_fault=fault)

    # --- timing ---------------------------------------------------------------------------
    @staticmethod
    def latency_for(*, phases, cols_per_adc, adc_latency, dac_settle_cycles):
        """Cycles from an accepted ``last`` beat to ``o_data.valid``: the engine's latency
        ``P·(m·(Lc + 1) + settle + 1) + 3`` plus ``AccumulatorBank.LATENCY`` plus
        ``Requantizer.LATENCY``."""
        return (CrossbarEngine.latency_for(phases=phases, cols_per_adc=cols_per_adc,
                                           adc_latency=adc_latency,
                                           dac_settle_cycles=dac_settle_cycles)
                + AccumulatorBank.LATENCY + Requantizer.LATENCY)

    def describe(self):
        """Plain-data summary (widths, latency, address map, analog ports) for the manifest."""
        return describe_common(
            self,
            parameters={
                "cell_bits": self.cell_bits, "weight_encoding": self.weight_encoding,
                "dac_bits": self.dac_bits, "input_encoding": self.input_encoding,
                "adc_bits": self.adc_bits, "adc_shift": list(self.adc_shift),
                "cols_per_adc": self.cols_per_adc, "dac_settle_cycles": self.dac_settle_cycles,
                "adc_latency": self.adc_latency, "inject_fault": self.inject_fault,
            },
            timing={
                "latency_assumes_adc_latency": self.adc_latency,
                "cycles_per_vector": self.CYCLES_PER_VECTOR,
                "throughput_beats_per_cycle": 1.0 / self.CYCLES_PER_VECTOR,
            },
            extra={"crossbar": {
                "slices": self.SLICES, "polarities": self.POLARITIES,
                "physical_columns": self.PHYS_COLS, "phases": self.PHASES,
                "phase_weights": list(self.phase_weights), "num_adcs": self.NUM_ADCS,
                "sel_bits": self.SEL_BITS,
                "physical_column": "j = (col*S + slice)*E + polarity",
            }},
            regions={"TRIM": {"region": CROSSBAR_REGIONS["TRIM"], "index": "physical column j",
                              "entries": self.PHYS_COLS,
                              "data": f"signed bits [0, {self.adc_bits})", "reset": 0}},
            payloads={"o_prog": self.ProgBeat})

    # --- weight encoding (docs/crossbar.md §2.1) ------------------------------------------
    def _levels(self, m, ldata):
        """Cell levels of one weight column, packed as ``o_prog.levels``."""
        n, b, S, E = self.weight_bits, self.cell_bits, self.SLICES, self.POLARITIES
        planes = [[] for _ in range(E)]
        for r in range(self.rows):
            w = ldata[r * n:(r + 1) * n]
            if self.weight_encoding == "offset":
                g = Cat(w[:n - 1], ~w[n - 1]) if self.weight_signed else w
                planes[0].append(g)
            elif self.weight_signed:
                neg = w[n - 1]
                mag = sub(m, Const(0, 1), wire(m, w.as_signed(), f"w_{r}"), n + 1,
                          name=f"wneg_{r}")[:n]
                planes[0].append(Mux(neg, Const(0, n), w))
                planes[1].append(Mux(neg, mag, Const(0, n)))
            else:
                planes[0].append(w)
                planes[1].append(Const(0, n))
        fields = []
        for s in range(S):
            width = min(b, n - s * b)
            for e in range(E):
                for r in range(self.rows):
                    bits_ = planes[e][r][s * b:s * b + width]
                    fields.append(Cat(bits_, Const(0, b - width)) if width < b else bits_)
        return Cat(*fields)

    def _requant_stage(self):
        rq_fault = self.inject_fault if self.inject_fault in REQUANT_FAULTS else None
        return RequantStage(
            cols=self.cols, psum_bits=self.psum_bits, acc_bits=self.acc_bits,
            overflow=self.overflow, out_bits=self.out_bits, out_signed=self.out_signed,
            rounding=self.rounding, per_channel=self.per_channel, index_bits=self.INDEX_BITS,
            inject_fault=rq_fault)

    def elaborate(self, platform):
        m = Module()
        n, rows, cols, tiles = self.weight_bits, self.rows, self.cols, self.weight_tiles

        m.submodules.engine = eng = self.engine
        m.submodules.stage = stage = self._requant_stage()
        en = stage.en               # global stall of the back end: o_data holds a beat

        self._analog_ports(m, eng)

        # --- loads: weights and trims here, every other region in the RequantStage ---------
        busy = Signal(name="busy")
        prog_valid_q = Signal(name="prog_valid_q")
        m.d.comb += self.i_load.ready.eq(~busy)
        load = Signal(name="load")
        m.d.comb += load.eq(self.i_load.valid & ~busy)
        addr = self.i_load.payload.addr
        ldata = self.i_load.payload.data
        index = addr[:self.INDEX_BITS]
        region = addr[self.INDEX_BITS:]

        def to(region_name):
            return load & eq_const(region, CROSSBAR_REGIONS[region_name])

        def below(limit, name):
            if limit >= 1 << self.INDEX_BITS:
                return Const(1, 1)
            return lt(m, index, Const(limit, unsigned(self.INDEX_BITS + 1)), name)

        w_tile, w_col = divmod_const(m, index, cols, (1 << self.INDEX_BITS) - 1, name="widx")
        w_tile = w_tile[:self.TILE_BITS] if len(w_tile) >= self.TILE_BITS else \
            Cat(w_tile, Const(0, self.TILE_BITS - len(w_tile)))
        w_col = w_col[:self.COL_BITS] if len(w_col) >= self.COL_BITS else \
            Cat(w_col, Const(0, self.COL_BITS - len(w_col)))
        w_write = Signal(name="w_write")
        m.d.comb += [
            w_write.eq(to("WEIGHTS") & below(tiles * cols, "w_ok")),
            eng.w_en.eq(w_write),
            eng.w_tile.eq(w_tile),
            eng.w_col.eq(w_col),
            eng.w_data.eq(ldata[:rows * n]),
            eng.trim_we.eq(to("TRIM") & below(self.PHYS_COLS, "trim_ok")),
            eng.trim_addr.eq(index[:len(eng.trim_addr)]),
            eng.trim_data.eq(ldata[:self.adc_bits]),
            stage.p_we.eq(load),
            stage.p_region.eq(region),
            stage.p_index.eq(index),
            stage.p_data.eq(ldata),
        ]

        self._programming_beat(m, ldata, w_write, w_tile, w_col, prog_valid_q)
        self._data_path(m, eng, stage, en, prog_valid_q, busy)
        return m

    def _analog_ports(self, m, eng):
        """The analog macro's ports are the engine's."""
        m.d.comb += [
            self.dac_codes.eq(eng.dac_codes),
            self.dac_tile.eq(eng.dac_tile),
            self.dac_valid.eq(eng.dac_valid),
            self.adc_start.eq(eng.adc_start),
            self.adc_sel.eq(eng.adc_sel),
            eng.adc_done.eq(self.adc_done),
            eng.adc_code.eq(self.adc_code),
        ]

    def _programming_beat(self, m, ldata, w_write, w_tile, w_col, prog_valid_q):
        """A weight write also leaves on ``o_prog``: the column encoded into cell levels."""
        levels = wire(m, self._levels(m, ldata), "prog_levels")
        with m.If(self.o_prog.ready):
            m.d.sync += prog_valid_q.eq(0)
        with m.If(w_write):
            m.d.sync += [
                prog_valid_q.eq(1),
                self.o_prog.payload.tile.eq(w_tile),
                self.o_prog.payload.col.eq(w_col),
                self.o_prog.payload.levels.eq(levels),
            ]
        m.d.comb += self.o_prog.valid.eq(prog_valid_q)

    def _data_path(self, m, eng, stage, en, prog_valid_q, busy):
        """Engine → accumulator bank → requantizer → ``o_data``; a load or a pending
        programming beat holds the input."""
        m.d.comb += [
            eng.i_data.valid.eq(self.i_data.valid & ~self.i_load.valid & ~prog_valid_q),
            eng.i_data.payload.eq(self.i_data.payload),
            self.i_data.ready.eq(eng.i_data.ready & ~self.i_load.valid & ~prog_valid_q),
            # the back end takes the engine's partial sums when not stalled
            eng.o_psum.ready.eq(en),
            stage.valid.eq(eng.o_psum.valid),
            stage.first.eq(eng.o_psum.payload.first),
            stage.last.eq(eng.o_psum.payload.last),
            stage.psum.eq(eng.o_psum.payload.psum),
            busy.eq(eng.busy | prog_valid_q | stage.busy),
        ]
        wiring.connect(m, stage.o_data, wiring.flipped(self.o_data))
        m.d.comb += self.o_ovf_sticky.eq(stage.o_ovf_sticky)
