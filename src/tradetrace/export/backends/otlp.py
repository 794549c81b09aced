"""``otlp``: spans and metrics over OTLP to a Collector or any backend, configured by the
standard ``OTEL_EXPORTER_OTLP_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter

from ..sinks import SpanSink, otlp_sink
from . import SinkContext, StorageBackend


class OtlpBackend(StorageBackend):
    name = "otlp"
    encodes_elsewhere = True

    def sink(self, context: SinkContext) -> SpanSink:
        return otlp_sink()

    def metrics(self, context: SinkContext) -> tuple[MetricExporter | None, Path | None]:
        from ..metrics import otlp_metric_exporter

        return otlp_metric_exporter(), None

    def describe(self, sink: Any) -> str:
        endpoint = getattr(sink, "endpoint", None)
        if endpoint:
            return f"OTLP to {endpoint}"
        protocol = getattr(sink, "protocol", None)
        return f"OTLP ({protocol})" if protocol else ""
