"""Turn fully-connected layers into the datapath's load and data beats (NumPy, vectorised).

The result is a :class:`Program`: one :class:`CommandStream` (every beat in issue order, as a
bit matrix that is both the harness's binary ``$fread`` image and the cycle driver's payloads)
plus, for every output beat, which layer / batch row / column tile it belongs to.

Tiling onto an R×C array holding T weight tiles (docs/design.md address map):

* ``K`` is split into ``KT = ceil(K/R)`` k-tiles (zero-padded); one data beat per k-tile,
  ``first`` on the first, ``last`` on the last.
* ``C`` is split into ``CT = ceil(C/cols)`` column tiles (zero-padded lanes: ``w' = 0``,
  ``bias' = 0``, per-channel ``m0 = shift = 0``); each column tile reloads bias, (per-channel)
  ``m0``/``shift`` and weights.
* ``KT <= T``: the k-tiles of a column tile are loaded once into tiles ``0..KT-1`` and every
  batch row streams ``KT`` beats. ``KT > T``: the accumulation of a batch row stays open
  across weight reloads (a load is accepted only with the pipeline empty, and the
  accumulators hold); the accumulator bank holds one row, so a row's k-tiles cannot all
  stay resident. When the order cannot matter (:func:`_reorder_safe`: no partial sum can
  overflow) rows alternate direction and reuse the ``T`` tiles the previous row ended
  with, loading only ``KT − T`` tiles per row (:func:`long_k_order`); otherwise every row
  streams ``0..KT−1`` in chunks of ``T``, each chunk loaded first.
* Scalars (``y_zp``, ``act_min``, ``act_max``) and per-tensor ``m0``/``shift`` once per layer.
* Crossbar tops (docs/crossbar.md §3.3): every program starts by loading the ``C_phys``
  per-column ADC offset trims (region 5 ``TRIM``, index j, signed ``adc_bits``;
  :attr:`Program.trim`, zeros unless given), and weights are always loaded — with an analog
  macro an all-zero input does not make the stored weights irrelevant (offset input
  encoding drives ``x + 2^(N−1)`` on the rows).

Command word layout and load address map: ``constraints/loadmap.py`` (the harness's
SystemVerilog constants are checked against it): bits [1:0] kind, payload from bit 2. A LOAD
payload is the ``i_load`` payload ``{data, addr}``, a DATA payload the ``i_data`` payload
``{last, first, tile, x}``, a GAP payload the number of idle cycles.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np

from constraints import limits, loadmap
from constraints.loadmap import CROSSBAR_REGIONS, GAP_BITS, KIND_BITS, KINDS, LANE_BITS, SCALAR_INDEX

from .hwparams import HwParams
from .layers import FoldedLayer

__all__ = [
    "KIND_END", "KIND_LOAD", "KIND_DATA", "KIND_GAP",
    "REGION_WEIGHTS", "REGION_BIAS", "REGION_M0", "REGION_SHIFT", "REGION_SCALARS",
    "REGION_TRIM",
    "SCALAR_Y_ZP", "SCALAR_ACT_MIN", "SCALAR_ACT_MAX", "SCALAR_CLEAR_STICKY",
    "CommandStream", "StreamBuilder", "Program", "schedule", "bits_to_hex", "hex_to_bits",
    "field_values",
]

# names of the contract's constants (constraints/loadmap.py), for the testbenches
KIND_END, KIND_LOAD, KIND_DATA, KIND_GAP = (KINDS[k] for k in ("END", "LOAD", "DATA", "GAP"))
REGION_WEIGHTS, REGION_BIAS, REGION_M0, REGION_SHIFT, REGION_SCALARS, REGION_TRIM = (
    CROSSBAR_REGIONS[r] for r in ("WEIGHTS", "BIAS", "M0", "SHIFT", "SCALARS", "TRIM"))
SCALAR_Y_ZP, SCALAR_ACT_MIN, SCALAR_ACT_MAX, SCALAR_CLEAR_STICKY = (
    SCALAR_INDEX[k] for k in ("y_zp", "act_min", "act_max", "clear_sticky"))
KIND_NAMES = loadmap.KIND_NAMES


# ---------------------------------------------------------------------------- bit helpers
def bits_to_hex(bits: np.ndarray, width: int | None = None) -> str:
    """Rows of a bit matrix (LSB first) → ``$readmemh`` text, one word per line."""
    n, w = bits.shape
    width = w if width is None else width
    digits = (width + 3) // 4
    if n == 0:
        return ""
    padw = -(-w // 8) * 8
    if padw != w:
        bits = np.concatenate([bits, np.zeros((n, padw - w), np.uint8)], axis=1)
    by = np.packbits(bits, axis=1, bitorder="little")[:, ::-1]
    nb = by.shape[1]
    hexchars = np.frombuffer(by.tobytes().hex().encode(), dtype="S1").reshape(n, 2 * nb)
    hexchars = hexchars[:, 2 * nb - digits:] if 2 * nb >= digits else np.concatenate(
        [np.full((n, digits - 2 * nb), b"0", dtype="S1"), hexchars], axis=1)
    out = np.concatenate([hexchars, np.full((n, 1), b"\n", dtype="S1")], axis=1)
    return out.tobytes().decode()


def bits_to_bytes(bits: np.ndarray, width: int | None = None) -> bytes:
    """Rows of a bit matrix (LSB first) → the binary image ``$fread`` loads into a memory of
    ``width``-bit words: ``ceil(width / 8)`` bytes per word, most significant byte first."""
    n, w = bits.shape
    width = w if width is None else width
    nb = -(-width // 8)
    if n == 0:
        return b""
    if w < nb * 8:
        bits = np.concatenate([bits, np.zeros((n, nb * 8 - w), np.uint8)], axis=1)
    by = np.packbits(bits[:, :nb * 8], axis=1, bitorder="little")[:, ::-1]
    return np.ascontiguousarray(by).tobytes()


def hex_to_bits(text: str, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``$writememh`` text → (bits (n, width) uint8, unknown (n,) bool rows with x/z digits).

    Comment lines (``//``) and address markers (``@``) are skipped. Plain images (only hex
    digits, every word ``ceil(width/4)`` digits — what ``$writememh`` writes) are parsed in
    one vectorised step.
    """
    fast = _hex_words_plain(text, width)
    if fast is not None:
        return fast, np.zeros(fast.shape[0], dtype=bool)
    words = []
    for line in text.splitlines():
        line = line.split("//", 1)[0].strip()
        if not line or line.startswith("@"):
            continue
        words.extend(line.split())
    digits = (width + 3) // 4
    n = len(words)
    unknown = np.zeros(n, dtype=bool)
    if n == 0:
        return np.zeros((0, width), np.uint8), unknown
    clean = []
    for i, wd in enumerate(words):
        wd = wd.lower().replace("_", "")
        if any(ch in "xz?" for ch in wd):
            unknown[i] = True
            wd = "".join("0" if ch in "xz?" else ch for ch in wd)
        clean.append(wd.rjust(digits, "0")[-digits:])
    nd = digits + (digits & 1)
    blob = "".join(s.rjust(nd, "0") for s in clean)
    by = np.frombuffer(bytes.fromhex(blob), dtype=np.uint8).reshape(n, nd // 2)[:, ::-1]
    bits = np.unpackbits(by, axis=1, bitorder="little")[:, :width]
    return np.ascontiguousarray(bits), unknown


_NOT_PLAIN = re.compile(r"[^0-9a-fA-F\s]")


def _hex_words_plain(text: str, width: int) -> np.ndarray | None:
    """Bits of a plain ``$writememh`` image, or None if it has anything else (comments,
    ``@`` addresses, ``x``/``z`` digits, ``_``, words of another length)."""
    digits = (width + 3) // 4
    if _NOT_PLAIN.search(text):
        return None
    words = text.split()
    n = len(words)
    if n == 0 or set(map(len, words)) != {digits}:
        return None
    blob = ("0" + "0".join(words)) if digits & 1 else "".join(words)
    nb = (digits + (digits & 1)) // 2
    by = np.frombuffer(bytes.fromhex(blob), dtype=np.uint8).reshape(n, nb)[:, ::-1]
    return np.ascontiguousarray(np.unpackbits(by, axis=1, bitorder="little")[:, :width])


def field_values(bits: np.ndarray, offset: int, width: int, count: int = 1,
                 signed: bool = False) -> np.ndarray:
    """Read ``count`` lanes of ``width`` bits from each row of a bit matrix → int64 (n, count)."""
    n = bits.shape[0]
    sub = bits[:, offset:offset + count * width].reshape(n, count, width).astype(np.int64)
    vals = (sub << np.arange(width, dtype=np.int64)).sum(axis=2)
    if signed:
        vals = vals - ((vals >> (width - 1)) & 1) * (np.int64(1) << width)
    return vals


# ---------------------------------------------------------------------------- words
def _word_bytes(width: int) -> int:
    return -(-width // 8)


def _pack_fields(n: int, width: int, fields) -> np.ndarray:
    """Command words built from ``fields`` = ``[(offset, lane width, values (n, k))]`` (lane
    ``j`` at bit ``offset + j·lane width``, two's complement) → (n, ceil(width/8)) uint8,
    most significant byte first (the ``$fread`` image). Built in 64-bit limbs: a few
    vector operations per lane, no per-bit matrix."""
    limbs = np.zeros((-(-width // 64) + 1, n), np.uint64)   # + 1: spill-over scratch
    for offset, lane_width, values in fields:
        v = np.asarray(values, dtype=np.int64)
        v = v[:, None] if v.ndim == 1 else v
        k = v.shape[1]
        v = np.broadcast_to(v, (n, k))
        if lane_width in (8, 16, 32) and k * lane_width > 64:
            # whole 64-bit groups of lanes at once: the lanes' two's complement bytes,
            # least significant first, are already the group's little-endian value
            per = 64 // lane_width
            packed = np.zeros((n, -(-k // per) * per), f"<u{lane_width // 8}")
            packed[:, :k] = v            # wraps to the lane width (two's complement)
            groups = packed.view("<u8")                          # (n, k / per)
            for i in range(groups.shape[1]):
                _put(limbs, offset + 64 * i, min(64, (k - i * per) * lane_width), groups[:, i])
            continue
        lanes = np.ascontiguousarray(v.T)                        # (k, n)
        if lane_width > 64:
            for j in range(k):
                _put_wide(limbs, offset + j * lane_width, lane_width, lanes[j])
            continue
        u = lanes.astype(np.uint64)
        if lane_width < 64:
            u &= np.uint64((1 << lane_width) - 1)
        for j in range(k):
            _put(limbs, offset + j * lane_width, lane_width, u[j])
    nb = _word_bytes(width)
    le = np.ascontiguousarray(limbs[:-1].T).astype("<u8").view(np.uint8)   # LSB first
    return np.ascontiguousarray(le[:, nb - 1::-1])


def _put(limbs: np.ndarray, pos: int, width: int, u: np.ndarray) -> None:
    """OR ``u`` (uint64, already ``width`` bits, ``width <= 64``) in at bit ``pos``."""
    limb, sh = divmod(pos, 64)
    if sh == 0:
        limbs[limb] |= u
    else:
        limbs[limb] |= u << np.uint64(sh)
        if sh + width > 64:
            limbs[limb + 1] |= u >> np.uint64(64 - sh)


def _put_wide(limbs: np.ndarray, pos: int, width: int, v: np.ndarray) -> None:
    """A lane wider than 64 bits: ``v`` (int64) sign-extended to ``width`` bits."""
    _put(limbs, pos, 64, v.astype(np.uint64))
    ext = np.where(v < 0, np.uint64(2**64 - 1), np.uint64(0))
    for p in range(pos + 64, pos + width, 64):
        w = min(64, pos + width - p)
        _put(limbs, p, w, ext & np.uint64((1 << w) - 1) if w < 64 else ext)


def _words_to_bits(words: np.ndarray, width: int) -> np.ndarray:
    """(n, nb) words, most significant byte first → (n, width) bits, LSB first."""
    return np.ascontiguousarray(
        np.unpackbits(words[:, ::-1], axis=1, bitorder="little")[:, :width])


def _bits_to_words(bits: np.ndarray, width: int) -> np.ndarray:
    n = bits.shape[0]
    nb = _word_bytes(width)
    if n == 0:
        return np.zeros((0, nb), np.uint8)
    return np.frombuffer(bits_to_bytes(bits, width), np.uint8).reshape(n, nb).copy()


# ---------------------------------------------------------------------------- streams
class CommandStream:
    """Commands in issue order: ``kind`` (n,) and the command words, held packed
    (:attr:`words`, (n, ceil(CMD_W/8)) bytes, most significant first: the harness's binary
    image) and shown as bits (:attr:`bits`, (n, CMD_W), LSB first) on demand."""

    def __init__(self, hp: HwParams, kind: np.ndarray, bits: np.ndarray | None = None, *,
                 words: np.ndarray | None = None):
        self.hp = hp
        self.kind = kind
        if words is None:
            words = _bits_to_words(np.asarray(bits, np.uint8), hp.cmd_width)
        self.words = words

    @property
    def bits(self) -> np.ndarray:
        """(n, CMD_W) uint8 bits of every command word, LSB first."""
        return _words_to_bits(self.words, self.hp.cmd_width)

    def _bit(self, pos: int) -> np.ndarray:
        nb = self.words.shape[1]
        return (self.words[:, nb - 1 - pos // 8] >> (pos % 8)) & 1

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    @property
    def is_last(self) -> np.ndarray:
        """(n,) bool: DATA beats with ``last`` set (each produces one output beat)."""
        pos = KIND_BITS + self.hp.x_bits + self.hp.tile_bits + 1
        return (self.kind == KIND_DATA) & (self._bit(pos) == 1)

    @property
    def n_outputs(self) -> int:
        return int(self.is_last.sum())

    def count(self, kind: int) -> int:
        return int((self.kind == kind).sum())

    def gap_cycles(self) -> int:
        g = self.kind == KIND_GAP
        if not g.any():
            return 0
        bits = _words_to_bits(self.words[g], self.hp.cmd_width)
        return int(np.maximum(field_values(bits, KIND_BITS, GAP_BITS)[:, 0], 1).sum())

    def payload(self, i: int) -> int:
        """The payload of command ``i`` as a Python int (for the cycle-driven driver)."""
        return int.from_bytes(self.words[i].tobytes(), "big") >> KIND_BITS

    def payloads(self) -> list[int]:
        """All payloads as Python ints."""
        return [int.from_bytes(r.tobytes(), "big") >> KIND_BITS for r in self.words]

    def slice(self, start: int, stop: int) -> "CommandStream":
        return CommandStream(self.hp, self.kind[start:stop], words=self.words[start:stop])

    @staticmethod
    def merge(hp: HwParams, streams: list["CommandStream"], keys: list[np.ndarray]
              ) -> "CommandStream":
        """Interleave ``streams`` by ascending ``keys`` (one per command; stable, so equal
        keys keep stream order, then command order)."""
        allk = np.concatenate(keys)
        idx = np.argsort(allk, kind="stable")
        s = CommandStream.concat(hp, streams)
        return CommandStream(hp, s.kind[idx], words=s.words[idx])

    def with_end(self) -> "CommandStream":
        end = np.zeros((1, self.words.shape[1]), np.uint8)
        return CommandStream(self.hp, np.concatenate([self.kind, [KIND_END]]).astype(np.uint8),
                             words=np.concatenate([self.words, end]))

    def to_hex(self) -> str:
        """``$readmemh`` image of these commands (no END appended)."""
        return bits_to_hex(self.bits, self.hp.cmd_width)

    def to_bin(self) -> bytes:
        """``$fread`` image of these commands (no END appended): what the harness loads."""
        return np.ascontiguousarray(self.words).tobytes()

    @staticmethod
    def concat(hp: HwParams, streams: list["CommandStream"]) -> "CommandStream":
        if not streams:
            return CommandStream(hp, np.zeros(0, np.uint8),
                                 words=np.zeros((0, _word_bytes(hp.cmd_width)), np.uint8))
        return CommandStream(hp, np.concatenate([s.kind for s in streams]).astype(np.uint8),
                             words=np.concatenate([s.words for s in streams]))


class StreamBuilder:
    """Append load / data / gap beats (vectorised) and build a :class:`CommandStream`."""

    def __init__(self, hp: HwParams):
        self.hp = hp
        self._kinds: list[np.ndarray] = []
        self._words: list[np.ndarray] = []

    def _block(self, kind: int, n: int, fields: list[tuple[int, int, np.ndarray]]) -> None:
        if n == 0:
            return
        self._kinds.append(np.full(n, kind, np.uint8))
        self._words.append(_pack_fields(n, self.hp.cmd_width,
                                        [(0, KIND_BITS, np.array([kind]))] + list(fields)))

    def load(self, region: int, index, lanes, lane_width: int) -> None:
        """LOAD beats at :func:`constraints.encode_load` addresses, data = ``lanes`` packed LSB
        first."""
        hp = self.hp
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        lanes = np.asarray(lanes, dtype=np.int64)
        if lanes.ndim == 0:
            lanes = np.full((index.shape[0], 1), int(lanes), np.int64)
        elif lanes.ndim == 1:
            lanes = lanes[:, None]
        if lanes.shape[0] != index.shape[0]:
            raise ValueError(f"{lanes.shape[0]} data words for {index.shape[0]} addresses")
        if lanes.shape[1] * lane_width > hp.load_data_bits:
            raise ValueError(f"load data of {lanes.shape[1]}x{lane_width} bits exceeds "
                             f"LOAD_DATA_BITS={hp.load_data_bits}")
        if (index < 0).any() or (index >= (1 << hp.index_bits)).any():
            raise ValueError(f"load index out of range for INDEX_BITS={hp.index_bits}")
        addr = loadmap.encode_load(np.int64(region), index, hp.index_bits)
        self._block(KIND_LOAD, index.shape[0],
                    [(KIND_BITS, hp.addr_bits, addr), (KIND_BITS + hp.addr_bits, lane_width, lanes)])

    def load_weights(self, tile, col, w_lanes) -> None:
        """Weight words: index ``tile·C + col``, ``data[r·W +: W] = w'[row r]``."""
        tile = np.atleast_1d(np.asarray(tile, dtype=np.int64))
        col = np.atleast_1d(np.asarray(col, dtype=np.int64))
        self.load(REGION_WEIGHTS, tile * self.hp.cols + col, np.asarray(w_lanes).reshape(
            tile.shape[0], self.hp.rows), self.hp.weight_bits)

    def load_bias(self, cols, values) -> None:
        self.load(REGION_BIAS, cols, values, self.hp.acc_bits)

    def load_m0(self, cols, values) -> None:
        self.load(REGION_M0, cols, values, LANE_BITS["M0"])

    def load_shift(self, cols, values) -> None:
        self.load(REGION_SHIFT, cols, values, LANE_BITS["SHIFT"])

    def load_scalars(self, y_zp: int, act_min: int, act_max: int) -> None:
        self.load(REGION_SCALARS, [SCALAR_Y_ZP, SCALAR_ACT_MIN, SCALAR_ACT_MAX],
                  [y_zp, act_min, act_max], self.hp.scalar_bits)

    def clear_sticky(self) -> None:
        self.load(REGION_SCALARS, [SCALAR_CLEAR_STICKY], [0], LANE_BITS["clear_sticky"])

    def load_trims(self, trim) -> None:
        """Crossbar: ADC offset trims of all ``C_phys`` physical columns (signed B bits)."""
        hp = self.hp
        trim = np.asarray(trim, dtype=np.int64).reshape(-1)
        if trim.shape[0] != hp.phys_cols:
            raise ValueError(f"{trim.shape[0]} trims for {hp.phys_cols} physical columns")
        lo, hi = hp.trim_range
        if trim.size and (trim.min() < lo or trim.max() > hi):
            raise ValueError(f"trim outside the signed {hp.adc_bits}-bit range [{lo}, {hi}]")
        self.load(REGION_TRIM, np.arange(hp.phys_cols), trim, hp.adc_bits)

    def data(self, x, tile, first, last) -> None:
        """DATA beats: ``x`` (n, R) raw inputs, ``tile``/``first``/``last`` (n,)."""
        hp = self.hp
        x = np.asarray(x, dtype=np.int64).reshape(-1, hp.rows)
        n = x.shape[0]
        tile = np.broadcast_to(np.asarray(tile, dtype=np.int64), (n,))
        first = np.broadcast_to(np.asarray(first, dtype=np.int64), (n,))
        last = np.broadcast_to(np.asarray(last, dtype=np.int64), (n,))
        base = KIND_BITS + hp.x_bits
        self._block(KIND_DATA, n, [(KIND_BITS, hp.input_bits, x), (base, hp.tile_bits, tile),
                                   (base + hp.tile_bits, 1, first),
                                   (base + hp.tile_bits + 1, 1, last)])

    def gap(self, cycles) -> None:
        cycles = np.atleast_1d(np.asarray(cycles, dtype=np.int64))
        self._block(KIND_GAP, cycles.shape[0], [(KIND_BITS, GAP_BITS, cycles)])

    def extend(self, stream: CommandStream) -> None:
        """Append an already built stream."""
        if len(stream):
            self._kinds.append(stream.kind)
            self._words.append(stream.words)

    def __len__(self) -> int:
        return sum(k.shape[0] for k in self._kinds)

    def build(self) -> CommandStream:
        hp = self.hp
        if not self._kinds:
            return CommandStream.concat(hp, [])
        return CommandStream(hp, np.concatenate(self._kinds), words=np.concatenate(self._words))


# ---------------------------------------------------------------------------- programs
@dataclasses.dataclass
class Program:
    """A command stream plus what each of its output beats means.

    ``beats[i] = (layer index, batch row, column tile)`` of output beat ``i`` (arrival order
    equals issue order of the ``last`` beats). ``sticky_cleared`` tells whether the stream
    starts by clearing the sticky overflow flags. ``trim`` (crossbar tops) holds the ADC
    offset trims the stream loads first, one per physical column.
    """

    hp: HwParams
    stream: CommandStream
    layers: list[FoldedLayer]
    beats: np.ndarray
    sticky_cleared: bool = True
    trim: np.ndarray | None = None

    @property
    def n_outputs(self) -> int:
        return int(self.beats.shape[0])

    @property
    def macs(self) -> int:
        """Useful MACs (layer shapes, no padding)."""
        return sum(L.macs for L in self.layers)

    def summary(self) -> str:
        s = self.stream
        return (f"{len(self.layers)} layer(s), {len(s)} commands "
                f"({s.count(KIND_LOAD)} loads, {s.count(KIND_DATA)} data beats, "
                f"{s.count(KIND_GAP)} gaps), {self.n_outputs} output beats, {self.macs} MACs")


def padded_output_stage(hp: HwParams, L: FoldedLayer):
    """``(bias', m0, shift)`` of every lane of ``L``'s column tiles (see :func:`padded_layer`:
    padded lanes ``bias' = 0``, per-channel ``m0 = shift = 0``, per-tensor the layer's)."""
    c = L.shape[2]
    ct = max(1, math.ceil(c / hp.cols))
    bp = np.zeros(ct * hp.cols, np.int64)
    bp[:c] = L.bias
    if hp.per_channel:
        m0p = np.zeros(ct * hp.cols, np.int64)
        shp = np.zeros(ct * hp.cols, np.int64)
        m0p[:c], shp[:c] = L.m0, L.shift
    else:
        m0p = np.full(ct * hp.cols, L.m0[0], np.int64)
        shp = np.full(ct * hp.cols, L.shift[0], np.int64)
    return bp, m0p, shp


def padded_layer(hp: HwParams, L: FoldedLayer):
    """Zero-pad a folded layer to whole k-tiles and column tiles.

    Returns ``(x [B, KT·R], w [CT·cols, KT·R], bias, m0, shift)``; padded lanes have
    ``w' = bias' = 0`` and (per-channel) ``m0 = shift = 0``; per-tensor configurations
    use the layer's single ``m0``/``shift`` for every lane.
    """
    b, k, c = L.shape
    kt = max(1, math.ceil(k / hp.rows))
    ct = max(1, math.ceil(c / hp.cols))
    xp = np.zeros((b, kt * hp.rows), np.int64)
    xp[:, :k] = L.x
    wp = np.zeros((ct * hp.cols, kt * hp.rows), np.int64)
    wp[:c, :k] = L.w
    return (xp, wp) + padded_output_stage(hp, L)


def check_layer(hp: HwParams, L: FoldedLayer) -> None:
    """Reject layers outside the contract (a testbench bug, not a hardware mismatch)."""
    olo, ohi = hp.out_range
    for name, v in (("y_zp", L.y_zp), ("act_min", L.act_min), ("act_max", L.act_max)):
        if not olo <= v <= ohi:
            raise ValueError(f"{L.name}: {name}={v} is outside the {hp.out_bits}-bit output "
                             f"range [{olo}, {ohi}]")
    if L.act_min > L.act_max:
        raise ValueError(f"{L.name}: act_min={L.act_min} > act_max={L.act_max}")
    for name, a, lo, hi in (("x", L.x, *hp.x_range), ("w'", L.w, *hp.w_range),
                            ("bias'", L.bias, *hp.acc_range), ("m0", L.m0, 0, 2**31 - 1),
                            ("shift", L.shift, limits.SHIFT_MIN, limits.SHIFT_MAX)):
        a = np.asarray(a)
        if a.size and (a.min() < lo or a.max() > hi):
            raise ValueError(f"{L.name}: {name} outside [{lo}, {hi}]")


def unused_addresses(hp: HwParams) -> list[tuple[int, int]]:
    """``(region, index)`` load addresses the hardware must ignore (docs/design.md: "writes
    to regions 5–7 or to indices beyond a region are accepted and ignored"): every index
    edge (0, 1, the last) of each unused region, and the first, second and last index
    beyond each used region (per-tensor ``M0``/``SHIFT``: beyond index 0)."""
    top = (1 << hp.index_bits) - 1
    used = CROSSBAR_REGIONS if hp.is_crossbar else {
        k: v for k, v in CROSSBAR_REGIONS.items() if k != "TRIM"}
    size = {"WEIGHTS": hp.weight_tiles * hp.cols, "BIAS": hp.cols,
            "M0": hp.cols if hp.per_channel else 1, "SHIFT": hp.cols if hp.per_channel else 1,
            "SCALARS": len(SCALAR_INDEX), "TRIM": hp.phys_cols_or_zero}
    out = []
    for region in range(1 << loadmap.REGION_BITS):
        name = next((k for k, v in used.items() if v == region), None)
        if name is None:
            out += [(region, i) for i in sorted({0, 1, top})]
        elif hp.is_crossbar and name == "WEIGHTS":
            continue                       # the crossbar's programming port: not probed
        else:
            out += [(region, i) for i in sorted({size[name], size[name] + 1, top}) if
                    size[name] <= i <= top]
    return out


def _unused_loads(sb: StreamBuilder, hp: HwParams, rng: np.random.Generator) -> None:
    """A load of random data to every :func:`unused_addresses` entry (the model ignores
    them: any effect on an output is a mismatch)."""
    for region, index in unused_addresses(hp):
        nl = hp.load_data_bits // 16
        sb.load(region, [index], rng.integers(0, 1 << 16, size=(1, nl)), 16)


def _schedule_layer(sb: StreamBuilder, hp: HwParams, L: FoldedLayer, li: int,
                    beats: list[np.ndarray], unused_rng=None) -> None:
    check_layer(hp, L)
    R, CC, T = hp.rows, hp.cols, hp.weight_tiles
    B = L.shape[0]
    xp, wp, bp, m0p, shp = padded_layer(hp, L)
    KT = xp.shape[1] // R
    CT = wp.shape[0] // CC
    sb.load_scalars(L.y_zp, L.act_min, L.act_max)
    if L.shift_alias:        # the same shifts through their out-of-range 6-bit aliases
        shp = np.where(shp == -31, -32, np.where(shp == 30, 31, shp))
    if not hp.per_channel:
        sb.load_m0([0], [L.m0[0]])
        sb.load_shift([0], [shp[0]])
    lanes = np.arange(CC)
    xt = xp.reshape(B, KT, R)
    skip_w = bool(L.x_is_zero)
    if skip_w and np.any(L.x != 0):
        raise ValueError(f"{L.name}: x_is_zero is set but x has non-zero values")
    if hp.is_crossbar:
        skip_w = False
    reorder = KT > T and _reorder_safe(hp, L)
    for ct in range(CT):
        cs = slice(ct * CC, (ct + 1) * CC)
        sb.load_bias(lanes, bp[cs])
        if hp.per_channel:
            sb.load_m0(lanes, m0p[cs])
            sb.load_shift(lanes, shp[cs])
        if unused_rng is not None:
            _unused_loads(sb, hp, unused_rng)
        wt = wp[cs].reshape(CC, KT, R).transpose(1, 0, 2)  # [kt, col, r]
        if KT <= T:
            if not skip_w:
                sb.load_weights(np.repeat(np.arange(KT), CC), np.tile(lanes, KT),
                                wt.reshape(KT * CC, R))
            kts = np.tile(np.arange(KT), B)
            sb.data(xt.reshape(B * KT, R), kts, kts == 0, kts == KT - 1)
            beats.append(np.stack([np.full(B, li), np.arange(B), np.full(B, ct)], axis=1))
        else:
            _stream_long_k(sb, hp, xt, wt, skip_w, reorder=reorder)
            beats.append(np.stack([np.full(B, li), np.arange(B), np.full(B, ct)], axis=1))


def _reorder_safe(hp: HwParams, L: FoldedLayer) -> bool:
    """May the k-tiles of a batch row be accumulated in any order? Yes on a MAC array when
    no partial sum in any order can leave the accumulator range (:func:`cannot_overflow`) —
    then every addition is exact, the final value and the overflow flags (all clear) do
    not depend on the order, in ``wrap`` and in ``saturate`` mode. Crossbar tops keep the
    k-tile order (their model follows it)."""
    return not hp.is_crossbar and cannot_overflow(hp, L)


def cannot_overflow(hp: HwParams, L: FoldedLayer) -> bool:
    """True when no partial sum of any output of ``L``, in any order, can leave the
    accumulator range on a MAC array: ``|bias'| + Σ|x||w'| < 2^(acc_bits−1)`` for every
    output (then every accumulation is exact and every overflow flag stays clear)."""
    limit = 2.0 ** (hp.acc_bits - 1)      # float64 is exact: integers below 2^53
    ax = np.abs(np.asarray(L.x, np.float64))
    aw = np.abs(np.asarray(L.w, np.float64))
    ab = np.abs(np.asarray(L.bias, np.float64))
    if ax.size == 0 or aw.size == 0:
        return True
    if ab.max() + ax.max(axis=0) @ aw.max(axis=0) < limit:   # coarse bound first
        return True
    return all((ax[r:r + 4096] @ aw.T + ab[None, :]).max() < limit    # row blocks: memory
               for r in range(0, ax.shape[0], 4096))


def long_k_order(B: int, KT: int, T: int, reorder: bool):
    """Order of the k-tiles when a row needs more (``KT``) than the array holds (``T``).

    Returns ``(seq, slot, load)``, each ``[B, KT]``: the k-tile streamed at each position
    of each batch row, the weight tile (slot) it sits in, and whether it is loaded just
    before its group of ``T`` positions (group ``j // T``).

    ``reorder=False``: every row streams ``0..KT−1`` and reloads every chunk of ``T``
    (``KT·C`` load beats per row). ``reorder=True``: rows alternate direction, so the last
    ``T`` k-tiles of a row are still resident and stream first in the next; a position
    ``j ≥ T`` reuses the slot of position ``j − T`` (used earlier in the same row). Every
    row after the first loads only ``KT − T`` tiles — the minimum with one accumulator row.
    """
    j = np.arange(KT)
    if not reorder:
        seq = np.broadcast_to(j, (B, KT)).copy()
        return seq, seq % T, np.ones((B, KT), bool)
    even = (np.arange(B) % 2 == 0)[:, None]
    seq = np.where(even, j[None, :], j[::-1][None, :])
    # next row's first T slots = this row's last T, reversed: the permutation
    # p(i) = (KT − 1 − i) mod T of the first T; p∘p = identity, so rows alternate between
    # the identity (even rows) and p (odd rows)
    p = (KT - 1 - np.arange(T)) % T
    slot = np.where(even, (j % T)[None, :], p[j % T][None, :])
    load = np.broadcast_to(j >= T, (B, KT)).copy()
    load[0] = True
    return seq, slot, load


def _stream_long_k(sb: StreamBuilder, hp: HwParams, xt: np.ndarray, wt: np.ndarray,
                   skip_w: bool, *, reorder: bool) -> None:
    """One column tile of a layer with ``KT > T`` (:func:`long_k_order`), vectorised: the
    load and data beats are built in two blocks and interleaved by (row, group, kind)."""
    B, KT, R = xt.shape
    CC, T = hp.cols, hp.weight_tiles
    seq, slot, load = long_k_order(B, KT, T, reorder)
    j = np.broadcast_to(np.arange(KT), (B, KT))
    group = (np.arange(B)[:, None] * KT + j // T) * 2          # loads sort before data
    db = StreamBuilder(hp)
    db.data(xt[np.arange(B)[:, None], seq].reshape(B * KT, R), slot.ravel(),
            (j == 0).ravel(), (j == KT - 1).ravel())
    parts, keys = [db.build()], [group.ravel() + 1]
    if not skip_w:
        lb, lanes = StreamBuilder(hp), np.arange(CC)
        bi, ji = np.nonzero(load)
        n = bi.shape[0]
        lb.load_weights(np.repeat(slot[bi, ji], CC), np.tile(lanes, n),
                        wt[seq[bi, ji]].reshape(n * CC, R))
        parts.append(lb.build())
        keys.append(np.repeat(group[bi, ji], CC))
    sb.extend(CommandStream.merge(hp, parts, keys))


def schedule(hp: HwParams, layers: list[FoldedLayer], *, clear_sticky: bool = True,
             gap_rate: float = 0.0, rng: np.random.Generator | None = None,
             trim=None, unused_rng: np.random.Generator | None = None) -> Program:
    """Schedule ``layers`` back to back into one :class:`Program`.

    ``gap_rate`` > 0 inserts GAP commands (1–3 idle input cycles) before that fraction of
    the commands, randomly (``rng``), to exercise input-side bubbles in the fast path.
    ``trim`` (crossbar tops only): the ADC offset trims, one per physical column (default
    zeros), loaded at the start of the stream. ``unused_rng``: before every column tile's
    weights, random data is loaded to every address the hardware must ignore
    (:func:`unused_addresses`).
    """
    sb = StreamBuilder(hp)
    if clear_sticky:
        sb.clear_sticky()
    if hp.is_crossbar:
        trim = np.zeros(hp.phys_cols, np.int64) if trim is None else \
            np.asarray(trim, dtype=np.int64).reshape(-1).copy()
        sb.load_trims(trim)
    elif trim is not None:
        raise ValueError("trim is only for crossbar configurations")
    beats: list[np.ndarray] = []
    for li, L in enumerate(layers):
        _schedule_layer(sb, hp, L, li, beats, unused_rng)
    stream = sb.build()
    if gap_rate > 0:
        rng = rng or np.random.default_rng(0)
        stream = insert_gaps(stream, rng, gap_rate)
    allbeats = np.concatenate(beats) if beats else np.zeros((0, 3), np.int64)
    if allbeats.shape[0] != stream.n_outputs:
        raise AssertionError(f"scheduler produced {stream.n_outputs} last beats for "
                             f"{allbeats.shape[0]} outputs")
    return Program(hp, stream, list(layers), allbeats.astype(np.int64), clear_sticky, trim)


def insert_gaps(stream: CommandStream, rng: np.random.Generator, rate: float,
                max_gap: int = 3) -> CommandStream:
    """Insert GAP commands of 1..``max_gap`` cycles before a random ``rate`` of commands."""
    n = len(stream)
    where = np.flatnonzero(rng.random(n) < rate)
    if where.size == 0:
        return stream
    gb = StreamBuilder(stream.hp)
    gb.gap(rng.integers(1, max_gap + 1, size=where.size))
    gaps = gb.build()
    order = np.concatenate([np.arange(n) * 2 + 1, where * 2])
    kinds = np.concatenate([stream.kind, gaps.kind])
    words = np.concatenate([stream.words, gaps.words])
    idx = np.argsort(order, kind="stable")
    return CommandStream(stream.hp, kinds[idx], words=words[idx])
