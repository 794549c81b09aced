"""An exporter that hangs or a collector that is down never holds trading up: the
publishing thread drops rather than waits, the sink rests after a failure instead of
being hammered, and the losses are said once at exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import tradetrace
from test_safety import BrokenExporter
from tradetrace.export import worker as worker_module

ROOT = Path(__file__).resolve().parents[1]


class HangingExporter(SpanExporter):
    """Blocks every export until released: a collector that accepts and never answers."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def export(self, spans):
        self.calls += 1
        self.entered.set()
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        self.release.set()


def test_a_hanging_exporter_does_not_hold_the_trading_thread(demo):
    exporter = HangingExporter()
    session = tradetrace.configure("normal", profile="demo", exporter=exporter)
    bus = demo.EventBus()
    first = demo.Event(event_type="ORDER", container_id="portfolio_x")
    bus.publish(first)
    session._worker._wake.set()  # the worker takes that span and hangs in the exporter
    assert exporter.entered.wait(10)

    def trade_on():
        for n in range(30_000):  # far past twice any buffer's cap
            bus.publish(demo.Event(event_type="ORDER", container_id="portfolio_x",
                                   payload={"order_id": str(n)}))

    trader = threading.Thread(target=trade_on)
    trader.start()
    trader.join(60)
    hung = trader.is_alive()
    exporter.release.set()
    trader.join(10)
    assert not hung, "the trading thread waited for the hanging exporter"
    stats = session._worker.stats
    assert stats.spans_dropped_overflow > 0 and stats.spans_lost >= stats.spans_dropped_overflow


def test_after_a_failure_the_sink_rests_and_records_are_not_encoded(demo, monkeypatch):
    monkeypatch.setattr(worker_module, "RETRY_FIRST_SECONDS", 3600.0)
    exporter = BrokenExporter()
    session = tradetrace.configure("normal", profile="demo", exporter=exporter)
    results = demo.run_backtest(bars=300, seed=2)
    session.flush()
    stats = session.stats()
    assert exporter.calls == 1  # tried once, then left alone while it rests
    assert stats["spans_lost"] >= results["events"]
    assert stats["spans_exported"] == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_collector_down_at_start_the_backtest_completes_and_losses_are_reported(tmp_path):
    """A real OTLP exporter against a port nothing listens on: same results as untraced,
    and one line at exit saying how many spans were not delivered and why."""
    command = [sys.executable, str(ROOT / "examples" / "backtest.py"), "--bars", "3000",
               "--seed", "4", "--quiet"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    bare = subprocess.run(command, capture_output=True, text=True, timeout=120, env=base)
    env = {**base, "TRADETRACE_LEVEL": "normal", "TRADETRACE_STORAGE": "otlp",
           "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "2"}
    traced = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert traced.returncode == 0, traced.stderr

    def without_time(out: str) -> str:
        return out.rsplit(",", 1)[0]  # the summary line ends with the elapsed seconds

    assert without_time(traced.stdout) == without_time(bare.stdout)
    report = [line for line in traced.stderr.splitlines() if "were not delivered" in line]
    assert len(report) == 1
    assert "last export error" in report[0]
