"""The hostile-input corpus (tests/helpers/fuzz_corpus.py): every bad configuration, vector
file and command line answers with exit status 2 and exactly one ``qmac: error:`` line
naming the input — no traceback, nothing written, within seconds and bounded memory.

All cases run in one child process (tests/helpers/fuzz_driver.py: ``sim.cli.main`` per case, an
address-space limit, a per-case alarm) from an empty working directory, so a leftover file
anywhere relative to it is seen as well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.fuzz_corpus import MISSING_NPZ, all_cases

REPO = Path(__file__).resolve().parents[2]
CASES = all_cases()
#: a bad input must be answered within this many seconds (measured inside the driver)
CASE_SECONDS = 5.0
#: peak resident memory of the driver process over the whole corpus
MAX_RSS_MB = 1500


def _files(d: Path) -> set[str]:
    return {os.fsdecode(p.relative_to(d)) for p in d.rglob("*")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    work = root / "cwd"
    work.mkdir()
    specs, dirs, before = [], {}, {}
    for case in CASES:
        d = root / case.kind / case.name
        d.mkdir(parents=True)
        argv = case.build(d)
        cid = f"{case.kind}-{case.name}"
        specs.append({"id": cid, "argv": argv})
        dirs[cid], before[cid] = d, _files(d)
    (root / "cases.json").write_text(json.dumps(specs))
    env = dict(os.environ, QMAC_BUILD_DIR=str(root / "build"),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("CI", None)  # bad input must be refused before any simulator is looked for
    res = subprocess.run([sys.executable, str(REPO / "tests" / "helpers" / "fuzz_driver.py"),
                          str(root / "cases.json"), str(root / "results.json")],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    results = {r["id"]: r for r in json.loads((root / "results.json").read_text())}
    return results, dirs, before, work


def test_corpus_size():
    kinds = [c.kind for c in CASES]
    assert kinds.count("config") >= 50 and kinds.count("vectors") >= 40
    assert kinds.count("cli") >= 25


def test_corpus_memory_and_cwd(corpus):
    results, _, _, work = corpus
    peak = max(r["maxrss_kb"] for r in results.values()) / 1024
    print(f"corpus: {len(results)} cases, peak RSS {peak:.0f} MB, slowest "
          f"{max(r['seconds'] for r in results.values()):.3f} s")
    assert peak < MAX_RSS_MB
    assert not _files(work), f"files written to the working directory: {_files(work)}"


def _params():
    for case in CASES:
        yield pytest.param(case, id=f"{case.kind}-{case.name}")


@pytest.mark.parametrize("case", list(_params()))
def test_case(case, corpus):
    results, dirs, before, _ = corpus
    cid = f"{case.kind}-{case.name}"
    r = results[cid]
    assert not r["traceback"], r["traceback"][-2000:]
    assert r["rc"] == 2, (r["rc"], r["stderr"][-500:])
    lines = r["stderr"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("qmac: error: "), r["stderr"][:2000]
    line = lines[0]
    assert len(line) < 600, f"{len(line)}-character error line"
    assert "Traceback" not in line and "if you trust" not in line
    if case.expect == "accepted":
        assert MISSING_NPZ in line, line
    elif case.kind == "config":
        # the configuration is what is named, not the vectors read after it
        assert MISSING_NPZ not in line, line
        assert case.names is None or case.names in line, line
        assert "allowed" in line or "YAML" in line, line
    else:
        assert case.names in line, line
    assert r["stdout"] == ""
    assert r["seconds"] < CASE_SECONDS, f"{r['seconds']:.1f} s"
    assert _files(dirs[cid]) == before[cid], "files left behind"
