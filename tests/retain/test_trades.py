"""Trades in real runs: the demo engine and the fake ADMF-PC package, their trade spans
and streaming metrics, and a soak test of MINIMAL's memory."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.retain.tail import PAYLOAD_ITEM_BYTES, RECORD_BYTES, TailRetention
from tradetrace.testing import recording, spans_by_trade

ROUND_TRIP = sorted(["ORDER", "FILL", "POSITION_OPEN", "ORDER", "FILL", "POSITION_CLOSE"])


def test_every_demo_round_trip_is_one_trade_with_its_pnl(demo):
    """NORMAL: one trade span per round trip, holding the P&L its POSITION_CLOSE reported,
    its six events linked; the positions still open end incomplete."""
    with recording("normal", profile="demo") as spans:
        results = demo.run_backtest(bars=600, seed=5)
        exported = spans.spans()
    events, trades = spans_by_trade(exported)
    outcomes = Counter(t.attributes[conv.TRADE_OUTCOME] for t in trades.values())
    closed = sum(results["trades"].values())
    assert outcomes["win"] + outcomes["loss"] + outcomes["flat"] == closed
    assert outcomes["win"] == sum(results["winning_trades"].values())
    assert outcomes["incomplete"] == sum(results["open_positions"].values())
    net = sum(t.attributes.get(conv.TRADE_PNL, 0.0) for t in trades.values())
    assert net == pytest.approx(sum(results["realized_pnl"].values()), abs=0.05)
    for trade_id, trade in trades.items():
        members = events[trade_id]
        if trade.attributes[conv.TRADE_OUTCOME] in ("win", "loss", "flat"):
            names = Counter(s.name for s in members)  # a rejected close adds ORDER + FILL
            assert names["POSITION_OPEN"] == names["POSITION_CLOSE"] == 1
            assert names["ORDER"] == names["FILL"] == trade.attributes[conv.TRADE_ORDERS] >= 2
            (close,) = [s for s in members if s.name == "POSITION_CLOSE"]
            assert trade.attributes[conv.TRADE_PNL] == close.attributes[conv.REALIZED_PNL]
            assert trade.attributes[conv.TRADE_HOLDING] >= 0
        assert {link.context.span_id for link in trade.links} == {
            s.context.span_id for s in members}


def test_admf_trades_are_keyed_by_portfolio_and_symbol(admf):
    """The fake ADMF-PC (strategy id in ORDER metadata, none on POSITION_OPEN's side): each
    closed trade is exactly its two orders, two fills, open and close."""
    with recording("minimal", profile="admf", retention="always") as spans:
        results = admf.coordinator().run_topology("backtest", {"bars": 300, "seed": 1})
        exported = spans.spans()
        anomalies = spans.session.stats()["retention"]["anomalies"]
    events, trades = spans_by_trade(exported)
    closed = [t for t in trades.values() if t.attributes[conv.TRADE_OUTCOME] != "incomplete"]
    published = results.get("events_by_type") or results.get("event_counts")
    assert len(closed) == published["POSITION_CLOSE"]
    for trade in closed:
        assert sorted(s.name for s in events[trade.attributes[conv.TRADE_ID]]) == ROUND_TRIP
        assert trade.attributes[conv.CONTAINER_ID].startswith("portfolio_")
    assert anomalies == {}


def _metrics(session):
    """The latest exported value of every metric series, by (name, attribute items)."""
    session.finish_run()
    latest: dict[tuple[str, tuple], object] = {}
    for data in session.metrics.exporter.inner.exports:
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        key = (metric.name, tuple(sorted(point.attributes.items())))
                        latest[key] = point
    return latest


def _sum(latest, name, attribute=None):
    out: Counter = Counter()
    for (metric, items), point in latest.items():
        if metric == name:
            value = getattr(point, "value", None)
            out[dict(items).get(attribute)] += value if value is not None else point.count
    return out


def test_metrics_count_what_minimal_drops(demo):
    """MINIMAL drops completed trades' spans, and the metrics still count every event,
    every trade by outcome, every fill's latency and what retention did with the spans."""
    with recording("minimal", profile="demo") as spans:
        results = demo.run_backtest(bars=600, seed=5)
        latest = _metrics(spans.session)
        exported = spans.spans()
    by_type = _sum(latest, "trading.events", conv.EVENT_TYPE)
    lifecycle = {"ORDER", "FILL", "POSITION_OPEN", "POSITION_CLOSE", "SIGNAL"}  # (counted)
    assert dict(by_type) == {k: v for k, v in results["events_by_type"].items() if k in lifecycle}
    outcomes = _sum(latest, "trading.trades.completed", conv.TRADE_OUTCOME)
    assert outcomes["win"] == sum(results["winning_trades"].values())
    assert outcomes["win"] + outcomes["loss"] + outcomes["flat"] == sum(results["trades"].values())
    fills = _sum(latest, "trading.order.fill_latency")
    assert sum(fills.values()) == results["events_by_type"]["FILL"]
    pnl = _sum(latest, "trading.realized_pnl")
    assert sum(pnl.values()) == pytest.approx(sum(results["realized_pnl"].values()), abs=0.05)
    fates = _sum(latest, "tradetrace.spans", "tradetrace.span.fate")
    kept = [s for s in exported if s.attributes.get(conv.EVENT_TYPE)]
    assert fates["exported"] == len(kept) and fates["dropped"] > 0
    # signals are counted at MINIMAL (trading.signals), never spans
    assert fates["exported"] + fates["dropped"] == sum(by_type.values()) - by_type["SIGNAL"]
    assert sum(_sum(latest, "trading.signals").values()) == by_type["SIGNAL"]


def test_metrics_file_is_otlp_json_that_summary_reads(demo, tmp_path):
    """The metrics file beside the traces parses as ExportMetricsServiceRequest lines, and
    `tradetrace summary` reports its trades."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    from tradetrace.analyse.summary import summarize

    session = tradetrace.configure("minimal", profile="demo", output=tmp_path, backend="file")
    results = demo.run_backtest(bars=400, seed=2)
    path = session.metrics_path
    tradetrace.shutdown()
    lines = path.read_text().splitlines()
    assert lines
    for line in lines:
        json_format.Parse(line, ExportMetricsServiceRequest())
        assert "resourceMetrics" in json.loads(line)
    summary = summarize([tmp_path])
    assert summary.metrics is not None and summary.skipped_lines == 0
    completed = summary.metrics.trades_completed
    assert completed.get("win", 0) == sum(results["winning_trades"].values())
    assert summary.metrics.events_recorded["FILL"] == results["events_by_type"]["FILL"]


def test_minimal_memory_is_bounded_by_open_trades_not_by_events(demo, monkeypatch):
    """Soak: a 10x longer MINIMAL backtest holds no more: the peak of held spans and bytes
    depends on how many trades are open at once (one per portfolio here), not on events."""
    peaks: list[dict[str, int]] = []
    release = TailRetention.release

    def observed(self, records, finish=False, pause=None):
        out = release(self, records, finish, pause)
        peak = peaks[-1]
        peak["spans"] = max(peak["spans"], self.stats.spans_held)
        peak["bytes"] = max(peak["bytes"], self.stats.bytes_held)
        peak["open"] = max(peak["open"], self.open_trades)
        return out

    monkeypatch.setattr(TailRetention, "release", observed)
    for bars in (2_000, 20_000):
        peaks.append({"spans": 0, "bytes": 0, "open": 0})
        with recording("minimal", profile="demo") as spans:
            results = demo.run_backtest(bars=bars, seed=9)
            spans.session.flush()
            stats = spans.session.stats()["retention"]
        closed = sum(results["trades"].values())
        assert sum(stats["trades_completed"].values()) >= closed
        assert stats["spans_held"] == 0 and stats["bytes_held"] == 0
        peaks[-1]["trades"] = closed
    short, long = peaks
    assert long["trades"] > 8 * short["trades"]  # the long run did ~10x the trading...
    portfolios = 2
    most = portfolios * 6 * (RECORD_BYTES + PAYLOAD_ITEM_BYTES * 20)
    for peak in peaks:  # ...and held at most one open trade per portfolio's worth of spans
        assert peak["open"] <= portfolios
        assert peak["spans"] <= portfolios * 6
        # whatever the run's length (the worker's timing decides when a peak is seen, so
        # the bound is absolute rather than relative to the short run)
        assert peak["bytes"] <= most


def test_spans_lost_to_full_buffers_are_in_the_metrics_and_the_summary_says_so(demo, tmp_path):
    """The export worker held off (it takes buffers only under its ledger lock) and the
    publisher not waiting: full buffers drop. Those spans never reach retention, so
    tradetrace.spans cannot count them; tradetrace.spans.lost does, and summary says it."""
    from tradetrace.analyse.summary import summarize
    from tradetrace.cli import summary_view

    config = tmp_path / "tracing.yaml"
    config.write_text("tracing:\n  overrides:\n    '*': {max_events: 4}\n")
    session = tradetrace.configure("normal", profile="demo", output=tmp_path / "out",
                                   backend="file", config_file=config)
    session.buffers.max_wait = 0
    with session._worker.ledger:
        demo.run_backtest(bars=50, seed=1)
    full = session.accounting().dropped.get("buffer_full", 0)
    tradetrace.shutdown()
    assert full > 0
    summary = summarize([tmp_path / "out"])
    assert summary.metrics is not None and summary.metrics.lost == {"buffer_full": full}
    assert f"LOST: {full:,} spans never reached the trace files (buffer_full {full:,})" \
        in summary_view.text(summary)
