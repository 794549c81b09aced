"""OTLP/HTTP with JSON bodies (``OTEL_EXPORTER_OTLP_PROTOCOL=http/json``), sent as is.

Our request lines are OTLP JSON already (``model/otlp_json.py``), so this sink POSTs each one
to ``/v1/traces`` with ``Content-Type: application/json`` and nothing else to do: no
re-encoding, and the sending releases the GIL. It is the fast way to a Collector (which
reads JSON and protobuf alike); the stock protobuf and gRPC exporters cost 60-120 us of
CPU per span, which ``relay.py`` keeps out of the traced process.

The reply is read, not trusted blindly: a ``partialSuccess`` with ``rejectedSpans``
counts those spans as rejected, and a 2xx reply whose body is not an
``ExportTraceServiceResponse`` (a lying receiver) is counted and logged once; its spans
count as exported, since the receiver said so. Endpoint, headers, timeout, compression
and certificates come from the standard ``OTEL_EXPORTER_OTLP_(TRACES_)*`` variables,
read as the Python SDK reads them (timeout in seconds).
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import os
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "http://localhost:4318"
DEFAULT_TIMEOUT_SECONDS = 10.0


class ExportRefused(Exception):
    """The receiver answered with an error status."""

    def __init__(self, status: int, reason: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.retry_after = retry_after  #: seconds the receiver asked us to wait, if any


def _env(env: Mapping[str, str], name: str) -> str:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``."""
    return (env.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}")
            or env.get(f"OTEL_EXPORTER_OTLP_{name}") or "").strip()


def _headers(raw: str) -> dict[str, str]:
    """``key=value,key2=value2`` (values URL-encoded), as the specification writes them."""
    out: dict[str, str] = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[urllib.parse.unquote(key.strip()).lower()] = urllib.parse.unquote(value.strip())
    return out


class OtlpJsonHttpSink:
    """POSTs request lines to an OTLP/HTTP receiver; only the writer thread calls it."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        if not endpoint:
            base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
            endpoint = base.removesuffix("/") + "/v1/traces"
        self.endpoint = endpoint
        url = urllib.parse.urlsplit(endpoint)
        self._https = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._https else 80)
        self._path = (url.path or "/v1/traces") + (f"?{url.query}" if url.query else "")
        try:
            self.timeout = float(_env(env, "TIMEOUT") or DEFAULT_TIMEOUT_SECONDS)
        except ValueError:
            self.timeout = DEFAULT_TIMEOUT_SECONDS
        self.gzip = _env(env, "COMPRESSION").lower() == "gzip"
        self.headers = {"content-type": "application/json", **_headers(_env(env, "HEADERS"))}
        if self.gzip:
            self.headers["content-encoding"] = "gzip"
        self._context: ssl.SSLContext | None = None
        if self._https:
            self._context = ssl.create_default_context(cafile=_env(env, "CERTIFICATE") or None)
            client = _env(env, "CLIENT_CERTIFICATE")
            if client:
                self._context.load_cert_chain(client, _env(env, "CLIENT_KEY") or None)
        self._connection: http.client.HTTPConnection | None = None
        self.rejected = 0  #: spans a receiver said it rejected (partialSuccess)
        self.unreadable_replies = 0  #: 2xx replies that were not an OTLP response

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._https:
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout, context=self._context)
            else:
                self._connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout)
        return self._connection

    def write(self, line: bytes) -> int:
        """Send one line; the number of its spans the receiver rejected. Raises on a
        connection failure or an error status (then none of them count as written)."""
        body = gzip.compress(line, compresslevel=1) if self.gzip else line
        connection = self._connect()
        try:
            connection.request("POST", self._path, body=body, headers=self.headers)
            response = connection.getresponse()
            reply = response.read()
        except Exception:
            self.close()  # a fresh connection next time
            raise
        if not 200 <= response.status < 300:
            retry = response.getheader("Retry-After")
            raise ExportRefused(response.status, response.reason,
                                float(retry) if retry and retry.strip().isdigit() else None)
        return self._rejected(reply)

    def _rejected(self, reply: bytes) -> int:
        if not reply.strip():
            return 0
        try:
            message: Any = json.loads(reply)
            partial = message.get("partialSuccess") or {}
            rejected = int(partial.get("rejectedSpans") or 0)
        except (ValueError, AttributeError, TypeError):
            self.unreadable_replies += 1
            if self.unreadable_replies == 1:
                logger.warning("tradetrace: %s accepted spans with a reply that is not an "
                               "OTLP response (%r...); counted as exported, but check what "
                               "is listening there (logged once)", self.endpoint, reply[:60])
            return 0
        if rejected:
            self.rejected += rejected
            logger.warning("tradetrace: %s rejected %d spans: %s", self.endpoint, rejected,
                           partial.get("errorMessage", ""))
        return rejected

    def flush(self) -> None:
        pass

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except OSError:
                pass

    def shutdown(self) -> None:
        self.close()

    def forget(self) -> None:
        """In a forked child: the parent's connection is the parent's."""
        self._connection = None
