"""Moving-average crossover strategies: BAR in, one SIGNAL per bar after warm-up.

The signal is a state, not a trade: ``direction`` is +1 while the fast average is above
the slow one, -1 while below (0 when equal). Portfolios trade on its changes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .containers import Component, Container
from .events import Event, EventType

__all__ = ["DEFAULT_STRATEGIES", "MovingAverageCrossover", "StrategySpec"]


@dataclass(frozen=True)
class StrategySpec:
    """A crossover strategy: its id and its two window lengths, in bars."""

    strategy_id: str
    fast: int
    slow: int

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise ValueError(
                f"{self.strategy_id}: need 0 < fast < slow, got {self.fast}, {self.slow}"
            )


DEFAULT_STRATEGIES = (StrategySpec("ma_5_20", 5, 20), StrategySpec("ma_10_40", 10, 40))


class _MovingAverages:
    """Running fast and slow means of one symbol's closes, O(1) per bar."""

    __slots__ = ("_closes", "_fast", "_fast_sum", "_slow", "_slow_sum")

    def __init__(self, fast: int, slow: int) -> None:
        self._closes: deque[float] = deque()
        self._fast = fast
        self._slow = slow
        self._fast_sum = 0.0
        self._slow_sum = 0.0

    def update(self, close: float) -> tuple[float, float] | None:
        """Add a close; return (fast mean, slow mean) once the slow window is full."""
        closes = self._closes
        closes.append(close)
        self._fast_sum += close
        self._slow_sum += close
        count = len(closes)
        if count > self._fast:
            self._fast_sum -= closes[-self._fast - 1]
        if count > self._slow:
            self._slow_sum -= closes.popleft()
        elif count < self._slow:
            return None
        return self._fast_sum / self._fast, self._slow_sum / self._slow


class MovingAverageCrossover(Component):
    """Strategy component: subscribes to BAR, publishes SIGNAL."""

    def __init__(self, spec: StrategySpec) -> None:
        self.spec = spec
        self.signals = 0
        self._averages: dict[str, _MovingAverages] = {}

    def initialize(self, container: Container) -> None:
        super().initialize(container)
        self._averages.clear()
        self.subscribe(EventType.BAR.value, self._on_bar)

    def _on_bar(self, event: Event) -> None:
        bar = event.payload
        symbol = bar["symbol"]
        averages = self._averages.get(symbol)
        if averages is None:
            averages = self._averages[symbol] = _MovingAverages(self.spec.fast, self.spec.slow)
        close = bar["close"]
        means = averages.update(close)
        if means is None:
            return
        fast, slow = means
        direction = 1 if fast > slow else -1 if fast < slow else 0
        bar_time = bar["timestamp"]
        self.signals += 1
        self.container.publish_event(
            Event(
                event_type=EventType.SIGNAL.value,
                payload={
                    "symbol": symbol,
                    "direction": direction,
                    "strength": abs(fast - slow) / slow,
                    "strategy_id": self.spec.strategy_id,
                    "price": close,
                    "timestamp": bar_time,
                },
                timestamp=bar_time,
            )
        )
