"""README.md's generated tables (and constraints/SCHEMA.md) are current:
``scripts/readme_tables.py --check`` rebuilds them from the hardware, the field table and
``docs/synth_results.json`` and compares."""

import subprocess
import sys


def test_generated_tables_are_current(repo_root):
    res = subprocess.run([sys.executable, "scripts/readme_tables.py", "--check"],
                         cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_check_detects_a_stale_table(repo_root, tmp_path):
    """The check can fail: a README with an edited generated table is reported."""
    sys.path.insert(0, str(repo_root / "scripts"))
    try:
        import readme_tables
    finally:
        sys.path.pop(0)
    text = (repo_root / "README.md").read_text()
    begin = readme_tables.BEGIN.format("synthesis")
    stale = text.replace(begin, begin + "\n| stale row |", 1)
    assert stale != text and readme_tables.render(stale) != stale
    assert readme_tables.render(text) == text
