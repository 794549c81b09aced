"""Histograms aggregated here and added to what the metrics SDK exports.

A synchronous SDK ``Histogram.record`` costs several microseconds (attribute hashing,
measurement objects, storage lookups); one value here is a ``bisect`` and a few integer
updates on the export worker. At export time the series become standard cumulative
explicit-bucket histogram points, appended to the SDK's own ``MetricsData`` by
:class:`HistogramExporter`, so every backend sees ordinary OTel histograms.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

Key = tuple[tuple[str, Any], ...]


class HistogramSeries:
    """One histogram instrument: cumulative buckets per attribute set."""

    def __init__(self, name: str, unit: str, description: str, bounds: Sequence[float]):
        self.name, self.unit, self.description = name, unit, description
        self.bounds = list(bounds)
        self.start = time.time_ns()
        self._series: dict[Key, list[Any]] = {}  #: key -> [count, sum, min, max, buckets]
        self._lock = threading.Lock()

    def record(self, value: float, key: Key) -> None:
        series = self._series.get(key)
        if series is None:
            with self._lock:
                series = self._series.setdefault(
                    key, [0, 0.0, value, value, [0] * (len(self.bounds) + 1)])
        series[0] += 1
        series[1] += value
        if value < series[2]:
            series[2] = value
        if value > series[3]:
            series[3] = value
        series[4][bisect_left(self.bounds, value)] += 1  # OTel buckets: (lower, upper]

    def metric(self, now: int) -> Metric | None:
        with self._lock:
            items = [(k, list(v), list(v[4])) for k, v in self._series.items()]
        if not items:
            return None
        points = [
            HistogramDataPoint(dict(key), self.start, now, s[0], s[1], buckets, self.bounds,
                               s[2], s[3])
            for key, s, buckets in items
        ]
        return Metric(self.name, self.description, self.unit,
                      Histogram(points, AggregationTemporality.CUMULATIVE))


class HistogramExporter(MetricExporter):
    """Wraps the real exporter: adds our histograms to each export of the SDK's data."""

    def __init__(
        self, inner: MetricExporter, series: Sequence[HistogramSeries],
        resource: Resource, scope: InstrumentationScope,
    ) -> None:
        super().__init__()
        self.inner, self.series = inner, list(series)
        self.resource, self.scope = resource, scope
        self.muted = False  #: set in a forked child: exports nothing more
        self.idle: Callable[[], bool] = lambda: False  #: True: nothing to report yet
        self.exported = 0  #: exports the inner exporter took
        self.failed = 0  #: exports it refused or raised on
        self.started = 0  #: exports begun (an idle one included)
        self.in_flight = 0  #: exports under way (one left at exit never finished)
        self.last_error = ""

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.started += 1
        if self.muted or self.idle():
            return MetricExportResult.SUCCESS
        now = time.time_ns()
        ours = [m for s in self.series if (m := s.metric(now)) is not None]
        if ours:
            metrics_data = self._merged(metrics_data, ours)
        self.in_flight += 1  # (the SDK's reader never exports on two threads at once)
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        except Exception as exc:  # counted; the SDK's reader would only log it
            self.failed += 1
            self.last_error = repr(exc)
            return MetricExportResult.FAILURE
        finally:
            self.in_flight -= 1
        if result is MetricExportResult.SUCCESS:
            self.exported += 1
        else:
            self.failed += 1
            self.last_error = f"{type(self.inner).__name__} returned {result.name}"
        return result

    def _merged(self, data: MetricsData, ours: list[Metric]) -> MetricsData:
        """Ours go into the SDK's own scope of the same resource: the stock OTLP encoder
        groups by resource and scope, and a second group of the same keys would replace
        the first."""
        resources = list(data.resource_metrics)
        for i, rm in enumerate(resources):
            scopes = list(rm.scope_metrics)
            for j, sm in enumerate(scopes):
                if sm.scope.name == self.scope.name:
                    scopes[j] = ScopeMetrics(sm.scope, [*sm.metrics, *ours], sm.schema_url)
                    resources[i] = ResourceMetrics(rm.resource, scopes, rm.schema_url)
                    return MetricsData(resources)
        resources.append(ResourceMetrics(self.resource, [ScopeMetrics(self.scope, ours, "")], ""))
        return MetricsData(resources)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis)


class MemoryMetricExporter(MetricExporter):
    """Keeps every export in memory (the ``memory`` backend and tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.exports: list[MetricsData] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.exports.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass
