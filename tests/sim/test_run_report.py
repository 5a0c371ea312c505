"""The speed lines of ``qmac run --native`` (sim/run_report.py): figures from the measured
seconds, not hard-coded."""

from __future__ import annotations

import re

from sim.run_report import extra_summary


def _speed(step, native, step_cpu, native_cpu):
    return {"fast_cycles": 1000, "fast_seconds": 0.5, "native_cycles": 1000,
            "native_seconds": native, "native_pieces": 3, "step_seconds": step,
            "step_cpu_seconds": step_cpu, "native_cpu_seconds": native_cpu,
            "load_average": 3.25, "ratio": 0.9}


def test_end_to_end_line_gives_mac_rates_and_both_ratios():
    report = {"summary": ["head", "tail"]}
    extra_summary(report, None, None, None, _speed(10.0, 2.5, 4.0, 1.0), 8_000_000)
    line = next(s for s in report["summary"] if "end to end" in s)
    assert report["summary"][1].startswith("  speed (verilator, cocotb driver)")
    assert report["summary"][2] is line
    # wall: 8M MACs in 10 s vs 2.5 s; CPU: 4 s vs 1 s
    assert "hardware step 800.0k MAC/s vs native 3.2M MAC/s = 25% (wall)" in line, line
    assert re.search(r"CPU time 4\.00 s vs native 1\.00 s: 2\.0M vs 8\.0M MAC/s = 25%", line), line
    assert line.endswith("load average 3.2") or line.endswith("load average 3.3"), line


def test_speed_line_of_the_direct_driver_splits_the_cpu():
    report = {"summary": ["head", "tail"]}
    speed = dict(_speed(4.0, 2.0, 1.5, 1.0), driver="direct", step_chunks=7,
                 step_sim_cpu_seconds=1.0, step_python_cpu_seconds=0.5, native_pieces=7)
    extra_summary(report, None, None, None, speed, 8_000_000)
    line = report["summary"][1]
    assert line.startswith("  speed (verilator, direct driver)"), line
    assert "7 chunks on one simulator process" in line and "CPU 1.50 s (simulator 1.00 s + " \
        "Python 0.50 s)" in line and "native replay of the same command stream (7 chunks" in line
    assert "= 67%; load average" in report["summary"][2], report["summary"][2]


def test_children_cpu_counts_a_finished_child():
    import subprocess
    import sys
    from sim.run import _children_cpu
    before = _children_cpu()
    subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)
    assert _children_cpu() > before
