"""Sub-commands ``qmac prove``, ``qmac equiv``, ``qmac mutate`` (added to ``sim.cli``)."""

import argparse
import sys
import time
from pathlib import Path

from sim.errors import UserError

__all__ = ["COMMANDS", "add_parsers", "run"]

COMMANDS = ("prove", "equiv", "mutate")


def _widths(text):
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--widths={text!r} is not allowed; allowed: comma-separated integers in 8..48"
        ) from None
    if not values or any(not 8 <= v <= 48 for v in values):
        raise argparse.ArgumentTypeError(
            f"--widths={text!r} is not allowed; allowed: comma-separated integers in 8..48")
    return values


def add_parsers(sub, add_config_args, positive_int):
    """Add the formal sub-commands to the ``qmac`` sub-parser collection."""
    from .prove import PLANTS
    p = sub.add_parser("prove", help="formal proof: requantizer and accumulator vs reference")
    p.add_argument("--widths", type=_widths, default=[32], metavar="A[,A]",
                   help="requantizer accumulator widths to prove (default: 32)")
    p.add_argument("-j", "--jobs", type=positive_int("--jobs"), default=2,
                   help="solver processes (default: 2)")
    p.add_argument("--only", default=None, metavar="TEXT",
                   help="only the instances whose name contains TEXT")
    p.add_argument("--multipliers", action="store_true",
                   help="also prove the partial-product multiplier (stages 0-3) equal to acc*m0 "
                        "at narrow widths (slow: not finished within minutes here)")
    p.add_argument("--control", action="store_true",
                   help="also the bounded proof with en/valid free every cycle (26 cycles at "
                        "acc8; slow: not finished within minutes here)")
    p.add_argument("--plant", choices=sorted(PLANTS), default=None,
                   help="test only: plant a bug in the RTLIL (nudge1/nudge2: the requantizer's "
                        "rounding terms, zp: its output zero point, psum: the accumulator's "
                        "partial sum; must FAIL)")
    p.add_argument("-o", "--out", default="out/prove", metavar="DIR", help="work directory")

    e = sub.add_parser("equiv", help="prove the shipped Verilog equal to Amaranth's netlist, "
                                     "or a mutation survivor equal to the original")
    add_config_args(e)
    e.add_argument("-o", "--out", default="out/equiv", metavar="DIR", help="work directory")
    e.add_argument("--mutant", type=positive_int("--mutant"), default=None, metavar="K",
                   help="instead: prove mutant K of 'qmac mutate CONFIG --seed S' equivalent to "
                        "the unmutated Verilog (product miter, k-induction)")
    e.add_argument("--seed", type=positive_int("--seed", 0), default=1,
                   help="with --mutant: the mutants' seed (default: 1)")
    e.add_argument("--diverged", default=None, metavar="REG[,REG]",
                   help="with --mutant: registers the mutant keeps as its own state "
                        "(default: the survivor table's)")
    e.add_argument("--invariant", action="append", default=None, metavar="EXPR",
                   help="with --mutant: a Verilog expression over gold.NAME / gate.NAME, "
                        "proved with the equivalence (repeatable; default: the table's)")
    e.add_argument("--depth", type=positive_int("--depth"), default=None, metavar="K",
                   help="with --mutant/--survivors: k of the k-induction (default: the "
                        "survivor table's, else 2)")
    e.add_argument("--timeout", type=positive_int("--timeout", 0), default=0, metavar="S",
                   help="with --mutant/--survivors: seconds per tool call (default 0: none)")
    e.add_argument("--survivors", action="store_true",
                   help="prove every survivor listed in sim/formal/survivors.py")
    e.add_argument("--only", default=None, metavar="TEXT",
                   help="with --survivors: only those whose name contains TEXT")

    u = sub.add_parser("mutate", help="mutation score of the regression on the generated Verilog")
    add_config_args(u)
    u.add_argument("--count", type=positive_int("--count"), default=40, metavar="N",
                   help="number of mutants (default: 40)")
    u.add_argument("--sim", default="icarus,verilator", metavar="SIMS",
                   help="comma-separated simulators (default: icarus,verilator)")
    u.add_argument("--seed", type=positive_int("--seed", 0), default=1,
                   help="mutant choice and regression seed (default: 1)")
    u.add_argument("--vectors", type=positive_int("--vectors"), default=None, metavar="COUNT",
                   help="random vectors per testbench (default: the regression's)")
    u.add_argument("--equiv-timeout", type=positive_int("--equiv-timeout", 0), default=600,
                   metavar="S", help="seconds per tool call of a survivor's equivalence proof "
                                     "(qmac equiv --mutant; default: 600; 0: not tried, "
                                     "survivors are listed as escaped?)")
    u.add_argument("--single", action="store_true",
                   help="one Verilog and one build per mutant instead of the schemata "
                        "(all mutants in one build, selected by +qmac_mutant=K)")
    u.add_argument("--mutant", type=index_list, default=None, metavar="K[,K]",
                   help="only these of the seeded mutants (to reproduce one)")
    u.add_argument("-o", "--out", default="out/mutate", metavar="DIR", help="work directory")


def index_list(text):
    """``"3,7"`` -> ``[3, 7]`` (mutant indices, each >= 1)."""
    try:
        out = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"--mutant={text!r} is not allowed; allowed: "
                                         "mutant indices >= 1, comma-separated")
    return out


def _cmd_prove(args):
    from .cex import explain
    from .prove import MULTIPLIERS, PLANT_BLOCKS, default_instances, format_report, prove
    insts = default_instances(widths=args.widths,
                              multipliers=MULTIPLIERS if args.multipliers else (),
                              control=args.control)
    if args.only:
        insts = [i for i in insts if args.only in i.name]
        if not insts:
            raise UserError(f"--only={args.only!r} matches no instance; allowed: a part of "
                            f"a name in 'qmac prove' output")
    if args.plant:
        insts = [i for i in insts if i.block == PLANT_BLOCKS[args.plant] and not i.control]
    print(f"qmac prove: {len(insts)} instances, yices via Yosys write_smt2, "
          f"{args.jobs} solver processes")
    t0 = time.monotonic()
    results = prove(insts, Path(args.out), plant=args.plant, jobs=args.jobs)
    print(format_report(results))
    failed = [r for r in results if not r.proved]
    for r in failed:
        print(f"\n{r.instance.name}: FAILED in case {r.counterexample and r.counterexample['case']}")
        print(explain(r.instance, r.counterexample))
    verdict = "FAIL" if failed else "PASS"
    print(f"qmac prove: {verdict} — {len(results) - len(failed)}/{len(results)} proved, "
          f"wall {time.monotonic() - t0:.1f} s")
    return 1 if failed else 0


def _cmd_survivor(args):
    """``qmac equiv --mutant K`` / ``--survivors``: mutation survivors proved equivalent."""
    from sim.config import load_config
    from . import survivors
    timeout = args.timeout or None
    if args.survivors:
        if args.mutant or args.config or args.diverged or args.invariant:
            raise UserError("--survivors is not allowed with CONFIG, --mutant, --diverged or "
                            "--invariant; allowed: --survivors [--only TEXT] [--depth K]")
        return 1 if survivors.prove_all(Path(args.out), only=args.only, depth=args.depth,
                                        timeout=timeout) else 0
    cfg = load_config(args.config, bits=args.bits)
    entry = None if args.bits else survivors.lookup(args.config, args.seed, args.mutant)
    diverged = ([r.strip() for r in args.diverged.split(",") if r.strip()]
                if args.diverged is not None else entry.diverged if entry else ())
    invariants = (args.invariant if args.invariant is not None
                  else entry.invariants if entry else ())
    t0 = time.monotonic()
    depth = args.depth or (entry.depth if entry else 2)
    mu, res, load = survivors.prove_mutant(cfg, args.seed, args.mutant, Path(args.out),
                                           diverged=diverged, invariants=invariants,
                                           depth=depth, timeout=timeout)
    print(f"mutant {mu.index} ({mu.block}, {mu.operator}, line {mu.line}): "
          f"{mu.before.strip()[:100]} -> {mu.after.strip()[:100]}")
    print(f"  diverged: {', '.join(diverged) or 'none'}; invariants: {len(invariants)}"
          + (" (from sim/formal/survivors.py)" if entry and args.invariant is None else ""))
    print(f"qmac equiv: {cfg.toplevel} mutant {mu.index}: {res.verdict} — {res.tied} registers "
          f"tied, {res.own} own, {res.cells} cells left, k-induction depth {res.depth}, "
          f"{res.cpu:.1f} s CPU (Yosys + solver), {time.monotonic() - t0:.1f} s wall, "
          f"load {load:.1f}")
    return 0 if res.proved else 1


def _cmd_equiv(args):
    from sim.config import load_config
    from .equiv import equiv
    if args.mutant is not None or args.survivors:
        return _cmd_survivor(args)
    if args.diverged is not None or args.invariant is not None or args.only is not None:
        raise UserError("--diverged, --invariant and --only are not allowed without --mutant "
                        "or --survivors; allowed: qmac equiv CONFIG --mutant K [...]")
    cfg = load_config(args.config, bits=args.bits)
    res = equiv(cfg, Path(args.out))
    verdict = "PROVED" if res.proved else "NOT PROVED"
    print(f"qmac equiv: {cfg.toplevel}: {verdict} — {res.equiv_cells} $equiv cells, "
          f"{res.unproven} unproven, {res.seconds:.1f} s wall, {res.cpu:.1f} s Yosys CPU "
          f"(log: {Path(args.out) / 'equiv.log'})")
    for line in res.init_mismatches:
        print(f"  {line}")
    return 0 if res.proved else 1


def _cmd_mutate(args):
    from sim.config import load_config
    from .mutate import format_scores, run_mutation
    sims = [s.strip() for s in args.sim.split(",") if s.strip()]
    bad = [s for s in sims if s not in ("icarus", "verilator")]
    if bad or not sims:
        raise UserError(f"--sim={args.sim!r} is not allowed; allowed: icarus, verilator or both")
    cfg = load_config(args.config, bits=args.bits)
    from .mutate import MutationError
    try:
        outcomes = run_mutation(cfg, count=args.count, sims=sims, seed=args.seed,
                                outdir=Path(args.out), vectors=args.vectors,
                                equiv_timeout=args.equiv_timeout, schemata=not args.single,
                                only=args.mutant)
    except MutationError as exc:
        print(f"qmac mutate: {exc}", file=sys.stderr)
        return 1
    print(format_scores(outcomes, sims))
    return 0


def run(args):
    """Dispatch one formal sub-command; returns the exit status."""
    if args.command == "prove":
        return _cmd_prove(args)
    if args.command == "equiv":
        return _cmd_equiv(args)
    if args.command == "mutate":
        return _cmd_mutate(args)
    raise AssertionError(args.command)
