"""The report's sections over hand-made traces, one test per thing users could not read:
the first screen (headline numbers and per-stage time before any plot), per-trade P&L
in its own panel with its own zero, the timeline coloured by P&L sign with long and
short apart, the rejected orders' reason column, and why-no-trade limited to changed
directions. The figures are read back from the page's plotly JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tradetrace import conventions as conv
from tradetrace.analyse.report import write_report
from tradetrace.analyse.report_figures import LOSS, WIN
from tradetrace.analyse.report_glance import Glance, glance_html, max_drawdown
from tradetrace.query import TraceQuery

T0 = 1_700_000_000_000_000_000


def _value(v: object) -> dict[str, object]:
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    return {"stringValue": str(v)}


def _span(trace: int, span: int, name: str, at_s: int, attributes: dict[str, object],
          parent: int | None = None) -> dict[str, object]:
    start = T0 + at_s * 1_000_000_000
    out: dict[str, object] = {
        "traceId": f"{trace:032x}", "spanId": f"{span:016x}", "name": name, "kind": 1,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 40_000),
        "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items()]}
    if parent is not None:
        out["parentSpanId"] = f"{parent:016x}"
    return out


def _event(event_type: str, sim: str, **attributes: object) -> dict[str, object]:
    return {conv.EVENT_TYPE: event_type, conv.SIM_TIME: f"2024-01-02T{sim}:00",
            conv.CONTAINER_ID: event_type.lower(), conv.SYMBOL: "SPY",
            conv.STRATEGY_ID: "ma", **attributes}


def _trade(trade_id: str, strategy: str, side: str, outcome: str, pnl: float, entry: str,
           exit_: str) -> dict[str, object]:
    return {conv.TRADE_ID: trade_id, conv.SYMBOL: "SPY", conv.STRATEGY_ID: strategy,
            conv.TRADE_SIDE: side, conv.TRADE_OUTCOME: outcome, conv.TRADE_PNL: pnl,
            conv.TRADE_ENTRY_TIME: f"2024-01-02T{entry}:00",
            conv.TRADE_EXIT_TIME: f"2024-01-02T{exit_}:00"}


#: trade id -> P&L; t3 is labelled "rejected" (its exit was) but lost money
PNL = {"t1": 50.0, "t2": -20.0, "t3": -5.0, "t4": 10.0}


def _spans(reason: str | None) -> list[dict[str, object]]:
    fill1 = _event("FILL", "10:00", **{conv.ORDER_ID: "ord1", conv.STATUS: "REJECTED"})
    if reason is not None:
        fill1[conv.PAYLOAD_PREFIX + "reason"] = reason
    return [
        # a BAR, its signal (long) and the order it led to, rejected
        _span(1, 1, "BAR", 0, _event("BAR", "10:00")),
        _span(1, 2, "SIGNAL", 1, _event("SIGNAL", "10:00", **{conv.DIRECTION: 1}), 1),
        _span(1, 3, "ORDER", 2, _event("ORDER", "10:00", **{conv.ORDER_ID: "ord1",
                                                            conv.SIDE: "BUY"}), 2),
        _span(1, 4, "FILL", 3, fill1, 3),
        # long again: no order wanted, not a "why no trade"
        _span(2, 5, "SIGNAL", 60, _event("SIGNAL", "10:05", **{conv.DIRECTION: 1})),
        # short: the direction changed and no order followed
        _span(3, 6, "SIGNAL", 120, _event("SIGNAL", "10:10", **{conv.DIRECTION: -1})),
        # short again, and now an order, filled: what happened next
        _span(4, 7, "SIGNAL", 180, _event("SIGNAL", "10:15", **{conv.DIRECTION: -1})),
        _span(4, 8, "ORDER", 181, _event("ORDER", "10:15", **{conv.ORDER_ID: "ord2",
                                                              conv.SIDE: "SELL"}), 7),
        _span(4, 9, "FILL", 182, _event("FILL", "10:15", **{conv.ORDER_ID: "ord2",
                                                            conv.STATUS: "FILLED"}), 8),
        # trades: a long winner held two hours, a short loser of five minutes, a trade
        # whose exit was rejected at a loss, and another strategy's exit at the same time
        _span(5, 10, conv.TRADE_SPAN_NAME, 300,
              _trade("t1", "ma", "LONG", "win", PNL["t1"], "10:00", "12:00")),
        _span(6, 11, conv.TRADE_SPAN_NAME, 301,
              _trade("t2", "ma", "SHORT", "loss", PNL["t2"], "12:00", "12:05")),
        _span(7, 12, conv.TRADE_SPAN_NAME, 302,
              _trade("t3", "ma", "LONG", "rejected", PNL["t3"], "12:10", "12:20")),
        _span(8, 13, conv.TRADE_SPAN_NAME, 303,
              _trade("t4", "mb", "SHORT", "win", PNL["t4"], "11:00", "12:00")),
    ]


def _page(tmp_path, reason: str | None = None) -> str:
    line = {"resourceSpans": [{
        "resource": {"attributes": [{"key": conv.RUN_ID, "value": {"stringValue": "run1"}}]},
        "scopeSpans": [{"scope": {"name": "tradetrace"}, "spans": _spans(reason)}]}]}
    (tmp_path / "traces").mkdir(parents=True)
    (tmp_path / "traces" / "hand-0001.jsonl").write_text(json.dumps(line) + "\n")
    return write_report(TraceQuery(tmp_path / "traces"), tmp_path / "report.html").read_text()


@pytest.fixture
def page(tmp_path) -> str:
    return _page(tmp_path)


def _figure(page: str, div_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The data and layout plotly draws in ``div_id``."""
    found = re.search(r'Plotly\.newPlot\(\s*"' + div_id + r'",\s*', page)
    assert found, div_id
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(page, found.end())
    layout, _ = decoder.raw_decode(page, page.index("{", end))
    return data, layout


def _section(page: str, heading: str) -> str:
    start = page.index(f"<h3>{heading}")
    ends = [i for i in (page.find("<h3>", start + 4), page.find("</section>", start)) if i >= 0]
    return page[start:min(ends)]


# -- the first screen ---------------------------------------------------------------------


def test_first_screen_says_how_the_run_went_and_where_time_went(page):
    first_plot = page.index('class="plotly-graph-div"')
    assert page.index('id="glance"') < page.index('id="stages"') < first_plot

    def card(name: str) -> str:
        found = re.search(f'id="glance-{name}"[^>]*><b>([^<]*)</b>', page)
        assert found, name
        return found.group(1)

    # exits in order: t1 +50 and t4 +10 at 12:00, t2 -20, t3 -5: 50, 60, 40, 35
    assert card("trades") == "4"
    assert card("win-rate") == "50%"
    assert card("pnl") == "+35.00"
    assert card("drawdown") == "25.00"
    assert card("bars") == "1"
    assert card("spans") == "13"
    assert card("dropped") == "n/a (no metrics)"  # no metrics file beside the traces
    stages = page[page.index('id="stages"'):first_plot]
    for stage in ("BAR / bar", "SIGNAL / signal", "ORDER / order", "FILL / fill"):
        assert f"<td>{stage}</td>" in stages


def test_first_screen_says_when_the_trades_are_fewer_than_the_run_made():
    kept = Glance(trades=4, wins=2, losses=2, pnl=35.0, max_drawdown=25.0, bars=1, spans=13,
                  dropped=0, closed_in_run=10)
    assert "trades closed and kept, of 10</span>" in glance_html(kept)
    every = Glance(**{**vars(kept), "closed_in_run": 4})
    assert "<span>trades closed</span>" in glance_html(every)


def test_max_drawdown_is_the_deepest_fall_from_a_peak():
    assert max_drawdown([5, -3, 4, -8, 1]) == 8
    assert max_drawdown([-2, -3]) == 5  # from the start, before any gain
    assert max_drawdown([1, 2]) == 0


# -- P&L ----------------------------------------------------------------------------------


def test_pnl_per_trade_has_its_own_panel_with_zero_in_both(page):
    data, layout = _figure(page, "plot-pnl")
    (bars,) = [t for t in data if t["type"] == "bar"]
    (line,) = [t for t in data if t["type"] == "scatter"]
    assert bars["y"] == [PNL["t1"], PNL["t4"], PNL["t2"], PNL["t3"]]
    bar_axis = layout["yaxis" + bars.get("yaxis", "y")[1:]]
    line_axis = layout["yaxis" + line.get("yaxis", "y")[1:]]
    assert bar_axis is not line_axis and "overlaying" not in bar_axis
    low, high = sorted([bar_axis["domain"], line_axis["domain"]])
    assert low[1] <= high[0]  # one above the other, not drawn over each other
    for axis in (bar_axis, line_axis):
        assert axis["rangemode"] == "tozero" and axis["zeroline"] is True
    # two exits at 12:00 would make plotly's default bar width 0: each bar gets the
    # time from the first exit to the last over the number of trades (20 min / 4)
    assert bars["width"] == pytest.approx(20 * 60 * 1000 / 4)


# -- the timeline -------------------------------------------------------------------------


def test_timeline_colours_trades_by_pnl_sign_with_long_and_short_apart(page):
    data, _ = _figure(page, "plot-trades")
    colour: dict[str, str] = {}
    row: dict[str, str] = {}
    for trace in data:
        for custom, label in zip(trace["customdata"], trace["y"]):
            colour[custom[3]] = trace["marker"]["color"]
            row[custom[3]] = label
    assert colour == {t: WIN if p > 0 else LOSS for t, p in PNL.items()}
    assert row["t1"] == "SPY · ma · long" and row["t2"] == "SPY · ma · short"
    assert row["t4"] == "SPY · mb · short"
    # losses drawn after (over) wins; the legend counts each
    names = [t["name"] for t in data]
    assert names.index("loss (P&L < 0): 2") > names.index("win (P&L > 0): 2")
    # the five-minute loser is at least 1/600 of the span wide, as visible as a winner
    (losses,) = [t for t in data if t["marker"]["color"] == LOSS]
    assert min(losses["x"]) >= 140 * 60 * 1000 / 600


# -- what went wrong ----------------------------------------------------------------------


def test_rejected_orders_show_a_reason_only_when_one_was_recorded(tmp_path, page):
    table = _section(page, "Rejected orders")
    assert "ord1" in table and "REJECTED" in table
    assert "<th>reason</th>" not in table  # no span has one at this level
    assert "trading.payload.reason" in table  # where it would be, said
    with_reason = _page(tmp_path / "debug", reason="quantity 98 over the liquidity limit")
    table = _section(with_reason, "Rejected orders")
    assert "<th>reason</th>" in table
    assert "<td>quantity 98 over the liquidity limit</td>" in table


def test_why_no_trade_lists_only_changed_directions_and_what_came_around(page):
    table = _section(page, "Why no trade")
    assert table.startswith("<h3>Why no trade: direction changed, no order (1)</h3>")
    rows = re.findall(r"<tr><td>.*?</tr>", table)
    assert len(rows) == 1
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0])
    assert cells == ["2024-01-02T10:10:00", "ma", "SPY", "long → short",
                     "2024-01-02T10:00:00 BUY REJECTED", "2024-01-02T10:15:00 SELL FILLED",
                     "none"]  # no position: the order that was to open it was rejected
    assert "10:05:00" not in table  # long after long: nothing to do, not listed
