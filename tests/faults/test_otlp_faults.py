"""Tracing into a real OTLP receiver that misbehaves, over each protocol tradetrace
speaks (http/json sent as is; http/protobuf and grpc encoded and sent by the helper
process): every published event is recorded, exactly what the receiver accepted
counts as exported, the rest is dropped for a named reason, nothing is left pending,
and no write ever ran on the publishing thread."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

import tradetrace

from .receivers import FaultReceiver, die, fail_n, garbage, hang, ok, partial, slow, status
from .trading import check, feed, publish

# They watch the worker and writer at work: in this process (conftest.py).
pytestmark = pytest.mark.usefixtures("spans_built_here")

EVENTS = 1200  #: about five request lines of 256 spans

PROTOCOLS = ["http/json", "http/protobuf", "grpc"]


@pytest.fixture(params=PROTOCOLS)
def receiver(request: Any, monkeypatch: pytest.MonkeyPatch) -> FaultReceiver:
    """A receiver of the protocol's kind, and the OTLP variables pointing at it."""
    protocol = request.param
    fixture = "grpc_receiver" if protocol == "grpc" else "http_receiver"
    found: FaultReceiver = request.getfixturevalue(fixture)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", found.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")
    found.otlp_protocol = protocol  # type: ignore[attr-defined]
    return found


def received(receiver: FaultReceiver) -> int:
    return sum(1 for s in receiver.spans if s.name == "BAR")


def test_a_receiver_that_answers_gets_every_span(receiver):
    bus, session = feed(backend="otlp")
    publisher = publish(bus, EVENTS)
    tradetrace.shutdown()
    check(session, EVENTS, received(receiver), publisher=publisher)
    assert received(receiver) == EVENTS


def test_a_slow_receiver_gets_every_span_late(receiver):
    receiver.set(slow(0.2))
    bus, session = feed(backend="otlp")
    publisher = publish(bus, EVENTS)
    tradetrace.shutdown(timeout=30)
    check(session, EVENTS, received(receiver), publisher=publisher)
    assert received(receiver) == EVENTS


def test_a_hung_receiver_costs_what_was_not_written_by_the_deadline(receiver):
    """Nothing is answered: at shutdown's deadline what is left is dropped as
    shutdown_timeout (the request held by the receiver among it: its fate is unknown
    to the sender, and the receiver drops it when it closes)."""
    receiver.set(hang())
    bus, session = feed(backend="otlp")
    publisher = publish(bus, EVENTS)
    assert not tradetrace.shutdown(timeout=1.0)
    figures = check(session, EVENTS, 0, publisher=publisher)
    assert figures["dropped"]["shutdown_timeout"] > 0
    assert set(figures["dropped"]) <= {"shutdown_timeout", "sink_backlog"}


def test_a_receiver_that_dies_mid_run(receiver):
    bus, session = feed(backend="otlp")
    publish(bus, EVENTS // 2)
    assert session.flush(30)
    assert received(receiver) == EVENTS // 2
    receiver.set(die())
    publisher = publish(bus, EVENTS // 2, start=EVENTS // 2)
    tradetrace.shutdown(timeout=10)
    figures = check(session, EVENTS, received(receiver), publisher=publisher)
    assert received(receiver) == EVENTS // 2
    assert set(figures["dropped"]) <= {"sink_failure", "sink_resting"}
    assert figures["dropped"]["sink_failure"] > 0


@pytest.mark.parametrize("code", [429, 500])
def test_an_error_status_drops_the_spans_and_rests_the_sink(receiver, code):
    failure = status(code if receiver.otlp_protocol != "grpc" else (
        grpc.StatusCode.RESOURCE_EXHAUSTED if code == 429 else grpc.StatusCode.INTERNAL),
        retry_after=0)
    receiver.set(failure)
    bus, session = feed(backend="otlp")
    publisher = publish(bus, EVENTS)
    tradetrace.shutdown(timeout=10)
    figures = check(session, EVENTS, 0, publisher=publisher)
    assert received(receiver) == 0
    assert set(figures["dropped"]) <= {"sink_failure", "sink_resting"}
    assert session._worker.stats.export_errors >= 1


def test_a_receiver_that_recovers_gets_spans_again(receiver):
    """A failure, then fine: the failed line is dropped, later ones arrive."""
    receiver.set(fail_n(1, then=ok(), failure=status(
        503 if receiver.otlp_protocol != "grpc" else grpc.StatusCode.UNAVAILABLE)))
    bus, session = feed(backend="otlp")
    publish(bus, 10)
    session.flush(30)  # the first line meets the failures
    writer = session._worker.writer
    writer._retry_at = 0.0  # end the rest now rather than wait it out in a test
    publisher = publish(bus, EVENTS, start=10)
    tradetrace.shutdown(timeout=30)
    figures = check(session, EVENTS + 10, received(receiver), publisher=publisher)
    assert received(receiver) >= EVENTS
    assert figures["dropped"] == {"sink_failure": 10}  # no retry but the writer's rest


def test_a_garbage_reply_to_json_is_counted_and_said(receiver, caplog):
    """A 200 with a body that is no OTLP response: the receiver said it took the
    spans, so over HTTP they count as exported, but the reply is read and said to be
    wrong, in the traced process's log even when the helper process read it. Over gRPC
    a reply that does not parse fails the call."""
    receiver.set(garbage())
    bus, session = feed(backend="otlp")
    with caplog.at_level(logging.WARNING, logger="tradetrace"):
        publisher = publish(bus, EVENTS)
        tradetrace.shutdown(timeout=10)
    figures = check(session, EVENTS, None, publisher=publisher)
    assert received(receiver) == 0  # it kept nothing
    if receiver.otlp_protocol != "grpc":
        assert figures["exported"] == EVENTS
        assert session.sink.unreadable_replies >= 1
        assert sum("not an OTLP response" in r.getMessage() for r in caplog.records) == 1
    else:
        assert figures["exported"] == 0
        assert set(figures["dropped"]) <= {"sink_failure", "sink_resting"}


def test_spans_a_receiver_rejects_are_dropped_as_rejected(receiver):
    """partialSuccess.rejectedSpans, read over every protocol (in the helper process
    for http/protobuf and grpc), drops those spans for that reason."""
    receiver.set(partial())
    bus, session = feed(backend="otlp")
    publisher = publish(bus, EVENTS)
    tradetrace.shutdown(timeout=10)
    figures = check(session, EVENTS, None, publisher=publisher)
    assert figures["dropped"] == {"rejected_by_receiver": EVENTS}
    assert session.sink.rejected == EVENTS


def test_metrics_reach_the_receiver_with_their_own_count(receiver):
    """storage: otlp sends metrics too (they went to memory before), counted apart."""
    bus, session = feed(backend="otlp")
    publish(bus, 10)
    tradetrace.shutdown()
    assert receiver.wait_for(lambda r: r.metric_requests >= 1, timeout=10)
    metrics = session.stats()["metrics"]
    assert metrics["exports"] >= 1 and metrics["failed"] == 0
    assert metrics["backend"] == "OTLPMetricExporter"
