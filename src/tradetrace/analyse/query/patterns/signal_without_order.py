"""``signal_without_order(signal_types, order_types, changed_only=False)``: signals with
no order among their descendants, with the direction of the signal before: why didn't
it trade."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .... import conventions as conv
from .._load import attr
from ..sql import MAX_DEPTH, direction_sql
from . import QueryPattern, TraceQuery


class SignalWithoutOrder(QueryPattern):
    name = "signal_without_order"

    def find(self, query: TraceQuery, limit: int, signal_types: Iterable[str] = ("SIGNAL",),
             order_types: Iterable[str] = ("ORDER", "ORDER_REQUEST"),
             changed_only: bool = False,
             ) -> tuple[int, list[dict[str, Any]], str]:
        signals, orders = list(signal_types), list(order_types)
        # a run at a time over a sweep (query._by_run), the matches gathered in one table
        query.con.execute("DROP TABLE IF EXISTS _matches")
        where = "handler_name IS NULL AND list_contains(?, event_type)"
        for n, scope in enumerate(query._by_run(where, [signals])):
            spans, edges = query._spans_of(scope), query._edges(scope)
            found = f"""
WITH RECURSIVE up(trace_id, span_id, depth) USING KEY (trace_id, span_id) AS (
    SELECT trace_id, span_id, 0 FROM {spans}
    WHERE handler_name IS NULL AND list_contains(?, event_type)
    UNION
    SELECT e.src_trace, e.src_span, up.depth + 1
    FROM up JOIN {edges} e ON e.dst_trace = up.trace_id AND e.dst_span = up.span_id
    WHERE up.depth < {MAX_DEPTH}
),
signals AS (
    SELECT *, lag(direction) OVER (
               PARTITION BY run_id, container_id, strategy_id, symbol
               ORDER BY start_ns, span_id) AS previous_direction
    FROM (SELECT *, {direction_sql(attr(conv.DIRECTION, 'attr_keys', 'attr_values'))}
                        AS direction
          FROM {spans} WHERE handler_name IS NULL AND list_contains(?, event_type))
)
SELECT s.trace_id, s.span_id, s.event_id, s.container_id, s.symbol, s.strategy_id,
       s.direction, s.previous_direction,
       s.start_ns, s.duration_ns / 1000.0 AS duration_us,
       map(s.attr_keys, s.attr_values) AS attributes
FROM signals s
WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.trace_id = s.trace_id
                  AND up.span_id = s.span_id AND up.depth > 0)
  AND (NOT ? OR s.previous_direction IS DISTINCT FROM s.direction)
"""
            query.con.execute(("CREATE TEMP TABLE _matches AS " if n == 0 else
                               "INSERT INTO _matches ") + found,
                              [orders, signals, bool(changed_only)])
        (count,) = query.con.execute("SELECT count(*) FROM _matches").fetchone() or (0,)
        rows = query._rows("SELECT * FROM _matches ORDER BY start_ns, span_id LIMIT ?",
                           [limit])
        for row in rows:
            row["attributes"] = dict(row["attributes"] or {})
        message = ""
        if not changed_only and count:
            message = ("strategies often signal on every bar and trade only when the "
                       "direction changes: changed_only=True (--changed-only) keeps the "
                       "signals whose direction differs from the one before")
        return count, rows, message
