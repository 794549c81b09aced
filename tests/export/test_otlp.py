"""OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set: real HTTP and gRPC receivers on
loopback decode what the relay process encodes and sends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

import tradetrace
from tradetrace import conventions as conv


class Received:
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.lock = threading.Lock()

    def add(self, payload: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(payload)
        with self.lock:
            self.requests.append(request)

    def spans(self) -> list[tuple[dict[str, object], object]]:
        out = []
        for request in self.requests:
            for batch in request.resource_spans:
                resource = {a.key: a.value.string_value for a in batch.resource.attributes}
                for scope in batch.scope_spans:
                    for span in scope.spans:
                        out.append((resource, span))
        return out


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.add(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802
            received.add(request.SerializeToString())
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_endpoint_variable_sends_spans_over_otlp(demo, monkeypatch, request, protocol):
    """With only the standard OTLP variables set, a traced run's spans reach the receiver."""
    fixture = "grpc_receiver" if protocol == "grpc" else "http_receiver"
    endpoint, received = request.getfixturevalue(fixture)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    if protocol == "grpc":
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "otlp-test")
    session = tradetrace.configure("normal", profile="demo", run_id="run_otlp")
    assert session.config.backend == "otlp"
    results = demo.run_backtest(bars=80, seed=9)
    assert tradetrace.shutdown()  # flushes the exporter
    spans = received.spans()
    events = [s for _, s in spans
              if any(a.key == conv.EVENT_TYPE for a in s.attributes)]
    assert len(events) == sum(results["events_by_type"].values())
    resource, _ = spans[0]
    assert resource["service.name"] == "otlp-test"
    assert resource[conv.RUN_ID] == "run_otlp"
    by_id = {s.span_id: s for _, s in spans}
    fill = next(s for s in events if s.name == "FILL")
    assert by_id[fill.parent_span_id].name == "ORDER"
    assert fill.trace_id == by_id[fill.parent_span_id].trace_id


def test_unknown_otlp_protocol_is_a_config_error(monkeypatch):
    """An OTLP protocol we cannot send is reported at configure time."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    with pytest.raises(tradetrace.ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        tradetrace.configure("normal", profile="demo")
