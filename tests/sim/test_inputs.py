"""sim/inputs.py (raw-input layer) and sim/report.atomic_write: the bounds hold, valid
input still reads exactly as before, and a failed write leaves nothing partial."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sim.errors import ConfigError, OutputError, VectorError
from sim.inputs import (YAML_MAX_NODES, abbrev, check_input_file, check_output_path, read_npz,
                        read_yaml, show_path)
from sim.report import atomic_write

REPO = Path(__file__).resolve().parents[2]


def test_billion_laughs_is_refused_in_milliseconds(tmp_path):
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]"
                                 for i in range(1, 10)]
    p = tmp_path / "lol.yaml"
    p.write_text("\n".join(lines) + "\nname: *a9\n")   # 10^9 strings once expanded
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=f"more than {YAML_MAX_NODES} values once aliases"):
        read_yaml(p)
    dt = time.perf_counter() - t0
    print(f"billion laughs refused in {dt * 1e3:.1f} ms")
    assert dt < 0.5


def test_aliases_within_the_bound_still_work(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("a: &x [1, 2, 3]\nb: *x\nc: {<<: {k: 1, j: 2}, k: 5}\n")
    assert read_yaml(p) == {"a": [1, 2, 3], "b": [1, 2, 3], "c": {"k": 5, "j": 2}}


def test_every_shipped_configuration_reads_as_with_pyyaml():
    import yaml
    for p in sorted((REPO / "constraints").glob("*.yaml")):
        assert read_yaml(p) == yaml.safe_load(p.read_text()), p.name


@pytest.mark.parametrize("text, match", [
    ("a: 1\na: 2\n", "duplicate key 'a'"),
    ("? [1]\n: 2\n", "a list or mapping used as a key"),
    ("x: " + "[" * 40 + "]" * 40 + "\n", "nesting deeper than 32"),
])
def test_structural_bounds(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_yaml(p)


def test_fifo_is_named_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    with pytest.raises(VectorError, match="is a FIFO"):
        read_npz(fifo, allowed_keys=("x",))
    with pytest.raises(ConfigError, match="is a FIFO"):
        read_yaml(fifo)
    assert time.perf_counter() - t0 < 1.0
    with pytest.raises(Exception, match="is a FIFO"):
        check_output_path(fifo, what="out")


def test_valid_npz_reads_exactly_like_numpy(tmp_path):
    rng = np.random.default_rng(5)
    arrays = {"x": rng.integers(-128, 128, (7, 33)).astype(np.int8),
              "w": np.asfortranarray(rng.integers(-9, 9, (4, 33)).astype(np.int16)),
              "x_scale": np.float32(0.25), "rounding": np.array("double")}
    for save in (np.savez, np.savez_compressed):
        p = tmp_path / f"{save.__name__}.npz"
        save(p, **arrays)
        got = read_npz(p, allowed_keys=tuple(arrays))
        with np.load(p) as ref:
            for k in arrays:
                assert got[k].dtype == ref[k].dtype and np.array_equal(got[k], ref[k]), k


def test_names_are_shown_on_one_line():
    assert show_path(os.fsdecode(b"/a\nb\xff")) == "/a\\nb\\xff"
    assert abbrev("x" * 500).endswith("(502 characters)") and len(abbrev("x" * 500)) < 100
    with pytest.raises(Exception, match=r"a\\nb: .*control character"):
        check_input_file("a\nb", what="file", allowed="a file")


def test_atomic_write_failure_leaves_the_old_file(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")

    def boom(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match=f"{path}: cannot write it \\(No space left on device\\)"):
        atomic_write(path, boom)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_full_disk_on_the_summary_is_one_line_and_no_partial_file(tmp_path):
    """A real write failure: the file-size limit (RLIMIT_FSIZE) plays the full disk."""
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from sim.report import Row, write_summary\n"
        "from sim.errors import UserError\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "rows = [Row(test='t%d' % i, sim='icarus', status='pass', message='m' * 200)"
        " for i in range(50)]\n"
        "try:\n"
        "    write_summary(Path(sys.argv[1]), {}, rows)\n"
        "except UserError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(2)\n")
    out = tmp_path / "o" / "summary.json"
    res = subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 2, res.stderr
    assert res.stdout.strip().startswith(f"{out}: cannot write it (File too large)")
    assert len(res.stdout.strip().splitlines()) == 1
    assert list(out.parent.iterdir()) == []
