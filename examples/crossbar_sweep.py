#!/usr/bin/env python3
"""Output SQNR of a crossbar tile against ADC resolution and against noise level.

One command (from the repository root)::

    python examples/crossbar_sweep.py                    # sidra_y1 tile → out/crossbar_sweep.png

writes a two-panel PNG and prints both tables. Options: ``--config`` (any crossbar YAML,
default ``constraints/sidra_y1.yaml``), ``-o`` (PNG path), ``--vectors`` (batch size),
``--k`` (layer depth, default 4·rows), ``--seed``.

What is measured (all through ``golden/crossbar.py``, which the RTL matches bit for bit):

* a random fully-connected layer: inputs uniform over the A-bit input range, weights
  Gaussian (σ = 30·2^(W−8) LSB, clipped to the W-bit weight range: 30 LSB at int8) — sums
  much smaller than the worst case, like real layers (mixed widths: A = input_bits,
  W = weight_bits of the configuration);
  K = 4·R, so every output accumulates four crossbar tiles;
* **accumulator SQNR**: the crossbar's dot products (the sum of its partial sums) against
  the exact integer dot products, ``10·log10(Σ exact² / Σ error²)``;
* **output SQNR**: the requantized outputs (per-channel multipliers mapping each channel's
  exact range onto int8, zero point 0) against the MAC path's outputs for the same layer;
* effective bits ``(SQNR − 1.76) / 6.02``.

Left panel: ADC bits from the smallest that can represent one cell step up to the lossless
resolution, with the ``auto`` full scale (``2^L``, never clips), with the configuration's
calibrated full scale, and with a per-column full scale fitted to this layer (the smallest
power of two above each physical column's largest ideal sum — a CrossSim-style calibrated
range, and a per-column ``adc_full_scale`` list in YAML). Right panel: programming noise and read
noise (σ as a fraction of the cell's conductance range; SIDRA: 0.01 ≈ 1 µS ≈ 2.6 levels),
each alone, at the configuration's ADC and at a lossless ADC (noise only).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden import crossbar as xb                           # noqa: E402
from golden.datapath import datapath_model, mac             # noqa: E402
from golden.multiplier import quantize_multiplier           # noqa: E402
from sim.config import load_config                          # noqa: E402

NOISE_LEVELS = (0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


def make_layer(cfg, *, vectors, k, seed):
    rng = np.random.default_rng(seed)
    widths = dict(input_bits=cfg.input_bits, weight_bits=cfg.weight_bits)
    lo, hi = cfg.x_range
    x = rng.integers(lo, hi + 1, (vectors, k))
    wlo, whi = cfg.w_range
    w = np.clip(np.rint(rng.normal(0, 30 * 2 ** (cfg.weight_bits - 8), (cfg.cols, k))), wlo,
                whi)
    w = w.astype(np.int64)
    exact = mac(x, w, **widths, input_signed=cfg.input_signed, weight_signed=cfg.weight_signed)
    olo, ohi = cfg.out_range
    scale = max(abs(olo), ohi) / np.maximum(np.abs(exact).max(axis=0), 1)
    m0, shift = quantize_multiplier(scale)
    rq = dict(m0=np.asarray(m0), shift=np.asarray(shift), y_zp=0, act_min=olo, act_max=ohi,
              rounding=cfg.rounding)
    y_ref, _ = datapath_model(x, w, None, **widths, input_signed=cfg.input_signed,
                              weight_signed=cfg.weight_signed, rows=cfg.rows,
                              acc_bits=cfg.acc_bits, overflow=cfg.overflow, **rq)
    return x, w, exact, y_ref, rq


def measure(cfg, spec, noise, layer):
    x, w, exact, y_ref, rq = layer
    y, _, psums = xb.crossbar_datapath_model(x, w, None, spec=spec, noise=noise,
                                             acc_bits=cfg.acc_bits, overflow=cfg.overflow, **rq)
    acc = xb.error_report(exact, psums.sum(axis=0))
    out = xb.error_report(y_ref, y)
    return acc, out


def valid_shift(spec_kw, k):
    """An ADC whose LSB 2^k can still represent one cell step (docs/crossbar.md §1)."""
    cell_max = ((1 << spec_kw["dac_bits"]) - 1) * ((1 << spec_kw["cell_bits"]) - 1)
    return (1 << k) <= 2 * cell_max and (1 << (spec_kw["adc_bits"] + k)) > cell_max


def column_peaks(cfg, layer):
    """Largest ideal column sum of each physical column over the layer (for calibration)."""
    x, w = layer[0], layer[1]
    spec = cfg.crossbar
    k = x.shape[1]
    chunks = -(-k // spec.rows)
    pad = chunks * spec.rows - k
    xt = np.pad(x, ((0, 0), (0, pad))).reshape(len(x), chunks, spec.rows)
    wt = np.pad(w, ((0, 0), (0, pad))).reshape(spec.cols, chunks, spec.rows).transpose(1, 2, 0)
    peak = np.zeros(spec.phys_cols, dtype=np.int64)
    for i in range(chunks):
        y = xb.column_sums(xb.input_phases(xt[:, i], spec), xb.encode_weights(wt[i], spec))
        peak = np.maximum(peak, y.reshape(-1, spec.phys_cols).max(axis=0))
    return peak


CURVES = ("auto", "calibrated", "per-column")
LABELS = {"auto": "auto full scale 2^L",
          "calibrated": "configured full scale",
          "per-column": "full scale per column, fitted to this layer"}


def sweep_adc(cfg, layer):
    base = cfg.crossbar.tile_parameters()
    lossless = cfg.crossbar.lossless_adc_bits
    fs_cal = None if cfg.crossbar.adc_full_scale_auto else max(cfg.crossbar.adc_full_scale)
    peaks = column_peaks(cfg, layer)
    rows = []
    for bits in range(1, lossless + 1):
        kw = {**base, "adc_bits": bits}
        cal = None if fs_cal is None else max(0, fs_cal.bit_length() - 1 - bits)
        # smallest power-of-two full scale above each column's peak: no clipping on this layer
        fitted = [max(0, int(p).bit_length() - bits) for p in peaks]
        entry = {"adc_bits": bits}
        for label, k in (("auto", max(0, lossless - bits)), ("calibrated", cal),
                         ("per-column", fitted)):
            ks = k if isinstance(k, list) else [k]
            if k is None or not all(valid_shift(kw, kk) for kk in ks):
                entry[label] = None
                continue
            spec = xb.crossbar_tile(**{**kw, "adc_shift": k})
            entry[label] = measure(cfg, spec, None, layer)
        if any(entry[c] is not None for c in CURVES):
            rows.append(entry)
    return rows


NOISE_CURVES = ("program", "read", "program, lossless ADC", "read, lossless ADC")


def sweep_noise(cfg, layer, seed):
    spec = cfg.crossbar
    ideal_adc = xb.retile(spec, adc_bits=spec.lossless_adc_bits, adc_shift=0)
    rows = []
    for sigma in NOISE_LEVELS:
        entry = {"sigma": sigma}
        for label in NOISE_CURVES:
            kind = "program_sigma" if label.startswith("program") else "read_sigma"
            noise = xb.CrossbarNoise(**{kind: sigma}, seed=seed)
            entry[label] = measure(cfg, ideal_adc if "lossless" in label else spec, noise,
                                   layer)
        rows.append(entry)
    return rows


def fmt(v):
    return "   exact" if v == float("inf") else f"{v:8.2f}"


def print_tables(cfg, adc_rows, noise_rows):
    xbc = cfg.crossbar
    print(f"{cfg.name}: R={cfg.rows} C={cfg.cols} {cfg.widths_label}, {xbc.cell_bits}-bit cells "
          f"({xbc.weight_encoding}), {xbc.dac_bits}-bit DAC ({xbc.input_encoding}), "
          f"lossless ADC = {xbc.lossless_adc_bits} bits, configured ADC = {xbc.adc_bits} bits "
          f"({'lossless' if xbc.lossless else 'lossy'})")
    print("\nSQNR vs ADC bits (dB; accumulator = dot products, output = requantized int)")
    for c in CURVES:
        print(f"  {c}: {LABELS[c]}")
    print(" ADC bits |" + " |".join(f" {c + ':':11s} acc      out     ENOB" for c in CURVES))
    for r in adc_rows:
        cells = []
        for label in CURVES:
            v = r.get(label)
            if v is None:
                cells.append("        -        -        -")
            else:
                acc, out = v
                cells.append(f"{fmt(acc['sqnr_db'])} {fmt(out['sqnr_db'])} "
                             f"{fmt(acc['effective_bits'])}")
        print(f" {r['adc_bits']:8d} |" + " |".join(f"{'':4s}{c}" for c in cells))
    print(f"\nSQNR vs noise sigma (fraction of the cell range); ADC {xbc.adc_bits} bits "
          f"unless marked lossless ({xbc.lossless_adc_bits} bits)")
    print("    sigma |" + " |".join(f" {c + ':':22s} acc      out     ENOB" for c in NOISE_CURVES))
    for r in noise_rows:
        cells = []
        for label in NOISE_CURVES:
            acc, out = r[label]
            cells.append(f"{fmt(acc['sqnr_db'])} {fmt(out['sqnr_db'])} "
                         f"{fmt(acc['effective_bits'])}")
        print(f" {r['sigma']:8.4f} |" + " |".join(f"{'':15s}{c}" for c in cells))


def plot(cfg, adc_rows, noise_rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def finite(v, cap):
        return cap if v == float("inf") else v

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    cap = 0.0
    for r in adc_rows:
        for label in CURVES:
            if r.get(label) is not None:
                for part in r[label]:
                    if part["sqnr_db"] != float("inf"):
                        cap = max(cap, part["sqnr_db"])
    cap += 10
    for label, style in (("auto", "-o"), ("calibrated", "-s"), ("per-column", "-^")):
        pts = [(r["adc_bits"], r[label]) for r in adc_rows if r.get(label) is not None]
        if not pts:
            continue
        b = [p[0] for p in pts]
        ax1.plot(b, [finite(p[1][0]["sqnr_db"], cap) for p in pts], style,
                 label=f"accumulator, {LABELS[label]}")
        ax1.plot(b, [finite(p[1][1]["sqnr_db"], cap) for p in pts], style, alpha=0.4,
                 label=f"int{cfg.out_bits} output, {LABELS[label]}")
    ax1.axvline(cfg.crossbar.adc_bits, color="grey", ls=":", label="configured ADC")
    ax1.axhline(cap, color="grey", lw=0.5)
    ax1.text(ax1.get_xlim()[0], cap, " exact (lossless)", va="bottom", fontsize=8)
    ax1.set_xlabel("ADC bits")
    ax1.set_ylabel("SQNR vs exact integer result (dB)")
    ax1.set_title(f"{cfg.name}: SQNR vs ADC resolution (ideal cells)")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7, loc="lower right")

    sig = [r["sigma"] for r in noise_rows]
    xs = [s if s > 0 else NOISE_LEVELS[1] / 2 for s in sig]
    for label, style in zip(NOISE_CURVES, ("-o", "-s", "--o", "--s")):
        ax2.plot(xs, [finite(r[label][0]["sqnr_db"], cap) for r in noise_rows], style,
                 label=f"accumulator, {label} noise")
        ax2.plot(xs, [finite(r[label][1]["sqnr_db"], cap) for r in noise_rows], style,
                 alpha=0.4, label=f"int{cfg.out_bits} output, {label} noise")
    ax2.set_xscale("log")
    ax2.set_xlabel("noise σ (fraction of the cell conductance range; leftmost point: none)")
    ax2.set_ylabel("SQNR (dB)")
    ax2.set_title(f"{cfg.name}: SQNR vs noise ({cfg.crossbar.adc_bits}-bit and lossless ADC)")
    ax2.grid(alpha=0.3, which="both")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "constraints" / "sidra_y1.yaml"))
    p.add_argument("-o", "--out", default="out/crossbar_sweep.png")
    p.add_argument("--vectors", type=int, default=256)
    p.add_argument("--k", type=int, default=None, help="layer depth K (default 4·rows)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    if cfg.crossbar is None:
        p.error(f"{args.config} has no crossbar: section")
    k = args.k or 4 * cfg.rows
    if -(-k // cfg.rows) > cfg.weight_tiles:
        p.error(f"--k={k} needs more than the {cfg.weight_tiles} weight tiles")
    layer = make_layer(cfg, vectors=args.vectors, k=k, seed=args.seed)
    adc_rows = sweep_adc(cfg, layer)
    noise_rows = sweep_noise(cfg, layer, args.seed)
    print_tables(cfg, adc_rows, noise_rows)
    out = Path(args.out)
    plot(cfg, adc_rows, noise_rows, out)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
