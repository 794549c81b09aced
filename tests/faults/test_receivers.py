"""Each fault the receivers inject really happens, as the stock OpenTelemetry exporters
see it: what export() returns, how often they try, what reaches the receiver.

What the stock exporters (1.45) do, pinned here:
- HTTP retries 429/502/503/504 and connection errors, gRPC retries UNAVAILABLE,
  RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED...: at most 6 attempts, backoff 1, 2, 4... s
  (+-20%) or the receiver's Retry-After / RetryInfo, and never past their timeout: a
  backoff longer than the time left ends the export with FAILURE at once.
- HTTP 500 and gRPC INTERNAL are not retried.
- HTTP counts any 2xx as success without reading the body: a receiver that answers
  200 with garbage has lost the spans silently. gRPC fails on a response it cannot
  parse. Both ignore ``partial_success``: rejected spans count as exported.
"""

from __future__ import annotations

import errno
import http.client
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import DecodeError
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from .exporters import FAILURE, SUCCESS, TRACE_ID, make_spans
from .receivers import (
    GARBAGE,
    FaultReceiver,
    fail_n,
    garbage,
    hang,
    ok,
    partial,
    slow,
    status,
)

MAX_ATTEMPTS = 6  #: the stock exporters' _MAX_RETRIES / _MAX_RETRYS
CODE_NAMES = {"http": {429: "429", 500: "500", 503: "503"},
              "grpc": {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}}


@pytest.fixture(params=["http", "grpc"])
def receiver(request: pytest.FixtureRequest) -> FaultReceiver:
    return request.getfixturevalue(f"{request.param}_receiver")


def export_in_thread(exporter: Any, spans: list[ReadableSpan]) -> tuple[threading.Thread, list]:
    result: list[SpanExportResult] = []
    thread = threading.Thread(target=lambda: result.append(exporter.export(spans)))
    thread.start()
    return thread, result


def _status_name(receiver: FaultReceiver, code: int) -> str:
    return f"status {CODE_NAMES[receiver.protocol][code]}"


# -- ok ---------------------------------------------------------------------------------


def test_ok_keeps_every_span_as_sent(receiver, stock_exporter):
    """ok: export() succeeds in one request and the receiver decoded names, ids and
    attributes as the SDK made them."""
    spans = make_spans(3)
    assert stock_exporter(receiver).export(spans) is SUCCESS
    assert [(s.name, s.trace_id, s.span_id, s.attributes) for s in receiver.spans] == [
        (f"span-{n}", f"{TRACE_ID:032x}", f"{n + 1:016x}", {"n": n, "symbol": "SPY"})
        for n in range(3)
    ]
    assert receiver.outcomes() == ["accepted"]
    assert [(r.protocol, r.signal, r.mode, r.spans) for r in receiver.requests] == [
        (receiver.protocol, "traces", "ok", 3)]


def test_compressed_requests_are_decoded(receiver, stock_exporter):
    """gzip, as the exporters send it with OTEL_EXPORTER_OTLP_COMPRESSION=gzip."""
    compression = (HttpCompression.Gzip if receiver.protocol == "http"
                   else grpc.Compression.Gzip)
    exporter = stock_exporter(receiver, compression=compression)
    assert exporter.export(make_spans(2)) is SUCCESS
    assert [s.name for s in receiver.spans] == ["span-0", "span-1"]


def test_metric_requests_are_counted(receiver):
    """The stock metric exporters' requests are counted (and answered as behaviour says)."""
    if receiver.protocol == "http":
        exporter = HttpMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics", timeout=2)
    else:
        exporter = GrpcMetricExporter(endpoint=receiver.endpoint, insecure=True, timeout=2)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("faults").create_counter("orders").add(3)
    try:
        assert provider.force_flush(5_000)
    finally:
        provider.shutdown()
    assert receiver.metric_requests >= 1
    assert set(receiver.outcomes("metrics")) == {"accepted"}
    assert receiver.spans == []


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 503])
def test_retryable_refusals_are_tried_six_times_then_fail(receiver, stock_exporter, code):
    """429 / 503 (gRPC RESOURCE_EXHAUSTED / UNAVAILABLE) with a zero retry delay: the
    exporter tries its six times, then export() returns FAILURE; nothing is kept."""
    receiver.set(status(code, retry_after=0))
    assert stock_exporter(receiver).export(make_spans()) is FAILURE
    assert receiver.outcomes() == [_status_name(receiver, code)] * MAX_ATTEMPTS
    assert receiver.spans == []


def test_a_backoff_longer_than_the_timeout_ends_the_export_after_one_try(
        receiver, stock_exporter):
    """Without Retry-After the first backoff is 0.8-1.2 s: an exporter with a 0.5 s
    timeout gives up after the first refusal instead of waiting."""
    receiver.set(status(429))
    assert stock_exporter(receiver, timeout=0.5).export(make_spans()) is FAILURE
    assert receiver.outcomes() == [_status_name(receiver, 429)]


def test_internal_errors_are_not_retried(receiver, stock_exporter):
    """500 / INTERNAL: FAILURE after a single request."""
    receiver.set(status(500, retry_after=0))
    assert stock_exporter(receiver).export(make_spans()) is FAILURE
    assert receiver.outcomes() == [_status_name(receiver, 500)]


def test_fail_n_fails_that_many_requests_then_behaves_as_told(receiver, stock_exporter):
    """fail_n(2): two refusals, then ok; the exporter's retries carry the batch through."""
    receiver.set(fail_n(2, then=ok(), failure=status(503, retry_after=0)))
    assert stock_exporter(receiver).export(make_spans(2)) is SUCCESS
    assert receiver.outcomes() == [_status_name(receiver, 503)] * 2 + ["accepted"]
    assert len(receiver.spans) == 2
    assert receiver.behaviour == ok()


# -- slow and hang ------------------------------------------------------------------------


def test_slow_answers_after_its_delay(receiver, stock_exporter):
    receiver.set(slow(0.2))
    assert stock_exporter(receiver, timeout=10).export(make_spans(1)) is SUCCESS
    assert [(r.mode, r.outcome) for r in receiver.requests] == [("slow(0.2)", "accepted")]


def test_slow_holds_the_export_until_released(receiver, stock_exporter):
    """The export does not return while the receiver holds its request; release() lets
    the receiver answer, and the export succeeds."""
    receiver.set(slow(60))
    thread, result = export_in_thread(stock_exporter(receiver, timeout=30), make_spans(2))
    assert receiver.wait_for(lambda r: r.waiting == 1)
    assert thread.is_alive() and result == []
    receiver.release()
    thread.join(10)
    assert result == [SUCCESS]
    assert receiver.outcomes() == ["accepted"] and len(receiver.spans) == 2


def test_hang_fails_the_export_at_its_timeout(receiver, stock_exporter):
    """hang: the exporter gives up at its timeout (HTTP read timeout, gRPC
    DEADLINE_EXCEEDED: one try, the next backoff would pass the deadline); the receiver
    still holds the request until it is closed."""
    receiver.set(hang())
    assert stock_exporter(receiver, timeout=0.5).export(make_spans()) is FAILURE
    assert receiver.waiting == 1 and receiver.requests == []
    receiver.close()
    assert receiver.wait_for(lambda r: r.waiting == 0 and r.outcomes() == ["dropped"])
    assert receiver.spans == []


def test_close_drops_every_held_request_at_once(receiver, stock_exporter):
    """Three exports held by hang, each with a 30 s timeout: closing the receiver frees
    them all (dropped, unanswered) instead of leaving them to their timeouts."""
    receiver.set(hang())
    exporters = [stock_exporter(receiver, timeout=30) for _ in range(3)]
    running = [export_in_thread(exporter, make_spans(1)) for exporter in exporters]
    assert receiver.wait_for(lambda r: r.waiting == 3)
    receiver.close()
    assert receiver.wait_for(lambda r: r.waiting == 0 and r.outcomes() == ["dropped"] * 3,
                             timeout=5)
    for exporter in exporters:
        exporter.shutdown()  # ends their retries against the closed port
    for thread, result in running:
        thread.join(10)
        assert result == [FAILURE]


def test_set_switches_new_requests_and_leaves_held_ones_held(receiver, stock_exporter):
    """Switching to ok while a request hangs: new exports succeed at once, the held one
    waits until released, then it is accepted too."""
    receiver.set(hang())
    held, result = export_in_thread(stock_exporter(receiver, timeout=30), make_spans(1))
    assert receiver.wait_for(lambda r: r.waiting == 1)
    receiver.set(ok())
    assert stock_exporter(receiver).export(make_spans(2)) is SUCCESS
    assert receiver.waiting == 1 and held.is_alive()
    receiver.release()
    held.join(10)
    assert result == [SUCCESS]
    assert [(r.mode, r.outcome) for r in receiver.requests] == [
        ("ok", "accepted"), ("hang", "accepted")]


# -- die ----------------------------------------------------------------------------------


def test_die_fails_exports_with_a_connection_error_and_revive_comes_back(
        receiver, stock_exporter, caplog):
    """A dead receiver: the same exporter fails without reaching it (connection refused,
    retried until its timeout), then succeeds after revive() on the same port."""
    exporter = stock_exporter(receiver, timeout=3)
    assert exporter.export(make_spans(1)) is SUCCESS
    port = receiver.port
    receiver.die()
    assert exporter.export(make_spans(1)) is FAILURE
    assert receiver.arrived == 1  # the failed export never reached a server
    assert "connection refused" in caplog.text.lower()
    receiver.revive()
    assert receiver.port == port
    assert exporter.export(make_spans(2)) is SUCCESS
    assert receiver.outcomes() == ["accepted", "accepted"] and len(receiver.spans) == 3


def test_die_drops_held_requests(receiver, stock_exporter):
    receiver.set(slow(60))
    exporter = stock_exporter(receiver, timeout=30)
    thread, result = export_in_thread(exporter, make_spans(1))
    assert receiver.wait_for(lambda r: r.waiting == 1)
    receiver.die()
    assert receiver.wait_for(lambda r: r.outcomes() == ["dropped"])
    exporter.shutdown()
    thread.join(10)
    assert result == [FAILURE]


# -- lying receivers ----------------------------------------------------------------------


def test_garbage_body_parses_as_no_otlp_response():
    with pytest.raises(DecodeError):
        ExportTraceServiceResponse.FromString(GARBAGE)


def test_http_garbage_200_counts_as_success_and_the_spans_are_lost(
        http_receiver, stock_exporter):
    """The stock HTTP exporter reads no body on a 2xx: garbage is SUCCESS, and the spans
    the receiver did not keep are lost without a word."""
    http_receiver.set(garbage())
    assert stock_exporter(http_receiver).export(make_spans()) is SUCCESS
    assert http_receiver.outcomes() == ["garbage"] and http_receiver.spans == []
    connection = http.client.HTTPConnection("127.0.0.1", http_receiver.port, timeout=10)
    try:
        connection.request("POST", "/v1/traces", ExportTraceServiceRequest().SerializeToString(),
                           {"Content-Type": "application/x-protobuf"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, GARBAGE)
    finally:
        connection.close()


def test_grpc_garbage_fails_the_export_without_retry(grpc_receiver, stock_exporter):
    """The gRPC client cannot parse the answer: INTERNAL, not retried, FAILURE."""
    grpc_receiver.set(garbage())
    assert stock_exporter(grpc_receiver).export(make_spans()) is FAILURE
    assert grpc_receiver.outcomes() == ["garbage"]
    with grpc.insecure_channel(f"127.0.0.1:{grpc_receiver.port}") as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Export(ExportTraceServiceRequest(), timeout=10)
    assert raised.value.code() is grpc.StatusCode.INTERNAL


def test_partial_success_rejecting_every_span_counts_as_success(receiver, stock_exporter):
    """Both stock exporters ignore partial_success: spans the receiver rejected (and
    said so) are reported as exported."""
    receiver.set(partial())
    assert stock_exporter(receiver).export(make_spans(3)) is SUCCESS
    assert receiver.outcomes() == ["partial"] and receiver.spans == []
    if receiver.protocol == "grpc":
        with grpc.insecure_channel(f"127.0.0.1:{receiver.port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            reply = stub.Export(ExportTraceServiceRequest(), timeout=10)
        assert reply.partial_success.error_message


# -- filesystems ----------------------------------------------------------------------------


def test_a_small_filesystem_fills_up(small_filesystem):
    folder = small_filesystem(64)
    with pytest.raises(OSError) as raised:
        with open(folder / "spans.jsonl", "wb") as file:
            for _ in range(32):
                file.write(b"x" * 4096)  # 128 KiB into 64
    assert raised.value.errno == errno.ENOSPC


def test_an_unwritable_folder_refuses_new_files(unwritable_folder: Path):
    assert unwritable_folder.is_dir()
    with pytest.raises(OSError) as raised:
        (unwritable_folder / "spans.jsonl").write_bytes(b"x")
    assert raised.value.errno in (errno.EROFS, errno.EACCES)
