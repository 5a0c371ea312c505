"""Crossbar compute engine: DAC phases, ADC scans, digital reconstruction of partial sums."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from constraints import derive
from constraints.ranges import dot_product_range
from constraints.vocab import WEIGHT_ENCODINGS

from ._util import (add, as_signed, ceil_log2, check_array, check_choice, check_fault, check_int,
                    clamp, eq_const, extend, int_range, lt, signed_width_for, silent_on_error,
                    sub, wire)
from .adc_interface import AdcInterface
from .dac_driver import INPUT_ENCODINGS, DacDriver, phase_plan
from .mac_array import MacArray

__all__ = ["CrossbarEngine", "WEIGHT_ENCODINGS", "INPUT_ENCODINGS", "FAULTS", "crossbar_geometry"]

FAULTS = ("crossbar_lsb_off_by_one",)


def crossbar_geometry(*, bits, cell_bits, weight_encoding, cols):
    """``(S, E, C_phys)``: slices per weight, columns per slice, physical columns (the
    contract's formulas, ``constraints.derive``); ``bits`` is the weight width W."""
    return (derive.slices(bits, cell_bits), derive.polarities(weight_encoding),
            derive.phys_cols(cols, bits, cell_bits, weight_encoding))




class CrossbarEngine(wiring.Component):
    """The crossbar path's compute engine (``docs/crossbar.md`` §2.6, §3.2).

    Each ``i_data`` beat (an input vector of R values and its weight tile) is driven by a
    :class:`~hw.dac_driver.DacDriver` as ``P`` DAC phases; for each phase an
    :class:`~hw.adc_interface.AdcInterface` scan converts all ``C_phys`` physical columns of
    the analog macro. The engine then, per logical column c::

        Ŷ_j     = (code_j − trim_j) · 2^k_j                        (per physical column)
        Z_c     = Σ_s 2^(s·b) · (Ŷ_j(c,s,+) − Ŷ_j(c,s,−))          (− term: differential)
        acc_c   = Σ_p ω_p · Z_c(p)                                 (shift-and-add over phases)
        psum_c  = clamp(acc_c − G·Σ_r (x_r + A) − A·Σ_r w'_rc,  R·min(x·w), R·max(x·w))

    with ``ω_p = 2^lsb_p`` (the sign phase: ``−2^(N_x−v)``), ``G = 2^(W−1)`` for signed
    weights in ``offset`` encoding, ``A = 2^(N_x−1)`` for signed inputs in ``offset``
    encoding (else 0); ``N_x`` = ``input_bits``, ``W`` = ``weight_bits``.
    ``Σ_r (x_r + A)`` is an adder tree on the accepted beat; ``Σ_r w'_rc`` is computed when a
    weight column is written (``w_en``) and kept per tile (only when ``A ≠ 0``). The result
    equals ``golden.crossbar.reconstruct`` bit for bit for any ADC codes.

    Parameters
    ----------
    input_bits, weight_bits : int
        N_x and W, each in [2, 16] (``bits``: shorthand for both).
    input_signed, weight_signed : bool
    rows, cols : int
        R and C, in [1, 256].
    weight_tiles : int
        T, in [1, 4096].
    cell_bits : int
        b, in [1, W].
    weight_encoding : str
        ``"differential"`` or ``"offset"``.
    dac_bits : int
        v, in [1, N_x].
    input_encoding : str
        ``"twos_complement"`` or ``"offset"``.
    adc_bits : int
        B, in [1, 40].
    adc_shift : int or sequence of int
        LSB exponent ``k_j`` per physical column (an int for all), in
        ``[0, max(0, L − B) + 4]`` with L the lossless ADC bits.
    cols_per_adc : int
        m, divides ``C_phys``.
    dac_settle_cycles : int
        In [0, 255].
    inject_fault : str or None
        Test only: ``"crossbar_lsb_off_by_one"`` scales physical column 0 by ``2^(k_0 + 1)``.

    Attributes
    ----------
    SLICES, POLARITIES, PHYS_COLS, PHASES : int
        S, E, C_phys, P.
    phase_weights : tuple of int
        ω_p.
    psum_bits : int
        Width of ``o_psum`` lanes: ``MacArray.psum_bits_for(...)``, the MAC array's.
    TILE_BITS, COL_BITS : int
    NUM_ADCS, SEL_BITS : int
        From the :class:`~hw.adc_interface.AdcInterface`.

    Members
    -------
    i_data : ``In(stream.Signature({x: unsigned(R·N_x), tile: unsigned(TILE_BITS), first: 1, last: 1}))``
        ``hw.datapath.Datapath``'s ``DataBeat``. Accepted when no vector is being driven.
        As in ``Datapath``, a ``tile ≥ T`` uses tile 0.
    o_psum : ``Out(stream.Signature({psum: ArrayLayout(signed(psum_bits), C), first: 1, last: 1}))``
        The beat's reconstructed partial sums, with its ``first``/``last``. Registered.
    w_en, w_tile, w_col, w_data
        Weight-column write port, as ``MacArray``'s (``w_data[r·W +: W] = w'[r]``): updates
        the column sum ``Σ_r w'`` of (tile, col). Ignored unless ``A ≠ 0``.
    trim_we, trim_addr, trim_data
        The :class:`~hw.adc_interface.AdcInterface` trim write port.
    dac_codes, dac_tile, dac_valid, adc_start, adc_sel, adc_done, adc_code
        The analog macro's ports (``docs/crossbar.md`` §3.1).
    busy : ``Out(1)``
        A beat is anywhere in the engine (``o_psum`` included).

    Timing (every conversion answered ``Lc`` cycles after its start, ``o_psum`` not stalled):
    a beat accepted in cycle t has its psums on ``o_psum`` in cycle
    ``t + latency_for(...)`` and the next beat can be accepted in cycle
    ``t + cycles_per_vector_for(...)``.
    """

    @silent_on_error
    def __init__(self, *, bits=None, input_bits=None, weight_bits=None, input_signed,
                 weight_signed, rows, cols, weight_tiles, cell_bits, weight_encoding, dac_bits,
                 input_encoding, adc_bits, adc_shift, cols_per_adc, dac_settle_cycles,
                 inject_fault=None):
        check_array(self, bits=bits, input_bits=input_bits, weight_bits=weight_bits,
                    input_signed=input_signed, weight_signed=weight_signed,
                    rows=rows, cols=cols, weight_tiles=weight_tiles)
        owner = type(self).__name__
        self.cell_bits = check_int(owner, "cell_bits", cell_bits, 1, self.weight_bits)
        self.weight_encoding = check_choice(owner, "weight_encoding", weight_encoding,
                                            WEIGHT_ENCODINGS)
        self.dac_bits = check_int(owner, "dac_bits", dac_bits, 1, self.input_bits)
        self.input_encoding = check_choice(owner, "input_encoding", input_encoding,
                                           INPUT_ENCODINGS)
        self.adc_bits = check_int(owner, "adc_bits", adc_bits, 1, 40)
        self.dac_settle_cycles = check_int(owner, "dac_settle_cycles", dac_settle_cycles, 0, 255)
        self.inject_fault = check_fault(owner, inject_fault, FAULTS)

        self.SLICES, self.POLARITIES, self.PHYS_COLS = crossbar_geometry(
            bits=self.weight_bits, cell_bits=self.cell_bits,
            weight_encoding=self.weight_encoding, cols=self.cols)
        self.cols_per_adc = check_int(owner, "cols_per_adc", cols_per_adc, 1, self.PHYS_COLS)
        if self.PHYS_COLS % self.cols_per_adc:
            raise ValueError(f"{owner}: cols_per_adc={cols_per_adc!r} is out of range; allowed: "
                             f"a divisor of the {self.PHYS_COLS} physical columns")
        self.adc_shift = self._check_adc_shift(adc_shift)
        self._derive()
        self._layouts()
        super().__init__({
            "i_data": In(stream.Signature(self.DataBeat)),
            "o_psum": Out(stream.Signature(self.PsumBeat)),
            "w_en": In(1),
            "w_tile": In(self.TILE_BITS),
            "w_col": In(self.COL_BITS),
            "w_data": In(data.ArrayLayout(self.w_shape, self.rows)),
            "trim_we": In(1),
            "trim_addr": In(self.TRIM_ADDR_BITS),
            "trim_data": In(signed(self.adc_bits)),
            "dac_codes": Out(self.rows * self.dac_bits),
            "dac_tile": Out(self.TILE_BITS),
            "dac_valid": Out(1),
            "adc_start": Out(1),
            "adc_sel": Out(self.SEL_BITS),
            "adc_done": In(self.NUM_ADCS),
            "adc_code": In(self.NUM_ADCS * self.adc_bits),
            "busy": Out(1),
        })

    def _check_adc_shift(self, adc_shift):
        """Per physical column LSB exponents ``k_j`` (one int for all, or ``C_phys`` ints),
        each in ``[0, max(0, lossless − B) + FULL_SCALE_HEADROOM_BITS]``."""
        owner = type(self).__name__
        kmax = derive.max_adc_shift(
            self.adc_bits, derive.lossless_adc_bits(self.rows, self.dac_bits, self.cell_bits))
        if isinstance(adc_shift, (list, tuple)):
            if len(adc_shift) != self.PHYS_COLS:
                raise ValueError(f"{owner}: adc_shift={adc_shift!r} is out of range; allowed: "
                                 f"an int or {self.PHYS_COLS} ints (one per physical column)")
            return tuple(check_int(owner, f"adc_shift[{j}]", k, 0, kmax)
                         for j, k in enumerate(adc_shift))
        return (check_int(owner, "adc_shift", adc_shift, 0, kmax),) * self.PHYS_COLS

    def _derive(self):
        """The phase plan and every derived range and width (``docs/crossbar.md`` §3)."""
        a, w = self.input_bits, self.weight_bits
        self.plan = phase_plan(bits=a, input_signed=self.input_signed, dac_bits=self.dac_bits,
                               input_encoding=self.input_encoding)
        self.PHASES = len(self.plan)
        self.phase_weights = derive.phase_weights(a, self.dac_bits, self.plan)
        self.A = derive.encoding_offset(a, self.input_signed, self.input_encoding)
        self.G = derive.encoding_offset(w, self.weight_signed, self.weight_encoding)
        self.x_range = int_range(a, self.input_signed)
        self.w_range = int_range(w, self.weight_signed)
        self.psum_bits = MacArray.psum_bits_for(input_bits=a, weight_bits=w,
                                                input_signed=self.input_signed,
                                                weight_signed=self.weight_signed, rows=self.rows)
        self.psum_range = dot_product_range(a, self.rows, self.input_signed,
                                            self.weight_signed, weight_bits=w)
        self.TILE_BITS = derive.tile_bits(self.weight_tiles)
        self.COL_BITS = derive.col_bits(self.cols)
        self.ASUM_BITS = signed_width_for(self.rows * (self.x_range[0] + self.A),
                                          self.rows * (self.x_range[1] + self.A))
        self.WSUM_BITS = signed_width_for(self.rows * self.w_range[0],
                                          self.rows * self.w_range[1])
        self.NUM_ADCS = self.PHYS_COLS // self.cols_per_adc
        self.SEL_BITS = derive.sel_bits(self.cols_per_adc)
        self.TRIM_ADDR_BITS = max(1, ceil_log2(self.PHYS_COLS))

    def _layouts(self):
        """The beat layouts and operand shapes."""
        a, w = self.input_bits, self.weight_bits
        self.MetaLayout = data.StructLayout({
            "first": unsigned(1),
            "last": unsigned(1),
            "tile": unsigned(self.TILE_BITS),
            "asum": signed(self.ASUM_BITS),
        })
        self.DataBeat = data.StructLayout({
            "x": unsigned(self.rows * a),
            "tile": unsigned(self.TILE_BITS),
            "first": unsigned(1),
            "last": unsigned(1),
        })
        self.PsumBeat = data.StructLayout({
            "psum": data.ArrayLayout(signed(self.psum_bits), self.cols),
            "first": unsigned(1),
            "last": unsigned(1),
        })
        self.x_shape = signed(a) if self.input_signed else unsigned(a)
        self.w_shape = signed(w) if self.weight_signed else unsigned(w)

    # --- timing ---------------------------------------------------------------------------
    @staticmethod
    def cycles_per_vector_for(*, phases, cols_per_adc, adc_latency, dac_settle_cycles):
        """Cycles between accepted beats: ``P·(m·(Lc + 1) + settle + 1) + 1`` (the
        contract's formula, ``constraints.derive.cycles_per_vector``)."""
        return derive.cycles_per_vector(phases, cols_per_adc, adc_latency, dac_settle_cycles)

    @staticmethod
    def latency_for(*, phases, cols_per_adc, adc_latency, dac_settle_cycles):
        """Cycles from an accepted beat to its ``o_psum.valid``: two more than
        :meth:`cycles_per_vector_for`, ``P·(m·(Lc + 1) + settle + 1) + 3``."""
        return derive.cycles_per_vector(phases, cols_per_adc, adc_latency,
                                        dac_settle_cycles) + 2

    def cycles_per_vector(self, adc_latency):
        return self.cycles_per_vector_for(phases=self.PHASES, cols_per_adc=self.cols_per_adc,
                                          adc_latency=adc_latency,
                                          dac_settle_cycles=self.dac_settle_cycles)

    def latency(self, adc_latency):
        return self.latency_for(phases=self.PHASES, cols_per_adc=self.cols_per_adc,
                                adc_latency=adc_latency, dac_settle_cycles=self.dac_settle_cycles)

    # --- helpers --------------------------------------------------------------------------
    @staticmethod
    def _shl(m, value, k, width, name):
        """``value · 2^k`` as a ``signed(width)`` signal (explicit zero bits, lint-clean)."""
        value = wire(m, value, name + "_in")
        if k:
            value = Cat(Const(0, k), value.as_unsigned()).as_signed()
            value = wire(m, value, name + "_sh")
        return wire(m, as_signed(extend(value, width)), name)

    @staticmethod
    def _tree(m, items, name):
        """Sum of ``(value, lo, hi)`` items, adders of exact width; returns ``(value, lo, hi)``."""
        items = list(items)
        level = 0
        while len(items) > 1:
            nxt = []
            for i in range(0, len(items) - 1, 2):
                (a, alo, ahi), (b, blo, bhi) = items[i], items[i + 1]
                lo, hi = alo + blo, ahi + bhi
                node = add(m, a, b, signed_width_for(lo, hi), name=f"{name}_l{level}_{i // 2}")
                nxt.append((node, lo, hi))
            if len(items) % 2:
                nxt.append(items[-1])
            items = nxt
            level += 1
        return items[0]

    # --- elaboration, in named steps (called in this order: the netlist depends on it) ----
    def elaborate(self, platform):
        m = Module()
        dac, adc = self._converters(m)
        self._accept(m, dac)
        scan, scan_meta, codes = self._scan(m, dac, adc)
        rd, wsum = self._weight_sums(m) if self.A else (None, None)

        # --- stage 1: one phase's contribution, acc_c += ω_p · Z_c ---------------------------
        fin_q = Signal(name="fin_q")                     # acc holds a finished vector
        fin_meta_q = Signal(self.MetaLayout, name="fin_meta_q")
        take = Signal(name="take")
        m.d.comb += [take.eq(adc.o_codes.valid & ~fin_q), adc.o_codes.ready.eq(~fin_q)]
        if self.A:
            m.d.comb += [rd.addr.eq(scan_meta.tile[:len(rd.addr)]),
                         rd.en.eq(take & scan.last)]
        z_terms = self._column_sums(m, codes)
        acc_lo, acc_hi, term_bits = self._accumulator_range(z_terms)
        accs = self._phase_accumulators(m, z_terms, scan.phase, take,
                                        signed_width_for(acc_lo, acc_hi), term_bits)
        with m.If(take & scan.last):
            m.d.sync += [fin_q.eq(1), fin_meta_q.eq(scan_meta)]

        # --- stage 2: corrections, clamp → o_psum ------------------------------------------
        valid_q, first_q, last_q, move = self._output_handshake(m, fin_q, fin_meta_q)
        self._corrected_psums(m, accs, (acc_lo, acc_hi), fin_meta_q.asum, wsum, move)
        m.d.comb += [
            self.o_psum.valid.eq(valid_q),
            self.o_psum.payload.first.eq(first_q),
            self.o_psum.payload.last.eq(last_q),
            self.busy.eq(dac.dac_valid | adc.o_codes.valid | fin_q | valid_q),
        ]
        return m

    def _converters(self, m):
        """The DAC driver and ADC interface submodules, wired to the analog ports and trims."""
        rows = self.rows
        meta_bits = self.MetaLayout.size
        m.submodules.dac = dac = DacDriver(
            rows=rows, bits=self.input_bits, input_signed=self.input_signed, dac_bits=self.dac_bits,
            input_encoding=self.input_encoding, dac_settle_cycles=self.dac_settle_cycles,
            tile_bits=self.TILE_BITS, tag_bits=meta_bits)
        scan_tag_bits = dac.PhaseBeat.size
        m.submodules.adc = adc = AdcInterface(
            phys_cols=self.PHYS_COLS, cols_per_adc=self.cols_per_adc, adc_bits=self.adc_bits,
            tag_bits=scan_tag_bits)
        m.d.comb += [
            self.dac_codes.eq(dac.dac_codes),
            self.dac_tile.eq(dac.dac_tile),
            self.dac_valid.eq(dac.dac_valid),
            self.adc_start.eq(adc.adc_start),
            self.adc_sel.eq(adc.adc_sel),
            adc.adc_done.eq(self.adc_done),
            adc.adc_code.eq(self.adc_code),
            adc.trim_we.eq(self.trim_we),
            adc.trim_addr.eq(self.trim_addr),
            adc.trim_data.eq(self.trim_data),
        ]
        return dac, adc

    def _accept(self, m, dac):
        """Accept a beat into the DAC driver with its sideband: ``Σ_r (x_r + A)`` (when
        ``G ≠ 0``), first/last and the effective tile (as ``Datapath``: tile ≥ T → tile 0)."""
        rows = self.rows
        beat = self.i_data.payload
        xs = data.View(data.ArrayLayout(self.x_shape, rows), beat.x)
        x_lo, x_hi = self.x_range
        meta = Signal(self.MetaLayout, name="meta")
        if self.G:
            asum, _, _ = self._tree(m, ((xs[r], x_lo, x_hi) for r in range(rows)), "asum")
            if self.A:
                const = Const(rows * self.A, unsigned((rows * self.A).bit_length()))
                asum = add(m, asum, const, self.ASUM_BITS, name="asum_off")
            asum = wire(m, asum, "asum")
            m.d.comb += meta.asum.eq(extend(asum, self.ASUM_BITS))
        tile = beat.tile
        if self.weight_tiles != 1 << self.TILE_BITS:
            in_range = lt(m, beat.tile, Const(self.weight_tiles, unsigned(self.TILE_BITS + 1)),
                          "tile_ok")
            tile = wire(m, beat.tile & in_range.replicate(self.TILE_BITS), "tile_eff")
        m.d.comb += [
            meta.first.eq(beat.first),
            meta.last.eq(beat.last),
            meta.tile.eq(tile),
            dac.i_vec.valid.eq(self.i_data.valid),
            dac.i_vec.payload.x.eq(beat.x),
            dac.i_vec.payload.tile.eq(tile),
            dac.i_vec.payload.tag.eq(meta.as_value()),
            self.i_data.ready.eq(dac.i_vec.ready),
        ]

    def _scan(self, m, dac, adc):
        """DAC phases → ADC scans; returns the scan's phase beat, its sideband and the codes."""
        m.d.comb += [
            adc.i_scan.valid.eq(dac.o_phase.valid),
            adc.i_scan.payload.eq(dac.o_phase.payload.as_value()),
            dac.o_phase.ready.eq(adc.i_scan.ready),
        ]
        scan = data.View(dac.PhaseBeat, adc.o_codes.payload.tag)
        scan_meta = data.View(self.MetaLayout, scan.tag)
        return scan, scan_meta, adc.o_codes.payload.code

    def _weight_sums(self, m):
        """``Σ_r w'`` per (tile, column), written with the weights (needed when ``A ≠ 0``);
        returns the memory's read port and its data as one signed view per column."""
        rows, cols = self.rows, self.cols
        m.submodules.wsum = ws_mem = Memory(shape=unsigned(cols * self.WSUM_BITS),
                                            depth=max(2, self.weight_tiles), init=[])
        wr = ws_mem.write_port(granularity=self.WSUM_BITS)
        rd = ws_mem.read_port(domain="sync")
        w_lo, w_hi = self.w_range
        wsum_new, _, _ = self._tree(
            m, ((self.w_data[r], w_lo, w_hi) for r in range(rows)), "wsum_new")
        wsum_new = wire(m, wsum_new, "wsum_new")
        ok = self.w_en
        if self.weight_tiles != 1 << self.TILE_BITS:
            ok = ok & lt(m, self.w_tile, Const(self.weight_tiles,
                                                unsigned(self.TILE_BITS + 1)), "w_tile_ok")
        m.d.comb += [
            wr.addr.eq(self.w_tile[:len(wr.addr)]),
            wr.data.eq(Cat(extend(wsum_new, self.WSUM_BITS) for _ in range(cols))),
            wr.en.eq(Cat(ok & (eq_const(self.w_col, c) if cols > 1 else Const(1, 1))
                         for c in range(cols))),
        ]
        return rd, data.View(data.ArrayLayout(signed(self.WSUM_BITS), cols), rd.data)

    def _column_sums(self, m, codes):
        """Per logical column, ``Z_c = Σ_s Σ_e ±codes[j]·2^(k_j + s·b)``: the ADC codes of its
        slices and polarities scaled by their LSB exponents; ``(value, lo, hi)`` each."""
        B, b = self.adc_bits, self.cell_bits
        e_lo, e_hi = -((1 << (B - 1)) - 1), (1 << B) - 1 + (1 << (B - 1))
        z_terms = []
        for c in range(self.cols):
            items = []
            for s in range(self.SLICES):
                for e in range(self.POLARITIES):
                    j = (c * self.SLICES + s) * self.POLARITIES + e
                    k = self.adc_shift[j] + (1 if (self.inject_fault and j == 0) else 0)
                    sh = s * b
                    lo, hi = e_lo << (k + sh), e_hi << (k + sh)
                    if e == 1:
                        width = signed_width_for(min(lo, -hi), max(hi, -lo))
                        y = self._shl(m, codes[j], k + sh, width, f"y_{j}")
                        y = sub(m, Const(0, 1), y, width, name=f"yneg_{j}")
                        lo, hi = -hi, -lo
                    else:
                        y = self._shl(m, codes[j], k + sh, signed_width_for(lo, hi), f"y_{j}")
                    items.append((y, lo, hi))
            z_terms.append(self._tree(m, items, f"z_{c}"))
        return z_terms

    def _accumulator_range(self, z_terms):
        """``(acc_lo, acc_hi, term_bits)``: the range of ``Σ_p ω_p·Z_c`` over every column
        and the width of one phase's term ``ω_p·Z_c``."""
        acc_lo = acc_hi = 0
        term_lo = term_hi = 0
        for _, zlo, zhi in z_terms:
            rng = [(w * zlo, w * zhi) if w > 0 else (w * zhi, w * zlo)
                   for w in self.phase_weights]
            acc_lo = min(acc_lo, sum(min(lo, 0) for lo, _ in rng))
            acc_hi = max(acc_hi, sum(max(hi, 0) for _, hi in rng))
            term_lo = min(term_lo, *(lo for lo, _ in rng))
            term_hi = max(term_hi, *(hi for _, hi in rng))
        return acc_lo, acc_hi, signed_width_for(term_lo, term_hi)

    def _phase_term(self, m, c, z, phase, term_bits):
        """``ω_phase · Z_c`` as ``term_{c}``: every phase's shifted ``Z_c`` and a multiplexer
        chain on ``phase`` (not ``m.Switch``: see hw/generate.py)."""
        options = []
        for p, w in enumerate(self.phase_weights):
            sh = abs(w).bit_length() - 1
            if w > 0:
                v = self._shl(m, z, sh, term_bits, f"t_{c}_{p}")
            else:       # −2^sh·z: negate at one extra bit, the result fits term_bits
                v = self._shl(m, z, sh, term_bits + 1, f"tp_{c}_{p}")
                v = sub(m, Const(0, 1), v, term_bits + 1, name=f"tn_{c}_{p}")
                v = wire(m, as_signed(v[:term_bits]), f"t_{c}_{p}")
            options.append(v)
        term = Signal(signed(term_bits), name=f"term_{c}")
        term_v = options[-1]                    # the last phase (P−1)
        for p in reversed(range(len(options) - 1)):
            term_v = Mux(eq_const(phase, p), options[p], term_v)
        m.d.comb += term.eq(term_v)
        return term

    def _phase_accumulators(self, m, z_terms, phase, take, acc_bits, term_bits):
        """``acc_q_{c}``: ``ω_0·Z_c`` on phase 0, ``+= ω_p·Z_c`` on the later phases."""
        accs = []
        for c in range(self.cols):
            term = self._phase_term(m, c, z_terms[c][0], phase, term_bits)
            acc_q = Signal(signed(acc_bits), name=f"acc_q_{c}")
            base = wire(m, Mux(phase.any(), acc_q, Const(0, signed(acc_bits))), f"base_{c}")
            acc_d = add(m, base, term, acc_bits, name=f"acc_d_{c}")
            with m.If(take):
                m.d.sync += acc_q.eq(acc_d)
            accs.append(acc_q)
        return accs

    def _output_handshake(self, m, fin_q, fin_meta_q):
        """The ``o_psum`` register stage's control: a finished vector ``move``s into it when it
        is empty or drained; returns ``(psum_valid_q, psum_first_q, psum_last_q, move)``."""
        psum_valid_q = Signal(name="psum_valid_q")
        psum_first_q = Signal(name="psum_first_q")
        psum_last_q = Signal(name="psum_last_q")
        move = Signal(name="move")
        m.d.comb += move.eq(fin_q & (~psum_valid_q | self.o_psum.ready))
        with m.If(self.o_psum.ready):
            m.d.sync += psum_valid_q.eq(0)
        with m.If(move):
            m.d.sync += [fin_q.eq(0), psum_valid_q.eq(1), psum_first_q.eq(fin_meta_q.first),
                         psum_last_q.eq(fin_meta_q.last)]
        return psum_valid_q, psum_first_q, psum_last_q, move

    def _corrected_psums(self, m, accs, acc_range, asum, wsum, move):
        """``psum_c = clamp(acc_c − G·Σ_r (x_r + A) − A·Σ_r w'_rc)`` (the offset-encoding
        corrections, ``G = 2^(W−1)``, ``A = 2^(N_x−1)`` when used) in the MAC array's psum
        range, registered onto ``o_psum`` on ``move``."""
        rows = self.rows
        x_lo, x_hi = self.x_range
        a_lo, a_hi = rows * (x_lo + self.A), rows * (x_hi + self.A)
        ws_lo, ws_hi = rows * self.w_range[0], rows * self.w_range[1]
        pre_lo, pre_hi = acc_range
        if self.G:
            pre_lo, pre_hi = pre_lo - self.G * a_hi, pre_hi - self.G * a_lo
        if self.A:
            pre_lo, pre_hi = pre_lo - self.A * ws_hi, pre_hi - self.A * ws_lo
        p_lo, p_hi = self.psum_range
        pre_bits = signed_width_for(min(pre_lo, p_lo), max(pre_hi, p_hi)) + 1
        if self.G:
            g_corr = self._shl(m, asum, self.weight_bits - 1, pre_bits, "g_corr")
        for c in range(self.cols):
            pre = wire(m, as_signed(extend(accs[c], pre_bits)), f"pre_{c}")
            if self.G:
                pre = sub(m, pre, g_corr, pre_bits, name=f"pre_g_{c}")
            if self.A:
                a_corr = self._shl(m, wsum[c], self.input_bits - 1, pre_bits, f"a_corr_{c}")
                pre = sub(m, pre, a_corr, pre_bits, name=f"pre_a_{c}")
            clamped = clamp(m, pre, Const(p_lo, signed(pre_bits)), Const(p_hi, signed(pre_bits)),
                            pre_bits, name=f"clamp_{c}")
            psum_q = Signal(signed(self.psum_bits), name=f"psum_q_{c}", reset_less=True)
            with m.If(move):
                m.d.sync += psum_q.eq(clamped[:self.psum_bits])
            m.d.comb += self.o_psum.payload.psum[c].eq(psum_q)
