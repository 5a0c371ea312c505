"""Throughput of the golden model on one core (a script, not a test).

Run: ``.venv/bin/python benchmarks/bench_golden.py``. Targets: golden int8 fully connected
(B=256, K=1024, C=256) ≥ 1 G MAC/s, requantization ≥ 20 M outputs/s.

Why the fast path is exact
--------------------------
``golden.datapath.int_matmul`` computes integer dot products with float64 BLAS. A float64
represents every integer of magnitude ≤ 2^53 exactly, and an IEEE multiply, add or fused
multiply-add whose exact result is representable returns that result. In ``Σ_k a_k·b_k``
every product and every partial sum — in whatever order or blocking the BLAS uses — is an
integer bounded by ``Σ_k |a_k|·|b_k| ≤ max|a|·max|b|·K``. So if

    max|a| · max|b| · K < 2^53,

no operation ever rounds and the float64 result is the exact integer. For this benchmark
(int8 with zero points, ``|x − x_zp| ≤ 255``, ``|w − w_zp| ≤ 255``) the bound is
``255² · 1024 ≈ 2^26``, far inside. Where it does not hold (e.g. N = 16 unsigned,
``(2^16 − 1)² · K ≥ 2^53`` for ``K > 2^21``) ``int_matmul`` splits K into chunks of
``floor((2^53 − 1) / (max|a|·max|b|))`` columns, each exact, summed in int64; the last row
of the table exercises that path.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from golden.datapath import fully_connected, mac, requantize  # noqa: E402
from golden.fixedpoint import multiply_by_quantized_multiplier  # noqa: E402
from golden.multiplier import quantize_multiplier  # noqa: E402

B, K, C = 256, 1024, 256
SEED = int(os.environ.get("QMAC_SEED", 20240601))


def best_time(func, repeat=7):
    """Best wall time of ``repeat`` calls (after one warm-up call) and the last result."""
    result = func()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main():
    rng = np.random.default_rng(SEED)
    x = rng.integers(-128, 128, (B, K))
    w = rng.integers(-127, 128, (C, K))
    bias = rng.integers(-(2**16), 2**16, C)
    m0, shift = quantize_multiplier(np.exp2(rng.uniform(-14, -6, C)))
    layer = dict(bias=bias, x_zp=-5, w_zp=0, m0=m0, shift=shift, y_zp=3, act_min=-128,
                 act_max=127)
    macs = B * K * C

    t_fc, y = best_time(lambda: fully_connected(x, w, **layer))
    t_naive, acc_naive = best_time(lambda: np.matmul(x - (-5), w.T) + bias, repeat=2)
    t_int32, _ = best_time(lambda: multiply_by_quantized_multiplier(acc_naive, m0, shift))
    t_req, y_req = best_time(lambda: requantize(acc_naive, m0=m0, shift=shift, y_zp=3,
                                                act_min=-128, act_max=127))
    assert np.array_equal(y, y_req), "golden fully_connected disagrees with the int64 path"

    kc, cc, bc = 3 * 2**20, 2, 2  # uint16, (2^16 − 1)^2·K > 2^53: chunked BLAS
    xu = np.full((bc, kc), 2**16 - 1)
    wu = rng.integers(0, 2**16, (cc, kc))
    t_u16, got = best_time(lambda: mac(xu, wu, bits=16, input_signed=False,
                                       weight_signed=False), repeat=2)
    assert int(got[0, 0]) == sum(int(v) for v in wu[0]) * (2**16 - 1)

    outputs = B * C
    rows = [
        ("golden int8 fully_connected", t_fc, f"{macs / t_fc / 1e9:8.2f} G MAC/s",
         f"x{t_naive / t_fc:.1f} vs naive"),
        ("naive int64 np.matmul (+bias)", t_naive, f"{macs / t_naive / 1e9:8.2f} G MAC/s",
         "baseline"),
        ("requantize (wide, per-channel)", t_req, f"{outputs / t_req / 1e6:8.1f} M out/s", ""),
        ("mbqm int32 (TFLite, per-ch.)", t_int32, f"{outputs / t_int32 / 1e6:8.1f} M out/s", ""),
        (f"uint16 mac K={kc} (chunked)", t_u16, f"{bc * cc * kc / t_u16 / 1e9:8.2f} G MAC/s",
         ""),
    ]
    print(f"golden throughput, one core, B={B} K={K} C={C}, numpy {np.__version__}, "
          f"seed {SEED}")
    print(f"{'kernel':32s} {'time':>10s} {'throughput':>18s}  note")
    for name, t, rate, note in rows:
        print(f"{name:32s} {t * 1e3:8.2f}ms {rate:>18s}  {note}")
    ok = macs / t_fc >= 1e9 and outputs / t_req >= 20e6
    print("targets (>= 1 G MAC/s, >= 20 M requant outputs/s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
