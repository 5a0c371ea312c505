"""``qmac mutate``: single-point mutants of the generated Verilog, run through the regression.

Mutation operators (one change at one place of one line):

* ``op``: a binary operator swapped (``+``↔``-``, ``&``↔``|``, ``^``→``|``, ``<``↔``<=``,
  ``>``↔``>=``, ``==``↔``!=``);
* ``const``: a sized literal (``8'h7f``, ``4'd3``, ``1'b1``) changed by ±1 (mod its width);
* ``bit``: a constant bit select ``x[k]`` moved to ``x[k-1]`` (or ``x[1]`` for ``k = 0``);
* ``cond``: the selector of ``?:`` or the condition of an ``if`` inverted;
* ``enable``: an ``if (...)`` guarding a register update removed (always taken).

Mutants are drawn with a seeded RNG, round-robin over the design's blocks (the first one or
two components of the hierarchical name a line assigns: ``mac``, ``stage.bank``, ``stage.rq``,
...), so every block gets mutants. Each mutant is built and run with the regression's own
entry points (:func:`sim.regress.prepare`, :func:`sim.runner.build`,
:func:`sim.runner.run_test`); a mutant any testbench fails is *killed*. A survivor is
checked with :func:`sim.formal.equiv.equiv_texts` against the unmutated Verilog:
*equivalent* (proved: no testbench could kill it) or *escaped* (a testbench gap;
``escaped?`` when the equivalence proof timed out).
"""

import random
import re
from dataclasses import dataclass

__all__ = ["Mutant", "mutants", "block_of", "OPERATORS", "run_mutation", "format_scores"]

OPERATORS = ("op", "const", "bit", "cond", "enable")
_OPS = {"+": "-", "-": "+", "&": "|", "|": "&", "^": "|", "<": "<=", "<=": "<", ">": ">=",
        ">=": ">", "==": "!=", "!=": "=="}
_BINOP = re.compile(r"(?<=[\s)])(==|!=|<=|>=|<|>|\+|-|&|\||\^)(?=\s)")
_LITERAL = re.compile(r"(\d+)'([bhd])([0-9a-fA-F_]+)")
_BITSEL = re.compile(r"(\\\S+ |\w+)\[(\d+)\]")
_NAME = re.compile(r"^\s*(?:assign\s+)?(\\\S+|\w+)")


@dataclass(frozen=True)
class Mutant:
    index: int
    operator: str
    block: str
    line: int            # 1-based line in the Verilog
    before: str
    after: str

    def apply(self, text):
        lines = text.split("\n")
        assert lines[self.line - 1] == self.before
        lines[self.line - 1] = self.after
        return "\n".join(lines)


def block_of(line):
    """The design block a Verilog line belongs to (from the name it assigns)."""
    m = _NAME.search(line.replace("\\$flatten", "").replace("\\$", "\\"))
    if not m:
        return "top"
    name = m.group(1).lstrip("\\").replace("\\", "")
    if name.startswith(("$", "auto$")):
        return "top"
    path = name.split(".")[:-1]          # the module path, without the signal's own name
    return ".".join(path[:2]) if path else "top"


def _literal(match, delta):
    width, base, digits = int(match.group(1)), match.group(2), match.group(3).replace("_", "")
    value = int(digits, {"b": 2, "h": 16, "d": 10}[base])
    value = (value + delta) % (1 << width)
    body = {"b": format(value, f"0{width}b"), "h": format(value, "x"), "d": str(value)}[base]
    return f"{width}'{base}{body}"


def _candidates(line):
    """Every single-point change of one line: ``[(operator, new line)]``."""
    out = []
    code = line.split("//")[0]
    is_assign = code.lstrip().startswith("assign")
    if is_assign:
        rhs_at = code.index("=") + 1
        for m in _BINOP.finditer(code, rhs_at):
            out.append(("op", line[:m.start()] + _OPS[m.group(1)] + line[m.end():]))
        for m in _LITERAL.finditer(code, rhs_at):
            for d in (1, -1):
                out.append(("const", line[:m.start()] + _literal(m, d) + line[m.end():]))
        for m in _BITSEL.finditer(code, rhs_at):
            k = int(m.group(2))
            out.append(("bit", line[:m.start(2)] + str(k - 1 if k else 1) + line[m.end(2):]))
        q = code.find("?", rhs_at)
        if q > 0:
            out.append(("cond", line[:rhs_at] + " !(" + line[rhs_at:q].strip() + ") " +
                        line[q:]))
    m = re.match(r"^(\s*)if \((.*)\)(.*)$", line)
    if m:
        out.append(("cond", f"{m.group(1)}if (!({m.group(2)})){m.group(3)}"))
        out.append(("enable", f"{m.group(1)}if (1'b1){m.group(3)}"))
    return out


def mutants(verilog, count, seed):
    """``count`` mutants of ``verilog`` (seeded), round-robin over blocks and operators."""
    by_block = {}
    for i, line in enumerate(verilog.split("\n"), 1):
        if line.lstrip().startswith(("//", "input", "output", "wire", "reg", "module")):
            continue
        for op, new in _candidates(line):
            by_block.setdefault(block_of(line), []).append((op, i, line, new))
    rng = random.Random(seed)
    pools = {b: rng.sample(c, len(c)) for b, c in sorted(by_block.items())}
    out, seen = [], set()
    while len(out) < count and any(pools.values()):
        for block in sorted(pools):
            if pools[block] and len(out) < count:
                op, i, line, new = pools[block].pop()
                if (i, new) not in seen:
                    seen.add((i, new))
                    out.append(Mutant(len(out), op, block, i, line, new))
    return out


@dataclass
class Outcome:
    mutant: Mutant
    killed_by: dict        # simulator -> first failing testbench (or "build")
    verdict: str           # "killed", "equivalent", "escaped", "killed-partly"


def _run_one(mutant, text, prep, sims, *, seed, vectors, outdir, tests=None):
    """Build and run one mutant on every simulator: ``{sim: first failing testbench}``.

    The regression exactly as ``qmac regress`` runs it by default (same vectors and, for
    Icarus without ``vectors``, the same time budget per random test)."""
    from sim.regress import (budget_env, default_budget, default_vectors, testbenches_for,
                             timeout_for)
    from sim.runner import BuildError, build, run_test
    mdir = outdir / f"m{mutant.index:03d}"
    vpath = mdir / prep.verilog_path.name
    mdir.mkdir(parents=True, exist_ok=True)
    vpath.write_text(mutant.apply(text))
    killed = {}
    for sim in sims:
        try:
            b = build(verilog_path=vpath, dut_toplevel=prep.toplevel, hp=prep.hp, sim=sim,
                      build_root=outdir / "build", tag=f"m{mutant.index:03d}")
        except BuildError:
            killed[sim] = "build"
            continue
        for name, tb in testbenches_for(prep.cfg).items():
            if tb.variant or (tests and name not in tests):   # variant: another config's
                continue
            n = vectors or default_vectors(prep.cfg, sim)
            budget = 0.0 if vectors else default_budget(sim)
            run = run_test(b, module=tb.module, test_dir=mdir / sim / name, seed=seed,
                           vectors=n, timeout=timeout_for(prep.hp, sim, n, tb) + 8 * budget,
                           extra_env=budget_env(budget) or None)
            if not run.passed:
                killed[sim] = name
                break
    return killed


def run_mutation(cfg, *, count, sims, seed, outdir, vectors=None, equiv_timeout=600,
                 log=print, tests=None, select=None):
    """Plant, run and classify ``count`` mutants of ``cfg``'s Verilog; returns outcomes.

    ``tests``: only these testbenches (default: all); ``select``: a predicate choosing
    among the seeded mutants (tests use it to pick a few of one block)."""
    from pathlib import Path

    from sim.regress import prepare
    from .equiv import equiv_texts
    outdir = Path(outdir)
    prep = prepare(cfg, outdir / "build")
    text = prep.verilog_path.read_text()
    outcomes = []
    import json
    import time
    t0 = time.monotonic()
    chosen = mutants(text, count, seed) if select is None else \
        [m for m in mutants(text, 400, seed) if select(m)][:count]
    for mu in chosen:
        killed = _run_one(mu, text, prep, sims, seed=seed, vectors=vectors, outdir=outdir,
                          tests=tests)
        if len(killed) == len(sims):
            verdict = "killed"
        else:
            eq = equiv_texts(text, mu.apply(text), prep.toplevel,
                             outdir / f"m{mu.index:03d}" / "equiv", gold_is_verilog=True,
                             timeout=equiv_timeout)
            verdict = ("equivalent" if eq.proved else "killed-partly" if killed else
                       "escaped?" if eq.unproven < 0 else "escaped")
        outcomes.append(Outcome(mu, killed, verdict))
        log(f"  mutant {mu.index:3d} {mu.block:12s} {mu.operator:6s} line {mu.line}: {verdict} "
            f"{killed}  [{time.monotonic() - t0:.0f} s]")
        (outdir / "outcomes.json").write_text(json.dumps(
            [{"index": o.mutant.index, "block": o.mutant.block, "operator": o.mutant.operator,
              "line": o.mutant.line, "before": o.mutant.before.strip(),
              "after": o.mutant.after.strip(), "killed_by": o.killed_by, "verdict": o.verdict}
             for o in outcomes], indent=1))
    return outcomes


def format_scores(outcomes, sims):
    """Score table per block plus the totals and the list of escapes."""
    blocks = sorted({o.mutant.block for o in outcomes})
    rows = [("block", "mutants", *[f"killed {s}" for s in sims], "equivalent", "escaped")]
    for b in blocks + ["all"]:
        sel = [o for o in outcomes if b in ("all", o.mutant.block)]
        rows.append((b, str(len(sel)), *[str(sum(s in o.killed_by for o in sel)) for s in sims],
                     str(sum(o.verdict == "equivalent" for o in sel)),
                     str(sum(o.verdict in ("escaped", "escaped?", "killed-partly") for o in sel))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    live = [o for o in outcomes if o.verdict != "equivalent"]
    for s in sims:
        k = sum(s in o.killed_by for o in live)
        lines.append(f"score {s}: {k}/{len(live)} non-equivalent mutants killed"
                     + (f" ({100 * k / len(live):.1f}%)" if live else ""))
    for o in outcomes:
        if o.verdict in ("escaped", "escaped?", "killed-partly"):
            lines.append(f"escape: mutant {o.mutant.index} ({o.mutant.block}, {o.mutant.operator}, "
                         f"line {o.mutant.line}): {o.mutant.before.strip()} -> "
                         f"{o.mutant.after.strip()}  killed by {o.killed_by or 'none'}")
    return "\n".join(lines)
