"""Freeze TFLite 16x8 FULLY_CONNECTED outputs (int16 x, int8 w, int64 bias, int16 y) as golden
test vectors: ``tests/data/tflite16x8/fc16x8_<case>-<activation>.npz``.

The 16x8 kernels accumulate in int64 and requantize with TFLite's int64
``MultiplyByQuantizedMultiplier`` (``tensorflow/lite/kernels/internal/common.cc`` /
``common.h``): the multiplier reduced to 15 bits, ``(m0 + 2^15) >> 16`` (``0x7FFF`` from
``m0 >= 0x7FFF0000``), one rounding half up by ``15 − shift`` — qmac's ``"single16"``.
``tests/golden/test_datapath_tflite16x8.py`` (main venv, no TFLite) holds golden to these
outputs bit for bit; ``tests/sim/test_verify_16x8.py`` runs one through the hardware.

Runtime: ``tflite-runtime`` 2.14.0 (x86-64). Its FULLY_CONNECTED 16x8 kernel is
``reference_integer_ops::FullyConnected[PerChannel]`` with ``AccumScalar = int64_t`` on
every op resolver (``BUILTIN_REF``, ``BUILTIN``, ``BUILTIN_WITHOUT_DEFAULT_DELEGATES``; this
script checks that all three agree). ai-edge-litert 2.3.0 (LiteRT) is NOT usable for this
kernel: its 16x8 FULLY_CONNECTED requantizes in floating point
(``round(double(acc)·double(S_x)·double(S_w)/double(S_y))``, LiteRT
``tflite/kernels/internal/reference/integer_ops/fully_connected.h``), while its 16x8
CONV_2D / DEPTHWISE_CONV_2D still use the reduced multiplier (checked live by
``tests/sim/test_run_16x8.py``).

This script needs tflite-runtime, which wants numpy < 2, so it runs in its own venv::

    python3.11 -m venv /tmp/tflvenv
    /tmp/tflvenv/bin/pip install tflite-runtime==2.14.0 'numpy<2' flatbuffers tflite==2.18.0
    /tmp/tflvenv/bin/python tests/data/tflite16x8/make_vectors.py          # write
    /tmp/tflvenv/bin/python tests/data/tflite16x8/make_vectors.py --check  # compare only

Every case has a fixed seed and the files are written with fixed zip timestamps (rerun:
byte-identical). It prints a table and exits 1 if golden ``"single16"`` disagrees anywhere.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))

from golden.datapath import fully_connected  # noqa: E402
from golden.fixedpoint import reduced_multiplier  # noqa: E402
from golden.layer import activation_range, layer_multipliers  # noqa: E402

try:
    from tests.data.tflite_generators import (RESOLVERS, RUNTIME, check_flag,
                                              execution_plan, freeze, interpreter, invoke)
    from tests.helpers.tflite_builder import ACT, ModelBuilder
except ImportError as exc:  # pragma: no cover - usage error
    sys.exit(f"make_vectors.py: {exc}; run it in the TFLite venv (see the docstring)")


def f32(v):
    return np.float64(np.float32(v))


def build(x_shape, w, bias, xs, ws, ys, activation) -> bytes:
    """One FULLY_CONNECTED: int16 x, const int8 w (per-tensor or per-channel), const int64
    bias with scale S_x·S_w, int16 y; every zero point 0 (TFLite's 16x8 spec)."""
    m = ModelBuilder()
    c = w.shape[0]
    pc = np.ndim(ws) == 1
    x = m.tensor(x_shape, "int16", scale=xs, zp=0)
    wt = m.tensor(w.shape, "int8", scale=ws, zp=np.zeros(c if pc else 1, np.int64), axis=0,
                  data=w)
    bscale = np.float32(xs) * np.asarray(ws, np.float32)
    bt = m.tensor((c,), "int64", scale=bscale, zp=np.zeros(c if pc else 1, np.int64),
                  data=bias)
    y = m.tensor((x_shape[0], c), "int16", scale=ys, zp=0)
    m.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions",
         FusedActivationFunction=ACT[activation.upper()])
    m.inputs, m.outputs = [x], [y]
    return m.build()


def run(model: bytes, x: np.ndarray, resolver: str):
    it = interpreter(model, resolver)
    return invoke(it, x.astype(np.int16)), execution_plan(it)


# --- cases -----------------------------------------------------------------------------

def _rand(rng, b, k, c, bias_bits=20):
    x = rng.integers(-32768, 32768, (b, k)).astype(np.int16)
    x[0, :] = -32768                        # operand extremes in the first two rows
    x[1, :] = 32767
    w = rng.integers(-127, 128, (c, k)).astype(np.int8)
    w[0, :] = -127
    bias = rng.integers(-(2**bias_bits), 2**bias_bits, c).astype(np.int64)
    return x, w, bias


def _spread(x, w, bias, codes=80000.0):
    """Real multiplier mapping the middle 90% of accumulators onto ``codes`` (> 65536: both
    ends of the int16 output saturate)."""
    acc = x.astype(np.int64) @ w.astype(np.int64).T + bias
    lo, hi = np.percentile(acc, [5, 95])
    return codes / max(1.0, float(hi - lo))


def case_random(rng, *, per_channel, b, k, c, activation):
    x, w, bias = _rand(rng, b, k, c)
    xs = f32(rng.uniform(1e-4, 1e-3))
    target = _spread(x, w, bias)
    if per_channel:
        ws = np.array([f32(v) for v in rng.uniform(0.002, 0.02, c)])
        ys = f32(xs * float(np.median(ws)) / target)
    else:
        ws = f32(rng.uniform(0.002, 0.02))
        ys = f32(xs * ws / target)
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, activation=activation)


def case_ties(rng, *, per_channel, b, k, c):
    """Power-of-two scales: M = 2^-n exactly (m0 = 2^30, rm = 2^14, shift 1 − n), small
    accumulators — many exact ties x.5 of both signs (half up: −2.5 → −2)."""
    x = rng.integers(-40, 41, (b, k)).astype(np.int16)
    w = rng.integers(-12, 13, (c, k)).astype(np.int8)
    bias = rng.integers(-300, 301, c).astype(np.int64)
    xs = 2.0 ** -6
    if per_channel:
        ws = 2.0 ** -rng.integers(5, 9, c).astype(np.float64)
        ys = 2.0 ** -9
    else:
        ws, ys = 2.0 ** -7, 2.0 ** -10
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, activation="none")


def case_reduced_edges(rng, *, b, k):
    """Per-channel multipliers whose m0 sits on the reduction's edges: low half exactly
    0x8000 (rounds up), just below, and m0 >= 0x7FFF8000 where (m0 + 2^15) would overflow
    int32 — TFLite's guard gives rm = 0x7FFF (y_scale = 2^k·(1 + 2^-20): M's mantissa just
    below 1)."""
    x, w, bias = _rand(rng, b, k, 6, bias_bits=16)
    xs, ys = 2.0 ** -10, 1.0
    mant = [1 + 2.0 ** -15, 1 + 2.0 ** -15 - 2.0 ** -22,
            1 / (1 + 2.0 ** -20), 1 / (1 + 2.0 ** -21), 0.75 + 2.0 ** -17, 1.5]
    acc = x.astype(np.int64) @ w.astype(np.int64).T + bias
    scale = 30000.0 / max(1.0, float(np.abs(acc).max()))
    e = np.floor(np.log2(scale))
    ws = np.array([f32(2.0 ** e * mv / xs) for mv in mant])
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, activation="none")


def case_shift_pos(rng, *, b, k, c):
    """M in [1, 100] (shift 1..7, TFLite's limit): small operands."""
    x = rng.integers(-20, 21, (b, k)).astype(np.int16)
    w = rng.integers(-3, 4, (c, k)).astype(np.int8)
    bias = rng.integers(-20, 21, c).astype(np.int64)
    xs, ys = 2.0 ** -3, 2.0 ** -7
    m = np.exp(rng.uniform(0, np.log(100), c))
    m[:2] = [1.0, 64.0 * 1.7]
    ws = np.array([f32(2.0 ** -4 * mi) for mi in m])
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, activation="relu6")


def case_wide_acc(rng, *, b, k, c):
    """int64 biases near ±2^46 (accumulators far beyond int32, up to TFLite's asserted
    2^47) with M = 1.3·2^-32: shift −31, the smallest TFLite keeps; outputs ~±2^14.3."""
    x, w, _ = _rand(rng, b, k, c)
    sign = np.where(np.arange(c) % 2 == 0, 1, -1)
    bias = (sign * (2**46 + rng.integers(0, 2**44, c))).astype(np.int64)
    bias[-1] = rng.integers(-(2**36), 2**36)
    xs, ws = f32(2.0 ** -12), f32(2.0 ** -8)
    ys = f32(2.0 ** 12 / 1.3)
    return dict(x=x, w=w, bias=bias, x_scale=xs, w_scale=ws, y_scale=ys, activation="none")


CASES = {
    "rand_pt": lambda r: case_random(r, per_channel=False, b=6, k=64, c=8, activation="none"),
    "rand_pc": lambda r: case_random(r, per_channel=True, b=5, k=150, c=12, activation="none"),
    "rand_pc_relu": lambda r: case_random(r, per_channel=True, b=4, k=33, c=7,
                                          activation="relu"),
    "rand_pt_relu6": lambda r: case_random(r, per_channel=False, b=4, k=20, c=9,
                                           activation="relu6"),
    "ties_pt": lambda r: case_ties(r, per_channel=False, b=6, k=48, c=16),
    "ties_pc": lambda r: case_ties(r, per_channel=True, b=6, k=32, c=16),
    "reduced_edges_pc": lambda r: case_reduced_edges(r, b=6, k=40),
    "shift_pos_pc": lambda r: case_shift_pos(r, b=6, k=12, c=10),
    "wide_acc_pt": lambda r: case_wide_acc(r, b=4, k=64, c=6),
}


def golden_of(case, y_shape):
    xs, ws, ys = case["x_scale"], case["w_scale"], case["y_scale"]
    m0, shift = layer_multipliers(xs, ws, ys)
    amin, amax = activation_range(case["activation"], ys, 0, out_bits=16)
    return fully_connected(case["x"], case["w"], bias=case["bias"], x_zp=0, w_zp=0, m0=m0,
                           shift=shift, y_zp=0, act_min=amin, act_max=amax,
                           rounding="single16", acc_bits=48), m0, shift, amin, amax


def write_npz(path: Path, arrays: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(2026, 1, 1, 0, 0, 0))
            body = io.BytesIO()
            np.lib.format.write_array(body, np.asarray(value), allow_pickle=False)
            z.writestr(info, body.getvalue())
    return buf.getvalue()


def main(argv=None) -> int:
    check = check_flag(__doc__, argv)
    bad = 0
    print(f"{'case':18} {'shift':>9} {'max m0':>11} {'rm':>13} {'clamped':>7} {'ties':>5} "
          f"{'!=single':>8} {'golden':>6}")
    for seed, (name, make) in enumerate(CASES.items()):
        case = make(np.random.default_rng(1600 + seed))
        model = build(case["x"].shape, case["w"], case["bias"], case["x_scale"],
                      case["w_scale"], case["y_scale"], case["activation"])
        outs = {r: run(model, case["x"], r) for r in RESOLVERS}
        y, ops = outs["BUILTIN_REF"]
        agree = all(np.array_equal(o[0], y) and o[1] == ["FULLY_CONNECTED"]
                    for o in outs.values())
        want, m0, shift, amin, amax = golden_of(case, y.shape)
        ok = agree and np.array_equal(want, y)
        bad += not ok
        single = golden_single(case, m0, shift, amin, amax)
        acc = case["x"].astype(np.int64) @ case["w"].astype(np.int64).T + case["bias"]
        rm = np.atleast_1d(reduced_multiplier(m0))
        t = 15 - np.atleast_1d(shift)
        ties = int((((acc * rm) % (2 ** t)) == 2 ** (t - 1)).sum())
        print(f"{name:18} {int(np.min(shift)):>4}..{int(np.max(shift)):<4} "
              f"{int(np.max(m0)):>#11x} "
              f"{int(rm.min()):>6}..{int(rm.max()):<6} "
              f"{int(((y == amin) | (y == amax)).sum()):>7} {ties:>5} "
              f"{int((single != y).sum()):>8} {'OK' if ok else 'FAIL':>6}"
              f"{'' if agree else '  (resolvers disagree)'}")
        file = HERE / f"fc16x8_{name}-{case['activation']}.npz"
        data = write_npz(file, dict(
            x=case["x"], w=case["w"], bias=case["bias"], x_scale=np.float64(case["x_scale"]),
            w_scale=np.asarray(case["w_scale"], np.float64), y_scale=np.float64(case["y_scale"]),
            x_zp=np.int64(0), y_zp=np.int64(0), w_zp=np.int64(0), act_min=np.int64(amin),
            act_max=np.int64(amax), rounding=np.str_("single16"), y_tflite=y,
            kernel=np.str_(f"{RUNTIME}, BUILTIN_REF (= BUILTIN = without delegates), "
                           f"reference_integer_ops::FullyConnected"
                           f"{'PerChannel' if np.ndim(case['w_scale']) else ''} int16/int8/"
                           f"int64")))
        bad += freeze(file, data, check)
    print("make_vectors.py:", "FAIL" if bad else "PASS")
    return 1 if bad else 0


def golden_single(case, m0, shift, amin, amax):
    """The same layer with the full 31-bit multiplier (``"single"``): how often the reduced
    multiplier matters."""
    return fully_connected(case["x"], case["w"], bias=case["bias"], x_zp=0, w_zp=0, m0=m0,
                           shift=shift, y_zp=0, act_min=amin, act_max=amax, rounding="single",
                           acc_bits=48)


if __name__ == "__main__":
    sys.exit(main())
