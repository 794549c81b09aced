"""Every trade's figures in one table, ``_trades``, in two steps that the run index splits.

A trade's figures come from its ``trade`` span or, when that was not kept (dropped by
its retention policy, or the run did not end), from its events, which carry its id. Its
events can lie in several trace files (rotated files of one run), so the figures are
built in two steps:

1. *trade rows* (:func:`rows_sql`): per trade span, one ``'trade'`` row of its figures;
   per trade id, one ``'events'`` row summing the events at hand (counts, the first
   entry and the last exit with the times they happened);
2. *combining* (:data:`COMBINE`): the latest trade span of each trade, and for a trade
   without one its ``'events'`` rows added up. A trade is its id within its run: runs
   of one sweep may well number their trades alike.

The run index writes step 1 for each part when it indexes a file
(``.tradetrace-index/_trades/run_id=.../``, a few hundred bytes per trade), so a query
over the index combines hundreds of thousands of small rows instead of reading every
span (10M spans: seconds become a fraction of one). Over spans read any other way,
step 1 runs on all of them; the answer is the same.
"""

from __future__ import annotations

from ... import conventions as conv
from ._load import attr
from .sql import EVENT_SPANS

#: Columns of a trade row, in order, with their types (step 1's output, the index's
#: ``_trades`` parts; ``run_id`` comes from the Hive folder there).
COLUMNS = (
    ("row_kind", "VARCHAR"), ("trade_id", "VARCHAR"), ("outcome", "VARCHAR"),
    ("symbol", "VARCHAR"), ("strategy_id", "VARCHAR"), ("container_id", "VARCHAR"),
    ("side", "VARCHAR"), ("quantity", "DOUBLE"), ("entry_price", "DOUBLE"),
    ("exit_price", "DOUBLE"), ("realized_pnl", "DOUBLE"), ("entry_time", "VARCHAR"),
    ("exit_time", "VARCHAR"), ("holding_period_s", "DOUBLE"), ("exit_type", "VARCHAR"),
    ("orders", "BIGINT"), ("fills", "BIGINT"), ("rejected_orders", "BIGINT"),
    ("errors", "BIGINT"), ("max_slippage_bps", "DOUBLE"), ("max_fill_latency_ms", "DOUBLE"),
    ("kept_by", "VARCHAR"), ("start_ns", "BIGINT"), ("end_ns", "BIGINT"),
    ("entry_at", "BIGINT"), ("exit_at", "BIGINT"),
)


def _num(name: str) -> str:
    return f"TRY_CAST({attr(name)} AS DOUBLE)"


def _integer(name: str) -> str:
    return f"TRY_CAST({attr(name)} AS BIGINT)"


_TRADE_FIGURES = {
    "outcome": attr(conv.TRADE_OUTCOME), "side": attr(conv.TRADE_SIDE),
    "quantity": _num(conv.TRADE_QUANTITY), "entry_price": _num(conv.TRADE_ENTRY_PRICE),
    "exit_price": _num(conv.TRADE_EXIT_PRICE), "realized_pnl": _num(conv.TRADE_PNL),
    "entry_time": attr(conv.TRADE_ENTRY_TIME), "exit_time": attr(conv.TRADE_EXIT_TIME),
    "holding_period_s": _num(conv.TRADE_HOLDING), "exit_type": attr(conv.TRADE_EXIT_TYPE),
    "orders": _integer(conv.TRADE_ORDERS), "fills": _integer(conv.TRADE_FILLS),
    "rejected_orders": _integer(conv.TRADE_REJECTED), "errors": _integer(conv.TRADE_ERRORS),
    "max_slippage_bps": _num(conv.TRADE_MAX_SLIPPAGE),
    "max_fill_latency_ms": _num(conv.TRADE_MAX_FILL_LATENCY),
    "kept_by": attr(conv.TRADE_KEPT_BY),
    "symbol": "symbol", "strategy_id": "strategy_id", "container_id": "container_id",
    "start_ns": "start_ns", "end_ns": "end_ns",
}

_OPEN = "event_type = 'POSITION_OPEN'"
_CLOSE = "event_type = 'POSITION_CLOSE'"
_EVENT_FIGURES = {
    "symbol": "any_value(symbol)", "strategy_id": "any_value(strategy_id)",
    "container_id": "arg_min(container_id, start_ns)",
    "entry_price": f"arg_min({_num(conv.ENTRY_PRICE)}, start_ns) FILTER (WHERE {_OPEN})",
    "entry_at": f"min(start_ns) FILTER (WHERE {_OPEN})",
    "exit_price": f"arg_max({_num(conv.EXIT_PRICE)}, start_ns) FILTER (WHERE {_CLOSE})",
    "realized_pnl": f"arg_max({_num(conv.REALIZED_PNL)}, start_ns) FILTER (WHERE {_CLOSE})",
    "exit_at": f"max(start_ns) FILTER (WHERE {_CLOSE})",
    "orders": "count(*) FILTER (WHERE event_type = 'ORDER')",
    "fills": "count(*) FILTER (WHERE event_type = 'FILL')",
    "rejected_orders": ("count(*) FILTER (WHERE event_type = 'FILL' AND "
                        f"upper({attr(conv.STATUS)}) LIKE 'REJECT%')"),
    "errors": "count(*) FILTER (WHERE status_code = 2)",
    "start_ns": "min(start_ns)", "end_ns": "max(end_ns)",
}


def _select(kind: str, figures: dict[str, str]) -> str:
    items = [f"'{kind}' AS row_kind", "trade_id"]
    items += [f"CAST({figures.get(name, 'NULL')} AS {sql_type}) AS {name}"
              for name, sql_type in COLUMNS[2:]]
    return ", ".join(items)


def rows_sql(source: str, *, run_id: bool = True) -> str:
    """Step 1 over the spans of ``source`` (a relation with the spans' columns); with
    ``run_id``, each row says its run (the index's parts have it from their folder)."""
    trade_run, events_run = (", run_id", ", run_id") if run_id else ("", "")
    return f"""
SELECT {_select('trade', _TRADE_FIGURES)}{trade_run}
FROM {source} WHERE name = '{conv.TRADE_SPAN_NAME}' AND trade_id IS NOT NULL
UNION ALL
SELECT {_select('events', _EVENT_FIGURES)}{events_run}
FROM {source} WHERE trade_id IS NOT NULL AND {EVENT_SPANS}
GROUP BY trade_id{events_run}"""


#: Step 2, from the table ``_trade_rows`` (step 1's rows with ``run_id``) into ``_trades``.
#: Two statements: as one, DuckDB planned the trade rows twice.
COMBINE = ("""
CREATE OR REPLACE TEMP TABLE _trades AS
    SELECT trade_id, true AS has_trade_span, outcome, symbol, strategy_id, container_id,
           side, quantity, entry_price, exit_price, realized_pnl, entry_time, exit_time,
           holding_period_s, exit_type, orders, fills, rejected_orders, errors,
           max_slippage_bps, max_fill_latency_ms, kept_by, run_id, start_ns, end_ns
    FROM _trade_rows WHERE row_kind = 'trade'
    QUALIFY row_number() OVER (PARTITION BY run_id, trade_id ORDER BY end_ns DESC) = 1
""", """
INSERT INTO _trades BY NAME
    SELECT trade_id, false AS has_trade_span, NULL::VARCHAR AS outcome,
           any_value(symbol) AS symbol, any_value(strategy_id) AS strategy_id,
           arg_min(container_id, start_ns) AS container_id,
           NULL::VARCHAR AS side, NULL::DOUBLE AS quantity,
           arg_min(entry_price, entry_at) AS entry_price,
           arg_max(exit_price, exit_at) AS exit_price,
           arg_max(realized_pnl, exit_at) AS realized_pnl,
           NULL::VARCHAR AS entry_time, NULL::VARCHAR AS exit_time,
           NULL::DOUBLE AS holding_period_s, NULL::VARCHAR AS exit_type,
           CAST(sum(orders) AS BIGINT) AS orders, CAST(sum(fills) AS BIGINT) AS fills,
           CAST(sum(rejected_orders) AS BIGINT) AS rejected_orders,
           CAST(sum(errors) AS BIGINT) AS errors,
           NULL::DOUBLE AS max_slippage_bps, NULL::DOUBLE AS max_fill_latency_ms,
           NULL::VARCHAR AS kept_by, run_id,
           min(start_ns) AS start_ns, max(end_ns) AS end_ns
    FROM _trade_rows r
    WHERE row_kind = 'events' AND NOT EXISTS (
        SELECT 1 FROM _trades t WHERE t.trade_id = r.trade_id
        AND t.run_id IS NOT DISTINCT FROM r.run_id)
    GROUP BY trade_id, run_id
""")
