"""A data feed: lines read at ``[0]`` (the current bar), dates as backtrader's floats
(days since 0001-01-01, plus one) turned into datetimes by ``datetime.datetime(0)``;
named by ``cerebro.adddata(data, name=...)`` (``_name``) and numbered (``_id``)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any


def date2num(when: datetime) -> float:
    return float(when.toordinal()) + (when - datetime.combine(when.date(), datetime.min.time())
                                      ) / timedelta(days=1)


def num2date(number: float) -> datetime:
    day = int(number)
    return datetime.fromordinal(day) + timedelta(days=number - day)


class Line:
    def __init__(self, feed: PriceFeed, values: list[float]) -> None:
        self._feed, self.array = feed, values

    def __getitem__(self, ago: int) -> float:
        return self.array[self._feed.index + ago]


class DateLine(Line):
    def datetime(self, ago: int = 0) -> datetime:
        return num2date(self[ago])


class PriceFeed:
    """Seeded random-walk daily OHLCV bars."""

    def __init__(self, bars: int = 300, seed: int = 7, start: date = date(2015, 1, 2)) -> None:
        rng = random.Random(seed)
        price, rows = 100.0, []
        for i in range(bars):
            open_ = price
            price = max(1.0, price * (1 + rng.gauss(0, 0.015)))
            high = max(open_, price) * (1 + abs(rng.gauss(0, 0.004)))
            low = min(open_, price) * (1 - abs(rng.gauss(0, 0.004)))
            when = datetime.combine(start + timedelta(days=i), datetime.min.time())
            rows.append((date2num(when), open_, high, low, price, 1000.0 + i))
        self.index = -1
        self._name = ""
        self._id = 1
        columns = list(zip(*rows, strict=True))
        self.datetime = DateLine(self, list(columns[0]))
        self.open, self.high, self.low, self.close, self.volume = (
            Line(self, list(c)) for c in columns[1:])
        self.bars = bars

    def advance(self) -> bool:
        if self.index + 1 >= self.bars:
            return False
        self.index += 1
        return True

    def __len__(self) -> int:
        return self.index + 1

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - a missing line
        raise AttributeError(name)
