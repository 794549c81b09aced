"""A real OTLP/HTTP receiver on loopback, for tests: decodes what exporters send.

It speaks the protocol (protobuf or JSON over HTTP POST to /v1/traces and /v1/metrics,
gzip or not; :class:`OtlpGrpcReceiver`: OTLP/gRPC) with the generated OTLP message
classes, so a span that arrives here was encoded and sent by a real exporter. The decoding
below is shared with the misbehaving receivers of ``tests/faults/receivers.py``.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

#: OTLP/HTTP paths and the signal each carries.
SIGNALS = {"/v1/traces": "traces", "/v1/metrics": "metrics"}
REQUESTS = {"traces": ExportTraceServiceRequest, "metrics": ExportMetricsServiceRequest}
RESPONSES = {"traces": ExportTraceServiceResponse, "metrics": ExportMetricsServiceResponse}


@dataclass
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    links: list[tuple[str, str]] = field(default_factory=list)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def decode_spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Every span of an OTLP trace request, with its resource's attributes."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                spans.append(ReceivedSpan(
                    s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                    _attributes(s.attributes), resource,
                    [(link.trace_id.hex(), link.span_id.hex()) for link in s.links],
                ))
    return spans


def read_request(handler: BaseHTTPRequestHandler, signal: str) -> Any:
    """The OTLP request message of an HTTP POST: protobuf or JSON (the OTLP JSON
    mapping: ids in hex), gzip, deflate or plain. Replies go back in the same encoding."""
    body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
    encoding = handler.headers.get("Content-Encoding")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    if (handler.headers.get("Content-Type") or "").startswith("application/json"):
        handler.otlp_json = True  # type: ignore[attr-defined]
        return json_format.ParseDict(_ids_to_base64(json.loads(body)), REQUESTS[signal]())
    return REQUESTS[signal].FromString(body)


def _ids_to_base64(value: Any) -> Any:
    """OTLP JSON writes trace and span ids in hex; protobuf's JSON mapping reads bytes
    fields as base64."""
    if isinstance(value, list):
        return [_ids_to_base64(v) for v in value]
    if isinstance(value, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode()
                    if k in _ID_FIELDS and isinstance(v, str) else _ids_to_base64(v))
                for k, v in value.items()}
    return value


_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def send_reply(handler: BaseHTTPRequestHandler, code: int, body: Any,
               headers: dict[str, str] | None = None) -> None:
    """``body``: a protobuf message (sent in the request's encoding) or raw bytes."""
    as_json = getattr(handler, "otlp_json", False)
    if not isinstance(body, bytes):
        body = (json_format.MessageToJson(body).encode() if as_json
                else body.SerializeToString())
    handler.send_response(code)
    handler.send_header("Content-Type",
                        "application/json" if as_json else "application/x-protobuf")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def wait_until(changed: threading.Condition, holds: Callable[[], bool], timeout: float) -> bool:
    """Wait (bounded) on ``changed`` until ``holds()``; a condition, not a sleep."""
    deadline = time.monotonic() + timeout
    with changed:
        while not holds():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            changed.wait(left)
        return True


class OtlpReceiver:
    """``with OtlpReceiver() as r: ... r.endpoint ... r.wait_for(n)``."""

    def __init__(self) -> None:
        self._init_state()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                signal = SIGNALS.get(self.path)
                if signal is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                request = read_request(self, signal)
                if signal == "traces":
                    receiver._add_traces(request)
                else:
                    receiver._add_metrics()
                send_reply(self, 200, RESPONSES[signal]())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _init_state(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.messages: list[ExportTraceServiceRequest] = []  #: trace requests as received
        self.metric_requests = 0
        self.requests = 0
        self._changed = threading.Condition()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _add_traces(self, request: Any) -> None:
        spans = decode_spans(request)
        with self._changed:
            self.spans.extend(spans)
            self.messages.append(request)
            self.requests += 1
            self._changed.notify_all()

    def _add_metrics(self) -> None:
        with self._changed:
            self.metric_requests += 1
            self._changed.notify_all()

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        """Wait (bounded) until ``predicate(self)`` holds; a condition, not a sleep."""
        return wait_until(self._changed, lambda: predicate(self), timeout)


class OtlpGrpcReceiver(OtlpReceiver):
    """The same over OTLP/gRPC: ``TraceService/Export`` (insecure, on loopback)."""

    def __init__(self) -> None:
        import grpc

        self._init_state()

        def export(request: ExportTraceServiceRequest, context: Any) -> Any:
            self._add_traces(request)
            return ExportTraceServiceResponse()

        handler = grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=ExportTraceServiceRequest.FromString,
            response_serializer=ExportTraceServiceResponse.SerializeToString)
        self._grpc = grpc.server(ThreadPoolExecutor(2, thread_name_prefix="otlp-receiver"))
        self._grpc.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}),))
        self._port = self._grpc.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> OtlpGrpcReceiver:
        self._grpc.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._grpc.stop(grace=None)
