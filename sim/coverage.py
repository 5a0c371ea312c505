"""Functional coverage in ``qmac regress``: the bins of ``tb/coverage.py``, merged over the
testbenches of each simulator, as a table, a ``summary.json`` section and a list of holes.

A *hole* is a per-lane bin some lane never hit, or a stream bin never hit, by the run on
that simulator. Bins are defined (and counted) in the testbench monitors; this module only
adds them up and reports.
"""

from __future__ import annotations

from typing import Any

__all__ = ["merge_rows", "coverage_summary", "format_coverage"]


def merge_rows(records: list[dict]) -> dict:
    """The coverage of one test run: the sum of its records' ``coverage`` entries."""
    from tb.coverage import merge
    total: dict = {}
    for r in records:
        if r.get("coverage"):
            merge(total, r["coverage"])
    return total


def coverage_summary(hp, rows) -> dict[str, Any]:
    """Per simulator: every bin with its per-lane counts, lanes hit, and the holes."""
    from tb.coverage import lane_bin_names, merge, stream_bin_names
    out: dict[str, Any] = {}
    for sim in dict.fromkeys(r.sim for r in rows):
        total: dict = {}
        tests = []
        for r in rows:
            if r.sim == sim and getattr(r, "coverage", None):
                merge(total, r.coverage)
                tests.append(r.test)
        lanes = {b: total.get("lanes", {}).get(b, [0] * hp.cols) for b in lane_bin_names(hp)}
        stream = {b: total.get("stream", {}).get(b, 0) for b in stream_bin_names(hp)}
        holes = []
        for b, per in lanes.items():
            missing = [c for c, v in enumerate(per) if v == 0]
            if len(missing) == len(per):
                holes.append(f"{b} (every lane)")
            elif missing:
                holes.append(f"{b} lanes {','.join(map(str, missing))}")
        holes += [b for b, n in stream.items() if n == 0]
        hit = sum(sum(v > 0 for v in per) for per in lanes.values()) + \
            sum(n > 0 for n in stream.values())
        size = len(lanes) * hp.cols + len(stream)
        out[sim] = {"tests": tests, "lanes": lanes, "stream": stream, "holes": holes,
                    "points": size, "hit": hit,
                    "percent": round(100.0 * hit / size, 2) if size else 100.0}
    return out


def _lanes_text(per: list[int]) -> str:
    hit = sum(v > 0 for v in per)
    return f"{hit}/{len(per)}"


def format_coverage(summary: dict[str, Any]) -> str:
    """The coverage table (bin × simulator: lanes hit and total hits) and the holes."""
    sims = list(summary)
    if not sims:
        return ""
    first = summary[sims[0]]
    head = ["bin"] + [f"{s} lanes / hits" for s in sims]
    body = []
    for b in first["lanes"]:
        body.append([b] + [f"{_lanes_text(summary[s]['lanes'][b])} / "
                           f"{sum(summary[s]['lanes'][b])}" for s in sims])
    for b in first["stream"]:
        body.append([b] + [f"- / {summary[s]['stream'][b]}" for s in sims])
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    lines = ["functional coverage (per-lane bins: lanes hit / hits; stream bins: hits)"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    for s in sims:
        d = summary[s]
        holes = d["holes"]
        lines.append(f"coverage {s}: {d['hit']}/{d['points']} points ({d['percent']:.1f}%), "
                     f"{len(holes)} hole(s)" + (": " + ", ".join(holes[:24]) +
                                                (" ..." if len(holes) > 24 else "")
                                                if holes else ""))
    return "\n".join(lines)
