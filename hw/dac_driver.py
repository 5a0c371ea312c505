"""Row DAC driver of the crossbar: splits each input vector into DAC phases."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from constraints import derive
from constraints.vocab import INPUT_ENCODINGS

from ._util import (add, ceil_log2, check_bool, check_choice, check_int, eq_const, silent_on_error,
                    sub)

__all__ = ["DacDriver", "INPUT_ENCODINGS", "phase_plan"]



def phase_plan(*, bits, input_signed, dac_bits, input_encoding):
    """``[(lsb, width, is_sign)]`` of every DAC phase (``docs/crossbar.md`` §2.2).

    The N-bit pattern ``(x + A) mod 2^N`` is cut into ``dac_bits``-wide digits from the LSB;
    for signed inputs in ``twos_complement`` the sign bit is a phase of its own.
    """
    return list(derive.phase_plan(bits, input_signed, dac_bits, input_encoding))




class DacDriver(wiring.Component):
    """Presents each input vector to the crossbar rows as ``P`` phases of DAC codes.

    The pattern ``p_r = (x_r + A) mod 2^N`` (``A = 2^(N−1)`` for signed inputs with
    ``input_encoding="offset"``, else 0) is cut into ``v = dac_bits``-wide digits from the
    LSB, phase ``p`` driving ``d_p[r] = (p_r >> p·v) & (2^v_p − 1)``; for signed inputs with
    ``"twos_complement"`` the ``N − 1`` magnitude bits are cut that way and the sign bit is a
    last phase of its own that drives code ``2^(v−1)`` (the DAC's MSB) on rows with a
    negative input (``docs/crossbar.md`` §2.2).

    Protocol: an accepted vector's phase 0 digits are registered onto ``dac_codes`` at the
    accepting edge (visible in the next cycle c, ``dac_valid`` high). After
    ``dac_settle_cycles`` cycles (c .. c + settle − 1 show the codes without an offer) the
    phase is offered on ``o_phase``; the offer is held until accepted, and the codes do not
    change while it is pending. Accepting it registers the next phase's digits (same
    protocol) or, after the last phase, ends the vector (``dac_valid`` low, ``i_vec.ready``
    high again in the next cycle).

    Parameters
    ----------
    rows : int
        R, in [1, 256].
    bits : int
        N, in [2, 16].
    input_signed : bool
    dac_bits : int
        v, in [1, N].
    input_encoding : str
        ``"twos_complement"`` or ``"offset"``.
    dac_settle_cycles : int
        In [0, 255].
    tile_bits : int
        Width of the tile index carried to ``dac_tile``, in [1, 16].
    tag_bits : int
        Width of an opaque sideband tag carried from ``i_vec`` to every phase, in [1, 256].

    Attributes
    ----------
    PHASES : int
        P, number of phases per vector.
    PHASE_BITS : int
        ``max(1, ceil(log2 P))``.
    plan : list of (lsb, width, is_sign)
        :func:`phase_plan`.

    Members
    -------
    i_vec : ``In(stream.Signature({x: unsigned(R·N), tile: unsigned(tile_bits), tag: unsigned(tag_bits)}))``
        One input vector; ``x[r]`` at bits ``r·N``. ``ready`` while no vector is in progress.
    o_phase : ``Out(stream.Signature({phase: unsigned(PHASE_BITS), last: 1, tag: unsigned(tag_bits)}))``
        The phase whose codes are on ``dac_codes`` and have settled; ``last`` marks the
        vector's last phase. Accepting it advances.
    dac_codes : ``Out(R·v)``
        Row r's code at bits ``r·v`` (registered).
    dac_tile : ``Out(tile_bits)``
        The vector's tile (registered).
    dac_valid : ``Out(1)``
        A vector is being driven.

    Throughput: a phase is offered ``dac_settle_cycles`` cycles after its codes appear; one
    vector at a time.
    """

    @silent_on_error
    def __init__(self, *, rows, bits, input_signed, dac_bits, input_encoding,
                 dac_settle_cycles, tile_bits=1, tag_bits=1):
        owner = type(self).__name__
        self.rows = check_int(owner, "rows", rows, 1, 256)
        self.bits = check_int(owner, "bits", bits, 2, 16)
        self.input_signed = check_bool(owner, "input_signed", input_signed)
        self.dac_bits = check_int(owner, "dac_bits", dac_bits, 1, self.bits)
        self.input_encoding = check_choice(owner, "input_encoding", input_encoding,
                                           INPUT_ENCODINGS)
        self.dac_settle_cycles = check_int(owner, "dac_settle_cycles", dac_settle_cycles, 0, 255)
        self.tile_bits = check_int(owner, "tile_bits", tile_bits, 1, 16)
        self.tag_bits = check_int(owner, "tag_bits", tag_bits, 1, 256)
        self.plan = phase_plan(bits=self.bits, input_signed=self.input_signed,
                               dac_bits=self.dac_bits, input_encoding=self.input_encoding)
        self.PHASES = len(self.plan)
        self.PHASE_BITS = max(1, ceil_log2(self.PHASES))
        self.VecBeat = data.StructLayout({
            "x": unsigned(self.rows * self.bits),
            "tile": unsigned(self.tile_bits),
            "tag": unsigned(self.tag_bits),
        })
        self.PhaseBeat = data.StructLayout({
            "phase": unsigned(self.PHASE_BITS),
            "last": unsigned(1),
            "tag": unsigned(self.tag_bits),
        })
        super().__init__({
            "i_vec": In(stream.Signature(self.VecBeat)),
            "o_phase": Out(stream.Signature(self.PhaseBeat)),
            "dac_codes": Out(self.rows * self.dac_bits),
            "dac_tile": Out(self.tile_bits),
            "dac_valid": Out(1),
        })

    def _pattern(self, x):
        """``(x + A) mod 2^N`` of every row: for ``offset`` signed inputs, flip the MSB."""
        n = self.bits
        offset = self.input_signed and self.input_encoding == "offset"
        rows = []
        for r in range(self.rows):
            v = x[r * n:(r + 1) * n]
            rows.append(Cat(v[:n - 1], ~v[n - 1]) if offset else v)
        return Cat(*rows)

    def _digits(self, pattern, p):
        """Phase p's codes of every row, ``R·v`` bits."""
        n, v = self.bits, self.dac_bits
        lo, width, is_sign = self.plan[p]
        codes = []
        for r in range(self.rows):
            if is_sign:
                digit = Cat(Const(0, v - 1), pattern[r * n + lo]) if v > 1 else pattern[r * n + lo]
            else:
                digit = pattern[r * n + lo:r * n + lo + width]
                if width < v:
                    digit = Cat(digit, Const(0, v - width))
            codes.append(digit)
        return Cat(*codes)

    def elaborate(self, platform):
        m = Module()
        n_phases = self.PHASES

        active_q = Signal(name="active_q")
        phase_q = Signal(self.PHASE_BITS, name="phase_q")
        pattern_q = Signal(self.rows * self.bits, name="pattern_q", reset_less=True)
        codes_q = Signal(self.rows * self.dac_bits, name="codes_q")
        tile_q = Signal(self.tile_bits, name="tile_q")
        tag_q = Signal(self.tag_bits, name="tag_q", reset_less=True)
        last_phase = Signal(name="last_phase")
        m.d.comb += last_phase.eq(eq_const(phase_q, n_phases - 1))
        phase_inc = add(m, phase_q, Const(1, 1), self.PHASE_BITS + 1, name="phase_inc")

        settled, restart = self._settle_counter(m, active_q)
        m.d.comb += [
            self.i_vec.ready.eq(~active_q),
            self.o_phase.valid.eq(active_q & settled),
            self.o_phase.payload.phase.eq(phase_q),
            self.o_phase.payload.last.eq(last_phase),
            self.o_phase.payload.tag.eq(tag_q),
            self.dac_codes.eq(codes_q),
            self.dac_tile.eq(tile_q),
            self.dac_valid.eq(active_q),
        ]

        # accept a vector: register its pattern and phase 0's codes.
        with m.If(self.i_vec.valid & ~active_q):
            pattern = self._pattern(self.i_vec.payload.x)
            m.d.sync += [
                active_q.eq(1),
                phase_q.eq(0),
                pattern_q.eq(pattern),
                codes_q.eq(self._digits(pattern, 0)),
                tile_q.eq(self.i_vec.payload.tile),
                tag_q.eq(self.i_vec.payload.tag),
                *restart,
            ]

        # a settled phase was taken: next phase's codes, or the vector is done.
        with m.If(self.o_phase.valid & self.o_phase.ready):
            with m.If(last_phase):
                m.d.sync += active_q.eq(0)
            with m.Else():
                m.d.sync += [
                    phase_q.eq(phase_inc[:self.PHASE_BITS]),
                    *restart,
                ]
                m.d.sync += codes_q.eq(self._next_codes(pattern_q, phase_q))
        return m

    def _settle_counter(self, m, active_q):
        """The settle counter (none for ``dac_settle_cycles = 0``): returns whether the codes
        have settled and the statements that restart it when new codes are driven."""
        settle = self.dac_settle_cycles
        if not settle:
            return Const(1, 1), []
        cnt_bits = max(1, ceil_log2(settle + 1))
        cnt_q = Signal(cnt_bits, name="cnt_q")
        settled = ~cnt_q.any()
        cnt_dec = sub(m, cnt_q, Const(1, 1), cnt_bits + 1, name="cnt_dec")
        with m.If(active_q & cnt_q.any()):
            m.d.sync += cnt_q.eq(cnt_dec[:cnt_bits])
        return settled, [cnt_q.eq(settle)]

    def _next_codes(self, pattern_q, phase_q):
        """The codes of phase ``phase_q + 1`` (a multiplexer chain, not ``m.Switch``: see
        hw/generate.py)."""
        n_phases = self.PHASES
        codes_next = self._digits(pattern_q, n_phases - 1)  # phase P−2 → the last
        for p in reversed(range(n_phases - 2)):
            codes_next = Mux(eq_const(phase_q, p), self._digits(pattern_q, p + 1), codes_next)
        return codes_next
