"""Cerebro: per bar, the feeds advance, the broker is kicked (``next``) and its
notifications handed to their owner strategy (``_addnotification``), then each strategy
gets the bar (``_oncepost`` with ``runonce``, else ``_next``), as backtrader's
``_runonce`` and ``_runnext`` do."""

from __future__ import annotations

from typing import Any

from .brokers.bbroker import BackBroker


class Cerebro:
    def __init__(self, runonce: bool = True) -> None:
        self.runonce = runonce
        self.broker = BackBroker()
        self.datas: list[Any] = []
        self._strategies: list[tuple[type, dict[str, Any]]] = []

    def adddata(self, data: Any, name: str | None = None) -> Any:
        if name is not None:
            data._name = name
        data._id = len(self.datas) + 1
        self.datas.append(data)
        return data

    def addstrategy(self, cls: type, **params: Any) -> None:
        self._strategies.append((cls, params))

    def run(self) -> list[Any]:
        strategies = []
        for cls, params in self._strategies:
            strategy = cls(**params)
            strategy.datas, strategy.broker = list(self.datas), self.broker
            strategies.append(strategy)
        data0 = self.datas[0]
        while all(data.advance() for data in self.datas):
            self.broker.next()
            while (order := self.broker.get_notification()) is not None:
                order.owner._addnotification(order)
            for strategy in strategies:
                if self.runonce:
                    strategy._oncepost(data0.datetime[0])
                else:
                    strategy._next()
        return strategies
