"""Synchronous, re-entrant event bus, as in ADMF-PC.

Handlers run on the publisher's thread inside ``publish``; a handler that publishes nests its
events depth-first inside the outer ``publish`` call.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from .types import Event, EventType

logger = logging.getLogger(__name__)

Handler = Callable[[Event], Any]
FilterFunc = Callable[[Event], bool]

_FILTER_REQUIRED = frozenset({EventType.SIGNAL.value, EventType.FILL.value})


class EventBus:
    def __init__(self, bus_id: str | None = None) -> None:
        self.bus_id = bus_id or f"bus_{uuid.uuid4().hex[:8]}"
        self._subscribers: dict[str, list[tuple[Handler, FilterFunc | None]]] = defaultdict(list)
        self._observers: list[Any] = []
        self._lock = threading.RLock()
        self._correlation_id: str | None = None
        self._event_count = 0
        self._error_count = 0
        self._counts_by_type: Counter[str] = Counter()

    def publish(self, event: Event) -> None:
        with self._lock:
            self._event_count += 1
            self._counts_by_type[event.event_type] += 1
            if "event_id" not in event.metadata:
                event.metadata["event_id"] = f"{event.event_type}_{uuid.uuid4().hex[:8]}"
            if self._correlation_id and not event.correlation_id:
                event.correlation_id = self._correlation_id
            self._notify("on_publish", event)
            deliveries = self._subscribers.get(event.event_type, []) + self._subscribers.get(
                "*", []
            )
            for handler, filter_func in deliveries:
                try:
                    if filter_func is not None and not filter_func(event):
                        continue
                    handler(event)
                except Exception as exc:
                    self._error_count += 1
                    logger.exception("Handler %r failed on %s", handler, event.event_type)
                    self._notify("on_error", event, handler, exc)
                else:
                    self._notify("on_delivered", event, handler)

    def _notify(self, method: str, *args: Any) -> None:
        # Observer failures are logged and swallowed like handler failures.
        for observer in self._observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                logger.exception("Observer %r failed in %s", observer, method)

    def subscribe(
        self, event_type: str, handler: Handler, filter_func: FilterFunc | None = None
    ) -> None:
        if isinstance(event_type, EventType):
            event_type = event_type.value
        if event_type in _FILTER_REQUIRED and filter_func is None:
            raise ValueError(f"Subscriptions to {event_type} require a filter_func")
        with self._lock:
            self._subscribers[event_type].append((handler, filter_func))

    def subscribe_to_signals(self, handler: Handler, strategy_ids: Iterable[str]) -> None:
        wanted = set(strategy_ids)
        self.subscribe(
            EventType.SIGNAL.value,
            handler,
            filter_func=lambda e: e.payload.get("strategy_id") in wanted,
        )

    def unsubscribe(self, event_type: str, handler: Handler) -> None:
        if isinstance(event_type, EventType):
            event_type = event_type.value
        with self._lock:
            subs = self._subscribers.get(event_type, [])
            subs[:] = [(h, f) for h, f in subs if h != handler]

    def subscribe_all(self, handler: Handler) -> None:
        with self._lock:
            self._subscribers["*"].append((handler, None))

    def unsubscribe_all(self, handler: Handler) -> None:
        self.unsubscribe("*", handler)

    def clear(self) -> None:
        with self._lock:
            self._subscribers.clear()
            self._event_count = 0
            self._error_count = 0
            self._counts_by_type.clear()

    def attach_observer(self, observer: Any) -> None:
        with self._lock:
            self._observers.append(observer)

    def detach_observer(self, observer: Any) -> None:
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def set_correlation_id(self, correlation_id: str) -> None:
        self._correlation_id = correlation_id

    def get_stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "bus_id": self.bus_id,
                "event_count": self._event_count,
                "error_count": self._error_count,
                "events_by_type": dict(self._counts_by_type),
                "subscriber_count": sum(len(s) for s in self._subscribers.values()),
                "event_types": [t for t, s in self._subscribers.items() if s],
                "observer_count": len(self._observers),
            }
