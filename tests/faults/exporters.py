"""The stock OpenTelemetry exporters pointed at a receiver, and spans to give them."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

SUCCESS, FAILURE = SpanExportResult.SUCCESS, SpanExportResult.FAILURE
TRACE_ID = 0xABC  #: every span of make_spans; span ids count from 1


class CountingIds(IdGenerator):
    def __init__(self) -> None:
        self.n = 0

    def generate_span_id(self) -> int:
        self.n += 1
        return self.n

    def generate_trace_id(self) -> int:
        return TRACE_ID


def make_spans(count: int = 3) -> list[ReadableSpan]:
    """Finished SDK spans ``span-0``... with attributes ``n`` and ``symbol``."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(id_generator=CountingIds())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("faults")
    for n in range(count):
        tracer.start_span(f"span-{n}", attributes={"n": n, "symbol": "SPY"}).end()
    provider.shutdown()
    return list(memory.get_finished_spans())


def stock_span_exporter(receiver: Any, timeout: float = 1.0, **kwargs: Any) -> Any:
    """The stock OTLP span exporter of ``receiver.protocol``, at ``receiver.endpoint``."""
    if receiver.protocol == "http":
        return HttpSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces", timeout=timeout,
                                **kwargs)
    return GrpcSpanExporter(endpoint=receiver.endpoint, insecure=True, timeout=timeout,
                            **kwargs)
