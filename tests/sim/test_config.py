"""Configuration loading: shipped configs resolve, every bad config is one clear line."""

from __future__ import annotations

import textwrap

import pytest

from sim.config import CONSTRAINTS_DIR, load_config, resolve_config
from sim.errors import ConfigError

SHIPPED = sorted(p.name for p in CONSTRAINTS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_resolve(name):
    cfg = load_config(CONSTRAINTS_DIR / name)
    assert cfg.acc_bits == cfg.input_bits + cfg.weight_bits + cfg.guard_bits
    assert cfg.psum_bits <= cfg.acc_bits
    assert 2 <= cfg.out_bits <= cfg.acc_bits


def test_default_is_tflite_int8():
    cfg = load_config()
    assert (cfg.name, cfg.bits, cfg.acc_bits, cfg.out_bits) == ("int8", 8, 32, 8)
    assert cfg.rounding == "double" and cfg.overflow == "wrap"
    assert cfg.toplevel == "qmac_int8"


def test_guard_bits_derived_from_max_depth():
    cfg = load_config(CONSTRAINTS_DIR / "int4.yaml")
    # 1024 products of at most 64 need 2^16 <= 2^17 - 1: M = 10 (and the exact depth is 2047)
    assert (cfg.guard_bits, cfg.acc_bits, cfg.max_depth) == (10, 18, 2047)


@pytest.mark.parametrize("bits", range(2, 17))
def test_bits_override_follows_derived_widths(bits):
    cfg = load_config(bits=bits)
    assert cfg.bits == bits and cfg.out_bits == bits and cfg.acc_bits == 2 * bits + 16
    assert cfg.name == ("int8" if bits == 8 else f"int8_n{bits}")


def test_config_id_depends_on_hardware_fields_only():
    a = resolve_config({"name": "a", "description": "x"})
    b = resolve_config({"name": "b", "description": "y"})
    c = resolve_config({"operands": {"bits": 7}})
    assert a.config_id == b.config_id != c.config_id


def test_both_unsigned_needs_one_more_psum_bit():
    cfg = resolve_config({"operands": {"input_signed": False, "weight_signed": False}})
    assert cfg.psum_bits == 2 * 8 + 4 + 1


@pytest.mark.parametrize("rows,expected", [(1, 16), (2, 17), (3, 17), (16, 20), (17, 20), (33, 21)])
def test_psum_bits_is_the_exact_dot_product_width(rows, expected):
    assert resolve_config({"array": {"rows": rows}}).psum_bits == expected


BAD = [
    ("unknown key", "operands: {bitz: 8}", "operands.bitz: 'unknown key'", "one of bits"),
    ("unknown top-level key", "speed: 3", "speed: 'unknown key'", "one of name"),
    ("N=0", "operands: {bits: 0}", "operands.bits: 0", "2..16"),
    ("N=1", "operands: {bits: 1}", "operands.bits: 1", "2..16"),
    ("N=65", "operands: {bits: 65}", "operands.bits: 65", "2..16"),
    ("N not int", "operands: {bits: eight}", "operands.bits: 'eight'", "an integer"),
    ("R=0", "array: {rows: 0}", "array.rows: 0", "1..256"),
    ("C=0", "array: {cols: 0}", "array.cols: 0", "1..256"),
    ("out wider than acc", "accumulator: {guard_bits: 0}\narray: {rows: 1}\nrequant: {out_bits: 17}",
     "requant.out_bits: 17", "not wider than the 16-bit accumulator"),
    ("rounding banana", "requant: {rounding: banana}", "requant.rounding: 'banana'",
     "double, single, ruy or single16"),
    ("overflow", "accumulator: {overflow: clip}", "accumulator.overflow: 'clip'", "wrap or saturate"),
    ("guard and depth", "accumulator: {guard_bits: 4, max_depth: 16}", "accumulator.guard_bits: 4",
     "not both"),
    ("acc too wide", "operands: {bits: 16}\naccumulator: {guard_bits: 20}",
     "accumulator.guard_bits: 20", "at most 16"),
    ("guard too small for rows", "accumulator: {guard_bits: 2}", "accumulator.guard_bits: 2",
     "at least 4"),
    ("bool for int", "array: {rows: true}", "array.rows: True", "an integer"),
    ("clock", "timing: {clock_mhz: -5}", "timing.clock_mhz: -5", "[0.001, 5000.0]"),
    ("section not mapping", "operands: 8", "operands: 8", "a mapping"),
    ("section empty list", "operands: []", "operands: []", "a mapping"),
    ("section false", "operands: false", "operands: False", "a mapping"),
    ("non-ascii name", "name: café", "name: 'café'", "an ASCII letter"),
    ("name with dash", "name: my-dp", "name: 'my-dp'", "an ASCII letter"),
    ("max_depth too deep", "operands: {bits: 16}\naccumulator: {max_depth: 100000000}",
     "accumulator.max_depth: 100000000", "at most"),
]


@pytest.mark.parametrize("text,field,allowed", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_is_one_line_naming_field_value_and_range(tmp_path, text, field, allowed):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(text) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: {field}")
    assert allowed in msg


def test_duplicate_keys_are_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("operands:\n  bits: 8\n  bits: 4\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: YAML syntax error at line 3.*duplicate key 'bits'"):
        load_config(path)


@pytest.mark.parametrize("signs", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("bits", [2, 5, 8, 16])
def test_max_depth_is_exact(bits, signs):
    """max_depth products at the worst corner fit; one more product overflows."""
    cfg = resolve_config({"operands": {"bits": bits, "input_signed": signs[0],
                                       "weight_signed": signs[1]},
                          "array": {"rows": 1}, "accumulator": {"guard_bits": 6}})
    xs, ws = cfg.operand_range(signs[0]), cfg.operand_range(signs[1])
    products = [a * b for a in xs for b in ws]
    lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    d = cfg.max_depth
    assert lo <= d * min(products) and d * max(products) <= hi
    assert (d + 1) * min(products) < lo or (d + 1) * max(products) > hi


def test_unsigned_operands_get_the_extra_accumulator_bit():
    cfg = resolve_config({"operands": {"input_signed": False, "weight_signed": False},
                          "accumulator": {"max_depth": 256}})
    assert cfg.acc_bits == 2 * 8 + 8 + 1 and cfg.max_depth >= 256
    assert 256 * 255 * 255 <= (1 << (cfg.acc_bits - 1)) - 1


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("operands:\n  bits: [8\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: YAML syntax error at line \d+"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file; allowed: a YAML file"):
        load_config(tmp_path / "nope.yaml")


# --- hostile inputs (issue 13, the schema layer): one line naming file, field, value and
# what is allowed; exit 2 from the CLI; nothing generated --------------------------------
HOSTILE = [
    ("null bits", "operands: {bits: null}", "operands.bits: None", "an integer in 2..16"),
    ("null rows", "array: {rows: null}", "array.rows: None", "an integer in 1..256"),
    ("null clock", "timing: {clock_mhz: null}", "timing.clock_mhz: None", "a number in"),
    ("null rounding", "requant: {rounding: null}", "requant.rounding: None", "double, single"),
    ("null signed", "operands: {input_signed: null}", "operands.input_signed: None",
     "true or false"),
    ("bool tiles", "array: {weight_tiles: false}", "array.weight_tiles: False", "an integer"),
    ("bool clock", "timing: {clock_mhz: true}", "timing.clock_mhz: True", "a number in"),
    ("int for bool", "requant: {per_channel: 1}", "requant.per_channel: 1", "true or false"),
    ("400-digit clock", "timing: {clock_mhz: " + "9" * 400 + "}", "timing.clock_mhz: 999",
     "a number in [0.001, 5000.0]"),
    ("400-digit bits", "operands: {bits: " + "9" * 400 + "}", "operands.bits: 999",
     "an integer in 2..16"),
    ("400-digit depth", "accumulator: {max_depth: " + "9" * 400 + "}",
     "accumulator.max_depth: 999", "an integer in 1..4294967296"),
    ("tiny clock", "timing: {clock_mhz: 5.0e-324}", "timing.clock_mhz: 5e-324", "[0.001,"),
    ("tiny clock string", "timing: {clock_mhz: 5e-324}", "timing.clock_mhz: '5e-324'",
     "a number in"),
    ("inf clock", "timing: {clock_mhz: .inf}", "timing.clock_mhz: inf", "a number in"),
    ("nan clock", "timing: {clock_mhz: .nan}", "timing.clock_mhz: nan", "a number in"),
    ("zero clock", "timing: {clock_mhz: 0}", "timing.clock_mhz: 0", "a number in"),
    ("negative rows", "array: {rows: -4}", "array.rows: -4", "an integer in 1..256"),
    ("zero tiles", "array: {weight_tiles: 0}", "array.weight_tiles: 0", "1..1024"),
    ("tiles over limit", "array: {weight_tiles: 4096}", "array.weight_tiles: 4096", "1..1024"),
    ("negative guard", "accumulator: {guard_bits: -1}", "accumulator.guard_bits: -1", "0..32"),
    ("list for int", "array: {cols: [16]}", "array.cols: [16]", "an integer"),
    ("mapping for str", "requant: {rounding: {a: 1}}", "requant.rounding: {'a': 1}", "double"),
    ("float for int", "operands: {bits: 8.0}", "operands.bits: 8.0", "an integer"),
    ("unknown nested", "timing: {clock_ghz: 1}", "timing.clock_ghz: 'unknown key'",
     "one of clock_mhz"),
    ("int key", "operands: {8: bits}", "operands.8: 'unknown key'", "one of bits"),
    ("long string value", "requant: {rounding: " + "x" * 5000 + "}", "requant.rounding: 'xxx",
     "double, single, ruy or single16"),
    ("description not str", "description: [1, 2]", "description: [1, 2]", "a string"),
]


@pytest.mark.parametrize("text,field,allowed", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_config_values_are_one_short_line(tmp_path, text, field, allowed):
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: {field}") and allowed in msg
    assert len(msg) < len(str(path)) + 260          # the value is abbreviated


def test_list_used_as_key_is_one_line(tmp_path):
    path = tmp_path / "key.yaml"
    path.write_text("operands:\n  ? [1, 2]\n  : 8\n")
    with pytest.raises(ConfigError, match=r"key.yaml: .*line 2.*a list (or mapping )?"
                                          r"used as a key"):
        load_config(path)


@pytest.mark.parametrize("text", [
    "operands: {bits: 16}\narray: {rows: 256, cols: 256, weight_tiles: 1024}\n"
    "accumulator: {guard_bits: 16}",
    "operands: {bits: 16}\narray: {rows: 256, cols: 256, weight_tiles: 1}",
    "operands: {bits: 8}\narray: {rows: 256, cols: 256, weight_tiles: 1024}",
])
def test_huge_but_valid_configs_are_refused_with_their_cost(tmp_path, text):
    path = tmp_path / "huge.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: array: N=")
    assert "generation budget of 4194304 cost units" in msg and "M cost units" in msg


def test_largest_config_within_budget_resolves():
    cfg = resolve_config({"operands": {"bits": 16}, "array": {"rows": 64, "cols": 64,
                                                              "weight_tiles": 16}})
    assert (cfg.bits, cfg.rows, cfg.cols) == (16, 64, 64)


def test_cli_refuses_bad_config_with_exit_2_and_writes_nothing(tmp_path, capsys):
    from sim.cli import main
    path = tmp_path / "bad.yaml"
    path.write_text("operands: {bits: null}\n")
    out = tmp_path / "out"
    assert main(["generate", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"qmac: error: {path}: operands.bits: None is not allowed; allowed: an "
                   f"integer in 2..16"]
    assert not out.exists()


# --- separate operand widths (issue 15) ------------------------------------------------------
def _mixed(a, w, **sections):
    return resolve_config({"operands": {"input_bits": a, "weight_bits": w}, **sections})


@pytest.mark.parametrize("a, w", [(8, 4), (4, 8), (8, 2), (16, 8), (2, 16), (16, 16)])
def test_accumulator_is_sized_exactly_from_both_widths(a, w):
    cfg = _mixed(a, w, accumulator={"guard_bits": 4})
    assert (cfg.input_bits, cfg.weight_bits, cfg.acc_bits) == (a, w, a + w + 4)
    # 16 rows of the largest product (-2^(A-1))·(-2^(W-1)) = 2^(A+W-2): 2^(A+W+2) needs
    # A + W + 4 signed bits
    assert cfg.psum_bits == a + w + 4
    assert cfg.out_bits == a and cfg.x_bits == 16 * a and cfg.load_data_bits == max(16 * w, 32, a + w + 4)
    assert cfg.x_range == (-(1 << (a - 1)), (1 << (a - 1)) - 1)
    assert cfg.w_range == (-(1 << (w - 1)), (1 << (w - 1)) - 1)


def test_max_depth_guard_follows_both_widths():
    # 1024 products of at most 2^7·2^3 = 2^10 (and -2^7·(-2^3)) need 2^20 <= 2^(A+W+M-1) - 1
    cfg = _mixed(8, 4, accumulator={"max_depth": 1024})
    assert (cfg.guard_bits, cfg.acc_bits) == (10, 22)
    assert cfg.max_depth >= 1024
    narrower = _mixed(8, 4, accumulator={"guard_bits": cfg.guard_bits - 1})
    assert narrower.max_depth < 1024


def test_bits_is_the_shorthand_for_both():
    assert resolve_config({"operands": {"bits": 6}}).input_bits == 6
    assert resolve_config({"operands": {"bits": 6}}).weight_bits == 6
    cfg = resolve_config({"operands": {"bits": 6, "weight_bits": 3}})
    assert (cfg.input_bits, cfg.weight_bits, cfg.acc_bits) == (6, 3, 6 + 3 + cfg.guard_bits)


def test_bits_override_replaces_both_widths_of_a_mixed_file():
    cfg = load_config(CONSTRAINTS_DIR / "w4a8.yaml", bits=6)
    assert (cfg.input_bits, cfg.weight_bits, cfg.bits) == (6, 6, 6)
    assert cfg.name == "w4a8_n6"


def test_bits_of_a_mixed_configuration_is_an_error_not_a_guess():
    from constraints import MixedWidthsError
    cfg = load_config(CONSTRAINTS_DIR / "w4a8.yaml")
    assert cfg.mixed and cfg.widths_label == "A=8 W=4"
    with pytest.raises(MixedWidthsError, match=r"input_bits=8, weight_bits=4"):
        cfg.bits
    assert cfg.to_dict()["bits"] is None


def test_equal_widths_spelled_either_way_are_the_same_hardware():
    a = resolve_config({"operands": {"bits": 8}})
    b = resolve_config({"operands": {"input_bits": 8, "weight_bits": 8}})
    c = resolve_config({"operands": {"input_bits": 8, "weight_bits": 7}})
    assert a == b and a.config_id == b.config_id != c.config_id
    assert not a.mixed and c.mixed


@pytest.mark.parametrize("raw, message", [
    ({"operands": {"input_bits": 1}}, "operands.input_bits: 1 is not allowed; allowed: an "
                                      "integer in 2..16"),
    ({"operands": {"weight_bits": 17}}, "operands.weight_bits: 17 is not allowed"),
    ({"operands": {"input_bits": 16, "weight_bits": 16}, "accumulator": {"guard_bits": 17}},
     "accumulator.guard_bits: 17 is not allowed; allowed: at most 16 for N=16"),
    ({"operands": {"input_bits": 16, "weight_bits": 12}, "accumulator": {"guard_bits": 21}},
     "at most 20 for input_bits=16, weight_bits=12 (A+W+M <= 48 bits)"),
    ({"operands": {"input_bits": 8, "weight_bits": 4}, "accumulator": {"guard_bits": 1}},
     "at least 4 so one pass of 16 rows fits"),
    ({"operands": {"input_bits": 8, "weight_bits": 4}, "crossbar": {"cell_bits": 5}},
     "crossbar.cell_bits: 5 is not allowed; allowed: an integer in 1..4 (at most "
     "operands.weight_bits = 4"),
    ({"operands": {"input_bits": 4, "weight_bits": 8}, "crossbar": {"dac_bits": 5}},
     "crossbar.dac_bits: 5 is not allowed; allowed: an integer in 1..4 (at most "
     "operands.input_bits = 4)"),
])
def test_bad_mixed_widths_are_one_clear_line(raw, message):
    with pytest.raises(ConfigError) as exc:
        resolve_config(raw, where="m.yaml")
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_crossbar_slices_weights_and_phases_inputs():
    cfg = load_config(CONSTRAINTS_DIR / "xbar_w4a8.yaml")
    xb = cfg.crossbar
    assert (xb.input_bits, xb.weight_bits) == (8, 4)
    assert xb.slices == 2 and xb.phys_cols == 4 * 2 * 1       # ceil(W / b) = 4 / 2
    assert xb.phases == 4                                     # ceil(A / v) = 8 / 2 (offset)
    twos = _mixed(8, 4, array={"rows": 8, "cols": 4, "weight_tiles": 4},
                  crossbar={"cell_bits": 3, "dac_bits": 3}).crossbar
    assert twos.slices == 2 and twos.phases == 3 + 1          # ceil(7 / 3) + the sign phase
