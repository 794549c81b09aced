"""The back broker: ``submit`` marks the order Submitted and ``notify``s it; ``next``
(called by cerebro before the strategies see the bar) accepts what was submitted, or
rejects it with Margin when the cash cannot pay for it, and executes accepted market
orders at the bar's open. ``notify`` keeps a clone of the order for cerebro to hand
the owner strategy (``_addnotification``), as backtrader's ``BackBroker.notify`` does."""

from __future__ import annotations

import collections
from typing import Any

from ..order import Order


class BackBroker:
    def __init__(self, cash: float = 100_000.0, commission: float = 0.001) -> None:
        self.cash = cash
        self.commission = commission
        self.notifs: collections.deque[Order] = collections.deque()
        self.submitted: list[Order] = []
        self.positions: dict[int, float] = collections.defaultdict(float)
        self.prices: dict[int, float] = {}

    def submit(self, order: Order) -> Order:
        order.status = Order.Submitted
        self.submitted.append(order)
        self.notify(order)
        return order

    def next(self) -> None:
        submitted, self.submitted = self.submitted, []
        for order in submitted:
            price = order.data.open[0]
            size = order.created.size if order.isbuy() else -order.created.size
            if size > 0 and size * price * (1 + self.commission) > self.cash:
                order.status = Order.Margin
                self.notify(order)
                continue
            order.status = Order.Accepted
            self.notify(order)
            comm = abs(size) * price * self.commission
            self.cash -= size * price + comm
            self.positions[id(order.data)] += size
            executed = order.executed
            executed.size, executed.price, executed.comm = size, price, comm
            executed.dt, executed.remsize = order.data.datetime[0], 0.0
            order.status = Order.Completed
            self.notify(order)

    def notify(self, order: Order) -> None:
        self.notifs.append(order.clone())

    def get_notification(self) -> Order | None:
        return self.notifs.popleft() if self.notifs else None

    def getvalue(self, datas: Any = ()) -> float:
        return self.cash + sum(self.positions[id(d)] * d.close[0] for d in datas)
