"""Plots of ``qmac sweep`` results (matplotlib, Agg backend): one PNG per question."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["write_plots", "RULE_DB"]


def RULE_DB(b):  # noqa: N802 - the textbook rule, named as written
    """Ideal SQNR of a full-scale sine through a b-bit uniform quantizer: 6.02·b + 1.76 dB."""
    return 6.02 * np.asarray(b, dtype=np.float64) + 1.76


def _floats(text):
    return [float(v) for v in str(text).split(";") if v != ""]


def _uniform(r):
    b = [int(v) for v in r["bits"].split("/")]
    return b[0] if len(set(b)) == 1 else None


def _acc_vs_bits(ax, rows, float_acc):
    series = {}
    for r in rows:
        if r["engine"] == "mac" and _uniform(r) is not None:
            series.setdefault(f"{r['method']}, {r['rounding']}", []).append(
                (_uniform(r), 100 * r["accuracy"]))
    for name, pts in sorted(series.items()):
        pts.sort()
        ax.plot(*zip(*pts), marker="o", label=name)
    ax.axhline(100 * float_acc, color="k", ls="--", lw=1, label="float")
    ax.set(xlabel="operand bits (all layers)", ylabel="top-1 accuracy (%)",
           title="Accuracy vs operand bits (exact MAC datapath)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def _acc_vs_adc(ax, rows, float_acc):
    groups = {}
    for r in rows:
        if r["engine"] != "crossbar":
            continue
        noise = f"p={r['program_sigma']:g} r={r['read_sigma']:g} o={r['adc_offset_sigma']:g}"
        key = (f"fs={r['full_scale']}, {noise}", int(r["adc_bits"]))
        groups.setdefault(key, []).append(100 * r["accuracy"])
    series = {}
    for (name, adc), accs in groups.items():
        series.setdefault(name, []).append((adc, np.mean(accs), np.std(accs)))
    for name, pts in sorted(series.items()):
        pts.sort()
        a, m, s = zip(*pts)
        ax.errorbar(a, m, yerr=s, marker="o", capsize=3, label=name)
    ax.axhline(100 * float_acc, color="k", ls="--", lw=1, label="float")
    ax.set(xlabel="ADC bits", ylabel="top-1 accuracy (%)",
           title="Crossbar: accuracy vs ADC bits (error bars: std over noise seeds)")
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)


def _sqnr_vs_bits(ax, rows):
    first = next((r for r in rows if r["engine"] == "mac"), None)
    if first is None:
        return
    pts = sorted((_uniform(r), _floats(r["sqnr_float_db"])) for r in rows
                 if r["engine"] == "mac" and _uniform(r) is not None
                 and r["method"] == first["method"] and r["rounding"] == first["rounding"])
    if not pts:
        return
    b = np.array([p[0] for p in pts])
    per_layer = np.array([p[1] for p in pts])
    for i in range(per_layer.shape[1]):
        ax.plot(b, per_layer[:, i], marker="o", label=f"layer {i} output vs float")
    ax.plot(b, RULE_DB(b), "k--", label="6.02·b + 1.76 dB")
    ax.set(xlabel="operand bits", ylabel="SQNR (dB)",
           title=f"Per-layer SQNR vs the 6.02·b+1.76 rule ({first['method']})")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def _eff_bits_vs_adc(ax, rows):
    groups = {}
    for r in rows:
        if r["engine"] == "crossbar" and "effective_bits_dot" in r:
            noise = f"p={r['program_sigma']:g} r={r['read_sigma']:g} o={r['adc_offset_sigma']:g}"
            for i, e in enumerate(_floats(r["effective_bits_dot"])):
                key = (f"layer {i}, fs={r['full_scale']}, {noise}", int(r["adc_bits"]))
                groups.setdefault(key, []).append(min(e, 40.0))
    series = {}
    for (name, adc), v in groups.items():
        series.setdefault(name, []).append((adc, np.mean(v)))
    for name, pts in sorted(series.items()):
        pts.sort()
        ax.plot(*zip(*pts), marker=".", label=name)
    ax.set(xlabel="ADC bits", ylabel="effective bits of the dot products",
           title="Crossbar: effective bits (SQNR vs exact) per layer")
    ax.legend(fontsize=5)
    ax.grid(alpha=0.3)


def write_plots(outdir, rows, float_acc):
    """Write the PNGs into ``outdir``; return their file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    made = []
    xb = any(r["engine"] == "crossbar" for r in rows)
    jobs = [("accuracy_vs_bits.png", lambda ax: _acc_vs_bits(ax, rows, float_acc)),
            ("sqnr_vs_bits.png", lambda ax: _sqnr_vs_bits(ax, rows))]
    if xb:
        jobs += [("accuracy_vs_adc_bits.png", lambda ax: _acc_vs_adc(ax, rows, float_acc)),
                 ("effective_bits_vs_adc_bits.png", lambda ax: _eff_bits_vs_adc(ax, rows))]
    for name, draw in jobs:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        draw(ax)
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=100, metadata={"Software": None})
        plt.close(fig)
        made.append(name)
    return made
