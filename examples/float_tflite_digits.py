#!/usr/bin/env python3
"""A float ``.tflite`` quantized by qmac vs the TFLite converter's int8 model, on real data.

One command (from the repository root, after ``bash scripts/dev.sh setup``)::

    .venv/bin/python examples/float_tflite_digits.py [--tf-python tfvenv/bin/python] [--hw]

1. trains the digits MLP (64→32→10) and CNN of ``examples/digits_sweep.py`` (scikit-learn's
   ``load_digits``: 1200 training digits = the calibration set, 597 held-out digits = the
   evaluation set, disjoint) and writes each as a float32 ``.tflite`` with a final SOFTMAX
   (``golden.network_graph`` + ``golden.tflite_export``; checked against the TFLite
   interpreter);
2. ``qmac quantize`` (``sim.quantize.quantize_model``) on the 1200 calibration digits:
   ``*_qmac.tflite``;
3. with ``--tf-python`` (a Python with TensorFlow, e.g. ``tensorflow-cpu==2.20.0`` in its own
   venv — not a qmac dependency) the TFLite converter's own int8 model of the same float
   network from the same calibration digits (``examples/tf_convert.py``); without it the
   converter's model is reported as unavailable;
4. top-1 on the 597 held-out digits of the float model, of qmac's int8 model (golden, which
   the hardware equals bit for bit) and of the converter's int8 model (the TFLite
   interpreter, and qmac's golden kernels on it), and each int8 model's agreement with the
   float model's top-1;
5. ``--hw``: ``qmac run`` of qmac's int8 model on the generated hardware (``--sim``,
   Verilator by default) for the first ``--hw-count`` held-out digits with
   ``--compare tflite`` and ``--labels``: every hardware output == golden, every golden op ==
   the interpreter (differences only where explained), top-1 from the hardware's outputs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from golden.float_ops import run_float_graph            # noqa: E402
from golden.network import save_float_network           # noqa: E402
from golden.network_graph import network_graph          # noqa: E402
from golden.ops import check_graph, run_graph           # noqa: E402
from golden.tflite_export import save_tflite            # noqa: E402
from golden.tflite_import import load_tflite            # noqa: E402


def golden_top1(path, x):
    """qmac's golden kernels on an int8 model with a float input, image by image."""
    g = load_tflite(path)
    check_graph(g)
    preds = []
    for k in range(len(x)):
        v = run_graph(g, [x[k:k + 1].astype(np.float32)])
        preds.append(int(np.argmax(v[g.outputs[0]])))
    return np.array(preds)


def interpreter_top1(path, x):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    preds, outs = [], []
    for k in range(len(x)):
        it.set_tensor(i["index"], x[k:k + 1].astype(np.float32))
        it.invoke()
        y = it.get_tensor(o["index"])
        outs.append(y)
        preds.append(int(np.argmax(y)))
    return np.array(preds), np.concatenate(outs)


def prepare(name, out):
    from digits_sweep import train_cnn, train_mlp
    net, (xtr, _ytr), (xte, yte) = (train_mlp if name == "mlp" else train_cnn)()
    save_float_network(net, out / f"{name}.npz")
    np.save(out / f"{name}_calib.npy", xtr.astype(np.float32))
    np.save(out / f"{name}_x_test.npy", xte.astype(np.float32))
    np.save(out / f"{name}_y_test.npy", yte.astype(np.int64))
    save_tflite(network_graph(net, name=f"digits_{name}"), out / f"{name}_float.tflite",
                description=f"digits {name} (float32, trained by examples/digits_sweep.py)")
    return net, xtr, xte, yte


def evaluate(name, out, tf_python, method):
    from sim.quantize import quantize_model
    net, xtr, xte, yte = prepare(name, out)
    fpath = out / f"{name}_float.tflite"
    fg = load_tflite(fpath)
    f_prob = run_float_graph(fg, xte)[fg.outputs[0]]
    f_pred = f_prob.argmax(axis=1)
    t_fpred, t_fprob = interpreter_top1(fpath, xte)
    row = {"network": name, "eval": len(xte), "calib": len(xtr), "method": method,
           "float_vs_interpreter_max_abs": float(np.abs(t_fprob - f_prob).max()),
           "float_top1": float(np.mean(f_pred == yte))}
    assert np.array_equal(t_fpred, f_pred)
    qpath = out / f"{name}_qmac.tflite"
    quantize_model(fpath, out / f"{name}_calib.npy", qpath, method=method,
                   stream=io.StringIO())
    q_pred = golden_top1(qpath, xte)
    qi_pred, _ = interpreter_top1(qpath, xte)
    row.update(qmac_top1=float(np.mean(q_pred == yte)),
               qmac_agree=float(np.mean(q_pred == f_pred)),
               qmac_interpreter_top1=float(np.mean(qi_pred == yte)))
    if tf_python:
        cpath = out / f"{name}_tf_int8.tflite"
        subprocess.run([tf_python, str(ROOT / "examples" / "tf_convert.py"),
                        str(out / f"{name}.npz"), str(out / f"{name}_calib.npy"), str(cpath)],
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        c_pred, _ = interpreter_top1(cpath, xte)
        cg_pred = golden_top1(cpath, xte)
        row.update(converter_top1=float(np.mean(c_pred == yte)),
                   converter_agree=float(np.mean(c_pred == f_pred)),
                   converter_golden_top1=float(np.mean(cg_pred == yte)),
                   qmac_minus_converter_points=100 * float(np.mean(q_pred == yte)
                                                           - np.mean(c_pred == yte)))
    return row


def hardware(name, out, count, sims):
    from sim.config import load_config
    from sim.run import run_model
    buf = io.StringIO()
    res = run_model(load_config(None), out / f"{name}_qmac.tflite",
                    inputs_path=out / f"{name}_x_test.npy",
                    labels_path=out / f"{name}_y_test.npy", count=count, sims=sims,
                    compare="tflite", outdir=out / f"run_{name}", stream=buf, progress=False)
    hw = [r for r in res.rows if r.hw_diff is not None]
    return {"status": "PASS" if res.status == 0 else "FAIL", "images": count,
            "hw_layers": len(hw), "hw_outputs": sum(r.outputs for r in hw),
            "hw_diff": sum(r.hw_diff for r in hw), "top1_hw": res.report.get("top1"),
            "tflite_unexplained": res.report.get("tflite", {}).get("unexplained")}, buf.getvalue()


def _fmt(v):
    return "-" if v is None else f"{100 * v:.2f}"


def table(rows):
    head = ("network", "float top-1", "qmac int8 top-1", "agree w/ float",
            "converter int8 top-1", "agree w/ float", "qmac - converter (points)")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        d = r.get("qmac_minus_converter_points")
        lines.append(" | ".join([r["network"], _fmt(r["float_top1"]), _fmt(r["qmac_top1"]),
                                 _fmt(r["qmac_agree"]), _fmt(r.get("converter_top1")),
                                 _fmt(r.get("converter_agree")),
                                 "-" if d is None else f"{d:+.2f}"]))
    return "\n".join("| " + line + " |" for line in lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tf-python", default=os.environ.get("QMAC_TF_PYTHON"),
                    help="a Python with TensorFlow for the converter's int8 model")
    ap.add_argument("--method", default="minmax", choices=("minmax", "percentile", "mse", "kl"))
    ap.add_argument("--hw", action="store_true", help="also run qmac's int8 models on hardware")
    ap.add_argument("--hw-count", type=int, default=597, help="held-out digits on hardware")
    ap.add_argument("--sim", default="verilator", help="simulator(s) for --hw, comma-separated")
    ap.add_argument("--nets", default="mlp,cnn")
    ap.add_argument("-o", "--out", default="out/float_tflite")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = [evaluate(n, out, args.tf_python, args.method) for n in args.nets.split(",")]
    if not args.tf_python:
        print("converter int8 model: unavailable (no --tf-python / QMAC_TF_PYTHON with "
              "TensorFlow given)")
    print(table(rows))
    ok = True
    for r in rows:
        if "converter_top1" in r:
            print(f"{r['network']}: qmac int8 {_fmt(r['qmac_top1'])} % vs converter int8 "
                  f"{_fmt(r['converter_top1'])} % on {r['eval']} held-out digits: "
                  f"{r['qmac_minus_converter_points']:+.2f} points "
                  f"({'within' if abs(r['qmac_minus_converter_points']) <= 1 else 'NOT within'}"
                  f" 1 point); qmac's golden on the converter's model {_fmt(r['converter_golden_top1'])} %")
            ok &= abs(r["qmac_minus_converter_points"]) <= 1
        if args.hw:
            r["hardware"], log = hardware(r["network"], out, min(args.hw_count, r["eval"]),
                                          args.sim.split(","))
            print(log.rstrip().splitlines()[-1] if log else "")
            h = r["hardware"]
            print(f"{r['network']} on hardware ({args.sim}): {h['status']}, {h['images']} "
                  f"digits, {h['hw_outputs']} outputs of {h['hw_layers']} layers, "
                  f"{h['hw_diff']} hw!=golden, top-1 {_fmt(h['top1_hw'])} %, "
                  f"{h['tflite_unexplained']} unexplained TFLite differences")
            ok &= h["status"] == "PASS"
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"float_tflite_digits: {'PASS' if ok else 'FAIL'}; wrote {out / 'results.json'}; "
          f"wall {time.perf_counter() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
