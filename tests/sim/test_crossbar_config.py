"""The crossbar: section — shipped configurations, derived numbers, one-line errors (exit 2),
and Verilator lint cleanliness of the generated crossbar tops."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from sim.cli import main as qmac
from sim.config import CONSTRAINTS_DIR, load_config, resolve_config
from sim.errors import ConfigError

SIDRA = CONSTRAINTS_DIR / "sidra_y1.yaml"
ISAAC = CONSTRAINTS_DIR / "isaac.yaml"


def with_crossbar(base_path, **changes):
    raw = yaml.safe_load(base_path.read_text())
    for key, value in changes.items():
        if value is None:
            raw["crossbar"].pop(key, None)
        else:
            raw["crossbar"][key] = value
    return raw


def resolve(raw):
    return resolve_config(raw, where="cfg.yaml")


# --------------------------------------------------------------------------- shipped
def test_sidra_y1_derived_numbers():
    cfg = load_config(SIDRA)
    xb = cfg.crossbar
    assert (cfg.rows, cfg.cols, xb.cell_bits, xb.dac_bits, xb.adc_bits) == (64, 16, 8, 8, 8)
    assert xb.lossless_adc_bits == 22 and not xb.lossless
    assert (xb.slices, xb.polarities, xb.phys_cols, xb.phases, xb.num_adcs) == (1, 2, 32, 1, 8)
    assert set(xb.adc_shift) == {11}
    assert xb.cycles_per_vector == 1 * (4 * (8 + 1) + 2 + 1) + 1 == 40
    assert xb.latency_cycles == 40 + 2 + 1 + 12
    d = xb.to_dict()
    assert d["derived"]["adc"] == "lossy" and d["adc_full_scale"] == [2**19] * 32
    m = xb.manifest(cfg)
    assert m["throughput"]["macs_per_cycle"] == 64 * 16 / 40


def test_isaac_derived_numbers():
    cfg = load_config(ISAAC)
    xb = cfg.crossbar
    assert (cfg.rows, xb.cell_bits, xb.dac_bits) == (128, 2, 1)
    assert xb.lossless_adc_bits == 9 and xb.lossless and xb.adc_bits == 9
    assert (xb.slices, xb.polarities, xb.phys_cols, xb.phases, xb.num_adcs) == (4, 1, 64, 8, 8)
    assert xb.cycles_per_vector == 8 * (8 * (1 + 1) + 4 + 1) + 1 == 169
    assert xb.latency_cycles == 169 + 2 + 1 + 12
    assert xb.lossless and not any(xb.adc_shift)


def test_defaults():
    raw = {"operands": {"bits": 8}, "array": {"rows": 32, "cols": 4}, "crossbar": {}}
    xb = resolve(raw).crossbar
    assert (xb.rows, xb.cols, xb.cell_bits, xb.weight_encoding, xb.dac_bits,
            xb.input_encoding) == (32, 4, 8, "differential", 1, "twos_complement")
    assert xb.adc_bits == xb.lossless_adc_bits == 13 and xb.lossless   # 32·1·255 = 8160
    assert (xb.cols_per_adc, xb.adc_latency, xb.dac_settle_cycles) == (1, 13, 1)
    assert xb.ideal and xb.seed == 0


def test_per_column_full_scale_lists():
    cols = 16
    per_col = [2**18] * 8 + [2**19] * 8
    xb = resolve(with_crossbar(SIDRA, adc_full_scale=per_col)).crossbar
    assert xb.adc_shift == tuple([10] * 16 + [11] * 16)       # each logical column: 2 phys
    per_phys = ["auto"] * 32
    xb = resolve(with_crossbar(SIDRA, adc_full_scale=per_phys)).crossbar
    assert set(xb.adc_shift) == {14}
    assert cols == 16


def test_bits_override_and_lossless_override():
    cfg = load_config(SIDRA, bits=8)
    assert cfg.crossbar.cell_bits == 8
    xb = resolve(with_crossbar(SIDRA, adc_bits=22, adc_full_scale="auto")).crossbar
    assert xb.lossless and set(xb.adc_shift) == {0}


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("changes,msg", [
    (dict(colour=1), "cfg.yaml: crossbar.colour: 'unknown key' is not allowed; allowed: one of "
                     "rows, cols, cell_bits"),
    (dict(rows=128), "cfg.yaml: crossbar.rows: 128 is not allowed; allowed: an integer in "
                     "64..64 (must equal array.rows"),
    (dict(cols=8), "cfg.yaml: crossbar.cols: 8 is not allowed; allowed: an integer in 16..16"),
    (dict(cell_bits=9), "cfg.yaml: crossbar.cell_bits: 9 is not allowed; allowed: an integer in "
                        "1..8 (at most operands.bits = 8: a cell cannot hold more than a weight)"),
    (dict(cell_bits=0), "cfg.yaml: crossbar.cell_bits: 0 is not allowed"),
    (dict(cell_bits="8"), "cfg.yaml: crossbar.cell_bits: '8' is not allowed"),
    (dict(dac_bits=12), "cfg.yaml: crossbar.dac_bits: 12 is not allowed; allowed: an integer in "
                        "1..8"),
    (dict(weight_encoding="flip"), "cfg.yaml: crossbar.weight_encoding: 'flip' is not allowed; "
                                   "allowed: differential or offset"),
    (dict(input_encoding="sign"), "cfg.yaml: crossbar.input_encoding: 'sign' is not allowed; "
                                  "allowed: twos_complement or offset"),
    (dict(cols_per_adc=3), "cfg.yaml: crossbar.cols_per_adc: 3 is not allowed; allowed: a "
                           "divisor of the 32 physical columns (C·S·E = 16·1·2): 1, 2, 4, 8, "
                           "16, 32"),
    (dict(adc_bits=0), "cfg.yaml: crossbar.adc_bits: 0 is not allowed; allowed: an integer in "
                       "1..40"),
    (dict(adc_bits=5, adc_full_scale="auto"),
     "cfg.yaml: crossbar.adc_bits: 5 is not allowed; allowed: 6..40 for rows=64: with the auto "
     "full scale 2^22 the LSB 2^17 exceeds twice one cell's largest contribution 65025, so "
     "the ADC could not represent even one cell step"),
    (dict(adc_full_scale=2**15),
     "cfg.yaml: crossbar.adc_full_scale: 32768 is not allowed; allowed: > 65025: one fully-on "
     "cell, (2^8-1)(2^8-1) = 65025, must not clip the ADC"),
    (dict(adc_full_scale=2**25),
     "cfg.yaml: crossbar.adc_full_scale: 33554432 is not allowed; allowed: at most 2^24: its "
     "LSB 2^17 exceeds twice one cell's largest contribution 65025"),
    (dict(adc_full_scale=500000),
     "cfg.yaml: crossbar.adc_full_scale: 500000 is not allowed; allowed: 'auto' or a power of "
     "two 2^8..2^26"),
    (dict(adc_full_scale=[2**19] * 3),
     "cfg.yaml: crossbar.adc_full_scale: [524288, 524288, 524288] is not allowed; allowed: "
     "'auto', one value, or a list of 16 (per logical column) or 32 (per physical column)"),
    (dict(adc_full_scale=[2**19] * 15 + [7]),
     "cfg.yaml: crossbar.adc_full_scale[15]: 7 is not allowed"),
    (dict(adc_latency=0), "cfg.yaml: crossbar.adc_latency: 0 is not allowed; allowed: an "
                          "integer in 1..1024"),
    (dict(dac_settle_cycles=-1), "cfg.yaml: crossbar.dac_settle_cycles: -1 is not allowed"),
    (dict(noise={"program_sigma": 2}), "cfg.yaml: crossbar.noise.program_sigma: 2 is not "
                                       "allowed; allowed: a number in [0.0, 1.0]"),
    (dict(noise={"read": 0.1}), "cfg.yaml: crossbar.noise.read: 'unknown key' is not allowed; "
                                "allowed: one of program_sigma, read_sigma, adc_offset_sigma, "
                                "seed"),
    (dict(noise={"seed": -3}), "cfg.yaml: crossbar.noise.seed: -3 is not allowed"),
    (dict(noise=[1]), "cfg.yaml: crossbar.noise: [1] is not allowed; allowed: a mapping"),
])
def test_config_errors(changes, msg):
    with pytest.raises(ConfigError) as exc:
        resolve(with_crossbar(SIDRA, **changes))
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(msg), text


def test_isaac_too_narrow_adc():
    with pytest.raises(ConfigError, match=r"crossbar.adc_bits: 4 is not allowed; allowed: "
                                          r"7\.\.40 for rows=128"):
        resolve(with_crossbar(ISAAC, adc_bits=4))


def test_cell_bits_more_than_bits_override():
    with pytest.raises(ConfigError, match=r"crossbar.cell_bits: 8 is not allowed; allowed: an "
                                          r"integer in 1\.\.4"):
        load_config(SIDRA, bits=4)


def test_section_must_be_a_mapping():
    raw = yaml.safe_load(SIDRA.read_text())
    raw["crossbar"] = [1, 2]
    with pytest.raises(ConfigError, match=r"cfg.yaml: crossbar: \[1, 2\] is not allowed; "
                                          r"allowed: a mapping"):
        resolve(raw)


def test_cli_exits_2_with_one_line(tmp_path, capsys):
    raw = with_crossbar(SIDRA, cols_per_adc=5)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert qmac(["generate", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"qmac: error: {path}: crossbar.cols_per_adc: 5 is not allowed")


# --------------------------------------------------------------------------- lint
@pytest.mark.parametrize("name,changes", [
    ("sidra_y1", {}),
    ("isaac", {}),
    ("sidra_y1", dict(input_encoding="twos_complement", weight_encoding="offset",
                      adc_full_scale=[2**18] * 16, cols_per_adc=1)),
    ("isaac", dict(weight_encoding="differential", dac_bits=3, adc_bits=7, cols_per_adc=16,
                   dac_settle_cycles=0)),
])
def test_generated_top_is_verilator_lint_clean(tmp_path, name, changes):
    from sim.generate import generate
    from sim.lint import lint

    raw = with_crossbar(CONSTRAINTS_DIR / f"{name}.yaml", **changes)
    raw["array"]["cols"] = raw["crossbar"]["cols"] = 4          # keep the netlist small
    if isinstance(changes.get("adc_full_scale"), list):
        raw["crossbar"]["adc_full_scale"] = changes["adc_full_scale"][:4]
    cfg = resolve_config(raw, where=f"{name}.yaml", default_name=name)
    gen = generate(cfg, tmp_path / "out")
    assert lint([gen.verilog_path]) == ""
    text = gen.verilog_path.read_text()
    for port in ("dac_codes", "adc_start", "adc_done", "adc_code", "o_prog__valid"):
        assert port in text
    assert gen.manifest["crossbar"]["derived"]["cycles_per_vector"] == \
        cfg.crossbar.cycles_per_vector
    assert gen.manifest["latency_cycles"] == cfg.crossbar.latency_cycles


def test_yaml_comments_document_every_field():
    for path in (SIDRA, ISAAC):
        text = path.read_text()
        section = text[text.index("crossbar:"):]
        for field in ("rows", "cols", "cell_bits", "weight_encoding", "dac_bits",
                      "input_encoding", "adc_bits", "adc_full_scale", "cols_per_adc",
                      "adc_latency", "dac_settle_cycles", "noise"):
            assert f"  {field}:" in section, (path.name, field)
    assert textwrap.dedent("x") == "x"
