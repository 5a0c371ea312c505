"""``qmac run``: a quantized ``.tflite`` model through golden, the generated hardware and TFLite.

Flow (docs/lowering.md):

1. :func:`golden.tflite_import.load_tflite` + :func:`golden.ops.check_graph` — a bad file or
   an unsupported op is one line, exit 2, before anything is written.
2. Inputs: ``--inputs X.npy`` (``[N, ...]`` of the model input's shape and dtype, or a
   single ``[1, ...]``) or seeded random codes of the input quantization.
3. Golden: every op of every image (:func:`golden.ops.run_graph`, the configuration's
   rounding).
4. Hardware: every FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D is lowered
   (:mod:`golden.lowering`) on golden's input of that op, folded for the configuration and
   run through the generated RTL on the fast path (``tb/cocotb_model.py``), all images of an
   op in one program; every output lane is checked (hw == golden).
5. ``--compare tflite``: the interpreter on the path whose rounding the configuration has
   (:mod:`sim.tflite_ref`); each golden op is also evaluated on TFLite's own inputs and
   compared with TFLite's output, every difference explained or counted.

Results: a per-layer table, totals, ``report.json`` and ``layers.npz`` under ``-o``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .errors import UserError
from .run_report import (build_report, crossbar_summary, extra_summary, format_table,
                         write_outputs)

__all__ = ["run_model", "ModelRun"]


class ModelError(UserError):
    """A bad model, inputs or labels file (one line, exit 2)."""


@dataclasses.dataclass
class LayerRow:
    index: int
    op: str
    shapes: str
    macs: int = 0
    cycles: int = 0
    outputs: int = 0
    hw_diff: int | None = None      # None: not a hardware op
    tfl_diff: int | None = None     # None: not compared
    max_delta: float = 0.0
    note: str = ""
    sqnr_db: float | None = None    # crossbar: tile vs exact datapath (None = exact)
    xb_diff: int | None = None      # crossbar: outputs differing from the exact datapath


@dataclasses.dataclass
class ModelRun:
    rows: list[LayerRow]
    status: int
    report: dict[str, Any]


def _load_graph(path):
    from golden.graph import GraphError
    from golden.ops import check_graph
    from golden.tflite_import import load_tflite
    try:
        g = load_tflite(path)
        check_graph(g)
    except GraphError as exc:
        raise ModelError(str(exc)) from None
    if len(g.inputs) != 1:
        raise ModelError(f"{path}: {len(g.inputs)} inputs; allowed: models with one input")
    return g


def _npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ModelError(f"{path}: cannot read it as .npy ({str(exc).splitlines()[0][:60]}); "
                         f"allowed: a {what} written by numpy.save") from None


def make_inputs(g, *, inputs_path, count, seed) -> np.ndarray:
    """``[N, *shape[1:]]`` in the input tensor's dtype (validated or seeded random)."""
    t = g.input_tensors()[0]
    shape = tuple(t.shape)
    dtype = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16,
             "float32": np.float32}.get(t.dtype)
    if dtype is None:
        raise ModelError(f"{g.source}: input tensor is {t.dtype}; allowed: int8, uint8, int16, "
                         f"float32")
    if inputs_path is not None:
        x = _npy(inputs_path, f"{np.dtype(dtype).name} array")
        if x.dtype != dtype or x.shape[1:] != shape[1:] or x.ndim != len(shape) or not x.shape[0]:
            raise ModelError(f"{inputs_path}: {x.dtype} {list(x.shape)} does not fit the model "
                             f"input; allowed: {np.dtype(dtype).name} [N, "
                             f"{', '.join(map(str, shape[1:]))}] with N >= 1")
        return x[:count] if count else x
    rng = np.random.default_rng(seed)
    n = count or 1
    if dtype is np.float32:  # codes of the QUANTIZE that reads the input, dequantized
        q = next((g.tensor(op.outputs[0]).quant for op in g.ops
                  if op.name == "QUANTIZE" and op.inputs[0] == t.index), None)
        codes = rng.integers(-128, 128, size=(n,) + shape[1:])
        if q is None:
            return rng.standard_normal((n,) + shape[1:]).astype(np.float32)
        return ((codes - q.zp) * np.float32(q.s)).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=(n,) + shape[1:]).astype(dtype)


def _labels(path, n):
    if path is None:
        return None
    y = _npy(path, "integer label array")
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1 or y.shape[0] < n:
        raise ModelError(f"{path}: {y.dtype} {list(y.shape)}; allowed: integer labels [N] "
                         f"with N >= {n} (one per image)")
    return y[:n]


def _golden_all(g, xs, rounding, bar, hp=None, per_op=None):
    """Every image through golden. On a crossbar ``hp`` the hardware ops are the model of
    the configured tile (``golden.crossbar`` via ``tb.model``): the chain the hardware must
    reproduce; elsewhere TFLite's exact integer arithmetic — with ``per_op`` (``{operator
    index: configuration}``, ``--layer-config``) in the rounding of each op's hardware."""
    from golden.ops import run_graph
    kernels = None
    if per_op:
        kernels = {name: _per_op_kernel(per_op) for name in
                   ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")}
    elif hp is not None and hp.is_crossbar:
        kernels = {name: _crossbar_kernel(hp) for name in
                   ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")}
    vals = []
    for i, x in enumerate(xs):
        vals.append(run_graph(g, [x[None]], rounding=rounding, kernels=kernels))
        bar(f"golden image {i + 1}/{len(xs)}")
    return vals


def _crossbar_kernel(hp):
    def kernel(g, op, values, rounding):
        from golden.ops.conv import lower_op
        low = lower_op(g, op, values[op.inputs[0]], group=hp.cols,
                       k_limit=hp.rows * hp.weight_tiles)
        out = low.assemble(list(_hw_products(low, hp)))
        return [out.reshape(g.tensor(op.outputs[0]).shape)]
    return kernel


def _hw_products(low, hp):
    """What the configured hardware must output for each product of ``low``: TFLite's
    int32 arithmetic on a MAC array, ``golden.crossbar``'s tile model on a crossbar (a
    product that does not fit the configuration: the exact arithmetic)."""
    from golden.datapath import fully_connected
    from tb.layers import LayerError
    from tb.model import Model
    from tb.model_layers import fold_matmul
    model = Model(hp) if hp.is_crossbar else None
    for L in low.layers:
        if model is not None:
            try:
                folded, off = fold_matmul(hp, L)
                yield model.crossbar_layer(folded)["y"][:, :L.shape[2]] + off
                continue
            except LayerError:
                pass
        yield fully_connected(L.x, L.w, bias=L.bias, x_zp=L.x_zp, w_zp=L.w_zp, m0=L.m0,
                              shift=L.shift, y_zp=L.y_zp, act_min=L.act_min,
                              act_max=L.act_max, rounding=hp.rounding, acc_bits=L.acc_bits)


def _lower_all(g, vals, hp, rows_by_op):
    """Per hardware op: the folded products (images stacked) and their golden outputs."""
    from golden.ops.conv import lower_op
    from tb.model_layers import fold_matmul
    groups, golden, lowered, offsets = [], [], [], []
    for op in g.ops:
        if op.name not in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D") \
                or op.index not in rows_by_op:   # --layer-config: another configuration's op
            continue
        x = np.concatenate([v[op.inputs[0]] for v in vals], axis=0)
        low = lower_op(g, op, x, group=hp.cols, k_limit=hp.rows * hp.weight_tiles)
        row = rows_by_op[op.index]
        row.macs = low.useful_macs
        try:
            pairs = [fold_matmul(hp, L) for L in low.layers]
        except ValueError as exc:   # LayerError (does not fit) or a range check
            row.note = f"not run on hardware: {exc}"
            continue
        groups.append((f"op{op.index}", [f for f, _ in pairs]))
        offsets.append([o for _, o in pairs])
        golden.append(list(_hw_products(low, hp)))
        lowered.append((op, low))
        if hp.is_crossbar:   # error of the tile against the exact datapath, same inputs
            from golden.ops.conv import run_lowered
            from tb.model import ErrorStats
            exact = run_lowered(low, hp.rounding)
            zp = low.layers[0].y_zp
            st = ErrorStats.of(exact - zp, low.assemble(golden[-1]) - zp)
            row.sqnr_db = st.sqnr_db
            row.xb_diff = int((exact != low.assemble(golden[-1])).sum())
    return groups, golden, lowered, offsets


def _beats(hp, groups) -> int:
    return sum(L.shape[0] * -(-L.shape[2] // hp.cols) * -(-L.shape[1] // hp.rows)
               for _, ls in groups for L in ls)


def _run_hw(cfg, prep, sim, groups, workdir, build_root, seed, driver="cocotb", golden=None):
    if driver == "direct":
        return _run_hw_direct(prep, sim, groups, workdir, build_root, golden)
    from tb.model_layers import save_groups
    from .runner import BuildError, build, run_test
    layers_path = workdir / "layers.in.npz"
    out_path = workdir / f"{sim}.hw.npz"
    save_groups(layers_path, groups)
    if out_path.exists():
        out_path.unlink()
    try:
        bld = build(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=prep.hp,
                    sim=sim, build_root=build_root, tag=prep.tag)
    except BuildError as exc:
        return None, f"{sim}: build failed: {exc}", 0.0
    beats = _beats(prep.hp, groups)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    run = run_test(bld, module="tb.cocotb_model", test_dir=workdir / sim, seed=seed, vectors=1,
                   timeout=600.0 + beats * (0.002 if sim == "verilator" else 0.5),
                   log_name="model", extra_env={"QMAC_MODEL_LAYERS": str(layers_path),
                                                "QMAC_MODEL_OUT": str(out_path),
                                                # rewrite only the test module's asserts:
                                                # the default "*.py" rewrites numpy too
                                                # (~1.8 s of CPU at every start)
                                                "COCOTB_REWRITE_ASSERTION_FILES":
                                                    "cocotb_*.py",
                                                # the golden model's small matmuls: one
                                                # BLAS thread (no spinning helpers)
                                                "OPENBLAS_NUM_THREADS": "1"})
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if not out_path.exists():
        return None, f"{sim}: no hardware output ({run.status}: {run.message})", wall
    with np.load(out_path) as f:
        hw = {k: f[k] for k in f.files}
    hw["_sim_wall"] = sum(r.get("wall", 0.0) for r in run.records)
    hw["_status"] = run.status
    hw["_cpu"] = cpu
    hw["_driver"] = "cocotb"
    return hw, "", wall


def _run_hw_direct(prep, sim, groups, workdir, build_root, golden):
    """The hardware step on one serving simulator process, no cocotb (sim/hwstep.py);
    ``golden``: per group, the golden outputs of its layers in folded codes."""
    from .hwstep import ServeError, run_step
    from .runner import BuildError, build_native
    try:
        program = build_native(verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel,
                               hp=prep.hp, sim=sim, build_root=build_root, tag=prep.tag)
    except BuildError as exc:
        return None, f"{sim}: build failed: {exc}", 0.0
    timeout = 600.0 + _beats(prep.hp, groups) * (0.002 if sim == "verilator" else 0.5)
    t0 = time.perf_counter()
    try:
        res = run_step(prep.hp, program, sim, groups, workdir / sim, timeout=timeout,
                       golden=golden)
    except ServeError as exc:
        return None, f"{sim}: {exc}", time.perf_counter() - t0
    hw = dict(res.hw)
    hw["_sim_wall"] = res.wall
    hw["_status"] = "fail" if res.reports else "pass"
    hw["_cpu"] = res.cpu_python + res.cpu_sim
    hw["_driver"] = "direct"
    hw["_step"] = res
    hw["_program"] = program
    return hw, "", time.perf_counter() - t0


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process so far (the simulator
    runs in a grandchild that its parent waits for, so it is included)."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _compare_tflite(g, model_path, xs, vals, rounding, rows_by_op, bar):
    """Per op: golden kernel on TFLite's inputs vs TFLite's output; and the end-to-end
    difference of the graph outputs. Returns (path, unexplained, compared, finals, preds):
    the fields of :class:`_TfliteStep`."""
    from golden.ops import KERNELS, initial_values
    from .tflite_ref import Reference, explain
    ref = Reference(model_path, rounding)
    consts = initial_values(g)
    unexplained = compared = 0
    explained: dict[int, list[str]] = {}
    finals, preds = [], []
    for n, x in enumerate(xs):
        ref.run([x[None]])
        for op in g.ops:
            v = dict(consts)
            for i in op.inputs:
                if i >= 0 and i not in v:
                    v[i] = ref.tensor(i)
            got = KERNELS[op.name](g, op, v, rounding)
            row = rows_by_op[op.index]
            for o, gv in zip(op.outputs, got):
                tr = ref.tensor(o)
                gv = np.asarray(gv).astype(tr.dtype).reshape(tr.shape)
                bad, text = explain(g, op, v, tr, gv, ref.path)
                nd = int((gv != tr).sum())
                row.tfl_diff = (row.tfl_diff or 0) + nd
                compared += gv.size
                unexplained += bad
                if nd:
                    row.max_delta = max(row.max_delta, float(np.max(np.abs(
                        gv.astype(np.float64) - tr.astype(np.float64)))))
                    explained.setdefault(op.index, []).append(text)
        finals.append([int((vals[n][o].reshape(-1) != ref.tensor(o).reshape(-1)).sum())
                       for o in g.outputs])
        preds.append(int(np.argmax(ref.tensor(g.outputs[0]).reshape(-1))))
        bar(f"tflite image {n + 1}/{len(xs)}")
    for idx, texts in explained.items():
        rows_by_op[idx].note = (rows_by_op[idx].note + " " if rows_by_op[idx].note else "") + \
            "; ".join(sorted(set(t.split(": ", 1)[-1] if "explained" in t else t for t in texts)))
    return ref.path, unexplained, compared, finals, np.array(preds)


def _rows(g, xs):
    rows = []
    for op in g.ops:
        ins = [g.tensor(i).describe() for i in op.inputs[:1] if i >= 0]
        out = g.tensor(op.outputs[0]).describe() if op.outputs else ""
        rows.append(LayerRow(op.index, op.name, f"{','.join(ins)}->{out}",
                             outputs=len(xs) * int(np.prod(g.tensor(op.outputs[0]).shape))))
    return rows


def run_model(cfg, model_path, *, inputs_path=None, labels_path=None, count=None,
              sims=("verilator",), seed=None, compare="golden", outdir="out/run",
              build_root=None, stream: TextIO | None = None, progress=True,
              native: bool = False, layer_config: str | None = None,
              driver: str | None = None) -> ModelRun:
    """Python API of ``qmac run`` (see the module docstring); returns the rows, the exit
    status (0 pass, 1 any hw≠golden or unexplained TFLite difference) and the report.
    ``driver``: ``"direct"`` (one Python-free simulator process, sim/hwstep.py; the default
    on MAC-array configurations) or ``"cocotb"`` (the default on crossbar configurations,
    whose analog macro is cocotb's)."""
    from .regress import default_build_root, prepare
    out = stream or sys.stdout
    t_start = time.perf_counter()
    seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    g = _load_graph(model_path)
    xs = make_inputs(g, inputs_path=inputs_path, count=count, seed=seed)
    labels = _labels(labels_path, len(xs))
    per_op = _layer_configs(g, cfg, layer_config)
    driver = _driver(driver, cfg)
    if compare == "tflite":
        from .tflite_ref import path_for
        path_for(cfg.rounding)
    outdir = Path(outdir).resolve()
    build_root = Path(build_root).resolve() if build_root else default_build_root(outdir)
    found = _simulators(sims)
    rows = _rows(g, xs)
    by_op = {r.index: r for r in rows}
    out.write(f"qmac run: {model_path} on {cfg.name} ({cfg.source}): {len(g.ops)} ops, "
              f"{len(xs)} image(s), seed {seed}, rounding {cfg.rounding}\n")
    bar = _progress(len(xs) + 1 + len(found) + (len(xs) if compare == "tflite" else 0)
                    + int(bool(native and "verilator" in found)), progress)
    prep = prepare(cfg, build_root)
    t0 = time.perf_counter()
    vals, exact_vals = _golden_chain(g, xs, cfg.rounding, bar, prep.hp, per_op)
    t_golden = time.perf_counter() - t0
    hw = _hardware_step(g, cfg, model_path, prep, per_op, vals, rows, by_op, outdir,
                        build_root, found, seed, out, bar, driver)
    speed = None
    if native and not per_op and "verilator" in hw.runs:   # per layer: several builds
        speed = _speed(prep, hw.groups, build_root, hw.work, hw.runs, hw.walls)
        bar("native replay")
    tfl = _TfliteStep()
    if compare == "tflite":
        tfl = _TfliteStep(*_compare_tflite(g, model_path, xs, vals, cfg.rounding, by_op, bar))
        hw.status = 1 if tfl.unexplained else hw.status
    out.write(format_table(rows, crossbar=prep.hp.is_crossbar) + "\n")
    report = _report(cfg, model_path, g, xs, seed, rows, hw, tfl, labels, vals, exact_vals,
                     speed, time.perf_counter() - t_start, t_golden, per_op, layer_config)
    for line in report["summary"]:
        out.write(line + "\n")
    write_outputs(outdir, report, g, vals, hw.runs, hw.lowered)
    out.write(f"qmac run: wrote {outdir / 'report.json'} and {outdir / 'layers.npz'}\n")
    note = f" ({len(hw.refused)} hardware layer(s) refused, golden only)" if hw.refused else ""
    out.write(f"qmac run: {'PASS' if hw.status == 0 else 'FAIL'}{note}\n")
    return ModelRun(rows, hw.status, report)


@dataclasses.dataclass
class _HwStep:
    """What the hardware step of :func:`run_model` gives: exit status so far, per simulator
    the hardware outputs and the (wall, simulated wall) seconds, the lowered groups."""

    status: int
    runs: dict
    walls: dict
    groups: list
    lowered: list
    refused: list
    work: Path | None = None     # the one configuration's work directory


@dataclasses.dataclass
class _TfliteStep:
    """``--compare tflite``: the interpreter path, unexplained and compared outputs, the
    per-image differences of the graph outputs, TFLite's predictions (None: not compared)."""

    path: str | None = None
    unexplained: int = 0
    compared: int = 0
    finals: list | None = None
    preds: np.ndarray | None = None


def _simulators(sims) -> list[str]:
    """The requested simulators that are installed (a warning line for each missing one)."""
    from .tools import require_simulators
    names = list(dict.fromkeys(sims or ["verilator"]))
    found, missing = require_simulators(names)
    for name, reason in missing.items():
        sys.stderr.write(f"qmac: warning: skipping {name}: {reason}\n")
    return [s for s in names if s in found]


def _progress(total: int, enabled: bool):
    """``bar(label)``: one step of a progress bar of ``total`` steps (a terminal only: in
    logs the table says it)."""
    from .report import ProgressBar
    bar_obj = ProgressBar(total, enabled=enabled and sys.stderr.isatty())

    def bar(label):
        bar_obj.finish(label, "done")
    return bar


def _hardware_step(g, cfg, model_path, prep, per_op, vals, rows, by_op, outdir, build_root,
                   sims, seed, out, bar, driver) -> _HwStep:
    """Lower the hardware ops and run them on every simulator: on the one configuration's
    hardware, or (``per_op``) each op on its own configuration's."""
    if per_op:
        return _HwStep(*_per_layer_hw(g, cfg, model_path, per_op, vals, rows, by_op, outdir,
                                      build_root, sims, seed, out, bar, driver))
    groups, golden, lowered, offsets = _lower_all(g, vals, prep.hp, by_op)
    refused = _check_lowered(cfg, model_path, rows, vals, lowered, golden)
    bar("lowering")
    work = outdir / prep.tag
    work.mkdir(parents=True, exist_ok=True)
    status, runs, walls = _hw_all(cfg, prep, sims, groups, golden, lowered, offsets, by_op,
                                  work, build_root, seed, out, bar, driver)
    return _HwStep(status, runs, walls, groups, lowered, refused, work)


def _report(cfg, model_path, g, xs, seed, rows, hw: _HwStep, tfl: _TfliteStep, labels, vals,
            exact_vals, speed, wall, t_golden, per_op, layer_config) -> dict:
    """report.json's dict, its ``summary`` lines included (sim/run_report.py)."""
    hw_macs = sum(low.useful_macs for _, low in hw.lowered)
    report = build_report(cfg, model_path, g, xs, seed, rows, hw.runs, hw.walls, hw_macs,
                          tfl.path, tfl.unexplained, tfl.compared, tfl.finals, labels, vals,
                          wall, t_golden, hw.status)
    if exact_vals is not None:
        crossbar_summary(report, g, vals, exact_vals, labels, rows)
    extra_summary(report, labels, tfl.preds, tfl.path, speed, hw_macs)
    if per_op:
        report["layer_config"] = {"spec": layer_config,
                                  "ops": {str(i): c.name for i, c in per_op.items()}}
        report["summary"].append(f"  per-layer hardware (--layer-config {layer_config}): "
                                 + ", ".join(f"op {i} on {c.name}" for i, c in per_op.items()))
    return report


def _driver(driver, cfg) -> str:
    """``"direct"`` or ``"cocotb"`` (None: direct on a MAC array, cocotb on a crossbar)."""
    crossbar = cfg.crossbar is not None
    if driver is None:
        return "cocotb" if crossbar else "direct"
    if driver not in ("direct", "cocotb"):
        raise UserError(f"--driver {driver}: unknown; allowed: direct, cocotb")
    if driver == "direct" and crossbar:
        raise UserError(f"--driver direct: {cfg.name} is a crossbar configuration, whose analog "
                        f"macro runs in cocotb; allowed: --driver cocotb (the default there)")
    return driver


def _golden_chain(g, xs, rounding, bar, hp, per_op=None):
    """``(values of the configured hardware's chain, exact chain or None)`` per image."""
    from golden.graph import GraphError
    try:
        vals = _golden_all(g, xs, rounding, bar, hp, per_op)
        exact = _golden_all(g, xs, rounding, lambda _: None) if hp.is_crossbar else None
    except GraphError as exc:
        raise ModelError(str(exc)) from None
    return vals, exact


def _check_lowered(cfg, model_path, rows, vals, lowered, golden):
    """Refuse a model none of whose hardware layers fits; check lowering == golden op."""
    refused = [r for r in rows if r.note.startswith("not run on hardware")]
    if refused and not lowered:
        raise ModelError(f"{model_path}: no hardware layer fits {cfg.name}: operator "
                         f"{refused[0].note.split(': ', 1)[1]}")
    for (op, low), gys in zip(lowered, golden):  # lowering == golden op (every image)
        full = np.concatenate([v[op.outputs[0]] for v in vals], axis=0)
        if not np.array_equal(low.assemble(gys).reshape(full.shape), full):
            raise AssertionError(f"op {op.index}: lowered golden differs from the golden op")
    return refused


def _hw_all(cfg, prep, sims, groups, golden, lowered, offsets, by_op, work, build_root, seed,
            out, bar, driver="cocotb"):
    """Every simulator: run the groups, shift back (signed_view), count hw≠golden per op;
    a mismatch of the testbench's checker (padding lanes, overflow flags, sticky flags)
    fails the run too and is printed."""
    status, hw_runs, sim_walls = 0, {}, {}
    for sim in sims:
        folded = [[y - o for y, o in zip(gys, offs)] for gys, offs in zip(golden, offsets)]
        hw, err, wall = _run_hw(cfg, prep, sim, groups, work, build_root, seed, driver, folded)
        bar(f"hardware ({sim})")
        if hw is None:
            out.write(f"qmac run: {err}\n")
            status = 1
            continue
        for gi, offs in enumerate(offsets):   # signed_view: back to the model's codes
            for i, o in enumerate(offs):
                hw[f"g{gi}.{i}.y"] = hw[f"g{gi}.{i}.y"] + o
        hw_runs[sim] = hw
        sim_walls[sim] = (wall, float(hw["_sim_wall"]))
        for gi, ((op, low), gys) in enumerate(zip(lowered, golden)):
            row = by_op[op.index]
            nd = sum(int((hw[f"g{gi}.{i}.y"] != y).sum()) for i, y in enumerate(gys))
            nd += int(hw[f"g{gi}.expected_beats"]) - int(hw[f"g{gi}.beats"])
            row.hw_diff = (row.hw_diff or 0) + nd
            row.cycles = int(hw[f"g{gi}.cycles"])
            checker = int(hw.get(f"g{gi}.mismatches", 0))
            if checker:
                out.write(f"qmac run: {sim}: op {op.index}: {checker} mismatch(es) of the "
                          f"checker\n")
                report = hw.get("_step").reports.get(gi) if hw.get("_step") else None
                if report:
                    out.write(report + "\n")
            status = 1 if nd or checker else status
    return status, hw_runs, sim_walls


def _speed(prep, groups, build_root, work, hw_runs, sim_walls) -> dict:
    """The hardware step vs the native replay of the same command stream (Verilator): the
    same program (tb/qmac_native.sv) on the same chunks, one process, no Python in the
    loop; wall and CPU time of both, start-up included in both (sim/hwstep.py)."""
    import os
    from .hwstep import native_replay
    from .runner import build_native
    hw = hw_runs["verilator"]
    program = hw.get("_program") or build_native(
        verilog_path=prep.verilog_path, dut_toplevel=prep.toplevel, hp=prep.hp,
        sim="verilator", build_root=build_root, tag=prep.tag)
    nat = native_replay(prep.hp, program, "verilator", groups, work / "native",
                        timeout=600.0 + _beats(prep.hp, groups) * 0.002)
    fcyc = sum(int(v) for k, v in hw.items() if k.endswith(".cycles"))
    fsec = sim_walls["verilator"][1]
    step = hw.get("_step")
    speed = {"driver": hw.get("_driver", "cocotb"), "fast_cycles": fcyc, "fast_seconds": fsec,
             "native_cycles": nat["cycles"], "native_seconds": nat["wall"],
             "native_pieces": nat["chunks"], "native_commands": nat["commands"],
             "native_runs": nat["runs"],
             "step_seconds": sim_walls["verilator"][0],
             "step_cpu_seconds": float(hw["_cpu"]), "native_cpu_seconds": nat["cpu"],
             "load_average": os.getloadavg()[0],
             "ratio": (fcyc / fsec) / (nat["cycles"] / nat["wall"])
             if fsec and nat["wall"] and nat["cycles"] else 0.0}
    if step is not None:
        speed.update(step_python_cpu_seconds=step.cpu_python, step_sim_cpu_seconds=step.cpu_sim,
                     step_chunks=step.chunks, step_commands=step.commands)
    return speed


# --- per-layer configurations (--layer-config, sim/layer_config.py) -----------------------

def _layer_configs(g, cfg, spec):
    """``{operator index: configuration}`` of every hardware op (``{}`` without ``spec``)."""
    if not spec:
        return {}
    from .config import load_config
    from .layer_config import assign_layers
    hw = [op for op in g.ops if op.name in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")]
    named = assign_layers(spec, len(hw), lambda p, b: load_config(p, bits=b))
    per_op = {op.index: named.get(i, cfg) for i, op in enumerate(hw)}
    for c in set(per_op.values()) | {cfg}:
        if c.crossbar is not None:
            raise UserError(f"--layer-config: {c.name} is a crossbar configuration; allowed: "
                            f"MAC-array configurations (one crossbar run: no --layer-config)")
    return per_op


def _per_op_kernel(per_op):
    from golden.ops import KERNELS

    def kernel(g, op, values, rounding):
        return KERNELS[op.name](g, op, values, per_op[op.index].rounding)
    return kernel


def _per_layer_hw(g, cfg, model_path, per_op, vals, rows, by_op, outdir, build_root, sims,
                  seed, out, bar, driver="cocotb"):
    """Each configuration's hardware layers on its own generated hardware (one build per
    configuration); hw≠golden per op as in a single-configuration run. Returns the merged
    results with the products of every configuration numbered in execution order."""
    from .regress import prepare
    by_cfg: dict[int, list] = {}
    for op in g.ops:
        if op.index in per_op:
            by_cfg.setdefault(id(per_op[op.index]), []).append(op.index)
    status, hw_runs, sim_walls, groups, lowered, refused = 0, {}, {}, [], [], []
    for indices in by_cfg.values():
        c = per_op[indices[0]]
        prep = prepare(c, build_root)
        for i in indices:
            by_op[i].note = f"[{c.name}]"
        sub = {i: by_op[i] for i in indices}
        gs, gold, low, offs = _lower_all(g, vals, prep.hp, sub)
        refused += [r for r in _check_lowered(c, model_path, list(sub.values()), vals, low, gold)
                    if r not in refused]
        work = outdir / prep.tag
        work.mkdir(parents=True, exist_ok=True)
        st, runs, walls = _hw_all(c, prep, sims, gs, gold, low, offs, by_op, work, build_root,
                                  seed, out, bar, driver)
        status |= st
        for sim, hw in runs.items():
            merged = hw_runs.setdefault(sim, {"_sim_wall": 0.0})
            merged["_sim_wall"] += float(hw["_sim_wall"])
            for k, v in hw.items():
                if k.startswith("g") and "." in k:
                    gi, rest = k[1:].split(".", 1)
                    merged[f"g{int(gi) + len(lowered)}.{rest}"] = v
            w0, s0 = sim_walls.get(sim, (0.0, 0.0))
            sim_walls[sim] = (w0 + walls[sim][0], s0 + walls[sim][1])
        groups += gs
        lowered += low
    bar("lowering and hardware per configuration")
    return status, hw_runs, sim_walls, groups, lowered, refused
