"""``qmac equiv``: the shipped Verilog is equivalent to Amaranth's own netlist of the config.

*gold* is Amaranth's RTLIL of the top-level component; *gate* is the Verilog that
``qmac generate`` ships (Amaranth -> Yosys ``proc``/``flatten``/``opt``/``opt_clean -purge``
-> ``write_verilog``, plus whatever ``hw/generate.py`` rewrites), read back with full Yosys
``read_verilog``. Both sides get the same preparation (:data:`PREP`) and are compared with
``equiv_make`` (state matched by name), ``equiv_struct``, ``equiv_simple -seq 2`` (each
``$equiv`` cell from its own input cone, cut at every other matched signal),
``equiv_induct -seq 2`` (whatever is left, by induction) and ``equiv_status``.

Why each preparation step (measured on ``benchmarks/int8_4x4.yaml``, see README):

* ``opt_expr``/``opt_dff``/``opt_merge``: the shipped netlist's ``opt`` merged identical
  registers; merging them on both sides gives every register its partner of the same name.
* ``memory -nomap; memory_map``: memories become registers named ``mem[i]`` on both sides.
* ``dffunmap``: enables and synchronous resets become multiplexers in front of plain
  flip-flops. The hold input of such a multiplexer reads the register's own output, which
  ``equiv_make`` rewires to the shared ``$equiv`` output, so ``equiv_simple`` proves the
  register from one cycle of its input cone. With the enable inside the flip-flop the hold
  path is invisible: every enabled register (3,516 cells of int8_4x4) was left to
  ``equiv_induct``, which did not finish in 8 min.
* ``rename -hide w:_*_ w:$*`` on a Verilog side: ``write_verilog`` names some registers
  ``_N_`` or ``\\$auto$ff.cc:...$slice$N`` (a register ``opt_dff`` split) and assigns the
  design's name to them (``assign mac.rd__data = _0_;``); ``equiv_make`` rewires the readers
  of a matched name only if it is the canonical name of its net, so these writer names are
  made private and ``opt_clean`` keeps the design's name.

The ``$equiv`` method matches registers by name and never looks at initial values, so the
initial values of the matched registers are compared separately (:func:`init_mismatches`,
after the preparation, bit by bit, through aliases): a register whose ``init`` differs
between the two sides makes the result NOT proved. What is proved: every matched signal is
equal in every cycle, given equal initial values of the matched registers (checked), i.e.
the shipped Verilog equals Amaranth's RTLIL up to the preparation passes, which are trusted
(standard Yosys passes). Not covered: the initial value of a register that has no partner
on the other side (listed in ``status.txt``; e.g. a dead register the shipped
``opt_clean -purge`` dropped) could only matter in cycle 0.
"""

import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from . import tools

__all__ = ["EquivResult", "equiv", "equiv_texts", "init_mismatches"]

_SEQ = 2

#: Preparation of each side before ``equiv_make`` (see the module docstring).
PREP = ("proc", "flatten", "opt_expr", "opt_clean", "opt_dff", "opt_merge", "memory -nomap",
        "memory_map", "opt_clean", "dffunmap", "opt_clean")

#: Verilog only: ``write_verilog``'s ``_N_`` / ``\\$...`` names made private (module docstring).
HIDE_WRITER_NAMES = "rename -hide w:_*_ w:$*"


@dataclass
class EquivResult:
    proved: bool
    seconds: float
    equiv_cells: int
    unproven: int          # -1: the proof timed out
    log: str
    cpu: float = 0.0       # CPU seconds of Yosys (user + system)
    init_mismatches: tuple = ()   # matched registers whose initial values differ


def _side(reader, top, name, verilog):
    hide = [HIDE_WRITER_NAMES] if verilog else []
    return [reader, *hide, *PREP, f"rename {top} {name}",
            f"write_rtlil {name}_prep.il", f"design -stash {name}_d"]


def _script(top, seq, gold_reader, gold_is_verilog=False, blacklist=False):
    make = "equiv_make -blacklist blacklist.txt" if blacklist else "equiv_make"
    return [*_side(gold_reader, top, "gold", gold_is_verilog),
            *_side("read_verilog -sv gate.v", top, "gate", True),
            "design -copy-from gold_d -as gold gold",
            "design -copy-from gate_d -as gate gate",
            f"{make} gold gate equiv", "hierarchy -top equiv", "async2sync",
            "equiv_struct",
            f"equiv_simple -seq {seq}", "tee -o simple.txt equiv_status",
            f"equiv_induct -seq {seq}",
            "tee -o status.txt equiv_status"]


_TOKEN = re.compile(r"\{|\}|\[\d+(?::\d+)?\]|\d+'[01xzm-]*|-?\d+|\S+")


def _sig_bits(tokens, widths):
    """Bits (LSB first) of one RTLIL sigspec given as tokens; constants are ``None``."""
    bits, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok in "{}":
            continue
        if tok[0] not in "\\$":                       # a constant
            n = int(tok.split("'")[0]) if "'" in tok else 32
            chunk = [None] * n
        else:
            lo, hi = 0, widths.get(tok, 1) - 1
            if i < len(tokens) and tokens[i].startswith("["):
                rng = [int(v) for v in tokens[i][1:-1].split(":")]
                hi, lo = (rng[0], rng[-1])
                i += 1
            chunk = [(tok, k) for k in range(lo, hi + 1)]
        bits[:0] = chunk                              # concatenations list the MSB first
    return bits


def _nets(rtlil_text):
    """Per public wire bit of the module: ``(net, initial value of the net or None)``.

    Parses ``write_rtlil`` output: wire widths and ``init`` attributes, and the module-level
    ``connect`` statements that make wires aliases of one net.
    """
    widths, inits, parent, pending, conns = {}, {}, {}, None, []
    for line in rtlil_text.splitlines():
        words = line.split()
        if line.startswith("  attribute \\init "):
            pending = words[2]
        elif line.startswith("  wire "):
            name = words[-1]
            widths[name] = int(words[words.index("width") + 1]) if "width" in words else 1
            if pending is not None:
                bits = (pending.split("'", 1)[1] if "'" in pending
                        else format(int(pending) & 0xFFFFFFFF, "032b"))[::-1]
                for k, v in enumerate((bits + "x" * widths[name])[:widths[name]]):
                    inits[(name, k)] = v
            pending = None
        elif line.startswith("  connect "):
            conns.append(_TOKEN.findall(line[len("  connect "):]))
        elif not line.startswith("  attribute"):
            pending = None

    def find(bit):
        while parent.get(bit, bit) != bit:
            bit = parent[bit]
        return bit
    for tokens in conns:
        depth, split = 0, None
        for k, tok in enumerate(tokens):     # split "lhs rhs" at the end of the first sigspec
            depth += tok == "{"
            depth -= tok == "}"
            if depth == 0 and k + 1 < len(tokens) and not tokens[k + 1].startswith("["):
                split = k + 1
                break
        lhs, rhs = _sig_bits(tokens[:split], widths), _sig_bits(tokens[split:], widths)
        for x, y in zip(lhs, rhs):
            if x is not None and y is not None and find(x) != find(y):
                parent[find(x)] = find(y)
    net_init = {}
    for bit, value in inits.items():
        net_init.setdefault(find(bit), value)
    return {(name, k): (find((name, k)), net_init.get(find((name, k))))
            for name, width in widths.items() if name.startswith("\\") for k in range(width)}


def init_mismatches(gold_rtlil, gate_rtlil):
    """``(mismatches, unpaired)``: initial values of the prepared sides compared.

    Compared per bit of every public name present on both sides (the names ``equiv_make``
    matches), through aliases. A defined gold bit needs the same gate bit; an undefined gold
    bit (``x`` or none) allows any gate value (a refinement). *unpaired* lists nets with a
    defined initial value and no public name on the other side (e.g. a dead register the
    shipped ``opt_clean -purge`` dropped): not compared, reported.
    """
    gold, gate = _nets(gold_rtlil), _nets(gate_rtlil)
    bad, unpaired = [], []
    for side, this, other in (("gold", gold, gate), ("gate", gate, gold)):
        names = {}
        for bit, (net, value) in this.items():
            if value in ("0", "1"):
                names.setdefault(net, []).append(bit)
        for net, bits in sorted(names.items()):
            if not any(bit in other for bit in bits):
                name, k = min(bits)
                unpaired.append(f"{name[1:]}[{k}] ({side} only)")
    for bit in sorted(set(gold) & set(gate)):
        g, t = gold[bit][1], gate[bit][1]
        if g in ("0", "1") and t != g:
            bad.append(f"{bit[0][1:]}[{bit[1]}]: initial value gold {g}, gate {t}")
    return tuple(bad), tuple(unpaired)


def _ports(rtlil_text):
    return {line.split()[-1][1:] for line in rtlil_text.splitlines()
            if line.startswith("  wire ") and (" input " in line or " output " in line)}


def _unproven_names(status):
    return {m.group(1) for m in re.finditer(r"Unproven \$equiv \S+: \\(\S+)_gold", status)}


def equiv_texts(gold, gate_verilog, top, workdir, seq=_SEQ, gold_is_verilog=False,
                timeout=None, rounds=3):
    """Prove the two netlists (gold: RTLIL, or Verilog) equivalent in ``workdir``.

    ``$equiv`` cells compare every matched signal, so a difference in an internal wire that
    the logic after it masks (an unread bit) leaves that cell unproven. Up to ``rounds - 1``
    times, the internal (non-port) names of the unproven cells are then blacklisted for
    ``equiv_make`` and the proof is rerun: those signals stop being cut points and are
    compared through the logic that reads them (sound: fewer cut points, ports always
    compared). ``timeout`` applies to each round.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    gold_file = "gold.v" if gold_is_verilog else "gold.il"
    (workdir / gold_file).write_text(gold)
    (workdir / "gate.v").write_text(gate_verilog)
    t0, cpu0 = time.monotonic(), _child_cpu()
    reader = "read_verilog -sv gold.v" if gold_is_verilog else "read_rtlil gold.il"
    blacklist = set()
    for _ in range(rounds):
        (workdir / "blacklist.txt").write_text("".join(f"{n}\n" for n in sorted(blacklist)))
        try:
            tools.run_yosys(workdir, _script(top, seq, reader, gold_is_verilog,
                                             blacklist=bool(blacklist)),
                            log="equiv.log", timeout=timeout)
        except subprocess.TimeoutExpired:
            return EquivResult(False, time.monotonic() - t0, 0, -1, "timeout",
                               _child_cpu() - cpu0)
        status = (workdir / "status.txt").read_text()
        found = re.search(r"Of those cells (\d+) are proven and (\d+) are unproven", status)
        if not found or found.group(2) == "0":
            break
        more = _unproven_names(status) - _ports((workdir / "gate_prep.il").read_text())
        if not more or more <= blacklist:
            break
        blacklist |= more
    found = re.search(r"Found (\d+) \$equiv cells", status)
    cells = int(found.group(1)) if found else 0
    unproven = re.search(r"Of those cells (\d+) are proven and (\d+) are unproven", status)
    bad = int(unproven.group(2)) if unproven else (0 if "Equivalence successfully proven" in
                                                   status else cells)
    inits, unpaired = init_mismatches((workdir / "gold_prep.il").read_text(),
                                      (workdir / "gate_prep.il").read_text())
    if blacklist:
        status += ("\nNot cut points (unproven as internal signals, compared through their "
                   "readers): " + ", ".join(sorted(blacklist)) + "\n")
    if inits:
        status += "\nInitial values differ:\n" + "\n".join(f"  {m}" for m in inits) + "\n"
    if unpaired:
        status += ("\nInitialised registers without a partner (initial value not compared): "
                   + ", ".join(unpaired) + "\n")
    (workdir / "status.txt").write_text(status)
    return EquivResult(bad == 0 and cells > 0 and not inits, time.monotonic() - t0, cells,
                       bad, status, _child_cpu() - cpu0, inits)


def _child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def equiv(cfg, workdir, *, inject_fault=None, gate_verilog=None, timeout=None):
    """Equivalence of ``cfg``'s shipped Verilog (or ``gate_verilog``) with Amaranth's RTLIL."""
    from hw.generate import generate_verilog
    from sim.generate import build_component
    component = build_component(cfg, inject_fault=inject_fault)
    gold = rtlil.convert(component, name=cfg.toplevel, emit_src=False)
    if gate_verilog is None:
        gate_verilog = generate_verilog(build_component(cfg, inject_fault=inject_fault),
                                        name=cfg.toplevel)
    return equiv_texts(gold, gate_verilog, cfg.toplevel, workdir, timeout=timeout)
