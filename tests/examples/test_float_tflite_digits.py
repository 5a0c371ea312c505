"""Smoke test: examples/float_tflite_digits.py as a user runs it without TensorFlow (MLP only,
golden only): the float digits MLP is written as a float .tflite, quantized by qmac on the
training digits and evaluated on the held-out ones; the converter column says unavailable."""

import json
import os

from tests.helpers.examples import run_example


def test_float_tflite_digits_mlp_without_tensorflow(tmp_path):
    proc = run_example("float_tflite_digits.py", "--nets", "mlp", "-o", tmp_path,
                       env={k: v for k, v in os.environ.items() if k != "QMAC_TF_PYTHON"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "converter int8 model: unavailable" in proc.stdout
    assert "float_tflite_digits: PASS" in proc.stdout
    (row,) = json.loads((tmp_path / "results.json").read_text())
    assert row["eval"] == 597 and row["calib"] == 1200
    assert row["float_vs_interpreter_max_abs"] < 1e-5
    assert row["float_top1"] > 0.95 and abs(row["qmac_top1"] - row["float_top1"]) <= 0.01
    assert row["qmac_interpreter_top1"] == row["qmac_top1"]   # the interpreter agrees on it
    assert (tmp_path / "mlp_qmac.tflite").is_file()
