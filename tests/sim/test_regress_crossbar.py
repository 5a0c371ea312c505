"""``qmac regress`` on crossbar configurations, end to end, under Icarus and Verilator.

The crossbar top (``CrossbarDatapath``) runs inside the regression harness with the
behavioural analog macro of ``tb/crossbar_model.py`` on its programming/DAC/ADC ports; every
output is compared bit-exactly with ``golden/crossbar.py``, and for lossy or noisy tiles the
summary reports the error against the exact integer result (SQNR, effective bits).

* ``sidra_y1`` (lossy 8-bit ADC) and ``isaac`` (bit-serial, lossless) on both simulators,
  small vector counts; ``crossbar_vs_mac`` (ideal crossbar + lossless ADC == the MAC path's
  golden) runs on isaac itself and on sidra_y1's lossless variant;
* a 6-bit ADC on sidra_y1's 64 rows, with seeded programming / read / ADC-offset noise;
* an injected crossbar fault (``crossbar_lsb_off_by_one``) must fail with a replay command.

Build directories are shared with tests/sim/test_regress.py (``build/test-sim`` or
``$QMAC_TEST_BUILD_DIR``). A missing simulator is a skip locally and a failure under
``CI=true``. Runtime is kept small: Icarus simulates these wide tops at a few hundred to a
thousand cycles per second, so the Icarus runs use a handful of vectors and isaac's Icarus
run only its two central testbenches.
"""

from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from sim.config import load_config
from sim.errors import UserError
from sim.regress import CROSSBAR_TESTBENCHES, default_vectors, lossless_variant, run_regress
from tests.helpers.simulators import need

REPO = Path(__file__).resolve().parents[2]
SIDRA = REPO / "constraints" / "sidra_y1.yaml"
ISAAC = REPO / "constraints" / "isaac.yaml"
ALL = list(CROSSBAR_TESTBENCHES)




def _regress(cfg, sim, out, build_root, *, vectors, tests=None, **kw):
    buf = io.StringIO()
    kw.setdefault("rerun_waves", False)
    rc = run_regress(cfg, sims=[sim], seed=kw.pop("seed", 777), vectors=vectors, waves=False,
                     jobs=2, outdir=out, build_root=build_root, stream=buf, progress=False,
                     tests=tests, **kw)
    text = buf.getvalue()
    summary = json.loads((Path(out) / "summary.json").read_text())
    return rc, text, summary


def _check_passed(rc, text, summary, sim, names):
    assert rc == 0, text
    assert summary["passed"] is True, text
    rows = {r["test"]: r for r in summary["results"]}
    assert set(rows) == set(names), text
    for name, r in rows.items():
        assert r["status"] == "pass" and r["sim"] == sim, (name, r["message"])
        assert r["vectors"] > 0 and r["mismatches"] == 0, (name, r)
        assert Path(r["log"]).is_file()
        assert re.search(rf"^{name}\s+{sim}\s+PASS\s+[1-9]", text, re.M), text
    assert not list(ET.parse(Path(summary["results"][0]["log"]).parents[2] / "junit.xml")
                    .getroot().iter("failure"))
    return rows


def _sidra_adc6(tmp_path: Path) -> Path:
    """sidra_y1 with a 6-bit ADC (64 rows: lossless would need 22 bits) and seeded noise."""
    raw = yaml.safe_load(SIDRA.read_text())
    raw["name"] = "sidra_y1_adc6"
    raw["crossbar"]["adc_bits"] = 6
    raw["crossbar"]["adc_latency"] = 6
    raw["crossbar"]["noise"] = {"program_sigma": 0.004, "read_sigma": 0.003,
                                "adc_offset_sigma": 0.6, "seed": 11}
    path = tmp_path / "sidra_y1_adc6.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------
# no simulator needed

def test_crossbar_testbench_names_and_defaults(tmp_path):
    cfg = load_config(SIDRA)
    with pytest.raises(UserError, match=r"--tests: 'datapath' is not a testbench of a crossbar "
                                        r"configuration; allowed: crossbar_layers"):
        run_regress(cfg, sims=["icarus"], seed=1, vectors=1, waves=False, jobs=1,
                    outdir=tmp_path, tests=["datapath"])
    # defaults: shrink with the cycles per vector (and on Icarus with the tile), never to 0
    assert default_vectors(cfg, "verilator") >= default_vectors(load_config(ISAAC), "verilator")
    assert default_vectors(load_config(ISAAC), "icarus") >= 4
    v = lossless_variant(cfg)
    assert v.name == "sidra_y1_lossless" and v.crossbar.lossless and v.crossbar.ideal
    assert v.crossbar.adc_bits == cfg.crossbar.lossless_adc_bits == 22
    assert v.crossbar.cycles_per_vector == cfg.crossbar.cycles_per_vector
    assert lossless_variant(load_config(ISAAC)) == load_config(ISAAC)


def test_tb_side_of_crossbar_configs():
    """HwParams, the TRIM loads of the schedule and the model's two goldens (NumPy only)."""
    import numpy as np

    from golden.crossbar import CrossbarNoise

    from tb.hwparams import HwParams
    from tb.model import Model
    from tb.schedule import KIND_LOAD, REGION_TRIM, field_values, schedule
    from tb.xbar_cases import extreme_layers, random_trim

    rng = np.random.default_rng(5)
    for path in (SIDRA, ISAAC):
        cfg = load_config(path)
        xb = cfg.crossbar
        hp = HwParams.from_config_dict(cfg.to_dict(), latency=xb.latency_cycles)
        assert hp.is_crossbar and hp.phys_cols == xb.phys_cols
        assert hp.index_bits == max(2, (max(cfg.weight_tiles * cfg.cols, xb.phys_cols, 4)
                                        - 1).bit_length())
        assert hp.xb_spec() == xb        # golden takes the contract's record itself
        assert hp.xb_noise() == CrossbarNoise.from_record(xb)
        assert hp.cycles_per_vector() == xb.cycles_per_vector
        assert hp.latency_for(xb.adc_latency + 2) == xb.latency_cycles + 2 * (
            xb.phases * xb.cols_per_adc)
        assert HwParams.from_dict(hp.to_dict()) == hp
        # the trims are the stream's first loads: region 5, index j, signed adc_bits
        trim = random_trim(hp, rng, span=1 << 20)
        layers = extreme_layers(hp, rng, max_rows=5)
        prog = schedule(hp, layers, trim=trim)
        loads = prog.stream.bits[prog.stream.kind == KIND_LOAD]
        addr = field_values(loads, 2, hp.addr_bits)[:, 0]
        sel = (addr >> hp.index_bits) == REGION_TRIM
        assert sel.sum() == hp.phys_cols
        assert (addr[sel] & ((1 << hp.index_bits) - 1)).tolist() == list(range(hp.phys_cols))
        got = field_values(loads[sel], 2 + hp.addr_bits, hp.adc_bits, signed=True)[:, 0]
        assert got.tolist() == trim.tolist()
        # lossless + ideal (isaac) with zero trims: golden.crossbar == golden.datapath;
        # lossy (sidra_y1): they differ, and the error statistics say by how much
        prog0 = schedule(hp, layers)
        exp_x = Model(hp).expected(prog0)
        exp_m = Model(hp).expected(prog0, mac_path=True)
        same = bool((exp_x.y == exp_m.y).all())
        assert same is (xb.lossless and xb.ideal)
        assert exp_x.error["dot"].count > 0
        assert (exp_x.error["dot"].noise == 0) is (xb.lossless and xb.ideal)

    # the mergeable statistics give golden.crossbar.error_report's numbers
    from golden.crossbar import error_report
    from tb.model import ErrorStats
    exact = rng.integers(-5000, 5000, size=(3, 40))
    est = exact + rng.integers(-30, 31, size=exact.shape)
    ref = error_report(exact, est)
    st = ErrorStats.of(exact[:1], est[:1]).merge(ErrorStats.of(exact[1:], est[1:]))
    assert st.sqnr_db == pytest.approx(ref["sqnr_db"], rel=1e-9)
    assert st.effective_bits == pytest.approx(ref["effective_bits"], rel=1e-9)
    d = st.to_dict()
    assert d["mse"] == pytest.approx(ref["mse"]) and d["max_abs"] == ref["max_abs_error"]
    assert d["exact_fraction"] == pytest.approx(ref["exact_fraction"])


# ---------------------------------------------------------------------------------------
# the shipped configurations

@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_regress_sidra_y1(sim, tmp_path, build_root, in_ci):
    """Lossy 8-bit ADC: bit-exact vs golden, SQNR against the exact result reported."""
    need(sim, in_ci)
    cfg = load_config(SIDRA)
    # crossbar_vs_mac needs the lossless variant's build: on Icarus only (cheap to build)
    names = ALL if sim == "icarus" else [n for n in ALL if n != "crossbar_vs_mac"]
    rc, text, summary = _regress(cfg, sim, tmp_path / "out", build_root,
                                 vectors={"icarus": 4, "verilator": 24}[sim], tests=names)
    _check_passed(rc, text, summary, sim, names)
    xb = summary["crossbar"]
    assert xb["lossless"] is False and xb["derived"]["lossless_adc_bits"] == 22
    err = xb["error_against_exact"]
    for key in ("dot", "out"):
        assert err[key]["count"] > 0
        assert math.isfinite(err[key]["sqnr_db"]) and err[key]["sqnr_db"] > 10, err
        assert err[key]["effective_bits"] == pytest.approx((err[key]["sqnr_db"] - 1.76) / 6.02,
                                                           abs=1e-2)
    assert re.search(r"dot SQNR\s+eff\. bits", text) and re.search(r"^\s+all\s+[\d.]+ dB", text,
                                                                    re.M), text
    if "crossbar_vs_mac" in names:
        assert xb["variants"]["crossbar_vs_mac"]["config"] == "sidra_y1_lossless"
        assert "crossbar_vs_mac ran on sidra_y1_lossless" in text


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_regress_isaac(sim, tmp_path, build_root, in_ci):
    """Bit-serial lossless tile: == golden and == the MAC path; every result exact."""
    need(sim, in_ci)
    cfg = load_config(ISAAC)
    names = ["crossbar_layers", "crossbar_vs_mac"] if sim == "icarus" else ALL
    rc, text, summary = _regress(cfg, sim, tmp_path / "out", build_root,
                                 vectors={"icarus": 2, "verilator": 12}[sim], tests=names)
    rows = _check_passed(rc, text, summary, sim, names)
    xb = summary["crossbar"]
    assert xb["lossless"] is True and xb["ideal"] is True and xb["variants"] == {}
    assert xb["error_against_exact"]["dot"]["all_exact"] is True
    assert xb["error_against_exact"]["out"]["all_exact"] is True
    assert "equal the exact integer result" in text
    assert rows["crossbar_vs_mac"]["variant"] == ""


def test_regress_lossy_adc6_with_noise(tmp_path, build_root, in_ci):
    """6-bit ADC on 64 rows with programming, read and ADC-offset noise: the hardware still
    equals golden bit-exactly (deterministic, seeded macro) and the SQNR is reported."""
    need("icarus", in_ci)
    cfg = load_config(_sidra_adc6(tmp_path))
    assert not cfg.crossbar.lossless and not cfg.crossbar.ideal
    names = ["crossbar_layers", "crossbar_latency", "crossbar_backpressure"]
    rc, text, summary = _regress(cfg, "icarus", tmp_path / "out", build_root, vectors=6,
                                 tests=names)
    _check_passed(rc, text, summary, "icarus", names)
    err = summary["crossbar"]["error_against_exact"]
    assert summary["crossbar"]["noise"]["read_sigma"] == 0.003
    assert math.isfinite(err["dot"]["sqnr_db"]) and err["dot"]["exact_fraction"] < 0.5, err
    assert "lossy ADC, noisy macro" in text and "dot SQNR" in text


def test_crossbar_fault_is_caught(tmp_path, build_root, in_ci):
    """crossbar_lsb_off_by_one (physical column 0 scaled by 2^(k+1)): mismatches, exit 1,
    a replay command naming the fault."""
    need("icarus", in_ci)
    cfg = load_config(SIDRA)
    rc, text, summary = _regress(cfg, "icarus", tmp_path / "out", build_root, vectors=4,
                                 tests=["crossbar_layers"],
                                 inject_fault="crossbar_lsb_off_by_one")
    assert rc == 1, text
    row = summary["results"][0]
    assert row["status"] == "fail" and row["mismatches"] > 0, row
    assert any(re.search(r"lane 0 (y|ovf):", m) for m in row["first_mismatches"]), row
    replay = re.search(r"^  replay: (qmac regress .*)$", text, re.M)
    assert replay and "--inject-fault crossbar_lsb_off_by_one" in replay.group(1)
    assert "--tests crossbar_layers" in replay.group(1)
    assert list(ET.parse(tmp_path / "out" / "junit.xml").getroot().iter("failure"))
