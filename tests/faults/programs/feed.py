"""A live feed, traced at NORMAL into a trace folder: publishes numbered BARs (event id
``seq_<n>``) until it has published ``--max`` or is stopped. Prints ``ready`` once
``--ready`` events are out, so that a test can signal it mid-run without sleeping.

python feed.py OUTPUT [--ready N] [--max N] [--own-handler] [--untraced] [--flush-at-ready]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: toybus

import toybus  # noqa: E402


def publish(bus: toybus.Bus, start: int, count: int, ready: int = 0,
            flush: bool = False) -> None:
    for n in range(start, start + count):
        bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY", "close": 100.0},
                                   node="data_1", msg_id=f"seq_{n}"))
        if n + 1 == ready:
            if flush:  # then say (on stderr) whether it all went, and what was dropped
                import tradetrace

                flushed = tradetrace.flush()
                session = tradetrace.get_session()
                accounting = session.stats()["accounting"] if session is not None else {}
                dropped = sum(accounting.get("dropped", {}).values())
                print(f"flushed {flushed} dropped {dropped} pending "
                      f"{accounting.get('pending')}", file=sys.stderr, flush=True)
            print("ready", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--ready", type=int, default=1000)
    parser.add_argument("--max", type=int, default=5_000_000)
    parser.add_argument("--own-handler", action="store_true")
    parser.add_argument("--untraced", action="store_true")
    parser.add_argument("--flush-at-ready", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.own_handler:  # installed before tracing starts: tracing must chain it

        def stop(signum: int, frame: object) -> None:
            print("handled", flush=True)
            sys.exit(3)

        signal.signal(signal.SIGTERM, stop)
    if not args.untraced:
        import tradetrace

        tradetrace.configure("normal", profile=toybus.PROFILE, output=args.output,
                             run_id="feed")
    publish(toybus.Bus(), 0, args.max, args.ready, args.flush_at_ready)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
