"""Records become spans: the event -> span mapping (our trading conventions).

Runs on the export worker, never on the publishing thread. For each finished record it
assigns ids (lazily: a child may be encoded before its parent finishes), reads the
event's fields and the payload snapshot, and writes the span as OTLP JSON in one pass.
``docs/conventions.md`` documents the result.

Here: the event spans' common shape, encoded in one call by a compiled encoder
(``shapes.py``), the general encoder for every other span, and errors. The ids,
parents and links are ``trace_shape.py``'s; which attributes an event's span carries,
``event_attributes.py``'s; trade and summary spans, ``trade_spans.py``'s.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from .. import conventions as conv
from ..model.events import DEFAULT_ADAPTER, EventAdapter, as_adapter
from ..model.otlp_json import (
    STATUS_ERROR,
    Attributes,
    EncodingStats,
    escape,
    event_json,
    span_json,
)
from ..model.record import (
    END,
    ERROR,
    EVENT,
    F_CAUSATION,
    F_CORRELATION,
    F_EVENT_ID,
    F_SOURCE,
    F_TARGET,
    F_TIME,
    HANDLER,
    IDS,
    KEPT_FIELDS,
    KIND,
    PARENT,
    ROUTE,
    SNAPSHOT,
    START,
    SUBJECT,
    TRADE,
    Record,
)
from ..retain.tracked_trade import TrackedTrade
from .attributes import (
    MAX_STRING,
    SKIP,
    ConversionStats,
    HiddenKeys,
    Redaction,
    flatten,
    to_attribute,
)
from .correlation import Correlator
from .event_attributes import LOW_CARDINALITY, PLAIN, EventAttributes, number_text, plain_value
from .plain_values import handler_name, packed_error
from .shapes import compile_shape
from .trace_shape import TraceShape
from .trade_spans import TradeSpanEncoder

#: span_json()'s output for a span without links, events or status (most event spans)
_PLAIN_SPAN = (
    '{"traceId":"%s","spanId":"%s",%s"name":%s,"kind":1,'
    '"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[%s]}'
)


class SpanEncoder(TraceShape, EventAttributes):
    """Turns finished records into OTLP JSON span objects (export worker only)."""

    def __init__(
        self,
        run_id: str,
        adapter: EventAdapter | Mapping[str, str] = DEFAULT_ADAPTER,
        redaction: Redaction = Redaction(),  # noqa: B008 - frozen: one shared default
    ) -> None:
        self.run_id = run_id
        #: payload key -> whether DEBUG's snapshot writes its value as [REDACTED]
        self._hidden = HiddenKeys(redaction, conv.PAYLOAD_PREFIX)
        #: an event's kept fields read leniently (an event in flight, or lacking a field)
        self.adapter = adapter = as_adapter(adapter)
        self._read_kept = adapter.getters(KEPT_FIELDS, strict=False)
        #: parents and links by id (export/correlation.py), if the adapter names ids
        self.correlator = Correlator(adapter.correlate, self) if adapter.correlate else None
        self.attr = attr = Attributes(LOW_CARDINALITY)
        self._derived = attr(conv.CAUSATION_DERIVED, True)
        self._event_id_prefix = attr.prefix(conv.EVENT_ID) + '{"stringValue":'
        self._causation_prefix = attr.prefix(conv.CAUSATION_ID) + '{"stringValue":'
        self._sim_time_prefix = attr.prefix(conv.SIM_TIME) + '{"stringValue":'
        self._run_link = attr.many([
            (conv.LINK_RELATION, conv.RELATION_CORRELATION), (conv.CORRELATION_ID, run_id),
        ])
        self._root_parent: Record | None = None  #: the last root event's parent (the run or
        self._run_link_json = ""  #: a step in it) and that root's link to its run
        self._heads: dict[tuple[Any, Any], tuple[str, str]] = {}
        self._times: dict[Any, str] = {}  #: simulated time -> its attribute ("" if none)
        self._last_when: Any = None  #: the last simulated time encoded, and its attribute
        self._last_time = ""
        self._compiled: dict[tuple[Any, ...], Any] = {}
        self._plans: dict[tuple[Any, ...], tuple[tuple[Any, str, str | None, str], ...]] = {}
        self._rand = random.Random()
        self._ids_lock = threading.RLock()
        self._causation_index: dict[str, tuple[str, str]] | None = None
        self.trades = TradeSpanEncoder(attr, self._rand)

    def encode(self, record: Record) -> str:
        """A finished record's span. Most are event spans of the common shape, written
        here by their compiled encoder (shapes.py) in one call; the rest by _general()."""
        fields = record[SUBJECT]
        payload = record[SNAPSHOT]
        if not (
            record[KIND] is EVENT
            and fields.__class__ is tuple
            and payload.__class__ is dict
            and record[ERROR] is None
            and fields[F_EVENT_ID].__class__ is str
            and fields[F_CAUSATION] is None
            and fields[F_CORRELATION] is None
            and fields[F_TARGET] is None
            and self._causation_index is None
            and (self.correlator is None or not self.correlator.links
                 or record[IDS] is None or record[IDS][1] not in self.correlator.links)
        ):
            return self._general(record)
        when = fields[F_TIME]
        if when is None:
            when = payload.get("timestamp")
        text = ""
        if when is not None:
            text = self._last_time if when is self._last_when else self._time_attribute(when)
        parent = record[PARENT]
        caused = parent is not None and parent[KIND] is EVENT
        trade = record[TRADE]
        traded = trade.__class__ is TrackedTrade
        route = record[ROUTE]
        key = (route, fields[F_SOURCE], caused, text != "", traded, tuple(payload))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(key, payload)
        if compiled is False:
            return self._event(record)
        encoder, getter = compiled
        if caused:
            cause = parent[SUBJECT]
            last = (cause if cause.__class__ is tuple else self.kept(cause))[F_EVENT_ID]
            if last.__class__ is not str:
                return self._event(record)
            trace_id, parent_id = parent[IDS] or self.ids(parent)
        else:
            trace_id, parent_id = "", ""
            last = (self._run_link_json if parent is self._root_parent
                    else self._link_to_run(parent))
        ids = record[IDS]  # set already if a child was encoded first (parent in flight)
        if ids is None:
            if not caused:
                trace_id = (self._rand.getrandbits(128) or 1).to_bytes(16, "big").hex()
            span_id = (self._rand.getrandbits(64) or 1).to_bytes(8, "big").hex()
            ids = record[IDS] = (trace_id, span_id)
        trace_id, span_id = ids
        text = encoder(trace_id, span_id, parent_id, record[START], record[END],
                       trade.id if traded else None, fields[F_EVENT_ID], text, getter(payload),
                       last)
        return text if text is not None else self._event(record)  # values of other types

    def _general(self, record: Record) -> str:
        kind = record[KIND]
        if kind is EVENT:
            return self._event(record)
        if kind is HANDLER:
            return self._handler(record)
        return self._step(record)

    def kept(self, subject: Any) -> tuple[Any, ...]:
        """An event record's kept fields (model/record.py): the tuple the publish path
        stored, or, for an event in flight or one lacking a field, read from the event."""
        if subject.__class__ is tuple:
            return subject
        return self._read_kept(subject)

    # spans ---------------------------------------------------------------------------
    def _event(self, record: Record) -> str:
        """The general encoder: any event record."""
        route = record[ROUTE]
        fields = record[SUBJECT]
        if fields.__class__ is not tuple:
            fields = self.kept(fields)
        attr = self.attr.encode
        head, name_json = self._head(route, fields[F_SOURCE])
        trade = record[TRADE]  # a trade's span: its id goes first among attributes
        parts = [attr(conv.TRADE_ID, trade.id), head] if trade.__class__ is TrackedTrade else [head]
        add = parts.append

        event_id = fields[F_EVENT_ID]
        if event_id.__class__ is str:
            add(self._event_id_prefix + escape(event_id) + "}}")
        elif event_id is not None:
            add(attr(conv.EVENT_ID, event_id))
        target = fields[F_TARGET]
        if target is not None:
            add(attr(conv.TARGET_CONTAINER, target))
        if route.payload_snapshot:  # DEBUG: the bus's own ids too
            self._bus_ids(fields, add)

        payload = record[SNAPSHOT]
        if payload.__class__ is not dict and not isinstance(payload, Mapping):
            payload = {}
        when = fields[F_TIME]
        if when is None:
            when = payload.get("timestamp")
        if when is not None:
            stamp = self._last_time if when is self._last_when else self._time_attribute(when)
            if stamp:
                add(stamp)
        keys = tuple(payload)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plan(keys)
        for key, name, text, number in plan:
            value = payload[key]
            cls = value.__class__
            if cls is float and value - value == 0.0:  # finite: most prices and quantities
                add(number + repr(value) + "}}")
            elif cls is str and text is not None:  # an id: unique, so not worth caching
                add(text + escape(value if len(value) <= MAX_STRING else value[:MAX_STRING]) + "}}")
            elif value is None:
                ConversionStats.skip(value)
            else:
                if cls not in PLAIN:
                    value = to_attribute(value)
                    if value is SKIP:
                        continue
                elif cls is str and name in conv.NUMERIC:
                    value = number_text(value)
                add(attr(name, value))
        if "strategy_id" not in payload and "metadata" in payload:
            nested = payload["metadata"]
            if isinstance(nested, Mapping) and nested.get("strategy_id") is not None:
                add(attr(conv.STRATEGY_ID, plain_value(nested["strategy_id"])))

        parent = record[PARENT]
        caused = parent is not None and parent[KIND] is EVENT
        ids = record[IDS]
        if ids is None:  # the common case, inlined from ids()
            span_id = (self._rand.getrandbits(64) or 1).to_bytes(8, "big").hex()
            if caused:
                parent_ids = parent[IDS] or self.ids(parent)
                ids = record[IDS] = (parent_ids[0], span_id)
            else:
                trace_id = (self._rand.getrandbits(128) or 1).to_bytes(16, "big").hex()
                ids = record[IDS] = (trace_id, span_id)
        trace_id, span_id = ids
        links: list[str] = []
        cause = None
        if caused:
            cause = parent[SUBJECT]
            cause = (cause if cause.__class__ is tuple else self.kept(cause))[F_EVENT_ID]
        explicit = fields[F_CAUSATION]
        if explicit is not None:
            add(attr(conv.CAUSATION_ID, explicit))
            if explicit != cause:
                self._link_cause(explicit, links)
        elif cause.__class__ is str:
            add(self._causation_prefix + escape(cause) + "}}")
            add(self._derived)
        elif cause is not None:
            add(attr(conv.CAUSATION_ID, cause))
            add(self._derived)
        if self._causation_index is not None and isinstance(event_id, str):
            self._remember(event_id, (trace_id, span_id))
        correlation = fields[F_CORRELATION]
        if correlation is not None:  # else the run: on the resource, and linked below
            add(attr(conv.CORRELATION_ID, correlation))
        if not caused:
            run_link = self._link_to_run(parent)
            if run_link:
                links.append(run_link)
        if self.correlator is not None:
            links += self.correlator.links.pop(span_id, ())
        if route.payload_snapshot and payload:  # DEBUG: secret-looking keys are redacted
            parts.extend(
                attr(k, v) for k, v in flatten(conv.PAYLOAD_PREFIX, payload, hidden=self._hidden)
            )
        if record[ERROR] is None and not links:  # the common case, inlined from span_json()
            return _PLAIN_SPAN % (
                trace_id, span_id,
                '"parentSpanId":"' + parent[IDS][1] + '",' if caused else "",
                name_json, record[START], record[END], ",".join(parts),
            )
        return self._span(name_json, record, trace_id, span_id, parts, links)


    def _compile(self, key: tuple[Any, ...], payload: dict[Any, Any]) -> Any:
        """(encoder, getter of the mapped payload values) for spans like this one, or
        False where only the general encoder will do (DEBUG's payload snapshots, a nested
        metadata.strategy_id, or values of other types)."""
        route, source, caused, timed, traded, keys = key
        compiled: Any = False
        if not route.payload_snapshot and ("strategy_id" in keys or "metadata" not in keys):
            plan = self._plans.get(keys) or self._plan(keys)
            plan_keys = tuple(entry[0] for entry in plan)
            getter = _values_getter(plan_keys)
            values = getter(payload)
            if not any(entry[1] in conv.NUMERIC and value.__class__ is str
                       for entry, value in zip(plan, values)):  # (numbers held as text:
                head, name_json = self._head(route, source)  # the general encoder)
                encoder = compile_shape(
                    self.attr, self._derived, head, name_json,
                    tuple(entry[1] for entry in plan), values, caused, timed, traded,
                )
                if encoder is not None:
                    compiled = (encoder, getter)
        if len(self._compiled) >= 4096:
            self._compiled.clear()
            EncodingStats.cache_resets["compiled_shapes"] += 1
        self._compiled[key] = compiled
        return compiled


    def _handler(self, record: Record) -> str:
        route = record[ROUTE]
        name = handler_name(record[SUBJECT])
        event_id = self.kept(record[PARENT][SUBJECT])[F_EVENT_ID]
        attrs = [
            (conv.HANDLER_NAME, name),
            (conv.EVENT_TYPE, route.event_type),
            (conv.CONTAINER_ID, route.container),
        ]
        if event_id is not None:
            attrs.append((conv.EVENT_ID, plain_value(event_id)))
        trade = record[TRADE]
        if trade.__class__ is TrackedTrade:  # first among attributes, as on event spans
            attrs.insert(0, (conv.TRADE_ID, trade.id))
        trace_id, span_id = self.ids(record)
        return self._span(escape(name), record, trace_id, span_id, [self.attr.many(attrs)], [])

    def _step(self, record: Record) -> str:
        name, attrs = record[ROUTE]
        trace_id, span_id = self.ids(record)
        return self._span(escape(name), record, trace_id, span_id, [self.attr.many(attrs)], [])

    def _span(
        self, name_json: str, record: Record, trace_id: str, span_id: str,
        attrs: list[str], links: list[str],
    ) -> str:
        error = record[ERROR]
        if error is None:
            return span_json(trace_id, span_id, self._parent_id(record), name_json,
                             record[START], record[END], attrs, links)
        error = packed_error(error)  # as packing made it, or made here the same way
        exception = event_json("exception", record[END], self.attr.many([
            ("exception.type", error.qualified), ("exception.message", error.message),
            ("exception.stacktrace", error.stacktrace)]))
        return span_json(
            trace_id, span_id, self._parent_id(record), name_json, record[START], record[END],
            attrs, links, [exception], STATUS_ERROR, f"{error.name}: {error.message}",
        )



def _values_getter(keys: tuple[Any, ...]) -> Callable[[Mapping[Any, Any]], tuple[Any, ...]]:
    """payload -> the tuple of its values under ``keys`` (itemgetter's, but a tuple
    for one key and none as well: a BAR's plan maps its symbol alone)."""
    if len(keys) > 1:
        return itemgetter(*keys)
    if keys:
        key = keys[0]
        return lambda payload: (payload[key],)
    return lambda payload: ()
