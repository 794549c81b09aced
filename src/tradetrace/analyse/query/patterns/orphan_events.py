"""``orphan_events(event_types=None)``: event spans nothing followed (no child span, no
span linking to them); ``evidence`` says what that means at the level traced."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import QueryPattern, TraceQuery


class OrphanEvents(QueryPattern):
    name = "orphan_events"

    def find(self, query: TraceQuery, limit: int, event_types: Iterable[str] | None = None
             ) -> tuple[int, list[dict[str, Any]], str]:
        edges = query._edges()
        types = list(event_types) if event_types is not None else None
        count, rows = query._counted(f"""
WITH debug_containers AS (
    SELECT DISTINCT run_id, container_id FROM _spans WHERE handler_name IS NOT NULL
)
SELECT s.trace_id, s.span_id, s.event_type, s.event_id, s.container_id, s.symbol,
       s.strategy_id, s.trade_id, s.start_ns, s.duration_ns / 1000.0 AS duration_us,
       CASE WHEN d.container_id IS NOT NULL THEN 'no_handler' ELSE 'no_consequence' END
           AS evidence
FROM _spans s
LEFT JOIN debug_containers d ON d.container_id = s.container_id
     AND d.run_id IS NOT DISTINCT FROM s.run_id
WHERE s.event_type IS NOT NULL AND s.handler_name IS NULL
  AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], s.event_type))
  AND NOT EXISTS (SELECT 1 FROM {edges} e
                  WHERE e.src_trace = s.trace_id AND e.src_span = s.span_id)
ORDER BY s.start_ns, s.span_id
""", [types, types], limit)
        message = ("below DEBUG a handler call is not a span: `no_consequence` events may "
                   "have been handled without publishing anything traced")
        return count, rows, message
