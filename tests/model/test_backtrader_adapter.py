"""The ``backtrader`` adapter alone: what it reads of backtrader-shaped objects (built here
with the attributes backtrader gives them; tests/fake_backtrader runs the whole profile)."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta
from types import SimpleNamespace as Obj
from typing import Any

import pytest

from tradetrace.model import backtrader as backtrader_events
from tradetrace.model.backtrader import (
    ORDER_TYPES,
    BacktraderAdapter,
    Bar,
    TradeNotice,
    container,
    data_name,
    event_id,
    event_type,
    payload,
    sim_time,
)
from tradetrace.plugins import EVENT_ADAPTERS


class DateLine:
    """A feed's datetime line: floats, converted by the feed's own ``datetime(0)``."""

    def __init__(self, number: float, tz: Any = None) -> None:
        self.number, self._tz, self.conversions = number, tz, 0

    def __getitem__(self, ago: int) -> float:
        return self.number

    def datetime(self, ago: int = 0) -> datetime:
        self.conversions += 1
        day = int(self.number)
        return datetime.fromordinal(day) + timedelta(days=self.number - day)


def _feed(name: str = "RW", number: float = 735600.5) -> Any:
    return Obj(_name=name, _id=1, datetime=DateLine(number), open=[10.0], high=[11.0],
               low=[9.0], close=[10.5], volume=[100.0])


class Strategy:  # the class name is the container
    def __init__(self, feed: Any) -> None:
        self.data = feed

    def __len__(self) -> int:
        return 42


def _order(status: int, feed: Any, owner: Any, ordtype: int = 0) -> Any:
    return Obj(ref=7, status=status, ordtype=ordtype, data=feed, owner=owner,
               getordername=lambda: "Market",
               created=Obj(size=5, price=None),
               executed=Obj(size=-5 if ordtype else 5, price=10.25, comm=0.01, remsize=0))


def test_order_status_is_the_event_type() -> None:
    feed = _feed()
    strategy = Strategy(feed)
    assert [event_type(_order(s, feed, strategy)) for s in range(9)] == list(ORDER_TYPES)
    assert ORDER_TYPES[1:5] == ("ORDER_SUBMITTED", "ORDER_ACCEPTED", "PARTIAL_FILL", "FILL")
    assert event_type(Bar(strategy)) == "BAR"


def test_order_payload_as_plain_values_read_now() -> None:
    feed = _feed()
    strategy = Strategy(feed)
    submitted = payload(_order(1, feed, strategy))
    assert submitted == {"order_id": "7", "symbol": "RW", "side": "BUY", "status": "Submitted",
                         "order_type": "Market", "strategy_id": "Strategy", "quantity": 5}
    fill = payload(_order(4, feed, strategy, ordtype=1))
    assert (fill["side"], fill["price"], fill["quantity"], fill["commission"]) == (
        "SELL", 10.25, 5, 0.01)
    assert event_id(_order(4, feed, strategy)) == "order-7-completed"
    # an order no strategy owns (placed on the broker directly)
    assert container(_order(1, feed, None)) == "broker"


def test_trades_open_and_close() -> None:
    feed = _feed()
    strategy = Strategy(feed)
    closing = _order(4, feed, strategy, ordtype=1)
    trade = Obj(ref=3, data=feed, isclosed=True, justopened=False, long=True, size=0,
                price=10.0, commission=0.02, pnl=1.25, pnlcomm=1.23, barlen=4)
    notice = TradeNotice(strategy, trade, closing)
    assert event_type(notice) == "POSITION_CLOSE" and container(notice) == "Strategy"
    values = payload(notice)
    assert (values["realized_pnl"], values["gross_pnl"], values["exit_price"]) == (
        1.23, 1.25, 10.25)  # the P&L net of commissions is pnlcomm
    assert (values["trade_ref"], values["order_id"], values["side"]) == ("3", "7", "LONG")
    assert event_id(notice) == "trade-3-close"
    opened = Obj(ref=4, data=feed, isclosed=False, justopened=True, long=False, size=-5,
                 price=10.0, commission=0.01)
    notice = TradeNotice(strategy, opened, _order(4, feed, strategy, ordtype=1))
    assert event_type(notice) == "POSITION_OPEN"
    assert (payload(notice)["quantity"], payload(notice)["side"]) == (5, "SHORT")


def test_times_through_the_feeds_own_conversion_once_per_bar(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backtrader_events, "_TIMES", {})  # nothing converted before
    feed = _feed(number=735600.5)
    strategy = Strategy(feed)
    assert sim_time(Bar(strategy)) == datetime(2015, 1, 2, 12, 0)
    assert sim_time(_order(1, feed, strategy)) == datetime(2015, 1, 2, 12, 0)
    assert feed.datetime.conversions == 1  # the bar's orders reuse its conversion
    other_zone = _feed(number=735600.5)
    other_zone.datetime._tz = "Europe/Berlin"
    sim_time(Bar(Strategy(other_zone)))
    assert other_zone.datetime.conversions == 1  # a feed in another zone converts its own


def test_feeds_named_or_numbered() -> None:
    assert data_name(Obj(_name="SPY", _id=1)) == "SPY"
    assert data_name(Obj(_name="", _id=2)) == "data1"  # as backtrader's data1


def test_the_adapter_by_name_and_pickled_to_the_encoder_process() -> None:
    adapter = EVENT_ADAPTERS.get("backtrader")(correlate={"order": ["order_id"]})
    assert isinstance(adapter, BacktraderAdapter)
    assert adapter.getter("event_type")(Bar(Strategy(_feed()))) == "BAR"
    assert adapter.getter("causation_id", strict=False)(Bar(Strategy(_feed()))) is None
    again = pickle.loads(pickle.dumps(adapter))
    assert again == adapter and again.correlate == {"order": ("order_id",)}
    with pytest.raises(ValueError, match="not one of"):
        BacktraderAdapter({"kind": "x"})
