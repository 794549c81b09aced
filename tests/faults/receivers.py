"""Real OTLP receivers on loopback that misbehave on demand, for fault-injection tests.

Each speaks the real protocol, OTLP/HTTP (protobuf POST to /v1/traces and /v1/metrics,
gzip or not) or OTLP/gRPC (the generated OTLP services), so what an exporter makes of
a fault here is what it would make of it from a real collector::

    with HttpFaultReceiver() as receiver:           # or GrpcFaultReceiver()
        receiver.set(slow(0.3))                     # every request from now on
        ... export to receiver.endpoint ...
        receiver.release()                          # answer the requests held now
        receiver.set(fail_n(2, then=ok()))          # two 503s / UNAVAILABLEs, then fine
        receiver.die(); receiver.revive()           # gone mid-run; back on the same port
        assert receiver.wait_for(lambda r: len(r.spans) >= 10, timeout=5)

A behaviour can be switched from any thread while requests flow. Requests held by
``slow`` or ``hang`` wait on an event, never a bare sleep: ``release()`` answers them,
``die()`` and ``close()`` drop them at once (their connections are closed unanswered).
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
)

from otlp_receiver import (
    REQUESTS,
    RESPONSES,
    SIGNALS,
    ReceivedSpan,
    decode_spans,
    read_request,
    send_reply,
    wait_until,
)

#: What ``garbage`` answers with status 200 / OK: no OTLP response parses from it (a
#: length-delimited field whose length runs past the end).
GARBAGE = b"\x0a\xff\x01not an ExportTraceServiceResponse"

#: The OTLP specification's pairing of HTTP status codes and gRPC codes.
GRPC_FOR_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}
HTTP_FOR_GRPC = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
}


# -- behaviours ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """How the receiver answers; build one with the functions below."""

    kind: str
    seconds: float = 0.0
    code: int | grpc.StatusCode | None = None
    retry_after: float | None = None
    n: int = 0
    then: Behaviour | None = None
    failure: Behaviour | None = None

    def __str__(self) -> str:
        if self.kind == "slow":
            return f"slow({self.seconds:g})"
        if self.kind == "status":
            code = self.code.name if isinstance(self.code, grpc.StatusCode) else self.code
            after = "" if self.retry_after is None else f", retry_after={self.retry_after:g}"
            return f"status({code}{after})"
        if self.kind == "fail_n":
            return f"fail_n({self.n}, {self.failure}, then={self.then})"
        return self.kind

    def http_code(self) -> int:
        if isinstance(self.code, grpc.StatusCode):
            return HTTP_FOR_GRPC.get(self.code, 500)
        return int(self.code or 500)

    def grpc_code(self) -> grpc.StatusCode:
        if isinstance(self.code, grpc.StatusCode):
            return self.code
        return GRPC_FOR_HTTP.get(int(self.code or 500), grpc.StatusCode.INTERNAL)


def ok() -> Behaviour:
    """Accept every request and record its spans."""
    return Behaviour("ok")


def slow(seconds: float) -> Behaviour:
    """Accept, but answer only after ``seconds`` (or when released; dropped if closed)."""
    return Behaviour("slow", seconds=seconds)


def hang() -> Behaviour:
    """Never answer: hold each request until released (then accept) or closed (dropped)."""
    return Behaviour("hang")


def status(code: int | grpc.StatusCode, retry_after: float | None = None) -> Behaviour:
    """Refuse with an HTTP status (429, 500, 503...) or a gRPC code (UNAVAILABLE...); each
    protocol answers with its pair of the other's code. ``retry_after`` (seconds) is sent
    as HTTP ``Retry-After`` or gRPC ``google.rpc.RetryInfo``, which both stock exporters
    use as their next backoff."""
    return Behaviour("status", code=code, retry_after=retry_after)


def garbage() -> Behaviour:
    """Answer 200 / OK with bytes that are no OTLP response; the spans are not kept."""
    return Behaviour("garbage")


def partial() -> Behaviour:
    """Answer 200 / OK with an OTLP ``partial_success`` rejecting every span sent."""
    return Behaviour("partial")


def fail_n(n: int, then: Behaviour | None = None, failure: Behaviour | None = None) -> Behaviour:
    """Fail the next ``n`` requests with ``failure`` (default 503 / UNAVAILABLE), then
    behave as ``then`` (default ok)."""
    return Behaviour("fail_n", n=n, then=then or ok(), failure=failure or status(503))


def die() -> Behaviour:
    """``receiver.set(die())`` is ``receiver.die()``."""
    return Behaviour("die")


# -- the receiver, whatever its protocol --------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it (times from ``time.monotonic()``)."""

    at: float
    answered_at: float
    protocol: str  #: "http" or "grpc"
    signal: str  #: "traces" or "metrics"
    mode: str  #: the behaviour that answered it, e.g. "slow(0.3)"
    outcome: str  #: "accepted", "status 503", "status UNAVAILABLE", "garbage", "partial",
    #: "dropped" (connection closed unanswered: the receiver died or was closed)
    spans: int  #: spans in the request


@dataclass(frozen=True)
class Answer:
    kind: str  #: "ok", "status", "garbage", "partial" or "drop"
    behaviour: Behaviour
    spans: int = 0


class FaultReceiver:
    """The state and the behaviours; subclasses speak a protocol."""

    protocol = ""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []  #: every span accepted, decoded
        self.requests: list[ReceivedRequest] = []  #: every request answered or dropped
        self.metric_requests = 0  #: metric requests received, whatever the answer
        self.arrived = 0  #: requests received so far, answered or not
        self.waiting = 0  #: requests held now by ``slow`` or ``hang``
        self.alive = False
        self.port = 0
        self._behaviour = ok()
        self._failures_left = 0
        self._life = 0  #: bumped by die() and close(): held requests of an old life drop
        self._gate = threading.Event()  #: held requests wait on it; set releases them
        self._closed = False
        self._changed = threading.Condition()

    # controls ---------------------------------------------------------------------------
    def set(self, behaviour: Behaviour) -> None:
        """Answer every request from now on as ``behaviour`` (held ones keep waiting)."""
        if behaviour.kind == "die":
            self.die()
            return
        with self._changed:
            self._behaviour = behaviour
            self._failures_left = behaviour.n
            self._changed.notify_all()

    @property
    def behaviour(self) -> Behaviour:
        with self._changed:
            return self._behaviour

    def release(self) -> None:
        """Answer (as accepted) every request ``slow`` or ``hang`` holds now."""
        with self._changed:
            self._gate.set()
            self._gate = threading.Event()

    def die(self) -> None:
        """The server is gone: listening socket and every connection closed, held
        requests dropped unanswered. ``revive()`` brings it back."""
        with self._changed:
            if not self.alive:
                return
            self.alive = False
            self._life += 1
            self._gate.set()
            self._gate = threading.Event()
            self._changed.notify_all()
        self._stop_server()

    def revive(self) -> None:
        """Listen again, on the same port if the system allows it (else ``port`` changes)."""
        with self._changed:
            if self.alive or self._closed:
                return
        self._start_server(self.port)
        with self._changed:
            self.alive = True
            self._changed.notify_all()

    def start(self) -> FaultReceiver:
        self._start_server(0)
        self.alive = True
        return self

    def close(self) -> None:
        """Stop for good; every held request is dropped at once."""
        with self._changed:
            self._closed = True
        self.die()

    def __enter__(self) -> FaultReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Wait (bounded) until ``predicate(self)`` holds; a condition, not a sleep."""
        return wait_until(self._changed, lambda: predicate(self), timeout)

    def outcomes(self, signal: str = "traces") -> list[str]:
        with self._changed:
            return [r.outcome for r in self.requests if r.signal == signal]

    @property
    def endpoint(self) -> str:
        """The base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the gRPC exporter)."""
        return f"http://127.0.0.1:{self.port}"

    # the protocol's part ----------------------------------------------------------------
    def _start_server(self, port: int) -> None:
        raise NotImplementedError

    def _stop_server(self) -> None:
        raise NotImplementedError

    # answering --------------------------------------------------------------------------
    def _answer(self, signal: str, request: Any) -> Answer:
        """Decide, hold if the behaviour says so, record; the protocol sends the answer."""
        at = time.monotonic()
        count = _span_count(request) if signal == "traces" else 0
        with self._changed:
            self.arrived += 1
            self.metric_requests += signal == "metrics"
            behaviour = self._behaviour
            if behaviour.kind == "fail_n":
                if self._failures_left > 0:
                    self._failures_left -= 1
                    behaviour = behaviour.failure or status(503)
                else:
                    behaviour = self._behaviour = behaviour.then or ok()
            life, gate = self._life, self._gate
            dropped = self._closed or not self.alive
            if behaviour.kind in ("slow", "hang") and not dropped:
                self.waiting += 1
            self._changed.notify_all()
        if behaviour.kind in ("slow", "hang") and not dropped:
            gate.wait(behaviour.seconds if behaviour.kind == "slow" else None)
            with self._changed:
                self.waiting -= 1
                dropped = life != self._life
        if dropped:
            answer = Answer("drop", behaviour, count)
        elif behaviour.kind in ("ok", "slow", "hang"):
            answer = Answer("ok", behaviour, count)
        else:
            answer = Answer(behaviour.kind, behaviour, count)
        self._record(at, signal, request, answer)
        return answer

    def _record(self, at: float, signal: str, request: Any, answer: Answer) -> None:
        kept = decode_spans(request) if answer.kind == "ok" and signal == "traces" else []
        if answer.kind == "status":
            code = (answer.behaviour.http_code() if self.protocol == "http"
                    else answer.behaviour.grpc_code().name)
            outcome = f"status {code}"
        else:
            outcome = {"ok": "accepted", "drop": "dropped"}.get(answer.kind, answer.kind)
        record = ReceivedRequest(at, time.monotonic(), self.protocol, signal,
                                 str(answer.behaviour), outcome, answer.spans)
        with self._changed:
            self.spans.extend(kept)
            self.requests.append(record)
            self._changed.notify_all()


def _span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans
               for scope in resource.scope_spans)


def _partial_response(signal: str, answer: Answer) -> Any:
    message = "this receiver rejects every span (fault injection)"
    if signal == "traces":
        return RESPONSES[signal](partial_success=ExportTracePartialSuccess(
            rejected_spans=answer.spans, error_message=message))
    return RESPONSES[signal](partial_success=ExportMetricsPartialSuccess(
        rejected_data_points=1, error_message=message))


# -- OTLP/HTTP ----------------------------------------------------------------------------


class HttpFaultReceiver(FaultReceiver):
    """OTLP/HTTP (HTTP/1.1, keep-alive, as a collector) on 127.0.0.1."""

    protocol = "http"

    def __init__(self) -> None:
        super().__init__()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def traces_url(self) -> str:
        """The URL for the HTTP exporter's ``endpoint`` argument."""
        return f"{self.endpoint}/v1/traces"

    def _start_server(self, port: int) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver._connections_lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._connections_lock:
                    receiver._connections.discard(self.connection)
                try:
                    super().finish()
                except (OSError, ValueError):  # the receiver died under this connection
                    pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                signal = SIGNALS.get(self.path)
                if signal is None:
                    send_reply(self, 404, b"")
                    return
                receiver._reply(self, signal, read_request(self, signal))

            def log_message(self, *args: Any) -> None:
                pass

        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError:
            if not port:
                raise
            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # the port was taken
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                        name=f"fault-receiver-http-{self.port}", daemon=True)
        self._thread.start()

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()  # serve_forever returns within its 0.05 s poll
        server.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def _reply(self, handler: BaseHTTPRequestHandler, signal: str, request: Any) -> None:
        answer = self._answer(signal, request)
        response = RESPONSES[signal]
        if answer.kind == "drop":
            handler.close_connection = True
            handler.connection.close()  # already shut by die(); no answer goes out
        elif answer.kind == "ok":
            send_reply(handler, 200, response())
        elif answer.kind == "partial":
            send_reply(handler, 200, _partial_response(signal, answer))
        elif answer.kind == "garbage":
            send_reply(handler, 200, GARBAGE)
        else:
            behaviour = answer.behaviour
            headers = ({} if behaviour.retry_after is None
                       else {"Retry-After": f"{behaviour.retry_after:g}"})
            body = Status(code=behaviour.grpc_code().value[0],
                          message=f"fault injection: {behaviour}")
            send_reply(handler, behaviour.http_code(), body, headers)


# -- OTLP/gRPC ----------------------------------------------------------------------------


def _serialize(response: Any) -> bytes:
    # bytes go out as they are: how `garbage` sends what no client can parse
    return response if isinstance(response, bytes) else response.SerializeToString()


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: GrpcFaultReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return self.receiver._reply(context, "traces", request)


class _MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: GrpcFaultReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return self.receiver._reply(context, "metrics", request)


class GrpcFaultReceiver(FaultReceiver):
    """OTLP/gRPC on 127.0.0.1, insecure (``endpoint`` is an http:// URL). Each request
    held by ``slow`` or ``hang`` takes one of ``workers`` threads; past that, gRPC queues
    new requests unseen until one is let go."""

    protocol = "grpc"

    def __init__(self, workers: int = 32) -> None:
        super().__init__()
        self._workers = workers
        self._server: grpc.Server | None = None
        self._executor: ThreadPoolExecutor | None = None

    def _start_server(self, port: int) -> None:
        executor = ThreadPoolExecutor(self._workers, thread_name_prefix="fault-receiver-grpc")
        server = grpc.server(executor)
        # as the generated add_*Servicer_to_server do, but bytes pass the serializer
        for service, servicer in (
            ("opentelemetry.proto.collector.trace.v1.TraceService", _TraceService(self)),
            ("opentelemetry.proto.collector.metrics.v1.MetricsService", _MetricsService(self)),
        ):
            signal = "traces" if isinstance(servicer, _TraceService) else "metrics"
            handler = grpc.unary_unary_rpc_method_handler(
                servicer.Export,
                request_deserializer=REQUESTS[signal].FromString,
                response_serializer=_serialize,
            )
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, {"Export": handler}),))
        bound = 0
        if port:
            try:
                bound = server.add_insecure_port(f"127.0.0.1:{port}")
            except RuntimeError:  # newer grpcio raises where older returned 0
                bound = 0
        if not bound:
            bound = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server, self._executor, self.port = server, executor, bound

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        executor, self._executor = self._executor, None
        if server is not None:
            server.stop(grace=None).wait(10)  # cancels every RPC, closes the socket
        if executor is not None:
            executor.shutdown(wait=False)

    def _reply(self, context: grpc.ServicerContext, signal: str, request: Any) -> Any:
        answer = self._answer(signal, request)
        if answer.kind == "ok":
            return RESPONSES[signal]()
        if answer.kind == "partial":
            return _partial_response(signal, answer)
        if answer.kind == "garbage":
            return GARBAGE
        behaviour = answer.behaviour
        if answer.kind == "drop":
            context.abort(grpc.StatusCode.UNAVAILABLE, "the receiver died")
        if behaviour.retry_after is not None:
            delay = Duration()
            delay.FromNanoseconds(int(behaviour.retry_after * 1e9))
            context.set_trailing_metadata(
                (("google.rpc.retryinfo-bin", RetryInfo(retry_delay=delay).SerializeToString()),))
        context.abort(behaviour.grpc_code(), f"fault injection: {behaviour}")


__all__ = [
    "GARBAGE",
    "Behaviour",
    "FaultReceiver",
    "GrpcFaultReceiver",
    "HttpFaultReceiver",
    "ReceivedRequest",
    "ReceivedSpan",
    "die",
    "fail_n",
    "garbage",
    "hang",
    "ok",
    "partial",
    "slow",
    "status",
]
