"""The mutation survivors of the README's scores and their machine proofs.

Each entry names a survivor of ``qmac mutate CONFIG --seed SEED`` (mutant ``index``) and
what :func:`sim.formal.survivor.product_proof` needs beyond the mutant itself: the
registers the mutation really changes (``diverged``) and the invariants of the reachable
states the hand argument uses (proved, not assumed). ``qmac equiv CONFIG --mutant K``
looks its entry up; ``qmac equiv --survivors`` proves them all.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sim.errors import UserError

__all__ = ["Survivor", "SURVIVORS", "lookup", "lookup_top", "prove_mutant", "prove_all"]

_ADC = "gold.engine.adc"


def _raw_code_invariant(step):
    """ADC 5's raw code of step ``step`` (physical column 20 + step) may differ only while
    it cannot be read yet: no codes are out, and the scan has not passed that step's
    capture (idle, an earlier step, or this step with ADC 5 still pending)."""
    return (f"gate.engine.adc.raw_q_2{step} == {_ADC}.raw_q_2{step} || "
            f"(!{_ADC}.o_codes__valid && (!{_ADC}.busy || gold.adc_sel < 2'd{step} || "
            f"(gold.adc_sel == 2'd{step} && {_ADC}.pending_q[5])))")


@dataclass(frozen=True)
class Survivor:
    config: str                 # path from the repository root
    seed: int
    index: int
    diverged: tuple = ()
    invariants: tuple = ()
    depth: int = 2              # k of the k-induction

    @property
    def name(self):
        return f"{Path(self.config).stem} {self.index}"


#: "a beat in the requantizer or the bank keeps ``stage.busy`` high" (so ``i_load.ready``
#: is low and no parameter write reaches a beat in flight: with k = 4 the induction sees
#: that a ``y_zp`` write two cycles back leaves the last stage empty)
_STAGE_BUSY = ("!(gold.stage.bank.acc_valid | "
               + " | ".join(f"gold.stage.rq.valid_q_{k}" for k in range(1, 12))
               + ") || gold.stage.busy")

_RQ, _RQ_GATE = "gold.stage.rq", "gate.stage.rq"
#: lane 12's second shift with the mutated appended bit: ``c2_q``/``t_q`` differ only in
#: bit 0, ``c2_q`` only when the shift's upper part is 0 and ``t_q`` only when the whole
#: right shift is 0 (``s2_any_q`` low), while their beat is valid
_SECOND_SHIFT = (f"{_RQ_GATE}.c2_q_12[33:1] == {_RQ}.c2_q_12[33:1]",
                 f"{_RQ_GATE}.t_q_12[33:1] == {_RQ}.t_q_12[33:1]",
                 f"{_RQ_GATE}.c2_q_12 == {_RQ}.c2_q_12 || !{_RQ}.valid_q_9 || "
                 f"{_RQ}.s2_q_12[4:2] == 3'd0",
                 f"{_RQ_GATE}.t_q_12 == {_RQ}.t_q_12 || !{_RQ}.valid_q_10 || "
                 f"!{_RQ}.s2_any_q_12")

SURVIVORS = (
    Survivor("constraints/int8.yaml", 1, 4, invariants=(_STAGE_BUSY,), depth=4),
    Survivor("constraints/int8.yaml", 1, 10),
    Survivor("constraints/int8.yaml", 1, 39,
             diverged=("stage.rq.c2_q_12", "stage.rq.t_q_12"),
             invariants=(_STAGE_BUSY, *_SECOND_SHIFT), depth=4),
    Survivor("constraints/sidra_y1.yaml", 1, 2,
             diverged=tuple(f"engine.adc.raw_q_2{k}" for k in range(4)),
             invariants=(f"!(|{_ADC}.pending_q) || {_ADC}.busy",
                         f"!({_ADC}.busy && {_ADC}.o_codes__valid)",
                         *(_raw_code_invariant(k) for k in range(4)))),
    Survivor("constraints/sidra_y1.yaml", 1, 6),
    Survivor("constraints/sidra_y1.yaml", 1, 8),
    Survivor("constraints/sidra_y1.yaml", 1, 20),
    Survivor("constraints/sidra_y1.yaml", 1, 31, diverged=("engine.dac.pattern_q",),
             invariants=("!gold.engine.dac.phase_q",)),
)


def lookup(config, seed, index):
    """The table's entry for mutant ``index`` of ``config`` (a path) and ``seed``, or None."""
    stem = Path(config or "constraints/int8.yaml").stem
    for s in SURVIVORS:
        if Path(s.config).stem == stem and s.seed == seed and s.index == index:
            return s
    return None


def lookup_top(toplevel, seed, index):
    """The entry for mutant ``index`` of the design ``toplevel`` (``qmac_<config stem>``)."""
    return lookup(f"{toplevel.removeprefix('qmac_')}.yaml", seed, index)


def prove_mutant(cfg, seed, index, outdir, *, diverged=(), invariants=(), depth=2,
                 timeout=None):
    """Mutant ``index`` of ``qmac mutate``'s seeded set for ``cfg`` proved equivalent to
    the unmutated Verilog; returns ``(mutant, ProductResult, load average)``."""
    from sim.regress import prepare
    from .mutate import mutants
    from .survivor import product_proof
    outdir = Path(outdir)
    prep = prepare(cfg, outdir / "build")
    text = prep.verilog_path.read_text()
    chosen = mutants(text, index, seed)
    if len(chosen) < index:
        raise UserError(f"--mutant={index} is not allowed; allowed: 1..{len(chosen)} "
                        f"(the mutants of {cfg.toplevel})")
    mu = chosen[index - 1]
    work = outdir / f"{cfg.toplevel}-s{seed}-m{index:03d}"
    try:
        res = product_proof(text, mu.apply(text), prep.toplevel, work, diverged=diverged,
                            invariants=invariants, depth=depth, timeout=timeout)
    except ValueError as exc:        # an invariant names a signal the design lacks
        raise UserError(f"{exc}; allowed: gold.NAME / gate.NAME of the flat Verilog "
                        f"({work / 'miter.il'})") from None
    return mu, res, os.getloadavg()[0]


def format_row(name, mu, res, load, wall):
    """One line of the ``--survivors`` table (columns of :data:`HEADER`)."""
    return (f"{name:14s} {mu.block:11s} {mu.operator:6s} {res.verdict.split(' (')[0]:10s} "
            f"{res.tied:5d} {res.own:3d} {res.cells:6d} {res.cpu:7.1f} {wall:7.1f} {load:5.1f}")


HEADER = ("survivor       block       op     verdict    tied own  cells  CPU s  wall s  load\n"
          "-------------- ----------- ------ ---------- ----- --- ------ ------- ------- -----")


def prove_all(outdir, *, only=None, depth=None, timeout=None, log=print):
    """Prove every :data:`SURVIVORS` entry (those whose name contains ``only``; ``depth``
    overrides each entry's); returns the number not proved."""
    from sim.config import load_config
    root = Path(__file__).resolve().parents[2]
    chosen = [s for s in SURVIVORS if not only or only in s.name]
    if not chosen:
        raise UserError(f"--only={only!r} matches no survivor; allowed: a part of "
                        + ", ".join(repr(s.name) for s in SURVIVORS))
    log(HEADER)
    failed = 0
    for s in chosen:
        t0 = time.monotonic()
        cfg = load_config(str(root / s.config))
        mu, res, load = prove_mutant(cfg, s.seed, s.index, outdir, diverged=s.diverged,
                                     invariants=s.invariants, depth=depth or s.depth,
                                     timeout=timeout)
        log(format_row(s.name, mu, res, load, time.monotonic() - t0))
        failed += not res.proved
    return failed
