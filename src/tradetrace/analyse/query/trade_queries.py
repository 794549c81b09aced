"""Trades read back from trace files: their ``trade`` spans, or their events.

A trade whose ``trade`` span was not kept (dropped by its retention policy, or the run
did not end) still has its events, which carry its id: its figures are read from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ... import conventions as conv
from ._load import attr
from .loaded import LoadedSpans
from .results import Trade, TradeEvent, TradeResult, Trades
from .sql import EVENT_SPANS


class TradeQueries(LoadedSpans):
    """Trades, one or filtered, with their events (``_trades``)."""

    def get_trade(self, trade_id: str) -> TradeResult:
        """One trade: its ``trade`` span's figures and every event span of it, in time
        order. A trade whose ``trade`` span was not kept still has its events."""
        found = self._trades("t.trade_id = ?", [trade_id])
        if not found:
            return TradeResult(trade_id, None, f"no trade with id {trade_id!r}"
                               if self.stats.spans else self._empty_message())
        message = "" if found[0].has_trade_span else (
            "no `trade` span for this trade (not kept, or the run did not end): "
            "its figures are read from its events")
        return TradeResult(trade_id, found[0], message)

    def trades(self, symbol: str | None = None, strategy: str | None = None,
               outcome: str | Iterable[str] | None = None, pnl_min: float | None = None,
               pnl_max: float | None = None, start: str | datetime | None = None,
               end: str | datetime | None = None, *, side: str | None = None,
               run: str | None = None, events: bool = True) -> Trades:
        """Trades, filtered. ``start``/``end`` bound the entry time (the exit time for a
        trade without an entry), in the traced system's simulated time, inclusive; a
        trade without either time is left out when one is given. P&L bounds are
        inclusive and leave out trades without a P&L. ``side``: ``LONG`` or ``SHORT``
        (any case). ``run``: one run's trades (its ``tradetrace.run.id``)."""
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if run is not None:
            where.append("t.run_id = ?")
            params.append(run)
        if symbol is not None:
            where.append("t.symbol = ?")
            params.append(symbol)
        if strategy is not None:
            where.append("t.strategy_id = ?")
            params.append(strategy)
        if side is not None:
            where.append("upper(t.side) = ?")
            params.append(side.upper())
        if outcome is not None:
            outcomes = [outcome] if isinstance(outcome, str) else list(outcome)
            where.append("list_contains(?, t.outcome)")
            params.append(outcomes)
        if pnl_min is not None:
            where.append("t.realized_pnl >= ?")
            params.append(float(pnl_min))
        if pnl_max is not None:
            where.append("t.realized_pnl <= ?")
            params.append(float(pnl_max))
        for bound, op in ((start, ">="), (end, "<=")):
            if bound is not None:
                text = bound.isoformat() if isinstance(bound, datetime) else str(bound)
                where.append(f"coalesce(t.entry_time, t.exit_time) {op} ?")
                params.append(text)
        rows = self._trades(" AND ".join(where), params, events)
        filters = {"run": run, "symbol": symbol, "strategy": strategy, "outcome": outcome, "side": side,
                   "pnl_min": pnl_min, "pnl_max": pnl_max,
                   "start": str(start) if start is not None else None,
                   "end": str(end) if end is not None else None}
        message = "" if self.stats.spans else self._empty_message()
        return Trades(rows, filters, message)

    def _trades_table(self) -> None:
        if "_trades" in self._cache:
            return

        def num(name: str) -> str:
            return f"TRY_CAST({attr(name)} AS DOUBLE)"

        def integer(name: str) -> str:
            return f"TRY_CAST({attr(name)} AS BIGINT)"

        # Two statements: as one, DuckDB planned the trade spans twice (the events'
        # anti-join read them again) and took seconds per million spans.
        self.con.execute(f"""
CREATE OR REPLACE TEMP TABLE _trades AS
    SELECT trade_id, true AS has_trade_span,
           {attr(conv.TRADE_OUTCOME)} AS outcome, symbol, strategy_id, container_id,
           {attr(conv.TRADE_SIDE)} AS side, {num(conv.TRADE_QUANTITY)} AS quantity,
           {num(conv.TRADE_ENTRY_PRICE)} AS entry_price,
           {num(conv.TRADE_EXIT_PRICE)} AS exit_price,
           {num(conv.TRADE_PNL)} AS realized_pnl,
           {attr(conv.TRADE_ENTRY_TIME)} AS entry_time,
           {attr(conv.TRADE_EXIT_TIME)} AS exit_time,
           {num(conv.TRADE_HOLDING)} AS holding_period_s,
           {attr(conv.TRADE_EXIT_TYPE)} AS exit_type,
           {integer(conv.TRADE_ORDERS)} AS orders, {integer(conv.TRADE_FILLS)} AS fills,
           {integer(conv.TRADE_REJECTED)} AS rejected_orders,
           {integer(conv.TRADE_ERRORS)} AS errors,
           {num(conv.TRADE_MAX_SLIPPAGE)} AS max_slippage_bps,
           {num(conv.TRADE_MAX_FILL_LATENCY)} AS max_fill_latency_ms,
           {attr(conv.TRADE_KEPT_BY)} AS kept_by, run_id, start_ns, end_ns
    FROM _spans WHERE name = '{conv.TRADE_SPAN_NAME}' AND trade_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY trade_id ORDER BY end_ns DESC) = 1
""")
        self.con.execute(f"""
INSERT INTO _trades BY NAME
    SELECT trade_id, false AS has_trade_span, NULL::VARCHAR AS outcome,
           any_value(symbol) AS symbol, any_value(strategy_id) AS strategy_id,
           arg_min(container_id, start_ns) AS container_id,
           NULL::VARCHAR AS side, NULL::DOUBLE AS quantity,
           arg_min(TRY_CAST({attr(conv.ENTRY_PRICE)} AS DOUBLE), start_ns)
               FILTER (WHERE event_type = 'POSITION_OPEN') AS entry_price,
           arg_max(TRY_CAST({attr(conv.EXIT_PRICE)} AS DOUBLE), start_ns)
               FILTER (WHERE event_type = 'POSITION_CLOSE') AS exit_price,
           arg_max(TRY_CAST({attr(conv.REALIZED_PNL)} AS DOUBLE), start_ns)
               FILTER (WHERE event_type = 'POSITION_CLOSE') AS realized_pnl,
           NULL::VARCHAR AS entry_time, NULL::VARCHAR AS exit_time,
           NULL::DOUBLE AS holding_period_s, NULL::VARCHAR AS exit_type,
           count(*) FILTER (WHERE event_type = 'ORDER') AS orders,
           count(*) FILTER (WHERE event_type = 'FILL') AS fills,
           count(*) FILTER (WHERE event_type = 'FILL'
                            AND upper({attr(conv.STATUS)}) LIKE 'REJECT%') AS rejected_orders,
           count(*) FILTER (WHERE status_code = 2) AS errors,
           NULL::DOUBLE AS max_slippage_bps, NULL::DOUBLE AS max_fill_latency_ms,
           NULL::VARCHAR AS kept_by, any_value(run_id) AS run_id,
           min(start_ns) AS start_ns, max(end_ns) AS end_ns
    FROM _spans
    WHERE trade_id IS NOT NULL AND {EVENT_SPANS}
      AND trade_id NOT IN (SELECT trade_id FROM _trades)
    GROUP BY trade_id
""")
        self._cache.add("_trades")

    def _trades(self, where: str, params: list[Any], events: bool = True) -> list[Trade]:
        self._trades_table()
        rows = self._rows(f"SELECT * FROM _trades t WHERE {where} "
                          "ORDER BY t.start_ns, t.trade_id", params)
        trades = [Trade(**row) for row in rows]
        if not events or not trades:
            return trades
        by_id = {t.trade_id: t for t in trades}
        self.con.execute("CREATE OR REPLACE TEMP TABLE _wanted AS SELECT unnest(?) AS trade_id",
                         [list(by_id)])
        for row in self._rows(f"""
SELECT s.trade_id, s.event_type, s.event_id, s.trace_id, s.span_id, s.container_id,
       s.start_ns, s.duration_ns / 1000.0 AS duration_us, s.order_id,
       {attr(conv.SIDE, 's.attr_keys', 's.attr_values')} AS side,
       TRY_CAST({attr(conv.QUANTITY, 's.attr_keys', 's.attr_values')} AS DOUBLE) AS quantity,
       TRY_CAST({attr(conv.PRICE, 's.attr_keys', 's.attr_values')} AS DOUBLE) AS price,
       {attr(conv.STATUS, 's.attr_keys', 's.attr_values')} AS status
FROM _spans s SEMI JOIN _wanted w ON s.trade_id = w.trade_id
WHERE s.event_type IS NOT NULL AND s.handler_name IS NULL
ORDER BY s.trade_id, s.start_ns, s.span_id
"""):
            by_id[row.pop("trade_id")].events.append(TradeEvent(**row))
        return trades
