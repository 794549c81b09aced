"""Trace levels and what each one traces for a container.

A level is a preset of a :class:`ContainerPolicy`. The config resolves one policy per
container (global level, then the most specific glob override); the publish path asks a
compiled table built from these policies, and :class:`~tradetrace.decide.sampler.TraceLevelSampler`
asks the same policies for spans made with the plain OpenTelemetry API.
"""

from __future__ import annotations

import difflib
import enum
import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


class TraceLevel(enum.IntEnum):
    """How much of a container's activity becomes spans."""

    NONE = 0  #: nothing traced; at the global level nothing is even patched
    MINIMAL = 1  #: order-lifecycle events only (production monitoring)
    NORMAL = 2  #: every event (development)
    DEBUG = 3  #: every event, every handler call, payload snapshots

    @classmethod
    def parse(cls, value: object) -> TraceLevel:
        """Accept a member, its name in any case, or its number; raise ValueError otherwise."""
        if isinstance(value, TraceLevel):
            return value
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        raise ValueError(f"unknown trace level {value!r}")


LEVEL_NAMES = ", ".join(level.name.lower() for level in TraceLevel)

#: Events that make up an order's life; the only ones traced at MINIMAL.
ORDER_LIFECYCLE: frozenset[str] = frozenset(
    {
        "ORDER_REQUEST",
        "ORDER",
        "FILL",
        "POSITION_OPEN",
        "POSITION_CLOSE",
        "POSITION_UPDATE",
        "RISK_BREACH",
        "ERROR",
    }
)

#: Event types known without being declared: ADMF-PC's ``EventType`` values (the demo
#: engine publishes the same), MINIMAL's order lifecycle and the built-in trade rules'
#: among them. A config naming another type (an override's ``events``) must declare it
#: in ``tracing.event_types`` or give it a role in ``tracing.trades``; else it is taken
#: for a typo and refused with the closest known name.
BUILTIN_EVENT_TYPES: frozenset[str] = ORDER_LIFECYCLE | {
    "BAR",
    "TICK",
    "FEATURES",
    "SIGNAL",
    "PORTFOLIO_UPDATE",
    "SYSTEM_START",
    "SYSTEM_STOP",
    "REGIME_CHANGE",
    "CLASSIFICATION",
}

EVENT_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def parse_event_types(raw: Any, path: str) -> frozenset[str]:
    """``tracing.event_types``: a system's own event types, in upper case."""
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise ConfigError(path, raw, "a list of event type names, e.g. [MY_EVENT]")
    for i, name in enumerate(raw):
        if not isinstance(name, str) or not EVENT_TYPE_NAME.match(name):
            raise ConfigError(f"{path}[{i}]", name,
                              "an event type name: a letter, then letters, digits or _")
    return frozenset(name.upper() for name in raw)


def check_known_event_type(event: str, path: str, known: frozenset[str]) -> None:
    """An event type nothing declares is most likely a typo: refused, naming the closest
    known one."""
    if event.upper() in known:
        return
    close = difflib.get_close_matches(event.upper(), sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ConfigError(
        path, event,
        "a known event type (" + ", ".join(sorted(known)) + ") or one declared in "
        "tracing.event_types",
        f"unknown event type{hint}",
    )


#: MINIMAL's own container rules, applied before the user's overrides.
MINIMAL_OFF_GLOBS: tuple[str, ...] = ("data_*", "strategy_*")

#: Spans one container may hold in memory before they are handed to the exporter
#: (ADMF-PC's own defaults at NORMAL); never a cap on what is written.
NORMAL_MAX_EVENTS: dict[str, int] = {
    "data": 1000,
    "strategy": 1000,
    "execution": 5000,
    "portfolio": 10000,
}
DEFAULT_MAX_EVENTS = 5000
DEBUG_MAX_EVENTS = 50000


@dataclass(frozen=True)
class ContainerPolicy:
    """What is traced for one container."""

    level: TraceLevel
    max_events: int
    events: frozenset[str] | None = None  #: event types traced; None means all
    handler_spans: bool = False
    payload_snapshot: bool = False

    @property
    def traced(self) -> bool:
        return self.level is not TraceLevel.NONE and self.events != frozenset()

    def traces(self, event_type: str) -> bool:
        """True when an event of this type published by this container becomes a span."""
        if self.level is TraceLevel.NONE:
            return False
        return self.events is None or event_type in self.events


def container_kind(container_id: str) -> str:
    """`portfolio_1a2b3c4d` -> `portfolio`: the prefix that names the container's role."""
    return container_id.split("_", 1)[0]


def preset(
    level: TraceLevel,
    container_id: str,
    *,
    max_events: int | None = None,
    events: frozenset[str] | None = None,
    lifecycle: frozenset[str] = ORDER_LIFECYCLE,
) -> ContainerPolicy:
    """The policy a level gives a container, with optional explicit settings on top;
    ``lifecycle``: MINIMAL's events (the order lifecycle, in the traced system's names)."""
    if level is TraceLevel.DEBUG:
        default_cap = DEBUG_MAX_EVENTS
    else:
        default_cap = NORMAL_MAX_EVENTS.get(container_kind(container_id), DEFAULT_MAX_EVENTS)
    if events is None and level is TraceLevel.MINIMAL:
        off = any(fnmatch.fnmatchcase(container_id, glob) for glob in MINIMAL_OFF_GLOBS)
        events = frozenset() if off else lifecycle
    return ContainerPolicy(
        level=level,
        max_events=max_events if max_events is not None else default_cap,
        events=events,
        handler_spans=level is TraceLevel.DEBUG,
        payload_snapshot=level is TraceLevel.DEBUG,
    )
