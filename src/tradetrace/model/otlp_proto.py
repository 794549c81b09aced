"""OTLP protobuf, written by hand from our OTLP JSON requests (``otlp_json.py``).

The relay process (``export/relay.py``) sends ``http/protobuf`` and ``grpc``: it parses
each request line and encodes it here straight to ``ExportTraceServiceRequest`` bytes,
with no SDK span objects or generated message classes between (building those cost
60-120 us of CPU per span). Field numbers are those of opentelemetry-proto
(``trace/v1/trace.proto``, ``common/v1/common.proto``, ``resource/v1/resource.proto``);
fields are written in field-number order and proto3 defaults are left out, as protobuf
writes them, so the bytes match what the generated classes would serialise.

The JSON forms read are OTLP/JSON's: hex trace and span ids, 64-bit integers as decimal
strings (or numbers), doubles as numbers or ``"NaN"``/``"Infinity"``/``"-Infinity"``,
bytes values in base64, enums as integers.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .otlp_json import CACHE_LIMIT, UNENCODABLE
from .protobuf_wire import INT64_MAX, INT64_MIN, delimited, double, fixed32, fixed64, varint
from .protobuf_wire import fields as wire_fields

Json = dict[str, Any]

# Tags (field number << 3 | wire type), per message.
_RS_RESOURCE, _RS_SCOPE_SPANS, _RS_SCHEMA = b"\x0a", b"\x12", b"\x1a"  # ResourceSpans
_RES_ATTRS, _RES_DROPPED = b"\x0a", b"\x10"  # Resource
_SS_SCOPE, _SS_SPANS, _SS_SCHEMA = b"\x0a", b"\x12", b"\x1a"  # ScopeSpans
_SC_NAME, _SC_VERSION, _SC_ATTRS, _SC_DROPPED = b"\x0a", b"\x12", b"\x1a", b"\x20"
_SPAN_ATTRS = b"\x4a"
_EV_TIME, _EV_NAME, _EV_ATTRS, _EV_DROPPED = b"\x09", b"\x12", b"\x1a", b"\x20"
_LK_TRACE, _LK_SPAN, _LK_STATE, _LK_ATTRS, _LK_DROPPED, _LK_FLAGS = (
    b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x28", b"\x35")
_ST_MESSAGE, _ST_CODE = b"\x12", b"\x18"  # Status
_KV_KEY, _KV_VALUE = b"\x0a", b"\x12"  # KeyValue
_AV_STRING, _AV_BOOL, _AV_INT, _AV_DOUBLE, _AV_ARRAY, _AV_KVLIST, _AV_BYTES = (
    b"\x0a", b"\x10", b"\x18", b"\x21", b"\x2a", b"\x32", b"\x3a")  # AnyValue
_LIST_VALUES = b"\x0a"  # ArrayValue.values, KeyValueList.values

_WORDS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class ProtoStats:
    #: caches of encoded attributes emptied at their cap (memory stays bounded)
    cache_resets: Counter[str] = Counter()


def _text(value: str) -> bytes:
    # A lone surrogate (from a \ud800 escape) has no UTF-8 form: U+FFFD, counted.
    return value.encode("utf-8", UNENCODABLE)


def _int64(value: Any) -> bytes:
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(f"intValue {value!r} is out of the int64 range")
    return varint(number)


def _double(value: Any) -> bytes:
    if value.__class__ is str:
        number = _WORDS.get(value)
        return double(float(value) if number is None else number)
    return double(float(value))


def any_value(value: Json) -> bytes:
    """An ``AnyValue`` message body. A oneof member is written even at its default
    (``""``, ``false``, ``0``): that is how protobuf tells it is set."""
    for name, raw in value.items():
        if name == "stringValue":
            return delimited(_AV_STRING, _text(raw))
        if name == "intValue":
            return _AV_INT + _int64(raw)
        if name == "doubleValue":
            return _AV_DOUBLE + _double(raw)
        if name == "boolValue":
            return b"\x10\x01" if raw else b"\x10\x00"
        if name == "arrayValue":
            items = (raw or {}).get("values") or ()
            return delimited(_AV_ARRAY, b"".join(
                [delimited(_LIST_VALUES, any_value(v)) for v in items]))
        if name == "kvlistValue":
            return delimited(_AV_KVLIST, _key_values(_LIST_VALUES, (raw or {}).get("values")))
        if name == "bytesValue":
            return delimited(_AV_BYTES, base64.b64decode(raw))
    return b""  # no value set: an empty AnyValue


def key_value(item: Json) -> bytes:
    """A ``KeyValue`` message body."""
    key = item.get("key") or ""
    out = delimited(_KV_KEY, _text(key)) if key else b""
    value = item.get("value")
    return out if value is None else out + delimited(_KV_VALUE, any_value(value))


class _KeyValues:
    """Encoded ``KeyValue`` fields, cached for string and bool values (keys repeat on
    every span and many values, symbols, containers, sides, do too), and the key's part
    cached for the others; ints and doubles are written inline. The demo's attributes
    (normal level) take a third of the CPU of a plain ``key_value`` per item."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, Any], bytes] = {}  #: (key, value) -> length + body
        self.keys: dict[str, bytes] = {}  #: key -> its field and the value's tag

    def _reset(self) -> None:
        self.values.clear()
        self.keys.clear()
        ProtoStats.cache_resets["key_values"] += 1

    def __call__(self, field_tag: bytes, items: Iterable[Json] | None) -> bytes:
        if not items:
            return b""
        values, keys = self.values, self.keys
        parts: list[bytes] = []
        append = parts.append
        for item in items:
            value = item.get("value")
            key = item.get("key") or ""
            if value is None:
                body = key_value(item)
                append(varint(len(body)) + body)
                continue
            raw = value.get("stringValue")
            if raw is None:
                raw = value.get("boolValue")
            if raw is not None:
                cached = values.get((key, raw))
                if cached is None:
                    if len(values) >= CACHE_LIMIT:
                        self._reset()
                    body = key_value(item)
                    cached = values[(key, raw)] = varint(len(body)) + body
                append(cached)
                continue
            prefix = keys.get(key)
            if prefix is None:
                if len(keys) >= CACHE_LIMIT:
                    self._reset()
                prefix = keys[key] = (delimited(_KV_KEY, _text(key)) if key else b"") + _KV_VALUE
            raw = value.get("intValue")
            if raw is not None:
                encoded = _AV_INT + _int64(raw)
            else:
                raw = value.get("doubleValue")
                encoded = (_AV_DOUBLE + double(raw) if raw.__class__ is float
                           else any_value(value))
            body = prefix + varint(len(encoded)) + encoded
            append(varint(len(body)) + body)
        return field_tag + field_tag.join(parts)


_key_values = _KeyValues()


def _hex_id(field_tag: bytes, value: Any) -> bytes:
    return delimited(field_tag, bytes.fromhex(value)) if value else b""


def _string(field_tag: bytes, value: Any) -> bytes:
    return delimited(field_tag, _text(value)) if value else b""


def _uint(field_tag: bytes, value: Any) -> bytes:
    return field_tag + varint(int(value)) if value else b""


def _flags(field_tag: bytes, value: Any) -> bytes:
    return field_tag + fixed32(int(value)) if value else b""


def span(s: Json) -> bytes:
    """A ``Span`` message body, fields in number order."""
    get = s.get
    parts = [
        _hex_id(b"\x0a", get("traceId")),
        _hex_id(b"\x12", get("spanId")),
        _string(b"\x1a", get("traceState")),
        _hex_id(b"\x22", get("parentSpanId")),
        _string(b"\x2a", get("name")),
        _uint(b"\x30", get("kind")),
    ]
    start, end = get("startTimeUnixNano"), get("endTimeUnixNano")
    if start and int(start):
        parts.append(b"\x39" + fixed64(int(start)))
    if end and int(end):
        parts.append(b"\x41" + fixed64(int(end)))
    parts.append(_key_values(_SPAN_ATTRS, get("attributes")))
    parts.append(_uint(b"\x50", get("droppedAttributesCount")))
    for event in get("events") or ():
        parts.append(delimited(b"\x5a", _event(event)))
    parts.append(_uint(b"\x60", get("droppedEventsCount")))
    for link in get("links") or ():
        parts.append(delimited(b"\x6a", _link(link)))
    parts.append(_uint(b"\x70", get("droppedLinksCount")))
    status = get("status")
    if status is not None:
        parts.append(delimited(b"\x7a", _string(_ST_MESSAGE, status.get("message"))
                               + _uint(_ST_CODE, status.get("code"))))
    parts.append(_flags(b"\x85\x01", get("flags")))
    return b"".join(parts)


def _event(event: Json) -> bytes:
    time = int(event.get("timeUnixNano") or 0)
    return b"".join((
        _EV_TIME + fixed64(time) if time else b"",
        _string(_EV_NAME, event.get("name")),
        _key_values(_EV_ATTRS, event.get("attributes")),
        _uint(_EV_DROPPED, event.get("droppedAttributesCount")),
    ))


def _link(link: Json) -> bytes:
    return b"".join((
        _hex_id(_LK_TRACE, link.get("traceId")),
        _hex_id(_LK_SPAN, link.get("spanId")),
        _string(_LK_STATE, link.get("traceState")),
        _key_values(_LK_ATTRS, link.get("attributes")),
        _uint(_LK_DROPPED, link.get("droppedAttributesCount")),
        _flags(_LK_FLAGS, link.get("flags")),
    ))


def _scope_spans(scope_spans: Json) -> bytes:
    parts = []
    scope = scope_spans.get("scope")
    if scope is not None:
        parts.append(delimited(_SS_SCOPE, b"".join((
            _string(_SC_NAME, scope.get("name")),
            _string(_SC_VERSION, scope.get("version")),
            _key_values(_SC_ATTRS, scope.get("attributes")),
            _uint(_SC_DROPPED, scope.get("droppedAttributesCount")),
        ))))
    parts.extend([delimited(_SS_SPANS, span(s)) for s in scope_spans.get("spans") or ()])
    parts.append(_string(_SS_SCHEMA, scope_spans.get("schemaUrl")))
    return b"".join(parts)


def _resource_spans(resource_spans: Json) -> bytes:
    parts = []
    resource = resource_spans.get("resource")
    if resource is not None:
        parts.append(delimited(_RS_RESOURCE, _key_values(_RES_ATTRS, resource.get("attributes"))
                               + _uint(_RES_DROPPED, resource.get("droppedAttributesCount"))))
    for scope_spans in resource_spans.get("scopeSpans") or ():
        parts.append(delimited(_RS_SCOPE_SPANS, _scope_spans(scope_spans)))
    parts.append(_string(_RS_SCHEMA, resource_spans.get("schemaUrl")))
    return b"".join(parts)


def encode_request(request: Json) -> bytes:
    """An ``ExportTraceServiceRequest`` (parsed OTLP JSON) as protobuf bytes. Raises
    (ValueError, TypeError, AttributeError) on a request that is not OTLP JSON."""
    return b"".join([delimited(b"\x0a", _resource_spans(rs))
                     for rs in request.get("resourceSpans") or ()])


def partial_success(reply: bytes) -> tuple[int, str]:
    """``(rejected spans, error message)`` of an ``ExportTraceServiceResponse``;
    ValueError if the bytes are not one."""
    rejected, message = 0, ""
    for field, wire_type, value in wire_fields(reply):
        if field == 1 and isinstance(value, bytes):  # partial_success
            for inner, _, inner_value in wire_fields(value):
                if inner == 1 and isinstance(inner_value, int):  # rejected_spans (int64)
                    rejected = inner_value - (1 << 64) if inner_value >> 63 else inner_value
                elif inner == 2 and isinstance(inner_value, bytes):  # error_message
                    message = inner_value.decode("utf-8", "replace")
        elif field == 1:
            raise ValueError(f"partial_success has wire type {wire_type}")
    return rejected, message
