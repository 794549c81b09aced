"""A trade is a position's life: the rule that maps orders, fills and exits to trades.

Driven through the TradeTracker with records shaped as the export worker sees them, so
each case states exactly which events arrive in which order, as ADMF-PC publishes them:
a risk exit's order names ``<strategy>_exit``, a fill is published inside its order's
dispatch and the position events inside the fill's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from tradetrace.config import DEFAULT_RETENTION
from tradetrace.errors import ConfigError
from tradetrace.model.record import EVENT, TRADE
from tradetrace.retain.trades import NO_TRADE, TrackedTrade, TradeRules, TradeTracker


@dataclass(frozen=True)
class _Route:
    container: str
    event_type: str


class Desk:
    """Publishes records into a tracker in publish order, as the worker would."""

    def __init__(self, rules: TradeRules | None = None) -> None:
        self.completed: list[TrackedTrade] = []
        self.tracker = TradeTracker(rules or TradeRules(), self.completed.append)
        self.clock = 0

    def event(self, event_type: str, container: str, payload: dict[str, Any],
              parent: list[Any] | None = None) -> list[Any]:
        self.clock += 1_000
        subject = (None, None, payload.get("timestamp"), None, None, None)
        record = [EVENT, _Route(container, event_type), subject, payload, parent,
                  self.clock, self.clock + 10, None, None, None]
        trade = self.tracker.assign(record, self.tracker.rules.role(event_type), None)
        record[TRADE] = trade if trade is not None else NO_TRADE
        return record

    def order(self, container: str, order_id: str, strategy: str, side: str,
              symbol: str = "SPY", **extra: Any) -> list[Any]:
        """ADMF-PC's ORDER: Order.to_dict(), numbers as strings, strategy in metadata."""
        payload = {"order_id": order_id, "symbol": symbol, "side": side, "quantity": "1",
                   "price": "100.0", "status": "pending",
                   "metadata": {"strategy_id": strategy, **extra}}
        return self.event("ORDER", container, payload)

    def fill(self, order: list[Any], price: float = 100.0) -> list[Any]:
        snap = order[3]
        payload = {"order_id": snap["order_id"], "symbol": snap["symbol"], "side": snap["side"],
                   "quantity": snap["quantity"], "price": str(price), "status": "filled",
                   "metadata": dict(snap["metadata"])}
        return self.event("FILL", "execution_1", payload, parent=order)

    def position(self, kind: str, container: str, fill: list[Any], symbol: str = "SPY",
                 strategy: str = "unknown", **payload: Any) -> list[Any]:
        return self.event(f"POSITION_{kind}", container,
                          {"symbol": symbol, "strategy_id": strategy, "quantity": 1.0,
                           **payload}, parent=fill)

    def round_trip_open(self, container: str, order_id: str, strategy: str,
                        symbol: str = "SPY") -> list[Any]:
        fill = self.fill(self.order(container, order_id, strategy, "buy", symbol))
        return self.position("OPEN", container, fill, symbol, strategy, entry_price=100.0)


def _trade(record: list[Any]) -> TrackedTrade:
    trade = record[TRADE]
    assert isinstance(trade, TrackedTrade), f"{record[1].event_type} is in no trade"
    return trade


def test_a_risk_exit_order_joins_the_trade_of_the_position_it_closes():
    """ADMF-PC's stop-loss sends its ORDER as strategy ``s0_exit``: it closes s0's position,
    so it is part of s0's trade, not a trade of its own."""
    desk = Desk()
    opened = desk.round_trip_open("portfolio_a", "O1", "s0")
    exit_order = desk.order("portfolio_a", "O2", "s0_exit", "sell", exit_type="stop_loss")
    exit_fill = desk.fill(exit_order, price=99.0)
    close = desk.position("CLOSE", "portfolio_a", exit_fill, strategy="s0", entry_price=100.0,
                          exit_price=99.0, realized_pnl=-1.0, exit_type="stop_loss")
    trade = _trade(opened)
    assert {id(_trade(r)) for r in (exit_order, exit_fill, close)} == {id(trade)}
    assert desk.completed == [trade]
    assert (trade.orders, trade.fills, trade.outcome, trade.pnl) == (2, 2, "loss", -1.0)
    assert (trade.strategy, trade.symbol, trade.exit_type) == ("s0", "SPY", "stop_loss")
    assert desk.tracker.stats.anomalies == {}


def test_an_order_of_another_strategy_acts_on_the_portfolios_position():
    """Two strategies feed one portfolio, which holds one position per symbol: s1's order
    that closes s0's position belongs to that position's trade; s1's next order opens the
    next trade, which is s1's."""
    desk = Desk()
    first = _trade(desk.round_trip_open("portfolio_a", "O1", "s0"))
    closing = desk.order("portfolio_a", "O2", "s1", "sell")
    desk.position("CLOSE", "portfolio_a", desk.fill(closing), strategy="s0",
                  entry_price=100.0, exit_price=100.0, realized_pnl=0.0)
    second = _trade(desk.round_trip_open("portfolio_a", "O3", "s1"))
    assert _trade(closing) is first and first.outcome == "flat"
    assert second is not first and second.strategy == "s1" and second.state == "open"


def test_positions_of_two_portfolios_on_one_symbol_are_two_trades():
    desk = Desk()
    a = _trade(desk.round_trip_open("portfolio_a", "O1", "s0"))
    b = _trade(desk.round_trip_open("portfolio_b", "O2", "s0"))
    exit_a = desk.order("portfolio_a", "O3", "s0_exit", "sell")
    assert a is not b and _trade(exit_a) is a and b.orders == 1


def test_a_flip_closes_one_trade_and_opens_the_next_in_the_orders_strategy():
    """One fill that reverses a position: POSITION_CLOSE then POSITION_OPEN, both inside the
    fill's dispatch. ADMF-PC's flipped POSITION_OPEN says strategy 'unknown'; the new trade
    takes the strategy of the order that flipped it."""
    desk = Desk()
    long_trade = _trade(desk.round_trip_open("portfolio_a", "O1", "s0"))
    flip_fill = desk.fill(desk.order("portfolio_a", "O2", "s0", "sell"), price=101.0)
    close = desk.position("CLOSE", "portfolio_a", flip_fill, strategy="s0", entry_price=100.0,
                          exit_price=101.0, realized_pnl=1.0)
    reopened = desk.position("OPEN", "portfolio_a", flip_fill, strategy="unknown",
                             entry_price=101.0, quantity=-1.0, side="SHORT")
    short_trade = _trade(reopened)
    assert _trade(close) is long_trade and long_trade.outcome == "win"
    assert short_trade is not long_trade and short_trade.state == "open"
    assert (short_trade.strategy, short_trade.side) == ("s0", "SHORT")
    assert desk.tracker.stats.anomalies == {}


def test_a_position_id_rule_keeps_two_positions_on_one_symbol_apart():
    """A framework with position ids (hedging accounts): the position key is the id."""
    desk = Desk(TradeRules.from_config({"position": ["position_id"]}))
    one = desk.event("ORDER", "acct", {"order_id": "A", "position_id": "P1", "symbol": "EURUSD"})
    two = desk.event("ORDER", "acct", {"order_id": "B", "position_id": "P2", "symbol": "EURUSD"})
    assert _trade(one) is not _trade(two)
    assert _trade(one).symbol == _trade(two).symbol == "EURUSD"


def test_key_is_the_older_name_of_position():
    assert TradeRules.from_config({"key": ["account"]}).position == ((("account",),),)
    with pytest.raises(ConfigError, match="older name"):
        TradeRules.from_config({"key": ["account"], "position": ["symbol"]})


def test_an_order_without_a_position_key_is_an_anomaly_not_a_trade():
    desk = Desk()
    record = desk.event("ORDER", "portfolio_a", {"order_id": "O1", "side": "buy"})
    assert record[TRADE] is NO_TRADE
    assert desk.tracker.stats.anomalies == {"missing_key": 1}


# -- records whose cause is still in flight ------------------------------------------------


def _worker_record(event_type: str, container: str, payload: dict[str, Any],
                   parent: list[Any] | None, start: int, end: int) -> list[Any]:
    """A record as the export worker takes it from a buffer (a real Route)."""
    from tradetrace.model.route import Route

    role = TradeRules().role(event_type)
    route = Route(container, event_type, None, False, None, role, DEFAULT_RETENTION)  # type: ignore[arg-type]
    return [EVENT, route, (None,) * 6, payload, parent, start, end, None, None, None]


def _position_cascade(order_id: str, side: str, position: str, start: int,
                      **position_payload: Any) -> list[list[Any]]:
    """ORDER -> FILL -> POSITION_*, each published inside the one before, just now."""
    start += time.time_ns()
    order = _worker_record("ORDER", "portfolio_a",
                           {"order_id": order_id, "symbol": "SPY", "side": side,
                            "metadata": {"strategy_id": "s0"}}, None, start, start + 90)
    fill = _worker_record("FILL", "execution_1", {"order_id": order_id, "status": "filled"},
                          order, start + 10, start + 80)
    moved = _worker_record(position, "portfolio_a", {"symbol": "SPY", **position_payload},
                           fill, start + 20, start + 30)
    return [order, fill, moved]


def test_children_wait_for_a_cause_in_flight_however_many_batches_pass():
    """The worker once let a child go after eight batches that deferred anything: the
    close completed the trade before its order was seen, and the order then started a
    trade of its own that the next entry joined (one real DEBUG full year: a 1-order and
    a 3-order trade). A child now waits as long as its cause is in flight."""
    from tradetrace.retain.policy import TailLimits
    from tradetrace.retain.tail import MAX_DEFERRALS, TailRetention

    tail = TailRetention(TradeRules(), TailLimits())
    tail.release(_position_cascade("O1", "buy", "POSITION_OPEN", 1_000, entry_price=100.0))
    order, fill, close = _position_cascade("O2", "sell", "POSITION_CLOSE", 2_000,
                                           realized_pnl=1.0)
    order[6] = 0  # its publish has not returned yet
    tail.release([fill, close])
    for _ in range(MAX_DEFERRALS * 3):  # batches go by, others deferring too
        tail.release([])
    assert fill[TRADE] is None and close[TRADE] is None  # still waiting
    order[6] = order[5] + 90
    tail.release([order])
    trade = order[TRADE]
    assert isinstance(trade, TrackedTrade) and fill[TRADE] is trade and close[TRADE] is trade
    assert (trade.orders, trade.fills, trade.outcome) == (2, 2, "win")
    assert tail.tracker.stats.anomalies == {}


def test_a_child_whose_finished_cause_never_comes_goes_on_after_a_few_batches():
    """A cause that finished but was dropped (a full buffer) never arrives: its children
    are processed without it after MAX_DEFERRALS batches, not held forever."""
    from tradetrace.retain.policy import TailLimits
    from tradetrace.retain.tail import MAX_DEFERRALS, TailRetention

    tail = TailRetention(TradeRules(), TailLimits())
    _, fill, _ = _position_cascade("O9", "buy", "POSITION_OPEN", 1_000)
    passed: list[Any] = []
    for i in range(MAX_DEFERRALS + 1):
        out, _ = tail.release([fill] if i == 0 else [])
        passed += out
    assert passed == [fill] and fill[TRADE] is NO_TRADE
    assert tail.tracker.stats.anomalies == {"fill_for_unknown_order": 1}


def test_a_cause_that_never_returns_holds_its_children_two_seconds_at_most():
    """A program may run its whole loop inside one handler's publish: the children of a
    cause in flight go on once they have waited MAX_WAIT_NS (here: ended long ago)."""
    from tradetrace.retain.policy import TailLimits
    from tradetrace.retain.tail import MAX_DEFERRALS, TailRetention

    tail = TailRetention(TradeRules(), TailLimits())
    order, fill, _ = _position_cascade("O7", "buy", "POSITION_OPEN", 1_000)
    order[6] = 0  # in flight for ever
    fill[5], fill[6] = 1_000, 1_080  # the fill ended long ago (ns after the epoch)
    passed: list[Any] = []
    for i in range(MAX_DEFERRALS + 1):
        out, _ = tail.release([fill] if i == 0 else [])
        passed += out
    assert passed == [fill]
