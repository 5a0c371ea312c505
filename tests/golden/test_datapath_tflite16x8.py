"""golden vs the real TFLite runtime on the 16x8 FULLY_CONNECTED kernel, zero tolerance.

``tests/data/tflite16x8/fc16x8_*.npz`` hold int16 inputs, int8 weights, int64 biases, the float
scales and the int16 output of tflite-runtime 2.14's 16x8 kernel (int64 accumulator, the
int64 ``MultiplyByQuantizedMultiplier`` with its 15-bit reduced multiplier); the
``make_vectors.py`` beside them made them (it needs TFLite; this test does not). The
multipliers are re-derived from the scales through ``golden.layer``, and
``golden.fully_connected(rounding="single16", acc_bits=48)`` must give TFLite's output on
every element. The same accumulators through the independent Python-int reference
(``tests/helpers/fixedpoint_reference.mbqm64``) agree too, and the full 31-bit multiplier
(``"single"``, ``"double"``) does not: the files tell the modes apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import golden
from golden.fixedpoint import reduced_multiplier
from golden.layer import activation_range, layer_multipliers
from tests.helpers import fixedpoint_reference as ref

DATA = Path(__file__).resolve().parents[1] / "data" / "tflite16x8"
FILES = sorted(DATA.glob("fc16x8_*.npz"))   # the frozen vectors (model16x8_*.npz: whole models)


def load(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


VECTORS = {p.name: load(p) for p in FILES}


def run(d, rounding="single16"):
    m0, shift = layer_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])
    return golden.fully_connected(d["x"], d["w"], bias=d["bias"], x_zp=0, w_zp=0, m0=m0,
                                  shift=shift, y_zp=0, act_min=d["act_min"],
                                  act_max=d["act_max"], rounding=rounding, acc_bits=48)


def test_the_files_are_there():
    assert len(FILES) == 9
    for d in VECTORS.values():
        assert d["x"].dtype == np.int16 and d["w"].dtype == np.int8
        assert d["bias"].dtype == np.int64 and d["y_tflite"].dtype == np.int16
        assert d["rounding"] == "single16" and "tflite-runtime 2.14.0" in d["kernel"]


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_golden_equals_tflite_16x8(name):
    d = VECTORS[name]
    act = d["x_scale"] and name.split("-")[1].removesuffix(".npz")
    assert activation_range(act, d["y_scale"], 0, out_bits=16) == (d["act_min"], d["act_max"])
    got = run(d)
    assert got.shape == d["y_tflite"].shape
    bad = np.argwhere(got != d["y_tflite"])
    assert bad.size == 0, f"{name}: {len(bad)} differences, first at {bad[0].tolist()}"


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_independent_reference_agrees(name):
    d = VECTORS[name]
    m0, shift = layer_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])
    acc = d["x"].astype(object) @ d["w"].astype(object).T + d["bias"].astype(object)
    m0b, shb = np.broadcast_to(m0, acc.shape), np.broadcast_to(shift, acc.shape)
    y = np.vectorize(lambda a, m, s: ref.mbqm64(int(a), int(m), int(s)), otypes=[object])(
        acc, m0b, shb)
    y = np.clip(y.astype(np.int64), d["act_min"], d["act_max"])
    assert np.array_equal(y, d["y_tflite"])


def test_the_vectors_tell_the_modes_apart():
    """The reduced multiplier is visible: the 31-bit multiplier (single / double rounding)
    misses TFLite on the random cases; ties and reduced-multiplier edges are present."""
    differ = {r: sum(int((run(d, r) != d["y_tflite"]).sum()) for d in VECTORS.values())
              for r in ("single", "double", "ruy")}
    assert min(differ.values()) >= 10, differ
    edges = VECTORS["fc16x8_reduced_edges_pc-none.npz"]
    m0, _ = layer_multipliers(edges["x_scale"], edges["w_scale"], edges["y_scale"])
    assert (m0 >= 0x7FFF8000).any()        # (m0 + 2^15) would overflow int32: rm = 0x7FFF
    assert (reduced_multiplier(m0) == 0x7FFF).sum() >= 2
    assert (m0 & 0xFFFF == 0x8000).any()   # rounds up to the next rm
    wide = VECTORS["fc16x8_wide_acc_pt-none.npz"]
    acc = wide["x"].astype(np.int64) @ wide["w"].astype(np.int64).T + wide["bias"]
    assert np.abs(acc).max() >= 2**46 and np.abs(acc).max() < 2**47
    _, shift = layer_multipliers(wide["x_scale"], wide["w_scale"], wide["y_scale"])
    assert int(shift) == -31
