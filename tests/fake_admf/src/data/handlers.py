"""Publishes BARs of a deterministic series made in code (no data files).

ADMF-PC's shape: the BAR event has ``timestamp=None``; the bar time is in
``payload['timestamp']`` (a tz-aware pandas Timestamp) beside the ``Bar`` object itself
and two bar indices; ``source_id`` is ``data_<symbol>``; the handler publishes straight on
``container.event_bus``. Bars are five-minute bars of regular US sessions
(13:30-20:00 UTC, weekdays), as in ADMF-PC's ``SPY_5m`` data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from ..core.events.types import Event, EventType
from .models import Bar

try:  # ADMF-PC's bar times are pandas Timestamps; datetimes do without pandas.
    import pandas as pd
except ImportError:  # pragma: no cover - depends on the environment
    pd = None

FIRST_SESSION = datetime(2024, 1, 2, 13, 30, tzinfo=timezone.utc)
BAR_INTERVAL = timedelta(minutes=5)
BARS_PER_SESSION = 78  # 09:30-16:00 New York


def session_times(start: datetime = FIRST_SESSION) -> Iterator[datetime]:
    day = start
    while True:
        if day.weekday() < 5:
            for i in range(BARS_PER_SESSION):
                yield day + i * BAR_INTERVAL
        day += timedelta(days=1)


def generate_bars(symbol: str, count: int, seed: int, price: float = 470.0) -> list[Bar]:
    """A seeded random walk; high and low reach past open and close like real 5m bars."""
    rng = random.Random(seed)
    bars = []
    times = session_times()
    for _ in range(count):
        when = next(times)
        close = round(price * (1 + rng.gauss(0, 0.0008)), 2)
        high = round(max(price, close) * (1 + abs(rng.gauss(0, 0.0003))), 2)
        low = round(min(price, close) * (1 - abs(rng.gauss(0, 0.0003))), 2)
        stamp: Any = pd.Timestamp(when) if pd is not None else when
        volume = float(rng.randint(50_000, 500_000))
        bars.append(Bar(symbol, stamp, price, high, low, close, volume))
        price = close
    return bars


class SimpleHistoricalDataHandler:
    def __init__(self, symbol: str, bars: int, seed: int) -> None:
        self.symbol = symbol
        self.bars = generate_bars(symbol, bars, seed)
        self.bars_published = 0
        self.container: Any = None

    def set_container(self, container: Any) -> None:
        self.container = container

    def execute(self) -> None:
        for index, bar in enumerate(self.bars):
            self.container.event_bus.publish(Event(
                event_type=EventType.BAR.value,
                payload={
                    "symbol": self.symbol,
                    "timestamp": bar.timestamp,
                    "bar": bar,
                    "original_bar_index": index,
                    "split_bar_index": index + 1,
                },
                source_id=f"data_{self.symbol}",
                container_id=self.container.container_id,
                timestamp=None,
            ))
            self.bars_published += 1
