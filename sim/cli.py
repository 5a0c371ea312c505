"""The ``qmac`` command line.

Sub-commands::

    qmac generate [CONFIG] [--bits N] [-o DIR] [--lint]
    qmac regress  [CONFIG] [--bits N] [--sim icarus|verilator|all] [--seed S] [--vectors COUNT]
                  [--waves] [-j JOBS] [--tests NAME[,NAME]] [-o DIR]
    qmac verify   [CONFIG] --vectors IN.npz [--sim ...] [-o OUT.npz]
    qmac bench    [CONFIG] [--sim ...]
    qmac synth    [CONFIG] [--bits N] [--target ecp5|ice40|xc7|generic[,...]|all] [--seeds K]
                  [--no-pnr] [-j JOBS] [-o DIR]

Every user error (bad configuration, bad vectors, bad arguments, missing simulator) is one
line on stderr, ``qmac: error: ...``, and exit status 2. Mismatches between hardware and
golden give exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import UserError

SIMULATORS = ("icarus", "verilator")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse hook
        sys.stderr.write(f"qmac: error: {message}; see '{self.prog} --help'\n")
        sys.exit(2)


def _positive_int(name: str, lo: int = 1):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is not an integer") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{name}={value} is out of range; allowed: >= {lo}")
        return value
    return parse


def _sims(text: str) -> list[str]:
    if text == "all":
        return list(SIMULATORS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    for s in names:
        if s not in SIMULATORS:
            raise argparse.ArgumentTypeError(
                f"--sim={s!r} is not a simulator; allowed: icarus, verilator, all")
    return names


def _bits(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"--bits={text!r} is not allowed; allowed: an integer in 2..16")
    value = int(text, 10)
    if not 2 <= value <= 16:
        raise argparse.ArgumentTypeError(f"--bits={value} is not allowed; allowed: an integer in 2..16")
    return value


def _targets(text: str) -> list[str]:
    from .synth_targets import TARGETS
    if text == "all":
        return list(TARGETS)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names or any(t not in TARGETS for t in names):
        bad = next((t for t in names if t not in TARGETS), text)
        raise argparse.ArgumentTypeError(
            f"--target={bad!r} is not a target; allowed: {', '.join(TARGETS)}, all "
            f"(comma-separated)")
    return list(dict.fromkeys(names))


def _seeds(text: str) -> int:
    from .synth import MAX_SEEDS
    try:
        value = int(text, 10)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= MAX_SEEDS:
        raise argparse.ArgumentTypeError(
            f"--seeds={text!r} is not allowed; allowed: an integer in 1..{MAX_SEEDS}")
    return value


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", default=None, metavar="CONFIG",
                   help="datapath YAML (default: constraints/int8.yaml)")
    p.add_argument("--bits", type=_bits, default=None, metavar="N",
                   help="override operands.bits (N, 2..16) and the widths derived from it")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qmac", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("generate", help="write Verilog, SDC and manifest for a configuration")
    _add_config_args(g)
    g.add_argument("-o", "--out", default="out", metavar="DIR", help="output directory (default: out)")
    g.add_argument("--lint", action="store_true", help="also run verilator --lint-only on the result")

    r = sub.add_parser("regress", help="generate, build and run the cocotb regression")
    _add_config_args(r)
    r.add_argument("--sim", type=_sims, default=list(SIMULATORS), help="icarus, verilator or all (default)")
    r.add_argument("--seed", type=_positive_int("--seed", 0), default=None, help="random seed (default: fresh, printed)")
    r.add_argument("--vectors", type=_positive_int("--vectors"), default=None, metavar="COUNT",
                   help="random vectors per random testbench")
    r.add_argument("--waves", action="store_true", help="dump waveforms for every test")
    r.add_argument("-j", "--jobs", type=_positive_int("--jobs"), default=None, help="parallel jobs (default: cores)")
    r.add_argument("--tests", default=None, metavar="NAMES", help="comma-separated testbench names to run")
    r.add_argument("-o", "--out", default="out/regress", metavar="DIR", help="results directory")
    r.add_argument("--inject-fault", default=None, help=argparse.SUPPRESS)

    v = sub.add_parser("verify", help="run your own fully-connected layer through hardware and golden")
    _add_config_args(v)
    v.add_argument("--vectors", required=True, metavar="IN.npz", help="layer to run (see README)")
    v.add_argument("--sim", type=_sims, default=["verilator"], help="icarus, verilator or all (default: verilator)")
    v.add_argument("-o", "--out", default=None, metavar="OUT.npz", help="where to write y_hw, y_golden, m0, shift")
    v.add_argument("--workdir", default="out/verify", metavar="DIR", help="build and log directory")

    b = sub.add_parser("bench", help="measure regression speed: naive, default, fast and native")
    _add_config_args(b)
    b.add_argument("--sim", type=_sims, default=list(SIMULATORS), help="icarus, verilator or all (default)")
    b.add_argument("--cycles", type=_positive_int("--cycles"), default=None, help="cycles per measurement")
    b.add_argument("--regress-timing", action="store_true",
                   help="also time a cold and a warm 'qmac regress' of the configuration")
    b.add_argument("-o", "--out", default="out/bench", metavar="DIR", help="work directory")

    s = sub.add_parser("synth", help="synthesis cell counts and place-and-route Fmax (pinned YoWASP tools)")
    _add_config_args(s)
    s.add_argument("--target", type=_targets, default=["ecp5"], metavar="TARGETS",
                   help="ecp5 (default), ice40, xc7, generic, comma-separated, or all")
    s.add_argument("--seeds", type=_seeds, default=3, metavar="K",
                   help="place-and-route seeds for ecp5 (default 3; Fmax is their median)")
    s.add_argument("--no-pnr", action="store_true", help="synthesis counts only, no place and route")
    s.add_argument("-j", "--jobs", type=_positive_int("--jobs"), default=1,
                   help="place-and-route seeds run in parallel (default 1)")
    s.add_argument("-o", "--out", default="out/synth", metavar="DIR", help="output directory (default: out/synth)")
    return parser


def _cmd_generate(args, cfg) -> int:
    from .generate import generate
    gen = generate(cfg, args.out)
    m = gen.manifest
    print(f"qmac: generated {gen.verilog_path} ({cfg.toplevel}: N={cfg.bits}, "
          f"R={cfg.rows}, C={cfg.cols}, acc_bits={cfg.acc_bits}, latency={m['latency_cycles']} cycles)")
    print(f"qmac: wrote {gen.sdc_path} and {gen.manifest_path}")
    if args.lint:
        from .lint import lint
        lint([gen.verilog_path])
        print("qmac: verilator --lint-only: clean")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        from .config import load_config
        cfg = load_config(args.config, bits=args.bits)
        if args.command == "generate":
            return _cmd_generate(args, cfg)
        if args.command == "regress":
            from .regress import run_regress
            return run_regress(cfg, sims=args.sim, seed=args.seed, vectors=args.vectors,
                               waves=args.waves, jobs=args.jobs, outdir=Path(args.out),
                               inject_fault=args.inject_fault,
                               tests=args.tests.split(",") if args.tests else None)
        if args.command == "verify":
            from .verify import run_verify
            return run_verify(cfg, vectors_path=Path(args.vectors), sims=args.sim,
                              out_path=Path(args.out) if args.out else None,
                              outdir=Path(args.workdir))
        if args.command == "synth":
            from .synth import run_synth
            return run_synth(cfg, targets=args.target, seeds=args.seeds, pnr=not args.no_pnr,
                             outdir=Path(args.out), jobs=args.jobs)
        if args.command == "bench":
            from .bench import run_bench
            return run_bench(cfg, sims=args.sim, cycles=args.cycles, outdir=Path(args.out),
                             regress_timing=args.regress_timing)
    except UserError as exc:
        sys.stderr.write(f"qmac: error: {exc}\n")
        return 2
    except OSError as exc:  # unwritable -o path, full disk, ...
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"qmac: error: {where}{exc.strerror or exc}; allowed: a writable "
                         f"directory path for -o/--out\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("qmac: interrupted\n")
        return 130
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
