"""Weight-stationary array of A-bit × W-bit multipliers with exact dot products."""

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from constraints import derive
from constraints.ranges import dot_product_bits, product_range
from constraints.vocab import PIPELINES

from ._dsp import check_dsp, registered_product
from ._util import (add, ceil_log2, check_array, check_choice, eq_const, extend, lt,
                    signed_width_for)

__all__ = ["MacArray"]


class MacArray(wiring.Component):
    """Weight-stationary ``rows`` × ``cols`` tile of ``input_bits`` × ``weight_bits``
    multipliers.

    ``weight_tiles`` weight tiles of ``rows × cols`` weights are held in ``cols`` memories, one
    per column (one ``rows·weight_bits``-bit word per tile each). Each enabled cycle takes one input
    vector of ``rows`` values and the index of a tile, and produces ``cols`` exact dot
    products ``psum[c] = Σ_r x[r]·w[tile][c][r]`` ``LATENCY`` cycles later: one vector per
    cycle, fully pipelined.

    Parameters
    ----------
    input_bits : int
        Input width A, in [2, 16].
    weight_bits : int
        Weight width W, in [2, 16].
    bits : int, optional
        Shorthand for ``input_bits = weight_bits = bits`` (give it or the two widths).
    input_signed : bool
        Whether the inputs ``x`` are two's complement (else unsigned).
    weight_signed : bool
        Whether the weights are two's complement (else unsigned).
    rows : int
        R, number of inputs per vector (the dot-product length), in [1, 256].
    cols : int
        C, number of output channels (dot products per vector), in [1, 256].
    weight_tiles : int
        T, number of weight tiles held, in [1, 4096].
    pipeline : str
        ``"standard"`` (default) or ``"deep"`` (``timing.pipeline``): the weight write is
        registered (it takes effect one edge after ``w_en``), so stage 1 registers ``x`` and
        ``tile`` and the memory is read one edge later, in stage 2, beside a second register
        of ``x``; stage 3 registers the products; then one register stage per adder-tree
        level (two levels per stage in ``"standard"``). Latency ``1 + ceil(log2 R) −
        ceil(ceil(log2 R) / 2)`` more (+2 for R = 4).
    dsp : None or str
        ``"deep"`` only: ``"ecp5"`` builds each multiplier as a ``MULT18X18D`` whose input
        registers are stage 2 (the weight memory then has an asynchronous read port) and
        whose output register is stage 3 (``hw/_dsp.py``; for ``qmac synth --target
        ecp5``); ``None`` (default) generic RTL with the same cycle behaviour.

    Attributes
    ----------
    psum_bits : int
        Width of each signed dot product: the smallest signed width that holds every possible
        dot product of ``rows`` terms for the given widths and signedness
        (``A + W + ceil(log2 R)`` for signed×signed with R a power of two, one more when
        both operands are unsigned).
    TILE_BITS : int
        Width of the tile indices, ``max(1, ceil(log2 T))``.
    COL_BITS : int
        Width of ``w_col``, ``max(1, ceil(log2 C))``.
    LATENCY : int
        Instance attribute (depends on ``rows`` and ``pipeline``): ``2 + ceil(ceil(log2 R) /
        2)``; ``"deep"``: ``3 + ceil(log2 R)``. Stage 1 reads the weight memory and
        registers ``x``, stage 2 registers the products (``"deep"``: stages 1–3, see
        ``pipeline``), each further stage registers ``ADD_LEVELS_PER_STAGE[pipeline]``
        levels of the adder tree (``"standard"``: 2, ``"deep"``: 1).

    Members
    -------
    en : ``In(1)``
        Pipeline enable (global stall when low): every pipeline register, including the
        memory read port, holds its value while ``en`` is low. Loads are not affected.
    x : ``In(data.ArrayLayout(signed(A) or unsigned(A), R))``
        Input vector; ``x[r]`` at bits ``r·A``. Sampled when ``en`` is high.
    tile : ``In(TILE_BITS)``
        Weight tile used for ``x``. Must be < T (larger indices read tile 0).
    psum : ``Out(data.ArrayLayout(signed(psum_bits), C))``
        Dot products of the vector sampled ``LATENCY`` enabled cycles earlier.
    w_en : ``In(1)``
        Weight write strobe: stores ``w_data`` as column ``w_col`` of tile ``w_tile`` at the
        next clock edge (ignored when ``w_tile ≥ T`` or ``w_col ≥ C``). Vectors sampled after
        that edge see the new weights; a vector sampled at the same edge sees the old ones.
        Writes are independent of ``en``; the weight memory is not reset.
    w_tile : ``In(TILE_BITS)``
        Tile index of the write. (``"deep"``: ``w_en``, ``w_tile``, ``w_col`` and
        ``w_data`` are registered and the write happens one edge later; vectors sampled
        after that edge see it — the first of them is read from the memory one edge after
        it is sampled.)
    w_col : ``In(COL_BITS)``
        Column index of the write.
    w_data : ``In(data.ArrayLayout(signed(W) or unsigned(W), R))``
        The column's ``R`` weights; ``w_data[r]`` at bits ``r·W``.

    Backpressure is the caller's ``en``. Every operand combination is exact (verified
    exhaustively for N ≤ 6 by ``tests/hw/test_mac_array.py``).
    """

    #: Adder-tree levels summed between two pipeline registers, per ``pipeline``.
    ADD_LEVELS_PER_STAGE = {"standard": 2, "deep": 1}

    def __init__(self, *, bits=None, input_bits=None, weight_bits=None, input_signed,
                 weight_signed, rows, cols, weight_tiles=1, pipeline="standard", dsp=None):
        check_array(self, bits=bits, input_bits=input_bits, weight_bits=weight_bits,
                    input_signed=input_signed, weight_signed=weight_signed,
                    rows=rows, cols=cols, weight_tiles=weight_tiles)
        owner = type(self).__name__
        self.pipeline = check_choice(owner, "pipeline", pipeline, PIPELINES)
        self.dsp = check_dsp(owner, dsp)
        if self.dsp is not None and self.pipeline != "deep":
            raise ValueError(f"{owner}: dsp={dsp!r} with pipeline={pipeline!r} is not "
                             f"allowed; allowed: dsp=None, or pipeline='deep'")

        a, w = self.input_bits, self.weight_bits
        self.x_shape = signed(a) if input_signed else unsigned(a)
        self.w_shape = signed(w) if weight_signed else unsigned(w)
        self.product_range = product_range(a, input_signed, weight_signed, weight_bits=w)
        self.psum_range = tuple(rows * p for p in self.product_range)
        self.psum_bits = self.psum_bits_for(input_bits=a, weight_bits=w,
                                            input_signed=input_signed,
                                            weight_signed=weight_signed, rows=rows)
        self.TILE_BITS = derive.tile_bits(self.weight_tiles)
        self.COL_BITS = derive.col_bits(self.cols)
        self.tree_levels = ceil_log2(self.rows)
        self.LATENCY = self.latency_for(rows=rows, pipeline=self.pipeline)

        super().__init__({
            "en": In(1),
            "x": In(data.ArrayLayout(self.x_shape, rows)),
            "tile": In(self.TILE_BITS),
            "psum": Out(data.ArrayLayout(signed(self.psum_bits), cols)),
            "w_en": In(1),
            "w_tile": In(self.TILE_BITS),
            "w_col": In(self.COL_BITS),
            "w_data": In(data.ArrayLayout(self.w_shape, rows)),
        })

    @classmethod
    def psum_bits_for(cls, *, bits=None, input_bits=None, weight_bits=None, input_signed,
                      weight_signed, rows):
        """``psum_bits`` of a ``MacArray`` with these parameters (without building one): the
        contract's exact dot-product width (``constraints.dot_product_bits``); ``bits`` is
        the shorthand for both widths."""
        a = bits if input_bits is None else input_bits
        w = bits if weight_bits is None else weight_bits
        return dot_product_bits(a, rows, input_signed, weight_signed, weight_bits=w)

    @classmethod
    def latency_for(cls, *, rows, pipeline="standard"):
        """``LATENCY`` of a ``MacArray`` with ``rows`` rows (without building one)."""
        deep = 1 if pipeline == "deep" else 0
        return 2 + deep + -(-ceil_log2(rows) // cls.ADD_LEVELS_PER_STAGE[pipeline])

    def _node_width(self, count):
        lo, hi = self.product_range
        return signed_width_for(count * lo, count * hi)

    def elaborate(self, platform):
        m = Module()
        if self.pipeline == "deep":
            columns = self._adder_tree(m, self._deep_products(m))
        else:
            rd_data = self._weight_memories(m)
            x_q, w_q = self._operand_registers(m, rd_data)
            columns = self._adder_tree(m, self._products(m, x_q, w_q))
        for c in range(self.cols):
            (root, _), = columns[c]
            m.d.comb += self.psum[c].eq(extend(root, self.psum_bits).as_signed())
        return m

    def _deep_products(self, m):
        """``"deep"``: registered write, stage 1 ``x``/``tile``, stage 2 the memory read and a
        second ``x`` register (the DSP input registers), stage 3 the products (the DSP
        output registers); per column a list of ``(product, 1)``."""
        write = self._registered_write(m)
        tile_q = Signal(self.TILE_BITS, name="tile_q", reset_less=True)
        x_q = []
        for r in range(self.rows):
            x_r = Signal(self.x_shape, name=f"x_q_{r}", reset_less=True)
            x_q.append(x_r)
        tile = self.tile
        if self.weight_tiles != 1 << self.TILE_BITS:      # larger indices read tile 0
            t_limit = Const(self.weight_tiles, unsigned(self.TILE_BITS + 1))
            tile_ok = lt(m, tile, t_limit, name="tile_ok")
            tile = tile & tile_ok.replicate(self.TILE_BITS)
        with m.If(self.en):
            m.d.sync += [tile_q.eq(tile), *(x_q[r].eq(self.x[r]) for r in range(self.rows))]
        rd_data = self._weight_memories(m, write=write, rd_tile=tile_q,
                                        rd_domain="comb" if self.dsp else "sync")
        x_q2 = [None] * self.rows
        if self.dsp is None:
            for r in range(self.rows):
                x_q2[r] = Signal(self.x_shape, name=f"x_q2_{r}", reset_less=True)
                with m.If(self.en):
                    m.d.sync += x_q2[r].eq(x_q[r])
        width = self.input_bits + self.weight_bits
        both_unsigned = not (self.input_signed or self.weight_signed)
        product_shape = unsigned(width) if both_unsigned else signed(width)
        columns = []
        for c in range(self.cols):
            w_c = data.View(data.ArrayLayout(self.w_shape, self.rows), rd_data[c])
            column = []
            for r in range(self.rows):
                # generic: the shared x_q2 and the memory's read register are the operand
                # registers; ecp5: the DSP samples x_q and the asynchronous read itself
                p = registered_product(m, x_q[r], w_c[r], ce_in=self.en, ce_out=self.en,
                                       name=f"p_{c}_{r}", dsp=self.dsp, a_q=x_q2[r],
                                       b_q=w_c[r] if self.dsp is None else None)
                p_q = Signal(product_shape, name=f"p_q_{c}_{r}")
                m.d.comb += p_q.eq(p)
                column.append((p_q, 1))
            columns.append(column)
        return columns

    def _registered_write(self, m):
        """``"deep"``: the write registered (one write enable per column, decoded before the
        register, so each memory's write enable comes straight from a flip-flop)."""
        we_q = Signal(self.cols, name="w_we_q")
        tile_q = Signal(self.TILE_BITS, name="w_tile_q", reset_less=True)
        data_q = Signal(len(self.w_data.as_value()), name="w_data_q", reset_less=True)
        w_ok = self.w_en
        if self.weight_tiles != 1 << self.TILE_BITS:
            t_limit = Const(self.weight_tiles, unsigned(self.TILE_BITS + 1))
            w_ok = w_ok & lt(m, self.w_tile, t_limit, name="w_tile_ok")
        m.d.sync += [
            we_q.eq(Cat(w_ok & eq_const(self.w_col, c) for c in range(self.cols))),
            tile_q.eq(self.w_tile), data_q.eq(self.w_data.as_value()),
        ]
        return we_q, tile_q, data_q

    def _weight_memories(self, m, write=None, rd_tile=None, rd_domain="sync"):
        """Weight memories: one per column (a word per tile, R·W bits), so each column's read
        register feeds only that column's R multipliers; returns their read data.

        (One C·R·N-bit word per tile is the same storage, but every simulator then moves the
        whole word to each of the R·C multipliers: Icarus spent most of its time there.
        At least two words: a one-word memory would have a zero-width address.)
        """
        tiles, col_width = self.weight_tiles, self.rows * self.weight_bits
        exact_tiles = tiles == 1 << self.TILE_BITS
        t_limit = Const(tiles, unsigned(self.TILE_BITS + 1))
        if write is None:
            w_ok = self.w_en
            if not exact_tiles:
                w_ok = w_ok & lt(m, self.w_tile, t_limit, name="w_tile_ok")
            w_en = [w_ok & eq_const(self.w_col, c) for c in range(self.cols)]
            w_tile, w_data = self.w_tile, self.w_data
        else:                                           # "deep": registered, decoded
            we_q, w_tile, w_data = write
            w_en = [we_q[c] for c in range(self.cols)]
        masked = rd_tile is not None                    # "deep": masked before tile_q
        if rd_tile is None:
            rd_tile = self.tile
        if not exact_tiles and not masked:
            tile_ok = lt(m, rd_tile, t_limit, name="tile_ok")
            rd_tile = rd_tile & tile_ok.replicate(self.TILE_BITS)
        rd_data = []
        for c in range(self.cols):
            mem = Memory(shape=unsigned(col_width), depth=max(2, tiles), init=[])
            m.submodules[f"weights_{c}"] = mem
            wr = mem.write_port()
            rd = mem.read_port(domain=rd_domain)
            m.d.comb += [
                wr.addr.eq(w_tile[:len(wr.addr)]),
                wr.data.eq(w_data),
                wr.en.eq(w_en[c]),
                rd.addr.eq(rd_tile[:len(rd.addr)]),
            ]
            if rd_domain != "comb":
                m.d.comb += rd.en.eq(self.en)
            rd_data.append(rd.data)
        return rd_data

    def _operand_registers(self, m, rd_data):
        """Stage 1: the input vector's register ``x_q`` and the selected tile's weights (the
        memory read registers, as one view per column)."""
        x_q = []
        for r in range(self.rows):
            x_r = Signal(self.x_shape, name=f"x_q_{r}", reset_less=True)
            with m.If(self.en):
                m.d.sync += x_r.eq(self.x[r])
            x_q.append(x_r)
        w_q = [data.View(data.ArrayLayout(self.w_shape, self.rows), rd_data[c])
               for c in range(self.cols)]
        return x_q, w_q

    def _products(self, m, x_q, w_q):
        """Stage 2: the R·C exact products (A + W bits; unsigned only when both operands
        are), per column a list of ``(product, 1)`` (value, number of products summed)."""
        width = self.input_bits + self.weight_bits
        both_unsigned = not (self.input_signed or self.weight_signed)
        product_shape = unsigned(width) if both_unsigned else signed(width)
        columns = []
        for c in range(self.cols):
            column = []
            for r in range(self.rows):
                p_q = Signal(product_shape, name=f"p_q_{c}_{r}", reset_less=True)
                with m.If(self.en):
                    m.d.sync += p_q.eq(x_q[r] * w_q[c][r])
                column.append((p_q, 1))
            columns.append(column)
        return columns

    def _adder_tree(self, m, columns):
        """The stages after the products, up to LATENCY: per column a tree of exact-width
        adders, ``ADD_LEVELS_PER_STAGE[pipeline]`` levels per register stage; returns each
        column's single ``(root, R)``."""
        per_stage = self.ADD_LEVELS_PER_STAGE[self.pipeline]
        first = 4 if self.pipeline == "deep" else 3     # the stage after the products
        for level in range(self.tree_levels):
            stage = first + level // per_stage
            register = (level % per_stage == per_stage - 1 or level == self.tree_levels - 1)
            for c in range(self.cols):
                summed = self._add_level(m, c, columns[c])
                if register:
                    summed = self._register_level(m, c, stage, summed)
                columns[c] = summed
        return columns

    def _add_level(self, m, c, nodes):
        """One adder level of column ``c``: pairs summed, an odd node passed on."""
        summed = []
        for i in range(0, len(nodes) - 1, 2):
            (a, ka), (b, kb) = nodes[i], nodes[i + 1]
            width = self._node_width(ka + kb)
            summed.append((add(m, a, b, width, name=f"sum_{c}"), ka + kb))
        if len(nodes) % 2:
            summed.append(nodes[-1])
        return summed

    def _register_level(self, m, c, stage, summed):
        """Register every node of a level (pipeline stage ``stage``)."""
        regs = []
        for i, (value, k) in enumerate(summed):
            s_q = Signal(value.shape(), name=f"s{stage}_q_{c}_{i}", reset_less=True)
            with m.If(self.en):
                m.d.sync += s_q.eq(value)
            regs.append((s_q, k))
        return regs
