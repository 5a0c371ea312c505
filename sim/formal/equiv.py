"""``qmac equiv``: the shipped Verilog is equivalent to Amaranth's own netlist of the config.

*gold* is Amaranth's RTLIL of the top-level component, only ``proc`` (processes to cells) and
``flatten``, no optimisation; *gate* is the Verilog that ``qmac generate`` ships (Amaranth ->
Yosys ``proc``/``flatten``/``opt``/``opt_clean -purge`` -> ``write_verilog``, plus whatever
``hw/generate.py`` rewrites), read back with full Yosys ``read_verilog``. Both get the same
memory mapping (``memory -nomap``, then ``memory_map``: memories become registers with the
same names on both sides) and are compared with ``equiv_make`` (state matched by name),
``equiv_struct``, ``equiv_simple -seq`` (most cells, each from its own input cone),
``equiv_induct -seq`` (the rest: every matched register equal in every cycle, proved by
induction, unbounded) and ``equiv_status``.

Both sides also get ``opt_expr``, ``opt_dff`` and ``opt_merge`` after ``flatten``: the
shipped netlist's ``opt`` merged identical registers (e.g. two ``valid`` chains with the same
input and enable), so a gold register would have no partner of its name and induction could
not constrain it; folding enables into the flip-flops and merging identical cells on both
sides gives every register its partner. What is proved is therefore: the shipped Verilog
(qmac's Yosys script, ``write_verilog``, qmac's rewrites, read back by full Yosys) equals
Amaranth's RTLIL up to these three Yosys passes, which are trusted.
"""

import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from . import tools

__all__ = ["EquivResult", "equiv", "equiv_texts"]

_SEQ = 2


@dataclass
class EquivResult:
    proved: bool
    seconds: float
    equiv_cells: int
    unproven: int          # -1: the proof timed out
    log: str
    cpu: float = 0.0       # CPU seconds of Yosys (user + system)


def _script(top, seq, gold_reader):
    prep = ["proc", "flatten", "opt_expr", "opt_clean", "opt_dff", "opt_merge",
            "memory -nomap", "memory_map", "opt_clean", f"rename {top} {{name}}"]
    script = [gold_reader, *[c.format(name="gold") for c in prep],
              "design -stash gold_d",
              "read_verilog -sv gate.v", *[c.format(name="gate") for c in prep],
              "design -stash gate_d",
              "design -copy-from gold_d -as gold gold",
              "design -copy-from gate_d -as gate gate",
              "equiv_make gold gate equiv", "hierarchy -top equiv", "async2sync",
              "equiv_struct",
              f"equiv_simple -seq {seq}", f"equiv_induct -seq {seq}",
              "tee -o status.txt equiv_status"]
    return script


def equiv_texts(gold, gate_verilog, top, workdir, seq=_SEQ, gold_is_verilog=False,
                timeout=None):
    """Prove the two netlists (gold: RTLIL, or Verilog) equivalent in ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    gold_file = "gold.v" if gold_is_verilog else "gold.il"
    (workdir / gold_file).write_text(gold)
    (workdir / "gate.v").write_text(gate_verilog)
    t0, cpu0 = time.monotonic(), _child_cpu()
    reader = "read_verilog -sv gold.v" if gold_is_verilog else "read_rtlil gold.il"
    try:
        tools.run_yosys(workdir, _script(top, seq, reader), log="equiv.log", timeout=timeout)
    except subprocess.TimeoutExpired:
        return EquivResult(False, time.monotonic() - t0, 0, -1, "timeout",
                           _child_cpu() - cpu0)
    status = (workdir / "status.txt").read_text()
    found = re.search(r"Found (\d+) \$equiv cells", status)
    cells = int(found.group(1)) if found else 0
    unproven = re.search(r"Of those cells (\d+) are proven and (\d+) are unproven", status)
    bad = int(unproven.group(2)) if unproven else (0 if "Equivalence successfully proven" in
                                                   status else cells)
    return EquivResult(bad == 0 and cells > 0, time.monotonic() - t0, cells, bad, status,
                       _child_cpu() - cpu0)


def _child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def equiv(cfg, workdir, *, inject_fault=None, gate_verilog=None):
    """Equivalence of ``cfg``'s shipped Verilog (or ``gate_verilog``) with Amaranth's RTLIL."""
    from hw.generate import generate_verilog
    from sim.generate import build_component
    component = build_component(cfg, inject_fault=inject_fault)
    gold = rtlil.convert(component, name=cfg.toplevel, emit_src=False)
    if gate_verilog is None:
        gate_verilog = generate_verilog(build_component(cfg, inject_fault=inject_fault),
                                        name=cfg.toplevel)
    return equiv_texts(gold, gate_verilog, cfg.toplevel, workdir)
