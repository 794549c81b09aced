"""OTLP JSON: one ``ExportTraceServiceRequest`` per line, as the Collector's file exporter
writes and its ``otlpjsonfile`` receiver reads.

Encoded by hand rather than through protobuf's ``json_format``: the stock path costs
tens of microseconds per span, this one a few. Field names and value forms follow the
OTLP/JSON mapping: lowerCamelCase names, hex trace and span ids, 64-bit integers as
decimal strings, enums as integers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from .spans import STATUS_UNSET, SpanData

_escape = json.encoder.encode_basestring  # type: ignore[attr-defined]

#: Attributes whose string values repeat (container ids, symbols...): cache their encoding.
_CACHE_LIMIT = 50_000


class OtlpJsonEncoder:
    """Encodes batches of spans of one resource and scope into single JSON lines."""

    def __init__(
        self,
        resource_attributes: Sequence[tuple[str, Any]],
        scope_name: str,
        scope_version: str,
        cached_keys: Iterable[str] = (),
    ) -> None:
        self._prefix: dict[str, str] = {}
        self._cached = frozenset(cached_keys)
        self._cache: dict[tuple[str, str], str] = {}
        resource = ",".join(self.attribute(k, v) for k, v in resource_attributes)
        self._head = (
            '{"resourceSpans":[{"resource":{"attributes":[' + resource + ']},'
            '"scopeSpans":[{"scope":{"name":' + _escape(scope_name)
            + ',"version":' + _escape(scope_version) + '},"spans":['
        )
        self._tail = "]}]}]}"

    def encode(self, spans: Iterable[SpanData]) -> str:
        """One line (without the newline) holding every span given."""
        return self._head + ",".join(map(self.span, spans)) + self._tail

    def span(self, s: SpanData) -> str:
        attribute = self.attribute
        parts = [
            f'{{"traceId":"{s.trace_id:032x}","spanId":"{s.span_id:016x}",',
            f'"parentSpanId":"{s.parent_id:016x}",' if s.parent_id else "",
            f'"name":{_escape(s.name)},"kind":{s.kind.value + 1},',
            f'"startTimeUnixNano":"{s.start}","endTimeUnixNano":"{s.end}","attributes":[',
            ",".join([attribute(k, v) for k, v in s.attributes]),
            "]",
        ]
        if s.links:
            parts.append(',"links":[' + ",".join(
                f'{{"traceId":"{t:032x}","spanId":"{i:016x}","attributes":['
                + ",".join([attribute(k, v) for k, v in attrs]) + "]}"
                for t, i, attrs in s.links
            ) + "]")
        if s.events:
            parts.append(',"events":[' + ",".join(
                f'{{"timeUnixNano":"{when}","name":{_escape(name)},"attributes":['
                + ",".join([attribute(k, v) for k, v in attrs]) + "]}"
                for name, when, attrs in s.events
            ) + "]")
        if s.status != STATUS_UNSET:
            message = f',"message":{_escape(s.status_message)}' if s.status_message else ""
            parts.append(f',"status":{{"code":{s.status}{message}}}')
        parts.append("}")
        return "".join(parts)

    def attribute(self, key: str, value: Any) -> str:
        cls = value.__class__
        if cls is str and key in self._cached:
            cached = self._cache.get((key, value))
            if cached is None:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                cached = self._cache[(key, value)] = (
                    self._key(key) + '{"stringValue":' + _escape(value) + "}}"
                )
            return cached
        return self._key(key) + any_value(value) + "}"

    def _key(self, key: str) -> str:
        prefix = self._prefix.get(key)
        if prefix is None:
            prefix = self._prefix[key] = '{"key":' + _escape(key) + ',"value":'
        return prefix


def any_value(value: Any) -> str:
    """An OTLP ``AnyValue`` as JSON."""
    cls = value.__class__
    if cls is str:
        return '{"stringValue":' + _escape(value) + "}"
    if cls is bool:
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if cls is int:
        return f'{{"intValue":"{value}"}}'
    if cls is float:
        if math.isfinite(value):
            return f'{{"doubleValue":{value!r}}}'
        return '{"doubleValue":"' + ("NaN" if value != value else "Infinity" if value > 0 else "-Infinity") + '"}'
    if cls is tuple or cls is list:
        return '{"arrayValue":{"values":[' + ",".join(map(any_value, value)) + "]}}"
    return '{"stringValue":' + _escape(str(value)) + "}"
