"""``qmac sweep``: a float network and a labelled data set through the quantization and
crossbar design space — accuracy, per-layer SQNR / effective bits, plots, CSV/JSON —
golden (vectorized) for every point, the generated hardware for the points you choose.

Points
------
* **bits** (``--bits``: each value for every layer; ``--layer-bits 8,4``: one value per
  layer) × calibration ``--method`` × ``--rounding``: the network is quantized
  (:func:`golden.netquant.quantize_network`) and run on the exact MAC datapath
  (``engine = mac``: :func:`golden.datapath.int_matmul`, wrap to ``acc_bits``,
  :func:`golden.datapath.requantize`; equal to :func:`golden.datapath.datapath_model`
  whenever the accumulator wraps, because the wrap is modular — tested — otherwise
  ``datapath_model`` itself runs).
* on a crossbar configuration, **crossbar points** (``engine = crossbar``) at
  ``--xb-bits`` (default: the largest ``--bits``): ``--adc-bits`` (a list, or
  ``lossless``) × ``--adc-full-scale`` (``auto``, ``calibrated``: per physical column the
  smallest power of two above the largest ideal column sum of the calibration data, or a
  power of two) × ``--program-noise`` × ``--read-noise`` × ``--adc-offset`` (noise points
  are repeated over ``--seeds`` seeds; ``--noise-adc-bits`` restricts them to those ADC
  widths at the first full scale); every layer through
  :func:`golden.crossbar.crossbar_layer_model` (column tiles as the hardware), layer ``i``
  with noise seed ``seed + i`` (another tile, another cell pattern). Per layer the
  crossbar's dot products are compared with the exact ones of the same inputs (SQNR,
  effective bits).

For every point: top-1 accuracy on the labelled set and, per layer, the SQNR of the
dequantized layer output against the float network's activation (``sqnr_float``) — the
quantity the ``6.02·b + 1.76 dB`` rule is about. ``--hw-check`` then runs every layer
of one point through the generated hardware with ``qmac verify`` (:func:`sim.verify.
run_verify`) and requires hardware == this sweep's golden on every output.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from constraints import derive

from .errors import UserError, VectorError

__all__ = ["SweepPoint", "load_dataset", "run_sweep", "mac_engine", "crossbar_engine",
           "evaluate", "calibrated_adc_shift", "crossbar_spec_for"]


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One point of the design space."""

    engine: str                 # "mac" or "crossbar"
    bits: tuple                 # operand bits per layer
    method: str = "minmax"
    rounding: str = "double"
    adc_bits: int | None = None
    full_scale: str = ""        # "auto", "calibrated" or the power of two
    program_sigma: float = 0.0
    read_sigma: float = 0.0
    adc_offset_sigma: float = 0.0
    seed: int = 0

    @property
    def noisy(self):
        return bool(self.program_sigma or self.read_sigma or self.adc_offset_sigma)

    def label(self):
        b = "/".join(map(str, self.bits))
        s = f"{self.engine} b={b} {self.method} {self.rounding}"
        if self.engine == "crossbar":
            s += f" adc={self.adc_bits} fs={self.full_scale}"
            if self.noisy:
                s += (f" noise p={self.program_sigma:g} r={self.read_sigma:g} "
                      f"o={self.adc_offset_sigma:g} seed={self.seed}")
        return s


# ---------------------------------------------------------------------------------------
# data

def load_dataset(path):
    """``(x, y, x_calib)`` from a labelled ``.npz``: ``x`` float [B, ...], ``y`` int [B],
    optional ``x_calib`` float [B', ...] (default: ``x``)."""
    path = Path(path)
    from golden.network import read_npz
    try:
        d = read_npz(path, "a file written by numpy.savez with x, y")
    except ValueError as exc:
        raise VectorError(str(exc)) from None
    extra = sorted(set(d) - {"x", "y", "x_calib"})
    if extra or "x" not in d or "y" not in d:
        what = f"unknown key {extra[0]!r}" if extra else "missing key 'x' or 'y'"
        raise VectorError(f"{path}: {what}; allowed: x [B, ...] float, y [B] int labels, "
                          f"optional x_calib")
    x, y = d["x"], d["y"]
    if x.dtype.kind not in "fiu" or x.ndim < 2 or not np.all(np.isfinite(x)):
        raise VectorError(f"{path}: x: shape {list(x.shape)} dtype {x.dtype} is not allowed; "
                          f"allowed: finite numbers [B, ...]")
    if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
        raise VectorError(f"{path}: y: shape {list(y.shape)} dtype {y.dtype} is not allowed; "
                          f"allowed: integer labels [{x.shape[0]}]")
    xc = d.get("x_calib", x)
    if xc.shape[1:] != x.shape[1:] or xc.dtype.kind not in "fiu":
        raise VectorError(f"{path}: x_calib: shape {list(xc.shape)} is not allowed; allowed: "
                          f"[B', {', '.join(map(str, x.shape[1:]))}] float")
    return x.astype(np.float64), y.astype(np.int64), xc.astype(np.float64)


# ---------------------------------------------------------------------------------------
# engines: layer functions (i, layer, x) -> y for golden.netquant.run_quantized

class _Clock:
    """Golden compute time and MACs (for the MAC/s figure)."""

    def __init__(self):
        self.seconds = 0.0
        self.macs = 0


#: float32 represents every integer below this exactly (``golden.datapath.int_matmul``)
_F32_EXACT = 2**24


def _prepared(cache, L, acc_bits):
    """Per-layer constants of :func:`mac_engine`, computed once per layer: the folded bias
    ``bias − Z_x·Σ w`` (wrapped to ``acc_bits``) and, when every partial sum of the layer
    stays below 2^24 — ``2^(b−1)·max|w|·K < 2^24`` from the input codes' width ``b``, no
    data-dependent check — the weights as float32 ``[K, C]`` (the matmul is then exact in
    float32 BLAS, the argument of :func:`golden.datapath.int_matmul`), else None."""
    from golden.datapath import wrap
    key = id(L)
    if key not in cache:
        bias = wrap(L.bias - L.x_zp * L.w.sum(axis=1), acc_bits)
        bound = (1 << (L.bits - 1)) * int(np.abs(L.w).max(initial=0)) * L.w.shape[1]
        wf = np.ascontiguousarray(L.w.T, dtype=np.float32) if bound < _F32_EXACT else None
        # |Σ x·w| <= bound: when bound + max|bias'| fits the accumulator, wrap is the identity
        fits = bound + int(np.abs(bias).max(initial=0)) < (1 << (acc_bits - 1))
        lo, hi = -(1 << (L.bits - 1)), (1 << (L.bits - 1)) - 1
        cache[key] = (L, bias, wf, fits, lo, hi)  # L kept: its id stays unique while cached
    return cache[key][1:]


def mac_engine(*, bits, rows, acc_bits, overflow, rounding, clock=None):
    """The exact MAC datapath (module docstring) as a layer function."""
    from golden.datapath import int_matmul, requantize, wrap
    from golden.netquant import datapath_layer
    cache = {}

    def fn(i, L, x):
        t0 = time.perf_counter()
        if overflow == "wrap":
            bias, wf, fits, lo, hi = _prepared(cache, L, acc_bits)
            if wf is not None and lo <= x.min() and x.max() <= hi:   # L.bits-bit codes:
                dots = np.matmul(x.astype(np.float32), wf).astype(np.int64)  # exact (above)
                dots += bias
                acc = dots if fits else wrap(dots, acc_bits)
            else:
                acc = wrap(int_matmul(x - 0, L.w.T) + bias, acc_bits)
            y = requantize(acc, m0=L.m0, shift=L.shift, y_zp=L.y_zp, act_min=L.act_min,
                           act_max=L.act_max, rounding=rounding)
        else:
            y = datapath_layer(L, x, bits=bits, rows=rows, acc_bits=acc_bits,
                               overflow=overflow, rounding=rounding)
        if clock is not None:
            clock.seconds += time.perf_counter() - t0
            clock.macs += x.shape[0] * L.w.size
        return y
    return fn


def crossbar_engine(spec, noise, *, acc_bits, overflow, rounding, clock=None, stats=None):
    """The crossbar tile (``golden.crossbar.crossbar_layer_model``) as a layer function;
    ``stats[i]`` collects layer i's dot-product error (``golden.crossbar.error_report``)."""
    from golden.crossbar import crossbar_layer_model, error_report
    from golden.datapath import int_matmul

    def fn(i, L, x):
        t0 = time.perf_counter()
        nz = dataclasses.replace(noise, seed=noise.seed + i)
        y, _, psums = crossbar_layer_model(
            x, L.w, L.bias - L.x_zp * L.w.sum(axis=1), spec=spec, acc_bits=acc_bits,
            overflow=overflow, m0=L.m0, shift=L.shift, y_zp=L.y_zp, act_min=L.act_min,
            act_max=L.act_max, rounding=rounding, noise=nz)
        if clock is not None:
            clock.seconds += time.perf_counter() - t0
            clock.macs += x.shape[0] * L.w.size
        if stats is not None:
            stats[i] = error_report(int_matmul(x, L.w.T), psums.sum(axis=0))
        return y
    return fn


def crossbar_spec_for(base, *, bits, adc_bits, adc_shift=None):
    """``base`` (a ``constraints.CrossbarRecord``) with another operand width / ADC
    (``ValueError`` when illegal; ``adc_shift=None``: the ``auto`` full scale): each of its
    widths (A, W) raised to at least ``bits``."""
    from golden.crossbar import retile
    a, w = max(bits, base.input_bits), max(bits, base.weight_bits)
    return retile(base, input_bits=a, weight_bits=w, adc_bits=adc_bits, adc_shift=adc_shift,
                  cell_bits=min(base.cell_bits, w), dac_bits=min(base.dac_bits, a))


def calibrated_adc_shift(spec, qnet, xq):
    """Per physical column, the LSB exponent of the smallest power-of-two full scale
    holding every ideal column sum of the calibration codes ``xq`` (all layers, phases,
    column tiles): ``k_j = max(0, bit_length(peak_j) − B)`` (CrossSim-style calibration)."""
    from golden.crossbar import (adc_quantize, column_sums, encode_weights, input_phases,
                                 retile)
    from golden.netquant import run_quantized

    lossless = retile(spec, adc_bits=spec.lossless_adc_bits, adc_shift=0)
    peak = np.zeros(spec.phys_cols, np.int64)

    def fn(i, L, x):
        c, k = L.w.shape
        kc = -(-k // spec.rows) * spec.rows
        cc = -(-c // spec.cols) * spec.cols
        w = np.zeros((cc, kc), np.int64)
        w[:c, :k] = L.w
        xp = np.zeros((x.shape[0], kc), np.int64)
        xp[:, :k] = x
        for r0 in range(0, kc, spec.rows):
            d = input_phases(xp[:, r0:r0 + spec.rows], lossless)
            for c0 in range(0, cc, spec.cols):
                lv = encode_weights(w[c0:c0 + spec.cols, r0:r0 + spec.rows].T, lossless)
                ys = adc_quantize(column_sums(d, lv), lossless, frac_bits=0)
                np.maximum(peak, ys.reshape(-1, spec.phys_cols).max(axis=0), out=peak)
        return mac_fn(i, L, x)

    mac_fn = mac_engine(bits=spec.bits, rows=spec.rows, acc_bits=32, overflow="wrap",
                        rounding="double")
    run_quantized(qnet, xq, fn)
    kmax = max(0, spec.lossless_adc_bits - spec.adc_bits)
    return tuple(int(min(kmax, max(0, int(p).bit_length() - spec.adc_bits))) for p in peak)


# ---------------------------------------------------------------------------------------
# one point

def evaluate(qnet, fn, x, y, float_acts):
    """Accuracy and per-layer SQNR (dequantized output vs float activation) of one point."""
    from golden.metrics import effective_bits, sqnr_db
    from golden.netquant import run_quantized

    outs = run_quantized(qnet, qnet.quantize_input(x), fn)
    acc = float(np.mean(outs[-1].reshape(len(y), -1).argmax(axis=1) == y))
    sq = []
    for L, q, f in zip(qnet.layers, outs, float_acts[1:]):
        s = float(sqnr_db(f.reshape(-1), (q.reshape(-1) - L.y_zp) * L.y_scale))
        sq.append(s)
    return {"accuracy": acc, "sqnr_float_db": sq,
            "effective_bits_float": [float(effective_bits(s)) for s in sq]}, outs


def _quantize_cached(cache, net, x_calib, bits, method, out):
    from golden.calibration import CalibrationWarning
    from golden.netquant import quantize_network

    key = (bits, method)
    if key not in cache:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always", CalibrationWarning)
            cache[key] = quantize_network(net, x_calib, bits=list(bits), method=method,
                                          calib_cache=cache.setdefault("calib", {}))
        for w in rec:
            if issubclass(w.category, CalibrationWarning):
                out.write(f"  note: bits {'/'.join(map(str, bits))}: {w.message}\n")
    return cache[key]


# ---------------------------------------------------------------------------------------
# configuration overrides (no YAML copy)

XB_OVERRIDES = ("adc_bits", "adc_full_scale", "cell_bits", "dac_bits")


def config_with_overrides(cfg, **fields):
    """``cfg`` re-resolved with ``crossbar:`` fields replaced (``None`` = keep); a noise
    mapping under ``noise``. Raises :class:`~sim.errors.ConfigError` (one line)."""
    import yaml

    from .config import resolve_config
    from .errors import ConfigError

    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields:
        return cfg
    if cfg.crossbar is None:
        raise ConfigError(f"{cfg.source}: --{next(iter(fields)).replace('_', '-')} needs a "
                          f"crossbar configuration; allowed: e.g. constraints/sidra_y1.yaml")
    raw = yaml.safe_load(Path(cfg.source).read_text())
    raw["crossbar"].update(fields)
    tag = "_".join(f"{k}{v if not isinstance(v, (list, dict)) else len(v)}"
                   for k, v in sorted(fields.items()) if k != "noise")
    raw["name"] = f"{cfg.name}_{tag}" if tag else cfg.name
    flags = " ".join(f"--{k.replace('_', '-')}" for k in fields)
    return resolve_config(raw, where=f"{cfg.source} (with {flags})",
                          default_name=raw["name"])


def _full_scale_shift(fs, spec, cfg_spec, calibrated):
    """``adc_shift`` of a full-scale choice for ``spec`` (its ADC bits)."""
    from golden.crossbar import adc_shift_for_full_scale

    if fs == "auto":
        return None
    if fs == "calibrated":
        return calibrated
    if fs == "config":  # the configured full scale(s) 2^(B_cfg + k_cfg), at this B
        kmax = derive.max_adc_shift(spec.adc_bits, spec.lossless_adc_bits)
        return tuple(min(kmax, max(0, cfg_spec.adc_bits + k - spec.adc_bits))
                     for k in cfg_spec.adc_shift)
    return adc_shift_for_full_scale(int(fs), adc_bits=spec.adc_bits,
                                    lossless_bits=spec.lossless_adc_bits)


# ---------------------------------------------------------------------------------------
# the sweep

def _points(cfg, L, *, bits, layer_bits, methods, roundings, xb_bits, adc_bits, full_scales,
            program, read, offset, seeds, noise_adc_bits=None):
    combos = [(b,) * L for b in bits] + [tuple(lb) for lb in layer_bits]
    pts = [SweepPoint("mac", c, m, r) for c in combos for m in methods for r in roundings]
    if cfg.crossbar is None:
        return pts
    for xb, adc, fs in itertools.product(xb_bits, adc_bits, full_scales):
        for p, r, o in itertools.product(program, read, offset):
            noisy = bool(p or r or o)
            if noisy and noise_adc_bits is not None and \
                    (adc not in noise_adc_bits or fs != full_scales[0]):
                continue                # noise only where asked (first full scale)
            for s in (range(seeds) if noisy else [0]):
                pts.append(SweepPoint("crossbar", (xb,) * L, methods[0], cfg.rounding, adc,
                                      str(fs), p, r, o, s))
    return pts


def _run_point(pt, ctx):
    from golden.crossbar import CrossbarNoise

    qnet = _quantize_cached(ctx["cache"], ctx["net"], ctx["x_calib"], pt.bits, pt.method,
                            ctx["out"])
    cfg = ctx["cfg"]
    if pt.engine == "mac":
        fn = mac_engine(bits=max(*pt.bits, cfg.input_bits, cfg.weight_bits), rows=cfg.rows,
                        acc_bits=cfg.acc_bits,
                        overflow=cfg.overflow, rounding=pt.rounding, clock=ctx["clock_mac"])
        res, outs = evaluate(qnet, fn, ctx["x"], ctx["y"], ctx["float_acts"])
        return res, outs
    spec = _point_spec(pt, qnet, ctx)
    noise = CrossbarNoise(program_sigma=pt.program_sigma, read_sigma=pt.read_sigma,
                          adc_offset_sigma=pt.adc_offset_sigma, seed=pt.seed)
    stats = {}
    fn = crossbar_engine(spec, noise, acc_bits=cfg.acc_bits, overflow=cfg.overflow,
                         rounding=pt.rounding, clock=ctx["clock_xb"], stats=stats)
    res, outs = evaluate(qnet, fn, ctx["x"], ctx["y"], ctx["float_acts"])
    res["sqnr_dot_db"] = [stats[i]["sqnr_db"] for i in range(len(qnet.layers))]
    res["effective_bits_dot"] = [stats[i]["effective_bits"] for i in range(len(qnet.layers))]
    res["adc_bits"] = spec.adc_bits
    res["adc_shift_max"] = max(spec.adc_shift)
    return res, outs


def _point_spec(pt, qnet, ctx):
    from golden.crossbar import retile
    base = ctx["cfg"].crossbar
    adc = base.lossless_adc_bits if pt.adc_bits == "lossless" else int(pt.adc_bits)
    try:
        spec = crossbar_spec_for(base, bits=max(pt.bits), adc_bits=adc)
        key = ("cal", adc, pt.bits, pt.method)
        if pt.full_scale == "calibrated" and key not in ctx["cache"]:
            xq = qnet.quantize_input(ctx["x_calib"])
            ctx["cache"][key] = calibrated_adc_shift(spec, qnet, xq)
        shift = _full_scale_shift(pt.full_scale, spec, base, ctx["cache"].get(key))
        return retile(spec, adc_shift=shift)
    except ValueError as exc:
        raise UserError(f"crossbar point {pt.label()}: {exc}") from None


def _float_accuracy(net, x, y):
    acts = net.forward(x)
    return float(np.mean(acts[-1].reshape(len(y), -1).argmax(axis=1) == y)), acts


def _row(pt, res):
    d = dataclasses.asdict(pt)
    d["bits"] = "/".join(map(str, pt.bits))
    d.update({k: (";".join(f"{v:.4f}" for v in val) if isinstance(val, list) else val)
              for k, val in res.items()})
    return d


def _group(rows):
    """Crossbar rows grouped over seeds: (first row, accuracies)."""
    groups: dict[tuple, list] = {}
    for r in rows:
        key = tuple((k, v) for k, v in r.items() if k not in ("seed",) and
                    not k.startswith(("accuracy", "sqnr", "effective")))
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def _mean_list(group, key):
    """Per-layer mean over a group of rows of a ';'-joined list, as 'v0 v1 ...'."""
    vals = np.array([[float(v) for v in r[key].split(";")] for r in group])
    return " ".join(f"{v:.2f}" for v in vals.mean(axis=0))


def format_sweep_table(rows, float_acc):
    """The summary table: one line per point (noise points: mean ± std over seeds)."""
    head = ["engine", "bits", "method", "round", "adc", "full scale", "noise p/r/o", "seeds",
            "top-1 %", "± std", "min %", "SQNR vs float dB (per layer)", "dot eff. bits"]
    lines = [head]
    for g in _group(rows):
        r = g[0]
        accs = np.array([x["accuracy"] for x in g]) * 100
        xb = r["engine"] == "crossbar"
        noise = f"{r['program_sigma']:g}/{r['read_sigma']:g}/{r['adc_offset_sigma']:g}"
        lines.append([r["engine"], r["bits"], r["method"], r["rounding"],
                      str(r.get("adc_bits", "")) if xb else "-",
                      r["full_scale"] if xb else "-", noise if xb else "-", str(len(g)),
                      f"{accs.mean():.2f}", f"{accs.std():.2f}" if len(g) > 1 else "-",
                      f"{accs.min():.2f}", _mean_list(g, "sqnr_float_db"),
                      _mean_list(g, "effective_bits_dot") if xb else "-"])
    widths = [max(len(str(x[i])) for x in lines) for i in range(len(head))]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths))  # noqa: E731
    out = [fmt(lines[0]), "  ".join("-" * w for w in widths)] + [fmt(x) for x in lines[1:]]
    out.append(f"float network: top-1 {100 * float_acc:.2f} %")
    return "\n".join(out)


def _write_outputs(outdir, rows, meta):
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / "sweep.csv", "w", newline="") as f:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    (outdir / "sweep.json").write_text(json.dumps({"meta": meta, "points": rows}, indent=1,
                                                  default=str))


def _lossless_check(rows, results, out):
    """Crossbar points with a lossless ADC and no noise must equal the exact datapath
    (same bits, method, rounding) on every output of every layer."""
    ok = True
    for pt, outs, res in results:
        if pt.engine != "crossbar" or pt.adc_bits != "lossless" or pt.noisy \
                or res["adc_shift_max"] != 0:
            continue
        ref = next((o for p, o, _ in results if p.engine == "mac" and p.bits == pt.bits
                    and p.method == pt.method and p.rounding == pt.rounding), None)
        if ref is None:
            continue
        same = all(np.array_equal(a, b) for a, b in zip(outs, ref))
        ok &= same
        out.write(f"qmac sweep: lossless crossbar ({pt.label()}) vs exact datapath: "
                  f"{'every output equal' if same else 'DIFFERENT'}\n")
    return ok


def _rate(clock):
    return clock.macs / clock.seconds if clock.seconds else float("nan")


def run_sweep(cfg, *, model_path, data_path, bits=(8,), layer_bits=(), methods=("minmax",),
              roundings=None, xb_bits=None, adc_bits=None, full_scales=("config",),
              program=(0.0,), read=(0.0,), offset=(0.0,), seeds=1, noise_adc_bits=None,
              count=None,
              outdir="out/sweep", plots=True, hw_check=False, hw_count=32,
              sims=("verilator",), stream: TextIO | None = None, progress=True,
              layer_config: str | None = None) -> int:
    """Run the sweep (module docstring); returns 0, or 1 when a check fails."""
    if layer_config is not None:
        from .layer_config import parse_layer_config
        if not hw_check:
            raise UserError("--layer-config selects the hardware of --hw-check; allowed: "
                            "--layer-config together with --hw-check")
        parse_layer_config(layer_config)       # syntax errors before any work
    out = stream or sys.stdout
    outdir = Path(outdir)
    net, x, y, x_calib = _load_inputs(model_path, data_path, count, layer_bits)
    L = len(net.layers)
    roundings = list(roundings or [cfg.rounding])
    if cfg.crossbar is not None:
        xb_bits = list(xb_bits or [max(bits)])
        adc_bits = list(adc_bits or [cfg.crossbar.adc_bits])
    float_acc, float_acts = _float_accuracy(net, x, y)
    ctx = {"cfg": cfg, "net": net, "x": x, "y": y, "x_calib": x_calib, "cache": {},
           "float_acts": float_acts, "out": out, "clock_mac": _Clock(), "clock_xb": _Clock()}
    pts = _points(cfg, L, bits=bits, layer_bits=layer_bits, methods=methods,
                  roundings=roundings, xb_bits=xb_bits, adc_bits=adc_bits,
                  full_scales=full_scales, program=program, read=read, offset=offset,
                  seeds=seeds, noise_adc_bits=noise_adc_bits)
    out.write(f"qmac sweep: {model_path} ({L} layers, {_macs(net, x):,} MACs per example) on "
              f"{len(y)} examples of {data_path}, {cfg.name}: {len(pts)} points\n")
    rows, results, wall = _run_points(pts, ctx, progress)
    out.write(format_sweep_table(rows, float_acc) + "\n")
    status = 0 if _lossless_check(rows, results, out) else 1
    cm, cx = ctx["clock_mac"], ctx["clock_xb"]
    _print_rates(out, cm, cx, wall)
    meta = {"model": str(model_path), "data": str(data_path), "config": cfg.name,
            "float_accuracy": float_acc, "examples": int(len(y)),
            "golden_mac_per_s": _rate(cm), "golden_crossbar_mac_per_s": _rate(cx),
            "wall_s": wall}
    if hw_check:
        meta["hw_check"] = _hw_check(cfg, ctx, pts, results, hw_count=hw_count, sims=sims,
                                     layer_config=layer_config,
                                     outdir=outdir / "hw", out=out)
        status |= 0 if meta["hw_check"]["pass"] else 1
    _write_outputs(outdir, rows, meta)
    written = ["sweep.csv", "sweep.json"]
    if plots:
        from .sweep_plots import write_plots
        written += write_plots(outdir, rows, float_acc)
    out.write(f"qmac sweep: wrote {', '.join(str(outdir / w) for w in written)}\n")
    return status


def _load_inputs(model_path, data_path, count, layer_bits):
    """``(net, x, y, x_calib)``: the float network and the dataset (the first ``count``
    examples), checked against each other and ``layer_bits``."""
    from golden.network import load_float_network
    try:
        net = load_float_network(model_path)
    except ValueError as exc:
        raise VectorError(str(exc)) from None
    x, y, x_calib = load_dataset(data_path)
    if x.shape[1:] != tuple(net.input_shape):
        raise VectorError(f"{data_path}: x: shape {list(x.shape)} does not match the model "
                          f"input {list(net.input_shape)}; allowed: [B, "
                          f"{', '.join(map(str, net.input_shape))}]")
    if count:
        x, y = x[:count], y[:count]
    L = len(net.layers)
    for lb in layer_bits:
        if len(lb) != L:
            raise UserError(f"--layer-bits={','.join(map(str, lb))} has {len(lb)} values; "
                            f"allowed: {L} (one per layer of {model_path})")
    return net, x, y, x_calib


def _run_points(pts, ctx, progress):
    """Every point through golden (a progress bar on a terminal): ``(rows, results,
    wall seconds)``."""
    from .report import ProgressBar
    bar = ProgressBar(len(pts), enabled=progress and getattr(sys.stderr, "isatty", bool)())
    rows, results, t0 = [], [], time.perf_counter()
    for pt in pts:
        bar.start(pt.label())
        res, outs = _run_point(pt, ctx)
        bar.finish(pt.label(), f"{100 * res['accuracy']:.2f} %")
        rows.append(_row(pt, res))
        results.append((pt, outs, res))
    return rows, results, time.perf_counter() - t0


def _print_rates(out, cm, cx, wall):
    out.write(f"qmac sweep: golden MAC path {cm.macs / 1e6:.1f} M MACs in {cm.seconds:.2f} s "
              f"= {_rate(cm) / 1e9:.3f} G MAC/s")
    if cx.macs:
        out.write(f"; crossbar {cx.macs / 1e6:.1f} M MACs in {cx.seconds:.2f} s = "
                  f"{_rate(cx) / 1e9:.3f} G MAC/s")
    out.write(f" (sweep wall {wall:.1f} s)\n")


def _macs(net, x):
    from golden.netquant import quantize_network
    q = quantize_network(net, x[:2], bits=8)
    return q.macs


# ---------------------------------------------------------------------------------------
# hardware-checked point

def _hw_point(cfg, pts, results):
    for pt, outs, res in results:
        if cfg.crossbar is not None and pt.engine == "crossbar" and not pt.noisy:
            return pt, outs, res
        if cfg.crossbar is None and pt.engine == "mac" and pt.rounding == cfg.rounding:
            return pt, outs, res
    raise UserError("--hw-check: no noise-free point on this configuration's engine with its "
                    "rounding; allowed: include one (e.g. --program-noise 0)")


def _hw_config(cfg, pt, ctx):
    if pt.engine == "mac":
        return cfg
    qnet = ctx["cache"][(pt.bits, pt.method)]
    spec = _point_spec(pt, qnet, ctx)
    if spec.tile_parameters() == cfg.crossbar.tile_parameters():
        return cfg                      # the configuration as given: no override, same build
    fs = [1 << (spec.adc_bits + k) for k in spec.adc_shift]
    return config_with_overrides(cfg, adc_bits=spec.adc_bits,
                                 adc_full_scale=fs if len(set(fs)) > 1 else fs[0])


def _layer_rows(L, t, count):
    from golden.network import im2col
    t = t[:count]
    if L.kind == "dense":
        return t.reshape(t.shape[0], -1)
    return im2col(t, L.kernel, L.stride, L.padding, L.x_zp)[0]


def _operand_bits(cfg):
    """The widest b-bit layer ``cfg`` runs: a sweep layer's inputs and weights are both b-bit
    codes, so b must fit the input width A and the weight width W."""
    return min(cfg.input_bits, cfg.weight_bits)


def _layer_hw_configs(hcfg, pt, spec, n):
    """``--layer-config``: the configuration of each layer (default ``hcfg``), each with the
    point's rounding and wide enough for the layer's operands."""
    from .config import load_config
    from .layer_config import assign_layers
    named = assign_layers(spec, n, lambda p, b: load_config(p, bits=b)) if spec else {}
    cfgs = [named.get(i, hcfg) for i in range(n)]
    for i, c in enumerate(cfgs):
        if c.rounding != pt.rounding:
            raise UserError(f"--layer-config: layer {i} runs on {c.name}, which rounds "
                            f"{c.rounding!r}; allowed: configurations rounding like the checked "
                            f"point ({pt.rounding!r})")
        if pt.bits[i] > _operand_bits(c):
            raise UserError(f"--layer-config: layer {i} has {pt.bits[i]}-bit operands; allowed:"
                            f" a configuration of at least {pt.bits[i]} bits ({c.name} has "
                            f"{c.widths_label})")
    return cfgs


def _hw_check(cfg, ctx, pts, results, *, hw_count, sims, outdir, out, layer_config=None):
    """Every layer of one point through ``qmac verify``; hardware must equal the sweep's
    golden outputs of that point on every output."""
    from .verify import run_verify

    pt, outs, _ = _hw_point(cfg, pts, results)
    if max(pt.bits) > _operand_bits(cfg) and not layer_config:
        raise UserError(f"--hw-check: point {pt.label()} has {max(pt.bits)}-bit operands; "
                        f"allowed: <= {_operand_bits(cfg)} ({cfg.name}: {cfg.widths_label})")
    hcfg = _hw_config(cfg, pt, ctx)
    qnet = ctx["cache"][(pt.bits, pt.method)]
    cfgs = _layer_hw_configs(hcfg, pt, layer_config, len(qnet.layers))
    out.write(f"qmac sweep: hardware check of {pt.label()} on "
              f"{', '.join(dict.fromkeys(c.name for c in cfgs))} "
              f"({hw_count} examples, {', '.join(sims)})\n")
    inputs = [qnet.quantize_input(ctx["x"])] + outs[:-1]
    build_root = Path(os.environ.get("QMAC_BUILD_DIR") or "out/build")  # as qmac verify
    layers, ok = [], True
    outdir.mkdir(parents=True, exist_ok=True)
    for i, L in enumerate(qnet.layers):
        xr = _layer_rows(L, inputs[i], hw_count)
        want = outs[i][:hw_count].reshape(xr.shape[0], -1)
        path = outdir / f"layer{i}.npz"
        np.savez(path, x=xr, w=L.w, bias=L.bias, m0=L.m0, shift=L.shift,
                 x_zp=np.int64(L.x_zp), y_zp=np.int64(L.y_zp), act_min=np.int64(L.act_min),
                 act_max=np.int64(L.act_max))
        res_path = outdir / f"layer{i}.out.npz"
        rc = run_verify(cfgs[i], vectors_path=path, sims=list(sims), out_path=res_path,
                        outdir=outdir / "work", build_root=build_root, stream=out)
        with np.load(res_path) as f:
            got = {k: f[k] for k in f.files if k.startswith("y_hw")}
        equal = bool(got) and all(np.array_equal(v, want) for v in got.values())
        ok &= equal and rc == 0
        layers.append({"layer": i, "config": cfgs[i].name, "bits": int(pt.bits[i]),
                       "outputs": int(want.size), "verify_status": rc,
                       "hw_equals_sweep_golden": equal})
        out.write(f"qmac sweep: layer {i} ({pt.bits[i]}-bit operands on {cfgs[i].name}): "
                  f"hardware {'==' if equal else '!='} sweep golden on "
                  f"{want.size} outputs (qmac verify exit {rc})\n")
    return {"point": pt.label(), "config": hcfg.name, "layers": layers, "pass": bool(ok)}
