"""The report's tables of what went wrong: rejected orders, and signals that changed
direction with no order (why no trade), each with what can be told of it.

A column no row has a value for is left out with a note saying where the value would
come from, rather than shown empty in every row.
"""

from __future__ import annotations

from typing import Any

from .. import conventions as conv
from .query import TraceQuery
from .query._load import attr
from .report_html import e, table
from .summary import MetricsSummary

PATTERN_ROWS = 20  #: rows per table
_ORDER_TYPES = ("ORDER", "ORDER_REQUEST")


def _heading(heading: str, count: int, shown: int, message: str = "") -> str:
    part = f"<h3>{e(heading)} ({count:,})</h3>"
    if message:
        part += f'<p class="note">{e(message)}</p>'
    if count > shown:
        part += f'<p class="note">first {shown} of {count:,}</p>'
    return part


def _none(what: str) -> str:
    """An empty table is good news, not missing data: said as such."""
    return f'<p class="none">none: {e(what)}</p>'


def _drop_empty(headers: list[str], rows: list[tuple[Any, ...]], column: str
                ) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """``column`` left out when no row has a value in it; whether it was."""
    i = headers.index(column)
    if any(row[i] not in (None, "") for row in rows):
        return headers, rows, False
    return ([h for j, h in enumerate(headers) if j != i],
            [tuple(v for j, v in enumerate(row) if j != i) for row in rows], True)


def rejected_html(query: TraceQuery) -> str:
    found = query.detect_patterns("rejected_orders", limit=PATTERN_ROWS)
    part = _heading("Rejected orders", found.count, len(found.rows), found.message)
    if not found.rows:
        return part + _none("no order was rejected")
    headers = ["order", "trade", "symbol", "strategy", "side", "quantity", "status", "reason"]
    rows = [(r.get("order_id"), r.get("trade_id"), r.get("symbol"), r.get("strategy_id"),
             r.get("order_side"), r.get("order_quantity"), r.get("status"), r.get("reason"))
            for r in found.rows]
    headers, rows, dropped = _drop_empty(headers, rows, "reason")
    if dropped:
        part += ('<p class="note">no reason recorded: a rejection\'s reason is its payload\'s '
                 f"<code>reason</code> (<code>{conv.PAYLOAD_PREFIX}reason</code>, kept at "
                 "DEBUG) or the span's status message; trace the execution container at "
                 "DEBUG to see it</p>")
    return part + table(headers, rows)


def why_no_trade_html(query: TraceQuery, metrics: MetricsSummary | None) -> str:
    """Signals whose direction changed from the one before (same strategy and symbol)
    and led to no order: the ones a strategy trading on changes should have acted on.
    Each with the strategy's last order before it and its next order after, and their
    fills' status: a rejected order before is often why the change found nothing to do."""
    found = query.detect_patterns("signal_without_order", limit=PATTERN_ROWS,
                                  changed_only=True)
    counted = (metrics.signals or {}).get("unanswered") if metrics else None
    # the metrics count every signal, kept or not: said when the traces hold fewer
    message = ("" if counted is None or counted == found.count else
               f"the metrics count {counted:,} changed signal(s) with no order, kept or not")
    part = _heading("Why no trade: direction changed, no order", found.count,
                    len(found.rows), message)
    if not found.rows:
        return part + _none("every change of direction led to an order")
    spans = [r["span_id"] for r in found.rows]
    around, held = orders_around(query, spans), positions_at(query, spans)
    rows = []
    for r in found.rows:
        before, after = around.get(r["span_id"], (None, None))
        rows.append(((r.get("attributes") or {}).get(conv.SIM_TIME), r.get("strategy_id"),
                     r.get("symbol"), f"{r.get('previous_direction') or 'none'} → "
                     f"{r.get('direction') or '?'}", before, after,
                     position_text(held.get(r["span_id"]))))
    return part + table(["signal time (simulated)", "strategy", "symbol", "direction",
                         "order before", "next order", "position held"], rows)


def orders_around(query: TraceQuery, span_ids: list[str]
                   ) -> dict[str, tuple[str | None, str | None]]:
    """Per signal span: its strategy's last order on the symbol before it and first one
    after, as "time side status" (the status is the order's fill's)."""
    side, status = attr(conv.SIDE, "o.attr_keys", "o.attr_values"), attr(conv.STATUS)
    rows = query.sql(f"""
WITH s AS (
    SELECT span_id, coalesce(run_id, '') AS run, strategy_id, symbol, start_ns
    FROM _spans WHERE handler_name IS NULL AND list_contains(?, span_id)
),
fills AS (
    SELECT run_id, order_id, arg_min({status}, start_ns) AS status FROM _spans
    WHERE handler_name IS NULL AND order_id IS NOT NULL AND event_type LIKE '%FILL%'
    GROUP BY ALL
),
o AS (
    SELECT coalesce(o.run_id, '') AS run, o.strategy_id, o.symbol, o.start_ns,
           concat_ws(' ', o.sim_time, {side},
                     coalesce(f.status, 'no fill')) AS what
    FROM _spans o LEFT JOIN fills f ON f.order_id = o.order_id
         AND f.run_id IS NOT DISTINCT FROM o.run_id
    WHERE o.handler_name IS NULL AND list_contains(?, o.event_type)
)
SELECT s.span_id, b.what, a.what
FROM s
ASOF LEFT JOIN o b ON s.run = b.run AND s.strategy_id = b.strategy_id
     AND s.symbol = b.symbol AND s.start_ns > b.start_ns
ASOF LEFT JOIN o a ON s.run = a.run AND s.strategy_id = a.strategy_id
     AND s.symbol = a.symbol AND s.start_ns < a.start_ns
""", [span_ids, list(_ORDER_TYPES)])
    return {span: (before, after) for span, before, after in rows}


def position_text(held: tuple[bool, str, str | None] | None) -> str:
    """A signal's position (:func:`positions_at`) in words: ``LONG since T``, ``none``,
    or ``none (LONG closed T)``."""
    if held is None:
        return "none"
    is_open, side, at = held
    return f"{side} since {at}" if is_open else f"none ({side} closed {at})"


def positions_at(query: TraceQuery, span_ids: list[str]
                 ) -> dict[str, tuple[bool, str, str | None]]:
    """Per signal span: its strategy's last position event on the symbol before it,
    as (still open, side, market time): a POSITION_OPEN (held when the signal came) or
    a POSITION_CLOSE (closed before it). The side is LONG or SHORT, from the event's side
    or the sign of its quantity. Signals with no position before them are left out."""
    side, quantity = attr(conv.SIDE), attr(conv.QUANTITY)
    rows = query.sql(f"""
WITH s AS (
    SELECT span_id, coalesce(run_id, '') AS run, strategy_id, symbol, start_ns
    FROM _spans WHERE handler_name IS NULL AND list_contains(?, span_id)
),
p AS (
    SELECT coalesce(run_id, '') AS run, strategy_id, symbol, start_ns, event_type, sim_time,
           CASE WHEN upper({side}) IN ('LONG', 'BUY') THEN 'LONG'
                WHEN upper({side}) IN ('SHORT', 'SELL') THEN 'SHORT'
                WHEN TRY_CAST({quantity} AS DOUBLE) < 0 THEN 'SHORT'
                WHEN TRY_CAST({quantity} AS DOUBLE) > 0 THEN 'LONG' END AS held
    FROM _spans WHERE handler_name IS NULL
      AND event_type IN ('POSITION_OPEN', 'POSITION_CLOSE')
)
SELECT s.span_id, p.event_type = 'POSITION_OPEN', p.held, p.sim_time
FROM s ASOF JOIN p ON s.run = p.run AND s.strategy_id = p.strategy_id
     AND s.symbol = p.symbol AND s.start_ns > p.start_ns
""", [span_ids])
    return {span: (bool(is_open), held or "?", at) for span, is_open, held, at in rows}
