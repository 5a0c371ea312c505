"""Golden throughput of ``qmac sweep``'s engines on one core (a script, not a test).

Run: ``.venv/bin/python benchmarks/bench_sweep.py``. Prints, for a small MLP (the digits
example, 64→32→10) and a wider one (784→512→512→10), the MAC/s of a whole-network integer
forward pass through

* ``mac_engine`` (the sweep's exact MAC path: one ``int_matmul`` + wrap + ``requantize``),
* the baseline ``golden.netquant.datapath_layer`` (``datapath_model``: K tiled into R-row
  beats, accumulated beat by beat) — the ratio is the sweep's speed-up, and both outputs
  are compared (they must be equal);
* ``crossbar_engine`` on the sidra_y1 tile (bit slicing, DAC phases, ADC per physical
  column: more work per logical MAC, reported in logical MACs).

Target (issue 16): ≥ 1 G MAC/s golden on one core. The rate of shallow layers is bound by
requantization (one output per K MACs), so it grows with K.
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

from golden.crossbar import CrossbarNoise, CrossbarSpec                        # noqa: E402
from golden.network import FloatLayer, FloatNetwork               # noqa: E402
from golden.netquant import datapath_layer, quantize_network, run_quantized  # noqa: E402
from sim.config import load_config                                # noqa: E402
from sim.sweep import crossbar_engine, mac_engine                 # noqa: E402


def _net(rng, sizes):
    layers = tuple(FloatLayer("dense", rng.normal(0, 1 / np.sqrt(k), (c, k)),
                              rng.normal(0, 0.1, c), "relu")
                   for k, c in zip(sizes[:-1], sizes[1:]))
    return FloatNetwork(layers, (sizes[0],))


def _rate(q, xq, fn, repeat):
    run_quantized(q, xq, fn)                      # warm up
    t0 = time.perf_counter()
    for _ in range(repeat):
        outs = run_quantized(q, xq, fn)
    dt = (time.perf_counter() - t0) / repeat
    return q.macs * xq.shape[0] / dt, outs


def main():
    rng = np.random.default_rng(0)
    spec = CrossbarSpec.from_record(load_config(ROOT / "constraints" / "sidra_y1.yaml").crossbar)
    print(f"{'network':>22}  {'batch':>5}  {'engine':>16}  {'G MAC/s':>8}  {'vs baseline':>11}")
    for sizes, batch in (((64, 32, 10), 2000), ((784, 512, 512, 10), 2000)):
        net = _net(rng, sizes)
        x = rng.normal(0, 1, (batch, sizes[0]))
        q = quantize_network(net, x[:256])
        xq = q.quantize_input(x)
        name = "→".join(map(str, sizes))
        base, ref = _rate(q, xq, lambda i, L, t: datapath_layer(L, t, bits=8, rows=16), 2)
        fast, outs = _rate(q, xq, mac_engine(bits=8, rows=16, acc_bits=32, overflow="wrap",
                                             rounding="double"), 3)
        assert all(np.array_equal(a, b) for a, b in zip(outs, ref))
        xbr, _ = _rate(q, xq[:256], crossbar_engine(spec, CrossbarNoise(), acc_bits=32,
                                                    overflow="wrap", rounding="double"), 1)
        for eng, r in (("datapath_model", base), ("mac_engine", fast), ("crossbar sidra_y1", xbr)):
            print(f"{name:>22}  {batch:>5}  {eng:>16}  {r / 1e9:8.3f}  {r / base:10.2f}x")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          f"(rates are per process; a loaded machine lowers them)")


if __name__ == "__main__":
    main()
