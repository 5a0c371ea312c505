"""golden vs the real TFLite runtime: frozen int8 FULLY_CONNECTED vectors, zero tolerance.

``tests/data/tflite/*.npz`` hold inputs, float quantization parameters and the int8 output
of tflite-runtime 2.14's reference kernels (``*-ref.npz``, rounding ``"double"``) and
optimized ruy kernels (``*-opt.npz``, rounding ``"ruy"``); ``make_vectors.py`` beside them
made them (it needs TFLite; this test does not). Every parameter is re-derived here from
the float scales through ``golden.layer`` exactly as TFLite derives it, and
``golden.fully_connected`` must reproduce TFLite's output bit for bit.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import golden
from golden.layer import ACTIVATIONS, activation_range, layer_multipliers

DATA = Path(__file__).resolve().parents[1] / "data" / "tflite"
FILES = sorted(DATA.glob("*.npz"))
KEYS = {"x", "w", "bias", "x_scale", "w_scale", "y_scale", "x_zp", "y_zp", "w_zp",
        "act_min", "act_max", "rounding", "y_tflite", "kernel"}
KINDS = {"ref": ("double", "OpResolverType.BUILTIN_REF "),
         "opt": ("ruy", "OpResolverType.BUILTIN ")}


def load(path):
    """The vector file as a dict of arrays / Python scalars, plus name parts."""
    with np.load(path, allow_pickle=False) as z:
        raw = {k: z[k] for k in z.files}
    d = {}
    for k, v in raw.items():
        if v.ndim == 0 and v.dtype.kind in "iuU":
            d[k] = v.item()
        elif v.ndim == 0 and v.dtype.kind == "f":
            d[k] = float(v)
        else:
            d[k] = v
    case, activation, kind = path.stem.rsplit("-", 2)
    d["_case"], d["_activation"], d["_kind"] = case, activation, kind
    d["_keys"] = set(raw)
    d["_raw"] = raw
    return d


VECTORS = {p.name: load(p) for p in FILES}


def run(d, *, m0=None, shift=None, rounding=None, act=None):
    """golden.fully_connected on a vector file with params from golden.layer."""
    if m0 is None:
        m0, shift = layer_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])
    act_min, act_max = act if act is not None else (d["act_min"], d["act_max"])
    return golden.fully_connected(
        d["x"], d["w"], bias=d["bias"], x_zp=d["x_zp"], w_zp=d["w_zp"], m0=m0, shift=shift,
        y_zp=d["y_zp"], act_min=act_min, act_max=act_max,
        rounding=rounding or d["rounding"])


# ---- independent reference of TFLite's multiplier derivation (no golden, no NumPy) -----

def f32(v):
    return struct.unpack("f", struct.pack("f", float(v)))[0]


def f32_exact(v: Fraction) -> float:
    """Nearest float32 (ties to even) to an exact positive rational (normal range)."""
    e = v.numerator.bit_length() - v.denominator.bit_length()
    if Fraction(2) ** e > v:
        e -= 1
    ulp = Fraction(2) ** (e - 23)
    n, rem = divmod(v, ulp)
    n = int(n)
    if rem / ulp > Fraction(1, 2) or (rem / ulp == Fraction(1, 2) and n % 2):
        n += 1
    return float(n * ulp)


def ref_quantize_multiplier(real: float):
    """TFLite QuantizeMultiplier in exact integer arithmetic."""
    if real == 0:
        return 0, 0
    q, e = math.frexp(real)
    scaled = Fraction(q) * 2**31  # exact
    m0 = math.floor(scaled + Fraction(1, 2))  # half away from zero (q > 0)
    if m0 == 2**31:
        m0, e = 2**30, e + 1
    if e < -31:
        return 0, 0
    return m0, e


def ref_multipliers(xs, ws, ys):
    """Per-tensor FC (GetQuantizedConvolutionMultipler): double(float32(xs·ws)) / ys.
    Per-channel (FC per-channel Prepare): double(xs)·double(ws[c]) / double(ys)."""
    xs, ys = f32(xs), f32(ys)
    if np.ndim(ws) == 0:
        prod = f32_exact(Fraction(xs) * Fraction(f32(ws)))
        return [ref_quantize_multiplier(prod / ys)]
    return [ref_quantize_multiplier((xs * f32(w)) / ys) for w in np.asarray(ws).tolist()]


# ---- the vector set ---------------------------------------------------------------------

def test_vector_set_is_complete():
    assert len(FILES) >= 40
    by_case = {}
    for name, d in VECTORS.items():
        by_case.setdefault(d["_case"], set()).add(d["_kind"])
    assert all(kinds == {"ref", "opt"} for kinds in by_case.values()), by_case
    assert sum(p.stat().st_size for p in FILES) < 200_000


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_file_format(name):
    d = VECTORS[name]
    raw = d["_raw"]
    assert d["_keys"] == KEYS
    assert d["_activation"] in ACTIVATIONS
    b, k = raw["x"].shape
    c = raw["w"].shape[0]
    assert b >= 2
    assert raw["x"].dtype == np.int8 and raw["w"].dtype == np.int8
    assert raw["w"].shape == (c, k)
    assert raw["bias"].dtype == np.int32 and raw["bias"].shape == (c,)
    assert raw["y_tflite"].dtype == np.int8 and raw["y_tflite"].shape == (b, c)
    assert raw["w_scale"].shape in ((), (c,))
    for key in ("x_scale", "w_scale", "y_scale"):  # exactly the float32 TFLite stores
        assert np.array_equal(raw[key], raw[key].astype(np.float32).astype(np.float64))
    for key in ("x_zp", "y_zp", "act_min", "act_max"):
        assert -128 <= d[key] <= 127
    rounding, resolver = KINDS[d["_kind"]]
    assert d["rounding"] == rounding
    assert d["kernel"].startswith("tflite-runtime ") and resolver in d["kernel"]


# ---- the claims -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(VECTORS))
def test_multiplier_derivation(name):
    """golden.layer's (m0, shift) from the float scales = an independent exact-arithmetic
    re-derivation of TFLite's formula."""
    d = VECTORS[name]
    m0, shift = layer_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])
    got = list(zip(np.atleast_1d(m0).tolist(), np.atleast_1d(shift).tolist()))
    assert got == ref_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_activation_range(name):
    d = VECTORS[name]
    assert activation_range(d["_activation"], d["y_scale"], d["y_zp"]) == (
        d["act_min"], d["act_max"])


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_golden_equals_tflite(name):
    """The headline claim: golden.fully_connected == TFLite's output, every element."""
    d = VECTORS[name]
    y = run(d)
    mism = np.argwhere(y != d["y_tflite"])
    assert mism.size == 0, (
        f"{len(mism)} of {y.size} outputs differ; first at {mism[0].tolist()}: golden "
        f"{y[tuple(mism[0])]}, TFLite {d['y_tflite'][tuple(mism[0])]}")


# ---- the vectors are strong enough to catch the plausible mistakes ----------------------

def _differs(d, **kw):
    return not np.array_equal(run(d, **kw), d["y_tflite"])


def test_vectors_tell_the_roundings_apart():
    """Some reference outputs differ from ruy rounding and some optimized outputs differ
    from classic double rounding (negative exact ties); single rounding fails both."""
    ref = [d for d in VECTORS.values() if d["_kind"] == "ref"]
    opt = [d for d in VECTORS.values() if d["_kind"] == "opt"]
    assert any(_differs(d, rounding="ruy") for d in ref)
    assert any(_differs(d, rounding="double") for d in opt)
    assert any(_differs(d, rounding="single") for d in ref)
    assert any(_differs(d, rounding="single") for d in opt)


def test_coverage():
    ds = list(VECTORS.values())
    shifts = []
    for d in ds:
        m0, shift = layer_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])
        shifts.append((np.atleast_1d(m0), np.atleast_1d(shift)))
    assert any(np.ndim(d["w_scale"]) == 1 for d in ds)  # per-channel
    assert any(np.ndim(d["w_scale"]) == 0 for d in ds)  # per-tensor
    assert {d["_activation"] for d in ds} == set(ACTIVATIONS)
    assert any((s > 0).any() for _, s in shifts)  # left shifts
    assert any((s == 0).any() & (m > 0).any() for m, s in shifts)
    assert any((s == -31).any() for _, s in shifts)  # the largest right shift
    assert any((m == 0).any() for m, _ in shifts)  # flushed multipliers
    for key in ("x_zp", "y_zp"):
        assert {-128, 127} <= {d[key] for d in ds}
    assert max(d["x"].shape[1] for d in ds) >= 256
    assert max(d["w"].shape[0] for d in ds) >= 32
    assert any(d["w_zp"] != 0 for d in ds)
    # saturation at both ends of the clamp inside one file
    wide = (-(2**16), 2**16 - 1)
    both = [d for d in ds
            if (run(d, act=wide) < d["act_min"]).any() and (run(d, act=wide) > d["act_max"]).any()]
    assert len(both) >= 10
    for d in both:
        assert d["y_tflite"].min() == d["act_min"] and d["y_tflite"].max() == d["act_max"]


def _alt_pt(d):
    xs, ws, ys = d["x_scale"], d["w_scale"], d["y_scale"]
    prod32 = float(np.float32(xs) * np.float32(ws))
    return {
        "double product": golden.quantize_multiplier(xs * ws / ys),
        "float32 division": golden.quantize_multiplier(
            float(np.float32(np.float32(prod32) / np.float32(ys)))),
        "truncated m0": _trunc(prod32 / ys),
    }


def _alt_pc(d):
    xs, ws, ys = d["x_scale"], np.asarray(d["w_scale"]), d["y_scale"]
    prod32 = (np.float32(xs) * ws.astype(np.float32)).astype(np.float64)
    return {
        "float32 product": golden.quantize_multiplier(prod32 / ys),
        "float32 multiplier": golden.quantize_multiplier(
            (xs * ws / ys).astype(np.float32).astype(np.float64)),
        "truncated m0": tuple(np.array(v) for v in zip(*[_trunc(r) for r in xs * ws / ys])),
    }


def _trunc(real):
    q, e = math.frexp(real)
    return int(q * 2**31), e


@pytest.mark.parametrize("kind", ["ref", "opt"])
@pytest.mark.parametrize("case,alts", [("probe_pt", _alt_pt), ("probe_pc", _alt_pc)])
def test_probes_reject_other_multiplier_formulas(case, alts, kind):
    """The probe vectors sit where TFLite's multiplier formula and plausible variants
    round differently: each variant fails against TFLite's own output."""
    d = VECTORS[f"{case}-none-{kind}.npz"]
    assert not _differs(d)
    for label, (m0, shift) in alts(d).items():
        assert _differs(d, m0=m0, shift=shift), label


@pytest.mark.parametrize("kind", ["ref", "opt"])
def test_relu6_bound_uses_float32_division(kind):
    """relu6_bound_pt: 6/y_scale is just below n + 1/2 in double but n + 1/2 in float32;
    TFLite's act_max (float32 division, round half away) is attained by the output."""
    d = VECTORS[f"relu6_bound_pt-relu6-{kind}.npz"]
    exact = Fraction(6) / Fraction(d["y_scale"])
    n = math.floor(exact)
    assert exact < n + Fraction(1, 2) and float(np.float32(6) / np.float32(d["y_scale"])) == n + 0.5
    assert d["act_max"] == d["y_zp"] + n + 1
    assert d["y_tflite"].max() == d["act_max"]
    assert _differs(d, act=(d["act_min"], d["act_max"] - 1))


@pytest.mark.parametrize("name", ["shift_pos_wrap-none-ref.npz", "shift_pos_wrap-none-opt.npz",
                                  "acc_wrap-none-ref.npz", "acc_wrap-none-opt.npz"])
def test_int32_overflow_cases_need_the_wrap(name):
    """TFLite (compiled x86) wraps int32 where C++ leaves it undefined — acc + bias and
    acc·2^shift for shift > 0 — and golden's acc_bits = 32 model reproduces that; the exact
    wide semantics (acc_bits = 48) does not."""
    d = VECTORS[name]
    m0, shift = layer_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])
    wide = golden.fully_connected(
        d["x"], d["w"], bias=d["bias"], x_zp=d["x_zp"], w_zp=d["w_zp"], m0=m0, shift=shift,
        y_zp=d["y_zp"], act_min=d["act_min"], act_max=d["act_max"], rounding=d["rounding"],
        acc_bits=48)
    assert not np.array_equal(wide, d["y_tflite"])


def _hw_eligible(d):
    """The hardware path (fold zero points, int8 w', int32 wrap accumulator) is bit-exact
    with TFLite when w' fits int8, the folded bias fits int32 and TFLite's int32
    accumulator times 2^shift never leaves int32 (docs/design.md)."""
    wf, bf = golden.fold_zero_points(d["w"], d["bias"], x_zp=d["x_zp"], w_zp=d["w_zp"])
    m0, shift = layer_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])
    acc = ((d["x"].astype(np.int64) - d["x_zp"]) @ (d["w"].astype(np.int64) - d["w_zp"]).T
           + d["bias"])
    acc32 = golden.wrap(acc, 32)
    left = np.maximum(np.broadcast_to(shift, acc.shape), 0)
    return (wf.min() >= -128 and wf.max() <= 127 and bf.min() >= -(2**31)
            and bf.max() < 2**31 and (np.abs(acc32) * 2.0**left < 2**31).all())


HW_FILES = sorted(n for n, d in VECTORS.items() if _hw_eligible(d))


def test_hw_eligible_set():
    not_eligible = {VECTORS[n]["_case"] for n in VECTORS if n not in HW_FILES}
    assert not_eligible == {"shift_pos_wrap", "w_zp_pt"}


@pytest.mark.parametrize("rows", [1, 16, 64])
@pytest.mark.parametrize("name", HW_FILES)
def test_hardware_schedule_model_equals_tflite(name, rows):
    """fold_zero_points + datapath_model (the hardware schedule: raw int8 x, stored
    w' = w − w_zp, folded bias, tiles of `rows`, int32 wrap accumulator, wide requantize)
    reproduces TFLite's output — in acc_wrap too, where the accumulator wraps (and the
    overflow flags say so)."""
    d = VECTORS[name]
    wf, bf = golden.fold_zero_points(d["w"], d["bias"], x_zp=d["x_zp"], w_zp=d["w_zp"])
    m0, shift = layer_multipliers(d["x_scale"], d["w_scale"], d["y_scale"])
    y, ovf = golden.datapath_model(
        d["x"], wf, bf, bits=8, input_signed=True, weight_signed=True, rows=rows,
        acc_bits=32, overflow="wrap", m0=m0, shift=shift, y_zp=d["y_zp"],
        act_min=d["act_min"], act_max=d["act_max"], rounding=d["rounding"])
    assert np.array_equal(y, d["y_tflite"])
    assert ovf.any() == (d["_case"] == "acc_wrap")
