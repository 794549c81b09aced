"""Signals. ``SignalDirection`` is a ``str`` enum whose values are lower case, so a SIGNAL
payload carries ``"long"``, ``"short"`` or ``"flat"``, and ``"long" == SignalDirection.LONG``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class SignalDirection(str, Enum):
    LONG = "long"
    SHORT = "short"
    FLAT = "flat"


@dataclass
class Signal:
    symbol: str
    direction: SignalDirection
    strength: int
    timestamp: Any
    strategy_id: str
    signal_type: str = "entry"
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "direction": self.direction.value,
            "strength": self.strength,
            "timestamp": self.timestamp.isoformat(),
            "strategy_id": self.strategy_id,
            "signal_type": self.signal_type,
            "metadata": self.metadata,
        }
