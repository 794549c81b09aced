"""Where built spans go: local OTLP JSON files, or any OpenTelemetry SDK span exporter
(OTLP over gRPC or HTTP, the in-memory exporter for tests, the console)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Protocol

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

from .. import environment_variables as ev
from .files import RotatingTraceFile
from .otlp_json import OtlpJsonEncoder
from .spans import STATUS_ERROR, STATUS_OK, SpanData

logger = logging.getLogger(__name__)

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_STATUS = {STATUS_OK: StatusCode.OK, STATUS_ERROR: StatusCode.ERROR}


class SpanSink(Protocol):
    def export(self, spans: Sequence[SpanData]) -> None: ...
    def flush(self) -> None: ...
    def shutdown(self) -> None: ...


class JsonFileSink:
    """The embedded default: OTLP JSON lines in rotated local files."""

    def __init__(self, encoder: OtlpJsonEncoder, file: RotatingTraceFile) -> None:
        self.encoder = encoder
        self.file = file

    def export(self, spans: Sequence[SpanData]) -> None:
        self.file.write_line(self.encoder.encode(spans))

    def flush(self) -> None:
        self.file.flush()

    def shutdown(self) -> None:
        self.file.close()


class SdkSink:
    """Hands spans to a standard ``SpanExporter`` as SDK ``ReadableSpan`` objects."""

    def __init__(self, exporter: SpanExporter, resource: Resource, scope: InstrumentationScope):
        self.exporter = exporter
        self.resource = resource
        self.scope = scope
        self.failed_batches = 0

    def export(self, spans: Sequence[SpanData]) -> None:
        result = self.exporter.export([self.readable(s) for s in spans])
        if result is not SpanExportResult.SUCCESS:
            self.failed_batches += 1
            raise RuntimeError(f"{type(self.exporter).__name__} returned {result.name}")

    def flush(self) -> None:
        self.exporter.force_flush()

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def readable(self, s: SpanData) -> ReadableSpan:
        context = SpanContext(s.trace_id, s.span_id, is_remote=False, trace_flags=_SAMPLED)
        parent = (
            SpanContext(s.trace_id, s.parent_id, is_remote=False, trace_flags=_SAMPLED)
            if s.parent_id
            else None
        )
        links = [
            Link(SpanContext(t, i, is_remote=False, trace_flags=_SAMPLED), dict(attrs))
            for t, i, attrs in s.links
        ]
        events = [Event(name, dict(attrs), when) for name, when, attrs in s.events]
        status = (
            Status(_STATUS[s.status], s.status_message or None) if s.status in _STATUS else Status()
        )
        return ReadableSpan(
            name=s.name,
            context=context,
            parent=parent,
            resource=self.resource,
            attributes=dict(s.attributes),
            events=events,
            links=links,
            kind=s.kind,
            status=status,
            start_time=s.start,
            end_time=s.end,
            instrumentation_scope=self.scope,
        )


class NullSink:
    def export(self, spans: Sequence[SpanData]) -> None:
        pass

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def otlp_exporter(env: Any = None) -> SpanExporter:
    """The stock OTLP exporter for ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`` (default
    ``http/protobuf``, as the OTLP specification says); endpoint, headers, timeout and
    compression come from the standard ``OTEL_EXPORTER_OTLP_*`` variables."""
    env = os.environ if env is None else env
    protocol = (
        env.get(ev.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)
        or env.get(ev.OTEL_EXPORTER_OTLP_PROTOCOL)
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    else:
        from ..errors import ConfigError

        raise ConfigError(ev.OTEL_EXPORTER_OTLP_PROTOCOL, protocol, "grpc, http/protobuf")
    return OTLPSpanExporter()
