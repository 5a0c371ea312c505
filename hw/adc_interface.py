"""ADC interface of the crossbar: start/done handshake, column multiplexing, offset trim."""

from types import SimpleNamespace

from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._util import add, ceil_log2, check_int, eq_const, silent_on_error, sub

__all__ = ["AdcInterface"]


class AdcInterface(wiring.Component):
    """Runs one *scan* — every physical column converted once — per request, through
    ``NUM_ADCS = phys_cols / cols_per_adc`` ADCs each multiplexed over ``cols_per_adc`` (m)
    columns, and delivers the trimmed codes of all columns at once.

    A scan of a request on ``i_scan`` is ``m`` conversion steps ``sel = 0 .. m−1``: the
    interface pulses ``adc_start`` for one cycle with ``adc_sel = sel`` (held until the step
    ends); every ADC ``a`` converts its column ``j = a·m + sel`` and pulses ``adc_done[a]``
    for one cycle, at least one cycle after the start cycle and at any latency, with its code
    on ``adc_code[a·B +: B]`` in that cycle; the interface latches it and, once every ADC has
    answered, starts the next step in the next cycle. After the last step the request is
    accepted (``i_scan.ready`` in the cycle the last ``adc_done`` arrives — so a DAC driver
    holding its codes until then needs no sample-and-hold) and the codes appear on
    ``o_codes`` in the next cycle: ``code[j] = raw_j − trim_j`` (signed ``B + 2`` bits).

    A scan starts only when ``o_codes`` is empty or being taken in the same cycle, and the
    first ``adc_start`` of a scan is registered: it comes the cycle after the request was
    first seen.

    Parameters
    ----------
    phys_cols : int
        C_phys, number of physical columns, in [1, 4096].
    cols_per_adc : int
        m, in [1, C_phys], must divide C_phys.
    adc_bits : int
        B, in [1, 40].
    tag_bits : int
        Width of an opaque tag carried from ``i_scan`` to ``o_codes``, in [1, 512].

    Attributes
    ----------
    NUM_ADCS, SEL_BITS, TRIM_ADDR_BITS : int
        ``C_phys / m``, ``max(1, ceil(log2 m))``, ``max(1, ceil(log2 C_phys))``.
    CODE_BITS : int
        ``B + 2``: width of a trimmed code (``raw ∈ [0, 2^B − 1]`` minus a signed B-bit trim).

    Members
    -------
    i_scan : ``In(stream.Signature(unsigned(tag_bits)))``
        A scan request; accepted when its scan has finished.
    o_codes : ``Out(stream.Signature({tag: unsigned(tag_bits), code: ArrayLayout(signed(B+2), C_phys)}))``
        The request's tag and the trimmed code of every physical column (registered raw
        codes minus the trim registers).
    adc_start : ``Out(1)``
        One-cycle conversion start (registered).
    adc_sel : ``Out(SEL_BITS)``
        Column select of the current step (registered).
    adc_done : ``In(NUM_ADCS)``
        Per-ADC end-of-conversion pulses (ignored outside a step or after the ADC's first
        pulse of the step).
    adc_code : ``In(NUM_ADCS·B)``
        Per-ADC codes, sampled with ``adc_done``.
    trim_we : ``In(1)``
        Trim write strobe: ``trim_data`` becomes column ``trim_addr``'s trim at the next edge
        (ignored for ``trim_addr ≥ C_phys``). Trims reset to 0.
    trim_addr : ``In(TRIM_ADDR_BITS)``
    trim_data : ``In(signed(B))``
    busy : ``Out(1)``
        A scan is in progress.

    Cycles per scan: ``m·(Lc + 1)`` from the first ``adc_start`` to the cycle after the last
    ``adc_done`` when every conversion takes ``Lc`` cycles.
    """

    @silent_on_error
    def __init__(self, *, phys_cols, cols_per_adc, adc_bits, tag_bits=1):
        owner = type(self).__name__
        self.phys_cols = check_int(owner, "phys_cols", phys_cols, 1, 4096)
        self.cols_per_adc = check_int(owner, "cols_per_adc", cols_per_adc, 1, self.phys_cols)
        if self.phys_cols % self.cols_per_adc:
            raise ValueError(f"{owner}: cols_per_adc={cols_per_adc!r} is out of range; "
                             f"allowed: a divisor of phys_cols={phys_cols}")
        self.adc_bits = check_int(owner, "adc_bits", adc_bits, 1, 40)
        self.tag_bits = check_int(owner, "tag_bits", tag_bits, 1, 512)
        self.NUM_ADCS = self.phys_cols // self.cols_per_adc
        self.SEL_BITS = max(1, ceil_log2(self.cols_per_adc))
        self.TRIM_ADDR_BITS = max(1, ceil_log2(self.phys_cols))
        self.CODE_BITS = self.adc_bits + 2
        self.CodesBeat = data.StructLayout({
            "tag": unsigned(self.tag_bits),
            "code": data.ArrayLayout(signed(self.CODE_BITS), self.phys_cols),
        })
        super().__init__({
            "i_scan": In(stream.Signature(unsigned(self.tag_bits))),
            "o_codes": Out(stream.Signature(self.CodesBeat)),
            "adc_start": Out(1),
            "adc_sel": Out(self.SEL_BITS),
            "adc_done": In(self.NUM_ADCS),
            "adc_code": In(self.NUM_ADCS * self.adc_bits),
            "trim_we": In(1),
            "trim_addr": In(self.TRIM_ADDR_BITS),
            "trim_data": In(signed(self.adc_bits)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        q = SimpleNamespace(scanning=Signal(name="scanning_q"), start=Signal(name="start_q"),
                            sel=Signal(self.SEL_BITS, name="sel_q"),
                            pending=Signal(self.NUM_ADCS, name="pending_q"),
                            out_valid=Signal(name="out_valid_q"),
                            tag=Signal(self.tag_bits, name="tag_q", reset_less=True))
        m.d.comb += [
            self.adc_start.eq(q.start),
            self.adc_sel.eq(q.sel),
            self.busy.eq(q.scanning),
            self.o_codes.valid.eq(q.out_valid),
            self.o_codes.payload.tag.eq(q.tag),
        ]
        pending_d, step_done, last_step = self._step_status(m, q)
        self._trimmed_codes(m, self._captured_codes(m, q))
        # output register handshake
        with m.If(self.o_codes.ready):
            m.d.sync += q.out_valid.eq(0)
        self._sequence(m, q, pending_d, step_done, last_step)
        return m

    def _step_status(self, m, q):
        """The current step: the ADCs still pending after this cycle's ``adc_done``, whether
        the step is done and whether it is the last (``sel = m − 1``)."""
        pending_d = Signal(self.NUM_ADCS, name="pending_d")
        m.d.comb += pending_d.eq(q.pending & ~self.adc_done)
        step_done = Signal(name="step_done")
        last_step = Signal(name="last_step")
        m.d.comb += [
            step_done.eq(q.scanning & ~pending_d.any()),
            last_step.eq(eq_const(q.sel, self.cols_per_adc - 1)),
            self.i_scan.ready.eq(step_done & last_step),
        ]
        return pending_d, step_done, last_step

    def _captured_codes(self, m, q):
        """Per physical column, the raw code its ADC returned in the column's step."""
        B, mux = self.adc_bits, self.cols_per_adc
        raw = []
        for j in range(self.phys_cols):
            a, i = divmod(j, mux)
            raw_q = Signal(B, name=f"raw_q_{j}", reset_less=True)
            take = q.scanning & self.adc_done[a] & q.pending[a]
            if mux > 1:
                take = take & eq_const(q.sel, i)
            with m.If(take):
                m.d.sync += raw_q.eq(self.adc_code[a * B:(a + 1) * B])
            raw.append(raw_q)
        return raw

    def _trimmed_codes(self, m, raw):
        """The trim registers and ``code_j = raw_j − trim_j`` onto ``o_codes``."""
        for j in range(self.phys_cols):
            trim_q = Signal(signed(self.adc_bits), name=f"trim_q_{j}")
            with m.If(self.trim_we & eq_const(self.trim_addr, j)):
                m.d.sync += trim_q.eq(self.trim_data)
            trimmed = sub(m, raw[j], trim_q, self.CODE_BITS, name=f"code_{j}")
            m.d.comb += self.o_codes.payload.code[j].eq(trimmed)

    def _sequence(self, m, q, pending_d, step_done, last_step):
        """Sequencing: request → steps ``sel = 0 .. m−1`` (a start each) → codes."""
        every_adc = (1 << self.NUM_ADCS) - 1
        m.d.sync += q.start.eq(0)
        sel_inc = add(m, q.sel, Const(1, 1), self.SEL_BITS + 1, name="sel_inc")
        free = ~q.out_valid | self.o_codes.ready
        with m.If(~q.scanning):
            with m.If(self.i_scan.valid & free):
                m.d.sync += [
                    q.scanning.eq(1),
                    q.start.eq(1),
                    q.sel.eq(0),
                    q.pending.eq(every_adc),
                    q.tag.eq(self.i_scan.payload),
                ]
        with m.Else():
            m.d.sync += q.pending.eq(pending_d)
            with m.If(step_done):
                with m.If(last_step):
                    m.d.sync += [q.scanning.eq(0), q.out_valid.eq(1)]
                with m.Else():
                    m.d.sync += [
                        q.sel.eq(sel_inc[:self.SEL_BITS]),
                        q.start.eq(1),
                        q.pending.eq(every_adc),
                    ]
