"""A user's backtest on the fake: an SMA crossover strategy that overrides ``next``,
``notify_order`` and ``notify_trade`` (as real strategies do) and counts what it is
told, which is what the tests compare tradetrace's spans with."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import backtrader as bt
from backtrader.feed import PriceFeed


@dataclass
class Record:
    """What the framework produced, as the strategy's own callbacks saw it."""

    bars: int = 0
    orders: Counter[str] = field(default_factory=Counter)  #: by status name
    #: notifications the broker made that no bar was left to deliver (an order submitted
    #: on the last bar), by status name: read from ``broker.notifs``
    undelivered: Counter[str] = field(default_factory=Counter)
    opened: int = 0
    closed: list[tuple[int, float, float]] = field(default_factory=list)  #: ref, pnl, pnlcomm
    value: float = 0.0


class SmaCross(bt.Strategy):
    minperiod = 20

    def __init__(self, record: Record, size: float = 50, fast: int = 5, slow: int = 20,
                 fail_at: int | None = None) -> None:
        super().__init__()
        self.record, self.size, self.fast, self.slow = record, size, fast, slow
        self.fail_at = fail_at

    def _average(self, n: int) -> float:
        return sum(self.data.close[-i] for i in range(n)) / n

    def next(self) -> None:
        if self.fail_at is not None and len(self) == self.fail_at:
            raise RuntimeError("the strategy's own bug")
        up = self._average(self.fast) > self._average(self.slow)
        if up and not self.position:
            self.buy(self.size)
        elif not up and self.position:
            self.close()

    def notify_order(self, order: Any) -> None:
        self.record.orders[order.getstatusname()] += 1

    def notify_trade(self, trade: Any) -> None:
        self.record.opened += trade.justopened
        if trade.isclosed:
            self.record.closed.append((trade.ref, round(trade.pnl, 6), round(trade.pnlcomm, 6)))


def run_backtest(bars: int = 300, seed: int = 7, runonce: bool = True, **params: Any) -> Record:
    record = Record()
    cerebro = bt.Cerebro(runonce=runonce)
    data = cerebro.adddata(PriceFeed(bars, seed), name="RW")
    cerebro.addstrategy(SmaCross, record=record, **params)
    (strategy,) = cerebro.run()
    record.bars = len(strategy)
    record.value = round(cerebro.broker.getvalue([data]), 6)
    record.undelivered.update(order.getstatusname() for order in cerebro.broker.notifs)
    return record
