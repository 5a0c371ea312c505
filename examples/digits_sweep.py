#!/usr/bin/env python3
"""From a float network to hardware choices, on scikit-learn's digits (no download).

One command (from the repository root, after ``bash scripts/dev.sh setup``)::

    .venv/bin/python examples/digits_sweep.py            # a few minutes on 2 cores
    .venv/bin/python examples/digits_sweep.py --no-hw    # golden only, < 1 min
    .venv/bin/python examples/digits_sweep.py --smoke    # the test suite's quick version

1. trains a 64→32→10 ReLU MLP on 1200 of the 1797 8×8 digits (scikit-learn
   ``MLPClassifier``, fixed seed) and a small CNN (conv 3×3×8 → conv 3×3×8 stride 2 →
   dense 10, NumPy Adam) and writes them in qmac's float-network format
   (``out/digits/{mlp,cnn}.npz``) with the 597 held-out digits (``*_digits.npz``,
   calibration data = the training split);
2. ``qmac sweep`` on the exact int8 MAC datapath: operand bits 8, 6, 4, 3, 2 × the four
   calibration methods, per-layer bits (8/4, 4/8), the three rounding modes;
3. ``qmac sweep`` on the SIDRA Y1-like crossbar (``constraints/sidra_y1.yaml``: 256-level
   cells, 8-bit DAC, 8-bit ADC): ADC bits 3..12 and lossless × full scale (configured,
   calibrated from the column peaks of the data, auto) and, at a few ADC widths and the
   configured full scale, programming / read noise over three seeds;
4. checks hardware == golden on every output of every layer at two points per network
   (int8 at 8 bits, sidra_y1 as configured; 32 images, convolutions as im2col rows)
   through ``qmac verify`` — under Icarus by default (no C++ build: the generated Verilog
   compiles in seconds), ``--sim verilator`` or ``--sim all`` for Verilator too (two
   builds, cached in ``out/build``);
5. prints the accuracy tables and answers the SIDRA questions with numbers; plots go to
   ``out/digits/`` (``--docs`` also copies them to ``docs/img/`` for the README).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
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


def train_mlp(seed=0, *, iters=300, hidden=(32,)):
    """The data split and a trained 64→hidden…→10 ReLU MLP (default 64→32→10) as a
    :class:`FloatNetwork`."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    d = load_digits()
    x, y = d.data / 16.0, d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(x))
    tr, te = idx[:1200], idx[1200:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), max_iter=iters,
                            random_state=seed)
        clf.fit(x[tr], y[tr])
    acts = ("relu",) * len(hidden) + ("none",)
    net = FloatNetwork(tuple(FloatLayer("dense", w.T.copy(), b.copy(), a)
                             for w, b, a in zip(clf.coefs_, clf.intercepts_, acts)), (64,))
    return net, (x[tr], y[tr]), (x[te], y[te])


def train_cnn(seed=0, *, epochs=30):
    """A small CNN trained with NumPy (Adam, softmax cross-entropy): 8×8×1 → conv 3×3×8
    (VALID, ReLU) → conv 3×3×8 stride 2 (SAME, ReLU) → dense 10."""
    from sklearn.datasets import load_digits

    from golden.network import im2col

    d = load_digits()
    x, y = (d.data / 16.0).reshape(-1, 8, 8, 1), d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(x))
    tr, te = idx[:1200], idx[1200:]
    rng = np.random.default_rng(seed)
    shapes = [(8, 3, 3, 1), (8,), (8, 3, 3, 8), (8,), (10, 72), (10,)]
    p = [rng.normal(0, np.sqrt(2 / np.prod(s[1:])), s) if len(s) > 1 else np.zeros(s)
         for s in shapes]
    m = [np.zeros_like(v) for v in p]
    v2 = [np.zeros_like(v) for v in p]

    def forward(xb):
        c1, s1 = im2col(xb, (3, 3), (1, 1), "valid", 0.0)
        h1 = np.maximum(c1 @ p[0].reshape(8, -1).T + p[1], 0).reshape(s1 + (8,))
        c2, s2 = im2col(h1, (3, 3), (2, 2), "same", 0.0)
        h2 = np.maximum(c2 @ p[2].reshape(8, -1).T + p[3], 0)
        f = h2.reshape(len(xb), -1)
        return (c1, h1, s1, c2, h2, f), f @ p[4].T + p[5]

    for step in range(epochs * (len(tr) // 50)):
        b = rng.choice(tr, 50, replace=False)
        (c1, h1, s1, c2, h2, f), z = forward(x[b])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        g = e / e.sum(axis=1, keepdims=True)
        g[np.arange(len(b)), y[b]] -= 1
        g /= len(b)
        dh2 = (g @ p[4]).reshape(h2.shape) * (h2 > 0)
        dc2 = dh2 @ p[2].reshape(8, -1)                     # back through im2col (SAME s2)
        dh1 = _col2im(dc2, h1.shape, (3, 3), (2, 2), "same") * (h1 > 0)
        dh1 = dh1.reshape(-1, 8)
        grads = [dh1.T @ c1, dh1.sum(0), dh2.T @ c2, dh2.sum(0), g.T @ f, g.sum(0)]
        for i, gr in enumerate(grads):
            gr = gr.reshape(p[i].shape)
            m[i] = 0.9 * m[i] + 0.1 * gr
            v2[i] = 0.999 * v2[i] + 0.001 * gr * gr
            t = step + 1
            p[i] -= 0.01 * (m[i] / (1 - 0.9**t)) / (np.sqrt(v2[i] / (1 - 0.999**t)) + 1e-8)
    net = FloatNetwork((
        FloatLayer("conv2d", p[0], p[1], "relu", (1, 1), "valid"),
        FloatLayer("conv2d", p[2], p[3], "relu", (2, 2), "same"),
        FloatLayer("dense", p[4], p[5], "none"),
    ), (8, 8, 1))
    return net, (x[tr], y[tr]), (x[te], y[te])


def _col2im(dcols, shape, kernel, stride, padding):
    """Adjoint of golden.network.im2col (sum of the patch gradients into the input)."""
    from golden.network import im2col

    b, h, w, c = shape
    n = b * h * w * c
    ids = np.arange(n, dtype=np.float64).reshape(shape)
    cols, _ = im2col(ids, kernel, stride, padding, -1.0)
    flat = cols.reshape(-1).astype(np.int64)
    keep = flat >= 0
    out = np.zeros(n)
    np.add.at(out, flat[keep], dcols.reshape(-1)[keep])
    return out.reshape(shape)


def _rows(path):
    return json.loads(Path(path).read_text())["points"]


def _acc(rows, **match):
    sel = [r for r in rows if all(str(r.get(k)) == str(v) for k, v in match.items())]
    if not sel:
        return float("nan"), float("nan"), []
    a = np.array([r["accuracy"] for r in sel]) * 100
    return float(a.mean()), float(a.std()), sel


def answers(mac_rows, xb_rows, float_acc):
    """The SIDRA questions, answered from the sweep results."""
    n = len(mac_rows[0]["bits"].split("/"))
    b8, b4 = "/".join(["8"] * n), "/".join(["4"] * n)
    layers = " / ".join(map(str, range(n)))
    a8, _, _ = _acc(mac_rows, engine="mac", bits=b8, method="minmax", rounding="double")
    a4, _, _ = _acc(mac_rows, engine="mac", bits=b4, method="minmax", rounding="double")
    a4b, _, _ = _acc(mac_rows, engine="mac", bits=b4, method="mse", rounding="double")
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
                     f"from column peaks"
                     + ("" if np.isnan(auto) else
                        f", {auto:.2f} % with the worst-case (auto) full scale 2^22") +
                     f"; the ADC keeps {eff} effective bits of the dot products (layer "
                     f"{layers}) out of the 22 a lossless conversion needs")
        for p in (0.005, 0.01, 0.02):
            m, sd, s = _acc(xb_rows, adc_bits=8, full_scale="config", program_sigma=p,
                            read_sigma=0.0)
            if s:
                e = np.mean([[float(v) for v in r["effective_bits_dot"].split(";")]
                             for r in s], axis=0)
                lines.append(f"Q2 programming noise sigma={p:g} of the conductance range "
                             f"(SIDRA: 0.01 ≈ 1 uS ≈ 2.6 levels), 8-bit ADC: "
                             f"{m:.2f} ± {sd:.2f} % over {len(s)} seeds, effective bits "
                             f"{' / '.join(f'{v:.2f}' for v in e)} (layer {layers})")
    lines.append(f"Q3 4-bit instead of 8-bit operands (exact datapath): {a4:.2f} % "
                 f"(min-max calibration; {a4b:.2f} % with MSE), i.e. {a8 - a4:.2f} points "
                 f"below int8")
    return lines


#: the plots the README shows (``--docs`` copies them to docs/img/)
README_PLOTS = (("mlp", "int8", "accuracy_vs_bits.png"), ("mlp", "int8", "sqnr_vs_bits.png"),
                ("mlp", "sidra_y1", "accuracy_vs_adc_bits.png"),
                ("mlp", "sidra_y1", "effective_bits_vs_adc_bits.png"),
                ("cnn", "int8", "accuracy_vs_bits.png"),
                ("cnn", "sidra_y1", "accuracy_vs_adc_bits.png"))


def _plans(smoke):
    if smoke:
        mac = dict(bits=[8, 4], methods=["minmax", "kl"], layer_bits=[(8, 4)])
        xb = dict(bits=[8], adc_bits=[4, 8, "lossless"], full_scales=["config", "calibrated"],
                  program=[0.0, 0.01], seeds=2)
        return {"mlp": (mac, xb)}
    mac = dict(bits=[8, 6, 4, 3, 2], methods=["minmax", "percentile", "mse", "kl"],
               layer_bits=[(8, 4), (4, 8)])
    xb = dict(bits=[8], adc_bits=[8, 3, 4, 5, 6, 7, 10, 12, "lossless"],  # 8 first: hw point
              full_scales=["config", "calibrated", "auto"],
              program=[0.0, 0.005, 0.01, 0.02], seeds=3, noise_adc_bits=[4, 6, 8, 10])
    cnn_mac = dict(bits=[8, 6, 4, 3, 2], methods=["minmax", "mse"],
                   layer_bits=[(8, 8, 4), (4, 8, 8)])
    cnn_xb = dict(bits=[8], adc_bits=[8, 4, 6, "lossless"], full_scales=["config", "calibrated"],
                  program=[0.0, 0.01], seeds=3, noise_adc_bits=[4, 6, 8])
    return {"mlp": (mac, xb), "cnn": (cnn_mac, cnn_xb)}


def _run_net(name, out, mac, xb, *, hw, smoke, sims=("icarus",)):
    int8 = load_config(ROOT / "constraints" / "int8.yaml")
    sidra = load_config(ROOT / "constraints" / "sidra_y1.yaml")
    train = train_mlp if name == "mlp" else train_cnn
    net, (xtr, _), (xte, yte) = train(**({"iters": 60} if smoke else {}))
    save_float_network(net, out / f"{name}.npz")
    np.savez(out / f"{name}_digits.npz", x=xte, y=yte, x_calib=xtr)
    common = dict(model_path=out / f"{name}.npz", data_path=out / f"{name}_digits.npz")
    print(f"\n=== {name}: exact int8 MAC datapath ===")
    rc = run_sweep(int8, outdir=out / name / "int8", hw_check=hw, sims=sims, **mac, **common)
    if name == "mlp" and not smoke:
        print(f"\n=== {name}: rounding modes ===")
        rc |= run_sweep(int8, outdir=out / name / "rounding", bits=[8, 4],
                        roundings=["double", "single", "ruy"], plots=False, **common)
    print(f"\n=== {name}: sidra_y1 crossbar ===")
    rc |= run_sweep(sidra, outdir=out / name / "sidra_y1", hw_check=hw, sims=sims, **xb,
                    **common)
    if name == "mlp" and not smoke:
        print(f"\n=== {name}: sidra_y1, read noise and ADC offset at the configured ADC ===")
        rc |= run_sweep(sidra, outdir=out / name / "sidra_y1_read", bits=[8],
                        read=[0.0, 0.005, 0.01, 0.02], offset=[0.0, 0.5], seeds=3,
                        plots=False, **common)
    return rc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="out/digits", help="output directory")
    ap.add_argument("--no-hw", action="store_true", help="skip the hardware check")
    ap.add_argument("--smoke", action="store_true", help="MLP only, few points, no hardware")
    ap.add_argument("--docs", action="store_true", help="copy the plots to docs/img/")
    ap.add_argument("--sim", default="icarus", choices=("icarus", "verilator", "all"),
                    help="simulator(s) of the hardware check (default icarus: no C++ build)")
    args = ap.parse_args(argv)
    sims = ("icarus", "verilator") if args.sim == "all" else (args.sim,)
    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    hw = not (args.no_hw or args.smoke)
    rc = 0
    for name, (mac, xb) in _plans(args.smoke).items():
        rc |= _run_net(name, out, mac, xb, hw=hw, smoke=args.smoke, sims=sims)
    for name in _plans(args.smoke):
        j = out / name / "int8" / "sweep.json"
        float_acc = 100 * json.loads(j.read_text())["meta"]["float_accuracy"]
        print(f"\nSIDRA questions, answered on digits ({name}, 597 held-out images):")
        for line in answers(_rows(j), _rows(out / name / "sidra_y1" / "sweep.json"), float_acc):
            print("  " + line)
    if args.docs:
        img = ROOT / "docs" / "img"
        img.mkdir(parents=True, exist_ok=True)
        for net, sub, name in README_PLOTS:
            shutil.copy(out / net / sub / name, img / f"digits_{net}_{sub}_{name}")
    print(f"examples/digits_sweep.py: {'PASS' if rc == 0 else 'FAIL'} (wall "
          f"{time.perf_counter() - t_start:.0f} s, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
