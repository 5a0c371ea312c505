"""``qmac prove``: the requantizer and the accumulator bank equal their reference models.

What one run proves (the table printed by :func:`format_report` restates it per instance):

* **requantizer, data** (``en = valid = 1``): for every value of ``acc`` (``acc_bits``
  signed), ``m0`` (32 bits, bit 31 ignored), ``shift`` (all 64 six-bit encodings; outside
  [-31, 30] clamped), ``y_zp``, ``act_min``, ``act_max`` (``out_bits + 1`` signed) with the one
  assumption ``act_min <= act_max``, the output ``LATENCY`` cycles later equals
  :class:`~sim.formal.reference.RequantReference`. The multiplier (stages 0-3) is cut out:
  the stage-3 register ``p_q`` loads a free product ``P`` (any value in the range of
  ``acc·m0``). The rest is proved by composition at the stage-10 register ``r_q`` (the
  rounded value before the zero point), three parts (:attr:`Instance.parts`):
  ``"round"`` — stages 4-10, ``clamp_window(r_q) == clamp_window(mbqm_reference(P))``, one
  solver query per shift value; ``"clamp"`` — stage 11 with ``r_q`` free,
  ``y == clamp_reference(r_q)``; ``"lemma"`` — the reference alone,
  ``clamp_reference(v) == clamp_reference(clamp_window(v))`` for every ``v``. Together
  they give ``y == clamp_reference(mbqm_reference(P))`` for every ``P`` and parameter; the
  end-to-end query (``segment="all"``) says the same but is about 30 times slower. A
  counterexample is turned into operands by solving the failing case end to end again
  with ``P = acc·m0`` (one ``$mul``).

* **multiplier**: stages 0-3 equal ``acc·m0[:31]`` exactly, at the accumulator widths and
  chunk widths of :data:`MULTIPLIERS` (a solver cannot compare two multiplier structures
  at 32 bits; ``Requantizer(chunk=...)`` is the proof-only parameter).

* **requantizer, control**: ``en`` and ``valid`` free every cycle (stalls, bubbles) for a
  bounded number of cycles from reset: results keep their order, ``y`` holds between results.
* **accumulator bank**: every input free every cycle (beats, first/last, stalls, bias writes,
  clear) for a bounded number of cycles from reset: ``acc``, ``ovf``, ``ovf_sticky``,
  ``acc_valid`` equal :class:`~sim.formal.reference.AccumulatorReference`.

Bounded (``bmc``) means all input sequences of that many cycles; the data proofs need
exactly ``LATENCY + 1`` cycles (the pipeline is flushed), so they hold for all inputs.
"""

import re
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.hdl import Module, Signal, signed

from hw.requantizer import CHUNK, ROUNDINGS, Requantizer

from . import smt, tools
from .harness import (PRODUCT_STAGE, AccumulatorMiter, ClampLemma, MultiplierMiter, RequantMiter,
                      r_bits)
from .reference import mbqm_reference

__all__ = ["Instance", "default_instances", "prove", "PLANTS", "PLANT_BLOCKS", "plant_rtlil",
           "format_report", "MULTIPLIERS"]

#: Planted bugs (test only): the wire whose adder loses its second operand (lane 0): the
#: requantizer's first or second rounding term (the nudge; stages 7, 10), its output zero
#: point (stage 11), the accumulator's partial sum.
PLANTS = {"nudge1": "round1_0", "nudge2": "round2_0", "zp": "zp_0", "psum": "sum_0"}
#: The block each planted bug is in (``qmac prove --plant`` runs that block's instances).
PLANT_BLOCKS = {"nudge1": "requantizer", "nudge2": "requantizer", "zp": "requantizer",
                "psum": "accumulator"}
_OUT_BITS = 8


@dataclass(frozen=True)
class Instance:
    """One proof: a miter, how its product is formed, how deep, how it is split."""
    name: str
    block: str                       # "requantizer" | "multiplier" | "accumulator"
    params: dict = field(hash=False)
    cut: bool = False
    control: bool = False

    @property
    def parts(self):
        """The queries of this instance, in order. A requantizer data proof (cut product) is
        composed of three (see the module docstring): ``"round"`` (stages 4-10, one query
        per shift encoding), ``"clamp"`` (stage 11, one query) and ``"lemma"`` (the
        reference's clamp through :func:`~sim.formal.reference.clamp_window`, one query);
        every other instance is one miter (``"all"``)."""
        if self.block == "requantizer" and self.cut and not self.control:
            return ("round", "clamp", "lemma")
        return ("all",)

    def depth(self, part="all"):
        """Cycles unrolled. A requantizer data proof checks the *second* result after reset
        (``LATENCY + 2`` cycles): every stage register then holds values of the first,
        free, input, so a stage that depended on an earlier result would show; a multiplier
        proof checks the first (its case fixes the ``acc`` of cycle 0); the lemma has no
        registers (1 step)."""
        if part == "lemma":
            return 1
        if self.block == "accumulator":
            return 8
        lat = PRODUCT_STAGE + 1 if self.block == "multiplier" else Requantizer.LATENCY
        if self.control:
            return 2 * lat + 2
        return lat + 1 if self.block == "multiplier" else lat + 2

    def check(self, part="all"):
        """Steps whose assertions are checked: every step of a bounded run; only the last
        step of a data proof (the first result of the flushed pipeline: values that entered
        at the first enabled, valid cycle; before it, both sides show their initial values)."""
        return None if self.method == "bmc" else [self.depth(part) - 1]

    @property
    def method(self):
        return "bmc" if self.control or self.block == "accumulator" else "complete"

    @property
    def entry(self):
        """Stage at which the reference's input enters (3: the cut product, else 0)."""
        return PRODUCT_STAGE if self.cut else 0

    def miter(self, product=None, part="all"):
        if self.block == "accumulator":
            return AccumulatorMiter(**self.params)
        if self.block == "multiplier":
            return MultiplierMiter(**self.params, control=self.control)
        if part == "lemma":
            return ClampLemma(value_bits=self.lemma_bits, out_bits=self.params["out_bits"],
                              out_signed=self.params["out_signed"])
        product = product or ("cut" if self.cut else "independent")
        return RequantMiter(**self.params, product=product, control=self.control,
                            segment="all" if part in ("all", None) else part)

    @property
    def lemma_bits(self):
        """Width of the lemma's value: the wider of the hardware's ``r_q`` and the
        reference's rounded value (both are sign-extended into it)."""
        p = self.params
        product = Signal(signed(p["acc_bits"] + 31))
        scratch = Module()
        scratch._MustUse__silence = True      # only the value's width is wanted
        ref = mbqm_reference(scratch, product, Signal(signed(6)), p["rounding"])
        return max(len(ref), r_bits(p["acc_bits"], p["out_bits"]))

    def cases(self, part="all"):
        if part in ("clamp", "lemma"):
            return [{}]
        if self.block == "multiplier":     # one query per accumulator value (m0 free)
            a = self.params["acc_bits"]
            return [{"free_acc_0": v} for v in range(-(1 << (a - 1)), 1 << (a - 1))]
        if self.block != "requantizer":
            return [{}]
        if self.params["per_channel"] and self.params["cols"] > 1:
            return [{f"free_shift_{c}": (k + 32 + 21 * c) % 64 - 32
                     for c in range(self.params["cols"])} for k in range(-32, 32)]
        name = "free_shift_0" if self.params["per_channel"] else "free_shift"
        return [{name: k} for k in range(-32, 32)]


#: rounding modes proved (all of them; ``"single16"`` with its ``reduced_multiplier``)
PROVEN_ROUNDINGS = ROUNDINGS


def _rq(rounding, acc_bits, *, per_channel=False, cols=1, out_signed=True, chunk=CHUNK):
    return dict(cols=cols, acc_bits=acc_bits, out_bits=_OUT_BITS, out_signed=out_signed,
                rounding=rounding, per_channel=per_channel, chunk=chunk)


#: (acc_bits, chunk) of the multiplier proofs: the shipped 17-bit chunks with one
#: accumulator chunk, and narrow chunks where the accumulator splits into three rows
#: (unsigned, unsigned, a signed top) so the row sums are in the proof.
MULTIPLIERS = ((8, CHUNK), (7, 3))


def default_instances(widths=(32,), mul_bits=8, control_bits=8, acc_bits=32,
                      multipliers=(), control=False):
    """The instances of ``qmac prove`` (``widths``: accumulator widths of the requantizer;
    ``multipliers``: :data:`MULTIPLIERS` to add the slow multiplier proofs, ``--multipliers``;
    ``control``: the bounded en/valid proof, ``--control``: not finished in 5 minutes)."""
    out = []
    for w in widths:
        for r in PROVEN_ROUNDINGS:
            out.append(Instance(f"requant {r} per-tensor acc{w}", "requantizer",
                                _rq(r, w), cut=True))
        for r in PROVEN_ROUNDINGS:
            out.append(Instance(f"requant {r} per-channel x2 acc{w}", "requantizer",
                                _rq(r, w, per_channel=True, cols=2), cut=True))
        out.append(Instance(f"requant double unsigned-out acc{w}", "requantizer",
                            _rq("double", w, out_signed=False), cut=True))
    for a, k in multipliers:
        out.append(Instance(f"multiplier acc{a} chunk{k}", "multiplier",
                            dict(acc_bits=a, chunk=k)))
    if control:
        out.append(Instance(f"requant double en/valid acc{control_bits}", "requantizer",
                            _rq("double", control_bits), cut=True, control=True))
    for ovf in ("wrap", "saturate"):
        out.append(Instance(f"accumulator {ovf} x2 acc{acc_bits}", "accumulator",
                            dict(cols=2, psum_bits=acc_bits - 12, acc_bits=acc_bits,
                                 overflow=ovf)))
    return out


def plant_rtlil(text, wire):
    """Zero the second operand of the ``$add`` cell behind ``wire`` (a dropped rounding term):
    the cell driving it, or whose result it is a slice of (a truncated sum), in the module
    that has ``wire``."""
    for module in re.finditer(r"^module .*?^end$", text, re.M | re.S):
        body = module.group(0)
        drive = re.search(rf"^ *connect \\{wire} (\S+)(?: \[\d+:\d+\])?$", body, re.M)
        names = {rf"\\{wire}"} | ({re.escape(drive.group(1))} if drive else set())
        for cell in re.finditer(r"^  cell \$add \S+\n(?:    .*\n)*?  end\n", body, re.M):
            cbody = cell.group(0)
            if any(re.search(rf"^    connect \\Y {n}\n", cbody, re.M) for n in names):
                width = int(re.search(r"parameter \\B_WIDTH (\d+)", cbody).group(1))
                new = re.sub(r"^    connect \\B .*$", f"    connect \\\\B {width}'" + "0" * width,
                             cbody, flags=re.M)
                at = module.start() + cell.start()
                return text[:at] + new + text[at + len(cbody):]
    raise ValueError(f"plant: no $add cell drives {wire!r}")


def build(inst, workdir, plant=None, product=None, part="all"):
    """RTLIL -> Yosys -> SMT-LIB model text, in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    miter = inst.miter(product, part)
    text = tools.write_rtlil(miter, workdir / "miter.il", miter.ports())
    planted = False
    if plant and part != "lemma":
        try:
            (workdir / "miter.il").write_text(plant_rtlil(text, PLANTS[plant]))
            planted = True
        except ValueError:
            if part == "all":
                raise          # the planted wire is in another segment of a composed proof
    script = ["read_rtlil miter.il", "proc", "flatten", "chformal -lower", "opt_clean",
              "opt_merge"]
    if inst.cut and product is None:   # the product is abstract on both sides: no multiplier
        script += ["select -assert-none t:$mul"]
    script += ["async2sync", "dffunmap", "write_smt2 -wires miter.smt2"]
    tools.run_yosys(workdir, script)
    return (workdir / "miter.smt2").read_text(), planted


@dataclass
class Result:
    instance: Instance
    proved: bool
    seconds: float
    cases: int
    counterexample: dict | None = None
    cpu: float = 0.0         # CPU seconds of the tools (Yosys, Yices) it ran


def _signed(value, width):
    return value - (1 << width) if value >> (width - 1) else value


def prove_instance(inst, workdir, *, plant=None, jobs=2, progress=None):
    """Run every part of one instance (stops at the first that fails); a counterexample of
    a cut proof is re-derived with the real multiplier on the whole stages 4-11."""
    t0, cpu0 = time.monotonic(), _child_cpu()
    yices = tools.require()["yices-smt2"]
    count, failed, planted = 0, None, False
    for part in inst.parts:
        smt2, done = build(inst, workdir / part, plant, part=part)
        planted |= done
        results, widths = smt.bmc_cases(yices, smt2, inst.depth(part), inst.cases(part),
                                        jobs=jobs, progress=progress, check=inst.check(part))
        count += len(results)
        failed = next(((case, trace, part) for case, trace in results if trace is not None),
                      None)
        if failed:
            break
    if plant and not planted:
        raise ValueError(f"plant {plant!r}: wire {PLANTS[plant]!r} not found in {inst.name}")
    cex = None
    if failed:
        case, trace, part = failed
        if inst.cut and part in ("all", "round"):   # operands whose product fails, on y
            smt2, _ = build(inst, workdir / "operands", plant, product="operands")
            for extra in (_wide_open(inst), {}):        # first with y = sat(r): fast
                again, widths = smt.bmc_cases(yices, smt2, inst.depth(), [{**case, **extra}],
                                              jobs=1, check=inst.check())
                if again[0][1] is not None:
                    break
            trace, part = again[0][1], "all"
        if trace is not None:
            cex = {"case": case, "part": part,
                   "trace": [{n: _signed(v, widths[n]) if not _unsigned(n) else v
                              for n, v in step.items()} for step in trace]}
    return Result(inst, failed is None, time.monotonic() - t0, count, cex,
                  _child_cpu() - cpu0)


def _wide_open(inst):
    """``y_zp = 0`` and the activation range as wide as the output's: ``y`` is the rounded
    value saturated (a case constraint that makes the counterexample search fast)."""
    bits = inst.params["out_bits"]
    return {"free_y_zp": 0, "free_act_min": -(1 << bits), "free_act_max": (1 << bits) - 1}


def _child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _unsigned(name):
    return ("m0" in name or name.endswith(("_en", "_valid", "_first", "_last", "_clear",
                                           "bias_col")) or "ovf" in name or "sticky" in name
            or name in ("free_en", "free_valid"))


def prove(instances, outdir, *, plant=None, jobs=2, log=print):
    """Prove every instance; returns the list of :class:`Result`."""
    results = []
    for inst in instances:
        res = prove_instance(inst, Path(outdir) / re.sub(r"\W+", "_", inst.name),
                             plant=plant, jobs=jobs)
        results.append(res)
        log(f"  {'PROVED' if res.proved else 'FAILED'}  {inst.name}  ({res.seconds:.1f} s, "
            f"tool cpu {res.cpu:.1f} s)", flush=True)
    return results


def format_report(results):
    """Summary table: instance, method, depth, cases, result, wall and tool CPU time."""
    rows = [("instance", "method", "cycles", "cases", "result", "wall", "tool cpu")]
    for r in results:
        rows.append((r.instance.name, r.instance.method, str(r.instance.depth()), str(r.cases),
                     "PROVED" if r.proved else "FAILED", f"{r.seconds:.1f} s",
                     f"{r.cpu:.1f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
