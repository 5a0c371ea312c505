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

Any problem with the file raises :class:`~sim.errors.VectorError` with one line (exit 2);
a mismatch between hardware and golden returns 1, and so does a difference from the file's
``y_tflite`` — except on a crossbar whose golden differs from the exact datapath for this
layer (lossy ADC, noise), where that difference is reported and expected.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .config import DatapathConfig
from .errors import VectorError

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
    return VectorError(f"{path}: {msg}")


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
        raise _fail(path, f"{key}: value {int(a.max())} is out of range")
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
        raise _fail(path, f"{key}: {a!r} is not allowed; allowed: a string")
    return str(a.item() if a.dtype.kind == "U" else a.item().decode())


def load_vectors(path: str | Path, cfg: DatapathConfig, hp) -> ResolvedLayer:
    """Read and validate ``IN.npz`` against ``cfg``; raises :class:`VectorError`."""
    from golden.layer import activation_range, layer_multipliers
    from tb.layers import FcLayer, LayerError

    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such file; allowed: an .npz file written by numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as npz:
            d = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise _fail(path, f"cannot read it as .npz ({str(exc).splitlines()[0][:80]}); "
                          f"allowed: a file written by numpy.savez") from None
    unknown = [k for k in d if k not in ALLOWED_KEYS + REFERENCE_KEYS]
    if unknown:
        raise _fail(path, f"unknown key {unknown[0]!r}; allowed: "
                          f"{', '.join(ALLOWED_KEYS + REFERENCE_KEYS)}")
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
    b, k = x.shape
    c = w.shape[0]
    xlo, xhi = hp.x_range
    _range(path, "x", x, xlo, xhi, f"{hp.bits}-bit {'signed' if hp.input_signed else 'unsigned'}"
                                   f" inputs of {cfg.name} (--bits {hp.bits})")
    x_zp = _int_array(path, d, "x_zp", ndim=(0,))
    y_zp = _int_array(path, d, "y_zp", ndim=(0,))
    _range(path, "x_zp", x_zp, xlo, xhi, "the input range")
    olo, ohi = hp.out_range
    _range(path, "y_zp", y_zp, olo, ohi, f"the {hp.out_bits}-bit output range")
    w_zp = _int_array(path, d, "w_zp", ndim=(0,)) if "w_zp" in d else np.int64(0)
    _range(path, "w", w, -(2**15), 2**16 - 1, "16-bit weights; w - w_zp is checked "
                                                 "against the configured width")
    if "bias" in d:
        bias = _int_array(path, d, "bias", ndim=(1,))
        if bias.shape != (c,):
            raise _fail(path, f"bias: shape {list(bias.shape)} is not allowed; allowed: [{c}] "
                              f"(one per output channel)")
        _range(path, "bias", bias, -(2**31), 2**31 - 1, "int32")
    else:
        bias = np.zeros(c, np.int64)
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
    elif all(have_s):
        xs = _float_array(path, d, "x_scale", ndim=(0,))
        ws = _float_array(path, d, "w_scale", ndim=(0, 1))
        ys = _float_array(path, d, "y_scale", ndim=(0,))
        if ws.ndim == 1 and ws.shape != (c,):
            raise _fail(path, f"w_scale: shape {list(ws.shape)} is not allowed; allowed: a "
                              f"scalar or [{c}]")
        try:
            m0, shift = layer_multipliers(float(xs), ws if ws.ndim else float(ws), float(ys))
        except ValueError as exc:
            raise _fail(path, str(exc)) from None
    else:
        missing = [k for k, h in zip(("m0", "shift"), have_m) if not h] if any(have_m) else \
            [k for k, h in zip(("x_scale", "w_scale", "y_scale"), have_s) if not h]
        raise _fail(path, f"missing key {missing[0]!r}; required: m0 and shift, or x_scale, "
                          f"w_scale and y_scale")
    if "rounding" in d:
        r = _scalar_str(path, d, "rounding")
        if r != cfg.rounding:
            raise _fail(path, f"rounding={r!r} but {cfg.name} rounds {cfg.rounding!r}; allowed: "
                              f"{cfg.rounding!r} (use a configuration with requant.rounding: {r})")
    act_min, act_max = olo, ohi
    if "activation" in d:
        act = _scalar_str(path, d, "activation")
        if "y_scale" not in d:
            raise _fail(path, "activation needs y_scale; or give act_min and act_max")
        try:
            act_min, act_max = activation_range(act, float(d["y_scale"]), int(y_zp),
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
    layer = FcLayer(x=x, w=w, bias=bias, x_zp=int(x_zp), w_zp=int(w_zp), m0=m0, shift=shift,
                    y_zp=int(y_zp), act_min=act_min, act_max=act_max, name=path.name)
    try:
        folded = layer.fold(hp)
    except (LayerError, ValueError) as exc:
        msg = str(exc)
        if msg.startswith(path.name + ": "):
            msg = msg[len(path.name) + 2:]
        raise _fail(path, msg) from None
    y_ref, kernel = None, ""
    if "y_tflite" in d:
        y_ref = _int_array(path, d, "y_tflite", ndim=(2,))
        if y_ref.shape != (b, c):
            raise _fail(path, f"y_tflite: shape {list(y_ref.shape)} is not allowed; allowed: "
                              f"[{b}, {c}] (B x C)")
    if "kernel" in d:
        kernel = _scalar_str(path, d, "kernel")
    return ResolvedLayer(layer, folded, np.asarray(m0, np.int64), np.asarray(shift, np.int64),
                         str(path), y_ref, kernel)


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
    if L.bias is None or (np.abs(np.asarray(L.bias)) < 2**31).all():
        try:
            y_tflite = fully_connected(L.x, L.w, bias=L.bias, x_zp=L.x_zp, w_zp=L.w_zp,
                                       m0=L.m0, shift=L.shift, y_zp=L.y_zp,
                                       act_min=L.act_min, act_max=L.act_max,
                                       rounding=cfg.rounding, acc_bits=32)
        except ValueError:
            y_tflite = None
    return y[:, :c], ovf[:, :c], y_tflite, crossbar


def run_verify(cfg: DatapathConfig, *, vectors_path, sims, out_path=None, outdir="out/verify",
               build_root=None, stream: TextIO | None = None, timeout: float | None = None) -> int:
    """Run ``vectors_path`` through hardware (each of ``sims``) and golden; 0 iff equal."""
    from .regress import default_build_root, prepare
    from .runner import BuildError, build, run_test
    from .tools import require_simulators

    out = stream or sys.stdout
    vectors_path = Path(vectors_path)
    outdir = Path(outdir).resolve()
    build_root = Path(build_root).resolve() if build_root else default_build_root(outdir)
    sims = list(dict.fromkeys(sims or ["verilator"]))
    # validate the file before any (slow) tool work: bad input is exit 2 at once
    from .runner import hw_params_for
    hp0 = hw_params_for(cfg.to_dict(), None, "")
    res = load_vectors(vectors_path, cfg, hp0)
    found, missing = require_simulators(sims)
    for name, reason in missing.items():
        sys.stderr.write(f"qmac: warning: skipping {name}: {reason}\n")
    prep = prepare(cfg, build_root)
    hp = prep.hp
    b, k, c = res.folded.shape
    out.write(f"qmac verify: {vectors_path} on {cfg.name} ({cfg.source}): B={b} K={k} C={c}, "
              f"{'per-tensor' if res.folded.per_tensor else 'per-channel'}, "
              f"y_zp={res.folded.y_zp} act=[{res.folded.act_min}, {res.folded.act_max}], "
              f"rounding {cfg.rounding}\n")
    y_golden, ovf_golden, y_tflite, crossbar = _golden(cfg, hp, res)
    if crossbar is not None:
        n = int((crossbar["y_mac"] != y_golden).sum())
        out.write(f"  crossbar: y_golden is golden/crossbar.py's model of the tile; "
                  f"{n} of {y_golden.size} outputs differ from the MAC-array datapath's\n"
                  f"  crossbar error vs exact: dot products {crossbar['dot'].format()}; "
                  f"outputs {crossbar['out'].format()}\n")
        y_ref_note = "the crossbar's ADC/noise or "
        lossy = n
    else:
        y_ref_note, lossy = "", 0
    if y_tflite is not None and not np.array_equal(y_tflite, y_golden):
        n = int((y_tflite != y_golden).sum())
        out.write(f"  note: {n} outputs of the configured datapath (acc_bits={cfg.acc_bits}, "
                  f"{cfg.overflow}) differ from TFLite's int32 reference ({y_ref_note}"
                  f"accumulator overflow or int32-undefined left shifts); y_golden models the "
                  f"hardware\n")
    work = outdir / prep.tag
    work.mkdir(parents=True, exist_ok=True)
    layer_path = work / "layer.npz"
    F = res.folded
    np.savez(layer_path, x=F.x, w=F.w, bias=F.bias, m0=F.m0, shift=F.shift, y_zp=F.y_zp,
             act_min=F.act_min, act_max=F.act_max, per_tensor=F.per_tensor, name=F.name)
    results: dict[str, np.ndarray] = {}
    status = 0
    for sim in [s for s in sims if s in found]:
        try:
            bld = build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=hp,
                        sim=sim, build_root=build_root, tag=prep.tag)
        except BuildError as exc:
            out.write(f"qmac verify: {sim}: {exc}\n")
            status = 1
            continue
        hw_out = work / f"{sim}.hw.npz"
        if hw_out.exists():
            hw_out.unlink()
        beats = b * -(-c // hp.cols) * -(-k // hp.rows)
        limit = timeout or (600.0 + beats * (0.001 if sim == "verilator" else 0.2))
        run = run_test(bld, module="tb.cocotb_verify", test_dir=work / sim, seed=1, vectors=b,
                       timeout=limit, log_name="verify",
                       extra_env={"QMAC_VERIFY_LAYER": str(layer_path),
                                  "QMAC_VERIFY_OUT": str(hw_out)})
        if not hw_out.exists():
            out.write(f"qmac verify: {sim}: no hardware output ({run.status}: {run.message})\n")
            status = 1
            continue
        with np.load(hw_out) as f:
            hw = {k: f[k] for k in f.files}
        y_hw = hw["y_hw"]
        results[sim] = y_hw
        diff = np.argwhere(y_hw != y_golden)
        missing_beats = int(hw["expected_beats"]) - int(hw["beats"])
        if diff.size or missing_beats or int(hw["unknown"]):
            status = 1
            out.write(f"qmac verify: {sim}: MISMATCH: {len(diff)} of {y_hw.size} outputs differ"
                      + (f", {missing_beats} output beats missing" if missing_beats else "")
                      + (f", {int(hw['unknown'])} beats with X/Z" if int(hw["unknown"]) else "")
                      + f"; log {run.log_path}\n")
            for bi, ci in diff[:8]:
                out.write(f"    y[{bi}, {ci}]: golden {int(y_golden[bi, ci])}, hardware "
                          f"{int(y_hw[bi, ci])}\n")
        else:
            out.write(f"qmac verify: {sim}: {y_hw.size} outputs ({b}x{c}) match golden "
                      f"bit-exactly ({int(hw['cycles'])} cycles, {run.wall:.1f} s)\n")
        if res.y_ref is not None:
            nref = int((y_hw != res.y_ref).sum())
            # where the crossbar's golden differs from the exact datapath (its ADC / noise),
            # a difference from TFLite is expected; anywhere else it is a failure
            excused = (y_golden != crossbar["y_mac"]) if crossbar is not None else None
            unexcused = int(((y_hw != res.y_ref) & ~excused).sum()) if lossy else nref
            if nref and not unexcused:
                out.write(f"qmac verify: {sim}: {nref} outputs differ from y_tflite in "
                          f"{vectors_path.name}, all where this crossbar's golden differs "
                          f"from the exact datapath ({lossy} outputs): expected\n")
            elif nref:
                status = 1
                out.write(f"qmac verify: {sim}: {unexcused} outputs differ from y_tflite in "
                          f"{vectors_path.name}" + (f" ({res.kernel})" if res.kernel else "")
                          + (" where the crossbar's golden equals the exact datapath"
                             if lossy else "") + "\n")
            else:
                out.write(f"qmac verify: {sim}: matches y_tflite in {vectors_path.name} "
                          f"bit-exactly" + (f" ({res.kernel})" if res.kernel else "") + "\n")
    if not results:
        status = 1
    if out_path is None:
        out_path = outdir / f"{vectors_path.stem}.out.npz"
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "y_golden": y_golden, "m0": res.m0, "shift": res.shift, "ovf_golden": ovf_golden,
        "act_min": np.int64(F.act_min), "act_max": np.int64(F.act_max),
    }
    if results:
        first = next(iter(results))
        payload["y_hw"] = results[first]
        if len(results) > 1:
            for s, y in results.items():
                payload[f"y_hw_{s}"] = y
    if y_tflite is not None:
        payload["y_tflite"] = y_tflite
    if crossbar is not None:
        payload["y_mac"] = crossbar["y_mac"]
    tmp = out_path.with_name(out_path.name + ".tmp.npz")
    np.savez(tmp, **payload)
    os.replace(tmp, out_path)
    out.write(f"qmac verify: wrote {out_path} ({', '.join(sorted(payload))})\n")
    out.write(f"qmac verify: {'PASS' if status == 0 else 'FAIL'}\n")
    return status
