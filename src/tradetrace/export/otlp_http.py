"""OTLP/HTTP: the sender shared by both bodies, and the ``http/json`` sink.

Our request lines are OTLP JSON already (``model/otlp_json.py``), so for
``OTEL_EXPORTER_OTLP_PROTOCOL=http/json`` :class:`OtlpJsonHttpSink` POSTs each one to
``/v1/traces`` with ``Content-Type: application/json`` and nothing else to do: no
re-encoding, and the sending releases the GIL. ``http/protobuf`` goes through the relay
process (``relay.py``), which encodes each line to protobuf (``model/otlp_proto.py``)
and POSTs it with the same :class:`OtlpHttpSender`.

The reply is read, not trusted blindly: a ``partialSuccess`` with ``rejectedSpans``
counts those spans as rejected, and a 2xx reply whose body is not an
``ExportTraceServiceResponse`` (a lying receiver) is counted and logged once; its spans
count as exported, since the receiver said so (:class:`ReplyCounts`). Endpoint, headers,
timeout, compression and certificates come from the standard
``OTEL_EXPORTER_OTLP_(TRACES_)*`` variables, read as the Python SDK reads them (timeout
in seconds).
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


def otlp_variable(env: Mapping[str, str], name: str) -> str:
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


class ReplyCounts:
    """What receivers said besides yes: spans rejected, replies that were no OTLP
    response. Counted and logged in the traced process, whichever process sent."""

    endpoint = ""

    def __init__(self) -> None:
        self.rejected = 0  #: spans a receiver said it rejected (partialSuccess)
        self.unreadable_replies = 0  #: 2xx replies that were not an OTLP response

    def count_rejected(self, rejected: int, message: str) -> int:
        if rejected > 0:
            self.rejected += rejected
            logger.warning("tradetrace: %s rejected %d spans: %s", self.endpoint, rejected,
                           message)
        return max(rejected, 0)

    def count_unreadable(self, sample: str) -> None:
        self.unreadable_replies += 1
        if self.unreadable_replies == 1:
            logger.warning("tradetrace: %s accepted spans with a reply that is not an "
                           "OTLP response (%s...); counted as exported, but check what "
                           "is listening there (logged once)", self.endpoint, sample)


class OtlpHttpSender:
    """POSTs request bodies to an OTLP/HTTP receiver over one kept-alive connection."""

    def __init__(self, env: Mapping[str, str] | None = None,
                 content_type: str = "application/json") -> None:
        env = os.environ if env is None else env
        self.endpoint = endpoint = traces_endpoint(env)
        url = urllib.parse.urlsplit(endpoint)
        self._https = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._https else 80)
        self._path = (url.path or "/v1/traces") + (f"?{url.query}" if url.query else "")
        self.timeout = timeout_seconds(env)
        self.gzip = otlp_variable(env, "COMPRESSION").lower() == "gzip"
        self.headers = {"content-type": content_type, **headers(env)}
        if self.gzip:
            self.headers["content-encoding"] = "gzip"
        self._context: ssl.SSLContext | None = None
        if self._https:
            self._context = ssl.create_default_context(
                cafile=otlp_variable(env, "CERTIFICATE") or None)
            client = otlp_variable(env, "CLIENT_CERTIFICATE")
            if client:
                self._context.load_cert_chain(client, otlp_variable(env, "CLIENT_KEY") or None)
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._https:
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout, context=self._context)
            else:
                self._connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout)
        return self._connection

    def send(self, body: bytes) -> bytes:
        """POST one request; the reply's body. Raises on a connection failure or an
        error status (:class:`ExportRefused`, with the receiver's Retry-After)."""
        if self.gzip:
            body = gzip.compress(body, compresslevel=1)
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
        return reply

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except OSError:
                pass

    def forget(self) -> None:
        """In a forked child: the parent's connection is the parent's."""
        self._connection = None


def traces_endpoint(env: Mapping[str, str]) -> str:
    """The URL spans are POSTed to: the traces endpoint as given, else the base
    endpoint's ``/v1/traces``."""
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if endpoint:
        return endpoint
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    return base.removesuffix("/") + "/v1/traces"


def timeout_seconds(env: Mapping[str, str]) -> float:
    try:
        return float(otlp_variable(env, "TIMEOUT") or DEFAULT_TIMEOUT_SECONDS)
    except ValueError:
        return DEFAULT_TIMEOUT_SECONDS


def headers(env: Mapping[str, str]) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``, keys in lower case."""
    return _headers(otlp_variable(env, "HEADERS"))


class OtlpJsonHttpSink(ReplyCounts):
    """POSTs request lines as they are (``http/json``); only the writer thread calls it."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.sender = OtlpHttpSender(env, "application/json")
        self.endpoint = self.sender.endpoint

    def write(self, line: bytes) -> int:
        """Send one line; the number of its spans the receiver rejected. Raises on a
        connection failure or an error status (then none of them count as written)."""
        reply = self.sender.send(line)
        if not reply.strip():
            return 0
        try:
            message: Any = json.loads(reply)
            partial = message.get("partialSuccess") or {}
            rejected = int(partial.get("rejectedSpans") or 0)
        except (ValueError, AttributeError, TypeError):
            self.count_unreadable(repr(reply[:60]))
            return 0
        return self.count_rejected(rejected, str(partial.get("errorMessage", "")))

    def close(self) -> None:
        self.sender.close()

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        self.sender.close()

    def forget(self) -> None:
        """In a forked child: the parent's connection is the parent's."""
        self.sender.forget()
