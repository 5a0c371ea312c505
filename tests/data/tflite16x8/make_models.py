"""Freeze two 16x8 *models* and a real TFLite runtime's outputs on them:
``tests/data/tflite16x8/model16x8_<kind>.npz`` (``fc``: FULLY_CONNECTED, per-tensor;
``conv``: CONV_2D 3×3 SAME, per-channel), each holding the ``.tflite`` bytes, the int16
inputs and the interpreter's int16 outputs.

Why frozen: ai-edge-litert 2.3.0 (the ``[tflite]`` extra) requantizes the 16x8
FULLY_CONNECTED in floating point, so a live comparison of ``qmac run`` with it can only
explain the FC differences; ``tflite-runtime`` 2.14.0's 16x8 FULLY_CONNECTED and CONV_2D are
``reference_integer_ops`` with an int64 accumulator and TFLite's int64
``MultiplyByQuantizedMultiplier`` (qmac's ``single16``) on every op resolver — this script
checks that ``BUILTIN_REF``, ``BUILTIN`` and ``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` agree and
that golden (``golden.ops.run_graph``, ``single16``) equals them on every element, and
exits 1 otherwise. ``tests/sim/test_run_16x8.py`` runs the models through ``qmac run`` on
``constraints/w8a16.yaml`` and requires hardware == these outputs on every element (and,
in the default suite, golden == them).

The models come from ``tests.helpers.tflite_builder.model_16x8`` (int16 input/output, zero
points 0, symmetric int8 weights, int64 bias); inputs: image 0 all −32768, image 1 all
32767 (operand extremes, both output ends saturate), the rest uniform int16.

tflite-runtime wants numpy < 2, so this runs in its own venv (as ``make_vectors.py``)::

    python3.11 -m venv /tmp/tflvenv
    /tmp/tflvenv/bin/pip install tflite-runtime==2.14.0 'numpy<2' flatbuffers tflite==2.18.0
    /tmp/tflvenv/bin/python tests/data/tflite16x8/make_models.py          # write
    /tmp/tflvenv/bin/python tests/data/tflite16x8/make_models.py --check  # compare only

Fixed seeds and zip timestamps: a rerun is byte-identical (``--check`` passes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from golden.ops import run_graph  # noqa: E402
from golden.tflite_import import parse_tflite  # noqa: E402

try:
    from make_vectors import write_npz
    from tests.data.tflite_generators import (RESOLVERS, RUNTIME, check_flag, freeze,
                                              interpreter, invoke)
    from tests.helpers.tflite_builder import model_16x8
except ImportError as exc:  # pragma: no cover - usage error
    sys.exit(f"make_models.py: {exc}; run it in the TFLite venv (see the docstring)")

#: name → (model_16x8 arguments, images)
MODELS = {
    "fc": (dict(kind="FULLY_CONNECTED", in_shape=(1, 40), cout=10, per_channel=False), 6),
    "conv": (dict(kind="CONV_2D", in_shape=(1, 6, 5, 3), cout=10, per_channel=True), 3),
}


def inputs(rng, shape, n):
    x = rng.integers(-32768, 32768, size=(n,) + tuple(shape[1:])).astype(np.int16)
    x[0], x[1] = -32768, 32767
    return x


def interpret(model: bytes, x: np.ndarray, resolver: str) -> np.ndarray:
    it = interpreter(model, resolver)
    return np.stack([invoke(it, img[None])[0] for img in x])


def main(argv=None) -> int:
    check = check_flag(__doc__, argv)
    bad = 0
    print(f"{'model':6} {'op':16} {'outputs':>7} {'saturated':>9} {'resolvers':>9} "
          f"{'golden':>6}")
    for seed, (name, (kw, n)) in enumerate(MODELS.items()):
        rng = np.random.default_rng(1700 + seed)
        model = model_16x8(rng, **kw)
        x = inputs(rng, kw["in_shape"], n)
        outs = {r: interpret(model, x, r) for r in RESOLVERS}
        y = outs["BUILTIN_REF"]
        agree = all(np.array_equal(o, y) for o in outs.values())
        g = parse_tflite(model, name)
        gold = np.stack([run_graph(g, [img[None]], rounding="single16")[g.outputs[0]][0]
                         for img in x])
        ok = agree and np.array_equal(gold, y)
        bad += not ok
        sat = int(((y == -32768) | (y == 32767)).sum())
        print(f"{name:6} {kw['kind']:16} {y.size:>7} {sat:>9} "
              f"{'agree' if agree else 'DIFFER':>9} {'OK' if ok else 'FAIL':>6}")
        file = HERE / f"model16x8_{name}.npz"
        data = write_npz(file, dict(
            model=np.frombuffer(model, np.uint8), x=x, y_tflite=y,
            kernel=np.str_(f"{RUNTIME}, BUILTIN_REF (= BUILTIN = without delegates), "
                           f"reference_integer_ops::{kw['kind']} int16/int8/int64")))
        bad += freeze(file, data, check)
    print("make_models.py:", "FAIL" if bad else "PASS")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
