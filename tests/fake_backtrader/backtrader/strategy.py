"""The strategy base, with backtrader's private methods the profile hooks: cerebro calls
``_oncepost(dt)`` (``runonce``, its default) or ``_next()`` once per bar; each delivers
the queued notifications (``_notify``: ``notify_order``, ``notify_trade``) and then calls
``next`` (``prenext`` until the slowest average has its bars). ``_addnotification(order)``
takes each broker notification, updates the strategy's trade for the data and queues a
copy of the trade when it opens or closes."""

from __future__ import annotations

import copy
from typing import Any

from .order import Order
from .trade import Trade


class Strategy:
    minperiod = 1

    def __init__(self) -> None:
        self.datas: list[Any] = []
        self.broker: Any = None
        self._orderspending: list[Order] = []
        self._tradespending: list[Trade] = []
        self._trades: dict[int, Trade] = {}
        self.position = 0.0

    @property
    def data(self) -> Any:
        return self.datas[0]

    def __len__(self) -> int:
        return len(self.data)

    # what a user's strategy overrides
    def next(self) -> None:
        pass

    def prenext(self) -> None:
        pass

    def notify_order(self, order: Order) -> None:
        pass

    def notify_trade(self, trade: Trade) -> None:
        pass

    # orders
    def buy(self, size: float) -> Order:
        return self.broker.submit(Order(self, self.data, size, Order.Buy))

    def sell(self, size: float) -> Order:
        return self.broker.submit(Order(self, self.data, size, Order.Sell))

    def close(self) -> Order | None:
        if not self.position:
            return None
        return (self.sell if self.position > 0 else self.buy)(abs(self.position))

    # what cerebro calls
    def _addnotification(self, order: Order, quicknotify: bool = False) -> None:
        self._orderspending.append(order)
        size = order.executed.size
        if not size or order.status != Order.Completed:
            return
        self.position += size
        trade = self._trades.get(id(order.data))
        if trade is None or trade.isclosed:
            trade = self._trades[id(order.data)] = Trade(order.data)
        trade.update(size, order.executed.price, order.executed.comm)
        if trade.isclosed or trade.justopened:
            self._tradespending.append(copy.copy(trade))

    def _notify(self) -> None:
        for order in self._orderspending:
            self.notify_order(order)
        for trade in self._tradespending:
            self.notify_trade(trade)

    def _oncepost(self, dt: float) -> None:
        self._step()

    def _next(self) -> None:
        self._step()

    def _step(self) -> None:
        self._notify()
        if len(self) >= self.minperiod:
            self.next()
        else:
            self.prenext()
        self._orderspending, self._tradespending = [], []
