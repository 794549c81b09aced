"""Synchronous publish/subscribe bus: one per topology, shared by every container.

``publish`` runs every handler on the caller's thread, under one re-entrant lock, before
it returns. Handlers publish further events from inside their handler, so a BAR's
``publish`` call contains the whole SIGNAL -> ORDER -> FILL -> POSITION_* cascade it
causes: the dispatch stack is the causation chain.

>>> bus = EventBus()
>>> seen = []
>>> bus.subscribe("BAR", seen.append)
>>> bus.publish(Event(event_type=EventType.BAR, payload={"close": 1.0}))
>>> seen[0].sequence_number, seen[0].metadata["event_id"].startswith("BAR_")
(1, True)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from os import urandom
from typing import Any, Protocol

from .events import Event, EventType

__all__ = ["BusObserver", "EventBus", "EventFilter", "Handler", "event_type_key"]

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Any]
EventFilter = Callable[[Event], bool]
_Subscription = tuple[Handler, EventFilter | None]

WILDCARD = "*"
# Every portfolio sees every SIGNAL and FILL on the shared bus; without a filter a
# portfolio would trade on another strategy's signals or book another portfolio's fills.
_FILTER_REQUIRED = frozenset({EventType.SIGNAL.value, EventType.FILL.value})


class BusObserver(Protocol):
    """Sees every publish and every handler outcome (this is where tracing plugs in).

    Observer exceptions are not caught: an observer must not raise.
    """

    def on_publish(self, event: Event) -> None: ...

    def on_delivered(self, event: Event, handler: Handler) -> None: ...

    def on_error(self, event: Event, handler: Handler, error: Exception) -> None: ...


def event_type_key(event_type: EventType | str) -> str:
    """The dispatch key of an event type: the enum's value, or the string itself."""
    return event_type.value if isinstance(event_type, EventType) else event_type


class EventBus:
    """Routes events to handlers by type, behind optional per-subscription filters."""

    def __init__(self, bus_id: str | None = None) -> None:
        self.bus_id = bus_id or f"bus_{urandom(4).hex()}"
        self._lock = threading.RLock()
        # Tuples are replaced, never mutated, so a handler may (un)subscribe while the
        # bus iterates a snapshot, and publish needs no copy.
        self._subscriptions: dict[str, tuple[_Subscription, ...]] = {}
        self._observers: tuple[BusObserver, ...] = ()
        self._correlation_id: str | None = None
        self._sequence = 0
        self._published_by_type: dict[str, int] = {}
        self._handler_errors = 0

    # -- publishing ---------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to observers, then exact-type handlers, then ``'*'`` handlers.

        The event's ``event_type`` is left as given (enum member or string); only
        ``sequence_number``, ``metadata['event_id']`` (when missing) and, if a
        correlation id is set, a missing ``correlation_id`` are stamped on it.
        """
        event_type = event.event_type
        key = event_type.value if isinstance(event_type, EventType) else event_type
        with self._lock:
            metadata = event.metadata
            if "event_id" not in metadata:
                metadata["event_id"] = f"{key}_{urandom(4).hex()}"
            self._sequence += 1
            event.sequence_number = self._sequence
            if self._correlation_id is not None and event.correlation_id is None:
                event.correlation_id = self._correlation_id
            counts = self._published_by_type
            counts[key] = counts.get(key, 0) + 1

            observers = self._observers
            for observer in observers:
                observer.on_publish(event)
            subscriptions = self._subscriptions
            exact = subscriptions.get(key)
            if exact:
                self._deliver(event, exact, observers)
            wildcard = subscriptions.get(WILDCARD)
            if wildcard:
                self._deliver(event, wildcard, observers)

    def _deliver(
        self,
        event: Event,
        subscriptions: tuple[_Subscription, ...],
        observers: tuple[BusObserver, ...],
    ) -> None:
        for handler, accepts in subscriptions:
            try:
                if accepts is not None and not accepts(event):
                    continue
                handler(event)
            except Exception as error:
                # One failing handler must not stop the others or the publisher.
                self._handler_errors += 1
                logger.exception(
                    "handler %r failed on %s event %s",
                    handler,
                    event_type_key(event.event_type),
                    event.event_id,
                )
                for observer in observers:
                    observer.on_error(event, handler, error)
            else:
                for observer in observers:
                    observer.on_delivered(event, handler)

    # -- subscriptions ------------------------------------------------------------------

    def subscribe(
        self,
        event_type: EventType | str,
        handler: Handler,
        filter_func: EventFilter | None = None,
    ) -> None:
        """Call ``handler`` for each event of ``event_type`` that ``filter_func`` accepts."""
        key = event_type_key(event_type)
        if filter_func is None and key in _FILTER_REQUIRED:
            raise ValueError(
                f"subscribing to {key} requires a filter_func "
                "(e.g. on payload['strategy_id'] or payload['order_id'])"
            )
        with self._lock:
            self._subscriptions[key] = (*self._subscriptions.get(key, ()), (handler, filter_func))

    def subscribe_to_signals(self, handler: Handler, strategy_ids: Iterable[str]) -> None:
        """Subscribe ``handler`` to the SIGNALs of the given strategies only."""
        wanted = frozenset(strategy_ids)

        def from_wanted_strategy(event: Event) -> bool:
            return event.payload.get("strategy_id") in wanted

        self.subscribe(EventType.SIGNAL, handler, from_wanted_strategy)

    def unsubscribe(self, event_type: EventType | str, handler: Handler) -> None:
        """Remove every subscription of ``handler`` (compared with ``==``) to ``event_type``.

        Equality, not identity: bound methods are recreated on each attribute access, and
        a transparent proxy stored in place of a handler compares equal to the original.
        """
        key = event_type_key(event_type)
        with self._lock:
            current = self._subscriptions.get(key, ())
            kept = tuple(sub for sub in current if not (sub[0] is handler or sub[0] == handler))
            if kept:
                self._subscriptions[key] = kept
            else:
                self._subscriptions.pop(key, None)

    def subscribe_all(self, handler: Handler) -> None:
        """Call ``handler`` for every event, after the exact-type handlers."""
        self.subscribe(WILDCARD, handler)

    def unsubscribe_all(self, handler: Handler) -> None:
        """Undo :meth:`subscribe_all`."""
        self.unsubscribe(WILDCARD, handler)

    def clear(self) -> None:
        """Drop every subscription (observers and statistics are kept)."""
        with self._lock:
            self._subscriptions = {}

    # -- observers, correlation, statistics ---------------------------------------------

    def attach_observer(self, observer: BusObserver) -> None:
        with self._lock:
            if observer not in self._observers:
                self._observers = (*self._observers, observer)

    def detach_observer(self, observer: BusObserver) -> None:
        with self._lock:
            self._observers = tuple(o for o in self._observers if o is not observer)

    def set_correlation_id(self, correlation_id: str | None) -> None:
        """Stamp ``correlation_id`` on later events that carry none (``None`` stops it)."""
        with self._lock:
            self._correlation_id = correlation_id

    def get_stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "bus_id": self.bus_id,
                "events_published": self._sequence,
                "events_by_type": dict(self._published_by_type),
                "handler_errors": self._handler_errors,
                "subscriptions": {key: len(subs) for key, subs in self._subscriptions.items()},
                "observers": len(self._observers),
            }
