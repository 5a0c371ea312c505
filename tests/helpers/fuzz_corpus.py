"""The hostile-input corpus of qmac (issue 13), generated — nothing binary is committed.

Three kinds of cases, each a :class:`Case` whose ``build(dir)`` writes its input files into
``dir`` and returns the ``qmac`` command line:

* ``config``: bad configurations (null / huge / wrong-typed numbers, unhashable keys, deep
  nesting, alias bombs, merge keys, bad file names, a directory or FIFO, huge-but-valid
  shapes), each run as ``qmac verify CONFIG --vectors <missing>``: the configuration is read
  before the vectors, so a bad one must be what the single error line names;
* ``vectors``: bad ``.npz`` files for ``qmac verify`` (not a zip, a plain ``.npy``, corrupt
  deflate, encryption, deflate64, size-lying headers, zip bombs, object arrays, bad values);
* ``cli``: bad command lines.

``expect`` is ``"error"`` (exit 2, one line naming ``names``) or ``"accepted"`` (a valid
configuration: the line names the missing vector file instead).

``python -m tests.helpers.fuzz_corpus DIR`` writes every case's files into ``DIR/<case>/`` and
prints the command lines.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

MISSING_NPZ = "no-such-vectors.npz"


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str                          # config / vectors / cli / model
    name: str
    build: Callable[[Path], list[str]]
    expect: str = "error"              # error / accepted
    names: str | None = None           # text the error line must contain (default: the input)


# ---------------------------------------------------------------------------- configs
def _cfg_text(name: str, text: str | bytes, **kw) -> Case:
    def build(d: Path) -> list[str]:
        p = d / f"{name}.yaml"
        p.write_bytes(text.encode() if isinstance(text, str) else text)
        return ["verify", str(p), "--vectors", str(d / MISSING_NPZ), "-o", str(d / "out.npz")]
    return Case("config", name, build, **kw)


def _cfg_path(name: str, make: Callable[[Path], Path], **kw) -> Case:
    def build(d: Path) -> list[str]:
        p = make(d)
        return ["verify", os.fsdecode(p), "--vectors", str(d / MISSING_NPZ),
                "-o", str(d / "out.npz")]
    return Case("config", name, build, **kw)


def _fifo(d: Path) -> Path:
    p = d / "fifo.yaml"
    os.mkfifo(p)
    return p


def _named(raw_name: bytes):
    def make(d: Path) -> Path:
        p = Path(os.fsdecode(os.fsencode(d) + b"/" + raw_name))
        p.write_text("name: odd\n")
        return p
    return make


def _dir(d: Path) -> Path:
    (d / "cfgdir.yaml").mkdir()
    return d / "cfgdir.yaml"


def _loop(d: Path) -> Path:
    (d / "loop.yaml").symlink_to(d / "loop.yaml")
    return d / "loop.yaml"


def _billion_laughs(levels: int, width: int, under: str) -> str:
    lines = ['l0: &l0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + f"\n{under}: *l{levels}\n"


def config_cases() -> list[Case]:
    nulls = [("bits_null", "operands: {bits: null}"), ("rows_null", "array: {rows: null}"),
             ("cols_null", "array: {cols: null}"), ("tiles_null", "array: {weight_tiles: null}"),
             ("guard_null", "accumulator: {guard_bits: ~}"),
             ("clock_null", "timing: {clock_mhz: null}"),
             ("out_bits_null", "requant: {out_bits: null}")]
    huge = [("clock_400_digits", f"timing: {{clock_mhz: {'9' * 400}}}"),
            ("bits_1e30", f"operands: {{bits: {10**30}}}"),
            ("rows_float_1e308", "array: {rows: 1.0e+308}"),
            ("clock_inf_literal", "timing: {clock_mhz: 1.0e+400}"),
            ("clock_denormal", "timing: {clock_mhz: 5.0e-324}"),
            ("clock_nan", "timing: {clock_mhz: .nan}"),
            ("clock_negative", "timing: {clock_mhz: -250}"),
            ("tiles_negative", "array: {weight_tiles: -1}")]
    typed = [("bits_string", 'operands: {bits: "8"}'), ("bits_bool", "operands: {bits: true}"),
             ("bits_float", "operands: {bits: 8.5}"), ("rows_list", "array: {rows: [16]}"),
             ("section_scalar", "operands: 5"), ("section_list", "operands: [bits, 8]"),
             ("top_list", "- operands\n- array\n"), ("top_scalar", "42\n"),
             ("rounding_int", "requant: {rounding: 5}"),
             ("rounding_banana", "requant: {rounding: banana}"),
             ("overflow_null", "accumulator: {overflow: null}"),
             ("per_channel_string", 'requant: {per_channel: "yes please"}'),
             ("unknown_top", "frobnicate: 1"), ("unknown_field", "operands: {bitz: 8}"),
             ("clock_date", "timing: {clock_mhz: 2001-12-14}"),
             ("name_list", "name: [a, b]"), ("name_not_identifier", "name: 'a b;c'"),
             ("crossbar_scalar", "crossbar: 5"),
             ("crossbar_unknown", "crossbar: {frobnicate: 1}"),
             ("crossbar_adc_null", "crossbar: {adc_bits: null}")]
    structure = [
        ("key_list", "? [a, b]\n: 1\n"), ("key_mapping", "? {a: 1}\n: 2\n"),
        ("key_list_in_section", "operands:\n  ? [bits]\n  : 8\n"),
        ("key_alias_to_list", "x: &k [1, 2]\n? *k\n: 3\n"),
        ("deep_5000_lists", "name: d\nx: " + "[" * 5000 + "]" * 5000 + "\n"),
        ("deep_5000_maps", "x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n"),
        ("billion_laughs", _billion_laughs(9, 9, "description")),
        ("laughs_under_echoed_field", _billion_laughs(6, 10, "name")),
        ("laughs_under_number", _billion_laughs(9, 9, "operands")),
        ("duplicate_key", "operands:\n  bits: 8\n  bits: 4\n"),
        ("duplicate_section", "operands: {bits: 8}\noperands: {bits: 4}\n"),
        ("merge_bad_field", "operands: {<<: {bitz: 4}}\n"),
        ("merge_alias_bad_value", "operands: &b {bits: 4}\narray: {<<: *b}\n"),
        ("merge_not_mapping", "operands: {<<: 5}\n"),
        ("undefined_alias", "operands: *nope\n"),
        ("syntax_error", "operands: {bits: 8\n"), ("tab_indent", "operands:\n\tbits: 8\n"),
        ("unterminated_quote", 'name: "abc\n'),
        ("python_object_tag", "name: !!python/object/apply:os.system ['true']\n"),
        ("multi_document", "operands: {bits: 8}\n---\narray: {rows: 4}\n"),
        ("too_big", "# " + "x" * (1 << 20) + "\nname: big\n"),
        ("binary_tag", "name: !!binary aGVsbG8=\n"),
        ("set_tag", "operands: !!set {bits}\n"),
    ]
    # null numerics, a 400-digit or denormal clock: refused by the contract's field table
    cases = [_cfg_text(n, t + "\n") for n, t in nulls + huge + typed]
    cases += [_cfg_text(n, t) for n, t in structure]
    cases += [
        _cfg_text("non_utf8_content", b"name: caf\xe9\n"),
        _cfg_text("nul_bytes", b"name: a\x00b\n"),
        _cfg_path("missing_file", lambda d: d / "nope.yaml"),
        _cfg_path("directory", _dir),
        _cfg_path("fifo", _fifo),
        _cfg_path("symlink_loop", _loop),
        _cfg_path("newline_in_name", _named(b"bad\nname.yaml"), names="bad\\nname.yaml"),
        _cfg_path("non_utf8_name", _named(b"caf\xe9.yaml"), names="caf\\xe9.yaml"),
        _cfg_path("parent_is_file", lambda d: _write(d / "f", b"") / "x.yaml"),
        # accepted: the configuration is valid, the single error is the missing vectors
        _cfg_text("merge_ok", "operands: {bits: 4}\narray: {<<: {rows: 4}, cols: 4}\n",
                  expect="accepted"),
        _cfg_text("empty_file", "", expect="accepted"),
        _cfg_text("utf8_bom", "\ufeffoperands: {bits: 8}\n", expect="accepted"),
        # huge but schema-valid: refused by the resource budget (contract)
        _cfg_text("huge_n16_256x256_t1024", "operands: {bits: 16}\narray: {rows: 256, cols: "
                  "256, weight_tiles: 1024}\n"),  # refused today: accumulator wider than 48
        _cfg_text("huge_256x256", "array: {rows: 256, cols: 256}\n"),
        # within the accumulator limit but over the contract's generation-cost budget
        # (N=16 with 1024 tiles on the default 16x16 is accepted: it generates in ~40 s)
        _cfg_text("huge_n8_256x256_t1024", "array: {rows: 256, cols: 256, weight_tiles: 1024}\n"),
    ]
    return cases


# ---------------------------------------------------------------------------- vectors
def _base(**over) -> dict:
    rng = np.random.default_rng(1)
    d = dict(x=rng.integers(-128, 128, (2, 5)).astype(np.int8),
             w=rng.integers(-128, 128, (3, 5)).astype(np.int8),
             bias=np.zeros(3, np.int32), m0=np.int32(1 << 30), shift=np.int32(-3),
             x_zp=np.int32(0), y_zp=np.int32(0))
    for k, v in over.items():
        if v is None:
            d.pop(k)
        else:
            d[k] = v
    return d


def _npz_bytes(d: dict, compressed: bool = False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **d)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=True)
    return buf.getvalue()


def _zip(members: list[tuple[str, bytes]], method=zipfile.ZIP_STORED) -> bytes:
    import warnings
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the cases
        with zipfile.ZipFile(buf, "w", method) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return buf.getvalue()


def _patch_headers(data: bytes, *, flag: int | None = None, method: int | None = None,
                   size: int | None = None) -> bytes:
    """Rewrite every local and central header: flag bits, method, uncompressed size."""
    b = bytearray(data)
    for sig, off_flag, off_method, off_size in ((b"PK\x03\x04", 6, 8, 22),
                                                (b"PK\x01\x02", 8, 10, 24)):
        i = b.find(sig)
        while i >= 0:
            if flag is not None:
                struct.pack_into("<H", b, i + off_flag, struct.unpack_from("<H", b, i + off_flag)[0] | flag)
            if method is not None:
                struct.pack_into("<H", b, i + off_method, method)
            if size is not None:
                struct.pack_into("<I", b, i + off_size, size)
            i = b.find(sig, i + 4)
    return bytes(b)


def _bomb(key: str, nbytes: int) -> bytes:
    """A member ``key.npy`` holding ``nbytes`` of zeros (int8), deflated: ratio ~1000:1."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|i1", "fortran_order": False,
                                                  "shape": (nbytes,)})
    comp = zlib.compressobj(1, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    body = [comp.compress(header.getvalue())]
    crc = zlib.crc32(header.getvalue())
    for _ in range(nbytes >> 20):
        body.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    body.append(comp.flush())
    raw = b"".join(body)
    size = len(header.getvalue()) + (nbytes >> 20 << 20)
    name = f"{key}.npy".encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(raw), size,
                        len(name), 0) + name
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                          len(raw), size, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central),
                      len(local) + len(raw), 0)
    return local + raw + central + end


def _vec(name: str, make: Callable[[], bytes], names: str | None = None, fname=None) -> Case:
    def build(d: Path) -> list[str]:
        p = d / (fname or f"{name}.npz")
        p.write_bytes(make())
        return ["verify", "--vectors", str(p), "-o", str(d / "out.npz")]
    return Case("vectors", name, build, names=names)


def _vec_path(name: str, make: Callable[[Path], Path], names: str | None = None) -> Case:
    def build(d: Path) -> list[str]:
        return ["verify", "--vectors", os.fsdecode(make(d)), "-o", str(d / "out.npz")]
    return Case("vectors", name, build, names=names)


def _corrupt_deflate() -> bytes:
    data = bytearray(_npz_bytes(_base(x=np.arange(4000, dtype=np.int8).reshape(800, 5)),
                                compressed=True))
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = zf.getinfo("x.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 20, start + 60):
        data[i] ^= 0x5A
    return bytes(data)


def _member_header_lies() -> bytes:
    d = _base()
    members = [(f"{k}.npy", _npy(np.asarray(v))) for k, v in d.items() if k != "x"]
    fake = io.BytesIO()
    np.lib.format.write_array_header_1_0(fake, {"descr": "<i8", "fortran_order": False,
                                                "shape": (100000, 100000)})
    members.append(("x.npy", fake.getvalue() + bytes(80)))
    return _zip(members)


def vector_cases() -> list[Case]:
    ok = _npz_bytes(_base())
    cases = [
        _vec("plain_npy", lambda: _npy(np.zeros((2, 5), np.int8)), names="a plain .npy"),
        _vec("text_file", lambda: b"x = [1, 2, 3]\n", names="not a zip archive"),
        _vec("empty_file", lambda: b"", names="not a zip archive"),
        _vec("truncated_zip", lambda: ok[: len(ok) // 2], names="damaged zip archive"),
        _vec("zip_without_directory", lambda: ok[:-22], names="damaged zip archive"),
        _vec("corrupt_deflate", _corrupt_deflate, names="x: corrupt"),
        _vec("encrypted", lambda: _patch_headers(ok, flag=0x1), names="encrypted"),
        _vec("deflate64", lambda: _patch_headers(ok, method=9), names="deflate64"),
        _vec("bzip2_member", lambda: _zip([(f"{k}.npy", _npy(np.asarray(v)))
                                           for k, v in _base().items()], zipfile.ZIP_BZIP2),
             names="bzip2"),
        _vec("lzma_member", lambda: _zip([(f"{k}.npy", _npy(np.asarray(v)))
                                          for k, v in _base().items()], zipfile.ZIP_LZMA),
             names="lzma"),
        _vec("header_claims_4gb", lambda: _patch_headers(ok, size=0xFFFFFFF0), names="bytes"),
        _vec("zip_bomb_unknown_key", lambda: _bomb("junk", 400 << 20), names="unknown key"),
        _vec("zip_bomb_known_key", lambda: _bomb("x", 128 << 20), names="zip bomb"),
        _vec("member_header_lies", _member_header_lies, names="x: header claims"),
        _vec("object_array", lambda: _zip([(f"{k}.npy", _npy(np.asarray(v)))
                                           for k, v in _base(x=np.array([[1, "a"]], dtype=object))
                                           .items()]), names="x: an object array"),
        _vec("unknown_key", lambda: _npz_bytes(_base(xzp=np.int32(0))), names="unknown key 'xzp'"),
        _vec("duplicate_member", lambda: _zip([("x.npy", _npy(np.zeros((2, 5), np.int8)))] * 2),
             names="appears twice"),
        _vec("member_not_npy", lambda: _zip([("x.txt", b"1 2 3")]), names="unknown key"),
        _vec("member_bad_magic", lambda: _zip([("x.npy", b"NOTNUMPY" + bytes(100))]),
             names="x: corrupt"),
        _vec("empty_member", lambda: _zip([("x.npy", b"")]), names="x: corrupt"),
        _vec("too_many_members", lambda: _zip([(f"m{i}.npy", b"") for i in range(65)]),
             names="members"),
        _vec("string_scale", lambda: _npz_bytes(_base(m0=None, shift=None, x_scale=np.array("0.5"),
                                                      w_scale=np.float32(0.1),
                                                      y_scale=np.float32(0.1))),
             names="x_scale"),
        _vec("string_y_scale_with_activation",
             lambda: _npz_bytes(_base(activation=np.array("relu"), y_scale=np.array("big"))),
             names="y_scale"),
        _vec("bool_x", lambda: _npz_bytes(_base(x=np.ones((2, 5), bool))), names="x: dtype"),
        _vec("complex_w", lambda: _npz_bytes(_base(w=np.ones((3, 5), complex))), names="w: dtype"),
        _vec("float_x", lambda: _npz_bytes(_base(x=np.ones((2, 5)))), names="x: dtype"),
        _vec("nan_scale", lambda: _npz_bytes(_base(m0=None, shift=None, x_scale=np.float32("nan"),
                                                   w_scale=np.float32(0.1),
                                                   y_scale=np.float32(0.1))), names="x_scale"),
        _vec("inf_scale", lambda: _npz_bytes(_base(m0=None, shift=None, x_scale=np.float32(0.1),
                                                   w_scale=np.float32("inf"),
                                                   y_scale=np.float32(0.1))), names="w_scale"),
        _vec("x_3d", lambda: _npz_bytes(_base(x=np.zeros((2, 5, 1), np.int8))), names="x: shape"),
        _vec("x_empty", lambda: _npz_bytes(_base(x=np.zeros((0, 5), np.int8))), names="empty"),
        _vec("k_mismatch", lambda: _npz_bytes(_base(w=np.zeros((3, 4), np.int8))),
             names="does not match"),
        _vec("x_out_of_range", lambda: _npz_bytes(_base(x=np.full((2, 5), 300, np.int16))),
             names="x[0, 0]=300"),
        _vec("uint64_huge", lambda: _npz_bytes(_base(x=np.full((2, 5), 2**64 - 1, np.uint64))),
             names="x: value"),
        _vec("bias_shape", lambda: _npz_bytes(_base(bias=np.zeros(4, np.int32))), names="bias"),
        _vec("bias_int64_range", lambda: _npz_bytes(_base(bias=np.full(3, 2**40, np.int64))),
             names="bias"),
        _vec("m0_range", lambda: _npz_bytes(_base(m0=np.int64(2**31))), names="m0"),
        _vec("shift_range", lambda: _npz_bytes(_base(shift=np.int32(31))), names="shift"),
        _vec("m0_length", lambda: _npz_bytes(_base(m0=np.ones(7, np.int32))), names="m0"),
        _vec("m0_and_scales", lambda: _npz_bytes(_base(x_scale=np.float32(0.1))), names="both"),
        _vec("missing_x", lambda: _npz_bytes(_base(x=None)), names="missing key 'x'"),
        _vec("missing_shift", lambda: _npz_bytes(_base(shift=None)), names="missing key 'shift'"),
        _vec("y_zp_range", lambda: _npz_bytes(_base(y_zp=np.int32(200))), names="y_zp"),
        _vec("act_order", lambda: _npz_bytes(_base(act_min=np.int32(10), act_max=np.int32(5))),
             names="act_min"),
        _vec("activation_without_scale", lambda: _npz_bytes(_base(activation=np.array("relu"))),
             names="activation"),
        _vec("rounding_mismatch", lambda: _npz_bytes(_base(rounding=np.array("single"))),
             names="rounding"),
        _vec("rounding_not_utf8", lambda: _npz_bytes(_base(rounding=np.array(b"\xff\xfe"))),
             names="rounding"),
        _vec("kernel_huge_string", lambda: _npz_bytes(_base(kernel=np.array("k" * 100000))),
             names="kernel"),
        _vec("y_tflite_shape", lambda: _npz_bytes(_base(y_tflite=np.zeros((9, 9), np.int8))),
             names="y_tflite"),
        _vec_path("directory", lambda d: (d / "v.npz").mkdir() or d / "v.npz", names="directory"),
        _vec_path("fifo", lambda d: os.mkfifo(d / "v.npz") or d / "v.npz", names="FIFO"),
        _vec_path("missing", lambda d: d / "missing.npz", names="no such vector file"),
        _vec_path("newline_name", lambda d: _write(d / "a\nb.npz", ok), names="a\\nb.npz"),
        _vec_path("non_utf8_name", lambda d: _write(Path(os.fsdecode(os.fsencode(d) +
                                                                     b"/v\xff.npz")), ok),
                  names="v\\xff.npz"),
    ]
    return cases


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------------------- CLI
def _cli(name: str, argv: list[str] | Callable[[Path], list[str]], names: str) -> Case:
    def build(d: Path) -> list[str]:
        return argv(d) if callable(argv) else [a.replace("{d}", str(d)) for a in argv]
    return Case("cli", name, build, names=names)


def _valid_vectors(d: Path) -> Path:
    return _write(d / "ok.npz", _npz_bytes(_base()))


def cli_cases() -> list[Case]:
    o = ["-o", "{d}/o"]
    return [
        _cli("sim_empty", ["regress", "--sim", "", *o], "names no simulator"),
        _cli("sim_comma", ["regress", "--sim", ",", *o], "names no simulator"),
        _cli("sim_unknown", ["regress", "--sim", "modelsim", *o], "is not a simulator"),
        _cli("tests_comma", ["regress", "--tests", ",", *o], "names no testbench"),
        _cli("tests_unknown", ["regress", "--sim", "icarus", "--tests", "nope", *o],
             "is not a testbench"),
        _cli("vectors_zero", ["regress", "--vectors", "0", *o], "--vectors=0"),
        _cli("vectors_1e12", ["regress", "--vectors", str(10**12), *o], "1..1000000"),
        _cli("vectors_negative", ["regress", "--vectors", "-5", *o], "--vectors"),
        _cli("vectors_text", ["regress", "--vectors", "many", *o], "not an integer"),
        _cli("vectors_huge_digits", ["regress", "--vectors", "9" * 5000, *o], "not an integer"),
        _cli("bits_1", ["generate", "--bits", "1", *o], "--bits=1"),
        _cli("bits_17", ["generate", "--bits", "17", *o], "--bits=17"),
        _cli("bits_float", ["generate", "--bits", "8.5", *o], "--bits='8.5'"),
        _cli("bits_empty", ["generate", "--bits", "", *o], "--bits=''"),
        _cli("seed_negative", ["regress", "--seed", "-1", *o], "--seed"),
        _cli("seed_huge", ["regress", "--seed", str(2**40), *o], "--seed"),
        _cli("jobs_zero", ["regress", "-j", "0", *o], "--jobs"),
        _cli("cycles_zero", ["bench", "--cycles", "0", *o], "--cycles"),
        _cli("no_command", [], "required"),
        _cli("unknown_command", ["frobnicate"], "invalid choice"),
        _cli("verify_without_vectors", ["verify", *o], "--vectors"),
        _cli("extra_positional", ["generate", "a.yaml", "b.yaml", *o], "unrecognized"),
        _cli("verify_out_is_directory",
             lambda d: ["verify", "--vectors", str(_valid_vectors(d)), "-o",
                        str((d / "outdir").mkdir() or d / "outdir")], "not a regular file"),
        _cli("verify_out_unwritable",
             lambda d: ["verify", "--vectors", str(_valid_vectors(d)), "-o",
                        "/proc/qmac/out.npz"], "/proc"),
        _cli("verify_out_device",
             lambda d: ["verify", "--vectors", str(_valid_vectors(d)), "-o", "/dev/null"],
             "character device"),
        _cli("verify_out_newline",
             lambda d: ["verify", "--vectors", str(_valid_vectors(d)), "-o",
                        str(d / "a\nb.npz")], "a\\nb.npz"),
        _cli("regress_out_is_file",
             lambda d: ["regress", "--sim", "icarus", "-o", str(_write(d / "f", b""))],
             "not a directory"),
        _cli("generate_out_is_file",
             lambda d: ["generate", "-o", str(_write(d / "f", b""))], "not a directory"),
        _cli("config_is_directory", lambda d: ["generate", str(d), "-o", str(d / "o")],
             "is a directory"),
    ]


# ---------------------------------------------------------------------------- models
MODELS = Path(__file__).resolve().parent.parent / "data" / "models"


def _model(name: str, make: Callable[[bytes], bytes], extra: Callable[[Path], list[str]] = None,
           names: str | None = None) -> Case:
    """``qmac run`` on a model file made from a real one (``anomaly_detection.tflite``)."""
    def build(d: Path) -> list[str]:
        p = d / f"{name}.tflite"
        p.write_bytes(make((MODELS / "anomaly_detection.tflite").read_bytes()))
        return ["run", str(p), *(extra(d) if extra else []), "-o", str(d / "out")]
    return Case("model", name, build, names=names or f"{name}.tflite")


def _flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at % len(b)] ^= 0xFF
    return bytes(b)


def _inputs_npy(d: Path, name: str, array) -> list[str]:
    np.save(d / name, array)
    return ["--inputs", str(d / name)]


def model_cases() -> list[Case]:
    cases = [_model("empty", lambda b: b""), _model("one_byte", lambda b: b[:1]),
             _model("text", lambda b: b"not a flatbuffer\n" * 20),
             _model("random", lambda b: np.random.default_rng(7).bytes(4096)),
             _model("no_identifier", lambda b: b[:4] + b"XXXX" + b[8:]),
             _model("root_offset_past_end", lambda b: (len(b) + 64).to_bytes(4, "little") + b[4:])]
    cases += [_model(f"truncated_{pct}", lambda b, p=pct: b[:len(b) * p // 100])
              for pct in (5, 25, 50, 75, 95, 99)]
    cases += [_model(f"flip_{at}", lambda b, a=at: _flip(b, a)) for at in (4, 16)]  # bytes that make it invalid
    cases += [_model("inputs_wrong_shape", lambda b: b,
                     lambda d: _inputs_npy(d, "x.npy", np.zeros((2, 3), np.int8)), names="x.npy"),
              _model("inputs_wrong_dtype", lambda b: b,
                     lambda d: _inputs_npy(d, "x.npy", np.zeros((1, 640), np.complex64)), names="x.npy"),
              _model("inputs_object", lambda b: b,
                     lambda d: _inputs_npy(d, "x.npy", np.array([{}], dtype=object)), names="x.npy")]
    return cases


def all_cases() -> list[Case]:
    return config_cases() + vector_cases() + cli_cases() + model_cases()


if __name__ == "__main__":  # pragma: no cover - manual use
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz-corpus")
    for case in all_cases():
        d = root / case.kind / case.name
        d.mkdir(parents=True, exist_ok=True)
        print(case.kind, case.name, " ".join(case.build(d)))
