"""Where encoded spans go: one OTLP JSON request line (UTF-8 bytes) at a time.

Only the export worker's thread calls a sink (export/worker.py).

- :class:`JsonFileSink`: the embedded default, rotated local files;
- :class:`SdkSink`: any OpenTelemetry SDK ``SpanExporter`` (OTLP over gRPC or HTTP, the
  in-memory exporter for tests), fed ``ReadableSpan`` objects decoded from the line;
- :class:`ProviderSink`: the exporters and span processors of an SDK ``TracerProvider``
  (the program's own, or the one ``opentelemetry-instrument`` configured).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any, Protocol

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .. import environment_variables as ev
from ..errors import ConfigError
from ..model.otlp_json import STATUS_ERROR, STATUS_OK, BadSpan, Span, decode_request
from .files import RotatingTraceFile

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
    """Hands spans to an SDK ``TracerProvider``'s pipeline: they share the program's
    exporters and resource (the program's own, or ``opentelemetry-distro``'s).

    The SDK's exporting processors (``BatchSpanProcessor``, ``SimpleSpanProcessor``) are
    not fed: their exporters are called from this sink, on tradetrace's writer thread.
    A batch processor would report nothing back (a Collector that is down loses every
    span unseen, and a full queue drops spans with a log line only) and would make the
    exit wait on its own retries; called here, every failure is counted, the writer
    rests after one, and the exit waits at most the flush timeout. Other processors get
    ``on_end`` as from the provider's own tracers. A line counts as written once every
    exporter took it.

    The provider is flushed, never shut down: it stays the program's. Its sampler is not
    asked; tradetrace's levels decided already.
    """

    def __init__(self, provider: Any, resource: Resource, scope: InstrumentationScope,
                 timeout_seconds: float = 5.0):
        self.provider = provider
        # The program's resource names the service; ours adds the run and the process.
        ours = {k: v for k, v in resource.attributes.items()
                if k.startswith(("trading.", "process."))}
        self.resource = provider.resource.merge(Resource(ours))
        self.scope = scope
        self.timeout_millis = int(timeout_seconds * 1000)
        # The SDK has no public accessor for the processors a provider feeds.
        self.processor = provider._active_span_processor
        self._seen: Any = None
        self._exporters: list[SpanExporter] = []
        self._others: list[Any] = []

    def _split(self) -> tuple[list[SpanExporter], list[Any]]:
        """(exporters called here, processors fed), read again whenever the program
        adds a processor to its provider."""
        processors = getattr(self.processor, "_span_processors", (self.processor,))
        if processors is not self._seen:
            self._seen = processors
            self._exporters, self._others = [], []
            for processor in processors:
                if type(processor) in (BatchSpanProcessor, SimpleSpanProcessor):
                    self._exporters.append(processor.span_exporter)
                else:
                    self._others.append(processor)
        return self._exporters, self._others

    def write(self, line: bytes) -> None:
        exporters, others = self._split()
        spans = [self.readable(s) for s in decode_request(json.loads(line))
                 if not isinstance(s, BadSpan)]
        for processor in others:
            for span in spans:
                processor.on_end(span)
        failed = [f"{type(e).__name__} returned {result.name}" for e in exporters
                  if (result := e.export(spans)) is not SpanExportResult.SUCCESS]
        if failed:
            raise RuntimeError("; ".join(failed))

    def flush(self) -> None:
        exporters, others = self._split()
        for exporter in exporters:
            exporter.force_flush(self.timeout_millis)
        for processor in others:
            processor.force_flush(self.timeout_millis)

    def shutdown(self) -> None:
        self.flush()

    @property
    def description(self) -> str:
        """For the start and exit lines: what the provider does with the spans."""
        exporters, others = self._split()
        if not exporters and not others:
            return "the OpenTelemetry SDK's TracerProvider, which has no span processor"
        # The stock OTLP exporters keep their endpoint in a private attribute.
        endpoints = [getattr(e, "_endpoint", "") for e in exporters]
        parts = [type(e).__name__ + (f" to {where}" if where else "")
                 for e, where in zip(exporters, endpoints)]
        parts += [f"{len(others)} span processor(s)"] if others else []
        return "the OpenTelemetry SDK's " + " and ".join(parts)


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
    encoded to protobuf and sent by a helper process (export/relay.py) for the others."""
    protocol = otlp_protocol(env)
    if protocol == "http/json":
        from .otlp_http import OtlpJsonHttpSink

        return OtlpJsonHttpSink(env)
    from .relay import RelaySink

    return RelaySink(protocol)
