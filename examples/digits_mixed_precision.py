#!/usr/bin/env python3
"""Per-layer precision on hardware: a 64→32→32→10 MLP on scikit-learn's digits with its first
and last layers at 8 bits and the middle one at 4, each layer on hardware generated for its
own width.

One command (from the repository root, after ``bash scripts/dev.sh setup``)::

    .venv/bin/python examples/digits_mixed_precision.py        # ~3-8 min on 2 cores
    .venv/bin/python examples/digits_mixed_precision.py --no-hw

1. trains the MLP (``MLPClassifier``, fixed seed, 1200 training digits) and writes it in
   qmac's float-network format with the 597 held-out digits (``out/digits_mixed/``);
2. ``qmac sweep`` in golden: 8 bits everywhere, 4 bits everywhere and 8/4/8 per layer
   (``golden.netquant``: TFLite's int8 conventions at each layer's width; min-max and MSE
   calibration): top-1 on the held-out digits;
3. ``--hw-check --layer-config 1=out/digits_mixed/w4_out8.yaml``: layers 0 and 2 of the
   8/4/8 point run on the int8 hardware (``constraints/int8.yaml``), layer 1 on hardware
   generated for 4-bit operands with 8-bit outputs (its output feeds the 8-bit last layer;
   the file is written by this script); every output of every layer must equal golden
   (``qmac verify``, Verilator, 32 digits; two builds, cached in ``out/build``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "examples"))

from digits_sweep import train_mlp                                     # noqa: E402
from golden.network import save_float_network                           # noqa: E402
from sim.config import load_config                                     # noqa: E402
from sim.sweep import run_sweep                                        # noqa: E402

#: the 4-bit layer's hardware: 4-bit operands, 8-bit outputs (its output feeds the 8-bit last
#: layer), gemmlowp double rounding like int8.yaml, a 32-bit accumulator
W4_OUT8 = """\
name: w4_out8
description: 4-bit operands, 8-bit outputs (the middle layer of an 8/4/8 network)
operands: {bits: 4, input_signed: true, weight_signed: true}
array: {rows: 16, cols: 16, weight_tiles: 16}
accumulator: {guard_bits: 24, overflow: wrap}
requant: {out_bits: 8, out_signed: true, rounding: double, per_channel: true}
timing: {clock_mhz: 300}
"""


def train(seed=0, iters=400):
    """The digits split and a trained 64→32→32→10 MLP (``digits_sweep.train_mlp``)."""
    return train_mlp(seed, iters=iters, hidden=(32, 32))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-hw", action="store_true", help="golden only")
    ap.add_argument("-o", "--out", default="out/digits_mixed")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net, (xtr, _), (xte, yte) = train()
    save_float_network(net, out / "mlp3.npz")
    np.savez(out / "digits.npz", x=xte, y=yte, x_calib=xtr)
    cfg = load_config(ROOT / "constraints" / "int8.yaml")
    (out / "w4_out8.yaml").write_text(W4_OUT8)
    spec = f"1={out / 'w4_out8.yaml'}"
    rc = run_sweep(cfg, model_path=out / "mlp3.npz", data_path=out / "digits.npz",
                   bits=(8, 4), layer_bits=((8, 4, 8),), methods=("minmax", "mse"),
                   outdir=out / "sweep", plots=False, progress=False)
    if rc or args.no_hw:
        return rc
    rc = run_sweep(cfg, model_path=out / "mlp3.npz", data_path=out / "digits.npz",
                   bits=(), layer_bits=((8, 4, 8),), methods=("minmax",),
                   outdir=out / "hw", plots=False, hw_check=True, hw_count=32,
                   layer_config=spec, progress=False)
    meta = json.loads((out / "hw" / "sweep.json").read_text())
    print(json.dumps(meta["meta"].get("hw_check"), indent=1))
    return rc


if __name__ == "__main__":
    sys.exit(main())
