"""OTLP JSON, written by hand: one ``ExportTraceServiceRequest`` per line, as the
Collector's file exporter writes and its ``otlpjsonfile`` receiver reads.

This is tradetrace's canonical span form: the mapping (``spans.py``) writes it directly,
the file sink stores it, and the SDK sink parses it back for OTLP exporters. The stock
protobuf path costs tens of microseconds per span; this one a few. Field names and
value forms follow the OTLP/JSON mapping: lowerCamelCase names, hex trace and span ids,
64-bit integers as decimal strings, enums as integers.
"""

from __future__ import annotations

import codecs
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

escape = json.encoder.encode_basestring

#: Entries kept in the cache of encoded low-cardinality attributes before it is reset.
CACHE_LIMIT = 50_000

KIND_INTERNAL = 1  #: SPAN_KIND_INTERNAL in OTLP's enum

#: The error handler request lines are encoded to UTF-8 with: a character that has no
#: UTF-8 form (a lone surrogate, as ``surrogateescape`` decoding leaves in a string)
#: becomes U+FFFD and is counted, so one bad value costs that value's character, never
#: the line's other spans.
UNENCODABLE = "tradetrace.replace"


class EncodingStats:
    replaced = 0  #: characters with no UTF-8 form, replaced by U+FFFD
    #: caches of encoded text emptied because they reached their cap, by cache: memory
    #: stays bounded whatever the values (an id per event cached by mistake, say)
    cache_resets: Counter[str] = Counter()


def _replace_unencodable(error: UnicodeError) -> tuple[bytes, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    EncodingStats.replaced += error.end - error.start
    # bytes: the UTF-8 codec takes only ASCII text from an error handler
    return _REPLACEMENT * (error.end - error.start), error.end


_REPLACEMENT = "\ufffd".encode()


codecs.register_error(UNENCODABLE, _replace_unencodable)

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2


def any_value(value: Any) -> str:
    """An OTLP ``AnyValue`` as JSON (value already converted to an attribute type)."""
    cls = value.__class__
    if cls is str:
        return '{"stringValue":' + escape(value) + "}"
    if cls is bool:
        return '{"boolValue":true}' if value else '{"boolValue":false}'
    if cls is int:
        return f'{{"intValue":"{value}"}}'
    if cls is float:
        if math.isfinite(value):
            return f'{{"doubleValue":{value!r}}}'
        word = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        return f'{{"doubleValue":"{word}"}}'
    if cls is tuple or cls is list:
        return '{"arrayValue":{"values":[' + ",".join(map(any_value, value)) + "]}}"
    return '{"stringValue":' + escape(str(value)) + "}"


class _Prefixes(dict[str, str]):
    """key -> the JSON text before an attribute's value, computed once per key."""

    def __init__(self, value_kind: str) -> None:
        super().__init__()
        self._kind = value_kind

    def __missing__(self, key: str) -> str:
        prefix = self[key] = '{"key":' + escape(key) + ',"value":' + self._kind
        return prefix


class Attributes:
    """Encodes ``{"key":..,"value":..}`` objects, caching what repeats.

    Keys are few, so their prefix is always cached. String values are cached only for
    keys declared low-cardinality (symbols, containers, strategies...): caching unique
    ids would only churn memory.
    """

    def __init__(self, cached_keys: Iterable[str] = ()) -> None:
        self.cached_keys = frozenset(cached_keys)  #: low-cardinality keys
        prefix = _Prefixes("")
        text = _Prefixes('{"stringValue":')
        caches: dict[str, dict[str, str]] = {key: {} for key in self.cached_keys}
        get_cache = caches.get

        def encode(key: str, value: Any) -> str:
            if value.__class__ is str:
                cache = get_cache(key)
                if cache is None:
                    return text[key] + escape(value) + "}}"
                cached = cache.get(value)
                if cached is None:
                    if len(cache) >= CACHE_LIMIT:
                        cache.clear()
                        EncodingStats.cache_resets["attribute_values"] += 1
                    cached = cache[value] = text[key] + escape(value) + "}}"
                return cached
            return prefix[key] + any_value(value) + "}"

        self.encode = encode
        self._prefix = prefix

    def prefix(self, key: str) -> str:
        """``{"key":"<key>","value":`` (the value and two closing braces follow)."""
        return self._prefix[key]

    def __call__(self, key: str, value: Any) -> str:
        return self.encode(key, value)

    def many(self, items: Iterable[tuple[str, Any]]) -> str:
        encode = self.encode
        return ",".join([encode(k, v) for k, v in items])


_SPAN = (
    '{"traceId":"%s","spanId":"%s",%s"name":%s,"kind":1,'
    '"startTimeUnixNano":"%d","endTimeUnixNano":"%d","attributes":[%s]%s}'
)


def span_json(
    trace_id: str,
    span_id: str,
    parent_id: str,
    name_json: str,
    start: int,
    end: int,
    attributes: Sequence[str],
    links: Sequence[str] = (),
    events: Sequence[str] = (),
    status: int = STATUS_UNSET,
    status_message: str = "",
) -> str:
    """One span object from already-encoded parts (``name_json`` is ``escape(name)``)."""
    parent = '"parentSpanId":"' + parent_id + '",' if parent_id else ""
    tail = ""
    if links:
        tail = ',"links":[' + ",".join(links) + "]"
    if events:
        tail += ',"events":[' + ",".join(events) + "]"
    if status:
        message = f',"message":{escape(status_message)}' if status_message else ""
        tail += f',"status":{{"code":{status}{message}}}'
    return _SPAN % (trace_id, span_id, parent, name_json, start, end, ",".join(attributes), tail)


def link_json(trace_id: str, span_id: str, attributes: str) -> str:
    return f'{{"traceId":"{trace_id}","spanId":"{span_id}","attributes":[{attributes}]}}'


def event_json(name: str, time_ns: int, attributes: str) -> str:
    return f'{{"timeUnixNano":"{time_ns}","name":{escape(name)},"attributes":[{attributes}]}}'


class RequestWriter:
    """Wraps span objects of one resource and scope into one request line."""

    def __init__(
        self, resource: Sequence[tuple[str, Any]], scope_name: str, scope_version: str
    ) -> None:
        attrs = Attributes().many(resource)
        self._head = (
            '{"resourceSpans":[{"resource":{"attributes":[' + attrs + "]},"
            '"scopeSpans":[{"scope":{"name":' + escape(scope_name)
            + ',"version":' + escape(scope_version) + '},"spans":['
        )

    def line(self, spans: Sequence[str]) -> str:
        # One join: a line is hundreds of kilobytes, and each `+` would copy all of it.
        if not spans:
            return self._head + _REQUEST_END
        parts = list(spans)
        parts[0] = self._head + parts[0]
        parts[-1] += _REQUEST_END
        return ",".join(parts)


_REQUEST_END = "]}]}]}"


# -- decoding (the SDK sink and the analysis side read the same format) ----------------


@dataclass
class Span:
    """A span read back from OTLP JSON (times in ns since the epoch, ids in hex)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start: int
    end: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    links: list[dict[str, Any]] = field(default_factory=list)
    status_code: int = 0
    status_message: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    kind: int = KIND_INTERNAL
    scope: str = ""

    @property
    def duration_ns(self) -> int:
        return self.end - self.start


class BadSpan(ValueError):
    """A span object without the fields every span has."""


def decode_request(request: Any) -> Iterator[Span | BadSpan]:
    """Spans of a parsed ``ExportTraceServiceRequest``; malformed ones as BadSpan."""
    batches = request.get("resourceSpans") if isinstance(request, dict) else None
    if not isinstance(batches, list):
        raise BadSpan("no resourceSpans list")
    for batch in batches:
        if not isinstance(batch, dict):
            yield BadSpan("resourceSpans entry is not an object")
            continue
        if not isinstance(batch.get("resource", {}), dict):
            yield BadSpan("resource is not an object")  # counted; its spans are still read
        resource, bad = _decode_resource(_object(batch.get("resource")).get("attributes"))
        yield from bad  # counted; its spans are read without those attributes
        scopes = batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []
        for scope in scopes if isinstance(scopes, list) else ():
            if not isinstance(scope, dict):
                yield BadSpan("scopeSpans entry is not an object")
                continue
            if not isinstance(scope.get("scope", {}), dict):
                yield BadSpan("scope is not an object")  # counted; its spans are still read
            scope_name = str(_object(scope.get("scope")).get("name", ""))
            spans = scope.get("spans") or []
            if not isinstance(spans, list):
                yield BadSpan("spans is not a list")
                continue
            for raw in spans:
                try:
                    yield _decode_span(raw, resource, scope_name)
                except (KeyError, TypeError, ValueError, AttributeError,
                        RecursionError) as exc:  # RecursionError: a value nested too deep
                    yield BadSpan(f"{type(exc).__name__}: {exc}")


def _decode_resource(items: Any) -> tuple[dict[str, Any], list[BadSpan]]:
    """Resource attributes, leaving out (as BadSpans) those whose value does not decode:
    one wrong-typed attribute must not cost every span of the resource."""
    out: dict[str, Any] = {}
    bad: list[BadSpan] = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            try:
                out[item["key"]] = decode_value(item.get("value") or {})
            except (TypeError, ValueError, AttributeError, RecursionError) as exc:
                bad.append(BadSpan(f"resource attribute {item['key']!r} left out, its spans "
                                   f"kept ({type(exc).__name__}: {exc})"))
    return out, bad


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one in place of anything else (a malformed writer's)."""
    return value if isinstance(value, dict) else {}


def _decode_span(raw: dict[str, Any], resource: dict[str, Any], scope: str) -> Span:
    status = raw.get("status") or {}
    trace_id, span_id = raw["traceId"].lower(), raw["spanId"].lower()
    if not trace_id or not span_id:  # an empty id is no id (the query's loader agrees)
        raise ValueError("empty trace or span id")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=(raw.get("parentSpanId") or "").lower(),
        name=str(raw.get("name", "")),
        start=int(raw["startTimeUnixNano"]),
        end=int(raw["endTimeUnixNano"]),
        attributes=decode_attributes(raw.get("attributes")),
        resource=resource,
        links=[
            {
                "trace_id": link["traceId"].lower(),
                "span_id": link["spanId"].lower(),
                "attributes": decode_attributes(link.get("attributes")),
            }
            for link in raw.get("links") or ()
        ],
        status_code=int(status.get("code", 0)),
        status_message=str(status.get("message", "")),
        events=[
            {
                "name": str(event.get("name", "")),
                "time": int(event.get("timeUnixNano", 0)),
                "attributes": decode_attributes(event.get("attributes")),
            }
            for event in raw.get("events") or ()
        ],
        kind=int(raw.get("kind", KIND_INTERNAL)),
        scope=scope,
    )


def decode_attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = decode_value(item.get("value") or {})
    return out


def decode_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [decode_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return decode_attributes((value["kvlistValue"] or {}).get("values"))
    return None
