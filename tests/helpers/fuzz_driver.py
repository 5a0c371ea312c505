"""Run corpus command lines in ONE process (fast), each bounded, and report what happened.

``python tests/helpers/fuzz_driver.py CASES.json RESULTS.json``: CASES is a list of
``{"id": ..., "argv": [...]}``; every case runs ``sim.cli.main(argv)`` with stdout/stderr
captured, under a data-segment limit (RLIMIT_DATA; wasmtime reserves address space, so not RLIMIT_AS) (:data:`MEMORY_LIMIT`) and a per-case wall-clock
alarm (:data:`CASE_TIMEOUT`). Anything escaping ``main`` is recorded as a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import signal
import sys
import time
import traceback

MEMORY_LIMIT = 3 << 30
CASE_TIMEOUT = 20.0


class CaseTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def run(cases: list[dict]) -> list[dict]:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    from sim.cli import main
    results = []
    for case in cases:
        out, err = io.StringIO(), io.StringIO()
        rc, tb = None, ""
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(case["argv"])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except CaseTimeout:
            tb = f"TIMEOUT after {CASE_TIMEOUT} s"
        except BaseException:  # noqa: BLE001 - that is what is being tested
            tb = traceback.format_exc()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        results.append({"id": case["id"], "rc": rc, "stdout": out.getvalue(),
                        "stderr": err.getvalue(), "traceback": tb,
                        "seconds": time.perf_counter() - t0,
                        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    return results


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    with open(sys.argv[2], "w") as f:
        json.dump(run(cases), f)
