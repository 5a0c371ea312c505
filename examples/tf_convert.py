#!/usr/bin/env python3
"""The TFLite converter's own int8 model of a float network (``golden/network.py`` format).

Runs under a Python that has TensorFlow (not a qmac dependency: the reference for
``examples/float_tflite_digits.py``), e.g. ``python -m venv tfvenv && tfvenv/bin/pip install
tensorflow-cpu==2.20.0``; it imports nothing from qmac. Usage::

    tfvenv/bin/python examples/tf_convert.py NET.npz CALIB.npy OUT.tflite [--float OUT_F.tflite]

Builds the same network in Keras (Conv2D kernels ``[kh, kw, C_in, C_out]`` from qmac's
``[C_out, kh, kw, C_in]``, Dense kernels transposed, Flatten before a Dense that follows a
conv — NHWC C order, as qmac's RESHAPE — and a final softmax), then converts it with
post-training full-integer quantization: ``optimizations = [DEFAULT]``, the calibration
inputs as ``representative_dataset`` (one example per step), ``TFLITE_BUILTINS_INT8`` ops,
float32 input and output (the converter's default). ``--float`` also writes the converter's
float model.
"""

import argparse
import sys

import numpy as np


def keras_model(d):
    import tensorflow as tf
    shape = tuple(int(v) for v in d["input_shape"])
    layers = [tf.keras.Input(shape=shape)]
    i, flat = 0, len(shape) == 1
    while f"l{i}_kind" in d:
        act = {"none": None, "relu": "relu", "relu6": tf.nn.relu6}[str(d[f"l{i}_act"])]
        w, b = d[f"l{i}_w"].astype(np.float32), d[f"l{i}_b"].astype(np.float32)
        if str(d[f"l{i}_kind"]) == "conv2d":
            stride = tuple(int(v) for v in d.get(f"l{i}_stride", (1, 1)))
            pad = str(d[f"l{i}_padding"]) if f"l{i}_padding" in d else "valid"
            layer = tf.keras.layers.Conv2D(w.shape[0], w.shape[1:3], strides=stride,
                                           padding=pad, activation=act)
            layers.append((layer, [w.transpose(1, 2, 3, 0), b]))
        else:
            if not flat:
                layers.append((tf.keras.layers.Flatten(), None))
                flat = True
            layers.append((tf.keras.layers.Dense(w.shape[0], activation=act), [w.T, b]))
        i += 1
    layers.append((tf.keras.layers.Softmax(), None))
    model = tf.keras.Sequential([layers[0]] + [lay for lay, _ in layers[1:]])
    for lay, weights in layers[1:]:
        if weights is not None:
            lay.set_weights(weights)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("net")
    ap.add_argument("calib")
    ap.add_argument("out")
    ap.add_argument("--float", dest="float_out", default=None)
    args = ap.parse_args(argv)
    import tensorflow as tf
    with np.load(args.net) as f:
        d = {k: f[k] for k in f.files}
    model = keras_model(d)
    calib = np.load(args.calib).astype(np.float32)

    def representative():
        for k in range(len(calib)):
            yield [calib[k:k + 1]]

    if args.float_out:
        with open(args.float_out, "wb") as fh:
            fh.write(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with open(args.out, "wb") as fh:
        fh.write(conv.convert())
    print(f"tf_convert: TensorFlow {tf.__version__}: {args.net} -> {args.out} "
          f"({len(calib)} calibration inputs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
