"""Orders as backtrader's ``order.py`` has them: a ``ref`` from a class-wide counter,
``status`` an index into ``Status``, ``ordtype`` 0 buy / 1 sell, ``created`` and
``executed`` parts, the strategy as ``owner``; the broker hands out clones."""

from __future__ import annotations

import itertools
from copy import copy
from typing import Any


class OrderData:
    def __init__(self, size: float = 0.0, price: float | None = None, dt: float = 0.0) -> None:
        self.size, self.price, self.dt = size, price, dt
        self.comm = 0.0
        self.remsize = size

    def clone(self) -> OrderData:
        return copy(self)


class Order:
    Status = ["Created", "Submitted", "Accepted", "Partial", "Completed", "Canceled",
              "Expired", "Margin", "Rejected"]
    Created, Submitted, Accepted, Partial, Completed, Canceled, Expired, Margin, Rejected = (
        range(9))
    ExecTypes = ["Market", "Close", "Limit", "Stop", "StopLimit", "StopTrail",
                 "StopTrailLimit", "Historical"]
    Buy, Sell = range(2)
    refbasis = itertools.count(1)

    def __init__(self, owner: Any, data: Any, size: float, ordtype: int) -> None:
        self.ref = next(self.refbasis)
        self.owner, self.data, self.ordtype = owner, data, ordtype
        self.exectype = 0  # Market
        self.status = self.Created
        self.created = OrderData(size, None, data.datetime[0])
        self.executed = OrderData(0.0)

    def clone(self) -> Order:
        obj = copy(self)
        obj.executed = self.executed.clone()
        return obj

    def getstatusname(self, status: int | None = None) -> str:
        return self.Status[self.status if status is None else status]

    def getordername(self) -> str:
        return self.ExecTypes[self.exectype]

    def isbuy(self) -> bool:
        return self.ordtype == self.Buy

    # like backtrader's Order: equal by ref, and so unhashable
    def __eq__(self, other: object) -> bool:
        return other is not None and self.ref == getattr(other, "ref", None)

    __hash__ = None  # type: ignore[assignment]
