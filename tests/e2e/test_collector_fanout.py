"""The demo backtest exports OTLP to the real Collector (collector-config/fanout.yaml),
which fans out to a real Jaeger and to a file: the trade's trace in Jaeger keeps its
parents, links and trading attributes, and TraceQuery reads the Collector's file."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

from tradetrace import conventions as conv
from tradetrace.analyse.query import TraceQuery

from .stack import backtest_over_otlp, collector, free_port, jaeger, wait_until

pytestmark = pytest.mark.e2e


def _jaeger_trace(port: int, trace_id: str) -> list[dict]:
    """A trace from Jaeger's API v3, as OTLP JSON spans."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v3/traces/{trace_id}",
                                timeout=10) as response:
        answer = json.loads(response.read())
    return [span for rs in answer["result"]["resourceSpans"]
            for ss in rs["scopeSpans"] for span in ss["spans"]]


def _jaeger_search(port: int, service: str, tags: dict, operation: str = "") -> set[str]:
    """Trace ids from the search the Jaeger UI runs for its form's Tags field."""
    query = {"service": service, "tags": json.dumps(tags), "limit": "10000"}
    if operation:
        query["operation"] = operation
    url = f"http://127.0.0.1:{port}/api/traces?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    return {trace["traceID"] for trace in answer["data"]}


def _attributes(span: dict) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


def test_demo_through_the_collector_to_jaeger_and_a_file(tmp_path, monkeypatch, demo):
    files = tmp_path / "otelcol"
    with jaeger(tmp_path) as jaeger_ports, collector(
            tmp_path, "fanout.yaml",
            OTELCOL_JAEGER_ENDPOINT=f"127.0.0.1:{jaeger_ports['otlp_grpc']}",
            OTELCOL_TEMPO_ENDPOINT=f"127.0.0.1:{free_port()}",  # no Tempo here: it retries
            OTELCOL_FILE_PATH=str(files / "traces.jsonl")) as ports:
        results, exported = backtest_over_otlp(
            demo, f"http://127.0.0.1:{ports['otlp_http']}", "trading-fanout", tmp_path,
            monkeypatch, seed=6)

        url = (f"jaeger+http://127.0.0.1:{jaeger_ports['query']}/?service=trading-fanout"
               "&limit=10000")
        wait_until(lambda: TraceQuery(url).stats.spans == exported, 60,
                   f"Jaeger to hold all {exported} spans")
        wait_until(lambda: TraceQuery(files).stats.spans == exported, 60,
                   "the Collector's file to hold every span")

        from_file = TraceQuery(files)
        assert from_file.stats.bad_lines == 0
        closed = [t for t in from_file.trades().rows if t.outcome in ("win", "loss", "flat")]
        assert len(closed) == sum(results["trades"].values())

        trade = next(t for t in closed if t.fills)
        fill = next(e for e in trade.events if e.event_type == "FILL")
        spans = _jaeger_trace(jaeger_ports["query"], fill.trace_id)
        by_id = {s["spanId"]: s for s in spans}
        fill_span = by_id[fill.span_id]
        order_span = by_id[fill_span["parentSpanId"]]
        assert _attributes(order_span)[conv.EVENT_TYPE] == "ORDER"
        assert _attributes(fill_span)[conv.TRADE_ID] == trade.trade_id
        bar = order_span
        while bar.get("parentSpanId"):
            bar = by_id[bar["parentSpanId"]]
        assert _attributes(bar)[conv.EVENT_TYPE] == "BAR"
        assert any(link.get("spanId") for link in bar.get("links", []))  # to its run span

        (trade_span,) = [s for s in from_file.sql(
            "SELECT trace_id, span_id, len(links) FROM spans WHERE name = ? AND trade_id = ?",
            [conv.TRADE_SPAN_NAME, trade.trade_id])]
        trade_trace = _jaeger_trace(jaeger_ports["query"], trade_span[0])
        (in_jaeger,) = [s for s in trade_trace if s["spanId"] == trade_span[1]]
        linked = {link["spanId"] for link in in_jaeger.get("links", [])}
        assert fill.span_id in linked and len(linked) == trade_span[2]
        assert _attributes(in_jaeger)[conv.TRADE_OUTCOME] == trade.outcome

        # docs/backends.md: "in the search form's Tags field enter trading.trade.id=..."
        # finds the whole trade: every trace holding one of its spans, and only those
        holding = {row[0] for row in from_file.sql(
            "SELECT DISTINCT trace_id FROM spans WHERE trade_id = ?", [trade.trade_id])}
        assert len(holding) > 2  # the bars' traces of its events, and its trade span's
        assert _jaeger_search(jaeger_ports["query"], "trading-fanout",
                              {conv.TRADE_ID: trade.trade_id}) == holding
        # ... and trading.trade.outcome=loss with operation `trade`, the losing trades
        losers = {t.trade_id for t in from_file.trades().rows if t.outcome == "loss"}
        found = _jaeger_search(jaeger_ports["query"], "trading-fanout",
                               {conv.TRADE_OUTCOME: "loss"}, operation=conv.TRADE_SPAN_NAME)
        assert losers and len(found) == len(losers)
