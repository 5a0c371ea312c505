"""``qmac equiv --mutant`` / ``--survivors`` bad input: one line on stderr, exit status 2."""

import subprocess
import sys

import pytest

BAD = {
    "mutant0": (["--mutant", "0"], "--mutant"),
    "only": (["--survivors", "--only", "zzz"], "matches no survivor"),
    "invariant_alone": (["--invariant", "gold.x"], "not allowed without --mutant"),
    "survivors_and_config": (["constraints/int8.yaml", "--survivors"], "--survivors is not"),
    "depth": (["--mutant", "2", "--depth", "x"], "--depth"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_equiv_arguments_exit_2_with_one_line(case, tmp_path, repo_root):
    args, expected = BAD[case]
    res = subprocess.run([sys.executable, "-m", "sim.cli", "equiv", *args, "-o",
                          str(tmp_path / "out")], cwd=repo_root, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], res.stderr
    assert not (tmp_path / "out").exists()
