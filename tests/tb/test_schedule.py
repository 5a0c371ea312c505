"""Scheduler, command packing, model and checker of tb/ — no simulator needed.

The command stream is replayed by an independent interpreter written here with Python
integers (address decoding, weight tiles, bias on ``first``, wrap/saturate, the three
rounding modes, zero point, clamp). Its outputs must equal :class:`tb.model.Model`'s
(``golden.datapath.datapath_model`` on the padded layer) for random layers of random
shapes on several configurations — so the beats the hardware receives mean what the model
assumes, and the model agrees with a from-scratch reference.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from sim.config import load_config, resolve_config
from tb.checker import Checker, decode_outputs
from tb.hwparams import HwParams
from tb.layers import FcLayer, LayerError, random_layer
from tb.model import Model
from tb.schedule import (KIND_DATA, KIND_GAP, KIND_LOAD, StreamBuilder, bits_to_hex,
                         field_values, hex_to_bits, schedule)


def _hp(cfg) -> HwParams:
    return HwParams.from_config_dict(cfg.to_dict(), latency=5)


def _cfg(**over):
    raw = {"operands": {"bits": 8}, "array": {"rows": 4, "cols": 3, "weight_tiles": 2},
           "accumulator": {"guard_bits": 8, "overflow": "wrap"},
           "requant": {"rounding": "double", "per_channel": True}}
    for k, v in over.items():
        sec, key = k.split("__")
        raw.setdefault(sec, {})[key] = v
    return resolve_config(raw, where="<test>")


CONFIGS = {
    "int8": lambda: load_config("constraints/int8.yaml"),
    "int4": lambda: load_config("constraints/int4.yaml"),
    "int16": lambda: load_config("constraints/int16.yaml"),
    "small-wrap-double": lambda: _cfg(),
    "small-sat-single": lambda: _cfg(accumulator__overflow="saturate", requant__rounding="single",
                                     accumulator__guard_bits=3),
    "small-ruy-per-tensor": lambda: _cfg(requant__rounding="ruy", requant__per_channel=False),
    "small-unsigned": lambda: _cfg(operands__input_signed=False, operands__weight_signed=False,
                                   requant__out_signed=False, operands__bits=5),
    "small-mixed-t1": lambda: _cfg(operands__input_signed=False, array__weight_tiles=1,
                                   accumulator__guard_bits=4, requant__out_bits=6),
}


# ----------------------------------------------------------------------- interpreter
def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _rdbpot(x: int, e: int) -> int:
    if e == 0:
        return x
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > thr else 0)


def _requant(acc, m0, shift, rounding):
    if rounding == "single":
        t = 31 - shift
        return (acc * m0 + (1 << (t - 1))) >> t
    left, right = max(shift, 0), max(-shift, 0)
    h = (acc * m0 * (1 << left) + (1 << 30)) >> 31
    if rounding == "double":
        return _rdbpot(h, right)
    return h if right == 0 else (h + (1 << (right - 1))) >> right   # ruy: ties up


def interpret(hp: HwParams, stream):
    """Replay a command stream on a Python-int model of the contract (docs/design.md)."""
    R, C, T, N = hp.rows, hp.cols, hp.weight_tiles, hp.bits
    ab, ib = hp.addr_bits, hp.index_bits
    weights = [[0] * R for _ in range(T * C)]
    bias, m0, shift = [0] * C, [0] * C, [0] * C
    yzp = amin = amax = 0
    acc, ovf, sticky = [0] * C, [False] * C, [False] * C
    alo, ahi = hp.acc_range
    outs = []
    for i in range(len(stream)):
        kind = int(stream.kind[i])
        p = stream.payload(i)
        if kind == KIND_LOAD:
            addr, data = p & ((1 << ab) - 1), p >> ab
            region, idx = addr >> ib, addr & ((1 << ib) - 1)
            if region == 0:
                weights[idx] = [(_signed if hp.weight_signed else (lambda v, b: v & ((1 << b) - 1)))(
                    data >> (r * N), N) for r in range(R)]
            elif region == 1:
                bias[idx] = _signed(data, hp.acc_bits)
            elif region == 2:
                m0[idx] = data & 0xFFFFFFFF
            elif region == 3:
                shift[idx] = _signed(data, 6)
            elif region == 4:
                v = _signed(data, hp.out_bits + 1)
                if idx == 0:
                    yzp = v
                elif idx == 1:
                    amin = v
                elif idx == 2:
                    amax = v
                else:
                    sticky = [False] * C
        elif kind == KIND_DATA:
            conv = _signed if hp.input_signed else (lambda v, b: v & ((1 << b) - 1))
            x = [conv(p >> (r * N), N) for r in range(R)]
            tile = (p >> hp.x_bits) & ((1 << hp.tile_bits) - 1)
            first = (p >> (hp.x_bits + hp.tile_bits)) & 1
            last = (p >> (hp.x_bits + hp.tile_bits + 1)) & 1
            ys, os_ = [], []
            for c in range(C):
                psum = sum(a * b for a, b in zip(x, weights[tile * C + c]))
                s = (bias[c] if first else acc[c]) + psum
                o = (False if first else ovf[c]) or not (alo <= s <= ahi)
                if hp.overflow == "wrap":
                    s = _signed(s, hp.acc_bits)
                else:
                    s = min(max(s, alo), ahi)
                acc[c], ovf[c] = s, o
                if last:
                    ci = c if hp.per_channel else 0
                    y = _requant(s, m0[ci], shift[ci], hp.rounding) + yzp
                    ys.append(min(max(y, amin), amax))
                    os_.append(o)
                    sticky[c] = sticky[c] or o
            if last:
                outs.append((ys, os_))
    y = np.array([o[0] for o in outs], np.int64).reshape(-1, C)
    ov = np.array([o[1] for o in outs], bool).reshape(-1, C)
    return y, ov, np.array(sticky)


def _random_program(hp, rng, n_layers=6):
    layers = []
    for i in range(n_layers):
        if i == 0:
            b, k, c = 2, hp.rows * hp.weight_tiles + hp.rows + 1, hp.cols + 1   # reload case
        else:
            b, k, c = (int(rng.integers(1, 4)), int(rng.integers(1, 3 * hp.rows + 1)),
                       int(rng.integers(1, 2 * hp.cols + 2)))
        per_channel = hp.per_channel and i % 2 == 0
        act = ("none", "relu", "relu6")[i % 3]
        zp = ("random", "limits", "zero")[i % 3]
        layers.append(random_layer(hp, rng, batch=b, k=k, c=c, per_channel=per_channel,
                                   act=act, zp=zp, w_zp=(i == 3), name=f"L{i}").fold(hp))
    return schedule(hp, layers, gap_rate=0.05, rng=rng)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_stream_replays_to_model(name):
    hp = _hp(CONFIGS[name]())
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    prog = _random_program(hp, rng, n_layers=4 if hp.rows * hp.cols > 64 else 8)
    exp = Model(hp).expected(prog)
    y, ovf, sticky = interpret(hp, prog.stream)
    assert y.shape == exp.y.shape
    np.testing.assert_array_equal(y, exp.y)
    np.testing.assert_array_equal(ovf, exp.ovf)
    np.testing.assert_array_equal(sticky, exp.sticky)


def test_overflow_lanes_are_exercised():
    """A saturating narrow accumulator: the interpreter and the model agree on ovf flags."""
    hp = _hp(_cfg(accumulator__overflow="saturate", accumulator__guard_bits=2))
    rng = np.random.default_rng(3)
    layers = [random_layer(hp, rng, batch=3, k=hp.rows * 2, c=hp.cols, per_channel=True,
                           name="ovf").fold(hp)]
    layers[0].bias[:] = hp.acc_range[1]
    prog = schedule(hp, layers)
    exp = Model(hp).expected(prog)
    y, ovf, _ = interpret(hp, prog.stream)
    assert exp.ovf.any()
    np.testing.assert_array_equal(ovf, exp.ovf)
    np.testing.assert_array_equal(y, exp.y)


def test_hex_round_trip():
    rng = np.random.default_rng(1)
    for width in (1, 7, 8, 63, 64, 65, 141, 300):
        bits = rng.integers(0, 2, size=(17, width)).astype(np.uint8)
        text = bits_to_hex(bits, width)
        assert len(text.splitlines()) == 17
        assert all(len(line) == (width + 3) // 4 for line in text.splitlines())
        back, unknown = hex_to_bits("// header\n@0\n" + text, width)
        np.testing.assert_array_equal(back, bits)
        assert not unknown.any()
        plain, unknown = hex_to_bits(text, width)        # the vectorised path
        np.testing.assert_array_equal(plain, bits)
        assert not unknown.any()
    back, unknown = hex_to_bits("1x\n0f\n", 8)
    assert unknown.tolist() == [True, False]


def test_packed_words_equal_a_bit_by_bit_reference():
    """Command words are packed in 64-bit limbs (tb.schedule._pack_fields): every field
    (lane widths 1..70, the 8/16/32-bit group path, lanes straddling limbs, negative values
    sign-extended beyond 64 bits) equals a Python-integer reference, and ``bits``/``words``
    round-trip."""
    from tb.schedule import CommandStream, _bits_to_words, _pack_fields, _words_to_bits
    rng = np.random.default_rng(5)
    for width, fields in ((141, [(0, 2, 1), (2, 8, 16), (130, 4, 1), (134, 1, 2)]),
                          (141, [(0, 2, 3), (2, 11, 1), (13, 16, 8)]),
                          (200, [(3, 70, 2), (143, 32, 1), (175, 5, 5)]),
                          (64, [(1, 32, 1), (33, 31, 1)]), (9, [(0, 9, 1)])):
        n = 23
        vals = [rng.integers(-(1 << min(w, 63) - 1) if w > 1 else 0, 1 << min(w, 62),
                             size=(n, k)) for _, w, k in fields]
        words = _pack_fields(n, width, [(o, w, v) for (o, w, _), v in zip(fields, vals)])
        assert words.shape == (n, (width + 7) // 8)
        for i in range(n):
            ref = 0
            for (o, w, k), v in zip(fields, vals):
                for j in range(k):
                    ref |= (int(v[i, j]) & ((1 << w) - 1)) << (o + j * w)
            assert int.from_bytes(words[i].tobytes(), "big") == ref, (width, i)
        bits = _words_to_bits(words, width)
        np.testing.assert_array_equal(_bits_to_words(bits, width), words)
    hp = _hp(_cfg())
    s = CommandStream(hp, np.zeros(2, np.uint8), np.eye(2, hp.cmd_width, dtype=np.uint8))
    assert s.payload(0) == 0 and s.payload(1) == 0 and s.bits[1, 1] == 1   # bit 1: kind


def test_field_values_signed():
    hp = _hp(_cfg())
    sb = StreamBuilder(hp)
    x = np.array([[-128, 127, -1, 0]])
    sb.data(x, 1, 1, 0)
    s = sb.build()
    assert s.kind.tolist() == [KIND_DATA]
    np.testing.assert_array_equal(field_values(s.bits, 2, 8, 4, signed=True), x)
    assert (s.payload(0) >> hp.x_bits) & 1 == 1         # tile 1
    assert (s.payload(0) >> (hp.x_bits + hp.tile_bits)) & 1 == 1   # first


def test_gaps_and_counts():
    hp = _hp(_cfg())
    sb = StreamBuilder(hp)
    sb.gap([3, 1])
    sb.clear_sticky()
    s = sb.build()
    assert s.count(KIND_GAP) == 2 and s.count(KIND_LOAD) == 1
    assert s.gap_cycles() == 4
    assert s.n_outputs == 0


def test_checker_finds_one_flipped_bit():
    """One bit of one lane of one beat flipped: exactly that lane is reported."""
    hp = _hp(load_config("constraints/int8.yaml"))
    rng = np.random.default_rng(7)
    layers = [random_layer(hp, rng, batch=20, k=40, c=40, per_channel=True).fold(hp)]
    prog = schedule(hp, layers)
    exp = Model(hp).expected(prog)
    y, ovf, _ = interpret(hp, prog.stream)
    # encode the interpreter's beats as output words, flip one bit, decode, check
    sb_bits = np.zeros((y.shape[0], hp.out_width), np.uint8)
    for c in range(hp.cols):
        v = y[:, c] & ((1 << hp.out_bits) - 1)
        for bit in range(hp.out_bits):
            sb_bits[:, c * hp.out_bits + bit] = (v >> bit) & 1
        sb_bits[:, hp.y_bits + c] = ovf[:, c]
    gy, go = decode_outputs(hp, sb_bits)
    chk = Checker(hp, prog, exp)
    assert chk.check(gy, go).ok
    sb_bits[37, 11 * hp.out_bits + 3] ^= 1
    gy, go = decode_outputs(hp, sb_bits)
    res = chk.check(gy, go)
    assert res.mismatches == 1
    m = res.first[0]
    assert (m.beat, m.lane, m.field) == (37, 11, "y")
    assert "x[" in m.inputs and "m0=" in m.inputs and "golden acc=" in m.inputs
    # a lost beat and a duplicated beat are both caught
    assert not chk.check(gy[:-1], go[:-1]).ok
    assert not chk.check(np.concatenate([gy, gy[-1:]]), np.concatenate([go, go[-1:]])).ok


def test_fold_errors_are_one_line():
    hp = _hp(load_config("constraints/int8.yaml"))
    layer = FcLayer(x=np.array([[200]]), w=np.array([[1]]), bias=None, x_zp=0, w_zp=0, m0=1 << 30,
                    shift=0, y_zp=0, act_min=-128, act_max=127, name="L")
    with pytest.raises(LayerError, match=r"^L: x\[0, 0\]=200 is out of range; allowed: \[-128, 127\]"):
        layer.fold(hp)
    layer = FcLayer(x=np.array([[1]]), w=np.array([[-100]]), bias=None, x_zp=0, w_zp=50,
                    m0=1 << 30, shift=0, y_zp=0, act_min=-128, act_max=127, name="L")
    with pytest.raises(LayerError, match=r"w - w_zp\[0, 0\]=-150 is out of range"):
        layer.fold(hp)
    hp_pt = _hp(load_config("constraints/int16.yaml"))
    layer = FcLayer(x=np.array([[1]]), w=np.array([[1], [2]]), bias=None, x_zp=0, w_zp=0,
                    m0=np.array([1 << 30, 1 << 29]), shift=0, y_zp=0, act_min=-5, act_max=5,
                    name="L")
    with pytest.raises(LayerError, match="per-channel m0/shift given but the configuration is "
                                         "per-tensor"):
        layer.fold(hp_pt)


def test_port_widths_match_generated_manifest(tmp_path):
    """The widths the harness assumes are the ones the generator declares."""
    from sim.generate import generate
    for name in ("int8", "int16"):
        cfg = CONFIGS[name]()
        gen = generate(cfg, tmp_path / name)
        ports = {p["name"]: p["width"] for p in gen.manifest["ports"]}
        hp = HwParams.from_config_dict(cfg.to_dict(), latency=gen.manifest["latency_cycles"])
        for port, width in hp.expected_port_widths().items():
            assert ports[port] == width, port


# ----------------------------------------------------------------------- long K (KT > T)
@pytest.mark.parametrize("name", ["int8", "small-sat-single", "small-mixed-t1", "int16"])
@pytest.mark.parametrize("extreme_bias", [False, True])
def test_long_k_rows_replay_to_model(name, extreme_bias):
    """K longer than the array holds (KT > T): the reordered schedule (rows alternate
    direction, KT − T tiles loaded per row) when no partial sum can overflow, the in-order
    one when one can (bias at the accumulator's limit) — both replay to the model."""
    from tb.schedule import _reorder_safe
    hp = _hp(CONFIGS[name]())
    seed = zlib.crc32(f"{name}{extreme_bias}".encode())
    rng = np.random.default_rng(seed)
    T = hp.weight_tiles
    for kt in (T + 1, 2 * T + 3):
        L = random_layer(hp, rng, batch=5, k=kt * hp.rows - 1, c=hp.cols + 1,
                         per_channel=hp.per_channel, name="L").fold(hp)
        if extreme_bias:
            L.bias[:] = hp.acc_range[1]
        assert _reorder_safe(hp, L) is (not extreme_bias), seed
        prog = schedule(hp, [L])
        loads = prog.stream.count(KIND_LOAD)
        exp = Model(hp).expected(prog)
        y, ovf, sticky = interpret(hp, prog.stream)
        np.testing.assert_array_equal(y, exp.y)
        np.testing.assert_array_equal(ovf, exp.ovf)
        np.testing.assert_array_equal(sticky, exp.sticky)
        ct = -(-L.shape[2] // hp.cols)
        weight_loads = ct * hp.cols * (kt + 4 * (kt - T) if not extreme_bias else 5 * kt)
        assert loads - weight_loads == ct * (1 + 2 * hp.per_channel) * hp.cols + 3 + \
            2 * (not hp.per_channel) + 1, (loads, weight_loads)
        if extreme_bias:
            assert exp.ovf.any()


def test_long_k_order_keeps_tiles_resident():
    """Every streamed k-tile sits in its slot: replay the slot contents row by row."""
    from tb.schedule import long_k_order
    for B, KT, T in ((4, 5, 2), (3, 17, 16), (6, 40, 16), (3, 7, 1)):
        seq, slot, load = long_k_order(B, KT, T, True)
        held = [-1] * T
        for b in range(B):
            assert sorted(seq[b]) == list(range(KT))
            for j in range(KT):
                if load[b, j]:
                    held[slot[b, j]] = seq[b, j]
                assert held[slot[b, j]] == seq[b, j], (B, KT, T, b, j)
            # a load in group g must not evict a tile of group g itself
            for g in range(0, KT, T):
                assert len(set(slot[b, g:g + T])) == len(slot[b, g:g + T])
        assert load[1:].sum(axis=1).tolist() == [KT - T] * (B - 1)
