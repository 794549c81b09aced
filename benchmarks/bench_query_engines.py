"""TraceQuery (DuckDB) against a plain-Python pass over the same trace files, from one run.

The budget (issue 5): a bottleneck report over 1,000,000 spans in under 10 s, with memory
bounded. Input: the demo backtest traced at NORMAL (generated into a temporary folder, or
``--input DIR`` to reuse trace files). Each measurement runs in a fresh subprocess, so its
peak RSS (``ru_maxrss``) is its own:

1. DuckDB: ``TraceQuery(DIR)`` (load), ``find_bottlenecks(percentile=99)``, then
   ``tick_to_trade()`` (shown apart: not part of the bottleneck report's budget).
2. plain Python: one pass of ``read_spans`` keeping, per span, what the report needs in
   dicts and lists (its stage, duration, and its duration added to its parent's children
   total), then per stage count, p50 and p99 of the duration and of the self time
   (duration minus its direct children's durations), with DuckDB's ``quantile_disc``.

A stage is (container, handler, event type): event spans have no handler; DEBUG handler
spans do. The two results are checked against each other (same stages, counts, p50/p99,
the same order of the top stages). At DEBUG the engine also takes an event published
inside a handler off that handler's self time rather than the event's parent's, which
this straightforward pass does not: compare the two at NORMAL.

    python benchmarks/bench_query_engines.py [--spans 1000000] [--input DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 10.0
BUDGET_SPANS = 1_000_000
SPANS_PER_BAR = 3.6  # NORMAL, demo backtest: 300,000 bars wrote 1,103,120 spans
TOP = 10  # stages whose order must agree
TOLERANCE_US = 0.002  # both print microseconds from integer nanoseconds


# -- the measurements, each run as a child process -----------------------------------------


def measure_duckdb(folder: str, memory_limit: str | None) -> dict[str, Any]:
    from tradetrace.analyse.query import TraceQuery

    start = time.perf_counter()
    query = TraceQuery(folder, memory_limit=memory_limit)
    loaded = time.perf_counter()
    report = query.find_bottlenecks(percentile=99)
    reported = time.perf_counter()
    t2t = query.tick_to_trade()
    done = time.perf_counter()
    stages = {
        _key(s.container_id, s.handler_name, s.event_type): {
            "count": s.count, "p50_us": s.p50_us, "p99_us": s.p_us,
            "self_p50_us": s.self_p50_us, "self_p99_us": s.self_p_us,
        }
        for s in report.rows
    }
    return {
        "spans": query.stats.spans, "skipped_files": len(query.stats.skipped_files),
        "messages": query.stats.messages[:3], "load_s": loaded - start,
        "bottlenecks_s": reported - loaded, "tick_to_trade_s": done - reported,
        "order": list(stages), "stages": stages,
        "tick_to_trade": {"count": t2t.count, "p50_us": t2t.p50_us, "p99_us": t2t.p99_us},
    }


def measure_python(folder: str) -> dict[str, Any]:
    from tradetrace import conventions as conv
    from tradetrace.analyse.reader import read_spans

    start = time.perf_counter()
    children_ns: dict[tuple[str, str], int] = {}  # (trace, parent span) -> children's ns
    stage_spans: list[tuple[str, str, str, int]] = []  # (trace, span, stage, duration)
    spans = 0
    for span in read_spans([folder]):
        spans += 1
        duration = span.end - span.start
        if span.parent_id:
            parent = (span.trace_id, span.parent_id)
            children_ns[parent] = children_ns.get(parent, 0) + duration
        event_type = span.attributes.get(conv.EVENT_TYPE)
        if event_type is not None:
            stage = _key(span.attributes.get(conv.CONTAINER_ID),
                         span.attributes.get(conv.HANDLER_NAME), str(event_type))
            stage_spans.append((span.trace_id, span.span_id, stage, duration))
    loaded = time.perf_counter()

    durations: dict[str, list[int]] = {}
    self_times: dict[str, list[int]] = {}
    for trace_id, span_id, stage, duration in stage_spans:
        durations.setdefault(stage, []).append(duration)
        own = duration - children_ns.get((trace_id, span_id), 0)
        self_times.setdefault(stage, []).append(max(own, 0))
    stages = {}
    for stage, values in durations.items():
        values.sort()
        own = sorted(self_times[stage])
        stages[stage] = {
            "count": len(values),
            "p50_us": _quantile(values, 0.5) / 1000, "p99_us": _quantile(values, 0.99) / 1000,
            "self_p50_us": _quantile(own, 0.5) / 1000, "self_p99_us": _quantile(own, 0.99) / 1000,
        }
    order = sorted(stages, key=lambda s: (-stages[s]["self_p99_us"], -stages[s]["count"]))
    reported = time.perf_counter()
    return {"spans": spans, "load_s": loaded - start, "bottlenecks_s": reported - loaded,
            "order": order, "stages": stages}


def _quantile(ordered: list[int], q: float) -> int:
    """DuckDB's ``quantile_disc``: the value at rank ceil(n * q)."""
    return ordered[max(math.ceil(len(ordered) * q) - 1, 0)]


def _key(container: Any, handler: Any, event_type: Any) -> str:
    return " / ".join(str(part) if part is not None else "-"
                      for part in (container, handler, event_type))


def child_main(engine: str, folder: str, memory_limit: str | None) -> int:
    result = (measure_duckdb(folder, memory_limit) if engine == "duckdb"
              else measure_python(folder))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(result, sys.stdout)
    return 0


# -- the parent: input, children, comparison, printing ------------------------------------


def _clean_env() -> dict[str, str]:
    """This environment without TRADETRACE_* (so no child traces itself)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}


def generate(spans: int, folder: Path, seed: int) -> tuple[int, float]:
    """The demo backtest traced at NORMAL into ``folder``; returns (bars, seconds)."""
    bars = math.ceil(spans / SPANS_PER_BAR)
    command = [sys.executable, "-m", "tradetrace.cli.main", "run", "--level", "normal",
               "--output", str(folder), "--", sys.executable,
               str(ROOT / "examples" / "backtest.py"), "--bars", str(bars), "--seed", str(seed),
               "--quiet"]
    start = time.perf_counter()
    subprocess.run(command, env=_clean_env(), check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return bars, time.perf_counter() - start


def run_child(engine: str, folder: Path, memory_limit: str | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", engine, "--input", str(folder)]
    if memory_limit:
        command += ["--memory-limit", memory_limit]
    done = subprocess.run(command, env=_clean_env(), check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    result["total_s"] = result["load_s"] + result["bottlenecks_s"]
    return result


def compare(duck: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
    """Do both give the same stages, counts, p50/p99 and top stages?"""
    problems: list[str] = []
    if duck["spans"] != plain["spans"]:
        problems.append(f"spans read: DuckDB {duck['spans']}, Python {plain['spans']}")
    a, b = duck["stages"], plain["stages"]
    for stage in sorted(set(a) ^ set(b)):
        problems.append(f"stage {stage} only in {'DuckDB' if stage in a else 'Python'}")
    worst = 0.0
    for stage in sorted(set(a) & set(b)):
        if a[stage]["count"] != b[stage]["count"]:
            problems.append(f"{stage}: count {a[stage]['count']} vs {b[stage]['count']}")
        for figure in ("p50_us", "p99_us", "self_p50_us", "self_p99_us"):
            diff = abs(a[stage][figure] - b[stage][figure])
            worst = max(worst, diff)
            if diff > TOLERANCE_US:
                problems.append(f"{stage}: {figure} {a[stage][figure]:.3f} vs "
                                f"{b[stage][figure]:.3f}")
    if duck["order"][:TOP] != plain["order"][:TOP]:
        problems.append(f"top {TOP} stages in another order")
    return {"agree": not problems, "stages": len(a), "max_diff_us": worst,
            "problems": problems[:20]}


def input_size(folder: Path) -> tuple[int, int]:
    """(trace files, bytes), metrics files left out."""
    files = [p for p in folder.rglob("*") if p.is_file() and ".json" in p.name
             and "-metrics" not in p.name]
    return len(files), sum(p.stat().st_size for p in files)


def report(folder: Path, args: argparse.Namespace, generated: dict[str, Any]) -> int:
    files, size = input_size(folder)
    print(f"input: {folder}, {files} trace files, {size / 1e9:.2f} GB"
          + (f" (generated: {generated['bars']} bars in {generated['seconds']:.0f} s)"
             if generated else ""), flush=True)
    duck = run_child("duckdb", folder, args.memory_limit)
    plain = run_child("python", folder, None)
    spans = duck["spans"]
    print(f"{spans:,} spans, {size / max(spans, 1):.0f} bytes/span")
    if duck["skipped_files"]:
        print(f"  WARNING: DuckDB skipped {duck['skipped_files']} of {files} files: "
              + "; ".join(duck["messages"]))
    if spans < args.spans:
        print(f"  note: fewer than the {args.spans:,} spans asked for")
    print(f"\n  {'engine':14} {'load s':>8} {'report s':>9} {'total s':>8} {'peak RSS MB':>12}")
    for name, r in (("DuckDB", duck), ("plain Python", plain)):
        print(f"  {name:14} {r['load_s']:8.2f} {r['bottlenecks_s']:9.2f} {r['total_s']:8.2f} "
              f"{r['peak_rss_mb']:12.0f}")
    ratio = plain["total_s"] / duck["total_s"]
    print(f"\n  plain Python / DuckDB: {ratio:.1f}x the time, "
          f"{plain['peak_rss_mb'] / duck['peak_rss_mb']:.2f}x the peak RSS")
    t2t = duck["tick_to_trade"]
    print(f"  DuckDB tick_to_trade after the report: {duck['tick_to_trade_s']:.2f} s "
          f"({t2t['count']:,} fills, p50 {t2t['p50_us'] or 0:.0f} us, "
          f"p99 {t2t['p99_us'] or 0:.0f} us)")
    check = compare(duck, plain)
    print(f"\n  agreement: {'yes' if check['agree'] else 'NO'}: {check['stages']} stages, "
          f"counts equal, p50/p99 (total and self) within {check['max_diff_us']:.3f} us, "
          f"top {TOP} in the same order" if check["agree"] else
          "\n  agreement: NO\n    " + "\n    ".join(check["problems"]))
    print("\n  top stages by self-time p99 (DuckDB):")
    print(f"    {'stage':46} {'count':>8} {'p50 us':>8} {'p99 us':>8} {'self p99':>9}")
    for stage in duck["order"][:5]:
        s = duck["stages"][stage]
        print(f"    {stage:46} {s['count']:8} {s['p50_us']:8.1f} {s['p99_us']:8.1f} "
              f"{s['self_p99_us']:9.1f}")
    scaled = duck["total_s"] * BUDGET_SPANS / max(spans, 1)
    ok = (duck["total_s"] < BUDGET_SECONDS if spans >= BUDGET_SPANS
          else scaled < BUDGET_SECONDS) and check["agree"]
    print(f"\n  budget: bottleneck report over 1M spans < {BUDGET_SECONDS:.0f} s: DuckDB "
          f"{duck['total_s']:.2f} s for {spans:,} spans"
          + ("" if spans >= BUDGET_SPANS else f" ({scaled:.2f} s scaled to 1M)")
          + "  " + ("ok" if ok else "OVER BUDGET" if check["agree"] else "NOT MET (no agreement)"))
    if args.json:
        for r in (duck, plain):
            r.pop("order")
        args.json.write_text(json.dumps({
            "input": {"folder": str(folder), "files": files, "bytes": size, "spans": spans,
                      **generated},
            "duckdb": duck, "python": plain, "ratio_python_over_duckdb": ratio,
            "agreement": check, "budget_seconds": BUDGET_SECONDS, "within_budget": ok,
        }, indent=2))
    return 0 if check["agree"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=BUDGET_SPANS,
                        help="spans to generate (at least)")
    parser.add_argument("--input", type=Path, help="reuse trace files in this folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-limit", help="DuckDB memory_limit, e.g. 1GB")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", choices=("duckdb", "python"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.child, str(args.input), args.memory_limit)
    if args.input:
        return report(args.input, args, {})
    with tempfile.TemporaryDirectory(prefix="bench_query-") as tmp:
        bars, seconds = generate(args.spans, Path(tmp), args.seed)
        return report(Path(tmp), args, {"bars": bars, "seconds": seconds})


if __name__ == "__main__":
    sys.exit(main())
