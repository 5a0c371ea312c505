"""Golden throughput of ``qmac sweep``'s engines on one core (a script, not a test).

Run: ``.venv/bin/python benchmarks/bench_sweep.py [--quick]``. Prints, for the digits
example's MLP (64→32→10, the 597 held-out images and a batch of 2000) and a wider one
(784→512→512→10), the MAC/s of a whole-network integer forward pass through

* ``mac_engine`` — the sweep's exact MAC path now: one ``int_matmul`` (float32 BLAS where
  exact) + wrap + ``requantize`` (direct int64 product, per-channel terms kept per channel);
* ``int_matmul path`` — the engine before its per-layer preparation (the float32 weights,
  folded bias and exactness bound computed once per layer instead of every call);
* ``previous`` — the same engine with the implementation it replaced
  (``benchmarks/golden_baseline.py``: float64 BLAS only, parameters broadcast to every
  output, ``x·m0`` always split into 16-bit halves), in this process;
* ``datapath_model`` — ``golden.netquant.datapath_layer`` (K tiled into R-row beats,
  accumulated beat by beat: what the RTL does);
* ``crossbar sidra_y1`` — ``crossbar_engine`` (bit slicing, DAC phases, ADC per physical
  column: more work per logical MAC, reported in logical MACs);

and the requantizer alone (outputs/s, new vs previous). Every engine's outputs are
compared with ``mac_engine``'s (they must be equal; the crossbar is lossy and is not).
Target (issue 16): ≥ 1 G MAC/s golden on one core.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from golden_baseline import int_matmul_f64, requantize_split                  # noqa: E402

from golden.crossbar import CrossbarNoise                        # noqa: E402
from golden.datapath import requantize, wrap                                   # noqa: E402
from golden.netquant import datapath_layer, quantize_network, run_quantized    # noqa: E402
from golden.network import FloatLayer, FloatNetwork                            # noqa: E402
from sim.config import load_config                                             # noqa: E402
from sim.sweep import crossbar_engine, mac_engine                              # noqa: E402


def _net(rng, sizes):
    layers = tuple(FloatLayer("dense", rng.normal(0, 1 / np.sqrt(k), (c, k)),
                              rng.normal(0, 0.1, c), "relu")
                   for k, c in zip(sizes[:-1], sizes[1:]))
    return FloatNetwork(layers, (sizes[0],))


def previous_engine(i, L, x):
    """The sweep's MAC engine with the replaced implementation (golden_baseline)."""
    acc = wrap(int_matmul_f64(x, L.w.T) + (L.bias - L.x_zp * L.w.sum(axis=1)), 32)
    return requantize_split(acc, m0=L.m0, shift=L.shift, y_zp=L.y_zp, act_min=L.act_min,
                            act_max=L.act_max)


def int_matmul_engine(i, L, x):
    """The sweep's MAC engine before the per-layer preparation (session of issue 16):
    ``golden.datapath.int_matmul`` (data-dependent exactness check, chunking) + the folded
    bias recomputed every call + wrap + ``requantize``."""
    from golden.datapath import int_matmul
    acc = wrap(int_matmul(x - 0, L.w.T) + (L.bias - L.x_zp * L.w.sum(axis=1)), 32)
    return requantize(acc, m0=L.m0, shift=L.shift, y_zp=L.y_zp, act_min=L.act_min,
                      act_max=L.act_max)


def _time(fn, repeat, min_s=0.3):
    fn()                                          # warm up
    best, total, n = float("inf"), 0.0, 0
    while n < repeat or total < min_s:
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best, total, n = min(best, dt), total + dt, n + 1
    return best, out


def _bench_net(rng, sizes, batch, spec, repeat):
    net = _net(rng, sizes)
    x = rng.normal(0, 1, (batch, sizes[0]))
    q = quantize_network(net, x[:256])
    xq = q.quantize_input(x)
    macs = q.macs * batch
    new = mac_engine(bits=8, rows=16, acc_bits=32, overflow="wrap", rounding="double")
    engines = [("mac_engine", new, xq), ("int_matmul path", int_matmul_engine, xq),
               ("previous", previous_engine, xq),
               ("datapath_model", lambda i, L, t: datapath_layer(L, t, bits=8, rows=16), xq)]
    rates, ref = {}, None
    for name, fn, xin in engines:
        dt, outs = _time(lambda: run_quantized(q, xin, fn), repeat)
        rates[name] = macs / dt
        if ref is None:
            ref = outs
        assert all(np.array_equal(a, b) for a, b in zip(outs, ref)), name
    xb = crossbar_engine(spec, CrossbarNoise(), acc_bits=32, overflow="wrap", rounding="double")
    n = min(batch, 256)
    dt, _ = _time(lambda: run_quantized(q, xq[:n], xb), 1)
    rates["crossbar sidra_y1"] = q.macs * n / dt
    return "→".join(map(str, sizes)), rates


def _bench_requant(rng, b, c, repeat):
    acc = rng.integers(-(2**31), 2**31, (b, c))
    m0 = rng.integers(2**30, 2**31, c)
    shift = rng.integers(-14, -4, c)
    kw = dict(m0=m0, shift=shift, y_zp=-3, act_min=-128, act_max=127)
    out = {}
    for rounding in ("double", "single", "ruy"):
        t_new, y_new = _time(lambda: requantize(acc, rounding=rounding, **kw), repeat)
        t_old, y_old = _time(lambda: requantize_split(acc, rounding=rounding, **kw), repeat)
        assert np.array_equal(y_new, y_old), rounding
        out[rounding] = (acc.size / t_new, acc.size / t_old)
    return out


def main(argv=None):
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    repeat = 2 if quick else 5
    rng = np.random.default_rng(0)
    spec = load_config(ROOT / "constraints" / "sidra_y1.yaml").crossbar
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; one "
          f"BLAS thread; best of >= {repeat} runs")
    print(f"{'network':>22}  {'batch':>5}  {'engine':>17}  {'G MAC/s':>8}  {'vs previous':>11}")
    cases = [((64, 32, 10), 597), ((64, 32, 10), 2000)]
    if not quick:
        cases.append(((784, 512, 512, 10), 2000))
    for sizes, batch in cases:
        name, rates = _bench_net(rng, sizes, batch, spec, repeat)
        for eng, r in rates.items():
            print(f"{name:>22}  {batch:>5}  {eng:>17}  {r / 1e9:8.3f}  "
                  f"{r / rates['previous']:10.2f}x")
    print(f"\n{'requantize [B, C]':>22}  {'rounding':>8}  {'M outputs/s':>11}  "
          f"{'previous':>9}  {'speed-up':>8}")
    for b, c in ((597, 32), (2000, 512)):
        for rounding, (new, old) in _bench_requant(rng, b, c, repeat).items():
            print(f"{f'[{b}, {c}]':>22}  {rounding:>8}  {new / 1e6:11.1f}  {old / 1e6:9.1f}  "
                  f"{new / old:7.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.1f} (rates are per process; a loaded "
          f"machine lowers them, ratios are measured side by side)")


if __name__ == "__main__":
    main()
