"""A trade as backtrader's ``trade.py`` keeps it: opened by an execution from flat,
closed by the one back to flat; ``pnlcomm`` is ``pnl`` less both legs' commissions.
The strategy queues a copy for ``notify_trade`` when it opens and when it closes."""

from __future__ import annotations

import itertools
from typing import Any


class Trade:
    refbasis = itertools.count(1)
    status_names = ["Created", "Open", "Closed"]

    def __init__(self, data: Any) -> None:
        self.ref = next(self.refbasis)
        self.data = data
        self.size = 0.0
        self.price = 0.0
        self.commission = 0.0
        self.pnl = self.pnlcomm = 0.0
        self.justopened = self.isopen = self.isclosed = False
        self.baropen = self.barclose = self.barlen = 0
        self.status = 0

    def update(self, size: float, price: float, commission: float) -> None:
        oldsize = self.size
        self.commission += commission
        self.size += size
        self.justopened = bool(not oldsize and size)
        if self.justopened:
            self.baropen = len(self.data)
            self.long = self.size > 0
        self.isopen = bool(self.size)
        self.barlen = len(self.data) - self.baropen
        self.isclosed = bool(oldsize and not self.size)
        if self.isclosed:
            self.pnl = (price - self.price) * -size
            self.barclose = len(self.data)
            self.status = 2
        else:
            self.status = 1
            if self.size and oldsize * size >= 0:  # added to: average entry
                self.price = (oldsize * self.price + size * price) / self.size
        self.pnlcomm = self.pnl - self.commission
