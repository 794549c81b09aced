"""What the real ADMF-PC does that matters to tracing, pinned on the faithful fake.

Each test runs the fake (tests/fake_admf, README there says where in ADMF-PC each behaviour
comes from) under tradetrace and compares the spans with the fake's own record of what
happened: its portfolios' closed positions and P&L, the signals it published and those
its portfolios ordered on. Nothing here is a number written by hand.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans
from tradetrace.analyse.summary import summarize
from tradetrace.query import TraceQuery
from tradetrace.testing import recording, spans_by_trade

RISK = {"stop_loss": 0.00075, "take_profit": 0.001}
#: A parameter grid: four strategies, one portfolio each, every fill seen by every portfolio
GRID = {"strategies": [{"period": p, "std_dev": s, "risk": RISK}
                       for p in (10, 20) for s in (1.5, 2.0)]}
#: Two strategies managed by one portfolio: either may close what the other opened
SHARED = {
    "strategies": [{"period": 10, "std_dev": 1.5, "risk": RISK},
                   {"period": 20, "std_dev": 2.0, "risk": RISK}],
    "portfolios": [{"name": "portfolio_shared",
                    "strategies": ["bollinger_bands_10_15", "bollinger_bands_20_20"]}],
}
RISK_EXITS = ("stop_loss", "take_profit")
DIRECTIONS = {"long", "short", "flat"}


def _run(admf, config: dict[str, Any] | None = None, level: str = "normal",
         bars: int = 400, **tracing: Any) -> tuple[dict, list, dict]:
    with recording(level, profile="admf", **tracing) as spans:
        results = admf.coordinator().run_topology(
            "universal", {"bars": bars, "seed": 1, **(config or {})})
        exported = spans.spans()
        anomalies = spans.session.stats()["retention"]["anomalies"]
    return results, exported, anomalies


def _events(spans: list) -> list:
    return [s for s in spans if conv.EVENT_TYPE in s.attributes
            and conv.HANDLER_NAME not in s.attributes]


def _kinds(spans: list) -> Counter:
    return Counter(s.attributes[conv.EVENT_TYPE] for s in _events(spans))


def _closed_trades(exported: list) -> tuple[dict[str, list], list]:
    events, trades = spans_by_trade(exported)
    closed = [t for t in trades.values() if t.attributes[conv.TRADE_OUTCOME] != "incomplete"]
    return events, closed


def _position_key(container: str, opened: Any, closed: Any) -> tuple[str, str, str]:
    """A closed position: its portfolio and its bar times (both ISO text)."""
    as_text = [t if isinstance(t, str) else t.isoformat() for t in (opened, closed)]
    return container, as_text[0], as_text[1]


def _trade_key(trade) -> tuple[str, str, str]:
    a = trade.attributes
    return _position_key(a[conv.CONTAINER_ID], a[conv.TRADE_ENTRY_TIME], a[conv.TRADE_EXIT_TIME])


def _positions(results: dict) -> dict[tuple[str, str, str], dict]:
    return {_position_key(p["portfolio"], p["opened_at"], p["closed_at"]): p
            for p in results["closed_positions"]}


def _base(strategy_id: str) -> str:
    return strategy_id.removesuffix("_exit")


# -- exits --------------------------------------------------------------------------------


def test_risk_exit_orders_join_the_trade_of_the_position_they_close(admf):
    """ADMF-PC's stop-loss and take-profit exits are ORDERs from `<strategy>_exit`: each
    joins the trade of the position it closes. One complete trade per closed position,
    each with its entry and exit order and fill, its open and close; no trade of orders
    alone."""
    results, exported, anomalies = _run(admf)
    positions = results["closed_positions"]
    risk_exits = [p for p in positions if p["exit_type"] in RISK_EXITS]
    assert risk_exits and len(risk_exits) < len(positions)  # signal exits as well
    events, closed = _closed_trades(exported)
    assert len(closed) == len(positions)
    for trade in closed:
        members = _events(events[trade.attributes[conv.TRADE_ID]])
        assert _kinds(members) == {"ORDER": 2, "FILL": 2, "POSITION_OPEN": 1,
                                   "POSITION_CLOSE": 1}
        strategies = {s.attributes[conv.STRATEGY_ID] for s in members
                      if s.attributes[conv.EVENT_TYPE] == "ORDER"}
        opener = trade.attributes[conv.STRATEGY_ID]
        if trade.attributes[conv.TRADE_EXIT_TYPE] in RISK_EXITS:
            assert strategies == {opener, f"{opener}_exit"}
        else:
            assert strategies == {opener}
    assert sum(t.attributes[conv.TRADE_EXIT_TYPE] in RISK_EXITS for t in closed) == len(
        risk_exits)
    every_trade = {s.attributes[conv.TRADE_ID] for s in _events(exported)
                   if conv.TRADE_ID in s.attributes}
    with_open = {s.attributes[conv.TRADE_ID] for s in _events(exported)
                 if s.attributes[conv.EVENT_TYPE] == "POSITION_OPEN"}
    assert every_trade == with_open  # no phantom trade
    assert anomalies == {}


def test_results_equal_the_trade_spans(admf):
    """The portfolio's own closed positions and realised P&L are the trade spans': same
    count, same P&L for each, same sum."""
    results, exported, _ = _run(admf)
    _, closed = _closed_trades(exported)
    expected = {k: p["realized_pnl"] for k, p in _positions(results).items()}
    traced = {_trade_key(t): t.attributes[conv.TRADE_PNL] for t in closed}
    assert len(traced) == len(closed) == len(expected) > 0
    assert traced == pytest.approx(expected)
    (portfolio,) = results["portfolios"].values()
    assert sum(traced.values()) == pytest.approx(portfolio["realized_pnl"])


def test_a_flip_completes_one_trade_and_starts_the_next(admf):
    """A fill larger than the position closes it and opens the other way (ADMF-PC
    publishes POSITION_CLOSE then POSITION_OPEN, the new position's strategy unknown):
    two trades, each with its own open and close."""
    from src.core.coordinator.topology import TopologyBuilder
    from src.core.events.types import Event
    from src.execution.types import Order, OrderSide, OrderType

    start = datetime(2024, 1, 2, 14, 0, tzinfo=timezone.utc)
    with recording("normal", profile="admf") as spans:
        topology = TopologyBuilder().build_topology({"config": {"bars": 0}})
        (portfolio,) = topology["portfolios"].values()
        for minutes, side, quantity, price in ((0, OrderSide.BUY, 1, "470.10"),
                                               (5, OrderSide.SELL, 2, "470.60"),
                                               (10, OrderSide.BUY, 1, "470.30")):
            when = start.replace(minute=minutes)
            order = Order(f"ORD_{minutes}", "SPY_5m", side, OrderType.MARKET,
                          Decimal(quantity), Decimal(price), when,
                          metadata={"strategy_id": "SPY_5m_strategy_0",
                                    "bar_timestamp": when.isoformat()})
            portfolio.publish_event(Event("ORDER", order.to_dict(), source_id="portfolio",
                                          container_id=portfolio.container_id, timestamp=when))
        exported = spans.spans()
        anomalies = spans.session.stats()["retention"]["anomalies"]
    state = portfolio.get_component("portfolio_state")
    assert [p["strategy_id"] for p in state.closed_positions] == ["SPY_5m_strategy_0", "unknown"]
    events, closed = _closed_trades(exported)
    assert len(closed) == 2
    for trade in closed:
        kinds = _kinds(events[trade.attributes[conv.TRADE_ID]])
        assert (kinds["POSITION_OPEN"], kinds["POSITION_CLOSE"]) == (1, 1)
    assert sorted(t.attributes[conv.TRADE_PNL] for t in closed) == pytest.approx(
        sorted(p["realized_pnl"] for p in state.closed_positions))
    assert anomalies == {}


# -- signals --------------------------------------------------------------------------------


def test_string_directions_reach_the_spans_and_the_why_not_query(admf, tmp_path):
    """ADMF-PC's directions are the strings long/short/flat. They are the spans'
    `trading.signal.direction`, and "why didn't it trade" answers with them: every signal
    no order followed, and with changed_only those whose direction differs from the
    strategy's signal before (the fake's own record says which signals it ordered on)."""
    out = tmp_path / "run"
    tradetrace.configure("normal", profile="admf", output=out, backend="file")
    results = admf.coordinator().run_topology("universal", {"bars": 400, "seed": 1})
    tradetrace.shutdown()
    published = {event_id: direction for event_id, _, direction in results["signals"]}
    traced = {s.attributes[conv.EVENT_ID]: s.attributes[conv.DIRECTION]
              for s in read_spans([out]) if s.attributes.get(conv.EVENT_TYPE) == "SIGNAL"}
    assert traced == published and set(traced.values()) == DIRECTIONS

    ordered = results["signals_with_orders"]
    previous: dict[str, str] = {}
    changed: dict[str, str | None] = {}
    for event_id, strategy, direction in results["signals"]:
        before = previous.get(strategy)
        previous[strategy] = direction
        if event_id not in ordered and before != direction:
            changed[event_id] = before
    q = TraceQuery(out)
    every = q.detect_patterns("signal_without_order", limit=None)
    assert every.count == len(published) - len(ordered)
    found = q.detect_patterns("signal_without_order", changed_only=True, limit=None)
    assert changed and found.count == len(changed)
    assert {r["event_id"]: r["previous_direction"] for r in found.rows} == changed
    assert {r["direction"] for r in found.rows} <= DIRECTIONS


def test_minimal_answers_why_not_from_its_metrics(admf, tmp_path):
    """At MINIMAL no signal is a span; the trading.signals metric still says how many
    signals changed direction without an order, by direction, as the fake recorded."""
    out = tmp_path / "run"
    tradetrace.configure("minimal", profile="admf", output=out, backend="file")
    results = admf.coordinator().run_topology("universal", {"bars": 400, "seed": 1})
    tradetrace.shutdown()
    ordered = results["signals_with_orders"]
    previous: dict[str, str] = {}
    unanswered: Counter[str] = Counter()
    for event_id, strategy, direction in results["signals"]:
        before = previous.get(strategy)
        previous[strategy] = direction
        if event_id not in ordered and before != direction:
            unanswered[direction] += 1
    summary = summarize([out])
    assert "SIGNAL" not in summary.events_by_type
    signals = summary.metrics.signals
    assert signals["total"] == len(results["signals"])
    assert unanswered and signals["unanswered_by_direction"] == dict(unanswered)


# -- times and payloads -------------------------------------------------------------------


def test_fills_carry_the_wall_clock_and_trades_the_bar_times(admf):
    """FILL events are stamped with datetime.now(); every other event with its bar's time.
    A trade's entry and exit times are the bar times its position opened and closed at."""
    from src.data.handlers import generate_bars

    bar_times = {b.timestamp.isoformat() for b in generate_bars("SPY_5m", 400, 1)}
    before = datetime.now()
    results, exported, _ = _run(admf)
    after = datetime.now()
    events = _events(exported)
    fills = [s for s in events if s.attributes[conv.EVENT_TYPE] == "FILL"]
    assert fills
    for fill in fills:
        assert before <= datetime.fromisoformat(fill.attributes[conv.SIM_TIME]) <= after
    others = {s.attributes[conv.SIM_TIME] for s in events if s not in fills}
    assert others <= bar_times
    _, closed = _closed_trades(exported)
    assert {_trade_key(t) for t in closed} == set(_positions(results))
    for trade in closed:
        _, entry, exit_ = _trade_key(trade)
        assert {entry, exit_} <= bar_times
        held = datetime.fromisoformat(exit_) - datetime.fromisoformat(entry)
        assert trade.attributes[conv.TRADE_HOLDING] == held.total_seconds()


def test_nested_metadata_is_flattened_into_attributes(admf):
    """SIGNAL, ORDER, FILL and POSITION_* payloads nest `metadata` (parameters, risk rules,
    strategy id, exit type) two and three levels deep; DEBUG gives one attribute per leaf
    (down to three levels), and the strategy id of ORDER and FILL comes from
    `metadata.strategy_id`."""
    results, exported, _ = _run(admf, level="debug", bars=300)
    payload = conv.PAYLOAD_PREFIX
    by_kind: dict[str, list] = {}
    for span in _events(exported):
        by_kind.setdefault(span.attributes[conv.EVENT_TYPE], []).append(span.attributes)
        assert all(not isinstance(v, dict) for v in span.attributes.values())
    for signal in by_kind["SIGNAL"]:
        assert signal[payload + "metadata.parameters.period"] == 10
        assert signal[payload + "parameters._risk.stop_loss"] == RISK["stop_loss"]
        assert signal[payload + "metadata.risk.take_profit"] == RISK["take_profit"]
        assert signal[payload + "metadata.upper_band"] >= signal[payload + "metadata.lower_band"]
    for kind in ("ORDER", "FILL"):
        for span in by_kind[kind]:
            assert span[conv.STRATEGY_ID] == span[payload + "metadata.strategy_id"]
            risk_exit = span.get(payload + "metadata.exit_type") in RISK_EXITS
            assert risk_exit == span[conv.STRATEGY_ID].endswith("_exit")
    closes = by_kind["POSITION_CLOSE"]
    assert [c[payload + "metadata.exit_type"] for c in closes] == [
        p["exit_type"] for p in results["closed_positions"]]
    assert all(c[payload + "metadata.exit_type"] == c[conv.EXIT_TYPE] for c in closes)


# -- several strategies and portfolios -------------------------------------------------


@pytest.mark.parametrize("fill_filter", ["all", "owner"])
def test_several_portfolios_never_merge(admf, fill_filter):
    """A parameter grid: four strategies, one portfolio each. With ADMF-PC's permissive
    fill filter every portfolio applies every fill (its positions mirror the others');
    with `owner` only the ordering portfolio does. Either way each portfolio's closed
    position is one trade of that portfolio, every order belongs to one trade of its own
    portfolio, and a fill joins its own order's trade even where two portfolios used the
    same order id."""
    results, exported, anomalies = _run(admf, {**GRID, "fill_filter": fill_filter}, bars=300)
    events, closed = _closed_trades(exported)
    by_span = {s.context.span_id: s for s in exported}
    per_portfolio = Counter(t.attributes[conv.CONTAINER_ID] for t in closed)
    assert per_portfolio == {p["container_id"]: len(p["closed_positions"])
                             for p in results["portfolios"].values()}
    traced = {_trade_key(t): t.attributes[conv.TRADE_PNL] for t in closed}
    assert traced == pytest.approx({k: p["realized_pnl"]
                                    for k, p in _positions(results).items()})
    for trade in closed:
        members = _events(events[trade.attributes[conv.TRADE_ID]])
        containers = {s.attributes[conv.CONTAINER_ID] for s in members
                      if s.attributes[conv.EVENT_TYPE] != "FILL"}
        assert containers == {trade.attributes[conv.CONTAINER_ID]}
        assert _kinds(members)["POSITION_CLOSE"] == 1
        # the fills that moved the position link from the trade span, whichever trade
        # (portfolio) they belong to: a position moved by another's fill shows it
        linked = {link.context.span_id for link in trade.links}
        moved_by = {by_span[s.parent.span_id].context.span_id for s in members
                    if s.attributes[conv.EVENT_TYPE].startswith("POSITION_")}
        assert moved_by <= linked
    orders = [s for s in _events(exported) if s.attributes[conv.EVENT_TYPE] == "ORDER"]
    assert all(conv.TRADE_ID in o.attributes for o in orders)
    ids = Counter(o.attributes[conv.ORDER_ID] for o in orders)
    assert max(ids.values()) > 1  # ADMF-PC numbers orders per portfolio
    for fill in (s for s in _events(exported) if s.attributes[conv.EVENT_TYPE] == "FILL"):
        order = by_span[fill.parent.span_id]
        assert fill.attributes[conv.TRADE_ID] == order.attributes[conv.TRADE_ID]
    assert anomalies == {}


def test_another_strategys_order_joins_the_position_it_acts_on(admf):
    """Two strategies in one portfolio: positions are keyed by symbol, so one strategy's
    order often closes what the other opened. That order joins the position's trade."""
    results, exported, anomalies = _run(admf, SHARED)
    positions = results["closed_positions"]
    crossed = [p for p in positions if _base(p["closed_by"]) != p["strategy_id"]]
    assert crossed
    events, closed = _closed_trades(exported)
    assert len(closed) == len(positions)
    mixed = 0
    for trade in closed:
        members = _events(events[trade.attributes[conv.TRADE_ID]])
        kinds = _kinds(members)
        assert (kinds["POSITION_OPEN"], kinds["POSITION_CLOSE"]) == (1, 1)
        assert kinds["ORDER"] == kinds["FILL"] == trade.attributes[conv.TRADE_ORDERS] >= 2
        strategies = {_base(s.attributes[conv.STRATEGY_ID]) for s in members
                      if s.attributes[conv.EVENT_TYPE] == "ORDER"}
        mixed += len(strategies) > 1
    assert mixed == len(crossed)
    assert anomalies == {}


# -- retention and types ------------------------------------------------------------------


@pytest.mark.parametrize("config", [{}, GRID], ids=["one strategy", "grid"])
def test_minimal_keep_if_keeps_exactly_the_matching_trades_complete(admf, config):
    """At MINIMAL with keep_if, the losing trades (and only they) are exported, each with
    all of its orders, fills, open and close (a grid's mirrored positions have none of
    their own orders)."""
    retention = {"policy": "keep_if", "keep_if": {"pnl_below": 0}, "incomplete": "drop"}
    results, exported, _ = _run(admf, config, level="minimal", bars=300, retention=retention)
    losers = {k for k, p in _positions(results).items() if p["realized_pnl"] < 0}
    events, trades = spans_by_trade(exported)
    assert losers and {_trade_key(t) for t in trades.values()} == losers
    assert len(trades) == len(losers)
    for trade_id, trade in trades.items():
        kinds = _kinds(events[trade_id])
        assert (kinds["POSITION_OPEN"], kinds["POSITION_CLOSE"]) == (1, 1)
        assert kinds["ORDER"] == trade.attributes[conv.TRADE_ORDERS]
        assert kinds["FILL"] == trade.attributes[conv.TRADE_FILLS] == kinds["ORDER"]
        assert kinds["ORDER"] == 2 or config
    assert all(s.attributes.get(conv.TRADE_ID) in trades for s in _events(exported))


def test_numeric_trading_attributes_are_numbers(admf):
    """ADMF-PC's ORDER and FILL payloads hold quantity and price as Decimal text ("1",
    "470.12"); the trading.* attributes are numbers, equal to that text, and so are the
    trade span's counts."""
    _, exported, _ = _run(admf, level="debug", bars=300)
    checked = 0
    for span in _events(exported):
        if span.attributes[conv.EVENT_TYPE] in ("ORDER", "FILL"):
            for name, key in ((conv.QUANTITY, "quantity"), (conv.PRICE, "price")):
                value = span.attributes[name]
                assert isinstance(value, int | float) and not isinstance(value, bool)
                assert value == float(span.attributes[conv.PAYLOAD_PREFIX + key])
                checked += 1
    assert checked
    _, closed = _closed_trades(exported)
    for trade in closed:
        for name in (conv.TRADE_ORDERS, conv.TRADE_FILLS, conv.TRADE_SPANS):
            assert type(trade.attributes[name]) is int
        assert isinstance(trade.attributes[conv.TRADE_PNL], float)
