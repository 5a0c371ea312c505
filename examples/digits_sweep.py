#!/usr/bin/env python3
"""From a float network to hardware choices, on scikit-learn's digits (no download).

One command (from the repository root, after ``bash scripts/dev.sh setup``)::

    .venv/bin/python examples/digits_sweep.py            # ~3-6 min on 2 cores
    .venv/bin/python examples/digits_sweep.py --no-hw    # golden only, < 1 min
    .venv/bin/python examples/digits_sweep.py --smoke    # the test suite's quick version

1. trains a 64→32→10 ReLU MLP on 1200 of the 1797 8×8 digits (scikit-learn
   ``MLPClassifier``, fixed seed) and writes it in qmac's float-network format
   (``out/digits/mlp.npz``) with the 597 held-out digits (``out/digits/digits.npz``,
   calibration data = the training split);
2. ``qmac sweep`` on the exact int8 MAC datapath: operand bits 2..8 × the four
   calibration methods, per-layer bits (8/4, 4/8), the three rounding modes;
3. ``qmac sweep`` on the SIDRA Y1-like crossbar (``constraints/sidra_y1.yaml``: 256-level
   cells, 8-bit DAC, 8-bit ADC): ADC bits 3..12 and lossless × full scale (configured,
   calibrated from the column peaks of the data, auto) × programming / read noise over
   three seeds;
4. checks hardware == golden on every output of both layers at two points (int8 at 8 bits,
   sidra_y1 as configured) through ``qmac verify`` (Verilator; two builds, cached in
   ``out/build``);
5. prints the accuracy tables and answers the SIDRA questions with numbers; plots go to
   ``out/digits/`` (``--docs`` also copies them to ``docs/img/`` for the README).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # golden MAC/s is measured on one core
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden.network import FloatLayer, FloatNetwork, save_float_network  # noqa: E402
from sim.config import load_config                                     # noqa: E402
from sim.sweep import run_sweep                                        # noqa: E402


def train_mlp(seed=0, *, iters=300):
    """The data split and a trained 64→32→10 MLP as a :class:`FloatNetwork`."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    d = load_digits()
    x, y = d.data / 16.0, d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(x))
    tr, te = idx[:1200], idx[1200:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=iters, random_state=seed)
        clf.fit(x[tr], y[tr])
    net = FloatNetwork((
        FloatLayer("dense", clf.coefs_[0].T.copy(), clf.intercepts_[0].copy(), "relu"),
        FloatLayer("dense", clf.coefs_[1].T.copy(), clf.intercepts_[1].copy(), "none"),
    ), (64,))
    return net, (x[tr], y[tr]), (x[te], y[te])


def _rows(path):
    import json
    return json.loads(Path(path).read_text())["points"]


def _acc(rows, **match):
    sel = [r for r in rows if all(str(r.get(k)) == str(v) for k, v in match.items())]
    if not sel:
        return float("nan"), float("nan"), []
    a = np.array([r["accuracy"] for r in sel]) * 100
    return float(a.mean()), float(a.std()), sel


def answers(mac_rows, xb_rows, float_acc):
    """The SIDRA questions, answered from the sweep results."""
    a8, _, _ = _acc(mac_rows, engine="mac", bits="8/8", method="minmax", rounding="double")
    a4, _, _ = _acc(mac_rows, engine="mac", bits="4/4", method="minmax", rounding="double")
    a4b, _, _ = _acc(mac_rows, engine="mac", bits="4/4", method="mse", rounding="double")
    lines = [f"float: {float_acc:.2f} %; int8 exact datapath: {a8:.2f} %"]
    if xb_rows:
        cfg, _, s = _acc(xb_rows, adc_bits=8, full_scale="config", program_sigma=0.0,
                         read_sigma=0.0)
        cal, _, _ = _acc(xb_rows, adc_bits=8, full_scale="calibrated", program_sigma=0.0,
                         read_sigma=0.0)
        auto, _, _ = _acc(xb_rows, adc_bits=8, full_scale="auto", program_sigma=0.0,
                          read_sigma=0.0)
        eff = " / ".join(f"{float(v):.2f}" for v in s[0]["effective_bits_dot"].split(";")) \
            if s else "?"
        lines.append(f"Q1 8-bit quantization on 256-level cells with an 8-bit ADC (sidra_y1): "
                     f"{cfg:.2f} % with the configured full scale 2^19, {cal:.2f} % calibrated "
                     f"from column peaks, {auto:.2f} % with the worst-case (auto) full scale "
                     f"2^22; the ADC keeps {eff} effective bits of the dot products (layer 0 / 1) out of the 22 a lossless conversion needs")
        for p in (0.005, 0.01, 0.02):
            m, sd, s = _acc(xb_rows, adc_bits=8, full_scale="config", program_sigma=p,
                            read_sigma=0.0)
            if s:
                e = np.mean([[float(v) for v in r["effective_bits_dot"].split(";")]
                             for r in s], axis=0)
                lines.append(f"Q2 programming noise sigma={p:g} of the conductance range "
                             f"(SIDRA: 0.01 ≈ 1 uS ≈ 2.6 levels), 8-bit ADC: {m:.2f} ± {sd:.2f} %"
                             f" over {len(s)} seeds, effective bits "
                             f"{' / '.join(f'{v:.2f}' for v in e)} (layer 0 / 1)")
    lines.append(f"Q3 4-bit instead of 8-bit operands (exact datapath): {a4:.2f} % "
                 f"(min-max calibration; {a4b:.2f} % with MSE), i.e. {a8 - a4:.2f} points "
                 f"below int8")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="out/digits", help="output directory")
    ap.add_argument("--no-hw", action="store_true", help="skip the hardware check")
    ap.add_argument("--smoke", action="store_true", help="few points, no hardware (tests)")
    ap.add_argument("--docs", action="store_true", help="copy the plots to docs/img/")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net, (xtr, _), (xte, yte) = train_mlp(iters=60 if args.smoke else 300)
    save_float_network(net, out / "mlp.npz")
    np.savez(out / "digits.npz", x=xte, y=yte, x_calib=xtr)
    hw = not (args.no_hw or args.smoke)
    int8 = load_config(ROOT / "constraints" / "int8.yaml")
    sidra = load_config(ROOT / "constraints" / "sidra_y1.yaml")
    common = dict(model_path=out / "mlp.npz", data_path=out / "digits.npz", progress=True)
    if args.smoke:
        mac = dict(bits=[8, 4], methods=["minmax", "kl"], layer_bits=[(8, 4)])
        xb = dict(bits=[8], adc_bits=[4, 8, "lossless"], full_scales=["config", "calibrated"],
                  program=[0.0, 0.01], seeds=2)
    else:
        mac = dict(bits=list(range(2, 9)), methods=["minmax", "percentile", "mse", "kl"],
                   layer_bits=[(8, 4), (4, 8)])
        xb = dict(bits=[8], adc_bits=[3, 4, 5, 6, 7, 8, 10, 12, "lossless"],
                  full_scales=["config", "calibrated", "auto"],
                  program=[0.0, 0.005, 0.01, 0.02], read=[0.0, 0.01], seeds=3)
    rc = run_sweep(int8, outdir=out / "int8", hw_check=hw, **mac, **common)
    if not args.smoke:
        rc |= run_sweep(int8, outdir=out / "rounding", bits=[8, 4], roundings=["double", "single",
                        "ruy"], plots=False, **common)
    rc |= run_sweep(sidra, outdir=out / "sidra_y1", hw_check=hw, **xb, **common)
    import json
    float_acc = 100 * json.loads((out / "int8" / "sweep.json").read_text())["meta"][
        "float_accuracy"]
    print("\nSIDRA questions, answered on digits (597 held-out images):")
    for line in answers(_rows(out / "int8" / "sweep.json"), _rows(out / "sidra_y1" /
                                                                  "sweep.json"), float_acc):
        print("  " + line)
    if args.docs:
        img = ROOT / "docs" / "img"
        img.mkdir(parents=True, exist_ok=True)
        for sub in ("int8", "sidra_y1"):
            for png in sorted((out / sub).glob("*.png")):
                shutil.copy(png, img / f"digits_{sub}_{png.name}")
    print(f"examples/digits_sweep.py: {'PASS' if rc == 0 else 'FAIL'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
