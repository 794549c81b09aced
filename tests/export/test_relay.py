"""The relay process (export/relay.py) against real receivers on loopback: what it
sends over http/protobuf and grpc is the message the JSON line holds, the receiver's
answers come back as counts (rejected spans, failures with their Retry-After), and the
helper outlives a failing receiver, a SIGINT and its own death."""

from __future__ import annotations

import copy
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

import tradetrace
from faults.receivers import FaultReceiver, GrpcFaultReceiver, HttpFaultReceiver, ok, partial
from faults.receivers import status as refuse
from model.test_otlp_proto import edge_request, expected
from otlp_receiver import OtlpGrpcReceiver, OtlpReceiver
from tradetrace.export.relay import RelayFailed, RelaySink
from tradetrace.model.otlp_json import RequestWriter, span_json

PROTOCOLS = ["http/protobuf", "grpc"]


def point_at(monkeypatch: pytest.MonkeyPatch, protocol: str, endpoint: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "5")


@pytest.fixture(params=PROTOCOLS)
def receiver(request: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    with (OtlpGrpcReceiver() if request.param == "grpc" else OtlpReceiver()) as found:
        point_at(monkeypatch, request.param, found.endpoint)
        found.protocol = request.param  # type: ignore[attr-defined]
        yield found


@pytest.fixture(params=PROTOCOLS)
def faulty(request: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultReceiver]:
    """A receiver whose answers a test chooses (tests/faults/receivers.py)."""
    kind = GrpcFaultReceiver if request.param == "grpc" else HttpFaultReceiver
    with kind() as found:
        point_at(monkeypatch, request.param, found.endpoint)
        found.otlp_protocol = request.param  # type: ignore[attr-defined]
        yield found


@pytest.fixture
def relay(request: Any) -> Iterator[Any]:
    """``relay(protocol)``: a started RelaySink, shut down at teardown."""
    made: list[RelaySink] = []

    def make(protocol: str) -> RelaySink:
        sink = RelaySink(protocol)
        sink.start()
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.shutdown()


def bars(count: int, first: int = 0) -> dict[str, Any]:
    """A request line as the span encoder writes it: ``count`` BAR spans."""
    writer = RequestWriter([("service.name", "relay-test")], "tradetrace", "0.1.0")
    spans = [span_json(f"{n + 1:032x}", f"{n + 1:016x}", "", '"BAR"', 1_000 + n, 2_000 + n,
                       ['{"key":"trading.event.id","value":{"stringValue":"seq_' + str(n) + '"}}',
                        '{"key":"trading.symbol","value":{"stringValue":"SPY"}}'])
             for n in range(first, first + count)]
    return json.loads(writer.line(spans))


def line(request: dict[str, Any]) -> bytes:
    return json.dumps(request).encode()


def test_what_arrives_is_what_the_line_says(receiver, relay):
    sink = relay(receiver.protocol)
    requests = [bars(3), edge_request(), bars(256, first=3)]
    for request in requests:
        assert sink.write(line(request)) == 0
    # synchronous: every write was answered by the receiver before it returned
    assert receiver.messages == [expected(r) for r in requests]
    assert len(receiver.spans) == 3 + 3 + 256
    assert sink.starts == 1 and sink.rejected == 0 and sink.unreadable_replies == 0


def test_a_line_without_spans_sends_nothing(receiver, relay):
    sink = relay(receiver.protocol)
    empty = bars(0)
    assert sink.write(line(empty)) == 0
    assert sink.write(line(bars(1))) == 0
    assert receiver.requests == 1


def test_spans_the_receiver_rejects_are_counted(faulty, relay):
    faulty.set(partial())
    sink = relay(faulty.otlp_protocol)
    assert sink.write(line(bars(10))) == 10
    assert sink.write(line(bars(5))) == 5
    assert sink.rejected == 15


@pytest.mark.parametrize("code", [503, 500])
def test_an_error_status_fails_the_line_with_the_receivers_delay(faulty, relay, code):
    grpc_code = grpc.StatusCode.UNAVAILABLE if code == 503 else grpc.StatusCode.INTERNAL
    faulty.set(refuse(grpc_code if faulty.otlp_protocol == "grpc" else code, retry_after=7))
    sink = relay(faulty.otlp_protocol)
    with pytest.raises(RelayFailed) as failed:
        sink.write(line(bars(4)))
    assert failed.value.retry_after == pytest.approx(7)
    assert faulty.spans == []
    faulty.set(ok())  # the helper is still there, and sends again
    assert sink.write(line(bars(4))) == 0
    assert len(faulty.spans) == 4 and sink.starts == 1


def test_a_dead_receiver_fails_the_line(faulty, relay):
    sink = relay(faulty.otlp_protocol)
    assert sink.write(line(bars(2))) == 0
    faulty.die()
    with pytest.raises(RelayFailed):
        sink.write(line(bars(2)))
    faulty.revive()
    assert sink.write(line(bars(2))) == 0
    assert len(faulty.spans) == 4 and sink.starts == 1


def test_a_killed_helper_is_started_again(receiver, relay):
    sink = relay(receiver.protocol)
    assert sink.write(line(bars(1))) == 0
    first = sink.process
    first.kill()
    first.wait(10)
    assert sink.write(line(bars(1, first=1))) == 0
    assert sink.starts == 2 and sink.process is not first
    assert len(receiver.spans) == 2


def test_the_helper_ignores_sigint(receiver, relay):
    """A Ctrl-C in the terminal reaches the whole process group: it is for the traced
    program, which flushes through the helper."""
    sink = relay(receiver.protocol)
    assert sink.write(line(bars(1))) == 0  # the helper is in its loop
    os.kill(sink.process.pid, signal.SIGINT)
    assert sink.write(line(bars(1, first=1))) == 0
    assert sink.starts == 1 and sink.process.poll() is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_sender_that_cannot_start_fails_each_line(monkeypatch, relay, tmp_path, protocol):
    point_at(monkeypatch, protocol, "https://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(tmp_path / "missing.pem"))
    sink = relay(protocol)
    for _ in range(2):
        with pytest.raises(RelayFailed, match="could not start"):
            sink.write(line(bars(1)))
    assert sink.starts == 1


def test_a_bad_line_fails_alone(receiver, relay):
    sink = relay(receiver.protocol)
    bad = copy.deepcopy(bars(1))
    bad["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [
        {"key": "too.big", "value": {"intValue": str(2**64)}}]
    with pytest.raises(RelayFailed, match="int64"):
        sink.write(line(bad))
    assert sink.write(line(bars(1))) == 0
    assert len(receiver.spans) == 1


def test_a_traced_run_counts_what_the_receiver_got(receiver, demo):
    """Through a whole session: every recorded span exported, and the receiver holds
    each of them (and the trade spans, counted apart)."""
    session = tradetrace.configure("normal", profile="demo", run_id="run_relay")
    if receiver.protocol == "grpc":
        assert session.sink.protocol == "grpc"
    demo.run_backtest(bars=120, seed=3)
    assert tradetrace.shutdown()
    figures = session.stats()["accounting"]
    assert figures["recorded"] == figures["exported"] > 0
    assert figures["pending"] == 0 and not figures["dropped"]
    derived = session._worker.stats.derived_exported
    assert len(receiver.spans) == figures["exported"] + derived
    assert {s.resource["trading.run.id"] for s in receiver.spans} == {"run_relay"}
