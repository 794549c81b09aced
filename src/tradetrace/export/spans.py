"""Records become spans: the event -> span mapping (our trading conventions).

Runs on the export worker, never on the publishing thread. For each record it assigns
ids (lazily: a child may be built before its parent finishes), reads the event's fields
and the payload snapshot, and produces a :class:`SpanData` that the encoders turn into
OTLP JSON or SDK ``ReadableSpan`` objects. ``docs/conventions.md`` documents the result.

Trace shape:
- an event published while another traced event is dispatched is its child (causation
  from dispatch nesting); an event with no traced cause starts a trace of its own;
- that root event links to the run span it happened in (correlation: the run);
- an event whose explicit ``causation_id`` names an event other than its parent links to
  it (causation across traces);
- handler spans (DEBUG) are children of their event; lifecycle steps are children of
  the run (or of the enclosing lifecycle step).
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind

from .. import conventions as conv
from ..capture.profile import EVENT_FIELDS
from ..capture.record import (
    END,
    ERROR,
    EVENT,
    HANDLER,
    IDS,
    KIND,
    LIFECYCLE,
    PARENT,
    ROUTE,
    RUN,
    SNAPSHOT,
    START,
    SUBJECT,
    Record,
)
from .attributes import SKIP, flatten, to_attribute

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2

#: Span attribute <- the first payload key present (dotted keys look into nested dicts).
PAYLOAD_ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (conv.SYMBOL, ("symbol",)),
    (conv.SIDE, ("side",)),
    (conv.QUANTITY, ("quantity", "qty")),
    (conv.PRICE, ("price", "fill_price", "close")),
    (conv.ORDER_ID, ("order_id",)),
    (conv.FILL_ID, ("fill_id",)),
    (conv.STRATEGY_ID, ("strategy_id", "metadata.strategy_id")),
    (conv.DIRECTION, ("direction",)),
    (conv.STATUS, ("status",)),
    (conv.ENTRY_PRICE, ("entry_price",)),
    (conv.EXIT_PRICE, ("exit_price",)),
    (conv.REALIZED_PNL, ("realized_pnl",)),
    (conv.EXIT_TYPE, ("exit_type",)),
    (conv.EXIT_REASON, ("exit_reason",)),
)

#: Explicit causation ids are rare (ADMF-PC never sets them): index recent events only
#: once one has been seen, and keep at most this many.
CAUSATION_INDEX_SIZE = 65536


class SpanData:
    """One finished span, independent of any SDK or wire format."""

    __slots__ = (
        "name", "trace_id", "span_id", "parent_id", "start", "end", "kind",
        "attributes", "links", "events", "status", "status_message",
    )

    def __init__(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int,
        start: int,
        end: int,
        attributes: list[tuple[str, Any]],
        links: list[tuple[int, int, list[tuple[str, Any]]]] | None = None,
        events: list[tuple[str, int, list[tuple[str, Any]]]] | None = None,
        status: int = STATUS_UNSET,
        status_message: str = "",
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> None:
        self.name = name
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.start = start
        self.end = end
        self.kind = kind
        self.attributes = attributes
        self.links = links or []
        self.events = events or []
        self.status = status
        self.status_message = status_message

    def attribute(self, key: str, default: Any = None) -> Any:
        for k, v in self.attributes:
            if k == key:
                return v
        return default


class SpanBuilder:
    """Turns finished records into :class:`SpanData` (export worker only)."""

    def __init__(self, run_id: str, event_fields: Mapping[str, str] = EVENT_FIELDS) -> None:
        self.run_id = run_id
        self._field = {name: event_fields.get(name, name) for name in EVENT_FIELDS}
        self._rand = random.Random()
        self._causation_index: dict[str, tuple[int, int]] | None = None

    def reseed(self) -> None:
        """After ``fork`` the child must not repeat the parent's ids."""
        self._rand = random.Random()

    def build(self, record: Record) -> SpanData:
        kind = record[KIND]
        if kind is EVENT:
            return self._event(record)
        if kind is HANDLER:
            return self._handler(record)
        return self._step(record)

    # ids -----------------------------------------------------------------------------
    def ids(self, record: Record) -> tuple[int, int]:
        ids = record[IDS]
        if ids is None:
            parent = record[PARENT]
            span_id = self._rand.getrandbits(64) or 1
            if parent is not None and (record[KIND] is not EVENT or parent[KIND] is EVENT):
                trace_id = self.ids(parent)[0]
            else:
                trace_id = self._rand.getrandbits(128) or 1
            ids = record[IDS] = (trace_id, span_id)
        return ids

    def _parent_id(self, record: Record) -> int:
        parent = record[PARENT]
        if parent is None or (record[KIND] is EVENT and parent[KIND] is not EVENT):
            return 0
        return self.ids(parent)[1]

    # spans ---------------------------------------------------------------------------
    def _event(self, record: Record) -> SpanData:
        route = record[ROUTE]
        event = record[SUBJECT]
        field = self._field
        payload = record[SNAPSHOT]
        if not isinstance(payload, Mapping):
            payload = {}
        trace_id, span_id = self.ids(record)
        attrs: list[tuple[str, Any]] = [
            (conv.EVENT_TYPE, route.event_type),
            (conv.CONTAINER_ID, route.container),
        ]
        add = attrs.append
        event_id = _read(event, field["event_id"])
        if event_id is not None:
            add((conv.EVENT_ID, event_id))
        for key, name in (
            (conv.SOURCE_ID, "source_id"),
            (conv.EVENT_SEQUENCE, "sequence_number"),
            (conv.TARGET_CONTAINER, "target_container"),
        ):
            value = _read(event, field[name])
            if value is not None:
                add((key, value))
        metadata = _read(event, field["metadata"])
        if isinstance(metadata, Mapping) and metadata.get("event_id") is not None:
            add((conv.EVENT_BUS_ID, metadata["event_id"]))
        when = _read(event, field["timestamp"])
        if when is None:
            when = payload.get("timestamp")
        if when is not None:
            add((conv.SIM_TIME, when))

        for attr, keys in PAYLOAD_ATTRIBUTES:
            for key in keys:
                value = _lookup(payload, key)
                if value is not None:
                    add((attr, value))
                    break

        links: list[tuple[int, int, list[tuple[str, Any]]]] = []
        parent = record[PARENT]
        parent_event = parent[SUBJECT] if parent is not None and parent[KIND] is EVENT else None
        parent_event_id = _read(parent_event, field["event_id"]) if parent_event is not None else None
        explicit = _read(event, field["causation_id"])
        if explicit is not None:
            add((conv.CAUSATION_ID, explicit))
            self._link_cause(explicit, parent_event_id, links)
        elif parent_event_id is not None:
            add((conv.CAUSATION_ID, parent_event_id))
            add((conv.CAUSATION_DERIVED, True))
        if self._causation_index is not None and isinstance(event_id, str):
            self._remember(event_id, (trace_id, span_id))
        correlation = _read(event, field["correlation_id"])
        add((conv.CORRELATION_ID, correlation if correlation is not None else self.run_id))

        if parent_event is None:
            run = _enclosing_run(record)
            if run is not None:
                run_trace, run_span = self.ids(run)
                links.append((run_trace, run_span, [(conv.LINK_RELATION, conv.RELATION_CORRELATION),
                                                    (conv.CORRELATION_ID, self.run_id)]))
        if route.payload_snapshot and payload:
            attrs.extend(flatten(conv.PAYLOAD_PREFIX, payload))
        return self._finish(route.event_type, record, trace_id, span_id, attrs, links)

    def _handler(self, record: Record) -> SpanData:
        route = record[ROUTE]
        handler = record[SUBJECT]
        name = _qualname(handler)
        trace_id, span_id = self.ids(record)
        parent_event = record[PARENT][SUBJECT]
        attrs: list[tuple[str, Any]] = [
            (conv.HANDLER_NAME, name),
            (conv.EVENT_TYPE, route.event_type),
            (conv.CONTAINER_ID, route.container),
        ]
        event_id = _read(parent_event, self._field["event_id"])
        if event_id is not None:
            attrs.append((conv.EVENT_ID, event_id))
        return self._finish(name, record, trace_id, span_id, attrs, [])

    def _step(self, record: Record) -> SpanData:
        name, attrs = record[ROUTE]
        trace_id, span_id = self.ids(record)
        return self._finish(name, record, trace_id, span_id, list(attrs), [])

    def _finish(
        self,
        name: str,
        record: Record,
        trace_id: int,
        span_id: int,
        attrs: list[tuple[str, Any]],
        links: list[tuple[int, int, list[tuple[str, Any]]]],
    ) -> SpanData:
        clean = []
        for key, value in attrs:
            value = to_attribute(value)
            if value is not SKIP:
                clean.append((key, value))
        status, message, events = STATUS_UNSET, "", []
        error = record[ERROR]
        if error is not None:
            status = STATUS_ERROR
            message = f"{type(error).__name__}: {error}"
            events.append(("exception", record[END], _exception_attributes(error)))
        return SpanData(
            name, trace_id, span_id, self._parent_id(record), record[START], record[END],
            clean, links, events, status, message,
        )

    def _link_cause(
        self, cause: Any, parent_event_id: Any, links: list[tuple[int, int, list[tuple[str, Any]]]]
    ) -> None:
        if cause == parent_event_id:
            return
        if self._causation_index is None:
            self._causation_index = {}
            return
        target = self._causation_index.get(cause) if isinstance(cause, str) else None
        if target is not None:
            links.append((target[0], target[1], [(conv.LINK_RELATION, conv.RELATION_CAUSATION),
                                                 (conv.CAUSATION_ID, cause)]))

    def _remember(self, event_id: str, ids: tuple[int, int]) -> None:
        index = self._causation_index
        assert index is not None
        if len(index) >= CAUSATION_INDEX_SIZE:
            for stale in list(index)[: CAUSATION_INDEX_SIZE // 4]:
                del index[stale]
        index[event_id] = ids


def _read(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # a property of the traced code that raises
        return None


def _lookup(payload: Mapping[str, Any], key: str) -> Any:
    if "." not in key:
        return payload.get(key)
    outer, inner = key.split(".", 1)
    nested = payload.get(outer)
    return nested.get(inner) if isinstance(nested, Mapping) else None


def _enclosing_run(record: Record) -> Record | None:
    parent = record[PARENT]
    while parent is not None:
        if parent[KIND] is RUN:
            return parent
        parent = parent[PARENT]
    return None


def _qualname(handler: Any) -> str:
    name = getattr(handler, "__qualname__", None)
    if isinstance(name, str):
        return name
    return type(handler).__qualname__


def _exception_attributes(error: BaseException) -> list[tuple[str, Any]]:
    cls = type(error)
    qualified = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return [
        ("exception.type", qualified),
        ("exception.message", str(error)),
        ("exception.stacktrace", "".join(traceback.format_exception(cls, error, error.__traceback__))),
    ]


__all__ = ["SpanBuilder", "SpanData", "LIFECYCLE", "RUN"]
