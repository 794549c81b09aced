"""``file``: OTLP JSON lines in rotating files, metrics in a JSON-lines file beside them
(the default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter

from ..files import RotatingTraceFile
from ..sinks import JsonFileSink, SpanSink
from . import SinkContext, StorageBackend


class FileBackend(StorageBackend):
    name = "file"
    encodes_elsewhere = True

    def sink(self, context: SinkContext) -> SpanSink:
        config = context.config
        rotation = config.rotation
        file = RotatingTraceFile(config.output, context.file_stem,
                                 int(rotation.max_megabytes * 1024 * 1024),
                                 rotation.max_files, config.permissions)
        return JsonFileSink(file)

    def metrics(self, context: SinkContext) -> tuple[MetricExporter | None, Path | None]:
        from ..metrics import JsonLinesMetricExporter, metrics_file

        path = metrics_file(context.config.output, context.file_stem)
        return JsonLinesMetricExporter(path, context.config.permissions), path

    def describe(self, sink: Any) -> str:
        file = getattr(sink, "file", None)
        return f"files in {file.folder}" if file is not None else ""
