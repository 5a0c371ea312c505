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
checked with :func:`sim.formal.survivor.product_proof` against the unmutated Verilog:
*equivalent* (proved: no testbench could kill it; or, at once, a dead assignment: the
mutated wire is read nowhere) or *escaped* (a testbench gap; ``escaped?`` when the
equivalence proof timed out or was not tried). A mutant killed on one simulator only is
*killed-partly* (not equivalent: no proof is attempted).
"""

import random
import re
from dataclasses import dataclass

from .schemata import split_line

__all__ = ["Mutant", "mutants", "block_of", "OPERATORS", "run_mutation", "format_scores"]

OPERATORS = ("op", "const", "bit", "cond", "enable", "reset")
_RESET = "rst"
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


def _assigned(text):
    """The name a statement assigns (``assign X =`` or ``X <=``), or ``None``."""
    m = re.search(r"(\\\S+|\w+)\s*(?:\[[^\]]*\]\s*)?<=", text)
    if m:
        return m.group(1)
    m = _NAME.search(text)
    return m.group(1) if m and text.lstrip().startswith("assign") else None


def _block_of_name(name):
    name = name.replace("\\$flatten", "").replace("\\$", "\\").lstrip("\\").replace("\\", "")
    if name.startswith(("$", "auto$")):
        return "top"
    path = name.split(".")[:-1]          # the module path, without the signal's own name
    return ".".join(path[:2]) if path else "top"


def block_of(line, following=()):
    """The design block a Verilog line belongs to (from the name it assigns; for an
    ``if``, the register its statement, on this line or the ``following`` ones, loads)."""
    parts = split_line(line)
    if parts is not None and not line.lstrip().startswith("assign"):
        for text in (parts[2][1:], *following):
            name = _assigned(text)
            if name:
                return _block_of_name(name)
        return "top"
    m = _NAME.search(line)
    return _block_of_name(m.group(1)) if m else "top"


def _literal(match, delta):
    width, base, digits = int(match.group(1)), match.group(2), match.group(3).replace("_", "")
    value = int(digits, {"b": 2, "h": 16, "d": 10}[base])
    value = (value + delta) % (1 << width)
    body = {"b": format(value, f"0{width}b"), "h": format(value, "x"), "d": str(value)}[base]
    return f"{width}'{base}{body}"


def _top_level_question(code, start):
    """Index of a ``?`` at nesting depth 0 from ``start`` (the RHS's own selector), or -1."""
    depth = 0
    for i in range(start, len(code)):
        c = code[i]
        depth += 1 if c in "([{" else -1 if c in ")]}" else 0
        if c == "?" and depth == 0:
            return i
    return -1


def _assign_candidates(line, code):
    out = []
    rhs_at = code.index("=") + 1
    for m in _BINOP.finditer(code, rhs_at):
        out.append(("op", line[:m.start()] + _OPS[m.group(1)] + line[m.end():]))
    for m in _LITERAL.finditer(code, rhs_at):
        for d in (1, -1):
            out.append(("const", line[:m.start()] + _literal(m, d) + line[m.end():]))
    for m in _BITSEL.finditer(code, rhs_at):
        k = int(m.group(2))
        out.append(("bit", line[:m.start(2)] + str(k - 1 if k else 1) + line[m.end(2):]))
    q = _top_level_question(code, rhs_at)
    if q > 0:
        out.append(("cond", line[:rhs_at] + " !( " + line[rhs_at:q].strip() + " ) " + line[q:]))
    return out


def _candidates(line):
    """Every single-point change of one line: ``[(operator, new line)]``."""
    code = line.split("//")[0]
    if code.lstrip().startswith("assign"):
        return _assign_candidates(line, code)
    parts = split_line(line)
    if parts is None:
        return []
    head, cond, tail = parts
    if cond.strip() == _RESET:          # reset removed (never taken)
        return [("reset", f"{head}1'b0{tail}")]
    return [("cond", f"{head}!( {cond} ){tail}"),   # condition inverted
            ("enable", f"{head}1'b1{tail}")]      # enable removed (always taken)


def candidates(verilog):
    """``{block: [(operator, line number, line, new line)]}`` of every mutant of ``verilog``."""
    lines = verilog.split("\n")
    by_block = {}
    for i, line in enumerate(lines, 1):
        if line.lstrip().startswith(("//", "input", "output", "wire", "reg", "module")):
            continue
        for op, new in _candidates(line):
            block = block_of(line, lines[i:i + 3])
            by_block.setdefault(block, []).append((op, i, line, new))
    return by_block


def mutants(verilog, count, seed, *, start=1):
    """``count`` mutants of ``verilog`` (seeded): round-robin over the blocks and, within a
    block, over the operators it has; numbered from ``start``."""
    rng = random.Random(seed)
    pools = {}
    for block, cands in sorted(candidates(verilog).items()):
        by_op = {}
        for c in rng.sample(cands, len(cands)):
            by_op.setdefault(c[0], []).append(c)
        pools[block] = [by_op[op] for op in OPERATORS if op in by_op]
    out, seen, turn = [], set(), {b: 0 for b in pools}
    while len(out) < count and any(any(p) for p in pools.values()):
        for block in sorted(pools):
            ops = [p for p in pools[block] if p]
            if not ops or len(out) >= count:
                continue
            op, i, line, new = ops[turn[block] % len(ops)].pop()
            turn[block] += 1
            if (i, new) not in seen:
                seen.add((i, new))
                out.append(Mutant(start + len(out), op, block, i, line, new))
    return out


@dataclass
class Outcome:
    mutant: Mutant
    killed_by: dict        # simulator -> first failing testbench (or "build")
    verdict: str           # "killed", "equivalent", "escaped", "killed-partly"


class MutationError(RuntimeError):
    """The mutation run cannot be scored (e.g. the unmutated design fails a testbench)."""


#: a mutant's test is stopped (and counted as a kill by timeout, named so) after this many
#: times the unmutated design's wall time of the same test, plus :data:`TIMEOUT_SLACK_S`
TIMEOUT_FACTOR = 5.0
TIMEOUT_SLACK_S = 60.0


@dataclass
class _Sim:
    """One simulator's build of a mutant (or of the schemata) and how to run its tests."""
    sim: str
    build: object
    walls: dict            # testbench -> the unmutated design's wall seconds (schemata)


def _selected_tests(prep, tests):
    """The default regression's testbenches of ``prep``'s configuration. A ``lossless``
    testbench (``crossbar_vs_mac``) runs on the mutated design itself when the configuration
    is a lossless ideal crossbar (as ``qmac regress`` does); otherwise ``qmac regress`` runs
    it on another configuration (the lossless variant), which the mutants are not in."""
    from sim.regress import testbenches_for
    xb = prep.cfg.crossbar
    own = xb is not None and xb.lossless and xb.ideal
    return {name: tb for name, tb in testbenches_for(prep.cfg).items()
            if (not tb.variant or (tb.variant == "lossless" and own))
            and not (tests and name not in tests)}


def _order(names, block, kills):
    """Testbenches to run, those that killed most mutants of ``block`` so far first (a
    mutant is killed by the regression if ANY testbench fails: the order only saves time)."""
    return sorted(names, key=lambda n: (-kills.get((block, n), 0), names.index(n)))


def _run_tests(ctx, s, prep, index, workdir, order):
    """Run the testbenches on ``s`` until one fails: its name (``"x (timeout)"``), or None.

    The regression exactly as ``qmac regress`` runs it by default (same vectors and, for
    Icarus without ``vectors``, the same time budget per random test); with the schemata,
    ``+qmac_mutant=index`` selects the mutant."""
    import os

    from sim.regress import budget_env, default_budget, default_vectors, timeout_for
    from sim.runner import run_test
    from .schemata import selector_plusarg
    tbs = _selected_tests(prep, ctx["tests"])
    for name in order:
        tb = tbs[name]
        n = ctx["vectors"] or default_vectors(prep.cfg, s.sim)
        budget = 0.0 if ctx["vectors"] else default_budget(s.sim)
        env = budget_env(budget)
        timeout = timeout_for(prep.hp, s.sim, n, tb) + 8 * budget
        if s.walls is not None:
            env["QMAC_PLUSARGS"] = " ".join(filter(None, [os.environ.get("QMAC_PLUSARGS", ""),
                                                          selector_plusarg(index)]))
            if index and name in s.walls:
                timeout = min(timeout, TIMEOUT_FACTOR * s.walls[name] + TIMEOUT_SLACK_S)
        run = run_test(s.build, module=tb.module, test_dir=workdir / s.sim / name,
                       seed=ctx["seed"], vectors=n, timeout=timeout, extra_env=env or None)
        if run.status == "interrupted":       # Ctrl-C / SIGTERM: not a kill; stop
            raise MutationError(f"interrupted at mutant {index} ({s.sim} {name}); the "
                                f"finished mutants are in outcomes.json")
        if s.walls is not None and index == 0:
            s.walls[name] = run.wall
        if not run.passed:
            return name + (" (timeout)" if run.status == "timeout" else "")
    return None


def _build(prep, vpath, sim, build_root, tag):
    """Build ``vpath`` on ``sim``; Verilator builds of every mutation run on this machine
    take turns (one lock file), so parallel runs never build two at once."""
    import tempfile
    from pathlib import Path

    from sim.runner import _locked, build
    lock = _locked(Path(tempfile.gettempdir()) / "qmac-mutate-verilator.lock") \
        if sim == "verilator" else None
    try:
        return build(verilog_path=vpath, dut_toplevel=prep.toplevel, hp=prep.hp, sim=sim,
                     build_root=build_root, tag=tag)
    finally:
        if lock:
            lock.close()


def _run_single(mu, text, prep, ctx, kills):
    """Build and run one mutant on every simulator: ``{sim: first failing testbench}``."""
    from sim.runner import BuildError
    mdir = ctx["outdir"] / f"m{mu.index:03d}"
    vpath = mdir / prep.verilog_path.name
    mdir.mkdir(parents=True, exist_ok=True)
    vpath.write_text(mu.apply(text))
    killed = {}
    order = _order(list(_selected_tests(prep, ctx["tests"])), mu.block, kills)
    for sim in ctx["sims"]:
        try:
            b = _build(prep, vpath, sim, ctx["build_root"], f"m{mu.index:03d}")
        except BuildError:
            killed[sim] = "build"
            continue
        first = _run_tests(ctx, _Sim(sim, b, None), prep, mu.index, mdir, order)
        if first:
            killed[sim] = first
    return killed


def _schemata_sims(chosen, text, prep, ctx, log):
    """Build the schemata of ``chosen`` once per simulator and check that mutant 0 (the
    unmutated design) passes every testbench; returns ``[_Sim]``."""
    from .schemata import plant_schemata
    sdir = ctx["outdir"] / "schemata"
    sdir.mkdir(parents=True, exist_ok=True)
    vpath = sdir / prep.verilog_path.name
    vpath.write_text(plant_schemata(text, chosen, prep.toplevel))
    out = []
    names = list(_selected_tests(prep, ctx["tests"]))
    for sim in ctx["sims"]:
        s = _Sim(sim, _build(prep, vpath, sim, ctx["build_root"], "schemata"), {})
        log(f"  {sim}: schemata of {len(chosen)} mutants built "
            f"({'reused' if not s.build.rebuilt else f'{s.build.seconds:.0f} s'})")
        failed = _run_tests(ctx, s, prep, 0, sdir / "m000", names)
        if failed:
            raise MutationError(f"the unmutated design (mutant 0 of the schemata) fails "
                                f"{failed} on {sim}: see {sdir / 'm000' / sim}")
        log(f"  {sim}: mutant 0 (unmutated) passes every testbench "
            + ", ".join(f"{n} {w:.0f} s" for n, w in s.walls.items()))
        out.append(s)
    return out


def dead_assignment(mu, text):
    """True if ``mu`` mutates an ``assign`` whose left-hand name is read nowhere: no line
    but its own declarations and assignments names it (not a port, not read by any other
    statement), so the mutant is equivalent by construction."""
    code = mu.before.split("//")[0].strip()
    if not code.startswith("assign"):
        return False
    name = _NAME.search(code).group(1)
    if name.startswith("\\"):
        ref = re.compile(re.escape(name) + r"(?=\s)")
    else:
        ref = re.compile(r"(?<![\w$\\.])" + re.escape(name) + r"(?![\w$])")
    own = re.compile(r"^\s*(?:(?:wire|reg|logic)\b[^;]*;|assign\s+" + ref.pattern + ")")
    return not any(ref.search(ln.split("//")[0]) for ln in text.split("\n")
                   if not own.match(ln))


def _classify(mu, killed, text, prep, ctx):
    """Verdict of a mutant from its kills. A mutant any simulator killed is not
    equivalent (the regression is deterministic for its seed), so ``equiv`` is tried only
    on a mutant no simulator killed: a dead assignment is equivalent at once; otherwise
    the product miter against the unmutated Verilog (:func:`survivor.product_proof`, with
    the diverged registers and invariants of its ``survivors`` entry if it has one),
    ``equiv_timeout`` seconds per tool call (0: not tried, ``escaped?``): PROVED is
    equivalent, a counterexample from the initial state ``escaped``, an induction that
    fails or a timeout ``escaped?``."""
    if len(killed) == len(ctx["sims"]):
        return "killed"
    if killed:
        return "killed-partly"
    if dead_assignment(mu, text):
        return "equivalent"
    if not ctx["equiv_timeout"]:
        return "escaped?"
    from . import survivor
    from .survivors import lookup_top
    entry = lookup_top(prep.toplevel, ctx.get("seed"), mu.index)
    eq = survivor.product_proof(text, mu.apply(text), prep.toplevel,
                                ctx["outdir"] / f"m{mu.index:03d}" / "equiv",
                                diverged=entry.diverged if entry else (),
                                invariants=entry.invariants if entry else (),
                                depth=entry.depth if entry else 2,
                                timeout=ctx["equiv_timeout"])
    return ("equivalent" if eq.proved else "escaped" if eq.verdict.startswith("FAILED")
            else "escaped?")


def _choose(text, count, seed, select):
    if select is None:
        return mutants(text, count, seed)
    return [m for m in mutants(text, 400, seed) if select(m)][:count]


def run_mutation(cfg, *, count, sims, seed, outdir, vectors=None, equiv_timeout=600,
                 log=print, tests=None, select=None, schemata=True, only=None):
    """Plant, run and classify ``count`` mutants of ``cfg``'s Verilog; returns outcomes.

    ``schemata`` (default): every mutant in one Verilog behind ``+qmac_mutant=K``, one build
    per simulator; otherwise one Verilog and one build per mutant (the reference path).
    ``tests``: only these testbenches (default: all); ``select``: a predicate choosing
    among the seeded mutants (tests use it to pick a few of one block); ``only``: the
    seeded mutants with these indices (to reproduce one)."""
    import time
    from pathlib import Path

    from sim.regress import prepare
    import os
    outdir = Path(outdir)
    build_root = Path(os.environ.get("QMAC_BUILD_DIR") or outdir / "build")
    prep = prepare(cfg, build_root)
    text = prep.verilog_path.read_text()
    ctx = dict(sims=list(sims), seed=seed, vectors=vectors, outdir=outdir, tests=tests,
               equiv_timeout=equiv_timeout, build_root=build_root)
    chosen = _choose(text, count, seed, select)
    t0 = time.monotonic()
    meta = _schemata_sims(chosen, text, prep, ctx, log) if schemata else None
    outcomes, kills = [], {}
    for mu in [m for m in chosen if not only or m.index in only]:
        killed, verdict = _run_mutant(mu, text, prep, ctx, meta, kills)
        for name in set(killed.values()):
            key = (mu.block, name.split(" ")[0])
            kills[key] = kills.get(key, 0) + 1
        outcomes.append(Outcome(mu, killed, verdict))
        log(f"  mutant {mu.index:3d} {mu.block:12s} {mu.operator:6s} line {mu.line}: "
            f"{verdict} {killed}  [{time.monotonic() - t0:.0f} s]")
        _write_outcomes(outdir, outcomes)
    return outcomes


def _run_mutant(mu, text, prep, ctx, meta, kills):
    """``(killed_by, verdict)`` of one mutant. The simulators run in turn, each until one
    testbench fails; only a mutant that none kills goes to ``equiv`` (:func:`_classify`:
    an attempt that cannot finish costs up to ``equiv_timeout`` of Yosys, so it is not
    spent on a mutant another simulator kills)."""
    if meta is None:
        killed = _run_single(mu, text, prep, ctx, kills)
        return killed, _classify(mu, killed, text, prep, ctx)
    order = _order(list(_selected_tests(prep, ctx["tests"])), mu.block, kills)
    killed = {}
    for s in meta:
        first = _run_tests(ctx, s, prep, mu.index,
                           ctx["outdir"] / "schemata" / f"m{mu.index:03d}", order)
        if first:
            killed[s.sim] = first
    return killed, _classify(mu, killed, text, prep, ctx)


def _write_outcomes(outdir, outcomes):
    import json
    (outdir / "outcomes.json").write_text(json.dumps(
        [{"index": o.mutant.index, "block": o.mutant.block, "operator": o.mutant.operator,
          "line": o.mutant.line, "before": o.mutant.before.strip(),
          "after": o.mutant.after.strip(), "killed_by": o.killed_by, "verdict": o.verdict}
         for o in outcomes], indent=1))


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
