"""Legacy uint8 models with non-zero per-tensor weight zero points and weights over the whole
[0, 255] range: imported and run by golden bit-exactly with the TFLite interpreter
(ai-edge-litert 2.3.0, reference and optimized paths), every op, every element."""

from __future__ import annotations

import os

import numpy as np
import pytest

from golden.ops import check_graph, run_graph
from golden.tflite_import import parse_tflite
from tests.helpers.seeding import printed_seed
from tests.helpers.tflite_builder import uint8_full_range_model

litert = pytest.importorskip("ai_edge_litert.interpreter") if os.environ.get("CI") != "true" \
    else __import__("ai_edge_litert.interpreter", fromlist=["Interpreter"])
PATHS = {"double": "BUILTIN_REF", "ruy": "BUILTIN_WITHOUT_DEFAULT_DELEGATES"}


def _seed():
    return printed_seed(8)


@pytest.mark.parametrize("rounding", sorted(PATHS))
def test_uint8_full_range_weights_match_interpreter(rounding):
    rng = np.random.default_rng(_seed())
    buf = uint8_full_range_model(rng)
    g = parse_tflite(buf, "uint8_full_range")
    check_graph(g)
    convs = [op for op in g.ops if op.name in ("CONV_2D", "FULLY_CONNECTED")]
    for op in convs:           # the point of the model: w − w_zp leaves int8
        w = g.tensor(op.inputs[1])
        d = w.data.astype(np.int64) - w.quant.zp
        assert w.dtype == "uint8" and w.quant.zp not in (0, 128)
        assert d.min() < -128 or d.max() > 127
    it = litert.Interpreter(model_content=buf, experimental_preserve_all_tensors=True,
                            experimental_op_resolver_type=getattr(litert.OpResolverType,
                                                                  PATHS[rounding]))
    it.allocate_tensors()
    compared = 0
    for _ in range(3):
        x = rng.integers(0, 256, size=g.input_tensors()[0].shape).astype(np.uint8)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        vals = run_graph(g, [x], rounding=rounding)
        for op in g.ops:
            o = op.outputs[0]
            np.testing.assert_array_equal(vals[o], it.get_tensor(o), err_msg=f"op {op.index}")
            compared += vals[o].size
    assert compared == 3 * (144 + 144 + 6)
