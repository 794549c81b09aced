"""A bar: a plain dataclass, carried as an object (not a dict) in the BAR payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Bar:
    symbol: str
    timestamp: Any  # a pandas Timestamp (UTC) in ADMF-PC
    open: float
    high: float
    low: float
    close: float
    volume: float
