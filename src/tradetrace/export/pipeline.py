"""The export side of a session, made from a configuration: sink, metrics, trade
retention, span encoder and worker.

The session builds the sink and metrics in the traced process when spans are encoded
there (``tracing.encoder: thread``, the default, or a sink that is an object of the
program's: its own ``SpanExporter`` or ``TracerProvider``); the encoder process builds
the whole of it from the setup the session sends (``encoder_process.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .. import conventions as conv
from ..config import TracingConfig
from ..errors import ConfigError
from ..model.otlp_json import RequestWriter
from ..retain.buffer import ContainerBuffers
from ..retain.tail import TailRetention
from ..retain.trade_rules import TradeRules
from .accounting import account
from .backends import SinkContext, backend
from .sinks import ProviderSink, SdkSink, SpanSink
from .spans import SpanEncoder
from .worker import ENCODE_ERROR, ExportWorker

logger = logging.getLogger(__name__)


def make_sink(config: TracingConfig, resource: Resource, scope: InstrumentationScope,
              file_stem: str, exporter: Any = None, tracer_provider: Any = None) -> SpanSink:
    """Where spans go: the program's exporter or provider, else the configured backend
    (``backends/``, by name)."""
    if exporter is not None:
        return SdkSink(exporter, resource, scope)
    if tracer_provider is not None:
        if not hasattr(tracer_provider, "_active_span_processor"):
            raise ConfigError("tracer_provider", type(tracer_provider).__name__,
                              "an SDK TracerProvider (opentelemetry.sdk.trace)")
        return ProviderSink(tracer_provider, resource, scope, config.flush_timeout_seconds)
    return backend(config.backend).sink(SinkContext(config, resource, scope, file_stem))


def make_metrics(config: TracingConfig, backend_name: str, resource: Resource, file_stem: str,
                 routes: Callable[[], Iterable[Any]],
                 tail: Callable[[], Any],
                 lost: Callable[[], dict[str, int]] | None = None) -> tuple[Any, Path | None]:
    """The streaming metrics and their file, if any, stored by the backend named
    ``backend_name``; (None, None) when off or broken (metrics are an extra: tracing goes
    on without them)."""
    if not config.metrics.enabled:
        return None, None
    try:
        from .metrics import TradingMetrics

        context = SinkContext(config, resource, InstrumentationScope("tradetrace"), file_stem)
        exporter, path = backend(backend_name).metrics(context)
        if exporter is None:
            return None, None
        return TradingMetrics(exporter, config.metrics.interval_seconds, resource, routes,
                              tail, lost), path
    except Exception:
        logger.exception("tradetrace: metrics could not be set up; tracing without them")
        return None, None


def make_resource(config: TracingConfig, worker: str | None = None) -> Resource:
    """SDK resource: OTEL_RESOURCE_ATTRIBUTES, then our service name and run id on top,
    and the process (with the worker id in a worker process of a traced parent)."""
    attributes: dict[str, Any] = {conv.RUN_ID: config.run_id, "process.pid": os.getpid()}
    if worker is not None:
        attributes[conv.WORKER_ID] = worker
        attributes["process.parent_pid"] = os.getppid()
    if config.service_name is not None:
        attributes["service.name"] = config.service_name
    resource = Resource.create(attributes)
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "trading"}))
    return resource


def retention_stats(tail: TailRetention | None) -> dict[str, Any]:
    if tail is None:
        return {}
    stats = tail.stats
    return {
        "open_trades": tail.open_trades,
        "trades_completed": dict(stats.trades_completed),
        "trades_kept": stats.trades_kept,
        "spans_exported": stats.spans_passed,
        "spans_dropped": stats.spans_dropped,
        "spans_evicted": stats.spans_evicted,
        "spans_held": stats.spans_held,
        "bytes_held": stats.bytes_held,
        "anomalies": dict(tail.tracker.stats.anomalies),
        "orders_forgotten": tail.tracker.stats.orders_forgotten,
    }


def encoding_figures() -> dict[str, Any]:
    """What the span encoder counted in this process (class-level counters)."""
    from ..model.otlp_json import EncodingStats
    from .attributes import ConversionStats

    return {
        "payload_values_skipped": ConversionStats.skipped,
        "payload_values_redacted": ConversionStats.redacted,
        "characters_replaced": EncodingStats.replaced,
        "cache_resets": dict(EncodingStats.cache_resets),
    }


class EncoderPipeline:
    """The encoder process's whole export side, from the setup its parent sent."""

    def __init__(self, setup: dict[str, Any]) -> None:
        config: TracingConfig = setup["config"]
        self.config = config
        resource = Resource(setup["resource"])
        scope = InstrumentationScope(*setup["scope"])
        self.sink = make_sink(config, resource, scope, setup["file_stem"])
        self.buffers = ContainerBuffers(0.0)
        encoder = SpanEncoder(config.run_id, setup["adapter"], config.redaction)
        request = RequestWriter(sorted(resource.attributes.items()), scope.name,
                                scope.version or "")
        self.routes: Callable[[], Iterable[Any]] = list
        self.tail: TailRetention | None = None
        self.metrics, self.metrics_path = make_metrics(
            config, setup["metrics_backend"], resource, setup["file_stem"],
            lambda: self.routes(), lambda: self.tail)
        self.tail = TailRetention(config.trade_rules or TradeRules(), config.limits,
                                  self.metrics)
        self.worker = ExportWorker(self.buffers, encoder, request, self.sink,
                                   tail=self.tail)
        self.flush_timeout = config.flush_timeout_seconds
        self.unreadable = 0  #: records in frames that could not be read

    def report(self) -> dict[str, Any]:
        accounting = account(self.buffers, self.worker, self.tail).as_dict()
        if self.unreadable:
            accounting["recorded"] += self.unreadable
            dropped = accounting["dropped"]
            dropped[ENCODE_ERROR] = dropped.get(ENCODE_ERROR, 0) + self.unreadable
        stats = self.worker.stats
        file = getattr(self.sink, "file", None)
        return {
            "accounting": accounting,
            "pid": os.getpid(),
            "export_errors": stats.export_errors,
            "build_errors": stats.build_errors,
            "last_error": stats.last_error,
            "retention": retention_stats(self.tail),
            "metrics": self.metrics.accounting() if self.metrics is not None else None,
            "metrics_file": str(self.metrics_path) if self.metrics_path else None,
            "trace_files": [str(p) for p in getattr(file, "paths", [])],
            **encoding_figures(),
        }

    def shutdown(self, timeout: float) -> None:
        if not self.worker.shutdown(timeout):
            logger.warning("tradetrace encoder: not everything was written in %.1f s", timeout)
        if self.metrics is not None:
            self.metrics.shutdown(timeout)
