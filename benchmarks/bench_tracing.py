"""Tracing cost against the budgets of ../shared/PERFORMANCE.md, as ratios from one run.

Six parts:

1. publish path: a synchronous publish of a small event to 3 trivial handlers, bare and
   patched by tradetrace (an event the level does not trace; one traced at NORMAL,
   capture only: the export worker is not running). Budgets: +0.3 us and +2 us.
2. end to end: the demo backtest bare, at each level writing local trace files, and with
   naive OpenTelemetry instrumentation (one SDK span per publish through
   ``start_as_current_span``, BatchSpanProcessor, the stock OTLP protobuf encoder writing
   to a file). Budget: NORMAL at least 10x cheaper per event than naive. MINIMAL runs
   with its default retention (trade_complete) and with keep_if (losers and rejects).
3. memory at MINIMAL: peak Python allocations (tracemalloc) of runs 4x apart in length,
   against the bare run's: flat when retention holds only open trades.
4. live pacing: publish latency (p50, p99, p99.9, max) of events published every 100 us
   by a thread that sleeps between them, as a live feed's reader does, bare and at
   NORMAL while the export worker encodes: how long encoding holds the GIL against
   the trading thread (the worker hands it back every YIELD_SECONDS).
5. overload: a flood of BARs published as fast as one thread can, at NORMAL with
   ``overload: {action: downgrade, window_seconds: 1}``: when the level stepped down, and
   the publish rate before and after.
6. launch: the start-up hook's cost with no TRADETRACE_* variable set (the .pth line)
   against the interpreter's own start-up, and NONE reached at run time by
   ``set_level("none")`` after NORMAL (case ``none_switched`` in part 2): patches gone,
   so 1.00x bare.

    python benchmarks/bench_tracing.py [--bars 20000] [--rounds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
import timeit
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import demo_engine  # noqa: E402
import tradetrace  # noqa: E402
from naive_otel import NaiveInstrumentation  # noqa: E402
from tradetrace.capture.profile import EVENT_FIELDS  # noqa: E402
from tradetrace.capture.publish import traced_publish  # noqa: E402
from tradetrace.config import load_config  # noqa: E402
from tradetrace.decide.table import DecisionTable  # noqa: E402
from tradetrace.retain.buffer import ContainerBuffers  # noqa: E402

# -- part 1: the publish path ------------------------------------------------------------


@dataclass(frozen=True)
class MicroEvent:
    event_type: str
    payload: dict[str, Any]
    container_id: str | None = None
    source_id: str | None = None


class MicroBus:
    def __init__(self) -> None:
        self.handlers = [lambda e: None, lambda e: None, lambda e: None]

    def publish(self, event: MicroEvent) -> None:
        for handler in self.handlers:
            handler(event)


def micro(number: int, repeat: int) -> dict[str, float]:
    """ns per publish: bare, untraced event, traced event (NORMAL capture)."""
    payload = {"symbol": "SPY", "side": "BUY", "quantity": 100, "price": 451.2}
    untraced = MicroEvent("BAR", payload, container_id="data_1a2b3c4d")  # MINIMAL: not traced
    traced = MicroEvent("FILL", payload, container_id="portfolio_1a2b3c4d")
    buffers = ContainerBuffers()
    config = load_config(
        level="normal", env={}, run_id="bench",
    )
    config_minimal = load_config(level="minimal", env={}, run_id="bench")

    class Patched(MicroBus):
        pass

    class PatchedMinimal(MicroBus):
        pass

    fields = dict(EVENT_FIELDS)
    Patched.publish = traced_publish(  # type: ignore[method-assign]
        MicroBus.publish, DecisionTable(config, buffers), fields
    )
    PatchedMinimal.publish = traced_publish(  # type: ignore[method-assign]
        MicroBus.publish, DecisionTable(config_minimal, buffers), fields
    )
    for buffer_owner in (Patched(), PatchedMinimal()):
        buffer_owner.publish(traced)  # resolve the routes once
    for buffer in buffers.all():
        buffer.cap = buffer.limit = buffer.wake_at = 1 << 62  # capture only: no exporter
    buses = {"bare": (MicroBus(), traced), "untraced": (PatchedMinimal(), untraced),
             "traced": (Patched(), traced)}
    results: dict[str, list[float]] = {name: [] for name in buses}
    order = list(buses)
    for _ in range(repeat):
        random.shuffle(order)
        for name in order:
            bus, event = buses[name]
            publish = bus.publish
            gc.collect()
            seconds = timeit.timeit(lambda p=publish, e=event: p(e), number=number)
            results[name].append(seconds / number * 1e9)
            buffers.take_all()
    return {name: statistics.median(values) for name, values in results.items()}


# -- part 2: end to end ------------------------------------------------------------------


@dataclass
class Case:
    name: str
    seconds: list[float] = field(default_factory=list)
    spans: int = 0
    bytes: int = 0


KEEP_IF = {"policy": "keep_if", "keep_if": {"any": [{"loss_above": 100}, {"rejected": True}]}}
LEVELS = {"minimal_keep_if": ("minimal", KEEP_IF)}


def run_case(name: str, bars: int, seed: int, out: Path) -> tuple[float, int, int]:
    """One backtest; returns (seconds, spans written, bytes written)."""
    folder = out / f"{name}-{time.perf_counter_ns()}"
    naive = None
    if name == "naive_otel":
        naive = NaiveInstrumentation(demo_engine.EventBus, folder / "naive.otlp")
    elif name == "none_switched":  # traced, then switched off while running
        tradetrace.configure("normal", profile="demo", output=folder, backend="file",
                             run_id="bench")
        tradetrace.set_level("none")
    elif name != "bare":
        level, retention = LEVELS.get(name, (name, None))
        tradetrace.configure(level, profile="demo", output=folder, backend="file",
                             run_id="bench", retention=retention)
    gc.collect()
    start = time.perf_counter()
    demo_engine.run_backtest(bars=bars, seed=seed)
    if naive is not None:
        naive.flush()
    else:
        tradetrace.flush()
    seconds = time.perf_counter() - start
    spans = written = 0
    if naive is not None:
        spans, written = naive.spans, naive.bytes
        naive.uninstrument()
    elif name != "bare":
        session = tradetrace.get_session()
        assert session is not None
        stats = session.stats()
        spans = stats["spans_exported"]
        written = sum(p.stat().st_size for p in folder.glob("*-[0-9][0-9][0-9][0-9].jsonl"))
        tradetrace.shutdown()
    return seconds, spans, written


def end_to_end(bars: int, rounds: int, seed: int) -> tuple[int, dict[str, Case]]:
    events = sum(demo_engine.run_backtest(bars=bars, seed=seed)["events_by_type"].values())
    cases = {n: Case(n) for n in ("bare", "none", "none_switched", "minimal", "minimal_keep_if",
                                  "normal", "debug", "naive_otel")}
    order = list(cases)
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            random.shuffle(order)
            for name in order:
                seconds, spans, written = run_case(name, bars, seed, Path(tmp))
                case = cases[name]
                case.seconds.append(seconds)
                case.spans, case.bytes = spans, written
    return events, cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--number", type=int, default=100_000, help="publishes per micro round")
    parser.add_argument("--live-events", type=int, default=20_000,
                        help="events per run of the live-pacing part")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    ns = micro(args.number, max(args.rounds * 3, 9))
    added_untraced = ns["untraced"] - ns["bare"]
    added_traced = ns["traced"] - ns["bare"]
    print("publish path (3 trivial handlers), median ns per publish")
    print(f"  bare                 {ns['bare']:8.0f}   1.00x")
    print(f"  untraced event       {ns['untraced']:8.0f}   {ns['untraced'] / ns['bare']:.2f}x"
          f"   +{added_untraced:.0f} ns  (budget +300)  {_verdict(added_untraced <= 300)}")
    print(f"  traced, NORMAL       {ns['traced']:8.0f}   {ns['traced'] / ns['bare']:.2f}x"
          f"   +{added_traced:.0f} ns  (budget +2000) {_verdict(added_traced <= 2000)}")

    events, cases = end_to_end(args.bars, args.rounds, args.seed)
    bare = statistics.median(cases["bare"].seconds)
    print(f"\nend to end: demo backtest, {args.bars} bars, {events} events, "
          f"median of {args.rounds} shuffled rounds")
    print(f"  {'case':16} {'seconds':>8} {'x bare':>7} {'us/event added':>15} {'spans':>8} "
          f"{'bytes/span':>10}")
    added: dict[str, float] = {}
    for case in cases.values():
        median = statistics.median(case.seconds)
        added[case.name] = (median - bare) / events * 1e6
        per_span = f"{case.bytes / case.spans:.0f}" if case.spans else "-"
        print(f"  {case.name:16} {median:8.3f} {median / bare:7.2f} {added[case.name]:15.2f} "
              f"{case.spans:8} {per_span:>10}")
    ratio = added["naive_otel"] / max(added["normal"], 1e-9)
    print(f"\n  NORMAL end to end is {ratio:.1f}x cheaper per event than naive OTel "
          f"(budget >= 10x) {_verdict(ratio >= 10)}")
    none_ratio = statistics.median(cases["none"].seconds) / bare
    print(f"  NONE: {none_ratio:.2f}x bare; nothing is patched, so the code run is the bare "
          "run's and any difference is this machine's noise (the tests assert no patch)")
    switched = statistics.median(cases["none_switched"].seconds) / bare
    print(f"  NONE after set_level('none') at run time: {switched:.2f}x bare (patches removed)")
    print("  wall-clock ratios on a shared machine swing by tens of percent between runs;"
          " benchmarks/bench_instructions.py gives the same comparison in instructions")
    print("\nmemory at MINIMAL: peak Python allocations during the run (tracemalloc)")
    memory = peak_memory(args.bars, args.seed)
    for name, peaks in memory.items():
        print(f"  {name:16} " + "  ".join(f"{bars:6} bars {peak / 1e6:7.2f} MB"
                                          for bars, peak in peaks.items()))
    print("\nlive pacing: publish latency, one event every 100 us, the thread sleeping "
          "between them (median of 3 runs of each figure)")
    print(f"  {'case':16} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'max us':>8}")
    live = live_latency(args.live_events)
    for name, figures in live.items():
        print(f"  {name:16} " + " ".join(f"{v:8.1f}" for v in figures))
    flood = overload_flood()
    print("\noverload: a flood of BARs at NORMAL, overload downgrade judged every 1 s")
    if flood["stepped_down_after_s"] is None:
        print("  the level did not step down")
    else:
        print(f"  stepped down to {flood['level']} after {flood['stepped_down_after_s']:.2f} s; "
              f"publishes per second before {flood['rate_before']:,.0f}, after "
              f"{flood['rate_after']:,.0f} ({flood['rate_after'] / flood['rate_before']:.1f}x)")
    hook_ns, startup = startup_hook(max(args.rounds * 3, 15))
    print("\nlaunch: the start-up hook (.pth line) with no TRADETRACE_* variable set")
    print(f"  hook {hook_ns / 1e3:.1f} us; interpreter start-up {startup['unset'] * 1e3:.1f} ms "
          f"(hook = {hook_ns / 1e9 / startup['unset'] * 100:.3f}% of it)")
    print(f"  start-up with TRADETRACE_LEVEL=none (imports tradetrace, patches nothing): "
          f"{startup['none'] * 1e3:.1f} ms, {startup['none'] / startup['unset']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({
            "micro_ns": ns, "events": events,
            "seconds": {c.name: statistics.median(c.seconds) for c in cases.values()},
            "added_us_per_event": added, "normal_vs_naive": ratio,
            "live_latency_us": {name: dict(zip(("p50", "p99", "p99.9", "max"), figures))
                                for name, figures in live.items()},
            "overload_flood": flood,
        }, indent=2))
    return 0


def peak_memory(bars: int, seed: int) -> dict[str, dict[int, int]]:
    """Peak bytes allocated by a run (bare, MINIMAL, MINIMAL keep_if) at bars/4 and bars."""
    out: dict[str, dict[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("bare", "minimal", "minimal_keep_if"):
            out[name] = {}
            for length in (bars // 4, bars):
                if name != "bare":
                    level, retention = LEVELS.get(name, (name, None))
                    tradetrace.configure(level, profile="demo", output=Path(tmp) / name,
                                         backend="file", run_id="bench", retention=retention)
                gc.collect()
                tracemalloc.start()
                demo_engine.run_backtest(bars=length, seed=seed)
                out[name][length] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                if name != "bare":
                    tradetrace.shutdown()
    return out


def live_latency(events: int, period_ns: int = 100_000) -> dict[str, list[float]]:
    """Per case (bare, NORMAL), the medians over 3 runs of p50/p99/p99.9/max publish
    latency in us, for BAR events published every ``period_ns`` by a sleeping thread."""
    from demo_engine.events import Event

    payload = {"symbol": "SPY", "close": 101.5, "volume": 1200,
               "timestamp": "2024-01-02T09:30:00"}
    clock = time.perf_counter_ns
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("bare", "normal"):
            runs = []
            for _ in range(3):
                if name != "bare":
                    tradetrace.configure(name, profile="demo", output=Path(tmp) / name,
                                         backend="file", run_id="bench")
                bus = demo_engine.EventBus()
                bus.subscribe("BAR", lambda event: None)
                latencies = [0] * events
                gc.collect()
                due = clock()
                for i in range(events):
                    due += period_ns
                    wait = due - clock()
                    if wait > 0:
                        time.sleep(wait / 1e9)  # the GIL is free, as in a socket read
                    start = clock()
                    bus.publish(Event("BAR", dict(payload), container_id="data_1",
                                      source_id="data"))
                    latencies[i] = clock() - start
                if name != "bare":
                    tradetrace.shutdown()
                latencies.sort()
                runs.append([latencies[min(events - 1, int(q * events))] / 1e3
                             for q in (0.5, 0.99, 0.999, 1.0)])
            out[name] = [statistics.median(run[k] for run in runs) for k in range(4)]
    return out


def overload_flood(seconds: float = 4.0) -> dict[str, Any]:
    """BARs published back to back at NORMAL with overload downgrade (1 s windows): when
    the level stepped down, and publishes per second before and after."""
    from demo_engine.events import Event

    payload = {"symbol": "SPY", "close": 101.5, "volume": 1200,
               "timestamp": "2024-01-02T09:30:00"}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "tracing.yaml"
        config.write_text("tracing:\n  overload: {action: downgrade, window_seconds: 1, "
                          "recover_seconds: 600}\n")
        session = tradetrace.configure("normal", profile="demo", output=Path(tmp) / "out",
                                       backend="file", config_file=config, run_id="bench")
        bus = demo_engine.EventBus()
        bus.subscribe("BAR", lambda event: None)
        marks: list[tuple[float, int]] = []
        stepped: float | None = None
        published = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(1000):
                bus.publish(Event("BAR", dict(payload), container_id="data_1",
                                  source_id="data"))
            published += 1000
            now = time.perf_counter()
            if stepped is None and session.level_cap is not None:
                stepped = now - start
            marks.append((now - start, published))
        level = session.config.level.name.lower()
        tradetrace.shutdown()

    def rate(since: float, until: float) -> float:
        window = [m for m in marks if since <= m[0] < until]
        if len(window) < 2:
            return float("nan")
        return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])

    if stepped is None:
        return {"stepped_down_after_s": None, "level": level}
    return {"stepped_down_after_s": stepped, "level": level,
            "rate_before": rate(0.1, stepped), "rate_after": rate(stepped + 0.2, seconds)}


def startup_hook(rounds: int) -> tuple[float, dict[str, float]]:
    """(ns per run of the .pth line with no TRADETRACE_* variable set, median seconds of
    `python -c pass` without and with TRADETRACE_LEVEL=none)."""
    import os
    import subprocess

    line = (ROOT / "src" / "tradetrace-autostart.pth").read_text().strip()
    code = compile(line, "tradetrace-autostart.pth", "exec")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("TRADETRACE_")}
    try:
        runs = timeit.repeat(lambda: exec(code, {}), number=2000, repeat=7)
        hook_ns = min(runs) / 2000 * 1e9
    finally:
        os.environ.update(saved)
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
    startup = {}
    for name, extra in (("unset", {}), ("none", {"TRADETRACE_LEVEL": "none"})):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env={**base, **extra}, check=True)
            times.append(time.perf_counter() - start)
        startup[name] = statistics.median(times)
    return hook_ns, startup


def _verdict(ok: bool) -> str:
    return "ok" if ok else "OVER BUDGET"


if __name__ == "__main__":
    sys.exit(main())
