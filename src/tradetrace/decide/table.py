"""The compiled decision table the publish path asks before touching anything else.

Two levels, both dicts keyed by what the event object already holds:
``by_type[event.event_type]`` is None when no container traces that type (MINIMAL's BAR
and SIGNAL stop here, after one lookup), else a dict ``container_id -> Route | None``.
A miss resolves the policy once (normalising Enum or str event types, falling back from
container to source id) and caches the answer.

Bounded, whatever ids the traced system makes up: at most ``MAX_CONTAINERS`` containers
get a buffer of their own and at most ``MAX_ROUTES`` decisions are cached. Past either
cap, events of a container seen for the first time go to the container
``tradetrace.overflow`` (``OVERFLOW_CONTAINER``: one route per event type, decided by
that container's policy), without deciding anything: the per-type dict answers the miss
itself (``_Containers.__missing__``), so publishing stays O(1). Said once in the log,
and counted in ``DecisionTable.overflow_events``.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..config import TracingConfig
from ..model.events import DEFAULT_ADAPTER, EventAdapter
from ..model.record import EVENT, F_METADATA, KEPT_AT_NORMAL, KEPT_FIELDS, TALLY
from ..model.route import Route
from ..model.snapshot import snapshot
from ..retain.buffer import ContainerBuffer, ContainerBuffers
from ..retain.signals import SignalReader
from ..retain.trades import TradeRules

logger = logging.getLogger(__name__)

#: Containers with a buffer of their own; events of further containers go to the
#: overflow container. (A parameter sweep may run hundreds of portfolios; a system
#: that puts an order id where the container id goes would make millions.)
MAX_CONTAINERS = 1024
#: Cached decisions ((event type, container id or source id) keys) and routes made.
MAX_ROUTES = 16384
#: Event types with an overflow route of their own; any further type shares one more.
MAX_OVERFLOW_TYPES = 256
OVERFLOW_CONTAINER = "tradetrace.overflow"
UNKNOWN_CONTAINER = "unknown"
_MISS: Any = object()


def event_type_name(raw: Any) -> str:
    """Enum members and strings alike become the wire name (``EventType.BAR`` -> ``BAR``)."""
    if raw.__class__ is str:
        return raw
    if isinstance(raw, enum.Enum):  # before str: `class EventType(str, Enum)` is both
        raw = raw.value if isinstance(raw.value, str) else raw.name
    # a plain str, never a subclass: the encoder writes plain strings as they are
    return str.__str__(raw) if isinstance(raw, str) else str(raw)


class _Containers(dict[Any, Route | None]):
    """``container id -> Route | None`` for one event type, as cached by the table.

    The publish path looks a container up with ``[]``: a miss calls ``__missing__``,
    which says MISS (decide it) until the table is full, then gives the type's overflow
    route at once, so that made-up ids cost a dict miss rather than a decision."""

    __slots__ = ("table", "fallback")

    def __init__(self, table: DecisionTable) -> None:
        super().__init__()
        self.table = table
        self.fallback: Route | None = _MISS  #: the overflow route, once the table is full

    def __missing__(self, key: Any) -> Route | None:
        fallback = self.fallback
        if fallback is _MISS:
            return _MISS
        table = self.table
        if table._size < MAX_ROUTES and key is not None and (
            key if key.__class__ is str else str(key)
        ) in table._buffers:
            return _MISS  # a known container's first event of this type: its own route
        table.overflow_events += 1  # from any publishing thread: a count, not a ledger
        return fallback


class DecisionTable:
    MISS: Any = _MISS

    def __init__(
        self,
        config: TracingConfig,
        buffers: ContainerBuffers,
        adapter: EventAdapter = DEFAULT_ADAPTER,
    ) -> None:
        self._config = config
        self._container_buffers = buffers
        self._type_of = adapter.getter("event_type")
        self._container_of = adapter.getter("container_id", strict=False)
        self._source_of = adapter.getter("source_id", strict=False)
        self._keep_normal = adapter.getters(KEPT_FIELDS[:KEPT_AT_NORMAL])
        self._keep_debug = _keep_with_metadata(adapter.getters(KEPT_FIELDS))
        self._keep_signal = _keep_signal_fields(
            adapter.getter("payload", strict=False), config.trade_rules)
        self.by_type: dict[Any, _Containers | None] = {}
        self.routes: list[Route] = []  #: every route made, for metrics (bounded: reused)
        self.overflow_events = 0  #: events of containers past the caps (overflow container)
        self._by_source: dict[tuple[Any, Any], Route | None] = {}
        self._size = 0  #: decisions cached in by_type and _by_source
        self._buffers: dict[str, ContainerBuffer] = {}  #: containers with their own buffer
        self._made: dict[tuple[Any, ...], Route] = {}  #: routes by what they are, for reuse
        self._overflow: dict[str, Route | None] = {}  #: event type -> its overflow route
        self._lock = threading.Lock()
        self._full_logged = False

    def reconfigure(self, config: TracingConfig) -> None:
        """Decide by ``config`` from now on (a level changed at run time). The caches are
        emptied in place: the patched publish holds their ``get`` methods. Routes are
        made again as needed; one that comes out the same as before is reused, so
        levels going back and forth add none."""
        with self._lock:
            self._config = config
            self.by_type.clear()
            self._by_source.clear()
            self._overflow.clear()
            self._size = 0

    def resolve(self, event: Any) -> Route | None:
        """The miss path: decide once for this (type, container) and remember it."""
        type_raw = self._type_of(event)
        container_raw = self._container_of(event)
        source_raw = self._source_of(event)
        event_type = event_type_name(type_raw)
        container = container_raw or source_raw or UNKNOWN_CONTAINER
        container = container if isinstance(container, str) else str(container)
        with self._lock:  # decided and cached under one config (reconfigure waits)
            if not self._config.may_trace(event_type.upper()):
                self._cache(self.by_type, type_raw, None)
                return None
            containers = self.by_type.get(type_raw)
            if containers is None and len(self.by_type) < MAX_ROUTES:
                # also for events decided by their source id: the publish path then
                # finds the type and asks by source, rather than deciding each time
                containers = self.by_type[type_raw] = _Containers(self)
            route, overflow = self._route(container, event_type)
            if overflow:
                self.overflow_events += 1
                if containers is not None:
                    containers.fallback = route  # from now on, without deciding
            elif container_raw is None:  # decided by the source id: cache by (type, source)
                self._cache(self._by_source, (type_raw, source_raw), route)
            elif containers is not None:
                self._cache(containers, container_raw, route)
            say = (overflow or self._size >= MAX_ROUTES) and not self._full_logged
            self._full_logged = self._full_logged or say
        if say:  # logged outside the lock: a log handler may publish on the traced bus
            logger.warning(
                "tradetrace: more than %d containers or %d routes; events of containers "
                "seen from now on are recorded in container %r (counted in stats "
                "'overflow_events'): are ids made up per event?",
                MAX_CONTAINERS, MAX_ROUTES, OVERFLOW_CONTAINER)
        return route

    def resolve_by_source(self, event: Any) -> Route | None:
        """Events without a container id: looked up by (type, source id)."""
        type_raw = self._type_of(event)
        source_raw = self._source_of(event)
        route = self._by_source.get((type_raw, source_raw), _MISS)
        if route is _MISS:
            containers = self.by_type.get(type_raw)
            if containers is not None:  # past the caps, the overflow route
                route = containers.__missing__(source_raw)
            if route is _MISS:
                route = self.resolve(event)
        return route

    def _route(self, container: str, event_type: str) -> tuple[Route | None, bool]:
        """(this container's route for this type, False), or (the overflow container's,
        True) once the caps are reached; the route is None if the policy does not trace
        the type."""
        if container not in self._buffers and len(self._buffers) >= MAX_CONTAINERS:
            return self._overflow_route(event_type), True
        policy = self._config.policy_for(container)
        tally = False
        if not policy.traces(event_type.upper()):
            if not self._config.counts_signal(policy, event_type.upper()):
                return None, False
            tally = True  # a signal the level does not trace: counted, never a span
        route = self._make(container, event_type, policy, create=len(self._made) < MAX_ROUTES,
                           tally=tally)
        if route is _MISS:
            return self._overflow_route(event_type), True
        return route, False

    def _overflow_route(self, event_type: str) -> Route | None:
        route = self._overflow.get(event_type, _MISS)
        if route is _MISS:
            policy = self._config.policy_for(OVERFLOW_CONTAINER)
            if not policy.traces(event_type.upper()):
                route = None
            elif len(self._overflow) < MAX_OVERFLOW_TYPES:
                route = self._make(OVERFLOW_CONTAINER, event_type, policy)
            else:  # made-up event types as well: they share one more route
                return self._make(OVERFLOW_CONTAINER, OVERFLOW_CONTAINER, policy)
            self._overflow[event_type] = route
        return route

    def _make(self, container: str, event_type: str, policy: Any, create: bool = True,
              tally: bool = False) -> Any:
        """A new route (MISS if not ``create``), or the same one as before if a level went
        back and forth."""
        debug = policy.handler_spans and not tally
        rules = self._config.trade_rules
        role = rules.role(event_type.upper()) if rules is not None else None
        retention = self._config.retention_for(container)
        key: tuple[Any, ...] = (container, event_type, debug, role, retention, tally)
        try:
            route = self._made.get(key)
        except TypeError:  # a retention policy that cannot be hashed: never reused
            route, key = None, (container, event_type, debug, role, id(retention), tally)
        if route is None:
            if not create:
                return _MISS
            buffer = self._buffers.get(container)
            if buffer is None:
                buffer = self._buffers[container] = self._container_buffers.buffer_for(
                    container, policy.max_events)
            keep = (self._keep_signal if tally else self._keep_debug if debug
                    else self._keep_normal)
            route = Route(container, event_type, buffer, debug, keep, role, retention,
                          TALLY if tally else EVENT)
            self._made[key] = route
            self.routes.append(route)
        return route

    def _cache(self, mapping: dict[Any, Any], key: Any, value: Any) -> bool:
        """Remember a decision, if there is room (under the lock)."""
        if self._size >= MAX_ROUTES:
            return False
        self._size += 1
        mapping[key] = value
        return True

    def __len__(self) -> int:
        return self._size


def _keep_with_metadata(keep: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], tuple[Any, ...]]:
    """DEBUG keeps the event's metadata dict for the encoder: a snapshot of it, as it
    was when its publish returned, not as the traced code changes it later."""

    def keep_debug(event: Any) -> tuple[Any, ...]:
        fields = keep(event)
        metadata = fields[F_METADATA]
        if metadata is None:
            return fields
        return (*fields[:F_METADATA], snapshot(metadata))

    return keep_debug


def _keep_signal_fields(payload_of: Callable[[Any], Any], rules: Any
                        ) -> Callable[[Any], tuple[Any, ...]]:
    """What a counted signal keeps, read when its publish returns: (direction, strategy,
    symbol) for the signal metrics (retain/signals.py); nothing else of it is recorded."""
    reader = SignalReader(rules or TradeRules())

    def keep_signal(event: Any) -> tuple[Any, ...]:
        return reader.fields(payload_of(event))

    return keep_signal
