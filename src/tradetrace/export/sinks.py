"""Where encoded spans go: one OTLP JSON request line (UTF-8 bytes) at a time.

Only the export worker's thread calls a sink (export/worker.py).

- :class:`JsonFileSink`: the embedded default, rotated local files;
- :class:`SdkSink`: any OpenTelemetry SDK ``SpanExporter`` (OTLP over gRPC or HTTP, the
  in-memory exporter for tests), fed ``ReadableSpan`` objects decoded from the line;
- :class:`ProviderSink`: the span processors of an SDK ``TracerProvider`` (the program's
  own, or the one ``opentelemetry-instrument`` configured).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any, Protocol

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .. import environment_variables as ev
from ..errors import ConfigError
from .files import RotatingTraceFile
from .otlp_json import STATUS_ERROR, STATUS_OK, BadSpan, Span, decode_request

logger = logging.getLogger(__name__)

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_STATUS = {STATUS_OK: StatusCode.OK, STATUS_ERROR: StatusCode.ERROR}


class SpanSink(Protocol):
    def write(self, line: bytes) -> int | None:
        """Deliver one request line, or raise: then none of its spans count as written.
        May return how many of its spans the receiver said it rejected."""

    def flush(self) -> None: ...
    def shutdown(self) -> None: ...


class JsonFileSink:
    """OTLP JSON lines in rotated local files."""

    def __init__(self, file: RotatingTraceFile) -> None:
        self.file = file

    def write(self, line: bytes) -> None:
        self.file.write_line(line)

    def flush(self) -> None:
        self.file.flush()

    def shutdown(self) -> None:
        self.file.close()

    def forget(self) -> None:
        """In a forked child: the parent's file is the parent's."""
        self.file.forget()


class SdkSink:
    """Hands spans to a standard ``SpanExporter`` as SDK ``ReadableSpan`` objects."""

    def __init__(self, exporter: SpanExporter, resource: Resource, scope: InstrumentationScope):
        self.exporter = exporter
        self.resource = resource
        self.scope = scope

    def write(self, line: bytes) -> None:
        spans = [self.readable(s) for s in decode_request(json.loads(line))
                 if not isinstance(s, BadSpan)]
        result = self.exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            raise RuntimeError(f"{type(self.exporter).__name__} returned {result.name}")

    def flush(self) -> None:
        self.exporter.force_flush()

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def readable(self, s: Span) -> ReadableSpan:
        trace_id = int(s.trace_id, 16)

        def context(span_id: str, trace: int = trace_id) -> SpanContext:
            return SpanContext(trace, int(span_id, 16), is_remote=False, trace_flags=_SAMPLED)

        status = _STATUS.get(s.status_code)
        return ReadableSpan(
            name=s.name,
            context=context(s.span_id),
            parent=context(s.parent_id) if s.parent_id else None,
            resource=self.resource,
            attributes=s.attributes,
            events=[Event(e["name"], e["attributes"], e["time"]) for e in s.events],
            links=[
                Link(context(link["span_id"], int(link["trace_id"], 16)), link["attributes"])
                for link in s.links
            ],
            kind=SpanKind(max(s.kind - 1, 0)),
            status=Status(status, s.status_message or None) if status else Status(),
            start_time=s.start,
            end_time=s.end,
            instrumentation_scope=self.scope,
        )


class ProviderSink(SdkSink):
    """Hands spans to an SDK ``TracerProvider``'s span processors, as if its own tracers
    had ended them: they share the program's exporters, batching and resource.

    The provider is the program's (or ``opentelemetry-distro``'s): it is flushed, never
    shut down, here. Its sampler is not asked; tradetrace's levels decided already.
    """

    def __init__(self, provider: Any, resource: Resource, scope: InstrumentationScope):
        self.provider = provider
        # The program's resource names the service; ours adds the run and the process.
        ours = {k: v for k, v in resource.attributes.items()
                if k.startswith(("trading.", "process."))}
        self.resource = provider.resource.merge(Resource(ours))
        self.scope = scope
        # The SDK has no public accessor for the processors a provider feeds.
        self.processor = provider._active_span_processor

    def write(self, line: bytes) -> None:
        on_end = self.processor.on_end
        for span in decode_request(json.loads(line)):
            if not isinstance(span, BadSpan):
                on_end(self.readable(span))

    def flush(self) -> None:
        self.provider.force_flush()

    def shutdown(self) -> None:
        self.provider.force_flush()


class NullSink:
    def write(self, line: bytes) -> None:
        pass

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def otlp_protocol(env: Mapping[str, str] | None = None) -> str:
    """``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL``: ``http/protobuf`` (the specification's
    default), ``http/json`` or ``grpc``; ConfigError for anything else."""
    env = os.environ if env is None else env
    variable = (
        ev.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
        if env.get(ev.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)
        else ev.OTEL_EXPORTER_OTLP_PROTOCOL
    )
    protocol = (env.get(variable) or "http/protobuf").strip()
    if protocol not in ("http/protobuf", "http/json", "grpc"):
        raise ConfigError(variable, protocol, "grpc, http/protobuf, http/json")
    return protocol


def otlp_sink(env: Mapping[str, str] | None = None) -> SpanSink:
    """The sink for ``storage: otlp``: our JSON lines sent as they are for ``http/json``;
    the stock exporters in a helper process (export/relay.py) for the others."""
    protocol = otlp_protocol(env)
    if protocol == "http/json":
        from .otlp_http import OtlpJsonHttpSink

        return OtlpJsonHttpSink(env)
    from .relay import RelaySink

    return RelaySink(protocol)


def otlp_exporter(env: Mapping[str, str] | None = None) -> SpanExporter:
    """The stock OTLP exporter for ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL``
    (``http/protobuf`` or ``grpc``; the relay helper process runs it); endpoint,
    headers, timeout and compression come from the standard variables."""
    protocol = otlp_protocol(env)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter()
    raise ConfigError("OTEL_EXPORTER_OTLP_PROTOCOL", protocol,
                      "grpc or http/protobuf (http/json is sent without an SDK exporter)")
