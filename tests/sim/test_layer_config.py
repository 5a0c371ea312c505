"""``--layer-config``: the per-layer configuration mapping (sim/layer_config.py) and its
bad inputs through ``qmac run`` / ``qmac sweep`` (one line, exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.errors import UserError
from sim.layer_config import assign_layers, parse_layer_config

REPO = Path(__file__).resolve().parents[2]
INT8, INT4 = "constraints/int8.yaml", "constraints/int4.yaml"


def test_parse_and_assign():
    assert parse_layer_config(f"0={INT8},1-3={INT4}@3,last={INT8}") == [
        ("0", INT8, None), ("1-3", INT4, 3), ("last", INT8, None)]
    loads = []

    def load(path, bits):
        loads.append((path, bits))
        return (path, bits)
    got = assign_layers(f"0={INT8},1-2={INT4},last={INT8}", 4, load)
    assert got == {0: (INT8, None), 1: (INT4, None), 2: (INT4, None), 3: (INT8, None)}
    assert loads == [(INT8, None), (INT4, None)]          # each configuration read once
    assert assign_layers(f"last={INT4}", 1, load) == {0: (INT4, None)}


@pytest.mark.parametrize("spec, msg", [
    ("", "it is empty"),
    ("0", "entry '0' is malformed"),
    (f"x={INT8}", "entry 'x=constraints/int8.yaml' is malformed"),
    (f"-1={INT8}", "is malformed"),
    (f"0={INT8},", "entry '' is malformed"),
    (f"3-1={INT8}", "range 3-1 is empty"),
    (f"0={INT8}@1", "@1 is not a width in 2..16"),
    (f"0={INT8}@17", "@17 is not a width in 2..16"),
    (f"0={INT8},0-1={INT4}", "layer 0 is given twice"),
    (f"5={INT8}", "layer 5 does not exist (the model has 3 hardware layers: 0..2)"),
])
def test_bad_specs(spec, msg):
    with pytest.raises(UserError) as e:
        assign_layers(spec, 3, lambda p, b: p)
    text = str(e.value)
    assert msg in text and "\n" not in text and "allowed: comma-separated" in text


def test_bad_specs_on_the_command_line(tmp_path, capsys):
    """One line, exit 2, nothing written — before any model or hardware work."""
    model = REPO / "tests" / "data" / "models" / "anomaly_detection.tflite"
    cases = [(f"99={INT8}", "layer 99 does not exist"),
             ("0=missing.yaml", "missing.yaml"),
             (f"0={INT8}@x", "is malformed"),
             ("0=constraints/sidra_y1.yaml", "is a crossbar configuration")]
    for spec, msg in cases:
        out = tmp_path / "o"
        rc = main(["run", str(model), "--layer-config", spec, "-o", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and msg in err, err
        assert not out.exists()
    np.savez(tmp_path / "net.npz", x=np.zeros(1))
    rc = main(["sweep", str(tmp_path / "net.npz"), "--data", str(tmp_path / "net.npz"),
               "--layer-config", f"0={INT8}", "-o", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "together with --hw-check" in err


@pytest.mark.long
@pytest.mark.parametrize("middle, name", [("constraints/int8.yaml@4", "int8_n4"),
                                          ("constraints/w4a8.yaml", "w4a8")])
def test_qmac_run_8_4_8_on_per_layer_hardware(tmp_path, capsys, in_ci, middle, name):
    """An 8/4/8 int8 model: layers 0 and 2 on int8 hardware, layer 1 on int8.yaml@4
    (qmac_int8_n4) or on the mixed-width W4A8 array (8-bit inputs, 4-bit weights); every
    hardware output == golden, golden == the interpreter."""
    import json
    from tests.helpers.tflite_builder import mlp_8_4_8
    path = tmp_path / "mlp.tflite"
    path.write_bytes(mlp_8_4_8(np.random.default_rng(4)))
    rc = main(["run", str(path), INT8, "--layer-config", f"1={middle}",
               "--compare", "tflite", "--count", "8", "--seed", "4", "-o", str(tmp_path / "o")])
    cap = capsys.readouterr()
    print(cap.out)
    assert rc == 0, cap.out + cap.err
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["layer_config"]["ops"] == {"0": "int8", "1": name, "2": "int8"}
    hw = [r for r in rep["layers"] if r["hw_diff"] is not None]
    assert len(hw) == 3 and all(r["hw_diff"] == 0 and r["cycles"] > 0 for r in hw)
    assert rep["tflite"]["unexplained"] == 0
