"""``qmac quantize``: a float ``.tflite`` model → an int8 ``.tflite`` that ``qmac run`` executes.

Flow: read the float model (:func:`golden.tflite_import.load_tflite`), check it
(:func:`golden.float_ops.check_float_graph`), read the calibration inputs (``.npy``, float,
``[B, ...]`` of the model input's shape), calibrate and quantize
(:func:`golden.graphquant.quantize_graph`: TFLite's int8 conventions), check the result is
a graph the golden int8 kernels and the hardware lowering accept
(:func:`golden.ops.check_graph`), write it (:func:`golden.tflite_export.save_tflite`,
atomically) and print a table of every activation tensor's float range and quantization.
Every problem is one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from .errors import UserError

__all__ = ["add_quantize_parser", "cmd_quantize", "quantize_model"]

METHODS = ("minmax", "percentile", "mse", "kl")


def add_quantize_parser(sub):
    q = sub.add_parser("quantize", help="quantize a float .tflite model into an int8 .tflite "
                                        "that qmac run executes")
    q.add_argument("model", metavar="FLOAT.tflite", help="float32 TFLite model (or a float "
                   "network .npz in qmac sweep's format, golden/network.py)")
    q.add_argument("--calib", required=True, metavar="X.npy",
                   help="calibration inputs: float [B, ...] of the model input's shape")
    q.add_argument("--count", type=_count, default=None, metavar="N",
                   help="use the first N calibration inputs")
    q.add_argument("--method", choices=METHODS, default="minmax",
                   help="activation range calibration (default minmax)")
    q.add_argument("--percentile", type=_percentile, default=None, metavar="P",
                   help="percentile of --method percentile, (50, 100] (default 99.99)")
    q.add_argument("--int8-io", action="store_true",
                   help="int8 graph input and output (default: float32 through QUANTIZE / "
                        "DEQUANTIZE, as the TFLite converter's default)")
    q.add_argument("--fc-per-tensor", action="store_true",
                   help="one weight scale per FULLY_CONNECTED (the converter's form; default: "
                        "per output channel)")
    q.add_argument("-o", "--out", required=True, metavar="OUT.tflite",
                   help="where to write the int8 model")
    return q


def _count(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"--count={text!r} is not allowed; allowed: an "
                                         f"integer >= 1")
    return v


def _percentile(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 50.0 < v <= 100.0:
        raise argparse.ArgumentTypeError(f"--percentile={text!r} is not allowed; allowed: a "
                                         f"number in (50, 100]")
    return v


def _calib(path, count):
    from .inputs import check_input_file
    p = check_input_file(path, what="calibration file", allowed="a .npy file")
    try:
        x = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: cannot read it as .npy ({str(exc).splitlines()[0][:60]}); "
                        f"allowed: a float array written by numpy.save") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
        raise UserError(f"{path}: {getattr(x, 'dtype', type(x).__name__)} data; allowed: a "
                        f"float array [B, ...] written by numpy.save")
    return x[:count] if count else x


def _float_graph(model):
    """The float graph of a ``.tflite`` model, or of a float network ``.npz``
    (``golden/network.py`` format, as ``qmac sweep`` takes; no softmax added)."""
    from golden.network import load_float_network
    from golden.network_graph import network_graph
    from golden.tflite_import import load_tflite
    if str(model).endswith(".npz"):
        try:
            net = load_float_network(model)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return network_graph(net, softmax=False, name=str(model))
    return load_tflite(model)


def quantize_model(model, calib, out, *, method="minmax", count=None, percentile=None,
                   float_io=True, fc_per_channel=True, stream: TextIO | None = None):
    """Python API of ``qmac quantize``; returns ``(graph, report)``."""
    from golden.graph import GraphError
    from golden.graphquant import quantize_graph
    from golden.ops import check_graph
    from golden.tflite_export import graph_to_tflite

    from .inputs import check_input_file, check_output_path
    out_stream = stream or sys.stdout
    check_input_file(model, what="model", allowed="a float32 .tflite file or a float "
                     "network .npz")
    out_path = check_output_path(out, what="output model")
    x = _calib(calib, count)
    options = {"percentile": percentile} if (method == "percentile" and percentile) else {}
    t0 = time.perf_counter()
    try:
        g = _float_graph(model)
        qg, rep = quantize_graph(g, x, method=method, float_io=float_io,
                                 fc_per_channel=fc_per_channel, **options)
        check_graph(qg)
        buf = graph_to_tflite(qg, description=f"qmac quantize {Path(model).name} "
                                              f"({method}, {len(x)} calibration inputs)")
    except GraphError as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:   # the calibration methods' own one-line range errors
        raise UserError(f"{calib}: {str(exc).splitlines()[0]}") from None
    wall = time.perf_counter() - t0
    tmp = out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")
    tmp.write_bytes(buf)
    os.replace(tmp, out_path)
    out_stream.write(format_report(g, qg, rep) + "\n")
    for w in rep.warnings:
        out_stream.write(f"qmac quantize: warning: {w}\n")
    from golden.ops import HW_OPS
    layers = sum(op.name in HW_OPS for op in qg.ops)
    weights = "per channel" if fc_per_channel else "per channel (FULLY_CONNECTED per tensor)"
    out_stream.write(f"qmac quantize: {model} -> {out_path} ({len(buf)} bytes): {layers} "
                     f"hardware layers, {len(rep.weights)} weight tensors {weights}, "
                     f"{len(rep.activations)} activation tensors calibrated ({method}, "
                     f"{rep.calib_count} inputs) in {wall:.2f} s\n")
    out_stream.write(f"next: qmac run {out_path} --inputs X.npy [--labels Y.npy]\n")
    return qg, rep


def format_report(g, qg, rep) -> str:
    """One row per activation tensor: producer, float range on the calibration data, scale,
    zero point."""
    producer = {i: op.name for op in g.ops for i in op.outputs}
    head = ["tensor", "name", "producer", "float min", "float max", "scale", "zero point"]
    body = []
    for i, (lo, hi, s, zp) in rep.activations.items():
        body.append([str(i), g.tensor(i).name[:32], producer.get(i, "input"), f"{lo:.4g}",
                     f"{hi:.4g}", f"{s:.6g}", str(zp)])
    widths = [max(len(h), *(len(b[k]) for b in body)) if body else len(h)
              for k, h in enumerate(head)]

    def line(cells):
        return "  ".join(c.rjust(w) if k >= 3 else c.ljust(w)
                         for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def cmd_quantize(args) -> int:
    quantize_model(args.model, args.calib, args.out, method=args.method, count=args.count,
                   percentile=args.percentile, float_io=not args.int8_io,
                   fc_per_channel=not args.fc_per_tensor)
    return 0
