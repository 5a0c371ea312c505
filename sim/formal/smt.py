"""Bounded model check of a Yosys ``write_smt2`` model with Yices, case split by constants.

The model (one state sort ``top_s``, functions ``top_i`` init, ``top_t`` transition,
``top_u`` assumptions, ``top_a`` assertions, ``top_n <wire>`` wire values) is unrolled
``depth`` steps from the initial state. One Yices process per worker checks, for each case
(a set of wire = constant constraints, e.g. one shift value), whether some step violates
an assertion: ``unsat`` = proved for that case; ``sat`` = a counterexample, whose values
of every ``free_*``, ``obs_*`` and ``product_*`` wire at every step are returned.
"""

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

__all__ = ["bmc_cases", "wire_widths"]

_WIRE = re.compile(r"^; yosys-smt2-wire (\S+) (\d+)$", re.M)
_VALUE = re.compile(r"\(\(\|top_n (\S+)\| s(\d+)\) (#b[01]+|true|false)\)")
_OBSERVED = ("free_", "obs_", "product_")


def wire_widths(smt2):
    """``{wire name: width}`` of the public wires in a ``write_smt2 -wires`` model."""
    return {name: int(width) for name, width in _WIRE.findall(smt2)}


def _prefix(smt2, depth, check=None):
    q = ["(set-option :produce-models true)", "(set-logic QF_UFBV)", smt2]
    q += [f"(declare-fun s{i} () |top_s|)" for i in range(depth)]
    q.append("(assert (|top_i| s0))")
    for i in range(depth):
        q.append(f"(assert (|top_u| s{i}))")
        if i:
            q.append(f"(assert (|top_t| s{i - 1} s{i}))")
    steps = range(depth) if check is None else check
    q.append("(assert (not (and " + " ".join(f"(|top_a| s{i})" for i in steps) + ")))")
    return "\n".join(q) + "\n"


def _constraint(name, value, width):
    bits = format(value % (1 << width), f"0{width}b")
    return f"(assert (= (|top_n {name}| s0) #b{bits}))"


class _Solver:
    def __init__(self, yices, prefix):
        self.proc = subprocess.Popen([yices, "--incremental"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.proc.stdin.write(prefix)

    def check(self, asserts):
        self.proc.stdin.write("(push 1)\n" + "\n".join(asserts) + "\n(check-sat)\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer not in ("sat", "unsat"):
            rest = self.proc.stdout.read()
            raise RuntimeError(f"yices: unexpected answer {answer!r}: {rest[-2000:]}")
        return answer == "sat"

    def values(self, terms):
        self.proc.stdin.write("(get-value (" + " ".join(terms) + "))\n")
        self.proc.stdin.flush()
        text, depth = "", 0
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("yices: closed while answering get-value")
            text += line
            depth += line.count("(") - line.count(")")
            if depth <= 0 and text.strip():
                return text

    def pop(self):
        self.proc.stdin.write("(pop 1)\n")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()
        self.proc.stdout.close()


def _model(solver, widths, depth):
    names = [n for n in widths if n.startswith(_OBSERVED)]
    terms = [f"(|top_n {n}| s{i})" for i in range(depth) for n in names]
    trace = [{} for _ in range(depth)]
    for name, step, bits in _VALUE.findall(solver.values(terms)):   # 1-bit wires are Bool
        trace[int(step)][name] = int(bits[2:], 2) if bits[0] == "#" else int(bits == "true")
    return trace


def _worker(yices, prefix, widths, depth, cases, stop_on_fail):
    solver = _Solver(yices, prefix)
    results = []
    try:
        for case in cases:
            asserts = [_constraint(n, v, widths[n]) for n, v in case.items()]
            sat = solver.check(asserts)
            results.append((case, _model(solver, widths, depth) if sat else None))
            solver.pop()
            if sat and stop_on_fail:
                break
    finally:
        solver.close()
    return results


def bmc_cases(yices, smt2, depth, cases, *, jobs=2, stop_on_fail=True, progress=None,
              check=None):
    """Check every case; returns ``[(case, trace or None)]`` (``None`` = proved).

    ``check``: the steps whose assertions are checked (default: every step).

    ``trace`` is a list (one dict per step) of raw unsigned values of the observed wires.
    """
    widths = wire_widths(smt2)
    prefix = _prefix(smt2, depth, check)
    jobs = max(1, min(jobs, len(cases)))
    chunks = [cases[i::jobs] for i in range(jobs)]
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(_worker, yices, prefix, widths, depth, chunk, stop_on_fail)
                   for chunk in chunks]
        results = []
        for f in futures:
            results += f.result()
            if progress:
                progress(len(results), len(cases))
    return results, widths
