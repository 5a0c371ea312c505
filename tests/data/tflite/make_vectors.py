"""Freeze TFLite int8 FULLY_CONNECTED outputs as golden test vectors (tests/data/tflite/*.npz).

Runs one-op ``.tflite`` models, built here as a ``golden.graph.Graph`` and written by the
product's writer (``golden.tflite_export.graph_to_tflite``), through the real TFLite runtime and stores the inputs, the float quantization parameters,
the activation clamp and TFLite's own int8 output. ``tests/golden/test_tflite_vectors.py``
(main venv, no TFLite) then holds ``golden.fully_connected`` to those outputs bit for bit.

This script needs TFLite and therefore its own venv (tflite-runtime 2.14 wants numpy < 2;
the main venv has numpy 2)::

    python3.11 -m venv /tmp/tflvenv
    /tmp/tflvenv/bin/pip install tflite-runtime==2.14.0 'numpy<2' flatbuffers tflite==2.18.0
    # (used: tflite-runtime 2.14.0, numpy 1.26.4, flatbuffers 25.12.19, tflite 2.18.0;
    #  CPython 3.11, x86-64 with AVX-512 — tflite-runtime 2.14 has wheels up to 3.11)
    /tmp/tflvenv/bin/python tests/data/tflite/make_vectors.py          # writes the .npz files
    /tmp/tflvenv/bin/python tests/data/tflite/make_vectors.py --check  # compare, write nothing

(``golden`` is imported from this checkout; it only needs NumPy.) Everything is
deterministic: every case has a fixed seed, and TFLite's integer kernels are exact. The
script prints a table per case and exits 1 if golden disagrees with TFLite anywhere.

Runtimes, one file per (case, runtime):

* ``*-ref.npz``  — ``OpResolverType.BUILTIN_REF``: TFLite's reference kernels
  (``reference_integer_ops::FullyConnected[PerChannel]``), requantization
  ``MultiplyByQuantizedMultiplier`` = classic double rounding → ``rounding='double'``.
* ``*-opt.npz``  — ``OpResolverType.BUILTIN`` (the Python default): TFLite's optimized
  builtin kernels (``optimized_integer_ops::FullyConnected[PerChannel]`` →
  cpu_backend_gemm → ruy, x86 SIMD path) → ``rounding='ruy'``.

``BUILTIN`` also applies the default XNNPACK delegate, which would requantize in float32;
in the tflite-runtime 2.14 wheel that delegate takes float ops only (it is created for a
float model, not for these int8 ones). The script checks that the execution plan is the
plain FULLY_CONNECTED kernel (no ``DELEGATE`` node) and that
``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` gives the same output, and fails otherwise.

File keys are those of ``qmac verify`` input plus ``y_tflite`` and ``kernel``:
``x`` [B,K] int8, ``w`` [C,K] int8, ``bias`` [C] int32, ``x_scale``, ``w_scale`` (scalar or
[C]), ``y_scale`` (float64 holding the exact float32 values TFLite reads), ``x_zp``,
``y_zp``, ``w_zp``, ``act_min``, ``act_max``, ``rounding``, ``y_tflite`` [B,C] int8,
``kernel`` (str). File name: ``<case>-<activation>-<ref|opt>.npz``.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))

import golden  # noqa: E402
from golden.graph import Graph, Op, Quant, Tensor  # noqa: E402
from golden.layer import activation_range, layer_multipliers  # noqa: E402
from golden.tflite_export import graph_to_tflite  # noqa: E402

try:
    import tflite_runtime

    from tests.data.tflite_generators import execution_plan, interpreter, invoke
except ImportError as exc:  # pragma: no cover - usage error
    sys.exit(f"make_vectors.py: {exc}; run it in the TFLite venv (see the module docstring)")


I32_MIN, I32_MAX = -(2**31), 2**31 - 1

RUNTIMES = {
    "ref": ("BUILTIN_REF", "double", "reference_integer_ops"),
    "opt": ("BUILTIN", "ruy", "optimized_integer_ops -> ruy, x86-64"),
}


def f32(v):
    """float32 rounding, returned as float64 (exact)."""
    return np.float64(np.float32(v))


# --------------------------------------------------------------------------------------
# .tflite model construction (golden.graph + the product's writer, golden.tflite_export)
# --------------------------------------------------------------------------------------

def _quant(scales, zero_points, dim=0):
    return Quant(np.asarray(scales, np.float32), np.asarray(zero_points, np.int64), dim)


def build_fc_model(*, batch, w, bias, x_scale, x_zp, w_scale, w_zp, y_scale, y_zp,
                   activation) -> bytes:
    """A model with one FULLY_CONNECTED op: int8 x [B,K], const int8 w [C,K], const int32
    bias [C], int8 y [B,C]. ``w_scale`` scalar → per-tensor, 1-D → per-channel (axis 0)."""
    c, k = w.shape
    ws = np.atleast_1d(np.float32(w_scale))
    bias_scales = np.float32(x_scale) * ws  # float32 products, as a converter writes them
    tensors = [
        Tensor(0, "x", (batch, k), "int8", _quant([x_scale], [x_zp])),
        Tensor(1, "w", (c, k), "int8", _quant(ws, [w_zp] * len(ws)),
               np.ascontiguousarray(w, dtype=np.int8)),
        Tensor(2, "bias", (c,), "int32", _quant(bias_scales, [0] * len(ws)),
               np.ascontiguousarray(bias, dtype="<i4")),
        Tensor(3, "y", (batch, c), "int8", _quant([y_scale], [y_zp])),
    ]
    op = Op(0, "FULLY_CONNECTED", [0, 1, 2], [3],
            {"fused_activation_function": activation.upper()})
    return graph_to_tflite(Graph(tensors, [op], [0], [3]),
                           "qmac one-op FULLY_CONNECTED test model")


def run_tflite(model: bytes, x: np.ndarray, resolver: str) -> tuple[np.ndarray, dict, list]:
    """Invoke the model; return (y, quantization params of the 4 tensors as TFLite read
    them, the op names of the execution plan — 'DELEGATE' when a delegate took the op)."""
    it = interpreter(model, resolver)
    y = invoke(it, x.astype(np.int8))
    q = {d["name"]: d["quantization_parameters"] for d in it.get_tensor_details()}
    return y, q, execution_plan(it)


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------

def _logu(rng, lo, hi):
    """float32 value log-uniform in [lo, hi], as float64."""
    return f32(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _acc(x, w, bias, x_zp, w_zp=0):
    """Exact (unwrapped) accumulators Σ (x − x_zp)(w − w_zp) + bias, int64."""
    return (x.astype(np.int64) - x_zp) @ (w.astype(np.int64) - w_zp).T + bias


def _layer(rng, b, k, c, *, x_zp, w_lo=-127, w_hi=127, bias_spread=1.0):
    x = rng.integers(-128, 128, (b, k)).astype(np.int8)
    w = rng.integers(w_lo, w_hi + 1, (c, k)).astype(np.int8)
    acc0 = _acc(x, w, 0, x_zp)
    spread = max(1.0, float(acc0.std()))
    bias = np.round(rng.uniform(-bias_spread, bias_spread, c) * spread).astype(np.int32)
    return x, w, bias


def _spread_target(x, w, bias, x_zp, codes=230.0):
    """Real multiplier that maps the middle 90% of the accumulators onto ``codes`` output
    codes, so both ends of a 256-code range saturate for the outer values."""
    acc = _acc(x, w, bias, x_zp)
    lo, hi = np.percentile(acc, [5, 95])
    return codes / max(1.0, float(hi - lo))


def case_ties(rng, *, per_channel, b, k, c, x_zp, y_zp, activation):
    """Power-of-two scales, M = 2^-n exactly with n = 2..5 (m0 = 2^30, shift = 1 − n) and
    small accumulators (inputs within 40 of the zero point, |w| <= 12): about half of all
    outputs are exact ties of SaturatingRoundingDoublingHighMul and a quarter or more exact
    ties of RoundingDivideByPOT; activation 'none' keeps negative ties visible, where
    classic double rounding and ruy differ."""
    off = rng.integers(0, 41, (b, k)) * (1 if x_zp < 0 else -1)
    x = np.clip(x_zp + off, -128, 127).astype(np.int8)
    w = rng.integers(-12, 13, (c, k)).astype(np.int8)
    bias = rng.integers(-300, 301, c).astype(np.int32)
    xs = 2.0 ** -6
    if per_channel:
        ws = 2.0 ** -rng.integers(5, 9, c).astype(np.float64)  # M[c] = 2^-2 .. 2^-5
        ys = 2.0 ** -9
    else:
        ws = 2.0 ** -7
        ys = 2.0 ** -10  # M = 2^-3
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, x_zp=x_zp,
                y_zp=y_zp, w_zp=0, activation=activation)


def case_random(rng, *, per_channel, b, k, c, x_zp, y_zp, activation, codes=300.0,
                y_scale=None):
    """Random float32 scales; y_scale chosen so that both ends saturate (or given, and then
    the per-tensor w_scale is chosen instead)."""
    x, w, bias = _layer(rng, b, k, c, x_zp=x_zp, bias_spread=float(rng.uniform(0, 2)))
    xs = _logu(rng, 1e-3, 0.5)
    target = _spread_target(x, w, bias, x_zp, codes=codes)
    if y_scale is not None:
        ys = f32(y_scale)
        ws = f32(target * ys / xs)
    elif per_channel:
        ws = np.array([_logu(rng, 1e-4, 5e-2) for _ in range(c)])
        ys = f32(xs * float(np.median(ws)) / target * _logu(rng, 0.7, 1.4))
    else:
        ws = _logu(rng, 1e-4, 5e-2)
        ys = f32(xs * ws / target * _logu(rng, 0.7, 1.4))
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, x_zp=x_zp,
                y_zp=y_zp, w_zp=0, activation=activation)


def _relu6_tie_scale(target_codes):
    """A float32 y_scale for which 6/y_scale is just below n + 1/2 exactly (and in double)
    but exactly n + 1/2 in float32: TFLite (float32 division, round half away) gives
    act_max = y_zp + n + 1; a double (or exact) division would give y_zp + n."""
    for n in range(int(target_codes), int(target_codes) + 50):
        s = np.float32(6.0 / (n + 0.5))
        for _ in range(8):
            s = np.nextafter(s, np.float32(0))  # start a few ulps below, walk up
        for _ in range(16):
            if (float(np.float32(6.0) / s) == n + 0.5
                    and Fraction(6) / Fraction(float(s)) < n + Fraction(1, 2)):
                return f32(s)
            s = np.nextafter(s, np.float32(np.inf))
    raise RuntimeError("no relu6 tie scale found")


def case_relu6_bound(rng, *, b, k, c, x_zp, y_zp):
    """Per-tensor ReLU6 whose act_max depends on TFLite computing round(6/y_scale) in float32:
    the output saturates at act_max, which the frozen output therefore pins down."""
    x, w, bias = _layer(rng, b, k, c, x_zp=x_zp, bias_spread=0.5)
    ys = _relu6_tie_scale(150)
    xs = _logu(rng, 1e-3, 0.5)
    target = _spread_target(x, w, bias, x_zp, codes=300.0)
    ws = f32(ys * target / xs)
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, x_zp=x_zp,
                y_zp=y_zp, w_zp=0, activation="relu6")


def case_shift_pos(rng, *, per_channel, b, k, c, x_zp, y_zp, activation):
    """Real multipliers >= 0.5 (shift >= 0): per-tensor M = 2.74; per-channel exact 0.5,
    0.75, 1, 2, 3, 4 and random ones up to 12. Small accumulators (small weights, inputs near the zero point) so that outputs stay in range."""
    x = np.clip(x_zp + rng.integers(-12, 13, (b, k)), -128, 127).astype(np.int8)
    w = rng.integers(-3, 4, (c, k)).astype(np.int8)
    bias = rng.integers(-20, 21, c).astype(np.int32)
    xs = 2.0 ** -3
    if per_channel:
        exact = [0.5, 0.75, 1.0, 2.0, 3.0, 4.0]
        m = np.array([exact[i] if i < len(exact) else float(_logu(rng, 0.5, 12.0))
                      for i in range(c)])
        ws = np.array([f32(2.0 ** -4 * mi) for mi in m])
        ys = 2.0 ** -7  # M = xs·ws/ys = 2^-3·2^-4·m/2^-7 = m
    else:
        ws = f32(2.0 ** -4 * 1.37)
        ys = 2.0 ** -7 / 2.0  # M = 2.74
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, x_zp=x_zp,
                y_zp=y_zp, w_zp=0, activation=activation)


def case_shift_wrap(rng, *, b, k, c):
    """M = 2 (shift = 2) with |acc| just above 2^29 (bias): acc·2^2 leaves int32. C++ UB in
    TFLite (``x * (1 << left_shift)``); compiled x86 wraps, golden's 32-bit model wraps."""
    x = rng.integers(-128, 128, (b, k)).astype(np.int8)
    w = rng.integers(-127, 128, (c, k)).astype(np.int8)
    sign = np.where(np.arange(c) % 2 == 0, 1, -1)
    bias = (sign * (2**29 + rng.integers(0, 2**28, c))).astype(np.int32)
    bias[-1] = rng.integers(-50, 51)  # one ordinary channel
    return dict(x=x, w=w, bias=bias, x_scale=2.0 ** -3, w_scale=2.0 ** -4, y_scale=2.0 ** -8,
                x_zp=0, y_zp=0, w_zp=0, activation="none")


def case_acc_wrap(rng, *, b, k, c):
    """Bias within 2^20 of INT32_MAX / INT32_MIN so that acc + bias wraps in int32 (C++ UB
    in the reference kernel; compiled x86 wraps). M ≈ 2^-25 keeps outputs in range."""
    x = rng.integers(-128, 128, (b, k)).astype(np.int8)
    w = rng.integers(-127, 128, (c, k)).astype(np.int8)
    sign = np.where(np.arange(c) % 2 == 0, 1, -1)
    bias = np.where(sign > 0, I32_MAX - rng.integers(0, 2**16, c),
                    I32_MIN + rng.integers(0, 2**16, c)).astype(np.int32)
    return dict(x=x, w=w, bias=bias, x_scale=f32(0.0123), w_scale=f32(0.0377),
                y_scale=f32(0.0123 * 0.0377 * 2**25 / 1.3), x_zp=3, y_zp=-7, w_zp=0,
                activation="none")


def case_small_m(rng, *, b, k, c):
    """Per-channel multipliers 2^-34 … 2^-20 (shift −31 … −20, and flushed to (0, 0) below
    2^-32), made visible by biases near ±2^30."""
    x = rng.integers(-128, 128, (b, k)).astype(np.int8)
    w = rng.integers(-127, 128, (c, k)).astype(np.int8)
    bias = (rng.choice([-1, 1], c) * rng.integers(2**29, 2**30, c)).astype(np.int32)
    xs, ys = 2.0 ** -10, 1.0
    exps = np.linspace(-34.5, -19.5, c)
    ws = np.array([f32(2.0 ** e * rng.uniform(1, 2) / xs) for e in exps])
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, x_zp=-5, y_zp=3,
                w_zp=0, activation="none")


def case_wzp(rng, *, b, k, c):
    """Per-tensor int8 weights with a non-zero zero point (outside the int8 quantization
    spec, but TFLite's FC kernels take it: weights_offset = −w_zp)."""
    d = case_random(rng, per_channel=False, b=b, k=k, c=c, x_zp=-17, y_zp=9,
                    activation="none")
    d["w_zp"] = 5
    return d


# ---- multiplier-form probes ----------------------------------------------------------

def _mbqm(acc, m0, shift, rounding):
    return golden.multiply_by_quantized_multiplier(acc, m0, shift, rounding)


def _m0_trunc(real):
    q, e = math.frexp(real)
    return int(q * 2**31), e  # truncation instead of round-half-away (the slides' variant)


def _discriminating_acc(rng, m0_a, sh_a, m0_b, sh_b):
    """An int32 accumulator (|acc| < 2^31 − 2^12) whose requantized value differs between
    (m0_a, sh_a) and (m0_b, sh_b) for both roundings, with |result| <= 100; or None."""
    real = m0_a * 2.0 ** (sh_a - 31)
    n = np.arange(-100, 100)
    centers = np.round((n + 0.5) / real).astype(np.int64)
    cand = (centers[:, None] + np.arange(-3, 4)[None, :]).reshape(-1)
    cand = cand[np.abs(cand) < 2**31 - 2**12]
    diff = np.ones(cand.shape, dtype=bool)
    for r in ("double", "ruy"):
        diff &= _mbqm(cand, m0_a, sh_a, r) != _mbqm(cand, m0_b, sh_b, r)
    hits = cand[diff]
    return None if hits.size == 0 else int(rng.choice(hits))


def _probe_layer(rng, accs, b):
    """x [b, 2], w [C, 2] = 1, bias: row r hits accs[c] + (r − b//2) on every channel."""
    c = len(accs)
    d = np.arange(b) - b // 2
    x = np.stack([d, np.zeros(b, dtype=np.int64)], axis=1).astype(np.int8)
    w = np.ones((c, 2), dtype=np.int8)
    return x, w, np.array(accs, dtype=np.int32)


def case_probe_pt(rng, *, b, per_alt):
    """Per-tensor discriminators. Golden (TFLite ``GetQuantizedConvolutionMultipler``):
    M = double(float32(S_x·S_w)) / S_y, m0 rounded half away. Alternatives rejected:
    'double product' M = S_x·S_w/S_y in double, 'float32 division', 'truncated m0'. Each
    channel sits where golden and one alternative round differently."""
    alts = {
        "double_product": lambda xs, ws, ys: golden.quantize_multiplier(xs * ws / ys),
        "float32_division": lambda xs, ws, ys: golden.quantize_multiplier(
            float(np.float32(np.float32(xs) * np.float32(ws)) / np.float32(ys))),
        "truncated_m0": lambda xs, ws, ys: _m0_trunc(
            float(np.float64(np.float32(xs) * np.float32(ws))) / ys),
    }
    for _ in range(10000):
        xs, ws = _logu(rng, 1e-3, 1e-1), _logu(rng, 1e-4, 1e-2)
        ys = f32(xs * ws * 2**23 * rng.uniform(1, 2))  # M ≈ 2^-23..2^-24: |acc| ≈ 2^30
        m0, sh = (int(v) for v in layer_multipliers(xs, ws, ys))
        alt = {name: f(xs, ws, ys) for name, f in alts.items()}
        if all(a != (m0, sh) for a in alt.values()):
            break
    accs = []
    for name, (am0, ash) in alt.items():
        for _ in range(per_alt):
            for _try in range(1000):
                a = _discriminating_acc(rng, m0, sh, am0, ash)
                if a is not None and a not in accs:
                    accs.append(a)
                    break
            else:
                raise RuntimeError(f"no discriminator for {name}")
    x, w, bias = _probe_layer(rng, accs, b)
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, x_zp=0, y_zp=0,
                w_zp=0, activation="none")


def case_probe_pc(rng, *, b, per_alt):
    """Per-channel discriminators. Golden (TFLite ``PopulateConvolutionQuantizationParams``
    / FC per-channel Prepare): M[c] = double(S_x)·double(S_w[c]) / double(S_y). Alternatives
    rejected: 'float32 product' (the per-tensor form), 'float32 multiplier'
    M = float32(S_x·S_w/S_y), 'truncated m0'."""
    alts = {
        "float32_product": lambda xs, w1, ys: golden.quantize_multiplier(
            float(np.float64(np.float32(xs) * np.float32(w1))) / ys),
        "float32_multiplier": lambda xs, w1, ys: golden.quantize_multiplier(
            float(np.float32(xs * w1 / ys))),
        "truncated_m0": lambda xs, w1, ys: _m0_trunc(xs * w1 / ys),
    }
    xs = _logu(rng, 1e-3, 1e-1)
    ys = _logu(rng, 1e-2, 1.0)
    ws, accs = [], []
    for name, f in alts.items():
        found = 0
        while found < per_alt:
            w1 = f32(ys / xs * 2.0**-23 * rng.uniform(1, 2))  # M = xs·w1/ys ≈ 2^-23..2^-22
            m0, sh = (int(v[0]) for v in layer_multipliers(xs, np.array([w1]), ys))
            am0, ash = f(xs, w1, ys)
            if (am0, ash) == (m0, sh):
                continue
            a = _discriminating_acc(rng, m0, sh, am0, ash)
            if a is None:
                continue
            ws.append(w1)
            accs.append(a)
            found += 1
    x, w, bias = _probe_layer(rng, accs, b)
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=np.array(ws), y_scale=ys, x_zp=0,
                y_zp=0, w_zp=0, activation="none")


def cases():
    """(name, seed, builder) of every frozen case; the seed fixes all of its data."""
    def rc(per_channel, b, k, c, x_zp, y_zp, act, **kw):
        return lambda rng: case_random(rng, per_channel=per_channel, b=b, k=k, c=c,
                                       x_zp=x_zp, y_zp=y_zp, activation=act, **kw)
    return [
        # exact ties (power-of-two scales), extreme zero points
        ("ties_pt", 101, lambda r: case_ties(r, per_channel=False, b=6, k=96, c=24,
                                             x_zp=-128, y_zp=127, activation="none")),
        ("ties_pc", 102, lambda r: case_ties(r, per_channel=True, b=6, k=64, c=24,
                                             x_zp=127, y_zp=5, activation="none")),
        ("ties_pt_y_zp_min", 103, lambda r: case_ties(r, per_channel=False, b=5, k=40, c=16,
                                                      x_zp=127, y_zp=-128,
                                                      activation="none")),
        # large K, saturation at both ends, activations
        ("sat_pt_k300", 201, rc(False, 4, 300, 20, -128, -128, "relu6")),
        ("sat_pc_k256", 202, rc(True, 3, 256, 20, 127, -30, "relu")),
        ("relu6_bound_pt", 203, lambda r: case_relu6_bound(r, b=4, k=120, c=20, x_zp=11,
                                                           y_zp=-100)),
        # random shapes / zero points / activations
        ("rand_pt_a", 301, rc(False, 2, 7, 3, -128, 127, "none")),
        ("rand_pt_b", 302, rc(False, 5, 150, 11, 127, -128, "relu")),
        ("rand_pt_c", 303, rc(False, 3, 233, 12, 40, -60, "relu6")),
        ("rand_pt_d", 304, rc(False, 4, 1, 9, -3, 20, "relu_n1_to_1", y_scale=1 / 37.0)),
        ("rand_pc_a", 311, rc(True, 3, 17, 37, 127, 127, "none")),
        ("rand_pc_b", 312, rc(True, 2, 299, 13, -128, 0, "relu6")),
        ("rand_pc_c", 313, rc(True, 7, 64, 8, -77, -128, "relu")),
        # shift >= 0
        ("shift_pos_pt", 401, lambda r: case_shift_pos(r, per_channel=False, b=6, k=12, c=10,
                                                       x_zp=-128, y_zp=0,
                                                       activation="none")),
        ("shift_pos_pc", 402, lambda r: case_shift_pos(r, per_channel=True, b=6, k=12, c=14,
                                                       x_zp=127, y_zp=-20,
                                                       activation="relu6")),
        # int32 overflow corners (UB in C++; compiled TFLite wraps)
        ("shift_pos_wrap", 501, lambda r: case_shift_wrap(r, b=4, k=8, c=6)),
        ("acc_wrap", 502, lambda r: case_acc_wrap(r, b=4, k=64, c=8)),
        # tiny multipliers, flush to zero
        ("small_m_pc", 601, lambda r: case_small_m(r, b=3, k=32, c=16)),
        # weight zero point
        ("w_zp_pt", 701, lambda r: case_wzp(r, b=3, k=50, c=7)),
        # multiplier-form probes
        ("probe_pt", 801, lambda r: case_probe_pt(r, b=6, per_alt=4)),
        ("probe_pc", 802, lambda r: case_probe_pc(r, b=6, per_alt=4)),
    ]


# --------------------------------------------------------------------------------------
# Golden comparison and statistics
# --------------------------------------------------------------------------------------

def golden_fc(d, m0, shift, rounding, act=None):
    act_min, act_max = act if act is not None else (d["act_min"], d["act_max"])
    return golden.fully_connected(
        d["x"], d["w"], bias=d["bias"], x_zp=d["x_zp"], w_zp=d["w_zp"], m0=m0, shift=shift,
        y_zp=d["y_zp"], act_min=act_min, act_max=act_max, rounding=rounding)


def tie_stats(d, m0, shift):
    """(#exact ties at the SRDHM step, #exact ties at the RoundingDivideByPOT step,
    #of the latter with a negative dividend) over all outputs."""
    acc = _acc(d["x"], d["w"], d["bias"], d["x_zp"], d["w_zp"])
    acc = ((acc + 2**31) % 2**32) - 2**31
    m0 = np.broadcast_to(m0, acc.shape).astype(object)
    shift = np.broadcast_to(shift, acc.shape)
    t1 = t2 = t2n = 0
    for a, m, s in zip(acc.reshape(-1).tolist(), m0.reshape(-1), shift.reshape(-1).tolist()):
        left, right = max(s, 0), max(-s, 0)
        v = ((a << left) + 2**31) % 2**32 - 2**31
        p = v * int(m)
        t1 += p % 2**31 == 2**30
        h = (p + 2**30) >> 31
        if right and h % (1 << right) == 1 << (right - 1):
            t2 += 1
            t2n += h < 0
    return t1, t2, t2n


def save_npz(path, **arrays):
    """``np.savez_compressed`` with fixed zip timestamps, so that regenerating gives
    byte-identical files."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare only, write no files")
    ap.add_argument("--out", default=str(HERE), help="output directory (default: here)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    version = tflite_runtime.__version__
    bad = 0
    total_bytes = 0
    print(f"tflite-runtime {version}, numpy {np.__version__}")
    hdr = (f"{'case':18} {'B':>2} {'K':>3} {'C':>2} {'act':>12} {'x_zp':>4} {'y_zp':>4} "
           f"{'shift':>9} {'clamp lo/hi':>11} {'ties1/2(neg)':>13} {'d!=r':>4} "
           f"{'ref':>4} {'opt':>4} {'nodeleg':>6}")
    print(hdr)
    for name, seed, build in cases():
        rng = np.random.default_rng(seed)
        d = build(rng)
        b, k = d["x"].shape
        c = d["w"].shape[0]
        model = build_fc_model(batch=b, w=d["w"], bias=d["bias"], x_scale=d["x_scale"],
                               x_zp=d["x_zp"], w_scale=d["w_scale"], w_zp=d["w_zp"],
                               y_scale=d["y_scale"], y_zp=d["y_zp"],
                               activation=d["activation"])
        results = {}
        for key, resolver in (("ref", RUNTIMES["ref"][0]), ("opt", RUNTIMES["opt"][0]),
                              ("nodeleg", "BUILTIN_WITHOUT_DEFAULT_DELEGATES")):
            results[key] = run_tflite(model, d["x"], resolver)
        # the quantization parameters as TFLite read them back from the model
        q = results["ref"][1]
        per_channel = np.ndim(d["w_scale"]) == 1
        xs = float(q["x"]["scales"][0])
        ws = q["w"]["scales"].astype(np.float64) if per_channel else float(q["w"]["scales"][0])
        ys = float(q["y"]["scales"][0])
        assert int(q["x"]["zero_points"][0]) == d["x_zp"]
        assert int(q["y"]["zero_points"][0]) == d["y_zp"]
        assert np.all(q["w"]["zero_points"] == d["w_zp"])
        assert len(q["w"]["scales"]) == (c if per_channel else 1)
        d.update(x_scale=xs, w_scale=ws, y_scale=ys)
        d["act_min"], d["act_max"] = activation_range(d["activation"], ys, d["y_zp"])
        m0, shift = layer_multipliers(xs, ws, ys)
        y_d = golden_fc(d, m0, shift, "double")
        y_r = golden_fc(d, m0, shift, "ruy")
        raw = golden_fc(d, m0, shift, "double", act=(-(2**16), 2**16 - 1))
        lo_hits = int((raw < d["act_min"]).sum())
        hi_hits = int((raw > d["act_max"]).sum())
        t1, t2, t2n = tie_stats(d, m0, shift)
        ok = {"ref": np.array_equal(results["ref"][0], y_d),
              "opt": np.array_equal(results["opt"][0], y_r),
              "nodeleg": np.array_equal(results["nodeleg"][0], results["opt"][0])}
        for key in ("ref", "opt", "nodeleg"):
            if results[key][2] != ["FULLY_CONNECTED"]:
                print(f"  {name}/{key}: execution plan {results[key][2]}, not the builtin kernel")
                bad += 1
        for key in ("ref", "opt"):
            y = results[key][0]
            if lo_hits and y.min() != d["act_min"] or hi_hits and y.max() != d["act_max"]:
                print(f"  {name}/{key}: clamp bounds not attained as computed")
                bad += 1
        sh = f"{int(np.min(shift))}..{int(np.max(shift))}"
        print(f"{name:18} {b:>2} {k:>3} {c:>2} {d['activation']:>12} {d['x_zp']:>4} "
              f"{d['y_zp']:>4} {sh:>9} {lo_hits:>5}/{hi_hits:<5} {t1:>4}/{t2:>3}({t2n:>3}) "
              f"{int((y_d != y_r).sum()):>4} {'ok' if ok['ref'] else 'FAIL':>4} "
              f"{'ok' if ok['opt'] else 'FAIL':>4} "
              f"{('same' if ok['nodeleg'] else 'DIFF'):>6}")
        for key, want in (("ref", y_d), ("opt", y_r)):
            if not ok[key]:
                bad += 1
                y = results[key][0]
                idx = np.argwhere(y != want)
                print(f"  {key}: {len(idx)} mismatches, first {idx[:5].tolist()}: "
                      f"tflite {y[tuple(idx[:5].T)].tolist()} golden "
                      f"{want[tuple(idx[:5].T)].tolist()}")
        if not ok["nodeleg"]:
            bad += 1
            print("  BUILTIN and BUILTIN_WITHOUT_DEFAULT_DELEGATES differ")
        if args.check:
            continue
        for key in ("ref", "opt"):
            _, rounding, desc = RUNTIMES[key]
            res = results[key][0]
            path = out / f"{name}-{d['activation']}-{key}.npz"
            save_npz(
                path,
                x=d["x"].astype(np.int8), w=d["w"].astype(np.int8),
                bias=d["bias"].astype(np.int32),
                x_scale=np.float64(xs), w_scale=np.asarray(ws, dtype=np.float64),
                y_scale=np.float64(ys), x_zp=np.int64(d["x_zp"]), y_zp=np.int64(d["y_zp"]),
                w_zp=np.int64(d["w_zp"]), act_min=np.int64(d["act_min"]),
                act_max=np.int64(d["act_max"]), rounding=np.str_(rounding),
                y_tflite=res.astype(np.int8),
                kernel=np.str_(f"tflite-runtime {version} OpResolverType."
                               f"{RUNTIMES[key][0]} FULLY_CONNECTED int8 "
                               f"{'per-channel' if per_channel else 'per-tensor'} ({desc})"))
            total_bytes += path.stat().st_size
    if not args.check:
        print(f"wrote {len(cases()) * 2} files, {total_bytes} bytes")
    print("ALL MATCH" if bad == 0 else f"{bad} PROBLEMS")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
