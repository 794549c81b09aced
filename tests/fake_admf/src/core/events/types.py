"""Event types and the mutable ``Event`` dataclass, as in ADMF-PC."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class EventType(Enum):
    """A plain Enum (not a str enum): publishers use the ``.value`` strings."""

    BAR = "BAR"
    TICK = "TICK"
    FEATURES = "FEATURES"
    SIGNAL = "SIGNAL"
    ORDER_REQUEST = "ORDER_REQUEST"
    ORDER = "ORDER"
    FILL = "FILL"
    PORTFOLIO_UPDATE = "PORTFOLIO_UPDATE"
    POSITION_UPDATE = "POSITION_UPDATE"
    POSITION_OPEN = "POSITION_OPEN"
    POSITION_CLOSE = "POSITION_CLOSE"
    SYSTEM_START = "SYSTEM_START"
    SYSTEM_STOP = "SYSTEM_STOP"
    ERROR = "ERROR"
    REGIME_CHANGE = "REGIME_CHANGE"
    RISK_BREACH = "RISK_BREACH"
    CLASSIFICATION = "CLASSIFICATION"


def _new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex[:12]}"


@dataclass
class Event:
    """Mutable, so unhashable; ``==`` compares all fields."""

    event_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None
    container_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    timestamp: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=_new_event_id)
    sequence_number: int | None = None
    target_container: str | None = None
