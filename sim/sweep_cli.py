"""Argument parsing of ``qmac sweep`` (the sweep itself: :mod:`sim.sweep`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import UserError

__all__ = ["add_sweep_parser", "cmd_sweep"]

METHODS = ("minmax", "percentile", "mse", "kl")
ROUNDINGS = ("double", "single", "ruy")


def _list(name, conv, allowed):
    def parse(text):
        vals = []
        for part in text.split(","):
            part = part.strip()
            lo, dots, hi = part.partition("..")
            try:
                if dots:
                    vals += [conv(str(v)) for v in range(int(lo), int(hi) + 1)]
                else:
                    vals.append(conv(part))
            except (ValueError, TypeError):
                raise argparse.ArgumentTypeError(
                    f"{name}={text!r} is not allowed; allowed: {allowed}") from None
        if not vals:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is empty; allowed: {allowed}")
        return vals
    return parse


def _bits(v):
    v = int(v)
    if not 2 <= v <= 16:
        raise ValueError(v)
    return v


def _adc(v):
    return "lossless" if v == "lossless" else _adc_int(v)


def _adc_int(v):
    v = int(v)
    if not 1 <= v <= 40:
        raise ValueError(v)
    return v


def _fs(v):
    if v in ("auto", "calibrated", "config"):
        return v
    v = int(v)
    if v < 1 or v & (v - 1):
        raise ValueError(v)
    return v


def _choice(options):
    def conv(v):
        if v not in options:
            raise ValueError(v)
        return v
    return conv


def _sigma(v):
    v = float(v)
    if not 0.0 <= v <= 64.0:
        raise ValueError(v)
    return v


def _pos(name, lo=1):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r} is not an integer") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{name}={v} is out of range; allowed: >= {lo}")
        return v
    return parse


def add_sweep_parser(sub):
    s = sub.add_parser("sweep", help="quantize a float network and sweep bits, ADC and noise")
    s.add_argument("model", metavar="MODEL.npz", help="float network (golden/network.py format)")
    s.add_argument("config", nargs="?", default=None, metavar="CONFIG",
                   help="datapath YAML (default: constraints/int8.yaml; a crossbar config adds "
                        "crossbar points)")
    s.add_argument("--data", required=True, metavar="DATA.npz",
                   help="labelled data: x [B, ...] float, y [B] int, optional x_calib")
    s.add_argument("--bits", type=_list("--bits", _bits, "integers 2..16, e.g. 2..8 or 4,8"),
                   default=[8], help="operand bits for all layers (list or range, default 8)")
    s.add_argument("--layer-bits", type=_list("--layer-bits", _bits, "one integer 2..16 per "
                   "layer, e.g. 8,4"), action="append", default=[], metavar="B0,B1,...",
                   help="per-layer operand bits (repeatable)")
    s.add_argument("--method", type=_list("--method", _choice(METHODS), ", ".join(METHODS)),
                   default=["minmax"], help="activation calibration method(s)")
    s.add_argument("--rounding", type=_list("--rounding", _choice(ROUNDINGS),
                   ", ".join(ROUNDINGS)), default=None,
                   help="requantization rounding(s) (default: the configuration's)")
    s.add_argument("--xb-bits", type=_list("--xb-bits", _bits, "integers 2..16"), default=None,
                   help="operand bits of the crossbar points (default: the largest --bits)")
    s.add_argument("--adc-bits", type=_list("--adc-bits", _adc, "integers 1..40 or lossless"),
                   default=None, help="ADC bits (list; default: the configuration's)")
    s.add_argument("--adc-full-scale", type=_list("--adc-full-scale", _fs,
                   "auto, calibrated, config or a power of two"), default=["config"],
                   help="ADC full scale(s): auto, calibrated (column peaks of the data), "
                        "config (default) or a power of two")
    s.add_argument("--cell-bits", type=_pos("--cell-bits"), default=None,
                   help="override crossbar.cell_bits of CONFIG")
    s.add_argument("--dac-bits", type=_pos("--dac-bits"), default=None,
                   help="override crossbar.dac_bits of CONFIG")
    for flag, what in (("--program-noise", "programming"), ("--read-noise", "read"),
                       ("--adc-offset", "ADC offset (LSB)")):
        s.add_argument(flag, type=_list(flag, _sigma, "numbers >= 0"), default=[0.0],
                       help=f"{what} noise sigma(s) (default 0)")
    s.add_argument("--noise-adc-bits", type=_list("--noise-adc-bits", _adc,
                   "integers 1..40 or lossless"), default=None,
                   help="noisy points only at these ADC bits and the first full scale "
                        "(default: at every ADC bits x full scale)")
    s.add_argument("--seeds", type=_pos("--seeds"), default=3,
                   help="noise seeds per noisy point (default 3)")
    s.add_argument("--count", type=_pos("--count"), default=None,
                   help="use the first COUNT labelled examples")
    s.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    s.add_argument("--hw-check", action="store_true",
                   help="run the first noise-free point's layers through the hardware "
                        "(qmac verify) and require hardware == golden")
    s.add_argument("--hw-count", type=_pos("--hw-count"), default=32,
                   help="examples per hardware-checked layer (default 32)")
    s.add_argument("--sim", default="verilator", help="simulators for --hw-check")
    s.add_argument("--layer-config", default=None, metavar="SPEC",
                   help="--hw-check: per-layer hardware, e.g. 1=constraints/int8.yaml@4 "
                        "(sim/layer_config.py)")
    s.add_argument("-o", "--out", default="out/sweep", metavar="DIR", help="results directory")
    return s


def cmd_sweep(args) -> int:
    from .cli import _sims
    from .config import load_config
    from .sweep import config_with_overrides, run_sweep

    try:
        sims = _sims(args.sim)
    except argparse.ArgumentTypeError as exc:
        raise UserError(str(exc)) from None
    cfg = load_config(args.config)
    single = {}
    if args.adc_bits and len(args.adc_bits) == 1 and args.adc_bits[0] != "lossless":
        single["adc_bits"] = args.adc_bits[0]
    fs = args.adc_full_scale
    if len(fs) == 1 and fs[0] not in ("calibrated", "config"):
        single["adc_full_scale"] = fs[0]
    cfg = config_with_overrides(cfg, cell_bits=args.cell_bits, dac_bits=args.dac_bits, **single)
    for p in (args.model, args.data):
        if not Path(p).is_file():
            raise UserError(f"{p}: no such file; allowed: an .npz file (see qmac sweep --help)")
    return run_sweep(cfg, model_path=args.model, data_path=args.data, bits=args.bits,
                     layer_bits=args.layer_bits, methods=args.method, roundings=args.rounding,
                     xb_bits=args.xb_bits, adc_bits=args.adc_bits,
                     full_scales=args.adc_full_scale, program=args.program_noise,
                     read=args.read_noise, offset=args.adc_offset, seeds=args.seeds,
                     noise_adc_bits=args.noise_adc_bits,
                     count=args.count, outdir=Path(args.out), plots=not args.no_plots,
                     hw_check=args.hw_check, hw_count=args.hw_count, sims=sims,
                     layer_config=args.layer_config)
