"""``rejected_orders()``: ORDER/FILL-type spans whose ``trading.order.status`` starts with
REJECT, with the order's span joined by order id and the reason."""

from __future__ import annotations

from typing import Any

from .... import conventions as conv
from .._load import attr
from . import QueryPattern, TraceQuery


class RejectedOrders(QueryPattern):
    name = "rejected_orders"

    def find(self, query: TraceQuery, limit: int) -> tuple[int, list[dict[str, Any]], str]:
        k, v = "f.attr_keys", "f.attr_values"
        count, rows = query._counted(f"""
SELECT f.trace_id, f.span_id, f.event_type, f.event_id, f.container_id, f.trade_id,
       f.order_id, f.symbol, f.strategy_id, f.start_ns,
       {attr(conv.STATUS, k, v)} AS status,
       coalesce({attr(conv.PAYLOAD_PREFIX + 'reason', k, v)},
                {attr(conv.PAYLOAD_PREFIX + 'reject_reason', k, v)},
                nullif(f.status_message, '')) AS reason,
       TRY_CAST({attr(conv.QUANTITY, k, v)} AS DOUBLE) AS quantity,
       o.event_id AS order_event_id, o.span_id AS order_span_id,
       o.trace_id AS order_trace_id,
       TRY_CAST({attr(conv.QUANTITY, 'o.attr_keys', 'o.attr_values')} AS DOUBLE)
           AS order_quantity,
       TRY_CAST({attr(conv.PRICE, 'o.attr_keys', 'o.attr_values')} AS DOUBLE) AS order_price,
       {attr(conv.SIDE, 'o.attr_keys', 'o.attr_values')} AS order_side
FROM _spans f
LEFT JOIN (SELECT * FROM _spans WHERE event_type IN ('ORDER', 'ORDER_REQUEST')
           AND handler_name IS NULL AND order_id IS NOT NULL
           QUALIFY row_number() OVER (PARTITION BY run_id, order_id ORDER BY start_ns) = 1
          ) o ON o.order_id = f.order_id AND o.run_id IS NOT DISTINCT FROM f.run_id
          AND o.span_id <> f.span_id
WHERE f.handler_name IS NULL AND f.event_type IS NOT NULL
  AND (f.event_type LIKE '%ORDER%' OR f.event_type LIKE '%FILL%')
  AND upper({attr(conv.STATUS, k, v)}) LIKE 'REJECT%'
ORDER BY f.start_ns, f.span_id
""", [], limit)
        return count, rows, ""
