"""Counterexamples of ``qmac prove`` replayed through ``golden``.

A failing proof gives a trace (values of every free input and of both outputs per cycle).
The failing output is recomputed with the golden model — written independently of both the
hardware and the proof's reference — so a report shows the hardware wrong (golden agrees with
the reference) or the reference wrong (golden agrees with the hardware).
"""

from golden.datapath import accumulate, requantize
from hw.requantizer import Requantizer

from .harness import ROUNDING_STAGE

__all__ = ["explain"]


def _first_mismatch(trace, lanes_hw_ref):
    for step, values in enumerate(trace):
        for hw, ref in lanes_hw_ref:
            if hw in values and values[hw] != values[ref]:
                return step, hw, ref
    return None


def _requant_case(inst, trace, part="all"):
    p = inst.params
    lanes = [(f"obs_hw_{c}", f"obs_ref_{c}") for c in range(p["cols"])]
    found = _first_mismatch(trace, lanes)
    if found is None:
        return None
    step, hw, ref = found
    c = int(hw.rsplit("_", 1)[1])
    sfx = f"_{c}" if p["per_channel"] else ""
    lo, hi = ((-(1 << (p["out_bits"] - 1)), (1 << (p["out_bits"] - 1)) - 1)
              if p["out_signed"] else (0, (1 << p["out_bits"]) - 1))
    if part == "clamp":
        return _clamp_case(inst, trace, step, hw, ref, c, (lo, hi))
    # the operands entered stage ``entry`` (LATENCY - entry) cycles earlier
    src = trace[step - (Requantizer.LATENCY - inst.entry)]
    inputs = dict(acc=src[f"free_acc_{c}"], m0=src[f"free_m0{sfx}"] & (2**31 - 1),
                  shift=min(max(src[f"free_shift{sfx}"], -31), 30), y_zp=src["free_y_zp"],
                  act_min=min(max(src["free_act_min"], lo), hi),
                  act_max=min(max(src["free_act_max"], lo), hi))
    want = int(requantize(inputs["acc"], **{k: v for k, v in inputs.items() if k != "acc"},
                          rounding=p["rounding"]))
    return dict(step=step, lane=c, inputs=inputs, hardware=trace[step][hw],
                reference=trace[step][ref], golden=want)


def _clamp_case(inst, trace, step, hw, ref, c, limits):
    """Stage 11 (``r_q`` cut): the rounded value ``r`` entered ``r_q`` two cycles earlier;
    golden's ``requantize(acc=r, m0=2**30, shift=1)`` scales by exactly 1, so it gives the
    clamp of ``r`` (``r`` first limited to the clamp window, which the lemma shows changes
    nothing)."""
    src = trace[step - (Requantizer.LATENCY - ROUNDING_STAGE)]
    edge = 1 << (inst.params["out_bits"] + 1)
    lo, hi = limits
    inputs = dict(r=min(max(src[f"free_r_{c}"], -edge), edge), y_zp=src["free_y_zp"],
                  act_min=min(max(src["free_act_min"], lo), hi),
                  act_max=min(max(src["free_act_max"], lo), hi))
    want = int(requantize(inputs["r"], m0=2**30, shift=1, y_zp=inputs["y_zp"],
                          act_min=inputs["act_min"], act_max=inputs["act_max"]))
    return dict(step=step, lane=c, inputs=inputs, hardware=trace[step][hw],
                reference=trace[step][ref], golden=want)


def _acc_case(inst, trace):
    p = inst.params
    lanes = [(f"obs_hw_{n}_{c}", f"obs_ref_{n}_{c}") for c in range(p["cols"])
             for n in ("acc", "ovf", "sticky")]
    found = _first_mismatch(trace, lanes)
    if found is None:
        return None
    step, hw, ref = found
    c = int(hw.rsplit("_", 1)[1])
    beats = [(t, v) for t, v in enumerate(trace[:step]) if v["free_en"] and v["free_valid"]]
    starts = [i for i, (_, v) in enumerate(beats) if v["free_first"]]
    out = dict(step=step, lane=c, signal=hw, hardware=trace[step][hw],
               reference=trace[step][ref], golden=None)
    if beats and "sticky" not in hw:
        # replay the open accumulation from its first beat (without one since reset: from
        # the reset value 0, which is what a bias of 0 gives)
        if starts:
            beats = beats[starts[-1]:]
            bias = _bias_at(trace, c, beats[0][0], p["cols"])
        else:
            bias = 0
        acc, ovf = accumulate([v[f"free_psum_{c}"] for _, v in beats], bias=bias,
                              acc_bits=p["acc_bits"], overflow=p["overflow"])
        out.update(golden=int(acc) if "acc" in hw else int(ovf),
                   inputs=dict(bias=bias, psums=[v[f"free_psum_{c}"] for _, v in beats]))
    return out


def _mul_case(inst, trace):
    p = inst.params
    found = _first_mismatch(trace, [(f"obs_hw_{c}", f"obs_ref_{c}")
                                    for c in range(p.get("cols", 1))])
    if found is None:
        return None
    step, hw, ref = found
    c = int(hw.rsplit("_", 1)[1])
    loads = [t for t, v in enumerate(trace[:step]) if v.get("free_en", 1) and
             v.get("free_valid", 1)]
    out = dict(step=step, lane=c, hardware=trace[step][hw], reference=trace[step][ref],
               golden=None)
    if loads:       # the last valid acc that entered stage 0 (en and valid high)
        acc, m0 = trace[loads[-1]][f"free_acc_{c}"], trace[0]["free_m0"] & (2**31 - 1)
        out.update(golden=acc * m0, inputs=dict(acc=acc, m0=m0))
    return out


def _bias_at(trace, c, step, cols):
    bias = 0
    for v in trace[:step]:
        if v["free_bias_en"] and v["free_bias_col"] == c:
            bias = v["free_bias_data"]
    return bias


def explain(inst, cex):
    """One-paragraph text: the failing cycle, inputs, hardware, reference and golden values."""
    if cex is None:
        return "no counterexample trace"
    trace = cex["trace"]
    if inst.block == "requantizer":
        case = _requant_case(inst, trace, cex.get("part", "all"))
    else:
        case = {"accumulator": _acc_case, "multiplier": _mul_case}[inst.block](inst, trace)
    if case is None:
        return f"assertion failed in case {cex['case']}, outputs equal (check the trace)"
    lines = [f"counterexample: cycle {case['step']}, lane {case['lane']}"]
    if "inputs" in case:
        lines.append("  inputs: " + ", ".join(f"{k}={v}" for k, v in case["inputs"].items()))
    lines.append(f"  hardware {case['hardware']}, reference {case['reference']}, "
                 f"golden {case['golden']}")
    if case["golden"] is not None:
        who = ("the hardware is wrong (golden agrees with the reference)"
               if case["golden"] == case["reference"] else
               "the reference model is wrong (golden agrees with the hardware)"
               if case["golden"] == case["hardware"] else "golden agrees with neither")
        lines.append(f"  golden reproduces it: {who}")
    return "\n".join(lines)
