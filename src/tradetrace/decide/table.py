"""The compiled decision table the publish path asks before touching anything else.

Two levels, both plain dicts keyed by what the event object already holds:
``by_type[event.event_type]`` is None when no container traces that type (MINIMAL's BAR
and SIGNAL stop here, after one lookup), else a dict ``container_id -> Route | None``.
A miss resolves the policy once (normalising Enum or str event types, falling back from
container to source id) and caches the answer.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from ..capture.profile import EVENT_FIELDS
from ..capture.record import KEPT_AT_NORMAL, KEPT_FIELDS
from ..config import DEFAULT_RETENTION, TracingConfig
from ..retain.buffer import ContainerBuffer, Retention
from ..retain.policy import RetentionPolicy

logger = logging.getLogger(__name__)

#: More distinct keys than this means ids are not what we think (an id per event, say):
#: new keys then share one overflow container per event type, so memory stays bounded.
MAX_ROUTES = 8192
UNKNOWN_CONTAINER = "unknown"
#: The container of events whose (type, container) key came past MAX_ROUTES.
OVERFLOW_CONTAINER = "tradetrace.overflow"


class Route:
    """Where a traced event goes and how much of it is recorded."""

    __slots__ = (
        "container", "event_type", "buffer", "handler_spans", "payload_snapshot", "keep",
        "role", "retention", "seen",
    )

    def __init__(
        self,
        container: str,
        event_type: str,
        buffer: ContainerBuffer,
        debug: bool,
        keep: Callable[[Any], tuple[Any, ...]],
        role: str | None = None,
        retention: RetentionPolicy = DEFAULT_RETENTION,
    ) -> None:
        self.container = container
        self.event_type = event_type
        self.buffer = buffer
        self.handler_spans = debug
        self.payload_snapshot = debug
        self.keep = keep  #: event -> the fields its record keeps (capture/record.py)
        self.role = role  #: what the event does to a trade (retain/trades.py), if anything
        self.retention = retention  #: the container's retention policy (retain/policy.py)
        self.seen = 0  #: events recorded through this route (export worker; for metrics)


def event_type_name(raw: Any) -> str:
    """Enum members and strings alike become the wire name (``EventType.BAR`` -> ``BAR``)."""
    if raw.__class__ is str:
        return raw
    if isinstance(raw, enum.Enum):  # before str: `class EventType(str, Enum)` is both
        raw = raw.value if isinstance(raw.value, str) else raw.name
    # a plain str, never a subclass: the encoder writes plain strings as they are
    return str.__str__(raw) if isinstance(raw, str) else str(raw)


class DecisionTable:
    MISS: Any = object()

    def __init__(
        self,
        config: TracingConfig,
        retention: Retention,
        fields: tuple[str, str, str] = ("event_type", "container_id", "source_id"),
        event_fields: Mapping[str, str] = EVENT_FIELDS,
    ) -> None:
        self._config = config
        self._retention = retention
        self._type_field, self._container_field, self._source_field = fields
        names = [event_fields.get(name, name) for name in KEPT_FIELDS]
        self._keep_normal = attrgetter(*names[:KEPT_AT_NORMAL])
        self._keep_debug = attrgetter(*names)
        self.by_type: dict[Any, dict[Any, Route | None] | None] = {}
        self.routes: list[Route] = []  #: every route made, for metrics
        self._by_source: dict[tuple[Any, Any], Route | None] = {}
        self._size = 0
        self._lock = threading.Lock()
        self._overflow_logged = False
        self._generation = 0  #: bumped by reconfigure: decisions made before are stale
        #: past MAX_ROUTES: raw event type -> the overflow route (None: not traced)
        self._overflow: dict[Any, Route | None] = {}
        self.overflowed = 0  #: events decided past the cap (they went to the overflow)

    def reconfigure(self, config: TracingConfig) -> None:
        """Decide by ``config`` from now on (a level changed at run time). The caches are
        emptied in place: the patched publish holds their ``get`` methods."""
        with self._lock:
            self._config = config
            self._generation += 1
            self.by_type.clear()
            self._by_source.clear()
            self._overflow.clear()
            self._size = 0

    def resolve(self, event: Any) -> Route | None:
        """The miss path: decide once for this (type, container) and remember it."""
        generation = self._generation
        type_raw = getattr(event, self._type_field)
        if self._size >= MAX_ROUTES:  # the table is full: one route per type, no new key
            overflow = self._overflow.get(type_raw, self.MISS)
            if overflow is not self.MISS:
                self.overflowed += 1
                return overflow
        event_type = event_type_name(type_raw)
        if not self._config.may_trace(event_type.upper()):
            if self._size >= MAX_ROUTES:
                self._overflow[type_raw] = None
            self._remember(lambda: self.by_type.__setitem__(type_raw, None), generation)
            return None
        container_raw = getattr(event, self._container_field, None)
        source_raw = getattr(event, self._source_field, None)
        container = container_raw or source_raw or UNKNOWN_CONTAINER
        container = container if isinstance(container, str) else str(container)
        if self._size >= MAX_ROUTES:
            return self._overflow_route(type_raw, event_type)
        policy = self._config.policy_for(container)
        route: Route | None = None
        if policy.traces(event_type.upper()):
            buffer = self._retention.buffer_for(container, policy.max_events)
            debug = policy.handler_spans
            keep = self._keep_debug if debug else self._keep_normal
            rules = self._config.trade_rules
            role = rules.role(event_type.upper()) if rules is not None else None
            route = Route(container, event_type, buffer, debug, keep, role,
                          self._config.retention_for(container))
            self.routes.append(route)
        if container_raw is None:  # decided by the source id: cache by (type, source)
            self._remember(
                lambda: self._by_source.__setitem__((type_raw, source_raw), route), generation)
        else:
            self._remember(
                lambda: self._containers_of(type_raw).__setitem__(container_raw, route), generation)
        return route

    def _overflow_route(self, type_raw: Any, event_type: str) -> Route | None:
        """The one route of this type past MAX_ROUTES: its events keep their source id,
        and share the container ``tradetrace.overflow`` (its policy: the global level's)."""
        with self._lock:
            if type_raw in self._overflow:
                self.overflowed += 1
                return self._overflow[type_raw]
            policy = self._config.policy_for(OVERFLOW_CONTAINER)
            route: Route | None = None
            if policy.traces(event_type.upper()):
                debug = policy.handler_spans
                rules = self._config.trade_rules
                route = Route(
                    OVERFLOW_CONTAINER, event_type,
                    self._retention.buffer_for(OVERFLOW_CONTAINER, policy.max_events), debug,
                    self._keep_debug if debug else self._keep_normal,
                    rules.role(event_type.upper()) if rules is not None else None,
                    self._config.retention_for(OVERFLOW_CONTAINER))
                self.routes.append(route)
            self._overflow[type_raw] = route
            self.overflowed += 1
            if not self._overflow_logged:
                self._overflow_logged = True
                logger.warning(
                    "tradetrace: more than %d distinct (event type, container) keys: events "
                    "of new keys go to the container %s from now on (counted in "
                    "stats()['routes_overflowed'])", MAX_ROUTES, OVERFLOW_CONTAINER)
            return route

    def _containers_of(self, type_raw: Any) -> dict[Any, Route | None]:
        containers = self.by_type.get(type_raw)
        if containers is None:
            containers = self.by_type[type_raw] = {}
        return containers

    def resolve_by_source(self, event: Any) -> Route | None:
        """Events without a container id (rare): looked up by (type, source) each time."""
        key = (getattr(event, self._type_field), getattr(event, self._source_field, None))
        route = self._by_source.get(key, self.MISS)
        return self.resolve(event) if route is self.MISS else route

    def _remember(self, store: Any, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # decided under a config replaced meanwhile: decide again next time
            if self._size < MAX_ROUTES:
                self._size += 1
                store()

    def __len__(self) -> int:
        return self._size
