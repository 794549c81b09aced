"""``memory``: spans as SDK ``ReadableSpan`` objects in an ``InMemorySpanExporter`` (and
metrics in memory), for tests and notebooks: ``tradetrace.configure(...).exporter``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter

from ..sinks import SdkSink, SpanSink
from . import SinkContext, StorageBackend


class MemoryBackend(StorageBackend):
    name = "memory"

    def sink(self, context: SinkContext) -> SpanSink:
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        return SdkSink(InMemorySpanExporter(), context.resource, context.scope)

    def metrics(self, context: SinkContext) -> tuple[MetricExporter | None, Path | None]:
        from ..histograms import MemoryMetricExporter

        return MemoryMetricExporter(), None

    def describe(self, sink: Any) -> str:
        exporter = getattr(sink, "exporter", None)
        return type(exporter).__name__ if exporter is not None else ""
