"""An exporter that hangs or a collector that is down never holds trading up: the
writer thread waits for it while the worker and the publishing thread go on, the sink
rests after a failure instead of being hammered, and the losses are said once at exit."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import tradetrace
from system.test_safety import BrokenExporter
from tradetrace.export import writer as writer_module

ROOT = Path(__file__).resolve().parents[2]


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
    """The writer thread hangs in the exporter; the worker goes on encoding into the
    writer's queue, the trading thread never waits on either, and once the exporter
    answers every span is written, by the writer thread only."""
    exporter = HangingExporter()
    session = tradetrace.configure("normal", profile="demo", exporter=exporter)
    bus = demo.EventBus()
    first = demo.Event(event_type="ORDER", container_id="portfolio_x")
    bus.publish(first)
    session._worker.nudge()  # the worker takes that span and the writer hangs with it
    assert exporter.entered.wait(10)

    def trade_on():
        for n in range(30_000):  # far past twice any buffer's cap
            bus.publish(demo.Event(event_type="ORDER", container_id="portfolio_x",
                                   payload={"order_id": str(n)}))

    trader = threading.Thread(target=trade_on)
    trader.start()
    trader.join(60)
    hung = trader.is_alive()
    accounting_while_hung = session.stats()["accounting"]
    exporter.release.set()
    trader.join(10)
    assert not hung, "the trading thread waited for the hanging exporter"
    assert accounting_while_hung["recorded"] == 30_001
    assert accounting_while_hung["exported"] == 0
    assert session.flush(30)
    accounting = session.stats()["accounting"]
    assert accounting["recorded"] == 30_001
    assert accounting["recorded"] == accounting["exported"] + sum(
        accounting["dropped"].values()) and accounting["pending"] == 0
    assert session._worker.stats.sink_threads == {session._worker.writer._thread.ident}
    assert trader.ident not in session._worker.stats.sink_threads


def test_after_a_failure_the_sink_rests_and_records_are_not_encoded(demo, monkeypatch):
    monkeypatch.setattr(writer_module, "RETRY_FIRST_SECONDS", 3600.0)
    exporter = BrokenExporter()
    session = tradetrace.configure("normal", profile="demo", exporter=exporter)
    results = demo.run_backtest(bars=300, seed=2)
    session.flush()
    stats = session.stats()
    accounting = stats["accounting"]
    assert exporter.calls == 1  # tried once, then left alone while it rests
    assert accounting["exported"] == 0 and accounting["pending"] == 0
    assert accounting["recorded"] >= results["events"]
    assert accounting["recorded"] == sum(accounting["dropped"].values())
    assert set(accounting["dropped"]) <= {"sink_failure", "sink_resting"}
    assert 0 < accounting["dropped"]["sink_failure"] <= 256
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
    report = [line for line in traced.stderr.splitlines() if " = exported " in line]
    assert len(report) == 1, traced.stderr
    figures = re.search(r"recorded (\d+) = exported (\d+) \+ dropped (\d+) \((.*)\) "
                        r"\+ pending (\d+)", report[0])
    assert figures is not None, report[0]
    recorded, exported, dropped, pending = (int(figures[i]) for i in (1, 2, 3, 5))
    assert exported == 0 and pending == 0 and recorded == dropped > 0
    assert "sink_failure" in figures[4]
    assert "last export error" in report[0]
