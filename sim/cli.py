"""The ``qmac`` command line.

Sub-commands::

    qmac generate [CONFIG] [--bits N] [-o DIR] [--lint]
    qmac regress  [CONFIG] [--bits N] [--sim icarus|verilator|all] [--seed S] [--vectors COUNT]
                  [--waves] [--hw-coverage] [-j JOBS] [--tests NAME[,NAME]] [-o DIR]
    qmac verify   [CONFIG] --vectors IN.npz [--sim ...] [-o OUT.npz]
    qmac run      MODEL.tflite [CONFIG] [--inputs X.npy] [--compare golden|tflite] [-o DIR]
    qmac bench    [CONFIG] [--sim ...]
    qmac sweep    MODEL.npz [CONFIG] --data DATA.npz [--bits 2..8] [--adc-bits ...] ...
    qmac prove    [--widths A[,A]] [-j JOBS] [--only TEXT] [-o DIR]
    qmac equiv    [CONFIG] [--bits N] [-o DIR]
    qmac equiv    [CONFIG] --mutant K [--seed S] [--diverged REG,..] [--invariant EXPR]... [--depth K]
    qmac equiv    --survivors [--only TEXT] [--depth K] [--timeout S]
    qmac mutate   [CONFIG] [--count N] [--sim ...] [--seed S] [-o DIR]
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

from constraints.records import MixedWidthsError

from .errors import UserError

SIMULATORS = ("icarus", "verilator")
#: the largest ``--vectors`` of ``qmac regress`` (README): per-test timeouts scale with it
MAX_VECTORS = 1_000_000
#: the largest ``--cycles`` of ``qmac bench``
MAX_BENCH_CYCLES = 100_000_000


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse hook
        sys.stderr.write(f"qmac: error: {_one_line(message)}; see '{self.prog} --help'\n")
        sys.exit(2)


def _one_line(text: str, limit: int = 2000) -> str:
    """A message as one printable line (control characters escaped), at most ``limit``."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _positive_int(name: str, lo: int = 1, hi: int | None = None, why: str = ""):
    def parse(text: str) -> int:
        shown = text if len(text) <= 30 else text[:30] + "..."
        if len(text) > 30 or not text.strip().lstrip("+-").isdigit():
            raise argparse.ArgumentTypeError(f"{name}={shown!r} is not an integer; allowed: an "
                                             f"integer >= {lo}" + (f" and <= {hi}" if hi else ""))
        value = int(text, 10)
        if value < lo or (hi is not None and value > hi):
            allowed = f">= {lo}" if hi is None else f"{lo}..{hi}{why}"
            raise argparse.ArgumentTypeError(f"{name}={value} is out of range; allowed: {allowed}")
        return value
    return parse


def _sims(text: str) -> list[str]:
    if text.strip() == "all":
        return list(SIMULATORS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"--sim={text!r} names no simulator; allowed: icarus, "
                                         f"verilator, all (or a comma-separated list)")
    for s in names:
        if s not in SIMULATORS:
            raise argparse.ArgumentTypeError(
                f"--sim={s!r} is not a simulator; allowed: icarus, verilator, all")
    return list(dict.fromkeys(names))


def _tests(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"--tests={text!r} names no testbench; allowed: a "
                                         f"comma-separated list of testbench names")
    return list(dict.fromkeys(names))


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
                   help="override operands.bits (N, 2..16): both operand widths, and the "
                        "widths derived from them")


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
    r.add_argument("--seed", type=_positive_int("--seed", 0, 2**32 - 1), default=None,
                   help="random seed (default: fresh, printed)")
    r.add_argument("--vectors", type=_positive_int("--vectors", 1, MAX_VECTORS,
                                                   " (the documented maximum)"),
                   default=None, metavar="COUNT",
                   help=f"random vectors per random testbench (at most {MAX_VECTORS})")
    r.add_argument("--waves", action="store_true", help="dump waveforms for every test")
    r.add_argument("--hw-coverage", action="store_true",
                   help="Verilator: also line/toggle coverage of the generated module")
    r.add_argument("-j", "--jobs", type=_positive_int("--jobs", 1, 256), default=None,
                   help="parallel jobs (default: cores)")
    r.add_argument("--tests", type=_tests, default=None, metavar="NAMES",
                   help="comma-separated testbench names to run")
    r.add_argument("-o", "--out", default="out/regress", metavar="DIR", help="results directory")
    r.add_argument("--inject-fault", default=None, help=argparse.SUPPRESS)

    v = sub.add_parser("verify", help="run your own fully-connected layer through hardware and golden")
    _add_config_args(v)
    v.add_argument("--vectors", required=True, metavar="IN.npz", help="layer to run (see README)")
    v.add_argument("--sim", type=_sims, default=["verilator"], help="icarus, verilator or all (default: verilator)")
    v.add_argument("-o", "--out", default=None, metavar="OUT.npz", help="where to write y_hw, y_golden, m0, shift")
    v.add_argument("--workdir", default="out/verify", metavar="DIR", help="build and log directory")

    m = sub.add_parser("run", help="run a quantized .tflite model through golden, hardware and TFLite")
    m.add_argument("model", metavar="MODEL.tflite", help="int8 TFLite model")
    _add_config_args(m)
    m.add_argument("--inputs", default=None, metavar="X.npy", help="inputs [N, ...] (default: random)")
    m.add_argument("--labels", default=None, metavar="Y.npy", help="integer labels [N] for top-1 accuracy")
    m.add_argument("--count", type=_positive_int("--count"), default=None, metavar="N", help="images to run")
    m.add_argument("--sim", type=_sims, default=["verilator"], help="icarus, verilator or all (default: verilator)")
    m.add_argument("--seed", type=_positive_int("--seed", 0), default=None, help="seed of the random inputs")
    m.add_argument("--compare", choices=("golden", "tflite"), default="golden",
                   help="also compare with the TFLite interpreter (needs the [tflite] extra)")
    m.add_argument("--native", action="store_true",
                   help="also replay the streams on the Python-free harness: fast/native speed ratio")
    m.add_argument("--driver", choices=("direct", "cocotb"), default=None,
                   help="hardware step: one Python-free simulator process (direct; default on "
                        "MAC arrays) or cocotb (default on crossbars)")
    m.add_argument("--layer-config", default=None, metavar="SPEC",
                   help="per-layer hardware: hardware-layer positions to configurations, e.g. "
                        "0=constraints/int8.yaml,1-2=constraints/int4.yaml (sim/layer_config.py)")
    m.add_argument("-o", "--out", default="out/run", metavar="DIR", help="report.json and layers.npz")

    b = sub.add_parser("bench", help="measure regression speed: naive, default, fast and native")
    _add_config_args(b)
    b.add_argument("--sim", type=_sims, default=list(SIMULATORS), help="icarus, verilator or all (default)")
    b.add_argument("--cycles", type=_positive_int("--cycles", 1, MAX_BENCH_CYCLES), default=None,
                   help=f"cycles per measurement (at most {MAX_BENCH_CYCLES})")
    b.add_argument("--regress-timing", action="store_true",
                   help="also time a cold and a warm 'qmac regress' of the configuration")
    b.add_argument("-o", "--out", default="out/bench", metavar="DIR", help="work directory")
    from .sweep_cli import add_sweep_parser
    add_sweep_parser(sub)
    from .quantize import add_quantize_parser
    add_quantize_parser(sub)

    from .formal.cli import add_parsers as add_formal_parsers
    add_formal_parsers(sub, _add_config_args, _positive_int)

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
    from .inputs import check_output_path
    check_output_path(args.out, what="generate output directory (-o)", directory=True)
    gen = generate(cfg, args.out)
    m = gen.manifest
    print(f"qmac: generated {gen.verilog_path} ({cfg.toplevel}: {cfg.widths_label}, "
          f"R={cfg.rows}, C={cfg.cols}, acc_bits={cfg.acc_bits}, latency={m['latency_cycles']} cycles)")
    print(f"qmac: wrote {gen.sdc_path} and {gen.manifest_path}")
    if args.lint:
        from .lint import lint
        lint([gen.verilog_path])
        print("qmac: verilator --lint-only: clean")
    return 0


class _Terminated(KeyboardInterrupt):
    """SIGTERM outside ``qmac regress`` (which handles it itself): unwind like Ctrl-C."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line. An optional positional CONFIG may also come after the
    options (``qmac sweep M.npz --data D.npz CONFIG``): argparse alone fills it only right
    after the other positionals and rejects it anywhere else."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if len(extra) == 1 and not extra[0].startswith("-") and \
            getattr(args, "config", "") is None:
        args.config = extra[0]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import signal
    import threading
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _dispatch(args)
    except KeyboardInterrupt as exc:
        # every child (simulator, compiler, runner) goes with us: none is left behind
        from .runner import kill_descendants
        kill_descendants()
        name = "SIGTERM" if isinstance(exc, _Terminated) else "SIGINT"
        sys.stderr.write(f"qmac: interrupted ({name})\n")
        return 143 if isinstance(exc, _Terminated) else 130
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _dispatch(args) -> int:
    try:
        from .formal.cli import COMMANDS as FORMAL_COMMANDS
        if args.command in FORMAL_COMMANDS:
            from .formal.cli import run as run_formal
            return run_formal(args)
        from .config import load_config
        if args.command == "sweep":
            from .sweep_cli import cmd_sweep
            return cmd_sweep(args)
        if args.command == "quantize":
            from .quantize import cmd_quantize
            return cmd_quantize(args)
        cfg = load_config(args.config, bits=args.bits)
        if args.command == "generate":
            return _cmd_generate(args, cfg)
        if args.command == "regress":
            from .regress import run_regress
            return run_regress(cfg, sims=args.sim, seed=args.seed, vectors=args.vectors,
                               waves=args.waves, jobs=args.jobs, outdir=Path(args.out),
                               inject_fault=args.inject_fault, tests=args.tests,
                               hw_coverage=args.hw_coverage)
        if args.command == "verify":
            from .verify import run_verify
            return run_verify(cfg, vectors_path=Path(args.vectors), sims=args.sim,
                              out_path=Path(args.out) if args.out else None,
                              outdir=Path(args.workdir))
        if args.command == "run":
            from .run import run_model
            return run_model(cfg, args.model, inputs_path=args.inputs, labels_path=args.labels,
                             count=args.count, sims=args.sim, seed=args.seed,
                             compare=args.compare, outdir=Path(args.out),
                             native=args.native, layer_config=args.layer_config,
                             driver=args.driver).status
        if args.command == "synth":
            from .synth import run_synth
            return run_synth(cfg, targets=args.target, seeds=args.seeds, pnr=not args.no_pnr,
                             outdir=Path(args.out), jobs=args.jobs)
        if args.command == "bench":
            from .bench import run_bench
            return run_bench(cfg, sims=args.sim, cycles=args.cycles, outdir=Path(args.out),
                             regress_timing=args.regress_timing)
    except UserError as exc:
        sys.stderr.write(f"qmac: error: {_one_line(exc)}\n")
        return 2
    except MixedWidthsError as exc:  # a command that still needs one operand width N
        sys.stderr.write(f"qmac {args.command}: error: {_one_line(exc)} (this command runs "
                         f"configurations with input_bits == weight_bits)\n")
        return 2
    except OSError as exc:  # unwritable -o path, full disk, ...
        from .inputs import show_path
        where = f"{show_path(exc.filename)}: " if exc.filename else ""
        sys.stderr.write(f"qmac: error: {where}{_one_line(exc.strerror or exc)}; allowed: a "
                         f"writable path on a file system with free space\n")
        return 2
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
