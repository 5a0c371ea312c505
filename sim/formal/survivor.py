"""A mutation survivor proved equivalent to the original design: a product miter, k-induction.

``equiv_texts`` compares the two designs signal by signal (``$equiv`` cells cut at every
matched name), which needs minutes of Yosys on a whole 16x16 design and cannot see an
invariant of the reachable states. Here the mutant (*gate*) and the original (*gold*) are
put in one miter (``miter -equiv``: same inputs, every output compared every cycle), and
the state they share is *tied*: every register of the gate whose name, width, clock and
initial value match a gold register is removed and reads the gold register instead (a
register without an initial value on both sides is taken to start equal, as ``equiv_*``
does; the shipped Verilog initialises every register), and the
property gains "the two next-state values are equal". Registers named in ``diverged``
(those the mutation may really change, e.g. the register whose enable was removed) keep
their own gate copy. After ``opt`` merges the now identical logic, only the cone the
mutation touches is left (tens to hundreds of cells of a 10,000-cell design); Yosys
``write_smt2`` and ``yosys-smtbmc`` with Yices then prove the property by k-induction:

* base case: the property holds in the first ``depth`` cycles from the initial state;
* induction: any ``depth`` consecutive cycles where it holds are followed by one where it
  holds (from ANY state, reachable or not).

Both passing is an unbounded proof. Why it proves the mutant equivalent: by induction on
time, while the property has held the real gate's tied registers equal the gold ones (same
initial values, equal next states), so the product is the real pair of designs, and its
outputs are equal in every cycle.

An induction that fails because an unreachable state breaks the property (e.g. ADC pending
bits set while the interface is idle) needs an invariant: ``invariants`` are Verilog
expressions over ``gold.NAME`` / ``gate.NAME`` (the flat Verilog names, e.g.
``gold.engine.adc.pending_q``), asserted in every cycle and proved by the same
k-induction — stated by hand, checked by the machine, never assumed. A base-case failure
is a counterexample from the initial state (the mutant is not equivalent); an induction
failure alone leaves the result NOT PROVED (bounded: the base case shows ``depth`` cycles).
"""

import hashlib
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import tools
from .equiv import _child_cpu

__all__ = ["ProductResult", "product_proof", "tie_registers", "invariant_module"]

#: a cell with the attribute lines before it (removed together)
_CELL = re.compile(r"^(?:  attribute [^\n]*\n)*  cell (\S+) (\S+)\n(.*?)^  end\n", re.S | re.M)
_REF = re.compile(r"\b(gold|gate)\.([A-Za-z_$][\w.$]*)")

#: Both designs read, flattened into one miter; memories become registers, enables and
#: synchronous resets multiplexers in front of plain ``$dff`` cells (what is tied).
_MITER = ("proc", "memory -nomap", "memory_map", "opt_clean", "dffunmap", "opt_clean")


@dataclass
class ProductResult:
    proved: bool
    verdict: str            # PROVED / NOT PROVED (bounded ...) / FAILED / timeout
    depth: int
    tied: int = 0           # gate registers tied to their gold partner
    own: int = 0            # gate registers kept (diverged, or without a matching partner)
    cells: int = 0          # cells left after the reduction (the proof's size)
    seconds: float = 0.0
    cpu: float = 0.0        # CPU seconds of Yosys and the solver (user + system)
    log: str = ""
    steps: dict = field(default_factory=dict)


def _port(body, name):
    return re.search(r"^    connect \\" + name + r" (.*)$", body, re.M).group(1).strip()


def _inits(il):
    """``{wire name: init text}`` of the RTLIL module text."""
    out, pending = {}, None
    for line in il.splitlines():
        if line.startswith("  attribute \\init "):
            pending = line.split()[2]
        elif line.startswith("  wire "):
            if pending is not None:
                out[line.split()[-1]] = pending
            pending = None
        elif not line.startswith("  attribute"):
            pending = None
    return out


#: prefix of the public wire that is high when a tied pair's next states differ
DIFFERS = "qmac_tie_differs."


def _ne_cell(n, a, b, width, name):
    y = f"\\{DIFFERS}{name}"
    return y, (f"  wire {y}\n  cell $ne $tie_cmp${n}\n    parameter \\A_SIGNED 0\n"
               f"    parameter \\B_SIGNED 0\n    parameter \\A_WIDTH {width}\n"
               f"    parameter \\B_WIDTH {width}\n    parameter \\Y_WIDTH 1\n"
               f"    connect \\A {a}\n    connect \\B {b}\n    connect \\Y {y}\n  end\n")


def tie_registers(il, diverged=()):
    """Tie the gate's registers to the gold ones in the miter's RTLIL (see module doc).

    Returns ``(rtlil, tied, own)``: the module with the tied gate ``$dff`` cells removed,
    their outputs connected to the gold outputs, and one ``$assert`` that every output
    matches (``trigger`` low) and every tied pair's next-state inputs are equal.
    """
    inits = _inits(il)
    ffs = [(m.span(), _port(m.group(3), "D"), _port(m.group(3), "Q"),
            (_port(m.group(3), "CLK"), m.group(3).count("parameter \\CLK_POLARITY 1"),
             int(re.search(r"parameter \\WIDTH (\d+)", m.group(3)).group(1))))
           for m in _CELL.finditer(il) if m.group(1) == "$dff"]
    gold = {q: (d, w) for _, d, q, w in ffs if q.startswith("\\gold.")}
    removed, extra, flags, own = [], [], ["\\trigger"], 0
    for span, d, q, w in ffs:
        if not q.startswith("\\gate."):
            continue
        name = q[len("\\gate."):]
        gq = "\\gold." + name
        wire = name.split(" ")[0]
        if (gq not in gold or gold[gq][1] != w or wire in diverged
                or inits.get("\\gate." + wire) != inits.get("\\gold." + wire)):
            own += 1
            continue
        removed.append(span)
        y, cell = _ne_cell(len(flags), gold[gq][0], d, w[2], name.replace(' ', ''))
        extra += [f"  connect {q} {gq}\n", cell]
        flags.append(y)
    pieces, at = [], 0
    for start, stop in removed:            # the module text without the tied gate cells
        pieces.append(il[at:start])
        at = stop
    out = "".join(pieces) + il[at:]
    extra.append(
        f"  wire $tie_any\n  cell $reduce_or $tie_or\n    parameter \\A_SIGNED 0\n"
        f"    parameter \\A_WIDTH {len(flags)}\n    parameter \\Y_WIDTH 1\n"
        f"    connect \\A {{ {' '.join(flags)} }}\n    connect \\Y $tie_any\n  end\n"
        f"  wire $tie_ok\n  cell $not $tie_not\n    parameter \\A_SIGNED 0\n"
        f"    parameter \\A_WIDTH 1\n    parameter \\Y_WIDTH 1\n"
        f"    connect \\A $tie_any\n    connect \\Y $tie_ok\n  end\n"
        f"  cell $assert $tie_assert\n    connect \\A $tie_ok\n    connect \\EN 1'1\n  end\n")
    end = out.rfind("\nend")
    return out[:end + 1] + "".join(extra) + out[end + 1:], len(flags) - 1, own


def invariant_module(il, invariants):
    """``(verilog, cell)``: a module asserting each invariant and its instance in the miter.

    Each ``gold.NAME`` / ``gate.NAME`` becomes a port wired to that miter wire; a name the
    miter lacks is a ``ValueError`` naming it."""
    widths = {}
    for line in il.splitlines():
        if line.startswith("  wire "):
            words = line.split()
            widths[words[-1]] = int(words[words.index("width") + 1]) if "width" in words else 1
    ports, exprs = {}, []
    for k, text in enumerate(invariants):
        def port(m):
            wire = f"\\{m.group(1)}.{m.group(2)}"
            if wire not in widths:
                raise ValueError(f"invariant {k + 1}: no signal {m.group(0)!r} in the miter")
            return ports.setdefault(wire, f"s{len(ports)}")
        exprs.append(_REF.sub(port, text))
    decl = ", ".join(f"input [{widths[w] - 1}:0] {p}" for w, p in ports.items())
    body = "".join(f"  always @* assert ({e});\n" for e in exprs)
    verilog = f"module qmac_invariants({decl});\n{body}endmodule\n"
    cell = ("  cell \\qmac_invariants $invariants\n"
            + "".join(f"    connect \\{p} {w}\n" for w, p in ports.items()) + "  end\n")
    return verilog, cell


def _yosys(workdir, script, log, timeout):
    tools.run_yosys(workdir, script, log=log, timeout=timeout)
    return Path(workdir, log).read_text()


def _build(workdir, top, diverged, invariants, timeout):
    """Write ``product.smt2``; returns ``(tied, own, cells)``."""
    script = ["read_verilog -sv gold.v", f"rename {top} gold", "read_verilog -sv gate.v",
              f"rename {top} gate", *_MITER, "miter -equiv -flatten gold gate miter",
              "hierarchy -top miter", "opt_clean", "write_rtlil miter.il"]
    key = hashlib.sha256("\n".join([*script, Path(workdir, "gold.v").read_text(),
                                     Path(workdir, "gate.v").read_text()]).encode()).hexdigest()
    stamp = Path(workdir, "miter.key")
    if not (stamp.exists() and stamp.read_text() == key and Path(workdir, "miter.il").exists()):
        _yosys(workdir, script, "miter.log", timeout)     # the costly part: reused when
        stamp.write_text(key)                             # only the invariants change
    il, tied, own = tie_registers(Path(workdir, "miter.il").read_text(), diverged)
    reads = []
    if invariants:
        verilog, cell = invariant_module(il, invariants)
        Path(workdir, "invariants.v").write_text(verilog)
        end = il.rfind("\nend")
        il = il[:end + 1] + cell + il[end + 1:]
        reads = ["read_verilog -formal invariants.v"]
    Path(workdir, "product.il").write_text(il)
    log = _yosys(workdir, [*reads, "read_rtlil product.il", "hierarchy -top miter", "proc", "flatten",
                           "chformal -lower",
                           "opt -full", "opt_clean -purge", "dffunmap", "opt_clean",
                           "tee -o stat.txt stat", "write_smt2 -wires product.smt2"],
                 "product.log", timeout)
    found = re.search(r"^\s+(\d+) cells$", Path(workdir, "stat.txt").read_text(), re.M)
    return tied, own, int(found.group(1)) if found else -1


def _smtbmc(workdir, depth, induction, timeout):
    """The base case (trace ``base.vcd``) or the induction step of ``product.smt2``; the
    output is kept in ``base.txt`` / ``induction.txt``."""
    passed, out = tools.run_smtbmc(workdir, "product.smt2", depth,
                                   vcd=None if induction else "base.vcd",
                                   extra=["-i"] if induction else (), timeout=timeout)
    Path(workdir, "induction.txt" if induction else "base.txt").write_text(out)
    return passed, out


def product_proof(gold_verilog, gate_verilog, top, workdir, *, diverged=(), invariants=(),
                  depth=2, timeout=None):
    """Prove ``gate_verilog`` equivalent to ``gold_verilog`` (module ``top``) in ``workdir``.

    ``diverged``: flat register names of the gate kept as its own state; ``invariants``:
    Verilog expressions proved together with the equivalence; ``depth``: k of the
    k-induction; ``timeout``: seconds per tool call (``subprocess.TimeoutExpired``
    gives the verdict ``timeout``)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "gold.v").write_text(gold_verilog)
    (workdir / "gate.v").write_text(gate_verilog)
    t0, cpu0 = time.monotonic(), _child_cpu()
    res = ProductResult(False, "timeout", depth)
    try:
        res.tied, res.own, res.cells = _build(workdir, top, set(diverged), invariants, timeout)
        base, res.log = _smtbmc(workdir, depth, False, timeout)
        ind, log = (_smtbmc(workdir, depth, True, timeout) if base else (False, ""))
        res.log += log
    except subprocess.TimeoutExpired:
        res.seconds, res.cpu = time.monotonic() - t0, _child_cpu() - cpu0
        return res
    res.proved = base and ind
    res.verdict = ("PROVED" if res.proved else _base_failure(workdir, invariants) if not base
                   else f"NOT PROVED (bounded: equal for {depth} cycles from the initial "
                        f"state; the induction step fails: an invariant is missing)")
    res.seconds, res.cpu = time.monotonic() - t0, _child_cpu() - cpu0
    return res


def _high_in_trace(vcd_text, prefix):
    """Names (``prefix`` removed) of the 1-bit signals of the smtbmc VCD whose full name
    (scopes below the top joined with dots) starts with ``prefix`` and that are 1 at some
    time of the trace."""
    ids, scopes = {}, []
    for line in vcd_text.splitlines():
        words = line.split()
        if words[:1] == ["$scope"]:
            scopes.append(words[2])
        elif words[:1] == ["$upscope"]:
            scopes.pop()
        elif words[:1] == ["$var"] and words[2] == "1":
            name = ".".join(scopes[1:] + [words[4]])
            if name.startswith(prefix):
                ids[words[3]] = name[len(prefix):]
    high = set()
    for line in vcd_text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "b1" and words[1] in ids:
            high.add(ids[words[1]])
        elif line[:1] == "1" and line[1:] in ids:
            high.add(ids[line[1:]])
    return sorted(high)


def _base_failure(workdir, invariants):
    """The verdict of a base case that failed: outputs differ (the mutant is not
    equivalent), or only a tied register's next state (or an invariant) is wrong."""
    vcd = Path(workdir, "base.vcd")
    text = vcd.read_text() if vcd.exists() else ""
    if _high_in_trace(text, "trigger"):
        return f"FAILED (the outputs differ within the first cycles from the initial state: {vcd})"
    tied = _high_in_trace(text, DIFFERS)
    if tied:
        return ("NOT PROVED (a tied register differs from the initial state, the outputs "
                f"not yet: {', '.join(tied[:4])}; list it as diverged; trace {vcd})")
    return (f"NOT PROVED (an invariant fails from the initial state: {vcd})" if invariants
            else f"FAILED (trace {vcd})")
