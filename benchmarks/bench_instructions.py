"""Tracing cost in CPU instructions: deterministic, unlike seconds on a shared machine.

Each case runs a backtest under ``valgrind --tool=callgrind`` at two lengths; the
difference divided by the difference in events is the instructions per event, free of
start-up and import costs. Same cases as bench_tracing.py: bare, each level writing local
trace files, and naive OpenTelemetry instrumentation. Two engines: the demo backtest
(flat payloads of str and float), and ``admf_shaped.py``, whose events have the real
ADMF-PC's shapes (nested metadata, numpy floats, pandas Timestamps, Decimal strings;
needs pandas and numpy).

Three things made the difference depend on the machine rather than the code, so they
are pinned. The hash seed: string hashes decide dict and set probe sequences, and two
runs with random seeds differ by up to ~1,500 instructions per event. The metrics SDK's
periodic export, every 10 s of wall time: valgrind runs some 50x slower than Python, so
whether the long run had one more export than the short one (~18 million instructions,
~5,200 per event at NORMAL in the demo) depended on the machine's load. The traced cases
export metrics hourly here, i.e. once, at shutdown, in both runs alike: a periodic export
costs per second, not per event. For the same reason the flush at shutdown has no
deadline here: at DEBUG the worker is still encoding a backlog at exit under valgrind,
and the 5 s default dropped whatever was left (all but 405 of 13,109 records in one
1,500-bar run), so the figure said how much got done in 5 s. A run whose full buffers
dropped records (a wait of at most 1 ms for the worker) is flagged: it did less work.
What is left is thread interleaving (the worker hands the GIL back by the clock): NORMAL
still moves by several hundred instructions per event between runs of one tree, so
compare trees over a few runs each.

    python benchmarks/bench_instructions.py [--bars 500 1500] [--cases bare normal naive_otel]
        [--engines demo admf]

Needs valgrind (Debian package ``valgrind``); a naive_otel run takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = ("bare", "none", "minimal", "normal", "debug", "naive_otel")

DRIVER = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, {examples!r}); sys.path.insert(0, {benchmarks!r})
import tradetrace
from naive_otel import NaiveInstrumentation
engine, case, bars = sys.argv[1], sys.argv[2], int(sys.argv[3])
if engine == "admf":
    import admf_shaped as module
    profile = module.PROFILE
else:
    import demo_engine as module
    profile = "demo"
naive = session = None
if case == "naive_otel":
    naive = NaiveInstrumentation(module.EventBus, Path(tempfile.mkdtemp()) / "n.otlp")
elif case != "bare":  # no timed metrics export, no flush deadline: see the docstring
    config = Path(tempfile.mkdtemp()) / "tradetrace.yaml"
    config.write_text("tracing:\\n  flush_timeout_seconds: 3600\\n"
                      "  metrics:\\n    interval_seconds: 3600\\n")
    session = tradetrace.configure(case, profile=profile, output=tempfile.mkdtemp(),
                                   run_id="bench", config_file=config)
if engine == "admf":
    events = module.run_backtest(bars)
else:
    events = sum(module.run_backtest(bars=bars, seed=7)["events_by_type"].values())
if naive is not None:
    naive.flush(); naive.uninstrument()
tradetrace.shutdown()
print("EVENTS", events)
if session is not None:
    dropped = session.stats()["accounting"]["dropped"]  # what time decided, not the level
    print("LOST", dropped.get("buffer_full", 0) + dropped.get("shutdown_timeout", 0))
"""
ENGINES = ("demo", "admf")
HASH_SEED = "0"  #: the same dict layouts in every run (see the docstring)


def instructions(driver: Path, engine: str, case: str, bars: int) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             os.path.realpath(sys.executable), str(driver), engine, case, str(bars)],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": HASH_SEED},
        )
    collected = re.search(r"Collected : (\d+)", done.stderr)
    events = re.search(r"EVENTS (\d+)", done.stdout)
    if not collected or not events:
        raise RuntimeError(f"unexpected valgrind output for {engine} {case}: "
                           f"{done.stderr[-500:]}")
    lost = re.search(r"LOST (\d+)", done.stdout)
    if lost and int(lost.group(1)):  # less work done: not comparable with other runs
        print(f"  warning: {engine} {case} {bars} bars lost {lost.group(1)} records to a "
              "full buffer (the worker fell behind)", file=sys.stderr)
    return int(collected.group(1)), int(events.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, nargs=2, default=(500, 1500))
    parser.add_argument("--cases", nargs="+", choices=CASES,
                        default=["bare", "minimal", "normal", "naive_otel"])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        driver = Path(tmp) / "driver.py"
        driver.write_text(DRIVER.format(examples=str(HERE.parent / "examples"),
                                        benchmarks=str(HERE)))
        for engine in args.engines:
            print(f"{engine} backtest:", flush=True)
            report(per_event(driver, engine, args.cases, args.bars))
    return 0


def per_event(driver: Path, engine: str, cases: list[str], bars: tuple[int, int]
              ) -> dict[str, float]:
    """Instructions per event of each case: the difference between two run lengths."""
    found: dict[str, float] = {}
    for case in cases:
        (i1, e1), (i2, e2) = (instructions(driver, engine, case, n) for n in bars)
        found[case] = (i2 - i1) / (e2 - e1)
        print(f"  {case:12} {found[case]:10,.0f} instructions per event", flush=True)
    return found


def report(per_event: dict[str, float]) -> None:
    bare = per_event.get("bare")
    if bare is None:
        return
    print("added per event, and naive OTel's added cost over it:")
    for case, value in per_event.items():
        if case == "bare":
            continue
        added = value - bare
        line = f"  {case:12} {added:10,.0f}"
        if "naive_otel" in per_event and case != "naive_otel":
            line += f"   naive / {case} = {(per_event['naive_otel'] - bare) / added:.1f}x"
        print(line)
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
