"""What each capture mode costs the publishing thread, per event.

    python benchmarks/bench_capture_modes.py [--events 200000] [--rounds 5]

One thread hands the same stream of events (a BAR, its SIGNAL and, every tenth bar, an
ORDER and a FILL: the demo's mix) to a bus with one trivial handler, four ways:

- bare: the bus untouched;
- patched: the bus's ``publish`` patched (attributes adapter, NORMAL);
- listener: a ``"*"`` subscription of tradetrace's capture handler on the bus
  (``tradetrace.listen``), the bus itself untouched;
- record: ``tradetrace.record(event)`` called beside each publish;
- objects: listener mode on object events read by the ``objects`` adapter with a payload
  read on the export worker (NautilusTrader's kind of event).

Capture only: the export worker runs (spans are built and written to a file sink in a
temporary folder) but the timed loop measures the publishing thread's wall time. Prints
each mode's median ns per event and its ratio to bare from one run; rounds interleave the
modes so that a machine's drift hits them alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import tradetrace


class Bus:
    def __init__(self) -> None:
        self.handlers: list[Any] = []
        self.seen = 0

    def subscribe(self, topic: str, handler: Any) -> None:
        self.handlers.append(handler)

    def publish(self, event: Any) -> None:
        for handler in self.handlers:
            handler(event)


@dataclass(frozen=True, slots=True)
class Bar:
    id: str
    instrument_id: str
    close: float
    ts_event: int


def _events(n: int, objects: bool) -> list[Any]:
    out: list[Any] = []
    for i in range(n // 2):
        if objects:
            out.append(Bar(f"b{i}", "AUD/USD.SIM", 0.7 + i * 1e-6, 1_700_000_000_000_000_000 + i))
            out.append(Bar(f"c{i}", "AUD/USD.SIM", 0.7, 1_700_000_000_000_000_000 + i))
            continue
        kinds = ("BAR", "SIGNAL") if i % 10 else ("ORDER", "FILL")
        for kind in kinds:
            out.append(SimpleNamespace(
                event_type=kind, container_id="strategy_1" if kind == "SIGNAL" else "data",
                source_id="data", payload={"symbol": "SPY", "price": 100.0 + i % 7},
                event_id=f"{kind}{i}", timestamp=None, causation_id=None,
                correlation_id=None))
    return out


def _time(bus: Bus, events: list[Any], also: Any = None) -> float:
    publish = bus.publish
    start = time.perf_counter_ns()
    if also is None:
        for event in events:
            publish(event)
    else:
        for event in events:
            publish(event)
            also(event)
    return (time.perf_counter_ns() - start) / len(events)


def run_mode(mode: str, events: list[Any], out: str) -> float:
    bus = Bus()
    bus.subscribe("*", lambda event: None)
    if mode == "bare":
        return _time(bus, events)
    if mode == "patched":
        profile = {"name": "bench", "publish": [f"{__name__}:Bus.publish"]}
    elif mode == "objects":
        profile = {"name": "bench", "event_adapter": {
            "name": "objects", "type": "class",
            "payload": {"symbol": "instrument_id", "price": "close"}},
            "event_fields": {"event_id": "id", "timestamp": "ts_event",
                             "source_id": "instrument_id"}}
    else:
        profile = {"name": "bench"}
    tradetrace.configure("normal", profile=profile, output=out, run_id=f"bench-{mode}")
    try:
        if mode in ("listener", "objects"):
            tradetrace.listen(bus, topic="*")
        return _time(bus, events, tradetrace.record if mode == "record" else None)
    finally:
        tradetrace.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    modes = ("bare", "patched", "listener", "record", "objects")
    plain, objects = _events(args.events, False), _events(args.events, True)
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as out:
        for r in range(args.rounds):
            for mode in modes[r % len(modes):] + modes[: r % len(modes)]:
                times[mode].append(run_mode(mode, objects if mode == "objects" else plain, out))
    bare = statistics.median(times["bare"])
    print(f"{args.events} events, {args.rounds} rounds, median ns per event on the "
          "publishing thread (NORMAL, capture only; the worker runs):")
    for mode in modes:
        median = statistics.median(times[mode])
        print(f"  {mode:9s} {median:8.0f} ns  {median / bare:5.2f}x bare  "
              f"(+{median - bare:.0f} ns)")


if __name__ == "__main__":
    main()
