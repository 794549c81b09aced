"""OTLP/gRPC: sends ready-made ``ExportTraceServiceRequest`` bytes (the relay process
encodes them, ``model/otlp_proto.py``) through grpcio's unary call, with no generated
message classes: the request goes out as it is and the reply comes back as bytes.

The channel is configured as the stock gRPC exporter configures its own, from the same
``OTEL_EXPORTER_OTLP_(TRACES_)*`` variables: endpoint (``http://localhost:4317``; its
scheme decides TLS unless ``INSECURE`` says), certificates, headers as metadata,
timeout in seconds, gzip or deflate compression.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ..model.protobuf_wire import fields
from .otlp_http import headers, otlp_variable, timeout_seconds

DEFAULT_ENDPOINT = "http://localhost:4317"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_RETRY_INFO = b"type.googleapis.com/google.rpc.RetryInfo"
#: grpcio backs off reconnecting up to 120 s: a Collector back after a restart would
#: wait that long for us. Five seconds at most between attempts.
_OPTIONS = (("grpc.max_reconnect_backoff_ms", 5000),)


class GrpcRefused(Exception):
    """The receiver answered with an error status."""

    def __init__(self, code: str, details: str, retry_after: float | None) -> None:
        super().__init__(f"gRPC {code}: {details}")
        self.code = code
        self.retry_after = retry_after  #: the receiver's RetryInfo delay, if any


class OtlpGrpcSender:
    """One channel to an OTLP/gRPC receiver; ``send`` makes one unary Export call."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        import grpc  # only in the relay process, and only for grpc

        env = os.environ if env is None else env
        endpoint = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
                    or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT)
        self.endpoint = endpoint
        url = urllib.parse.urlsplit(endpoint)
        insecure = otlp_variable(env, "INSECURE").lower()
        if url.scheme == "https":
            secure = True
        elif insecure:
            secure = insecure != "true"
        else:  # as the stock exporter: TLS unless the scheme is http
            secure = url.scheme != "http"
        target = url.netloc or endpoint
        if secure:
            def read(path: str) -> bytes | None:
                if not path:
                    return None
                with open(path, "rb") as file:
                    return file.read()

            credentials = grpc.ssl_channel_credentials(
                read(otlp_variable(env, "CERTIFICATE")), read(otlp_variable(env, "CLIENT_KEY")),
                read(otlp_variable(env, "CLIENT_CERTIFICATE")))
            self._channel = grpc.secure_channel(target, credentials, _OPTIONS)
        else:
            self._channel = grpc.insecure_channel(target, _OPTIONS)
        compression = otlp_variable(env, "COMPRESSION").lower()
        self._compression = {"gzip": grpc.Compression.Gzip,
                             "deflate": grpc.Compression.Deflate}.get(compression)
        self.timeout = timeout_seconds(env)
        self._metadata = tuple(headers(env).items()) or None
        # No serializers: the request is bytes already, the reply is read by the caller.
        self._export = self._channel.unary_unary(EXPORT)
        self._error = grpc.RpcError

    def send(self, body: bytes) -> bytes:
        """One Export call; the reply's bytes. Raises :class:`GrpcRefused` on an error
        status (with the delay of the receiver's ``google.rpc.RetryInfo``)."""
        try:
            # wait_for_ready: a call while the channel reconnects waits for it (within
            # the timeout) rather than failing at once, as the stock exporter's retries do.
            reply: bytes = self._export(body, timeout=self.timeout, metadata=self._metadata,
                                        compression=self._compression, wait_for_ready=True)
        except self._error as exc:
            call: Any = exc
            code = call.code() if hasattr(call, "code") else None
            raise GrpcRefused(getattr(code, "name", "UNKNOWN"),
                              call.details() if hasattr(call, "details") else repr(exc),
                              _retry_after(call)) from None
        return reply

    def close(self) -> None:
        self._channel.close()


def _retry_after(call: Any) -> float | None:
    """The delay of the receiver's ``google.rpc.RetryInfo``, read by hand: sent alone as
    ``google.rpc.retryinfo-bin`` (where the stock exporter reads it) or among the
    details (``Any`` messages) of the ``google.rpc.Status`` in ``grpc-status-details-bin``."""
    try:
        trailers = dict(call.trailing_metadata() or ())
        retry_info = trailers.get("google.rpc.retryinfo-bin")
        status = trailers.get("grpc-status-details-bin")
        if not isinstance(retry_info, bytes) and isinstance(status, bytes):
            for number, _, detail in fields(status):
                if number == 3 and isinstance(detail, bytes):  # Status.details
                    parts = {n: v for n, _, v in fields(detail)}  # Any: type_url, value
                    if parts.get(1) == _RETRY_INFO:
                        retry_info = parts.get(2)
        if not isinstance(retry_info, bytes):
            return None
        for number, _, delay in fields(retry_info):
            if number == 1 and isinstance(delay, bytes):  # RetryInfo.retry_delay: Duration
                duration = {n: v for n, _, v in fields(delay)}
                seconds, nanos = duration.get(1, 0), duration.get(2, 0)
                if isinstance(seconds, int) and isinstance(nanos, int):
                    return seconds + nanos / 1e9
    except (ValueError, TypeError, AttributeError):
        return None
    return None
