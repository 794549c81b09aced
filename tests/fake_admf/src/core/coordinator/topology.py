"""The backtest topology: containers, the components doing the work, and their wiring.

BAR (data) -> SIGNAL (strategy) -> ORDER (portfolio) -> FILL (execution) -> POSITION_OPEN /
POSITION_CLOSE (portfolio), all nested inside the BAR's ``publish``.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from ..containers.container import Container
from ..events.types import Event, EventType

try:  # ADMF-PC's SIGNAL timestamps are pandas Timestamps; fall back to datetime without pandas.
    import pandas as pd
except ImportError:  # pragma: no cover - depends on the environment
    pd = None

BAR_INTERVAL = timedelta(minutes=5)
FIRST_BAR = datetime(2024, 1, 2, 9, 30)
DEFAULT_STRATEGIES = [{"name": "sma_crossover", "fast": 3, "slow": 15}]


def _event(container: Container, event_type: EventType, payload: dict, timestamp: Any) -> Event:
    """Events as ADMF-PC's producers make them: no correlation or causation id."""
    return Event(
        event_type=event_type.value,
        payload=payload,
        source_id=container.name,
        container_id=container.container_id,
        timestamp=timestamp,
    )


class BarStreamer:
    """Seeded random-walk bars, published straight on ``container.event_bus``."""

    def __init__(self, symbol: str, bars: int, seed: int) -> None:
        self.symbol, self.bars, self.seed = symbol, bars, seed
        self.bars_published = 0

    def attach(self, container: Container) -> None:
        self.container = container

    def execute(self) -> None:
        rng = random.Random(self.seed)
        price = 470.0
        for i in range(self.bars):
            close = round(price * (1 + rng.gauss(0, 0.0015)), 2)
            payload = {
                "symbol": self.symbol,
                "timestamp": FIRST_BAR + i * BAR_INTERVAL,
                "open": price,
                "high": round(max(price, close) * (1 + abs(rng.gauss(0, 0.0005))), 2),
                "low": round(min(price, close) * (1 - abs(rng.gauss(0, 0.0005))), 2),
                "close": close,
                "volume": rng.randint(50_000, 500_000),
            }
            # The quirk: BAR carries timestamp=None; the bar time is only in the payload.
            self.container.event_bus.publish(_event(self.container, EventType.BAR, payload, None))
            self.bars_published += 1
            price = close


class SmaCrossStrategy:
    """Signals on every bar after warm-up: LONG while fast SMA > slow SMA, else FLAT."""

    def __init__(self, name: str, fast: int = 3, slow: int = 15) -> None:
        self.strategy_id, self.fast, self.slow = name, fast, slow
        self.closes: deque[float] = deque(maxlen=slow)

    def attach(self, container: Container) -> None:
        self.container = container
        container.event_bus.subscribe(EventType.BAR.value, self.on_bar)

    def cleanup(self) -> None:
        self.container.event_bus.unsubscribe(EventType.BAR.value, self.on_bar)

    def on_bar(self, event: Event) -> None:
        bar = event.payload
        self.closes.append(bar["close"])
        if len(self.closes) < self.slow:
            return
        slow_ma = sum(self.closes) / len(self.closes)
        fast_ma = sum(list(self.closes)[-self.fast :]) / self.fast
        payload = {
            "symbol": bar["symbol"],
            "direction": "LONG" if fast_ma > slow_ma else "FLAT",
            "strength": round(abs(fast_ma - slow_ma) / slow_ma, 6),
            "strategy_id": self.strategy_id,
            "price": bar["close"],
        }
        signal_time = pd.Timestamp(bar["timestamp"]) if pd is not None else bar["timestamp"]
        self.container.publish_event(_event(self.container, EventType.SIGNAL, payload, signal_time))


class Portfolio:
    """Long/flat book for one strategy: orders on direction changes, positions on fills."""

    def __init__(self, strategy_id: str, quantity: int = 100) -> None:
        self.strategy_id, self.quantity = strategy_id, quantity
        self.direction: str | None = None
        self.position: dict[str, Any] | None = None
        self.open_orders: dict[str, tuple[dict[str, Any], datetime]] = {}
        self.trades: list[dict[str, Any]] = []

    def attach(self, container: Container) -> None:
        self.container = container
        bus = container.event_bus
        bus.subscribe_to_signals(self.on_signal, [self.strategy_id])
        bus.subscribe(EventType.FILL.value, self.on_fill, filter_func=self._is_own_fill)

    def cleanup(self) -> None:
        self.container.event_bus.unsubscribe(EventType.SIGNAL.value, self.on_signal)
        self.container.event_bus.unsubscribe(EventType.FILL.value, self.on_fill)

    def _is_own_fill(self, event: Event) -> bool:
        return event.payload.get("order_id") in self.open_orders

    def on_signal(self, event: Event) -> None:
        direction = event.payload["direction"]
        if direction == self.direction:
            return
        self.direction = direction
        if (direction == "LONG") == (self.position is not None):
            return
        ts: Any = event.timestamp  # a pandas Timestamp or a datetime
        bar_time = ts.to_pydatetime() if hasattr(ts, "to_pydatetime") else ts
        order = {
            "order_id": f"ord_{uuid.uuid4().hex[:8]}",
            "side": "BUY" if direction == "LONG" else "SELL",
            "quantity": self.quantity,
            "price": event.payload["price"],
            "symbol": event.payload["symbol"],
            "metadata": {"strategy_id": self.strategy_id},
        }
        self.open_orders[order["order_id"]] = (order, bar_time)
        self.container.publish_event(_event(self.container, EventType.ORDER, order, bar_time))

    def on_fill(self, event: Event) -> None:
        fill = event.payload
        order, bar_time = self.open_orders.pop(fill["order_id"])
        # The quirk: the ORDER payload, already published, is mutated in place.
        order["status"] = "FILLED"
        order["fill_id"] = fill["fill_id"]
        if fill["side"] == "BUY":
            self.position = {
                "symbol": fill["symbol"],
                "quantity": fill["quantity"],
                "entry_price": fill["price"],
                "strategy_id": self.strategy_id,
            }
            payload, event_type = dict(self.position), EventType.POSITION_OPEN
        else:
            position, self.position = self.position or {}, None
            pnl = (fill["price"] - position["entry_price"]) * fill["quantity"]
            payload = {
                **position,
                "exit_price": fill["price"],
                "realized_pnl": round(pnl, 2),
                "exit_type": "signal",
                "exit_reason": "strategy signal turned FLAT",
            }
            event_type = EventType.POSITION_CLOSE
            self.trades.append(dict(payload, portfolio=self.container.name, exit_time=bar_time))
        self.container.publish_event(_event(self.container, event_type, payload, bar_time))


class SimulatedBroker:
    """Fills every ORDER at its price at once; FILL carries the wall clock."""

    def attach(self, container: Container) -> None:
        self.container = container
        container.event_bus.subscribe(EventType.ORDER.value, self.on_order)

    def cleanup(self) -> None:
        self.container.event_bus.unsubscribe(EventType.ORDER.value, self.on_order)

    def on_order(self, event: Event) -> None:
        order = event.payload
        fill = {
            "fill_id": f"fill_{uuid.uuid4().hex[:8]}",
            "order_id": order["order_id"],
            "symbol": order["symbol"],
            "side": order["side"],
            "quantity": order["quantity"],
            "price": order["price"],
        }
        self.container.publish_event(_event(self.container, EventType.FILL, fill, datetime.now()))


class TopologyBuilder:
    def build_topology(self, definition: dict[str, Any]) -> dict[str, Any]:
        """``definition``: ``{'mode': 'backtest', 'config': {...}}``; returns the topology."""
        mode = definition.get("mode", "backtest")
        if mode != "backtest":
            raise ValueError(f"Unknown topology {mode!r}; only 'backtest' exists in this fake")
        config = definition.get("config", {})
        symbol, timeframe = config.get("symbol", "SPY"), config.get("timeframe", "5m")
        root = Container({"type": "root", "name": "root"})
        containers = {"root": root}

        def add(container_type: str, name: str, *components: Any) -> None:
            container = Container({"type": container_type, "name": name}, root.event_bus)
            for component in components:
                container.add_component(component)
            containers[name] = container

        streamer = BarStreamer(symbol, config.get("bars", 500), config.get("seed", 1))
        add("data", f"{symbol}_{timeframe}_{timeframe}_data", streamer)
        strategies = config.get("strategies", DEFAULT_STRATEGIES)
        add("strategy", "strategy", *(SmaCrossStrategy(**s) for s in strategies))
        portfolios = [Portfolio(s["name"], config.get("quantity", 100)) for s in strategies]
        for portfolio in portfolios:
            add("portfolio", f"portfolio_{portfolio.strategy_id}", portfolio)
        add("execution", "execution", SimulatedBroker())
        return {
            "name": mode,
            "root": root,
            "event_bus": root.event_bus,
            "containers": containers,
            "data": streamer,
            "portfolios": portfolios,
        }
