"""The viewer's pages through WSGI calls (no sockets) over a demo run: what each page
shows agrees with TraceQuery, ids and filters travel in the query string, anything from
traces is escaped, and only GET and HEAD of known routes are answered."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.query import TraceQuery
from tradetrace.serve import trades_page
from tradetrace.serve.app import PLOTLY_ROUTE, App
from tradetrace.serve.data import Traces


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    import demo_engine

    folder = tmp_path_factory.mktemp("serve") / "traces"
    tradetrace.configure("normal", profile="demo", output=folder, backend="file",
                         run_id="run_serve")
    demo_engine.run_backtest(bars=600, seed=7)
    tradetrace.shutdown()
    return folder, "run_serve"


@pytest.fixture(scope="module")
def app(demo_run: tuple[Path, str]) -> App:
    return App(Traces([demo_run[0]]))


@pytest.fixture(scope="module")
def query(demo_run: tuple[Path, str]) -> TraceQuery:
    return TraceQuery(demo_run[0])


def call(app: App, path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    """``path`` (with its query string) asked of ``app``: status, headers, body."""
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        got["status"], got["headers"] = int(status.split()[0]), dict(headers)

    route, _, query_string = path.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": route, "QUERY_STRING": query_string,
               "wsgi.input": io.BytesIO(b""), "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "0"}
    body = b"".join(app(environ, start_response))
    return got["status"], got["headers"], body.decode("utf-8")


def text(html: str) -> str:
    """The page's text, tags out, spaces squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split("<main>", 1)[-1]))


def rows_of(html: str, table_id: str) -> list[str]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)


def test_the_runs_page_lists_the_run_with_its_figures(app, query, demo_run):
    status, headers, html = call(app, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    row = query.rank_runs().rows[0]
    (shown,) = rows_of(html, "runs")
    cells = text(shown)
    assert demo_run[1] in cells and "normal" in cells
    assert f"{row.trades:,}" in cells and f"{row.realized_pnl:+,.2f}" in cells
    assert 'href="/trades?run=run_serve"' in shown
    assert "Content-Security-Policy" in headers and "default-src 'self'" in headers[
        "Content-Security-Policy"]


def test_the_trades_page_filters_sorts_and_links_each_trade(app, query):
    status, _, html = call(app, "/trades?run=run_serve&outcome=loss&order=realized_pnl")
    assert status == 200
    losses = query.trades(run="run_serve", outcome="loss", events=False,
                          order="realized_pnl").rows
    rows = rows_of(html, "trades")
    assert len(rows) == len(losses) > 0
    ids = [re.search(r'href="/trade\?id=([^&"]+)', r).group(1) for r in rows]
    assert ids == [t.trade_id for t in losses]  # worst first, full ids
    assert f"{len(losses):,} trade(s)" in text(html)
    # a header links to the other direction of its sort, the filters kept
    assert 'href="/trades?run=run_serve&amp;order=-realized_pnl&amp;outcome=loss"' in html


def test_filters_the_engine_does_not_know_are_applied_here(app, query):
    every = query.trades(run="run_serve", events=False).rows
    bound = sorted(t.holding_period_s for t in every if t.holding_period_s is not None)[
        len(every) // 2]
    _, _, html = call(app, f"/trades?run=run_serve&hold_min={bound}")
    expected = [t for t in every if t.holding_period_s is not None
                and t.holding_period_s >= bound]
    assert len(rows_of(html, "trades")) == len(expected) > 0


def test_trades_are_paged_with_stable_urls(app, query, monkeypatch):
    monkeypatch.setattr(trades_page, "PAGE_SIZE", 10)
    total = query.trades(run="run_serve", events=False).total
    _, _, first = call(app, "/trades?run=run_serve")
    _, _, second = call(app, "/trades?run=run_serve&page=2")
    assert len(rows_of(first, "trades")) == 10 and f"1-10 of {total:,}" in text(first)
    assert 'href="/trades?run=run_serve&amp;page=2"' in first
    assert rows_of(first, "trades") != rows_of(second, "trades")


def test_a_trade_page_shows_its_whole_life_across_traces(app, query):
    loss = query.trades(run="run_serve", outcome="loss", events=False).rows[0]
    events = query.get_trade(loss.trade_id).trade.events
    status, _, html = call(app, f"/trade?id={loss.trade_id}&run=run_serve")
    assert status == 200
    rows = re.findall(r'<tr class="event ', html)
    kinds = re.findall(r'data-event-type="([^"]+)"', html)
    # the trade's own events, and the bar and signal that led to its order
    assert [k for k in kinds if k not in ("BAR", "SIGNAL")] == [ev.event_type for ev in events]
    assert kinds[:2] == ["BAR", "SIGNAL"] and len(rows) == len(kinds)
    assert f"{loss.realized_pnl:+,.2f}" in text(html)
    # every row's attributes, and the trade span's, are loaded when unfolded
    sources = re.findall(r'<details class="attrs"[^>]* data-src="([^"]+)"', html)
    assert len(sources) == len(kinds) + 1
    status, _, fragment = call(app, sources[-1].replace("&amp;", "&"))
    assert status == 200 and "trading.trade.outcome" in fragment and "<main>" not in fragment
    assert f"<td>{loss.outcome}</td>" in fragment
    _, _, market = call(app, f"/trade?id={loss.trade_id}&run=run_serve&time=market")
    assert "market time: the traced system" in market and loss.entry_time in market


def test_a_chain_page_walks_both_directions(app, query):
    loss = query.trades(run="run_serve", outcome="loss", events=False).rows[0]
    order = next(ev for ev in query.get_trade(loss.trade_id).trade.events
                 if ev.event_type == "ORDER")
    chain = query.get_event_chain(order.event_id)
    status, _, html = call(app, f"/chain?event={order.event_id}")
    assert status == 200
    relations = re.findall(r'data-relation="([^"]+)"', html)
    assert len(relations) == len(chain.rows) and relations.count("self") == 1
    assert f"{len(chain.ancestors)} cause(s)" in text(html)


def test_a_span_page_shows_its_attributes(app, query):
    trace_id, span_id, event_id = query.sql(
        "SELECT trace_id, span_id, event_id FROM spans WHERE event_type = 'FILL' LIMIT 1")[0]
    status, _, html = call(app, f"/span?trace={trace_id}&span={span_id}")
    assert status == 200 and conv.EVENT_ID in html and event_id in html


def test_the_latency_and_why_pages_agree_with_the_engine(app, query):
    status, _, html = call(app, "/latency")
    stages = query.find_bottlenecks(percentile=99).rows
    assert status == 200 and len(rows_of(html, "stages")) == len(stages)
    assert f'src="{PLOTLY_ROUTE}"' in html  # tick to trade, drawn by our own plotly.js
    status, _, html = call(app, "/why?run=run_serve")
    count = query.detect_patterns("signal_without_order", changed_only=True).count
    assert status == 200 and f"{count:,} signal(s) in run run_serve" in text(html)


def test_latency_and_why_of_one_run_read_that_run_alone(tmp_path):
    """Two runs of different lengths: a run's latency page counts its own bars only,
    and its stages link to its own slowest spans."""
    import demo_engine

    for run, bars in (("run_long", 400), ("run_short", 150)):
        tradetrace.configure("normal", profile="demo", output=tmp_path / run, backend="file",
                             run_id=run)
        demo_engine.run_backtest(bars=bars, seed=3)
        tradetrace.shutdown()
    app = App(Traces([tmp_path]))

    def bars_counted(html: str) -> int:
        return sum(int(re.findall(r"<td[^>]*>([\d,]+)</td>", row)[0].replace(",", ""))
                   for row in rows_of(html, "stages") if ">BAR / " in row)  # per container

    assert bars_counted(call(app, "/latency")[2]) == 550
    status, _, html = call(app, "/latency?run=run_short")
    assert status == 200 and "Run run_short" in text(html) and bars_counted(html) == 150
    slowest = re.search(r'href="(/spans\?[^"]*run=run_short[^"]*)"', html)
    assert slowest is not None
    _, _, spans = call(app, slowest[1].replace("&amp;", "&"))
    assert "of run run_short" in text(spans) and "run_long" not in text(spans)
    status, _, html = call(app, "/why?run=run_long")
    count = TraceQuery(tmp_path, run="run_long").detect_patterns(
        "signal_without_order", changed_only=True).count
    assert status == 200 and f"{count:,} signal(s) in run run_long" in text(html)


def test_compare_pairs_the_runs(app, query):
    status, _, html = call(app, "/compare?a=run_serve&b=run_serve")
    assert status == 200 and "The two runs took the same trades." in html
    # at NORMAL each event type is one stage: its own row would repeat that stage's
    stages = rows_of(html, "stages")
    assert stages and all(">stage<" in row for row in stages)
    assert len(stages) == len(query.compare("run_serve", "run_serve").distinct_rows())


@pytest.mark.parametrize("path, why", [
    ("/trade?id=trd_nope", "no trade with id 'trd_nope'"),
    ("/trades?run=run_nope", "no run 'run_nope'"),
    ("/chain?event=evt_nope", "no event with id 'evt_nope'"),
    ("/compare?a=run_serve&b=run_nope", "no run 'run_nope'"),
    ("/nothing/here", "no page at '/nothing/here'"),
    ("/../../etc/passwd", "no page at"),
    ("/static/../../../etc/passwd", "no page at"),
    ("/static/plotly.min.js/../../pyproject.toml", "no page at"),
])
def test_unknown_things_are_a_404_saying_what(app, path, why):
    status, _, html = call(app, path)
    assert status == 404 and why in text(html).replace("&#x27;", "'")


@pytest.mark.parametrize("path", ["/trades", "/trades?run=run_serve&pnl_min=lots",
                                  "/trades?run=run_serve&order=pnl; DROP TABLE x",
                                  "/trades?run=run_serve&outcome=maybe"])
def test_unusable_parameters_are_a_400(app, path):
    assert call(app, path)[0] == 400


def test_only_get_and_head_are_answered(app):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = call(app, "/", method)
        assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = call(app, "/", "HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 0


def test_plotly_is_served_from_the_installed_package(app):
    from plotly.offline import get_plotlyjs

    status, headers, body = call(app, PLOTLY_ROUTE)
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert body == get_plotlyjs() and "max-age" in headers["Cache-Control"]


def test_jaeger_links_when_configured(demo_run, query):
    app = App(Traces([demo_run[0]]), jaeger_url="http://jaeger.example:16686")
    trade = query.trades(run="run_serve", events=False).rows[0]
    _, _, html = call(app, f"/trade?id={trade.trade_id}")
    assert 'id="jaeger-search" href="http://jaeger.example:16686/search?' in html
    assert "http://jaeger.example:16686/trace/" in html and "uiFind=" in html
    _, _, plain = call(App(Traces([demo_run[0]])), f"/trade?id={trade.trade_id}")
    assert "jaeger" not in plain.lower()


# -- text from traces is text ---------------------------------------------------------

HOSTILE = '<script>alert("x")</script>'


def _hostile_file(folder: Path) -> None:
    def span(span_id: int, name: str, attributes: dict[str, str]) -> dict[str, Any]:
        return {"traceId": f"{span_id:032x}", "spanId": f"{span_id:016x}", "name": name,
                "kind": 1, "startTimeUnixNano": str(1_700_000_000_000_000_000 + span_id),
                "endTimeUnixNano": str(1_700_000_000_000_000_000 + span_id + 5000),
                "attributes": [{"key": k, "value": {"stringValue": v}}
                               for k, v in attributes.items()]}

    run = 'run_"><img src=x onerror=alert(1)>'
    spans = [
        span(1, "ORDER", {conv.EVENT_TYPE: "ORDER", conv.EVENT_ID: HOSTILE,
                          conv.TRADE_ID: HOSTILE, conv.SYMBOL: HOSTILE,
                          conv.SIM_TIME: "2024-01-02T10:00:00"}),
        span(2, "trade", {conv.TRADE_ID: HOSTILE, conv.TRADE_OUTCOME: "loss",
                          conv.SYMBOL: HOSTILE, conv.TRADE_SIDE: "LONG"}),
    ]
    request = {"resourceSpans": [{"resource": {"attributes": [
        {"key": conv.RUN_ID, "value": {"stringValue": run}}]},
        "scopeSpans": [{"spans": spans}]}]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hostile-0001.jsonl").write_text(json.dumps(request) + "\n")


def test_ids_and_attributes_from_traces_are_escaped(tmp_path):
    import urllib.parse

    _hostile_file(tmp_path / "t")
    app = App(Traces([tmp_path / "t"]))
    quoted = urllib.parse.quote(HOSTILE)
    run = urllib.parse.quote('run_"><img src=x onerror=alert(1)>')
    pages = [call(app, p) for p in ("/", f"/trades?run={run}", f"/trade?id={quoted}",
                                    f"/chain?event={quoted}",
                                    f"/span?trace={1:032x}&span={1:016x}")]
    for status, _, html in pages:
        assert status == 200, html
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html or "&lt;img" in html


def test_why_no_trade_shows_each_changed_signal_and_what_came_around_it(tmp_path):
    """Hand-made signals (tests/analyse/test_report_sections.py): long with an order
    whose fill was rejected, long again, short with no order, short again with one."""
    from analyse.test_report_sections import _spans

    line = {"resourceSpans": [{
        "resource": {"attributes": [{"key": conv.RUN_ID, "value": {"stringValue": "run1"}}]},
        "scopeSpans": [{"scope": {"name": "tradetrace"}, "spans": _spans(None)}]}]}
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "hand-0001.jsonl").write_text(json.dumps(line) + "\n")
    app = App(Traces([tmp_path / "traces"]))
    status, _, html = call(app, "/why?run=run1")
    assert status == 200
    (row,) = [text(r) for r in rows_of(html, "why")]
    assert "2024-01-02T10:10:00" in row and "long → short" in row
    assert "REJECTED" in row and "the order before was rejected" in row
    assert "SELL FILLED" in row  # the next order, and its fill
    assert call(app, "/why?run=run_other")[0] == 200


def test_why_no_trade_names_the_position_a_signal_met(tmp_path):
    """As the real ADMF-PC does: a long position opened, then a flat signal with no
    order (the position is left to its own exit), then a short signal, no order, with
    the long position closed in between (nothing held)."""
    from analyse.test_report_sections import _event, _span

    spans = [
        _span(1, 1, "SIGNAL", 0, _event("SIGNAL", "10:00", **{conv.DIRECTION: 1})),
        _span(1, 2, "ORDER", 1, _event("ORDER", "10:00", **{conv.ORDER_ID: "o1",
                                                          conv.SIDE: "BUY"}), 1),
        _span(1, 3, "POSITION_OPEN", 2, _event("POSITION_OPEN", "10:00",
                                               **{conv.QUANTITY: 1.0})),
        _span(2, 4, "SIGNAL", 60, _event("SIGNAL", "10:05", **{conv.DIRECTION: 0})),
        _span(3, 5, "POSITION_CLOSE", 90, _event("POSITION_CLOSE", "10:07",
                                                 **{conv.QUANTITY: 1.0})),
        _span(4, 6, "SIGNAL", 120, _event("SIGNAL", "10:10", **{conv.DIRECTION: 0})),
        _span(5, 7, "SIGNAL", 180, _event("SIGNAL", "10:15", **{conv.DIRECTION: -1})),
    ]
    line = {"resourceSpans": [{
        "resource": {"attributes": [{"key": conv.RUN_ID, "value": {"stringValue": "run1"}}]},
        "scopeSpans": [{"scope": {"name": "tradetrace"}, "spans": spans}]}]}
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "held-0001.jsonl").write_text(json.dumps(line) + "\n")
    status, _, html = call(App(Traces([tmp_path / "traces"])), "/why?run=run1")
    rows = {r.split(" ")[0]: r for r in (text(x).strip() for x in rows_of(html, "why"))}
    assert status == 200 and set(rows) == {"2024-01-02T10:05:00", "2024-01-02T10:15:00"}
    flat = rows["2024-01-02T10:05:00"]
    assert "long → flat" in flat and "LONG since 2024-01-02T10:00:00" in flat
    assert "a LONG position (opened 2024-01-02T10:00:00) was held" in flat
    short = rows["2024-01-02T10:15:00"]
    assert "flat → short" in short and "none (LONG closed 2024-01-02T10:07:00)" in short


def test_a_part_the_engine_cannot_answer_is_said_and_the_rest_shown(demo_run):
    import duckdb

    class OutOfMemory(TraceQuery):
        def tick_to_trade(self, buckets: int = 20, scale: str = "log") -> Any:
            raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")

        def detect_patterns(self, pattern_type: str, **kwargs: Any) -> Any:
            if pattern_type == "signal_without_order":
                raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin")
            return super().detect_patterns(pattern_type, **kwargs)

        def get_trade(self, trade_id: str, run: str | None = None) -> Any:
            raise duckdb.IOException("IO Error: No space left on device")

    app = App(Traces([demo_run[0]], factory=OutOfMemory))
    status, _, html = call(app, "/latency")
    assert status == 200
    assert "the query engine (DuckDB) failed: Out of Memory Error" in html
    assert "--memory-limit" in html and rows_of(html, "stages") and 'id="spikes"' in html
    status, _, html = call(app, "/why")
    assert status == 200 and "the query engine (DuckDB) failed: Out of Memory" in html
    status, _, html = call(app, "/trade?id=x")  # a page with one question: a 500 saying why
    assert status == 500 and "the query engine (DuckDB) failed: IO Error: No space" in html
