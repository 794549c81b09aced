"""Many processes' traces through two tiers of real Collectors: tier 1 load-balances by
trace id over two tail-sampling tier-2 Collectors, which keep every trace that holds a
trade's span and send it to Jaeger. Both tier-2 instances take a share, and no kept
trace is cut: each trade's fill still reaches back to its BAR."""

from __future__ import annotations

import pytest

from tradetrace.analyse.query import TraceQuery

from .stack import accepted_spans, backtest_over_otlp, collector, jaeger, wait_until

pytestmark = pytest.mark.e2e


def test_two_tiers_keep_whole_trade_traces(tmp_path, monkeypatch, demo):
    with jaeger(tmp_path) as jaeger_ports:
        tier2 = {"OTELCOL_BACKEND_ENDPOINT": f"127.0.0.1:{jaeger_ports['otlp_grpc']}",
                 "OTELCOL_TAIL_DECISION_WAIT": "1s", "OTELCOL_TAIL_BASELINE_PERCENT": "0"}
        with collector(tmp_path, "tier2-tail-sampling.yaml", "tier2-a", **tier2) as a, \
                collector(tmp_path, "tier2-tail-sampling.yaml", "tier2-b", **tier2) as b:
            hostnames = f"127.0.0.1:{a['otlp_grpc']},127.0.0.1:{b['otlp_grpc']}"
            with collector(tmp_path, "tier1-loadbalancer.yaml", "tier1",
                           OTELCOL_TIER2_HOSTNAMES=hostnames) as tier1:
                results, exported = backtest_over_otlp(
                    demo, f"http://127.0.0.1:{tier1['otlp_http']}", "trading-tiers",
                    tmp_path, monkeypatch, seed=7)
                wait_until(lambda: accepted_spans(a["metrics"]) + accepted_spans(
                    b["metrics"]) == exported, 60, "tier 2 to receive every span")
                assert accepted_spans(a["metrics"]) > 0 and accepted_spans(b["metrics"]) > 0

                url = (f"jaeger+http://127.0.0.1:{jaeger_ports['query']}/"
                       "?service=trading-tiers&limit=10000")
                closed = sum(results["trades"].values())

                def trades_in_jaeger() -> int:
                    rows = TraceQuery(url).trades(events=False).rows
                    return sum(t.outcome in ("win", "loss", "flat") for t in rows)

                wait_until(lambda: trades_in_jaeger() == closed, 60,
                           f"Jaeger to hold all {closed} closed trades")
        kept = TraceQuery(url)
        bars = kept.sql("SELECT count(*) FROM spans WHERE event_type = 'BAR'")[0][0]
        assert 0 < bars < results["events_by_type"]["BAR"]  # bars that traded, no others
        for trade in kept.trades().rows:
            fill = next((e for e in trade.events if e.event_type == "FILL"), None)
            if fill is None:
                continue
            chain = kept.get_event_chain(fill.event_id)
            assert "BAR" in {n.event_type for n in chain.ancestors}, trade.trade_id
