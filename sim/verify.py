"""``qmac verify``: a user's fully-connected layer through the hardware and through golden/.

Input file (``IN.npz``, NumPy ``np.savez``):

=============== ======================= ==================================================
key             shape / type            meaning
=============== ======================= ==================================================
``x``           [B, K] integer          inputs (N-bit, signed per ``input_signed``)
``w``           [C, K] integer          weights (N-bit after subtracting ``w_zp``)
``bias``        [C] integer, optional   int32 bias (default 0)
``m0, shift``   scalar or [C] integer   fixed-point multiplier (TFLite convention) — or
``x_scale``     float scalar            ... the float scales: x_scale, w_scale (scalar =
``w_scale``     float scalar or [C]     per-tensor, [C] = per-channel), y_scale; m0/shift
``y_scale``     float scalar            then come from ``golden.layer.layer_multipliers``
``x_zp, y_zp``  integer scalars         input / output zero points
``w_zp``        integer scalar, opt.    weight zero point (per-tensor only; default 0)
``act_min/max`` integer scalars, opt.   clamp bounds (default: the output range), or
``activation``  str, optional           none/relu/relu6/relu_n1_to_1 (needs ``y_scale``)
``rounding``    str, optional           must equal the configuration's rounding
=============== ======================= ==================================================

Output (``OUT.npz``): ``y_hw`` and ``y_golden`` [B, C], the resolved ``m0`` and ``shift``,
plus ``y_tflite`` (``golden.datapath.fully_connected``: TFLite's literal int32 reference)
and ``ovf_golden``. ``y_golden`` is the bit-exact model of the configured hardware
(``golden.datapath.datapath_model`` after ``fold_zero_points``); with a wrapping 32-bit
accumulator it equals ``y_tflite`` wherever TFLite is defined. On a crossbar configuration
``y_golden`` is ``golden.crossbar``'s model of the configured tile (DAC phases, cell levels,
ADC quantization, seeded noise if configured: what the hardware must reproduce bit for bit),
``y_mac`` the MAC-array datapath's result for the same layer, and the report gives the
crossbar's error against the exact result (dot-product and output SQNR, effective bits).

``OUT.json`` (beside ``OUT.npz``, same stem) holds every figure the command prints: the
layer's shape and quantization, the crossbar's error statistics, and per simulator the
outcome, mismatches (count and the first ones), missing / X beats, cycles, wall time,
the comparison with ``y_tflite``, and the overall status.

Any problem with the file raises :class:`~sim.errors.VectorError` with one line (exit 2);
a mismatch between hardware and golden returns 1, and so does a difference from the file's
``y_tflite`` — except on a crossbar whose golden differs from the exact datapath for this
layer (lossy ADC, noise), where that difference is reported and expected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .config import DatapathConfig
from .errors import VectorError
from .inputs import abbrev, check_output_path, read_npz, show_path
from .report import atomic_write

__all__ = ["run_verify", "load_vectors", "ResolvedLayer", "ALLOWED_KEYS"]

ALLOWED_KEYS = ("x", "w", "bias", "m0", "shift", "x_scale", "w_scale", "y_scale", "x_zp",
                "y_zp", "w_zp", "act_min", "act_max", "activation", "rounding")
#: optional keys of externally computed references (tests/data/tflite/*.npz): ``y_tflite``
#: [B, C] is TFLite's own output — the hardware is compared with it as well; ``kernel``
#: (text) names the TFLite kernel and is only echoed.
REFERENCE_KEYS = ("y_tflite", "kernel")


class ResolvedLayer:
    """The validated layer: user form (``layer``) and folded form (``folded``)."""

    def __init__(self, layer, folded, m0, shift, source: str, y_ref=None, kernel=""):
        self.y_ref = y_ref
        self.kernel = kernel
        self.layer = layer
        self.folded = folded
        self.m0 = m0
        self.shift = shift
        self.source = source


def _fail(path: Path, msg: str) -> VectorError:
    return VectorError(f"{show_path(path)}: {msg}")


def _int_array(path, d, key, *, ndim: tuple[int, ...]):
    a = d[key]
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise _fail(path, f"{key}: dtype {a.dtype} is not allowed; allowed: an integer array "
                          f"(int8, int16, int32, ...)")
    if a.ndim not in ndim:
        shapes = {0: "a scalar", 1: "[C]", 2: "a 2-D array"}
        raise _fail(path, f"{key}: shape {list(a.shape)} is not allowed; allowed: "
                          + " or ".join(shapes.get(n, f"{n}-D") for n in ndim))
    if a.dtype == np.uint64 and a.size and int(a.max()) > 2**63 - 1:
        raise _fail(path, f"{key}: value {int(a.max())} is out of range; allowed: at most "
                          f"{2**63 - 1} (int64)")
    return a.astype(np.int64)


def _float_array(path, d, key, *, ndim: tuple[int, ...]):
    a = d[key]
    if not np.issubdtype(a.dtype, np.floating):
        raise _fail(path, f"{key}: dtype {a.dtype} is not allowed; allowed: a float scale "
                          f"(float32 or float64)")
    if a.ndim not in ndim:
        raise _fail(path, f"{key}: shape {list(a.shape)} is not allowed; allowed: "
                          + ("a scalar" if ndim == (0,) else "a scalar or [C]"))
    bad = ~(np.isfinite(a) & (a > 0))
    if bad.any():
        v = float(a.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise _fail(path, f"{key}: {v!r} is not allowed; allowed: a scale > 0 and finite")
    return a


def _range(path, key, a, lo, hi, what):
    a = np.asarray(a)
    bad = (a < lo) | (a > hi)
    if bad.any():
        idx = np.argwhere(bad)[0] if a.ndim else ()
        v = int(a[tuple(idx)]) if a.ndim else int(a)
        where = f"[{', '.join(map(str, idx))}]" if a.ndim else ""
        raise _fail(path, f"{key}{where}={v} is out of range; allowed: [{lo}, {hi}] ({what})")


def _scalar_str(path, d, key) -> str:
    a = d[key]
    if a.ndim != 0 or a.dtype.kind not in "US":
        raise _fail(path, f"{key}: {abbrev(a)} is not allowed; allowed: a string")
    try:
        text = str(a.item() if a.dtype.kind == "U" else a.item().decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(path, f"{key}: {abbrev(a.item())} is not allowed; allowed: a UTF-8 "
                          f"string") from None
    if len(text) > 200 or not text.isprintable():
        raise _fail(path, f"{key}: {abbrev(text)} is not allowed; allowed: a printable string "
                          f"of at most 200 characters")
    return text


def load_vectors(path: str | Path, cfg: DatapathConfig, hp) -> ResolvedLayer:
    """Read and validate ``IN.npz`` against ``cfg``; raises :class:`VectorError`.

    The file goes through :func:`sim.inputs.read_npz` first (zip headers, sizes, object
    arrays, corrupt streams), then every key is checked against the configuration.
    """
    from tb.layers import FcLayer, LayerError

    path = Path(path)
    d = read_npz(path, allowed_keys=ALLOWED_KEYS + REFERENCE_KEYS)
    x, w, x_zp, y_zp, w_zp = _operands(path, d, cfg, hp)
    c = w.shape[0]
    bias = _bias(path, d, c, wide=cfg.rounding == "single16")
    m0, shift = _multipliers(path, d, c)
    act_min, act_max = _activation(path, d, cfg, hp, int(y_zp))
    layer = FcLayer(x=x, w=w, bias=bias, x_zp=int(x_zp), w_zp=int(w_zp), m0=m0, shift=shift,
                    y_zp=int(y_zp), act_min=act_min, act_max=act_max, name=path.name)
    try:
        folded = layer.fold(hp)
    except (LayerError, ValueError) as exc:
        msg = str(exc)
        if msg.startswith(path.name + ": "):
            msg = msg[len(path.name) + 2:]
        raise _fail(path, msg) from None
    y_ref, kernel = _reference(path, d, x.shape[0], c)
    return ResolvedLayer(layer, folded, np.asarray(m0, np.int64), np.asarray(shift, np.int64),
                         str(path), y_ref, kernel)


def _operands(path: Path, d: dict, cfg: DatapathConfig, hp):
    """``x``, ``w`` and the zero points, checked against the configured widths."""
    for key in ("x", "w", "x_zp", "y_zp"):
        if key not in d:
            raise _fail(path, f"missing key {key!r}; required: x, w, x_zp, y_zp and either "
                              f"m0+shift or x_scale+w_scale+y_scale")
    x = _int_array(path, d, "x", ndim=(2,))
    w = _int_array(path, d, "w", ndim=(2,))
    if x.shape[0] < 1 or x.shape[1] < 1 or w.shape[0] < 1:
        raise _fail(path, f"x: shape {list(x.shape)} / w: shape {list(w.shape)} is empty; "
                          f"allowed: B, K, C >= 1")
    if x.shape[1] != w.shape[1]:
        raise _fail(path, f"w: shape {list(w.shape)} does not match x: shape {list(x.shape)}; "
                          f"allowed: x [B, K] and w [C, K] with the same K")
    xlo, xhi = hp.x_range
    _range(path, "x", x, xlo, xhi, f"{hp.input_bits}-bit "
                                   f"{'signed' if hp.input_signed else 'unsigned'}"
                                   f" inputs of {cfg.name} ({cfg.widths_label})")
    x_zp = _int_array(path, d, "x_zp", ndim=(0,))
    y_zp = _int_array(path, d, "y_zp", ndim=(0,))
    _range(path, "x_zp", x_zp, xlo, xhi, "the input range")
    olo, ohi = hp.out_range
    _range(path, "y_zp", y_zp, olo, ohi, f"the {hp.out_bits}-bit output range")
    w_zp = _int_array(path, d, "w_zp", ndim=(0,)) if "w_zp" in d else np.int64(0)
    _range(path, "w", w, -(2**15), 2**16 - 1, "16-bit weights; w - w_zp is checked "
                                                 "against the configured width")
    return x, w, x_zp, y_zp, w_zp


def _bias(path: Path, d: dict, c: int, wide: bool = False):
    """int32, or for ``single16`` (TFLite's 16x8 kernels, int64 bias) ``|bias| < 2^47``."""
    if "bias" not in d:
        return np.zeros(c, np.int64)
    bias = _int_array(path, d, "bias", ndim=(1,))
    if bias.shape != (c,):
        raise _fail(path, f"bias: shape {list(bias.shape)} is not allowed; allowed: [{c}] "
                          f"(one per output channel)")
    if wide:
        _range(path, "bias", bias, -(2**47), 2**47 - 1, "|bias| < 2^47 (16x8: int64 bias "
                                                       "within TFLite's asserted range)")
    else:
        _range(path, "bias", bias, -(2**31), 2**31 - 1, "int32")
    return bias


def _multipliers(path: Path, d: dict, c: int):
    """``(m0, shift)``: given as such, or from the float scales."""
    from golden.layer import layer_multipliers
    have_m = ("m0" in d, "shift" in d)
    have_s = tuple(k in d for k in ("x_scale", "w_scale", "y_scale"))
    if any(have_m) and any(have_s[:2]):
        raise _fail(path, "both m0/shift and x_scale/w_scale given; allowed: one of the two")
    if all(have_m):
        m0 = _int_array(path, d, "m0", ndim=(0, 1))
        shift = _int_array(path, d, "shift", ndim=(0, 1))
        for key, v in (("m0", m0), ("shift", shift)):
            if v.ndim == 1 and v.shape != (c,):
                raise _fail(path, f"{key}: shape {list(v.shape)} is not allowed; allowed: a "
                                  f"scalar or [{c}]")
        _range(path, "m0", m0, 0, 2**31 - 1, "QuantizeMultiplier's m0")
        _range(path, "shift", shift, -31, 30, "TFLite's shift, negative = right")
        return m0, shift
    if all(have_s):
        xs = _float_array(path, d, "x_scale", ndim=(0,))
        ws = _float_array(path, d, "w_scale", ndim=(0, 1))
        ys = _float_array(path, d, "y_scale", ndim=(0,))
        if ws.ndim == 1 and ws.shape != (c,):
            raise _fail(path, f"w_scale: shape {list(ws.shape)} is not allowed; allowed: a "
                              f"scalar or [{c}]")
        try:
            return layer_multipliers(float(xs), ws if ws.ndim else float(ws), float(ys))
        except ValueError as exc:
            raise _fail(path, str(exc)) from None
    missing = [k for k, h in zip(("m0", "shift"), have_m) if not h] if any(have_m) else \
        [k for k, h in zip(("x_scale", "w_scale", "y_scale"), have_s) if not h]
    raise _fail(path, f"missing key {missing[0]!r}; required: m0 and shift, or x_scale, "
                      f"w_scale and y_scale")


def _activation(path: Path, d: dict, cfg: DatapathConfig, hp, y_zp: int) -> tuple[int, int]:
    """``(act_min, act_max)`` from ``activation`` or the explicit bounds; checks ``rounding``."""
    from golden.layer import activation_range
    if "rounding" in d:
        r = _scalar_str(path, d, "rounding")
        if r != cfg.rounding:
            raise _fail(path, f"rounding={abbrev(r, 20)} but {cfg.name} rounds {cfg.rounding!r};"
                              f" allowed: {cfg.rounding!r} (use a configuration with "
                              f"requant.rounding: {abbrev(r, 20)})")
    olo, ohi = hp.out_range
    act_min, act_max = olo, ohi
    if "activation" in d:
        act = _scalar_str(path, d, "activation")
        if "y_scale" not in d:
            raise _fail(path, "activation needs y_scale; or give act_min and act_max")
        ys = _float_array(path, d, "y_scale", ndim=(0,))
        try:
            act_min, act_max = activation_range(act, float(ys), y_zp,
                                                out_bits=hp.out_bits, out_signed=hp.out_signed)
        except ValueError as exc:
            raise _fail(path, f"activation: {exc}") from None
    for key in ("act_min", "act_max"):
        if key in d:
            v = _int_array(path, d, key, ndim=(0,))
            _range(path, key, v, olo, ohi, f"the {hp.out_bits}-bit output range")
            if key == "act_min":
                act_min = int(v)
            else:
                act_max = int(v)
    if act_min > act_max:
        raise _fail(path, f"act_min={act_min} > act_max={act_max}; allowed: act_min <= act_max")
    return act_min, act_max


def _reference(path: Path, d: dict, b: int, c: int):
    """``(y_tflite or None, kernel text)``: an external reference, if the file has one."""
    y_ref, kernel = None, ""
    if "y_tflite" in d:
        y_ref = _int_array(path, d, "y_tflite", ndim=(2,))
        if y_ref.shape != (b, c):
            raise _fail(path, f"y_tflite: shape {list(y_ref.shape)} is not allowed; allowed: "
                              f"[{b}, {c}] (B x C)")
    if "kernel" in d:
        kernel = _scalar_str(path, d, "kernel")
    return y_ref, kernel


def _golden(cfg: DatapathConfig, hp, res: ResolvedLayer):
    """``(y, ovf, y_tflite, crossbar)``: the configured hardware's golden result, TFLite's
    literal int32 reference (or None) and, on crossbar tops, ``Model.crossbar_layer``'s
    dict (``y_mac``, error statistics ``dot`` / ``out``), else None."""
    from golden.datapath import fully_connected
    from tb.model import Model
    model = Model(hp)
    c = res.folded.shape[2]
    crossbar = None
    if hp.is_crossbar:
        # as tb.model.Model.expected for one layer: trims 0, read noise from its seed
        from golden.crossbar import noise_streams
        noise = hp.xb_noise()
        rng = noise_streams(noise.seed)[1] if noise.read_sigma else None
        d = model.crossbar_layer(res.folded, read_rng=rng)
        y, ovf = d["y"], d["ovf"]
        crossbar = {"y_mac": model.layer(res.folded)[0][:, :c], "dot": d["dot"],
                    "out": d["out"]}
    else:
        y, ovf = model.layer(res.folded)
    L = res.layer
    y_tflite = None
    a16 = cfg.rounding == "single16"   # TFLite's 16x8 kernels: int64 accumulator
    if L.bias is None or a16 or (np.abs(np.asarray(L.bias)) < 2**31).all():
        try:
            y_tflite = fully_connected(L.x, L.w, bias=L.bias, x_zp=L.x_zp, w_zp=L.w_zp,
                                       m0=L.m0, shift=L.shift, y_zp=L.y_zp,
                                       act_min=L.act_min, act_max=L.act_max,
                                       rounding=cfg.rounding, acc_bits=48 if a16 else 32)
        except ValueError:
            y_tflite = None
    return y[:, :c], ovf[:, :c], y_tflite, crossbar


def run_verify(cfg: DatapathConfig, *, vectors_path, sims, out_path=None, outdir="out/verify",
               build_root=None, stream: TextIO | None = None, timeout: float | None = None) -> int:
    """Run ``vectors_path`` through hardware (each of ``sims``) and golden; 0 iff equal.

    Steps: validate the file and the output paths (exit 2 before any tool work), find the
    simulators, generate, compute golden, run each simulator (:func:`_run_hw`), compare
    (:func:`_compare`), write ``OUT.npz`` atomically (:func:`_write_result`).
    """
    from .regress import default_build_root, prepare
    from .runner import hw_params_for
    from .tools import require_simulators

    out = stream or sys.stdout
    vectors_path = Path(vectors_path)
    outdir = Path(outdir).resolve()
    build_root = Path(build_root).resolve() if build_root else default_build_root(outdir)
    sims = list(dict.fromkeys(sims or ["verilator"]))
    # validate the file and where results go before any (slow) tool work: exit 2 at once
    res = load_vectors(vectors_path, cfg, hw_params_for(cfg.to_dict(), None, ""))
    out_path = Path(out_path) if out_path is not None else \
        outdir / f"{vectors_path.stem}.out.npz"
    check_output_path(out_path, what="verify output (-o)")
    check_output_path(outdir, what="verify work directory (--workdir)", directory=True)
    found, missing = require_simulators(sims)
    for name, reason in missing.items():
        sys.stderr.write(f"qmac: warning: skipping {name}: {reason}\n")
    prep = prepare(cfg, build_root)
    b, k, c = res.folded.shape
    metrics: dict[str, Any] = {
        "vectors": str(vectors_path), "config": cfg.name, "config_source": str(cfg.source),
        "B": b, "K": k, "C": c, "per_tensor": bool(res.folded.per_tensor),
        "y_zp": int(res.folded.y_zp), "act_min": int(res.folded.act_min),
        "act_max": int(res.folded.act_max), "rounding": cfg.rounding,
        "skipped_simulators": dict(missing), "sims": {}}
    out.write(f"qmac verify: {show_path(vectors_path)} on {cfg.name} ({cfg.source}): B={b} "
              f"K={k} C={c}, {'per-tensor' if res.folded.per_tensor else 'per-channel'}, "
              f"y_zp={res.folded.y_zp} act=[{res.folded.act_min}, {res.folded.act_max}], "
              f"rounding {cfg.rounding}\n")
    gold = _golden(cfg, prep.hp, res)
    metrics.update(_golden_notes(cfg, gold, out))
    work = outdir / prep.tag
    work.mkdir(parents=True, exist_ok=True)
    layer_path = _write_layer(work / "layer.npz", res.folded)
    results: dict[str, np.ndarray] = {}
    status = 0
    for sim in [s for s in sims if s in found]:
        rec = metrics["sims"][sim] = {}
        y_hw, ok = _run_hw(sim, prep, layer_path, work, build_root, timeout, b, k, c, gold, out,
                           rec)
        if y_hw is not None:
            results[sim] = y_hw
            ok = _compare_reference(sim, y_hw, res, vectors_path, gold, out, rec) and ok
        rec["pass"] = bool(ok)
        status = status or (0 if ok else 1)
    if not results:
        status = 1
    metrics.update(status=status, result="PASS" if status == 0 else "FAIL")
    _write_result(out_path, res, gold, results, out, metrics)
    out.write(f"qmac verify: {'PASS' if status == 0 else 'FAIL'}\n")
    return status


def _golden_notes(cfg: DatapathConfig, gold, out: TextIO) -> dict:
    """Where the configured datapath's golden differs from the crossbar's or TFLite's
    (printed, and returned as the JSON metrics ``crossbar`` / ``golden_vs_tflite_diff``)."""
    y_golden, _, y_tflite, crossbar = gold
    y_ref_note = ""
    notes: dict[str, Any] = {"crossbar": None, "golden_vs_tflite_diff": None}
    if crossbar is not None:
        n = int((crossbar["y_mac"] != y_golden).sum())
        notes["crossbar"] = {"outputs_differing_from_mac": n, "outputs": int(y_golden.size),
                             "dot": crossbar["dot"].to_dict(),
                             "out": crossbar["out"].to_dict()}
        out.write(f"  crossbar: y_golden is golden/crossbar.py's model of the tile; "
                  f"{n} of {y_golden.size} outputs differ from the MAC-array datapath's\n"
                  f"  crossbar error vs exact: dot products {crossbar['dot'].format()}; "
                  f"outputs {crossbar['out'].format()}\n")
        y_ref_note = "the crossbar's ADC/noise or "
    if y_tflite is not None:
        notes["golden_vs_tflite_diff"] = int((y_tflite != y_golden).sum())
    if y_tflite is not None and not np.array_equal(y_tflite, y_golden):
        n = int((y_tflite != y_golden).sum())
        out.write(f"  note: {n} outputs of the configured datapath (acc_bits={cfg.acc_bits}, "
                  f"{cfg.overflow}) differ from TFLite's int32 reference ({y_ref_note}"
                  f"accumulator overflow or int32-undefined left shifts); y_golden models the "
                  f"hardware\n")
    return notes


def _write_layer(path: Path, F) -> Path:
    """The folded layer for tb/cocotb_verify.py (written atomically)."""
    atomic_write(path, lambda f: np.savez(f, x=F.x, w=F.w, bias=F.bias, m0=F.m0,
                                          shift=F.shift, y_zp=F.y_zp, act_min=F.act_min,
                                          act_max=F.act_max, per_tensor=F.per_tensor,
                                          name=F.name))
    return path


def _run_hw(sim, prep, layer_path, work, build_root, timeout, b, k, c, gold, out, rec):
    """Build and run ``sim`` on the layer; ``(y_hw or None, matched golden)``. What it
    prints also goes into ``rec`` (the simulator's entry of ``OUT.json``)."""
    from .runner import BuildError, build, run_test
    hp = prep.hp
    y_golden = gold[0]
    try:
        bld = build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=hp,
                    sim=sim, build_root=build_root, tag=prep.tag)
    except BuildError as exc:
        out.write(f"qmac verify: {sim}: {exc}\n")
        rec.update(outcome="build error", message=str(exc))
        return None, False
    hw_out = work / f"{sim}.hw.npz"
    if hw_out.exists():
        hw_out.unlink()
    beats = b * -(-c // hp.cols) * -(-k // hp.rows)
    limit = timeout or (600.0 + beats * (0.001 if sim == "verilator" else 0.2))
    run = run_test(bld, module="tb.cocotb_verify", test_dir=work / sim, seed=1, vectors=b,
                   timeout=limit, log_name="verify",
                   extra_env={"QMAC_VERIFY_LAYER": str(layer_path),
                              "QMAC_VERIFY_OUT": str(hw_out)})
    rec.update(wall_s=round(run.wall, 3), log=str(run.log_path))
    if not hw_out.exists():
        out.write(f"qmac verify: {sim}: no hardware output ({run.status}: {run.message})\n")
        rec.update(outcome="no output", message=f"{run.status}: {run.message}")
        return None, False
    with np.load(hw_out) as f:
        hw = {key: f[key] for key in f.files}
    y_hw = hw["y_hw"]
    diff = np.argwhere(y_hw != y_golden)
    missing_beats = int(hw["expected_beats"]) - int(hw["beats"])
    rec.update(outputs=int(y_hw.size), mismatches=int(len(diff)), missing_beats=missing_beats,
               unknown_beats=int(hw["unknown"]), cycles=int(hw["cycles"]),
               first_mismatches=[{"b": int(bi), "c": int(ci), "golden": int(y_golden[bi, ci]),
                                  "hardware": int(y_hw[bi, ci])} for bi, ci in diff[:8]])
    if diff.size or missing_beats or int(hw["unknown"]):
        out.write(f"qmac verify: {sim}: MISMATCH: {len(diff)} of {y_hw.size} outputs differ"
                  + (f", {missing_beats} output beats missing" if missing_beats else "")
                  + (f", {int(hw['unknown'])} beats with X/Z" if int(hw["unknown"]) else "")
                  + f"; log {run.log_path}\n")
        for bi, ci in diff[:8]:
            out.write(f"    y[{bi}, {ci}]: golden {int(y_golden[bi, ci])}, hardware "
                      f"{int(y_hw[bi, ci])}\n")
        rec["outcome"] = "mismatch"
        return y_hw, False
    rec["outcome"] = "match"
    out.write(f"qmac verify: {sim}: {y_hw.size} outputs ({b}x{c}) match golden "
              f"bit-exactly ({int(hw['cycles'])} cycles, {run.wall:.1f} s)\n")
    return y_hw, True


def _compare_reference(sim, y_hw, res: ResolvedLayer, vectors_path: Path, gold, out,
                       rec) -> bool:
    """Compare with the file's ``y_tflite`` (if any); False on an unexcused difference.

    Where the crossbar's golden differs from the exact datapath (its ADC / noise), a
    difference from TFLite is expected; anywhere else it is a failure.
    """
    if res.y_ref is None:
        return True
    y_golden, crossbar = gold[0], gold[3]
    lossy = int((crossbar["y_mac"] != y_golden).sum()) if crossbar is not None else 0
    nref = int((y_hw != res.y_ref).sum())
    excused = (y_golden != crossbar["y_mac"]) if crossbar is not None else None
    unexcused = int(((y_hw != res.y_ref) & ~excused).sum()) if lossy else nref
    name = show_path(vectors_path.name)
    kernel = f" ({res.kernel})" if res.kernel else ""
    rec["y_tflite"] = {"differing": nref, "unexcused": unexcused, "excused": nref - unexcused,
                       "kernel": res.kernel or None, "pass": not unexcused}
    if nref and not unexcused:
        out.write(f"qmac verify: {sim}: {nref} outputs differ from y_tflite in {name}, all "
                  f"where this crossbar's golden differs from the exact datapath ({lossy} "
                  f"outputs): expected\n")
        return True
    if nref:
        out.write(f"qmac verify: {sim}: {unexcused} outputs differ from y_tflite in {name}"
                  + kernel + (" where the crossbar's golden equals the exact datapath"
                              if lossy else "") + "\n")
        return False
    out.write(f"qmac verify: {sim}: matches y_tflite in {name} bit-exactly{kernel}\n")
    return True


def _write_result(out_path: Path, res: ResolvedLayer, gold, results: dict, out,
                  metrics: dict) -> None:
    """``OUT.npz`` and ``OUT.json`` (the printed figures), written atomically (no partial
    file on a full disk)."""
    y_golden, ovf_golden, y_tflite, crossbar = gold
    F = res.folded
    payload: dict[str, Any] = {
        "y_golden": y_golden, "m0": res.m0, "shift": res.shift, "ovf_golden": ovf_golden,
        "act_min": np.int64(F.act_min), "act_max": np.int64(F.act_max),
    }
    if results:
        payload["y_hw"] = next(iter(results.values()))
        if len(results) > 1:
            for s, y in results.items():
                payload[f"y_hw_{s}"] = y
    if y_tflite is not None:
        payload["y_tflite"] = y_tflite
    if crossbar is not None:
        payload["y_mac"] = crossbar["y_mac"]
    atomic_write(out_path, lambda f: np.savez(f, **payload))
    json_path = out_path.with_suffix(".json" if out_path.suffix != ".json" else ".out.json")
    text = json.dumps(metrics, indent=1, default=str) + "\n"
    atomic_write(json_path, lambda f: f.write(text.encode()))
    out.write(f"qmac verify: wrote {show_path(out_path)} ({', '.join(sorted(payload))}) and "
              f"{show_path(json_path)}\n")
