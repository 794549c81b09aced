"""TraceQuery reads a real Jaeger v2: the demo exports OTLP to it, and every question
gets the same answer from Jaeger as from the run's own trace files."""

from __future__ import annotations

import pytest

import tradetrace
from tradetrace.analyse.query import TraceQuery

from .stack import jaeger, wait_until

pytestmark = pytest.mark.e2e


def test_jaeger_answers_like_the_trace_files(tmp_path, monkeypatch, demo):
    with jaeger(tmp_path) as ports:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{ports['otlp_http']}")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "trading-e2e")
        config = tmp_path / "tracing.yaml"
        config.write_text("tracing:\n  metrics: false\n")
        session = tradetrace.configure("normal", profile="demo", backend="otlp",
                                       config_file=config)
        results = demo.run_backtest(bars=200, seed=5)
        tradetrace.shutdown()
        exported = session.stats()["spans_exported"]
        assert session.stats()["spans_lost"] == 0 and exported > 0

        url = f"jaeger+http://127.0.0.1:{ports['query']}/?service=trading-e2e&limit=10000"
        wait_until(lambda: TraceQuery(url).stats.spans == exported, 30,
                   f"Jaeger to hold all {exported} spans")
        remote = TraceQuery(url)
        assert remote.stats.skipped_sources == []

        events = remote.sql("SELECT count(*) FROM spans WHERE event_type IS NOT NULL "
                            "AND handler_name IS NULL")[0][0]
        assert events == results["events"]
        closed = [t for t in remote.trades().rows if t.outcome in ("win", "loss", "flat")]
        assert len(closed) == sum(results["trades"].values())
        wins = [t for t in closed if t.outcome == "win"]
        assert len(wins) == sum(results["winning_trades"].values())

        trade = next(t for t in closed if t.fills)
        fill = next(e for e in trade.events if e.event_type == "FILL")
        chain = remote.get_event_chain(fill.event_id)
        assert [n.event_type for n in sorted(chain.ancestors, key=lambda n: -n.depth)] == [
            "BAR", "SIGNAL", "ORDER"]

        one = TraceQuery(f"jaeger+http://127.0.0.1:{ports['query']}/?trace={fill.trace_id}")
        ids = one.sql("SELECT DISTINCT trace_id FROM spans")
        assert ids == [(fill.trace_id,)]
