"""The load map and the harness command word exist once (constraints/loadmap.py): the
SystemVerilog harness, the hw decoders and the command builders all agree with it."""

import re
from pathlib import Path

import numpy as np

import hw.crossbar_datapath
import hw.requant_stage
import tb.schedule
from constraints import (CROSSBAR_REGIONS, GAP_BITS, KIND_BITS, KINDS, REGION_BITS, REGIONS,
                         SCALAR_INDEX, decode_load, encode_load, pack_lanes)

ROOT = Path(__file__).resolve().parents[2]


def _sv_localparams(text):
    return {m.group(2): int(m.group(4)) for m in re.finditer(
        r"localparam\s+logic\s*\[(\d+):0\]\s+(\w+)\s*=\s*(\d+)'d(\d+);", text)}


def test_harness_command_kinds_match_the_contract():
    text = (ROOT / "tb" / "qmac_harness.sv").read_text()
    params = _sv_localparams(text)
    assert {k: params[f"KIND_{k}"] for k in KINDS} == KINDS
    widths = set(re.findall(r"localparam\s+logic\s*\[(\d+):0\]\s+KIND_", text))
    assert widths == {str(KIND_BITS - 1)}
    assert f"payload[{GAP_BITS - 1}:0]" in text     # a GAP counts its low GAP_BITS bits


def test_hw_and_tb_use_the_contract_map():
    assert hw.requant_stage.REGIONS is REGIONS and hw.requant_stage.SCALAR_INDEX is SCALAR_INDEX
    assert hw.requant_stage.REGION_BITS == REGION_BITS
    assert hw.crossbar_datapath.CROSSBAR_REGIONS is CROSSBAR_REGIONS
    assert tb.schedule.REGION_TRIM == CROSSBAR_REGIONS["TRIM"] == 5
    assert (tb.schedule.KIND_END, tb.schedule.KIND_LOAD, tb.schedule.KIND_DATA,
            tb.schedule.KIND_GAP) == (0, 1, 2, 3)


def test_encode_decode_round_trip_scalars_and_arrays():
    for ib in (2, 7, 18):
        for region in CROSSBAR_REGIONS:
            for index in (0, 1, (1 << ib) - 1):
                addr = encode_load(region, index, ib)
                assert decode_load(addr, ib) == (CROSSBAR_REGIONS[region], index)
    idx = np.arange(5, dtype=np.int64)
    assert (encode_load("BIAS", idx, 4) == (1 << 4) + idx).all()


def test_pack_lanes_twos_complement():
    assert pack_lanes([-1, 0, 1], 4) == 0x10F
    assert pack_lanes([-32], 6) == 0x20 and pack_lanes([31], 6) == 0x1F
