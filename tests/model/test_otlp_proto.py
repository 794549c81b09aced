"""OTLP protobuf written by hand (model/otlp_proto.py) carries what the OTLP JSON line
carries: each line the demo writes, at each level, and lines built to hold every value
form, parse with the generated ``ExportTraceServiceRequest`` into the message that
``json_format`` reads from the JSON, and serialise to the very same bytes."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import tradetrace
from otlp_receiver import _ids_to_base64
from tradetrace.analyse.reader import trace_files
from tradetrace.export.metrics import METRICS_SUFFIX
from tradetrace.model import otlp_proto, protobuf_wire
from tradetrace.model.otlp_proto import encode_request, partial_success


def expected(request: dict[str, Any]) -> ExportTraceServiceRequest:
    """The JSON read by protobuf's own JSON mapping; OTLP/JSON differs from it only in
    writing ids in hex (protobuf's mapping reads bytes as base64)."""
    return json_format.ParseDict(_ids_to_base64(request), ExportTraceServiceRequest())


def assert_same(request: dict[str, Any]) -> ExportTraceServiceRequest:
    ours = encode_request(request)
    official = expected(request)
    assert ExportTraceServiceRequest.FromString(ours) == official
    assert ours == official.SerializeToString()
    return official


@pytest.mark.parametrize("level", ["minimal", "normal", "debug"])
def test_every_demo_line_encodes_to_the_same_content(demo, tmp_path, level):
    tradetrace.configure(level, profile="demo", output=tmp_path, backend="file")
    demo.run_backtest(bars=150, seed=7)
    assert tradetrace.shutdown()
    files = [p for p in trace_files([tmp_path]) if not p.name.endswith(METRICS_SUFFIX)]
    lines = [line for f in files for line in Path(f).read_bytes().splitlines() if line]
    assert lines
    spans = 0
    for line in lines:
        official = assert_same(json.loads(line))
        spans += sum(len(s.spans) for r in official.resource_spans for s in r.scope_spans)
    assert spans > 0


def _kv(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


EDGE_ATTRIBUTES = [
    _kv("empty.string", {"stringValue": ""}),
    _kv("non.ascii", {"stringValue": "€ 日本 ÿ \U0001f600 \x00"}),
    _kv("bool.false", {"boolValue": False}),
    _kv("bool.true", {"boolValue": True}),
    _kv("int.zero", {"intValue": "0"}),
    _kv("int.negative", {"intValue": "-1"}),
    _kv("int.max", {"intValue": str(2**63 - 1)}),
    _kv("int.min", {"intValue": str(-(2**63))}),
    _kv("int.as.number", {"intValue": 300}),
    _kv("double", {"doubleValue": 1.5}),
    _kv("double.zero", {"doubleValue": 0.0}),
    _kv("double.negative.zero", {"doubleValue": -0.0}),
    _kv("double.tiny", {"doubleValue": 5e-324}),
    _kv("double.inf", {"doubleValue": "Infinity"}),
    _kv("double.minus.inf", {"doubleValue": "-Infinity"}),
    _kv("double.as.int", {"doubleValue": 3}),
    _kv("array", {"arrayValue": {"values": [
        {"stringValue": "a"}, {"intValue": "7"}, {"doubleValue": 2.25}, {"boolValue": True},
        {"arrayValue": {"values": [{"stringValue": "nested"}]}}]}}),
    _kv("array.empty", {"arrayValue": {}}),
    _kv("array.empty.values", {"arrayValue": {"values": []}}),
    _kv("kvlist", {"kvlistValue": {"values": [
        _kv("inner", {"stringValue": "x"}),
        _kv("deeper", {"kvlistValue": {"values": [_kv("n", {"intValue": "-5"})]}})]}}),
    _kv("kvlist.empty", {"kvlistValue": {}}),
    _kv("bytes", {"bytesValue": base64.b64encode(b"\x00\xffraw").decode()}),
    _kv("no.value", {}),
    _kv("", {"stringValue": "empty key"}),
    _kv("", {"intValue": "1"}),
]


def edge_request() -> dict[str, Any]:
    trace, other = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"
    spans = [
        {"traceId": trace, "spanId": "b7ad6b7169203331", "parentSpanId": "00f067aa0ba902b7",
         "traceState": "k=v", "name": "ORDER \u00e9", "kind": 3, "flags": 257,
         "startTimeUnixNano": "1700000000000000001",
         "endTimeUnixNano": str(2**64 - 1),
         "attributes": EDGE_ATTRIBUTES, "droppedAttributesCount": 3,
         "events": [
             {"timeUnixNano": "1700000000000000002", "name": "exception",
              "attributes": [_kv("exception.message", {"stringValue": "boom"})],
              "droppedAttributesCount": 1},
             {"timeUnixNano": "0", "name": "", "attributes": []}],
         "droppedEventsCount": 2,
         "links": [
             {"traceId": other, "spanId": "00f067aa0ba902b7", "traceState": "a=b",
              "attributes": [_kv("trading.link", {"stringValue": "caused_by"}),
                             _kv("n", {"intValue": "2"})],
              "droppedAttributesCount": 4, "flags": 1},
             {"traceId": trace, "spanId": "1111111111111111"}],
         "droppedLinksCount": 5,
         "status": {"code": 2, "message": "rejected: no margin"}},
        # defaults everywhere: nothing written for them
        {"traceId": trace, "spanId": "2222222222222222", "name": "", "kind": 0,
         "startTimeUnixNano": "0", "endTimeUnixNano": "0", "attributes": [],
         "status": {}},
        {"traceId": trace, "spanId": "3333333333333333", "name": "ok",
         "startTimeUnixNano": 5, "endTimeUnixNano": 6, "status": {"code": 1}},
    ]
    return {"resourceSpans": [
        {"resource": {"attributes": [_kv("service.name", {"stringValue": "trading"}),
                                     _kv("process.pid", {"intValue": "4242"})],
                      "droppedAttributesCount": 1},
         "scopeSpans": [
             {"scope": {"name": "tradetrace", "version": "0.1.0",
                        "attributes": [_kv("scope.attr", {"boolValue": True})],
                        "droppedAttributesCount": 2},
              "spans": spans, "schemaUrl": "https://opentelemetry.io/schemas/1.26.0"},
             {"scope": {}, "spans": []}],
         "schemaUrl": "https://opentelemetry.io/schemas/1.26.0"},
        {"resource": {}, "scopeSpans": []},
        {},
    ]}


def test_every_value_form_and_field_encodes_to_the_same_content():
    official = assert_same(edge_request())
    first = official.resource_spans[0].scope_spans[0].spans[0]
    attributes = {kv.key: kv.value for kv in first.attributes}
    assert attributes["empty.string"].HasField("string_value")  # a set oneof, though ""
    assert attributes["bool.false"].HasField("bool_value")
    assert attributes["int.min"].int_value == -(2**63)
    assert attributes["non.ascii"].string_value == "€ 日本 ÿ \U0001f600 \x00"
    assert first.end_time_unix_nano == 2**64 - 1
    assert first.links[0].attributes[0].value.string_value == "caused_by"


def test_repeated_values_from_the_cache_encode_the_same():
    """The second line meets every cached KeyValue; its bytes are still the official."""
    assert_same(edge_request())
    assert_same(edge_request())


def test_caches_at_their_cap_are_emptied_and_encode_the_same(monkeypatch):
    """Memory stays bounded whatever the values: at the cap a cache starts again."""
    monkeypatch.setattr(otlp_proto, "CACHE_LIMIT", 3)
    monkeypatch.setattr(otlp_proto, "_key_values", otlp_proto._KeyValues())
    resets = otlp_proto.ProtoStats.cache_resets["key_values"]
    assert_same(edge_request())
    assert_same(edge_request())
    assert otlp_proto.ProtoStats.cache_resets["key_values"] > resets
    assert len(otlp_proto._key_values.values) <= 3 and len(otlp_proto._key_values.keys) <= 3


def test_nan_is_the_same_bits():
    """NaN equals nothing, so the message comparison cannot judge it; the bytes can."""
    request = edge_request()
    span = request["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    span["attributes"] = [_kv("nan", {"doubleValue": "NaN"})]
    ours = encode_request(request)
    assert ours == expected(request).SerializeToString()
    parsed = ExportTraceServiceRequest.FromString(ours)
    assert math.isnan(parsed.resource_spans[0].scope_spans[0].spans[2]
                      .attributes[0].value.double_value)


def test_a_lone_surrogate_becomes_the_replacement_character():
    request = edge_request()
    span = request["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    span["name"] = "bad \ud800 name"
    parsed = ExportTraceServiceRequest.FromString(encode_request(request))
    assert parsed.resource_spans[0].scope_spans[0].spans[2].name == "bad \ufffd name"


@pytest.mark.parametrize("value", [str(2**63), str(-(2**63) - 1)])
def test_an_int_past_int64_is_refused_as_protobuf_refuses_it(value):
    request = edge_request()
    request["resourceSpans"][0]["scopeSpans"][0]["spans"][2]["attributes"] = [
        _kv("big", {"intValue": value})]
    with pytest.raises(ValueError):
        encode_request(request)
    with pytest.raises(json_format.ParseError):
        expected(request)


def test_partial_success_is_read_from_a_response():
    reply = json_format.ParseDict(
        {"partialSuccess": {"rejectedSpans": "12", "errorMessage": "too old"}},
        ExportTraceServiceResponse()).SerializeToString()
    assert partial_success(reply) == (12, "too old")
    assert partial_success(b"") == (0, "")
    assert partial_success(ExportTraceServiceResponse().SerializeToString()) == (0, "")


@pytest.mark.parametrize("garbage", [
    b"\x0a\xff\x01not an ExportTraceServiceResponse",  # a length past the end
    b"\x0b",  # wire type 3: a group
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # a varint that never ends
    b"<html>502 Bad Gateway</html>",
])
def test_a_reply_that_is_no_response_is_refused(garbage):
    with pytest.raises(ValueError):
        partial_success(garbage)


@pytest.mark.parametrize("number", [0, 1, 127, 128, 300, 2**32, 2**63 - 1, -1, -(2**63)])
def test_varints_are_protobufs(number):
    from google.protobuf.internal import encoder

    written: list[bytes] = []
    encoder._SignedVarintEncoder()(written.append, number, True)
    assert protobuf_wire.varint(number) == b"".join(written)
    assert list(protobuf_wire.fields(b"\x08" + protobuf_wire.varint(number))) == [
        (1, protobuf_wire.VARINT, number & (2**64 - 1))]
