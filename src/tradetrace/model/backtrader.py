"""The ``backtrader`` event adapter: backtrader's own objects read as events.

backtrader (pure Python) has no bus. The ``backtrader`` profile (capture/frameworks/
backtrader.py) records three kinds of objects:

- an ``Order``, as the broker is told of each status change (``BackBroker.notify``): the
  type is its status (``ORDER_SUBMITTED``, ``ORDER_ACCEPTED``, ``PARTIAL_FILL``, ``FILL``
  for Completed, ``ORDER_CANCELED``, ``ORDER_EXPIRED``, ``ORDER_MARGIN``,
  ``ORDER_REJECTED``). The order is live and changes after the call, so its payload is
  read on the publishing thread (a dict of plain values), not kept whole;
- :class:`Bar`: a strategy handling its next bar (``BAR``);
- :class:`TradeNotice`: a trade notification the strategy is given (``POSITION_OPEN``,
  ``POSITION_CLOSE``), with the order whose execution caused it.

Ids are text (order ``ref``, trade ``ref``); the container is the strategy (its class
name), the symbol its data feed's name; times are backtrader's float dates read through
the feed's own ``datetime.datetime(0)`` (its ``num2date``, with its time zone). Nothing
of backtrader is imported: objects are read by their attributes (tests/fake_backtrader
pins them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .events import EventAdapter

#: backtrader's ``Order.Status`` (Created, Submitted, ... Rejected, in its order) -> type
ORDER_TYPES = ("ORDER_CREATED", "ORDER_SUBMITTED", "ORDER_ACCEPTED", "PARTIAL_FILL", "FILL",
               "ORDER_CANCELED", "ORDER_EXPIRED", "ORDER_MARGIN", "ORDER_REJECTED")
STATUS_NAMES = ("Created", "Submitted", "Accepted", "Partial", "Completed", "Canceled",
                "Expired", "Margin", "Rejected")
_EXECUTED = (3, 4)  # Partial, Completed: the payload shows the execution


class Bar:
    """A strategy handling its next bar (its first data feed's bar)."""

    __slots__ = ("strategy",)

    def __init__(self, strategy: Any) -> None:
        self.strategy = strategy


class TradeNotice:
    """A trade notification (a copy of backtrader's ``Trade``, as the strategy gets it)
    and the order whose execution caused it."""

    __slots__ = ("strategy", "trade", "order", "kind")

    def __init__(self, strategy: Any, trade: Any, order: Any) -> None:
        self.strategy, self.trade, self.order = strategy, trade, order
        self.kind = ("POSITION_CLOSE" if trade.isclosed else
                     "POSITION_OPEN" if trade.justopened else "POSITION_UPDATE")


def strategy_id(strategy: Any) -> str:
    return "broker" if strategy is None else strategy.__class__.__name__


def data_name(data: Any) -> str:
    """The feed's name (``cerebro.adddata(data, name=...)``), else ``data<n>`` by the
    order cerebro numbered it."""
    name = getattr(data, "_name", "")
    return name if name else f"data{getattr(data, '_id', 1) - 1}"


def event_type(event: Any) -> str:
    cls = event.__class__
    if cls is Bar:
        return "BAR"
    if cls is TradeNotice:
        return event.kind
    return ORDER_TYPES[event.status]


def container(event: Any) -> str:
    cls = event.__class__
    if cls is Bar or cls is TradeNotice:
        return strategy_id(event.strategy)
    return strategy_id(event.owner)


def _data(event: Any) -> Any:
    cls = event.__class__
    if cls is Bar:
        return event.strategy.data
    if cls is TradeNotice:
        return event.trade.data
    return event.data


#: (float date, the feed's time zone) -> datetime: one conversion per bar (the bar, its
#: orders, its trades), not one per event
_TIMES: dict[tuple[float, Any], Any] = {}


def sim_time(event: Any) -> Any:
    """The simulated time now: the feed's current bar, as backtrader converts it."""
    line = _data(event).datetime
    key = (line[0], getattr(line, "_tz", None))
    when = _TIMES.get(key)
    if when is None:
        if len(_TIMES) >= 1024:
            _TIMES.clear()
        when = _TIMES[key] = line.datetime(0)
    return when


def source(event: Any) -> str:
    return data_name(_data(event))


def event_id(event: Any) -> str | None:
    cls = event.__class__
    if cls is Bar:
        return None
    if cls is TradeNotice:
        return f"trade-{event.trade.ref}-{event.kind[9:].lower()}"
    return f"order-{event.ref}-{STATUS_NAMES[event.status].lower()}"


def payload(event: Any) -> dict[str, Any]:
    """What a span shows of the event, as plain values, read now (orders change later)."""
    cls = event.__class__
    if cls is Bar:
        return _bar_payload(event.strategy)
    if cls is TradeNotice:
        return _trade_payload(event)
    return _order_payload(event)


def _bar_payload(strategy: Any) -> dict[str, Any]:
    data = strategy.data
    return {"symbol": data_name(data), "open": data.open[0], "high": data.high[0],
            "low": data.low[0], "close": data.close[0], "volume": data.volume[0],
            "bar": len(strategy), "strategy_id": strategy_id(strategy)}


def _order_payload(order: Any) -> dict[str, Any]:
    status = order.status
    values = {"order_id": str(order.ref), "symbol": data_name(order.data),
              "side": "BUY" if order.ordtype == 0 else "SELL",
              "status": STATUS_NAMES[status], "order_type": order.getordername(),
              "strategy_id": strategy_id(order.owner)}
    if status in _EXECUTED:
        executed = order.executed
        values.update(price=executed.price, quantity=abs(executed.size),
                      commission=executed.comm, remaining=abs(executed.remsize))
    else:
        created = order.created
        values["quantity"] = abs(created.size)
        if created.price:
            values["price"] = created.price
    return values


def _trade_payload(notice: TradeNotice) -> dict[str, Any]:
    trade, order = notice.trade, notice.order
    values = {"trade_ref": str(trade.ref), "order_id": str(order.ref),
              "symbol": data_name(trade.data), "side": "LONG" if trade.long else "SHORT",
              "entry_price": trade.price, "commission": trade.commission,
              "strategy_id": strategy_id(notice.strategy)}
    if notice.kind == "POSITION_CLOSE":
        # pnlcomm: the P&L net of both legs' commissions (what TradeAnalyzer's pnl.net sums)
        values.update(realized_pnl=trade.pnlcomm, gross_pnl=trade.pnl,
                      exit_price=order.executed.price, bars_held=trade.barlen)
    else:
        values.update(quantity=abs(trade.size), price=trade.price)
    return values


_READERS = {"event_type": "_bt_type", "container_id": "_bt_container", "payload": "_bt_payload",
            "timestamp": "_bt_time", "event_id": "_bt_event_id", "source_id": "_bt_source"}


class BacktraderAdapter(EventAdapter):
    """``backtrader``: orders, bars and trade notifications read by the functions above.

    Its ``correlate`` (the profile's) ties an order's notifications together by
    ``order_id`` and a trade's close to its opening by ``trade_ref``. Fields other than
    the six read here (causation, correlation, metadata, ...) are absent."""

    name = "backtrader"

    def __init__(self, fields: Mapping[str, str] | None = None, *,
                 correlate: Mapping[str, Any] | None = None) -> None:
        super().__init__(fields, correlate=correlate)

    def read(self, name: str, event: str = "event") -> str:
        reader = _READERS.get(name)
        return f"{reader}({event})" if reader else "None"

    def read_or_none(self, name: str, event: str = "event") -> str:
        return self.read(name, event)

    def namespace(self) -> dict[str, Any]:
        return {"_bt_type": event_type, "_bt_container": container, "_bt_payload": payload,
                "_bt_time": sim_time, "_bt_event_id": event_id, "_bt_source": source}
