"""A backtest engine shaped like NautilusTrader's (a compiled class here too).

Per bar: the bar goes out on ``data.bars.<instrument>``; the strategy's ``on_bar`` (a
subscriber) submits market orders, published as OrderInitialized and OrderSubmitted on
``events.order.<strategy>`` while the bar is dispatched. The simulated exchange fills
them *after* the bar's dispatch has returned, at the bar's close: each OrderFilled goes
out on ``events.order.<strategy>`` and again on ``events.fills.<instrument>`` (the same
object), then an AccountState, then PositionOpened or PositionClosed on
``events.position.<strategy>``. Positions are hedging-style: each open gets a new
PositionId; a closing order names the position it closes.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from ..core import (
    UUID4,
    ClientOrderId,
    Compiled,
    InstrumentId,
    Money,
    OrderSide,
    PositionId,
    PositionSide,
    Price,
    Quantity,
    StrategyId,
    TradeId,
)
from ..model.events import (
    AccountState,
    Bar,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
    PositionClosed,
    PositionOpened,
)
from ..system.kernel import NautilusKernel

T0 = 1_700_000_000_000_000_000  #: the first bar's time, ns since the epoch
MINUTE = 60_000_000_000


def seeded_bars(n: int, seed: int = 7, instrument: str = "AUD/USD.SIM") -> list[Bar]:
    rng = random.Random(seed)
    instrument_id = InstrumentId(instrument)
    bars, price = [], 0.70
    for i in range(n):
        open_ = price
        price = max(0.5, price + rng.gauss(0, 0.0008))
        high = max(open_, price) + abs(rng.gauss(0, 0.0003))
        low = min(open_, price) - abs(rng.gauss(0, 0.0003))
        ts = T0 + i * MINUTE
        bars.append(Bar(instrument_id, Price(open_), Price(high), Price(low), Price(price),
                        Quantity(1_000_000, 0), ts, ts))
    return bars


@dataclass
class ClosedPosition:
    position_id: str
    side: str
    entry: float
    exit: float
    quantity: float
    realized_pnl: float


@dataclass
class EngineRecord:
    """What the engine published (each message once, however many topics it went on)
    and the positions it closed: what a test compares tradetrace's spans with."""

    published: dict[str, int] = field(default_factory=dict)
    closed: list[ClosedPosition] = field(default_factory=list)

    def count(self, message: Any) -> None:
        name = type(message).__name__
        self.published[name] = self.published.get(name, 0) + 1


class SmaCross:
    """A strategy: long when the fast average is above the slow one, short below; each
    change closes the open position (one order) and opens the other way (another)."""

    def __init__(self, strategy_id: str = "SmaCross-000", fast: int = 5, slow: int = 20,
                 size: float = 100_000) -> None:
        self.id = StrategyId(strategy_id)
        self.fast, self.slow, self.size = fast, slow, size
        self.closes: list[float] = []
        self.engine: BacktestEngine | None = None
        self.position: tuple[PositionId, OrderSide] | None = None

    def on_bar(self, bar: Bar) -> None:
        self.closes.append(float(bar.close))
        if len(self.closes) < self.slow:
            return
        fast = sum(self.closes[-self.fast:]) / self.fast
        slow = sum(self.closes[-self.slow:]) / self.slow
        want = OrderSide.BUY if fast > slow else OrderSide.SELL
        assert self.engine is not None
        if self.position is not None and self.position[1] is want:
            return
        if self.position is not None:
            self.engine.submit(self, OrderSide.SELL if want is OrderSide.BUY else OrderSide.BUY,
                               self.position[0])
        self.engine.submit(self, want, None)


class BacktestEngine(metaclass=Compiled):
    def __init__(self) -> None:
        self.kernel = NautilusKernel()
        self.record = EngineRecord()
        self._strategies: list[SmaCross] = []
        self._queue: list[tuple[SmaCross, OrderInitialized, PositionId | None]] = []
        self._open: dict[PositionId, tuple[OrderSide, float, float, ClientOrderId]] = {}
        self._ids = itertools.count(1)
        self._bar: Bar | None = None
        self.balance = 1_000_000.0

    def _uuid(self) -> UUID4:
        return UUID4(f"00000000-0000-4000-8000-{next(self._ids):012d}")

    def _publish(self, topic: str, message: Any, count: bool = True) -> None:
        if count:
            self.record.count(message)
        self.kernel.msgbus.publish(topic, message)

    def add_strategy(self, strategy: SmaCross) -> None:
        strategy.engine = self
        self._strategies.append(strategy)
        self.kernel.msgbus.subscribe("data.bars.*", strategy.on_bar)

    def submit(self, strategy: SmaCross, side: OrderSide, closes: PositionId | None) -> None:
        assert self._bar is not None
        n = next(self._ids)
        order_id = ClientOrderId(f"O-{n:06d}")
        init = OrderInitialized(self._uuid(), strategy.id, self._bar.instrument_id, order_id,
                                side, Quantity(strategy.size, 0), self._bar.ts_event)
        topic = f"events.order.{strategy.id}"
        self._publish(topic, init)
        self._publish(topic, OrderSubmitted(self._uuid(), strategy.id, init.instrument_id,
                                            order_id, self._bar.ts_event))
        self._queue.append((strategy, init, closes))

    def run(self, bars: list[Bar]) -> EngineRecord:
        for bar in bars:
            self._bar = bar
            self._publish(f"data.bars.{bar.instrument_id}", bar)
            queue, self._queue = self._queue, []
            for strategy, order, closes in queue:  # after the bar's dispatch returned
                self._fill(strategy, order, closes, bar)
        return self.record

    def _fill(self, strategy: SmaCross, order: OrderInitialized, closes: PositionId | None,
              bar: Bar) -> None:
        price = float(bar.close)
        position_id = closes or PositionId(f"{bar.instrument_id}-{strategy.id}-{next(self._ids)}")
        fill = OrderFilled(self._uuid(), strategy.id, order.instrument_id, order.client_order_id,
                           position_id, TradeId(f"SIM-{next(self._ids)}"), order.side,
                           order.quantity, Price(price), bar.ts_event)
        self._publish(f"events.order.{strategy.id}", fill)
        self._publish(f"events.fills.{order.instrument_id}", fill, count=False)  # same fill
        self._publish("events.account.SIM-001", AccountState(self._uuid(), Money(self.balance),
                                                              bar.ts_event))
        topic = f"events.position.{strategy.id}"
        if closes is None:
            self._open[position_id] = (order.side, price, float(order.quantity),
                                       order.client_order_id)
            side = PositionSide.LONG if order.side is OrderSide.BUY else PositionSide.SHORT
            self._publish(topic, PositionOpened(
                self._uuid(), strategy.id, order.instrument_id, position_id,
                order.client_order_id, order.side, side, order.quantity, Price(price), price,
                Money(0.0), bar.ts_event))
            strategy.position = (position_id, order.side)
            return
        entry_side, entry, quantity, opening = self._open.pop(position_id)
        sign = 1.0 if entry_side is OrderSide.BUY else -1.0
        pnl = round(sign * (price - entry) * quantity, 2)
        self.balance += pnl
        self.record.closed.append(ClosedPosition(
            str(position_id), "LONG" if sign > 0 else "SHORT", entry, price, quantity, pnl))
        self._publish(topic, PositionClosed(
            self._uuid(), strategy.id, order.instrument_id, position_id, opening,
            order.client_order_id, entry_side, PositionSide.FLAT, Quantity(0, 0), Price(price),
            entry, price, Money(pnl), bar.ts_event))
        strategy.position = None


def run_backtest(bars: int = 300, seed: int = 7) -> tuple[BacktestEngine, EngineRecord]:
    engine = BacktestEngine()
    engine.add_strategy(SmaCross())
    return engine, engine.run(seeded_bars(bars, seed))
