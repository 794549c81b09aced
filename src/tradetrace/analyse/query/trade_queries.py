"""Trades read back from trace files: their ``trade`` spans, or their events.

A trade whose ``trade`` span was not kept (dropped by its retention policy, or the run
did not end) still has its events, which carry its id: its figures are read from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ... import conventions as conv
from . import trade_rows
from ._load import attr
from .loaded import LoadedSpans
from .results import Trade, TradeEvent, TradeResult, Trades
from .sql import of_runs

#: What trades can be ordered by (``trades(order=...)``).
TRADE_ORDERS = (
    "trade_id", "outcome", "symbol", "strategy_id", "side", "quantity", "entry_price",
    "exit_price", "realized_pnl", "entry_time", "exit_time", "holding_period_s",
    "max_slippage_bps", "max_fill_latency_ms", "kept_by", "orders", "fills", "start_ns",
)


class TradeQueries(LoadedSpans):
    """Trades, one or filtered, with their events (``_trades``)."""

    def get_trade(self, trade_id: str, run: str | None = None) -> TradeResult:
        """One trade: its ``trade`` span's figures and every event span of it, in time
        order. A trade whose ``trade`` span was not kept still has its events. Trade ids
        are a run's own: ``run`` says whose (without it, the first run's that has it)."""
        found = self._trades("t.trade_id = ?" + ("" if run is None else " AND t.run_id = ?"),
                             [trade_id] + ([] if run is None else [run]), limit=1)
        if not found:
            where = "" if run is None else f" in run {run!r}"
            return TradeResult(trade_id, None, f"no trade with id {trade_id!r}{where}"
                               if self.stats.spans else self._empty_message())
        message = "" if found[0].has_trade_span else (
            "no `trade` span for this trade (not kept, or the run did not end): "
            "its figures are read from its events")
        return TradeResult(trade_id, found[0], message)

    def trades(self, symbol: str | None = None, strategy: str | None = None,
               outcome: str | Iterable[str] | None = None, pnl_min: float | None = None,
               pnl_max: float | None = None, start: str | datetime | None = None,
               end: str | datetime | None = None, *, side: str | None = None,
               run: str | None = None, events: bool = True, order: str | None = None,
               limit: int | None = None, offset: int = 0) -> Trades:
        """Trades, filtered. ``start``/``end`` bound the entry time (the exit time for a
        trade without an entry), in the traced system's simulated time, inclusive; a
        trade without either time is left out when one is given. P&L bounds are
        inclusive and leave out trades without a P&L. ``side``: ``LONG`` or ``SHORT``
        (any case). ``run``: one run's trades (its ``tradetrace.run.id``).

        Rows come in entry order, or by ``order`` (one of :data:`TRADE_ORDERS`, with
        ``-`` in front for descending); ``limit`` and ``offset`` choose a page of them,
        and ``total`` says how many matched."""
        if order is not None and order.lstrip("-") not in TRADE_ORDERS:
            raise ValueError(f"order {order!r}: expected one of {', '.join(TRADE_ORDERS)}, "
                             "with - in front for descending")
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
        condition = " AND ".join(where)
        rows = self._trades(condition, params, events, order, limit, offset)
        if limit is None and not offset:
            total = len(rows)
        else:
            (total,) = self.con.execute(f"SELECT count(*) FROM _trades t WHERE {condition}",
                                        params).fetchone() or (0,)
        filters = {"run": run, "symbol": symbol, "strategy": strategy, "outcome": outcome,
                   "side": side, "pnl_min": pnl_min, "pnl_max": pnl_max,
                   "start": str(start) if start is not None else None,
                   "end": str(end) if end is not None else None}
        message = "" if self.stats.spans else self._empty_message()
        return Trades(rows, filters, message, total=int(total))

    def _trades_table(self) -> None:
        if "_trades" in self._cache:
            return
        # the rows, read once (combining reads them twice): the index's, or the spans'
        if not self._indexed_trade_rows():
            self.con.execute("CREATE OR REPLACE TEMP TABLE _trade_rows AS "
                             + trade_rows.rows_sql("_spans"))
        for statement in trade_rows.COMBINE:
            self.con.execute(statement)
        self._cache.add("_trades")

    def _trades(self, where: str, params: list[Any], events: bool = True,
                order: str | None = None, limit: int | None = None,
                offset: int = 0) -> list[Trade]:
        self._trades_table()
        by = "t.start_ns, t.trade_id"
        if order is not None:
            column = order.lstrip("-")
            by = (f"t.{column} {'DESC' if order.startswith('-') else 'ASC'} NULLS LAST, "
                  + by)
        page = f" LIMIT {int(limit)}" if limit is not None else ""
        page += f" OFFSET {int(offset)}" if offset else ""
        rows = self._rows(f"SELECT * FROM _trades t WHERE {where} ORDER BY {by}{page}", params)
        trades = [Trade(**row) for row in rows]
        if not events or not trades:
            return trades
        by_id = {(t.run_id, t.trade_id): t for t in trades}
        # only the folders of the trades' runs are read (all, past a few runs)
        run_ids = sorted({t.run_id for t in trades}, key=str)
        runs = of_runs(run_ids, "s.run_id") if len(run_ids) <= 16 else "TRUE"
        self.con.execute("CREATE OR REPLACE TEMP TABLE _wanted AS SELECT unnest(?) AS trade_id",
                         [sorted({t.trade_id for t in trades})])
        for row in self._rows(f"""
SELECT s.run_id, s.trade_id, s.event_type, s.event_id, s.trace_id, s.span_id, s.container_id,
       s.start_ns, s.duration_ns / 1000.0 AS duration_us, s.order_id,
       {attr(conv.SIDE, 's.attr_keys', 's.attr_values')} AS side,
       TRY_CAST({attr(conv.QUANTITY, 's.attr_keys', 's.attr_values')} AS DOUBLE) AS quantity,
       TRY_CAST({attr(conv.PRICE, 's.attr_keys', 's.attr_values')} AS DOUBLE) AS price,
       {attr(conv.STATUS, 's.attr_keys', 's.attr_values')} AS status
FROM _spans s SEMI JOIN _wanted w ON s.trade_id = w.trade_id
WHERE s.event_type IS NOT NULL AND s.handler_name IS NULL AND {runs}
ORDER BY s.trade_id, s.start_ns, s.span_id
"""):
            trade = by_id.get((row.pop("run_id"), row.pop("trade_id")))
            if trade is not None:  # (the same id in a run not asked about)
                trade.events.append(TradeEvent(**row))
        return trades

