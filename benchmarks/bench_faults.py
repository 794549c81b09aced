"""Publish latency while export fails: a slow, hung, dead or lying receiver, a full or
unwritable disk, against the untraced publisher in the same process.

Per fault, a thread publishes a demo BAR every ~100 us, sleeping between them as a live
feed's reader does (bench_tracing.py part 4), then a short burst as fast as it can;
each ``bus.publish`` call is timed. First untraced, then traced at NORMAL with the
fault (a real misbehaving receiver of tests/faults/receivers.py on loopback, hosted in
a child process so that its own work does not compete for this process's GIL, or the
file sink into tests/faults/filesystems.py's folders), then ``tradetrace.shutdown``
with a short flush timeout. One unreported warm-up run per sink comes first, so lazy
imports and first connections are not charged to the first fault. Budget
(shared/PERFORMANCE.md, "any fault"): worst added publish stall at most 1 ms; p99.9
within 2x untraced.

OTLP goes through the sink tradetrace builds from OTEL_EXPORTER_OTLP_ENDPOINT and
OTEL_EXPORTER_OTLP_PROTOCOL (export/sinks.py ``otlp_sink``: http/json sent as is, the
others encoded and sent by the relay process), with
OTEL_EXPORTER_OTLP_TIMEOUT=``--exporter-timeout``. "die mid-run" kills the receiver a
third of the way through the paced events and revives it at two thirds. Every run's
wall time is bounded (``--run-seconds``; shutdown on a helper thread, waited for a
bounded time); a run cut short says how many events it published.

    python benchmarks/bench_faults.py [--events 30000] [--burst 5000] [--quick]
                                      [--only SUBSTRING] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))

import grpc  # noqa: E402

import demo_engine  # noqa: E402
import tradetrace  # noqa: E402
from demo_engine.events import Event  # noqa: E402
from faults.filesystems import MountUnavailable, tmpfs, unwritable_folder  # noqa: E402
from faults.receivers import (  # noqa: E402
    Behaviour,
    garbage,
    hang,
    ok,
    slow,
    status,
)
from faults.remote import ReceiverHost, RemoteReceiver  # noqa: E402

STALL_BUDGET_MS = 1.0
P999_BUDGET_RATIO = 2.0
PAYLOAD = {"symbol": "SPY", "close": 101.5, "volume": 1200, "timestamp": "2024-01-02T09:30:00"}


@dataclass(frozen=True)
class Fault:
    name: str
    protocol: str | None = None  #: "http" or "grpc"; None: the file sink
    behaviour: Behaviour | None = None
    die_mid_run: bool = False
    folder: str = ""  #: file sink: "" (a plain temporary folder), "full", "unwritable"


FAULTS = [
    Fault("none (receiver ok)", "http", ok()),
    Fault("HTTP slow 100 ms", "http", slow(0.1)),
    Fault("HTTP slow 300 ms", "http", slow(0.3)),
    Fault("HTTP hang", "http", hang()),
    Fault("HTTP die mid-run", "http", ok(), die_mid_run=True),
    Fault("HTTP 429", "http", status(429)),
    Fault("HTTP 500", "http", status(500)),
    Fault("HTTP garbage 200", "http", garbage()),
    Fault("gRPC slow 300 ms", "grpc", slow(0.3)),
    Fault("gRPC UNAVAILABLE", "grpc", status(grpc.StatusCode.UNAVAILABLE)),
    Fault("file sink ok", folder=""),
    Fault("file: full small fs", folder="full"),
    Fault("file: unwritable folder", folder="unwritable"),
]


@dataclass
class Run:
    """Publish latencies (ns) of one run, paced then burst."""

    paced: list[int] = field(default_factory=list)
    burst: list[int] = field(default_factory=list)
    cut_short: bool = False

    @property
    def all(self) -> list[int]:
        return self.paced + self.burst


def publish_paced(events: int, burst: int, period_ns: int, seconds: float,
                  marks: dict[float, Callable[[], Any]]) -> Run:
    """Publish on a new thread; ``marks`` maps a fraction of the paced events to an
    action run on this thread when the publisher gets there (the publisher does not
    wait for it). The publisher stops at ``seconds`` whatever happens."""
    bus = demo_engine.EventBus()
    bus.subscribe("BAR", lambda event: None)
    run = Run()
    reached = {fraction: threading.Event() for fraction in marks}
    at = {int(fraction * events): reached[fraction] for fraction in marks}
    stop_at = time.perf_counter_ns() + int(seconds * 1e9)

    def publisher() -> None:
        clock = time.perf_counter_ns
        paced = run.paced
        due = clock()
        for i in range(events):
            due += period_ns
            wait = due - clock()
            if wait > 0:
                time.sleep(wait / 1e9)  # the GIL is free, as in a socket read
            if i in at:
                at[i].set()
            start = clock()
            bus.publish(Event("BAR", dict(PAYLOAD), container_id="data_1", source_id="data"))
            end = clock()
            paced.append(end - start)
            if end > stop_at:
                run.cut_short = True
                return
        for _ in range(burst):
            start = clock()
            bus.publish(Event("BAR", dict(PAYLOAD), container_id="data_1", source_id="data"))
            end = clock()
            run.burst.append(end - start)
            if end > stop_at:
                run.cut_short = True
                return

    gc.collect()
    thread = threading.Thread(target=publisher, name="publisher", daemon=True)
    thread.start()
    for fraction, action in sorted(marks.items()):
        while thread.is_alive() and not reached[fraction].wait(0.05):
            pass
        if reached[fraction].is_set():
            action()
    thread.join(seconds + 30)
    run.cut_short = run.cut_short or thread.is_alive()
    return run


def quantiles(latencies: list[int]) -> dict[str, float]:
    """p50, p99, p99.9 and worst, in us."""
    if not latencies:
        return {"p50": float("nan"), "p99": float("nan"), "p99.9": float("nan"),
                "worst": float("nan"), "n": 0}
    ordered = sorted(latencies)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1e3

    return {"p50": at(0.5), "p99": at(0.99), "p99.9": at(0.999), "worst": ordered[-1] / 1e3,
            "n": n}


# -- setting a fault up -------------------------------------------------------------------


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def traced(fault: Fault, args: argparse.Namespace,
           host: ReceiverHost) -> Iterator[tuple[Any, RemoteReceiver | None]]:
    """Configure tradetrace at NORMAL against the fault; yield (session, receiver)."""
    with contextlib.ExitStack() as stack:
        receiver: RemoteReceiver | None = None
        if fault.protocol is not None:
            receiver = host.start(fault.protocol, fault.behaviour or ok())
            stack.callback(receiver.close)
            stack.enter_context(environment(
                OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
                OTEL_EXPORTER_OTLP_PROTOCOL=args.http_protocol if fault.protocol == "http"
                else "grpc",
                OTEL_EXPORTER_OTLP_TIMEOUT=f"{args.exporter_timeout:g}",
            ))
            session = tradetrace.configure(level="normal", backend="otlp", profile="demo",
                                           run_id="faults")
        else:
            if fault.folder == "full":
                folder = stack.enter_context(tmpfs(args.small_fs_kib))
            elif fault.folder == "unwritable":
                folder = stack.enter_context(unwritable_folder())
            else:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            session = tradetrace.configure(level="normal", backend="file", profile="demo",
                                           output=folder, run_id="faults")
        # shut down (again: idempotent) before the receiver closes, even on an error
        stack.callback(tradetrace.shutdown, args.flush_timeout)
        yield session, receiver


def stats_of(session: Any) -> dict[str, Any]:
    """tradetrace.stats() where it exists, else the session's own."""
    try:
        top = getattr(tradetrace, "stats", None)
        if callable(top) and tradetrace.get_session() is session:
            return dict(top())
        return dict(session.stats())
    except Exception as exc:  # a benchmark reports, it does not stop
        return {"error": repr(exc)}


def shutdown_bounded(flush_timeout: float, bound: float) -> tuple[float, bool]:
    """tradetrace.shutdown(flush_timeout) on a helper thread; (seconds, finished)."""
    start = time.perf_counter()
    thread = threading.Thread(target=tradetrace.shutdown, args=(flush_timeout,), daemon=True)
    thread.start()
    thread.join(bound)
    return time.perf_counter() - start, not thread.is_alive()


def accounting(stats: dict[str, Any]) -> dict[str, Any]:
    """recorded, exported, dropped, pending: the accounting keys if present, else the
    nearest older ones (spans_exported, spans_lost, pending)."""
    acc = stats.get("accounting")
    if isinstance(acc, dict):
        dropped = acc.get("dropped")
        return {"recorded": acc.get("recorded"), "exported": acc.get("exported"),
                "dropped": sum(dropped.values()) if isinstance(dropped, dict) else dropped,
                "dropped_by_reason": dropped if isinstance(dropped, dict) else None,
                "pending": acc.get("pending"), "source": "accounting"}
    return {"recorded": None, "exported": stats.get("spans_exported"),
            "dropped": stats.get("spans_lost"), "dropped_by_reason": None,
            "pending": stats.get("pending"), "source": "spans_exported/spans_lost/pending"}


# -- one fault ----------------------------------------------------------------------------


def measure(fault: Fault, args: argparse.Namespace, host: ReceiverHost) -> dict[str, Any]:
    period_ns = int(args.period_us * 1000)
    seconds = args.run_seconds
    untraced = publish_paced(args.events, args.burst, period_ns, seconds, {})
    result: dict[str, Any] = {"fault": fault.name, "untraced": quantiles(untraced.all),
                              "untraced_paced": quantiles(untraced.paced),
                              "untraced_burst": quantiles(untraced.burst)}
    try:
        with traced(fault, args, host) as (session, receiver):
            marks: dict[float, Callable[[], Any]] = {}
            if fault.die_mid_run and receiver is not None:
                marks = {1 / 3: receiver.die, 2 / 3: receiver.revive}
            run = publish_paced(args.events, args.burst, period_ns, seconds, marks)
            result["stats_at_end_of_publishing"] = stats_of(session)
            result["shutdown_seconds"], result["shutdown_finished"] = shutdown_bounded(
                args.flush_timeout, args.shutdown_bound)
            result["stats"] = stats_of(session)
            if receiver is not None:
                result["receiver"] = receiver.summary()
    except MountUnavailable as exc:
        tradetrace.shutdown(args.flush_timeout)
        result["skipped"] = str(exc)
        return result
    result.update(traced=quantiles(run.all), traced_paced=quantiles(run.paced),
                  traced_burst=quantiles(run.burst), cut_short=run.cut_short,
                  published=len(run.all))
    base, with_fault = result["untraced"], result["traced"]
    result["ratio_p99.9"] = with_fault["p99.9"] / base["p99.9"]
    result["added_worst_ms"] = (with_fault["worst"] - base["worst"]) / 1e3
    result["stall_ok"] = result["added_worst_ms"] <= STALL_BUDGET_MS
    result["p99.9_ok"] = result["ratio_p99.9"] <= P999_BUDGET_RATIO
    result["accounting"] = accounting(result["stats"])
    return result


# -- report -------------------------------------------------------------------------------


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


def print_table(results: list[dict[str, Any]]) -> None:
    head = (f"{'fault':24} {'untraced p99.9/worst us':>24} {'traced p99.9/worst us':>24} "
            f"{'p99.9 x':>8} {'+worst ms':>10} {'stall<=1ms':>10} {'p99.9<=2x':>9} "
            f"{'recorded':>9} {'exported':>9} {'dropped':>8} {'pending':>8} {'shutdown s':>10}")
    print(head)
    print("-" * len(head))
    for r in results:
        if "skipped" in r:
            print(f"{r['fault']:24} skipped: {r['skipped']}")
            continue
        base, fault, acc = r["untraced"], r["traced"], r["accounting"]
        shutdown = f"{r['shutdown_seconds']:.2f}" + ("" if r["shutdown_finished"] else "!")
        cut = " (cut short)" if r["cut_short"] else ""
        print(f"{r['fault']:24} {base['p99.9']:11.1f} /{base['worst']:10.1f} "
              f"{fault['p99.9']:11.1f} /{fault['worst']:10.1f} {r['ratio_p99.9']:8.1f} "
              f"{r['added_worst_ms']:10.2f} {'PASS' if r['stall_ok'] else 'FAIL':>10} "
              f"{'PASS' if r['p99.9_ok'] else 'FAIL':>9} {_n(acc['recorded']):>9} "
              f"{_n(acc['exported']):>9} {_n(acc['dropped']):>8} {_n(acc['pending']):>8} "
              f"{shutdown:>10}{cut}")
    sources = {r["accounting"]["source"] for r in results if "accounting" in r}
    print(f"\nspan counts from tradetrace stats after shutdown ({', '.join(sorted(sources))}); "
          "'!' after shutdown: still running when the bound passed")
    print("\ntradetrace stats after shutdown, every scalar key:")
    for r in results:
        stats = r.get("stats")
        if not stats:
            continue
        scalars = {k: v for k, v in stats.items()
                   if isinstance(v, (int, float, str)) and not isinstance(v, bool)
                   and k not in ("run_id", "metrics_file")}
        print(f"  {r['fault']:24} " + " ".join(f"{k}={v}" for k, v in scalars.items()))
        nested = {k: v for k, v in stats.items() if isinstance(v, dict) and v}
        for key, value in nested.items():
            print(f"  {'':24} {key}: {json.dumps(value, default=str)}")
        if "receiver" in r:
            print(f"  {'':24} the receiver saw: {json.dumps(r['receiver'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="paced events per run")
    parser.add_argument("--burst", type=int, default=5_000, help="full-speed events after")
    parser.add_argument("--period-us", type=float, default=100.0)
    parser.add_argument("--exporter-timeout", type=float, default=2.0,
                        help="OTEL_EXPORTER_OTLP_TIMEOUT (seconds)")
    parser.add_argument("--flush-timeout", type=float, default=1.0,
                        help="tradetrace.shutdown(timeout) after each traced run")
    parser.add_argument("--shutdown-bound", type=float, default=15.0,
                        help="seconds to wait for shutdown before moving on")
    parser.add_argument("--run-seconds", type=float, default=0.0,
                        help="bound on one run's publishing (default 3x its paced length + 5)")
    parser.add_argument("--small-fs-kib", type=int, default=256)
    parser.add_argument("--only", help="run the faults whose name contains this")
    parser.add_argument("--http-protocol", default="http/protobuf",
                        choices=["http/protobuf", "http/json"],
                        help="OTEL_EXPORTER_OTLP_PROTOCOL of the HTTP faults")
    parser.add_argument("--quick", action="store_true", help="5,000 paced events, burst 1,000")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.events, args.burst = 5_000, 1_000
    if not args.run_seconds:
        args.run_seconds = 3 * args.events * args.period_us / 1e6 + 5
    # each failed export is logged by the stock exporters; the table counts them instead
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)

    faults = [f for f in FAULTS if not args.only or args.only.lower() in f.name.lower()]
    # first exports import and connect lazily, on the worker thread: done once, unreported
    print("[warm-up] ...", file=sys.stderr, flush=True)
    warm_up = argparse.Namespace(**{**vars(args), "events": 1_000, "burst": 200})
    results = []
    with ReceiverHost() as host:
        for fault in (Fault("warm-up", "http", ok()), Fault("warm-up", "grpc", ok()),
                      Fault("warm-up")):
            measure(fault, warm_up, host)
        for fault in faults:
            print(f"[{fault.name}] ...", file=sys.stderr, flush=True)
            results.append(measure(fault, args, host))
    print(f"\npublish latency under export faults: {args.events} events paced every "
          f"{args.period_us:g} us from a thread, then {args.burst} at full speed; NORMAL, "
          f"exporter timeout {args.exporter_timeout:g} s; untraced run just before each "
          "traced one")
    print(f"budget: worst added stall <= {STALL_BUDGET_MS:g} ms; p99.9 <= "
          f"{P999_BUDGET_RATIO:g}x untraced\n")
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps({"settings": vars(args),
                                         "results": results}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
