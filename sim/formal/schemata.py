"""Mutant schemata: every selected mutant planted in ONE copy of the generated Verilog.

Each mutated line keeps its original text behind a selector: an ``assign`` becomes
``assign LHS = (qmac_mutant == 32'dK) ? (mutated RHS) : ... : (original RHS);`` and an
``if (...)`` gets ``if ((qmac_mutant == 32'dK) ? (mutated condition) : ... : (original))``.
``qmac_mutant`` is a 32-bit variable of the top module, set at time 0 from the plusarg
``+qmac_mutant=K`` (0, the default: no mutant). A simulator builds the schemata once; every
mutant is then a run with a different plusarg (Untch, Offutt & Harrold's "mutant schema
generation"). Mutant ``K`` behaves exactly as the single-mutant Verilog
(:meth:`sim.formal.mutate.Mutant.apply`): the conditional operator's operands are
context-determined in Verilog, so the selected operand is sized and signed as the bare
expression would be (both operands differ only by the mutation, which keeps widths and
signedness), and an ``if`` condition only tests for non-zero.
"""

import re

__all__ = ["SELECTOR", "PLUSARG", "split_line", "plant_schemata", "selector_plusarg"]

SELECTOR = "qmac_mutant"
PLUSARG = f"{SELECTOR}=%d"
_IF = re.compile(r"^(\s*(?:else\s+)?if\s*)\(")


def _close(text, start):
    """Index of the parenthesis closing the one at ``text[start]``."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses: {text!r}")


def split_line(line):
    """``(head, body, tail)`` of a mutable line: the RHS of an ``assign`` or the condition
    of an ``if``; ``None`` for any other line."""
    code = line.split("//")[0]
    if code.lstrip().startswith("assign"):
        rhs_at = code.index("=") + 1
        end = line.rindex(";")
        return line[:rhs_at], line[rhs_at:end].strip(), line[end:]
    m = _IF.match(line)
    if m:
        open_at = m.end() - 1
        close_at = _close(line, open_at)
        return line[:open_at + 1], line[open_at + 1:close_at], line[close_at:]
    return None


def selector_plusarg(index):
    """The simulator argument that selects mutant ``index`` (0: the original)."""
    return f"+{SELECTOR}={int(index)}"


def _planted(line, group):
    """``line`` with every mutant of ``group`` behind the selector."""
    head, body, tail = split_line(line)
    expr = f"( {body} )"          # the spaces end an escaped identifier (``\\a.b ``)
    for mu in reversed(group):
        m_head, m_body, m_tail = split_line(mu.after)
        if (m_head, m_tail) != (head, tail):
            raise ValueError(f"mutant {mu.index} changes more than the RHS/condition: "
                             f"{mu.before!r} -> {mu.after!r}")
        expr = f"({SELECTOR} == 32'd{mu.index}) ? ( {m_body} ) : {expr}"
    return f"{head.rstrip()} {expr}{tail}" if head.rstrip().endswith("=") else \
        f"{head}{expr}{tail}"


def plant_schemata(verilog, mutants, module):
    """The schemata of ``mutants`` (indices ≥ 1) in ``verilog``, whose top is ``module``."""
    if any(mu.index < 1 for mu in mutants):
        raise ValueError("mutant indices start at 1 (0 selects the original design)")
    lines = verilog.split("\n")
    by_line = {}
    for mu in mutants:
        if lines[mu.line - 1] != mu.before:
            raise ValueError(f"mutant {mu.index}: line {mu.line} is not {mu.before!r}")
        by_line.setdefault(mu.line, []).append(mu)
    for n, group in by_line.items():
        lines[n - 1] = _planted(lines[n - 1], group)
    header = next(i for i, ln in enumerate(lines)
                  if re.match(rf"^module\s+{re.escape(module)}\b", ln))
    end = next(i for i in range(header, len(lines)) if lines[i].rstrip().endswith(");"))
    lines[end + 1:end + 1] = [
        f"  // qmac mutant schemata: {len(mutants)} mutants, selected by +{SELECTOR}=K",
        f"  reg [31:0] {SELECTOR};",
        f"  initial if (!$value$plusargs(\"{PLUSARG}\", {SELECTOR})) {SELECTOR} = 32'd0;",
    ]
    return "\n".join(lines)
