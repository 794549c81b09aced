"""Why didn't it trade, at any level: the ``trading.signals`` metric.

A thin market rejects orders in the demo, so some signals change direction without an
order (the position a rejected close left open needs none). The metric must count those
exactly as the span query finds them at NORMAL, and count the same at MINIMAL, where no
signal is a span.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tradetrace
from tradetrace.analyse.summary import summarize
from tradetrace.cli.summary_view import text as render
from tradetrace.query import TraceQuery

THIN = {"data": {"bars": 600, "seed": 5}, "execution": {"max_volume_fraction": 0.003}}


def _run(demo, out: Path, level: str) -> dict:
    tradetrace.configure(level, profile="demo", output=out, backend="file")
    try:
        results = demo.Coordinator().run_topology("backtest", THIN)
        accounting = tradetrace.get_session().stats()["accounting"]
    finally:
        tradetrace.shutdown()
    return {"results": results, "accounting": accounting}


@pytest.fixture(scope="module")
def thin_runs(tmp_path_factory):
    import demo_engine

    root = tmp_path_factory.mktemp("signals")
    return {level: (root / level, _run(demo_engine, root / level, level))
            for level in ("minimal", "normal")}


def test_the_metric_counts_what_the_span_query_finds(thin_runs):
    out, run = thin_runs["normal"]
    assert run["results"]["rejected_orders"] > 0
    signals = summarize([out]).metrics.signals
    query = TraceQuery(out)
    changed = query.detect_patterns("signal_without_order", changed_only=True, limit=None)
    ((every,),) = query.sql("SELECT count(*) FROM spans WHERE name = 'SIGNAL'")
    assert signals["total"] == every
    assert signals["unanswered"] == changed.count > 0
    by_direction: dict[str, int] = {}
    for row in changed.rows:
        by_direction[row["direction"]] = by_direction.get(row["direction"], 0) + 1
    assert signals["unanswered_by_direction"] == by_direction


def test_minimal_counts_the_same_signals_without_tracing_them(thin_runs):
    """At MINIMAL no signal is a span, yet the counts equal NORMAL's; each signal is
    accounted for as counted_only, which is a choice of the level, not a loss."""
    minimal_out, minimal = thin_runs["minimal"]
    normal_out, _ = thin_runs["normal"]
    at_minimal = summarize([minimal_out])
    assert "SIGNAL" not in at_minimal.events_by_type
    assert at_minimal.metrics.signals == summarize([normal_out]).metrics.signals
    accounting = minimal["accounting"]
    assert accounting["dropped"]["counted_only"] == at_minimal.metrics.signals["total"]
    assert "without an order" in render(at_minimal)


def test_orders_below_a_minimal_signal_are_roots_linked_to_the_run(thin_runs):
    """A counted signal is on the dispatch stack but is no span: an order published under
    it must not name it as parent (a parent nobody exported)."""
    out, _ = thin_runs["minimal"]
    ((orders, with_parent),) = TraceQuery(out).sql(
        "SELECT count(*), count(parent_id) FROM spans WHERE name = 'ORDER'")
    assert orders > 0 and with_parent == 0


def test_a_container_at_none_counts_no_signal(demo, tmp_path):
    config = tmp_path / "tracing.yaml"
    config.write_text("tracing:\n  level: minimal\n"
                      "  overrides:\n    'strategy_*': {level: none}\n")
    tradetrace.configure(config_file=config, profile="demo", output=tmp_path / "out",
                         backend="file")
    try:
        demo.Coordinator().run_topology("backtest", THIN)
    finally:
        tradetrace.shutdown()
    metrics = summarize([tmp_path / "out"]).metrics
    assert metrics.trades_completed and metrics.signals == {}
