"""The compiled decision table the publish path asks before touching anything else.

The key is what the event object already holds, read with one ``attrgetter`` call:
``(container_id, source_id, event_type)``. A miss resolves the policy once (normalising
Enum or str event types, falling back from container to source) and caches the answer,
so an event that is not traced costs one tuple and one dict lookup.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from ..config import TracingConfig
from ..retain.buffer import ContainerBuffer, Retention

logger = logging.getLogger(__name__)

#: More distinct keys than this means ids are not what we think; stop caching new ones.
MAX_ROUTES = 8192
UNKNOWN_CONTAINER = "unknown"


class Route:
    """Where a traced event goes and how much of it is recorded."""

    __slots__ = ("container", "event_type", "buffer", "handler_spans", "payload_snapshot")

    def __init__(
        self, container: str, event_type: str, buffer: ContainerBuffer, debug: bool
    ) -> None:
        self.container = container
        self.event_type = event_type
        self.buffer = buffer
        self.handler_spans = debug
        self.payload_snapshot = debug


def event_type_name(raw: Any) -> str:
    """Enum members and strings alike become the wire name (``EventType.BAR`` -> ``BAR``)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, enum.Enum):
        value = raw.value
        return value if isinstance(value, str) else raw.name
    return str(raw)


class DecisionTable:
    """``lookup(key)`` -> Route (traced), None (not traced) or MISS (ask ``resolve``)."""

    MISS: Any = object()

    def __init__(
        self,
        config: TracingConfig,
        retention: Retention,
        fields: tuple[str, str, str] = ("container_id", "source_id", "event_type"),
    ) -> None:
        self._config = config
        self._retention = retention
        self._routes: dict[tuple[Any, ...], Route | None] = {}
        self._lock = threading.Lock()
        self.key_of: Callable[[Any], tuple[Any, ...]] = attrgetter(*fields)
        self.lookup = self._routes.get
        self._overflow_logged = False

    def resolve(self, key: tuple[Any, ...]) -> Route | None:
        """The miss path: decide once for this key and remember it."""
        container_raw, source_raw, type_raw = key
        container = container_raw or source_raw or UNKNOWN_CONTAINER
        if not isinstance(container, str):
            container = str(container)
        event_type = event_type_name(type_raw)
        policy = self._config.policy_for(container)
        route: Route | None = None
        if policy.traces(event_type.upper()):
            buffer = self._retention.buffer_for(container, policy.max_events)
            route = Route(container, event_type, buffer, policy.handler_spans)
        with self._lock:
            if len(self._routes) < MAX_ROUTES:
                self._routes[key] = route
            elif not self._overflow_logged:
                self._overflow_logged = True
                logger.warning(
                    "tradetrace: more than %d distinct (container, event type) keys; "
                    "new ones are decided on every publish", MAX_ROUTES,
                )
        return route

    def __len__(self) -> int:
        return len(self._routes)
