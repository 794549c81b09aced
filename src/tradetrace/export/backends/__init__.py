"""Storage backends: where spans (and the streaming metrics) go, chosen by name.

``tracing.storage.backend`` (or ``TRADETRACE_STORAGE``) names one; the table of names is
:data:`tradetrace.plugins.SINKS`. A backend is a class with a ``name`` that makes, from
a :class:`SinkContext`, a sink of OTLP JSON lines (:class:`~tradetrace.export.sinks.SpanSink`)
and, if it stores metrics, a metric exporter. Adding one built in is a module here and a
row in the table; another package adds one through the ``tradetrace.sinks`` entry-point
group::

    from tradetrace.export.backends import SinkContext, StorageBackend

    class Lines(StorageBackend):
        name = "lines"

        def sink(self, context: SinkContext) -> "SpanSink":
            return MyLineSink(context.config.output)  # write(line), flush(), shutdown()

The sink is written to from the sink writer thread only, never from the trading thread;
each ``write`` gets one OTLP/JSON ``ExportTraceServiceRequest`` as bytes (one line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from ...config import TracingConfig
    from ..sinks import SpanSink


@dataclass(frozen=True)
class SinkContext:
    """What a backend may build its sink and metric exporter from."""

    config: TracingConfig
    resource: Resource
    scope: InstrumentationScope
    file_stem: str  #: the run id (and the worker's, in a worker process): name files from it


class StorageBackend:
    """Base of storage backends. Subclasses set ``name`` and make a sink."""

    name: ClassVar[str] = ""
    #: whether the encoder process (``tracing.encoder: process``) may build this sink in
    #: its own process (the backend's objects must not be the traced program's)
    encodes_elsewhere: ClassVar[bool] = False

    def sink(self, context: SinkContext) -> SpanSink:
        raise NotImplementedError

    def metrics(self, context: SinkContext) -> tuple[MetricExporter | None, Path | None]:
        """The exporter of the streaming metrics, and their file if there is one;
        (None, None): metrics are not stored."""
        return None, None

    def describe(self, sink: Any) -> str:
        """Where spans go, for the start-up line ("files in ..."); "" says nothing."""
        return ""


def backend(name: str, path: str = "tracing.storage.backend") -> StorageBackend:
    """The backend named ``name`` (:class:`~tradetrace.errors.ConfigError` if none)."""
    from ...plugins import SINKS

    made = SINKS.get(name, path)
    return made() if isinstance(made, type) else made
