# amaranth: UnusedElaboratable=no
"""The records (constraints/records.py): the hw tops built from them agree with every
derived width, a record that disagrees with the top is refused, the crossbar record
survives its plain-data form, and tb's HwParams reads the same numbers."""

import dataclasses
import json
from pathlib import Path

import pytest
from amaranth.hdl import Fragment

from constraints import CrossbarRecord, DatapathRecord, derive
from hw._top import check_against
from hw.crossbar_datapath import CrossbarDatapath
from hw.datapath import Datapath
from sim.config import CONSTRAINTS_DIR, load_config
from tb.hwparams import HwParams

SHIPPED = sorted(p.name for p in CONSTRAINTS_DIR.glob("*.yaml"))


def _top(cfg):
    """What ``Top.from_record(cfg)`` builds (constructed here, so that the unused top is
    covered by this file's UnusedElaboratable=no; from_record itself is what
    ``qmac generate`` calls)."""
    return check_against((CrossbarDatapath if cfg.crossbar else Datapath)(
        **cfg.top_parameters()), cfg)


@pytest.mark.parametrize("name", SHIPPED)
def test_tops_built_from_records_have_the_records_widths(name):
    cfg = load_config(CONSTRAINTS_DIR / name)
    top = _top(cfg)
    for key, want in cfg.expected_widths().items():
        assert getattr(top, key) == want, key
    if cfg.crossbar:
        assert top.LATENCY == cfg.crossbar.latency_cycles
        assert top.adc_shift == cfg.crossbar.adc_shift
        Fragment.get(top, None)         # uses the engine it built (no UnusedElaboratable)


@pytest.mark.parametrize("name", SHIPPED)
def test_tb_params_read_the_records_numbers(name):
    cfg = load_config(CONSTRAINTS_DIR / name)
    hp = HwParams.from_config_dict(cfg.to_dict())
    # tb's parameters are the record itself (read back from its plain-data form) ...
    # (``source`` travels as its file name: no absolute paths in plain data)
    cfg = dataclasses.replace(cfg, source=Path(cfg.source).name)
    assert DatapathRecord.from_dict(cfg.to_dict()) == cfg
    assert {f.name: getattr(hp, f.name) for f in dataclasses.fields(DatapathRecord)} == {
        f.name: getattr(cfg, f.name) for f in dataclasses.fields(DatapathRecord)}
    assert HwParams.from_dict(json.loads(json.dumps(hp.to_dict()))) == hp
    for key in ("index_bits", "addr_bits", "load_data_bits", "tile_bits", "cmd_width",
                "out_width", "x_range", "w_range", "out_range", "acc_range"):
        assert getattr(hp, key) == getattr(cfg, key), key
    if cfg.crossbar:
        xb = cfg.crossbar
        assert hp.xb == xb
        assert CrossbarRecord.from_dict(xb.to_dict(), cfg.to_dict()) == xb
        assert hp.cycles_per_vector() == xb.cycles_per_vector


def test_a_record_that_disagrees_with_the_top_is_refused():
    cfg = load_config()
    bad = dataclasses.replace(cfg, psum_bits=cfg.psum_bits + 1)
    with pytest.raises(ValueError, match=r"Datapath: psum_bits=20 differs from the "
                                         r"configuration record's 21 \(int8\)"):
        Datapath.from_record(bad)


@pytest.mark.parametrize("fs, k", [("auto", 14), (2**19, 11), (2**8, 0), (2**26, 18)])
def test_the_one_full_scale_mapping(fs, k):
    assert derive.adc_shift_for_full_scale(fs, 8, 22) == k


@pytest.mark.parametrize("fs", [2**27, 2**7, 3 * 2**10, True, "half"])
def test_the_full_scale_mapping_refuses(fs):
    with pytest.raises(derive.FullScaleError):
        derive.adc_shift_for_full_scale(fs, 8, 22)
