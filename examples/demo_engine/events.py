"""Event vocabulary of the demo engine.

The shapes mirror ADMF-PC's ``src.core.events.types`` on purpose: the tracing package is
written against that shape, so the demo must look the same from the outside, quirks
included (``EventType`` is a plain ``Enum``, not a ``str`` enum, and ``Event.event_type``
is annotated ``str`` although the data feed publishes the enum member).

>>> event = Event(event_type=EventType.SIGNAL.value, payload={"symbol": "SPY"})
>>> event.event_id.startswith("evt_")
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from os import urandom
from typing import Any

__all__ = ["Event", "EventType"]


class EventType(Enum):
    """Kinds of event; publishers normally send the ``.value`` string."""

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
    return f"evt_{urandom(6).hex()}"


@dataclass
class Event:
    """One message on the bus.

    Mutable (and so unhashable) like ADMF-PC's: the bus stamps ``sequence_number`` and
    ``metadata['event_id']`` in place, and handlers may mutate the payload after publish.
    """

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
