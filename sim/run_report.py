"""Output of ``qmac run``: the per-layer table, the summary lines, ``report.json`` and
``layers.npz`` (sim/run.py computes, this file formats and writes)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

__all__ = ["format_table", "build_report", "crossbar_summary", "extra_summary", "fmt_int",
           "write_outputs"]


def fmt_int(v):
    if v is None:
        return "-"
    for unit, d in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= d:
            return f"{v / d:.1f}{unit}"
    return str(v)


def format_table(rows: list, crossbar: bool = False) -> str:
    head = ["#", "op", "shapes", "MACs", "hw cycles", "outputs", "hw!=golden",
            "golden!=TFLite", "max|d|", "note"]
    body = [[str(r.index), r.op, r.shapes, fmt_int(r.macs) if r.macs else "-",
             fmt_int(r.cycles) if r.hw_diff is not None else "-", fmt_int(r.outputs),
             "-" if r.hw_diff is None else str(r.hw_diff),
             "-" if r.tfl_diff is None else str(r.tfl_diff),
             f"{r.max_delta:g}" if r.tfl_diff else "-", r.note] for r in rows]
    if crossbar:   # golden = golden.crossbar's tile model; its error vs the exact datapath
        head[6:6] = ["xbar!=exact", "SQNR dB"]
        for r, b in zip(rows, body):
            b[6:6] = ["-" if r.xb_diff is None else str(r.xb_diff),
                      "-" if r.xb_diff is None else
                      ("inf" if r.sqnr_db is None else f"{r.sqnr_db:.1f}")]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    right = set(range(len(head) - 1)) - {1, 2}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def _top1(vals, g, labels):
    if labels is None:
        return None
    out = g.outputs[0]
    pred = np.array([int(np.argmax(v[out].reshape(-1))) for v in vals])
    return float(np.mean(pred == labels)), pred


def extra_summary(report, labels, tpreds, tpath, speed, hw_macs) -> None:
    if tpreds is not None and labels is not None:
        report["top1_tflite"] = float(np.mean(tpreds == labels))
        report["summary"].insert(len(report["summary"]) - 1,
                                 f"  top-1 accuracy of the TFLite interpreter ({tpath}): "
                                 f"{report['top1_tflite']:.3f}")
    if speed is not None:
        report["native"] = speed
        report["summary"].insert(1, _speed_line(speed, hw_macs))
        report["summary"].insert(2, _end_to_end_line(speed, hw_macs))


def _speed_line(speed, hw_macs) -> str:
    """What the hardware step and the native replay ran (the direct driver: one serving
    simulator process; the cocotb driver: the fast path under cocotb)."""
    nat = speed["native_cycles"] / max(speed["native_seconds"], 1e-9)
    native = (f"native replay of the same command stream ({speed['native_pieces']} chunks, "
              f"one process, no Python; best of {speed.get('native_runs', 1)} runs): "
              f"{fmt_int(speed['native_cycles'])} cycles, {fmt_int(int(nat))} cycles/s")
    if speed.get("driver") == "direct":
        return (f"  speed (verilator, direct driver): hardware step = schedule + simulate + "
                f"check every output lane, overlapped, {speed['step_chunks']} chunks on one "
                f"simulator process: {fmt_int(speed['fast_cycles'])} cycles, CPU "
                f"{speed['step_cpu_seconds']:.2f} s (simulator "
                f"{speed['step_sim_cpu_seconds']:.2f} s + Python "
                f"{speed['step_python_cpu_seconds']:.2f} s); " + native)
    fast = speed["fast_cycles"] / max(speed["fast_seconds"], 1e-9)
    return (f"  speed (verilator, cocotb driver): fast path {fmt_int(int(fast))} cycles/s = "
            f"{fmt_int(int(hw_macs / max(speed['fast_seconds'], 1e-9)))} checked MAC/s; "
            f"{native}; fast/native {100 * speed['ratio']:.0f}%")


def _end_to_end_line(speed, hw_macs) -> str:
    """Whole hardware step vs native, as MAC/s, in wall and in CPU time (the CPU ratio
    does not depend on how busy the machine is; the load average is printed with it)."""
    def rate(sec):
        return fmt_int(int(hw_macs / max(sec, 1e-9)))
    sw, nw = speed["step_seconds"], speed["native_seconds"]
    sc, nc = speed["step_cpu_seconds"], speed["native_cpu_seconds"]
    return (f"  end to end (verilator): hardware step {rate(sw)} MAC/s vs native "
            f"{rate(nw)} MAC/s = {100 * nw / max(sw, 1e-9):.0f}% (wall); CPU time "
            f"{sc:.2f} s vs native {nc:.2f} s: {rate(sc)} vs {rate(nc)} MAC/s = "
            f"{100 * nc / max(sc, 1e-9):.0f}%; load average {speed['load_average']:.1f}")


def build_report(cfg, model_path, g, xs, seed, rows, hw_runs, sim_walls, hw_macs, tpath,
            unexplained, compared, finals, labels, vals, wall, t_golden, status):
    hw_out = sum(r.outputs for r in rows if r.hw_diff is not None)
    summary = []
    for sim, (w, sw) in sim_walls.items():
        nd = sum(r.hw_diff or 0 for r in rows)
        rate = hw_macs / sw if sw > 0 else 0.0
        head = (f"  {sim}: {fmt_int(hw_macs)} checked MACs, {fmt_int(hw_out)} outputs, "
                f"{nd} hw!=golden; ")
        if hw_runs.get(sim, {}).get("_driver") == "direct":
            summary.append(head + f"hardware step (one simulator process; scheduling and "
                           f"checking overlapped) {sw:.2f} s = {fmt_int(int(rate))} checked "
                           f"MAC/s")
            continue
        summary.append(head + f"fast-path simulation {sw:.2f} s = "
                       f"{fmt_int(int(rate))} checked MAC/s (whole hardware step {w:.1f} s = "
                       f"{fmt_int(int(hw_macs / w)) if w else 0} MAC/s incl. build check, "
                       f"start-up, golden model)")
    if tpath:
        summary.append(f"  TFLite ({_runtime()}, {tpath}): golden kernels on TFLite's inputs, "
                       f"{compared} elements compared, {unexplained} unexplained differences; "
                       f"end-to-end graph outputs differing: "
                       f"{sum(sum(f) for f in finals)} elements")
    top = _top1(vals, g, labels)
    if top is not None:
        summary.append(f"  top-1 accuracy (golden == hardware outputs): {top[0]:.3f} on "
                       f"{len(labels)} image(s)")
    src = str(cfg.source)
    try:
        src = os.path.relpath(src) if not os.path.relpath(src).startswith("..") else src
    except ValueError:
        pass
    summary.append(f"  wall {wall:.1f} s (golden {t_golden:.1f} s); seed {seed}; "
                   f"replay: qmac run {model_path} {src} --seed {seed} --count {len(xs)}")
    return {
        "model": str(model_path), "config": cfg.name, "config_source": str(cfg.source),
        "rounding": cfg.rounding, "images": len(xs), "seed": seed, "status": status,
        "layers": [dataclasses.asdict(r) for r in rows], "checked_macs": hw_macs,
        "hw_outputs": hw_out, "ops": len(g.ops), "golden_s": t_golden,
        "sim": {s: {"wall": w, "sim_wall": sw, "hw_diff": sum(r.hw_diff or 0 for r in rows),
                    "checked_mac_per_s": hw_macs / sw if sw > 0 else 0.0,
                    "whole_step_mac_per_s": hw_macs / w if w else 0.0}
                for s, (w, sw) in sim_walls.items()},
        "tflite": {"path": tpath, "runtime": _runtime() if tpath else None,
                   "compared": compared, "unexplained": unexplained,
                   "end_to_end_diff": finals},
        "top1": None if top is None else top[0], "wall": wall, "summary": summary,
    }


def crossbar_summary(report, g, vals, exact_vals, labels, rows):
    """Accuracy change of the crossbar chain against the exact integer chain."""
    out = g.outputs[0]
    px = np.array([int(np.argmax(v[out].reshape(-1))) for v in vals])
    pe = np.array([int(np.argmax(v[out].reshape(-1))) for v in exact_vals])
    diff = sum(int((a[out] != b[out]).sum()) for a, b in zip(vals, exact_vals))
    line = (f"  crossbar: golden = golden.crossbar's model of the tile (hw == it bit for bit); "
            f"model outputs differing from the exact datapath: {diff}; top-1 agreement with "
            f"the exact datapath {np.mean(px == pe):.3f}")
    xb = {"top1_agreement": float(np.mean(px == pe)), "output_diff": diff,
          "layers": {r.index: {"sqnr_db": r.sqnr_db, "xb_diff": r.xb_diff}
                     for r in rows if r.xb_diff is not None}}
    if labels is not None:
        xb["top1_exact"] = float(np.mean(pe == labels))
        xb["top1_crossbar"] = float(np.mean(px == labels))
        line += f"; top-1 accuracy exact {xb['top1_exact']:.3f} -> crossbar {xb['top1_crossbar']:.3f}"
    report["crossbar"] = xb
    report["summary"].insert(len(report["summary"]) - 1, line)


def _runtime():
    from .tflite_ref import runtime_version
    return runtime_version()


def write_outputs(outdir: Path, report, g, vals, hw_runs, lowered):
    outdir.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for op in g.ops:
        for o in op.outputs:
            arrays[f"op{op.index}.golden.t{o}"] = np.concatenate(
                [np.asarray(v[o])[None] for v in vals], axis=0)
    for sim, hw in hw_runs.items():
        for gi, (op, low) in enumerate(lowered):
            ys = [hw[f"g{gi}.{i}.y"] for i in range(len(low.layers))]
            arrays[f"op{op.index}.hw.{sim}"] = low.assemble(ys)
    tmp = outdir / "layers.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, outdir / "layers.npz")
    (outdir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
