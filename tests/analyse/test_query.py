"""tradetrace.query: every query pinned on demo-engine traces (expectations from the
backtest's own results, or from the plain-Python reader) and on hand-written OTLP JSON."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

import tradetrace
from tradetrace.analyse.reader import read_spans
from tradetrace.analyse.summary import percentile
from tradetrace.conventions import signal_direction
from tradetrace.query import TraceQuery

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "query"
CROSS = FIXTURES / "cross_trace.jsonl"
COLLECTOR = FIXTURES / "collector-traces.json"


def _one(q: TraceQuery, sql: str) -> tuple:
    (row,) = q.sql(sql)
    return row


def _run(demo, tmp_path: Path, level: str, name: str, config: dict | None = None, **kw):
    out = tmp_path / name
    tradetrace.configure(level, profile="demo", output=out, backend="file")
    if config is None:
        results = demo.run_backtest(**kw)
    else:
        results = demo.Coordinator().run_topology("backtest", config)
    tradetrace.shutdown()
    return out, results


@pytest.fixture
def normal_run(demo, tmp_path):
    return _run(demo, tmp_path, "normal", "normal", bars=600, seed=5)


@pytest.fixture
def debug_run(demo, tmp_path):
    return _run(demo, tmp_path, "debug", "debug", bars=400, seed=3)


# -- loading ------------------------------------------------------------------------------


def test_load_counts_every_span_and_skips_bad_lines_with_messages():
    q = TraceQuery(CROSS)
    assert q.stats.files_read == 1
    assert q.stats.spans == 8  # 3 + 3 + 1 non-trading + 1 SIGNAL
    assert q.stats.bad_lines == 2  # the truncated line and the non-JSON line
    assert q.stats.bad_spans == 1  # a span without ids
    assert q.stats.metric_lines == 1
    assert any("2 line(s) not valid OTLP JSON" in m for m in q.stats.messages)
    row = _one(q, "SELECT trace_id, span_id, parent_id, worker_id, service_name FROM spans "
                "WHERE event_id = 'pos1'")
    assert row == ("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb02", "00000000000000e1",
                   "00000000000000d1", "w42", "execution-gateway")
    (links,) = _one(q, "SELECT links FROM spans WHERE event_id = 'fill1'")
    assert links == [{"trace_id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01",
                      "span_id": "00000000000000c1", "relation": "causation"}]


def test_typed_attribute_values_and_non_trading_spans():
    q = TraceQuery(CROSS)
    attrs, = _one(q, "SELECT attributes FROM spans WHERE event_id = 'ord1'")
    assert attrs["trading.quantity"] == "10" and attrs["trading.price"] == "100.5"
    assert attrs["trading.causation.derived"] == "true"
    other = _one(q, "SELECT name, service_name, event_type, container_id, status_code, "
                  "status_message, run_id FROM spans WHERE name = 'SELECT positions'"
                  )
    assert other == ("SELECT positions", "risk-db", None, None, 2, "timeout", None)
    # a span with missing attributes is kept, its columns NULL
    assert _one(q, "SELECT container_id, symbol FROM spans WHERE event_id = 'sig2'"
                 ) == (None, None)


def test_gzip_truncated_gzip_unsupported_compression_urls_and_progress(tmp_path):
    with gzip.open(tmp_path / "a.jsonl.gz", "wb") as f:
        f.write(CROSS.read_bytes())
    whole = gzip.compress(COLLECTOR.read_bytes() * 300)
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: len(whole) * 2 // 3])
    (tmp_path / "x.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    (tmp_path / "run-metrics.jsonl").write_text('{"resourceMetrics": []}\n')
    calls = []
    q = TraceQuery([tmp_path, "http://jaeger:16686", tmp_path / "nothing*.jsonl"],
                   progress=lambda done, total: calls.append((done, total)))
    assert q.stats.files_total == 2  # the .gz pair; not the metrics file nor the .zst
    assert q.stats.spans >= 8 + 3  # a.jsonl.gz in full, at least one collector line
    assert str(tmp_path / "x.jsonl.zst") in q.stats.skipped_files
    assert sorted(q.stats.skipped_sources) == sorted(
        ["http://jaeger:16686", str(tmp_path / "nothing*.jsonl")])
    assert any(m.startswith("http://jaeger:16686: name the service") for m in q.stats.messages)
    assert any("cut short" in m for m in q.stats.messages)
    assert calls and calls[-1] == (2, 2)


def test_empty_folder_gives_empty_results_with_messages(tmp_path):
    q = TraceQuery(tmp_path)
    assert q.stats.spans == 0 and q.stats.files_total == 0
    assert any("no trace files" in m for m in q.stats.messages)
    assert q.find_bottlenecks().rows == [] and q.find_bottlenecks().message
    assert q.get_event_chain("x").event is None
    assert q.trades().rows == []
    assert q.tick_to_trade().count == 0
    assert q.detect_patterns("orphan_events").count == 0


# -- event chain --------------------------------------------------------------------------


def test_chain_crosses_traces_through_causation_links():
    q = TraceQuery(CROSS)
    chain = q.get_event_chain("pos1")
    assert [n.event_id for n in chain.ancestors] == ["bar1", "sig1", "ord1", "fill1"]
    assert [n.relation for n in chain.ancestors] == ["parent", "parent", "link", "parent"]
    assert chain.event is not None and chain.event.container_id == "portfolio"
    assert chain.descendants == []
    down = q.get_event_chain("bar1")
    assert [(n.event_id, n.relation) for n in down.descendants] == [
        ("sig1", "parent"), ("ord1", "parent"), ("fill1", "link"), ("pos1", "parent"),
        ("fill2", "causation")]
    assert down.descendants[2].duration_us == 2000.0
    # fill2 names ord1 as its cause without a link: joined by the causation id
    assert [(n.event_id, n.relation) for n in q.get_event_chain("fill2").ancestors][-1] == (
        "ord1", "causation")


def test_unknown_event_id_is_an_empty_chain_with_a_message():
    chain = TraceQuery(CROSS).get_event_chain("nope")
    assert chain.event is None and chain.rows == [] and "nope" in chain.message
    assert chain.to_dict()["event_id"] == "nope"


def test_chain_on_demo_debug_includes_handlers(debug_run):
    out, _ = debug_run
    q = TraceQuery(out)
    (fill_id,) = _one(q, "SELECT event_id FROM spans WHERE event_type = 'FILL' AND "
                       "handler_name IS NULL ORDER BY start_ns LIMIT 1")
    chain = q.get_event_chain(fill_id)
    assert [n.event_type for n in chain.ancestors] == ["BAR", "SIGNAL", "ORDER"]
    assert "Portfolio._on_fill" in {n.handler_name for n in chain.descendants}
    assert "POSITION_OPEN" in {n.event_type for n in chain.descendants}


# -- trades -------------------------------------------------------------------------------


def test_trades_match_the_backtest_results(normal_run):
    out, results = normal_run
    q = TraceQuery(out)
    trades = q.trades()
    closed = [t for t in trades.rows if t.outcome in ("win", "loss", "flat")]
    assert Counter(t.strategy_id for t in closed) == Counter(results["trades"])
    assert Counter(t.strategy_id for t in closed if t.outcome == "win") == Counter(
        {k: v for k, v in results["winning_trades"].items() if v})
    for strategy, pnl in results["realized_pnl"].items():
        got = sum(t.realized_pnl for t in closed if t.strategy_id == strategy)
        assert got == pytest.approx(pnl, abs=0.01)
    incomplete = [t for t in trades.rows if t.outcome == "incomplete"]
    assert len(incomplete) == sum(results["open_positions"].values())
    first = closed[0]
    assert [e.event_type for e in first.events][:2] == ["ORDER", "FILL"]
    assert first.events[-1].event_type == "POSITION_CLOSE"
    assert [e.start_ns for e in first.events] == sorted(e.start_ns for e in first.events)
    strategy = next(iter(results["trades"]))
    losers = q.trades(strategy=strategy, outcome="loss", pnl_max=0, events=False)
    assert {t.strategy_id for t in losers.rows} == {strategy}
    assert all(t.realized_pnl <= 0 and t.events == [] for t in losers.rows)
    assert len(q.trades(pnl_min=1e12).rows) == 0
    assert q.get_trade(first.trade_id).trade == first
    assert q.trades().to_pandas().shape[0] == len(trades.rows)


def test_trade_filters_on_collector_file_and_trade_without_trade_span():
    q = TraceQuery([COLLECTOR, CROSS])
    (t,) = q.trades(symbol="QQQ").rows
    assert (t.trade_id, t.outcome, t.realized_pnl, t.kept_by) == ("trd_x", "loss", -50.0,
                                                                  "loss_above 25")
    assert [e.event_type for e in t.events] == ["ORDER", "FILL"]
    assert q.trades(start="2024-03-01T10:30:00").rows == []
    assert [x.trade_id for x in q.trades(start="2024-03-01", end="2024-03-02").rows] == [
        "trd_x"]
    result = q.get_trade("trd1")
    assert result.trade is not None and not result.trade.has_trade_span
    assert "no `trade` span" in result.message
    assert [e.event_id for e in result.trade.events] == ["ord1", "fill1", "pos1", "fill2"]
    assert result.trade.rejected_orders == 1
    assert q.get_trade("missing").trade is None


# -- patterns -----------------------------------------------------------------------------


def test_unknown_pattern_lists_the_known_ones():
    with pytest.raises(ValueError, match="latency_spike, rejected_orders, orphan_events"):
        TraceQuery(CROSS).detect_patterns("moon_phase")
    with pytest.raises(ValueError, match="threshold_ms"):
        TraceQuery(CROSS).detect_patterns("latency_spike")


def test_latency_spike_absolute_and_relative():
    q = TraceQuery(CROSS)
    spikes = q.detect_patterns("latency_spike", threshold_ms=1.5)
    assert [r["event_id"] for r in spikes.rows] == ["fill1"]
    # FILL stage (execution): durations 2.0 ms and 0.1 ms, median 1.05 ms
    relative = q.detect_patterns("latency_spike", relative=1.5)
    assert [r["event_id"] for r in relative.rows] == ["fill1"]
    assert relative.rows[0]["ratio"] == pytest.approx(2000 / 1050)


def test_latency_spike_on_demo_matches_python(normal_run):
    out, _ = normal_run
    durations = [s.duration_ns for s in read_spans([out]) if "trading.event.type" in s.attributes]
    threshold = sorted(durations)[len(durations) // 2] / 1e6  # the median, in ms
    report = TraceQuery(out).detect_patterns("latency_spike", threshold_ms=threshold, limit=5)
    assert report.count == sum(d > threshold * 1e6 for d in durations)
    assert len(report.rows) == 5
    assert round(report.rows[0]["duration_us"] * 1000) == max(durations)  # us: 3 decimals


def test_rejected_orders_on_demo(demo, tmp_path):
    config = {"data": {"bars": 500, "seed": 11}, "execution": {"max_volume_fraction": 0.004}}
    out, results = _run(demo, tmp_path, "debug", "rej", config)
    assert results["rejected_orders"] > 0
    report = TraceQuery(out).detect_patterns("rejected_orders")
    assert report.count == results["rejected_orders"]
    row = report.rows[0]
    assert row["status"] == "REJECTED" and "liquidity limit" in row["reason"]
    assert row["order_event_id"] and row["order_quantity"] > 0


def test_rejected_orders_fixture():
    report = TraceQuery(CROSS).detect_patterns("rejected_orders")
    assert [(r["event_id"], r["reason"], r["order_event_id"]) for r in report.rows] == [
        ("fill2", "venue closed", "ord1")]


def test_orphan_events_at_debug_are_the_unhandled_position_events(debug_run):
    out, results = debug_run
    report = TraceQuery(out).detect_patterns("orphan_events")
    by_type = results["events_by_type"]
    assert report.count == by_type["POSITION_OPEN"] + by_type["POSITION_CLOSE"]
    assert {r["evidence"] for r in report.rows} == {"no_handler"}


def test_orphan_events_below_debug_say_what_cannot_be_known():
    report = TraceQuery(CROSS).detect_patterns("orphan_events")
    # fill2 and pos1 and the bare SIGNAL: nothing follows them; ord1 has a linked effect
    assert sorted(r["event_id"] for r in report.rows) == ["fill2", "pos1", "sig2"]
    assert {r["evidence"] for r in report.rows} == {"no_consequence"}
    assert "below DEBUG" in report.message


def _ancestors_of_orders(spans: list) -> set[str]:
    """Span ids with an ORDER among their descendants, by parent ids (plain Python)."""
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    with_order = set()
    for s in spans:
        if s.attributes.get("trading.event.type") == "ORDER":
            parent = by_id.get((s.trace_id, s.parent_id))
            while parent is not None:
                with_order.add(parent.span_id)
                parent = by_id.get((parent.trace_id, parent.parent_id))
    return with_order


def test_signal_without_order_matches_python(normal_run):
    out, _ = normal_run
    spans = list(read_spans([out]))
    with_order = _ancestors_of_orders(spans)
    signals = [s for s in spans if s.attributes.get("trading.event.type") == "SIGNAL"]
    report = TraceQuery(out).detect_patterns("signal_without_order", limit=3)
    assert report.count == sum(s.span_id not in with_order for s in signals) > 0
    assert "trading.signal.direction" in report.rows[0]["attributes"]


def test_signal_without_order_changed_only_matches_python(demo, tmp_path):
    """changed_only: of the signals without an order, those whose direction differs from
    the previous signal's (same container, strategy and symbol, in publish order). A thin
    market rejects orders, and a signal flipping back while the position whose closing
    order was rejected is still open needs no order: at least one such signal."""
    out, results = _run(demo, tmp_path, "normal", "thin", config={
        "data": {"bars": 600, "seed": 5}, "execution": {"max_volume_fraction": 0.003}})
    assert results["rejected_orders"] > 0
    spans = list(read_spans([out]))
    with_order = _ancestors_of_orders(spans)
    signals = sorted((s for s in spans if s.attributes.get("trading.event.type") == "SIGNAL"),
                     key=lambda s: (s.start, s.span_id))
    previous: dict[tuple, object] = {}
    expected = {}
    for s in signals:
        key = tuple(s.attributes.get(k) for k in (
            "trading.container.id", "trading.strategy.id", "trading.symbol"))
        direction = signal_direction(s.attributes.get("trading.signal.direction"))
        before = previous.get(key)
        previous[key] = direction
        if s.span_id not in with_order and before != direction:
            expected[s.span_id] = before
    q = TraceQuery(out)
    every = q.detect_patterns("signal_without_order", limit=None)
    changed = q.detect_patterns("signal_without_order", changed_only=True, limit=None)
    assert 0 < changed.count == len(expected) < every.count
    assert {r["span_id"]: r["previous_direction"] for r in changed.rows} == expected
    assert all(r["direction"] != r["previous_direction"] for r in changed.rows)
    assert "changed_only" in every.message and changed.params == {"changed_only": True}


def _signal_file(path: Path, directions: list[object], ordered: set[int]) -> Path:
    """One trace per signal (as a bar each), an ORDER under the signals in ``ordered``."""
    def value(v: object) -> dict:
        if isinstance(v, str):
            return {"stringValue": v}
        return {"intValue": str(v)} if isinstance(v, int) else {"doubleValue": v}

    def span(trace: str, span_id: str, name: str, start: int, parent: str | None,
             attrs: dict) -> dict:
        out = {"traceId": trace, "spanId": span_id, "name": name, "kind": 1,
               "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1000),
               "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()]}
        return out | ({"parentSpanId": parent} if parent else {})

    spans = []
    for i, direction in enumerate(directions):
        trace, sig = f"{i + 1:032x}", f"{i + 1:016x}"
        spans.append(span(trace, sig, "SIGNAL", 1_700_000_000_000_000_000 + i * 10**6, None, {
            "trading.event.type": "SIGNAL", "trading.container.id": "strategy_1",
            "trading.symbol": "SPY", "trading.strategy.id": "s0",
            "trading.signal.direction": direction}))
        if i in ordered:
            spans.append(span(trace, f"{i + 101:016x}", "ORDER",
                              1_700_000_000_000_000_000 + i * 10**6 + 10, sig, {
                                  "trading.event.type": "ORDER",
                                  "trading.container.id": "portfolio_1"}))
    line = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "trading.run.id", "value": {"stringValue": "run_dir"}}]},
        "scopeSpans": [{"scope": {"name": "tradetrace"}, "spans": spans}]}]}
    path.write_text(json.dumps(line) + "\n")
    return path


@pytest.mark.parametrize("directions", [
    ["flat", "long", "long", "flat", "short", "SHORT", "long"],  # ADMF-PC's strings
    [0, 1, 1, 0, -1, -1.0, 1],  # the demo's numbers
])
def test_why_not_compares_directions_as_the_system_says_them(tmp_path, directions):
    """ADMF-PC's directions are the words long/short/flat; a why-not that read them as
    numbers found none. Words and numbers mean the same directions; the second signal
    (flat -> long) was ordered, every other change was not."""
    path = _signal_file(tmp_path / "run.jsonl", directions, ordered={1})
    report = TraceQuery(path).detect_patterns("signal_without_order", changed_only=True)
    assert [(r["previous_direction"], r["direction"]) for r in report.rows] == [
        (None, "flat"), ("long", "flat"), ("flat", "short"), ("short", "long")]
    every = TraceQuery(path).detect_patterns("signal_without_order", limit=None)
    assert every.count == len(directions) - 1
    assert [r["direction"] for r in every.rows] == [
        signal_direction(d) for i, d in enumerate(directions) if i != 1]


def test_signal_without_order_fixture():
    report = TraceQuery(CROSS).detect_patterns("signal_without_order")
    assert [r["event_id"] for r in report.rows] == ["sig2"]


# -- timing -------------------------------------------------------------------------------


def test_bottlenecks_match_python_percentiles(normal_run):
    out, _ = normal_run
    groups: dict[tuple, list[int]] = {}
    children: Counter = Counter()
    spans = list(read_spans([out]))
    for s in spans:
        if s.parent_id:
            children[(s.trace_id, s.parent_id)] += s.duration_ns
    selfs: dict[tuple, list[int]] = {}
    for s in spans:
        if "trading.event.type" not in s.attributes:
            continue
        key = (s.attributes.get("trading.container.id"), None,
               s.attributes["trading.event.type"])
        groups.setdefault(key, []).append(s.duration_ns)
        selfs.setdefault(key, []).append(
            max(0, s.duration_ns - children[(s.trace_id, s.span_id)]))
    report = TraceQuery(out).find_bottlenecks(percentile=90)
    assert len(report.rows) == len(groups)
    for stage in report.rows:
        key = (stage.container_id, stage.handler_name, stage.event_type)
        d, own = sorted(groups[key]), sorted(selfs[key])
        assert stage.count == len(d)
        assert stage.p_us == percentile(d, 90) / 1000
        assert stage.self_p_us == percentile(own, 90) / 1000
        assert stage.total_us == pytest.approx(sum(d) / 1000)
    assert [s.self_p_us for s in report.rows] == sorted(
        (s.self_p_us for s in report.rows), reverse=True)


def test_self_time_at_debug_is_not_taken_twice(debug_run):
    out, _ = debug_run
    report = TraceQuery(out).find_bottlenecks(by=("event_type",))
    bar = next(s for s in report.rows if s.event_type == "BAR")
    # the BAR's children (handlers, and SIGNALs inside a handler) never exceed it
    assert 0 < bar.self_total_us < bar.total_us
    assert {s.event_type for s in report.rows} >= {"BAR", "SIGNAL", "ORDER", "FILL"}
    with pytest.raises(ValueError, match="unknown stage"):
        TraceQuery(out).find_bottlenecks(by=("planet",))


def test_tick_to_trade_on_demo_and_across_links(normal_run):
    out, results = normal_run
    spans = list(read_spans([out]))
    bars = {s.trace_id: s for s in spans if s.attributes.get("trading.event.type") == "BAR"}
    expected = sorted(s.end - bars[s.trace_id].start for s in spans
                      if s.attributes.get("trading.event.type") == "FILL")
    t2t = TraceQuery(out).tick_to_trade(buckets=10)
    assert t2t.count == len(expected) == results["events_by_type"]["FILL"]
    assert t2t.p99_us == percentile(expected, 99) / 1000
    assert t2t.max_us == expected[-1] / 1000
    assert sum(b["count"] for b in t2t.rows) == t2t.count and len(t2t.rows) == 10
    ratios = {round(b["high_us"] / b["low_us"], 6) for b in t2t.rows}
    assert len(ratios) == 1  # log scale: every bucket spans the same factor
    assert abs(t2t.rows[0]["low_us"] - min(expected) / 1000) < 1e-6 * t2t.max_us
    assert abs(t2t.rows[-1]["high_us"] - t2t.max_us) < 1e-6 * t2t.max_us
    linear = TraceQuery(out).tick_to_trade(buckets=10, scale="linear")
    widths = {round(b["high_us"] - b["low_us"], 6) for b in linear.rows}
    assert len(widths) == 1 and sum(b["count"] for b in linear.rows) == t2t.count
    cross = TraceQuery(CROSS).tick_to_trade()
    assert cross.count == 2 and cross.max_us == 8100.0  # fill2 via its causation id


def test_compare_two_runs_in_one_load_and_two_source_sets(demo, tmp_path):
    a, ra = _run(demo, tmp_path, "normal", "a", bars=300, seed=1)
    b, rb = _run(demo, tmp_path, "normal", "b", bars=500, seed=2)
    both = TraceQuery([a, b])
    run_a, run_b = (TraceQuery(p).runs()[0] for p in (a, b))
    for result in (both.compare(run_a, run_b), TraceQuery.compare(a, b)):
        rows = {r.event_type: r for r in result.rows if r.kind == "event_type"}
        assert rows["BAR"].count_a == 300 and rows["BAR"].count_b == 500
        assert rows["BAR"].count_change == 200
        assert rows["SIGNAL"].count_a == ra["events_by_type"]["SIGNAL"]
        assert result.trades_a.closed == sum(ra["trades"].values())
        assert result.trades_b.realized_pnl == pytest.approx(
            sum(rb["realized_pnl"].values()), abs=0.02)
        assert result.message == ""
    assert "no spans for run 'nope'" in both.compare(run_a, "nope").message


def test_results_convert_to_dict_and_arrow_when_installed(normal_run):
    out, _ = normal_run
    report = TraceQuery(out).find_bottlenecks()
    assert report.to_dict()["rows"][0]["count"] == report.rows[0].count
    frame = report.to_pandas()
    assert list(frame.columns)[:3] == ["container_id", "handler_name", "event_type"]
    pa = pytest.importorskip("pyarrow")
    assert isinstance(report.to_arrow(), pa.Table)


def test_folder_glob_and_duplicate_sources_load_each_file_once(tmp_path):
    shutil.copy(CROSS, tmp_path / "r-0001.jsonl")
    q = TraceQuery([tmp_path, str(tmp_path / "*.jsonl"), tmp_path / "r-0001.jsonl"])
    assert q.stats.files_read == 1 and q.stats.spans == 8
