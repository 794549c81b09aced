"""Market data: bars from a seeded random walk or a CSV file, streamed as BAR events.

Synthetic closes follow a geometric Brownian motion on 5-minute bars; each symbol gets
its own generator seeded from ``(seed, symbol)``, so adding a symbol leaves the others'
series unchanged. A CSV file holds one symbol, with the header
``timestamp,open,high,low,close,volume`` and ISO 8601 timestamps.

>>> bars = synthetic_bars("SPY", 3, seed=1)
>>> [bar.timestamp.strftime("%H:%M") for bar in bars]
['09:30', '09:35', '09:40']
"""

from __future__ import annotations

import csv
import heapq
import math
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from .containers import Component, Container
from .events import Event, EventType

__all__ = ["CSV_HEADER", "Bar", "BarFeed", "DataError", "load_csv_bars", "synthetic_bars"]

CSV_HEADER = ("timestamp", "open", "high", "low", "close", "volume")
FIRST_BAR_TIME = datetime(2024, 1, 2, 9, 30)
BAR_INTERVAL = timedelta(minutes=5)


class Bar(NamedTuple):
    """One OHLCV bar; its ``_asdict()`` is the BAR payload."""

    symbol: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class DataError(ValueError):
    """Bars that cannot be read; the message names the file and line."""


def synthetic_bars(
    symbol: str,
    count: int,
    seed: int,
    *,
    start_price: float = 100.0,
    volatility: float = 0.002,
    median_volume: float = 50_000,
    volume_sigma: float = 0.8,
) -> list[Bar]:
    """``count`` bars of a driftless geometric Brownian motion with log-normal volume.

    ``volatility`` is the standard deviation of one bar's log return. The volume spread
    is wide enough that a few bars are too thin to absorb a standard order.
    """
    rng = random.Random(f"{seed}:{symbol}")
    log_drift = -0.5 * volatility**2  # keeps the expected price flat
    wick = 0.5 * volatility
    bars = []
    close = start_price
    for index in range(count):
        open_ = close
        close = open_ * math.exp(log_drift + volatility * rng.gauss(0.0, 1.0))
        high = max(open_, close) * (1.0 + abs(rng.gauss(0.0, wick)))
        low = min(open_, close) * (1.0 - abs(rng.gauss(0.0, wick)))
        volume = int(median_volume * rng.lognormvariate(0.0, volume_sigma))
        bars.append(
            Bar(
                symbol,
                FIRST_BAR_TIME + index * BAR_INTERVAL,
                round(open_, 2),
                round(high, 2),
                round(low, 2),
                round(close, 2),
                volume,
            )
        )
    return bars


def load_csv_bars(path: str | Path, symbol: str, limit: int | None = None) -> list[Bar]:
    """Read up to ``limit`` bars of ``symbol`` from ``path``; rows must be in time order."""
    path = Path(path)
    bars: list[Bar] = []
    with path.open(newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None or tuple(name.strip().lower() for name in header) != CSV_HEADER:
            raise DataError(f"{path}:1: expected the header {','.join(CSV_HEADER)}, got {header}")
        for row in reader:
            if limit is not None and len(bars) >= limit:
                break
            if not any(cell.strip() for cell in row):
                continue
            try:
                bar = _parse_row(row, symbol)
                if bars and not bar.timestamp > bars[-1].timestamp:
                    raise ValueError(f"timestamp {bar.timestamp} is not after the previous row's")
            except (ValueError, TypeError) as exc:
                raise DataError(f"{path}:{reader.line_num}: {exc}") from None
            bars.append(bar)
    return bars


def _parse_row(row: list[str], symbol: str) -> Bar:
    if len(row) != len(CSV_HEADER):
        raise ValueError(f"expected {len(CSV_HEADER)} fields, got {len(row)}: {row}")
    stamp, *numbers = (cell.strip() for cell in row)
    try:
        timestamp = datetime.fromisoformat(stamp)
    except ValueError:
        raise ValueError(f"timestamp {stamp!r} is not ISO 8601") from None
    values = []
    for name, text in zip(CSV_HEADER[1:], numbers, strict=True):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name} {text!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} {text!r} must be a finite, non-negative number")
        values.append(value)
    open_, high, low, close, volume = values
    if high < max(open_, close) or low > min(open_, close):
        raise ValueError(f"high {high} and low {low} do not bracket open {open_}, close {close}")
    return Bar(symbol, timestamp, open_, high, low, close, volume)


class BarFeed(Component):
    """Data component: streams every symbol's bars in time order, one BAR event each.

    Bars are loaded in ``initialize`` so that ``execute`` is only the publish loop.
    ``csv_paths`` maps symbols to files; other symbols get synthetic bars. ``bars``
    caps the bars per symbol (``None`` reads whole files; synthetic data needs a count).
    """

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        bars: int | None = 2000,
        seed: int = 42,
        csv_paths: Mapping[str, str | Path] | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("BarFeed needs at least one symbol")
        self.symbols = tuple(symbols)
        self.bar_count = bars
        self.seed = seed
        self.csv_paths = dict(csv_paths or {})
        self.bars: list[Bar] = []
        self.published = 0

    def initialize(self, container: Container) -> None:
        super().initialize(container)
        series = [self._load(symbol) for symbol in self.symbols]
        # merge is stable, so simultaneous bars keep the symbols' order
        self.bars = list(heapq.merge(*series, key=attrgetter("timestamp")))

    def _load(self, symbol: str) -> list[Bar]:
        path = self.csv_paths.get(symbol)
        if path is not None:
            return load_csv_bars(path, symbol, self.bar_count)
        if self.bar_count is None:
            raise ValueError(f"no CSV for {symbol!r}: synthetic bars need a bar count")
        return synthetic_bars(symbol, self.bar_count, self.seed)

    def execute(self) -> None:
        # Like ADMF-PC's data handlers: straight onto the bus, with the EventType member
        # (not its value) as event_type and the bar time only in the payload.
        publish = self.container.event_bus.publish
        container_id = self.container.container_id
        source_id = self.container.name
        for bar in self.bars:
            publish(
                Event(
                    event_type=EventType.BAR,  # type: ignore[arg-type]
                    payload=bar._asdict(),
                    source_id=source_id,
                    container_id=container_id,
                    timestamp=None,
                )
            )
            self.published += 1
