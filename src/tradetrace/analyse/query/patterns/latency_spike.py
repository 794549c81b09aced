"""``latency_spike(threshold_ms=None, relative=None)``: event and handler spans longer
than ``threshold_ms``, and/or longer than ``relative`` times the median of their stage
(container, handler, event type); longest first."""

from __future__ import annotations

from typing import Any

from ..sql import STAGE_SPANS
from . import QueryPattern, TraceQuery


class LatencySpike(QueryPattern):
    name = "latency_spike"

    def find(self, query: TraceQuery, limit: int, threshold_ms: float | None = None,
             relative: float | None = None) -> tuple[int, list[dict[str, Any]], str]:
        if threshold_ms is None and relative is None:
            raise ValueError("latency_spike needs threshold_ms=..., relative=..., or both")
        conditions, params = [], []
        if threshold_ms is not None:
            conditions.append("duration_ns > ?")
            params.append(float(threshold_ms) * 1e6)
        if relative is not None:
            conditions.append("duration_ns > ? * median_ns")
            params.append(float(relative))
        count, rows = query._counted(f"""
SELECT * FROM (
    SELECT trace_id, span_id, name, event_type, event_id, container_id, handler_name,
           trade_id, start_ns, duration_ns, duration_ns / 1000.0 AS duration_us,
           median(duration_ns) OVER (PARTITION BY container_id, handler_name, event_type)
               AS median_ns
    FROM _spans WHERE {STAGE_SPANS}
)
WHERE {" AND ".join(conditions)}
ORDER BY duration_ns DESC, span_id
""", params, limit)
        for row in rows:
            del row["duration_ns"]
            median = row.pop("median_ns")
            row["median_us"] = median / 1000.0
            row["ratio"] = row["duration_us"] * 1000.0 / median if median else None
        return count, rows, ""
