"""The Bollinger Bands mean-reversion rule: -1 at or above the upper band, 1 at or below
the lower band, else 0 (a signal on every bar, not only on changes)."""

from __future__ import annotations

import statistics
from typing import Any


def bands(closes: list[float], std_dev: float) -> tuple[float, float, float]:
    middle = statistics.fmean(closes)
    width = std_dev * statistics.pstdev(closes, middle)
    return middle + width, middle, middle - width


def bollinger_bands(closes: list[float], bar: Any, std_dev: float) -> dict[str, Any]:
    upper, middle, lower = bands(closes, std_dev)
    price = bar.close
    signal_value = -1 if price >= upper else 1 if price <= lower else 0
    return {
        "signal_value": signal_value,
        "metadata": {
            "price": price,
            "upper_band": upper,
            "middle_band": middle,
            "lower_band": lower,
            "band_width": upper - lower,
            "band_position": (price - lower) / (upper - lower) if upper != lower else 0.5,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
        },
    }
