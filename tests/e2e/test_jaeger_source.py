"""TraceQuery reads a real Jaeger v2: the demo exports OTLP to it, and every question
gets the same answer from Jaeger as from the run's own trace files."""

from __future__ import annotations

import pytest

from tradetrace.analyse.query import TraceQuery

from .stack import backtest_over_otlp, jaeger, wait_until

pytestmark = pytest.mark.e2e


def test_jaeger_answers_like_the_trace_files(tmp_path, monkeypatch, demo):
    with jaeger(tmp_path) as ports:
        results, exported = backtest_over_otlp(
            demo, f"http://127.0.0.1:{ports['otlp_http']}", "trading-e2e", tmp_path,
            monkeypatch)

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

        # one trade, and then only losing trades, pulled from Jaeger by attribute
        base = f"jaeger+http://127.0.0.1:{ports['query']}/?service=trading-e2e&limit=10000"
        holding = set(remote.sql("SELECT DISTINCT trace_id FROM spans WHERE trade_id = ?",
                                 [trade.trade_id]))
        alone = TraceQuery(f"{base}&trade={trade.trade_id}")
        assert set(alone.sql("SELECT DISTINCT trace_id FROM spans")) == holding
        again = alone.get_trade(trade.trade_id)
        assert again is not None and again.trade.outcome == trade.outcome
        assert len(again.trade.events) == len(trade.events)
        losers = TraceQuery(f"{base}&tag=trading.trade.outcome:loss&tag=trading.trade.side:LONG")
        expected = {t.trade_id for t in closed if t.outcome == "loss" and t.side == "LONG"}
        assert {t.trade_id for t in losers.trades().rows} == expected
