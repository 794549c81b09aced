"""Read metric lines back: the latest cumulative value of every series.

Our metrics files (and the Collector's file exporter) hold one OTLP JSON
``ExportMetricsServiceRequest`` per line, each a cumulative snapshot; the last point of a
series (metric name, attributes, run) is its total. Malformed parts are counted.

>>> digest = MetricsDigest()
>>> digest.add({"resourceMetrics": [{"resource": {"attributes": []}, "scopeMetrics": [
...     {"metrics": [{"name": "trading.trades.completed", "sum": {"dataPoints": [
...         {"asInt": "3", "timeUnixNano": "1", "attributes": [
...             {"key": "trading.trade.outcome", "value": {"stringValue": "win"}}]}]}}]}]}]})
>>> digest.total("trading.trades.completed", by="trading.trade.outcome")
{'win': 3}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import conventions as conv
from ..model.otlp_json import decode_attributes


@dataclass
class Point:
    attributes: dict[str, Any]
    time: int
    value: float | None = None  #: sums and gauges
    count: int = 0  #: histograms
    sum: float = 0.0
    min: float | None = None
    max: float | None = None
    bounds: list[float] = field(default_factory=list)
    buckets: list[int] = field(default_factory=list)

    def quantile(self, q: float) -> float | None:
        """Estimated from the buckets (the upper bound of the bucket holding rank q)."""
        if not self.count or not self.buckets:
            return None
        rank, seen = q * self.count, 0
        for i, n in enumerate(self.buckets):
            seen += n
            if seen >= rank and n:
                bound = self.bounds[i] if i < len(self.bounds) else None
                if bound is None or (self.max is not None and self.max < bound):
                    return self.max
                return bound
        return self.max


class MetricsDigest:
    """Latest points by (metric, run, attributes), from any number of metric lines."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str, tuple[tuple[str, Any], ...]], Point] = {}
        self.bad = 0

    def add(self, request: dict[str, Any]) -> None:
        try:
            for batch in request.get("resourceMetrics") or []:
                resource = decode_attributes((batch.get("resource") or {}).get("attributes"))
                run = str(resource.get(conv.RUN_ID, ""))
                for scope in batch.get("scopeMetrics") or []:
                    for metric in scope.get("metrics") or []:
                        self._metric(run, metric)
        except (AttributeError, TypeError, ValueError, RecursionError):
            self.bad += 1

    def _metric(self, run: str, metric: dict[str, Any]) -> None:
        name = metric["name"]
        for kind in ("sum", "gauge", "histogram"):
            body = metric.get(kind)
            if body is None:
                continue
            for raw in body.get("dataPoints") or []:
                attrs = decode_attributes(raw.get("attributes"))
                point = Point(attrs, int(raw.get("timeUnixNano", 0)))
                if kind == "histogram":
                    point.count = int(raw.get("count", 0))
                    point.sum = float(raw.get("sum", 0.0))
                    point.min = float(raw["min"]) if "min" in raw else None
                    point.max = float(raw["max"]) if "max" in raw else None
                    point.bounds = [float(b) for b in raw.get("explicitBounds", [])]
                    point.buckets = [int(b) for b in raw.get("bucketCounts", [])]
                else:
                    value = raw.get("asInt", raw.get("asDouble", 0))
                    point.value = float(value)
                key = (name, run, tuple(sorted(attrs.items())))
                old = self._latest.get(key)
                if old is None or point.time >= old.time:
                    self._latest[key] = point

    def points(self, name: str) -> list[Point]:
        return [p for (n, _, _), p in self._latest.items() if n == name]

    def total(self, name: str, by: str | None = None) -> dict[str, int | float]:
        """Sum of the latest values across runs, grouped by one attribute."""
        out: dict[str, int | float] = {}
        for point in self.points(name):
            key = str(point.attributes.get(by, "")) if by else ""
            value = point.value if point.value is not None else point.count
            total = out.get(key, 0) + value
            out[key] = int(total) if float(total).is_integer() else total
        return out

    def histogram(self, name: str, where: dict[str, Any] | None = None) -> Point | None:
        """The series of a histogram (those with ``where``'s attributes) merged; the
        same bounds are assumed, as the SDK's defaults give."""
        merged: Point | None = None
        for point in self.points(name):
            if where and any(point.attributes.get(k) != v for k, v in where.items()):
                continue
            if merged is None:
                merged = Point({}, point.time, bounds=list(point.bounds),
                               buckets=[0] * len(point.buckets))
            merged.count += point.count
            merged.sum += point.sum
            for attr, pick in (("min", min), ("max", max)):
                a, b = getattr(merged, attr), getattr(point, attr)
                setattr(merged, attr, b if a is None else a if b is None else pick(a, b))
            if len(point.buckets) == len(merged.buckets):
                merged.buckets = [x + y for x, y in zip(merged.buckets, point.buckets)]
        return merged

    def __bool__(self) -> bool:
        return bool(self._latest)
