"""Many runs as one source: runs ranked by a metric, and two runs' trades side by side.

A parameter sweep is hundreds of runs in one folder. :meth:`RunQueries.rank_runs` gives
one row per run (its events, trades, win rate, P&L, how long it took) ordered by the
metric asked; :meth:`RunQueries.trade_diff` pairs two runs' trades in the order they
were entered, per strategy and symbol, and says where they first diverge (a trade one
run took and the other did not, or the same trade with another side, time or P&L): for
"why does this run differ from that one" after a code or parameter change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .results import RANK_METRICS, _Table
from .trade_queries import TradeQueries

#: P&L closer than this (in the trade's currency) is the same.
PNL_TOLERANCE = 1e-6


@dataclass
class RunRow:
    run_id: str | None
    spans: int
    events: int
    bars: int
    trades: int  #: closed: win, loss or flat
    wins: int
    win_rate: float | None
    realized_pnl: float
    errors: int  #: spans with an error status
    duration_s: float  #: first span's start to last span's end (wall clock)
    first_time: str | None  #: simulated time of its first and last bar (else event)
    last_time: str | None


@dataclass
class RunRanking(_Table):
    by: str
    rows: list[RunRow]
    message: str = ""


@dataclass
class TradePair:
    key: str  #: strategy / symbol
    number: int  #: the n-th trade of that strategy and symbol in each run
    trade_a: str | None
    trade_b: str | None
    entry_a: str | None
    entry_b: str | None
    side_a: str | None
    side_b: str | None
    pnl_a: float | None
    pnl_b: float | None
    differs: str  #: "" when the same; else what differs: missing, entry, side, exit, pnl


@dataclass
class TradeDiff(_Table):
    a: str
    b: str
    rows: list[TradePair]  #: the pairs that differ, in simulated time
    same: int  #: pairs that agree
    first: TradePair | None  #: the first divergence in simulated time
    message: str = ""


class RunQueries(TradeQueries):
    """Questions over the runs in the loaded spans."""

    def rank_runs(self, by: str = "realized_pnl") -> RunRanking:
        """One row per run, best first by ``by`` (one of :data:`RANK_METRICS`)."""
        if by not in RANK_METRICS:
            raise ValueError(f"unknown metric {by!r}; known: {', '.join(RANK_METRICS)}")
        self._trades_table()
        rows = self._rows(f"""
WITH s AS (
    SELECT run_id, count(*) AS spans,
           count(*) FILTER (WHERE event_type IS NOT NULL AND handler_name IS NULL) AS events,
           count(*) FILTER (WHERE event_type = 'BAR' AND handler_name IS NULL) AS bars,
           count(*) FILTER (WHERE status_code = 2) AS errors,
           (max(end_ns) - min(start_ns)) / 1e9 AS duration_s,
           coalesce(min(sim_time) FILTER (WHERE event_type = 'BAR'), min(sim_time))
               AS first_time,
           coalesce(max(sim_time) FILTER (WHERE event_type = 'BAR'), max(sim_time))
               AS last_time
    FROM _spans GROUP BY run_id
),
t AS (
    SELECT run_id, count(*) FILTER (WHERE outcome IN ('win', 'loss', 'flat')) AS trades,
           count(*) FILTER (WHERE outcome = 'win') AS wins,
           coalesce(sum(realized_pnl) FILTER (WHERE outcome IN ('win', 'loss', 'flat')), 0)
               AS realized_pnl
    FROM _trades GROUP BY run_id
)
SELECT s.run_id, s.spans, s.events, s.bars, coalesce(t.trades, 0) AS trades,
       coalesce(t.wins, 0) AS wins,
       CASE WHEN t.trades > 0 THEN t.wins / t.trades END AS win_rate,
       coalesce(t.realized_pnl, 0.0) AS realized_pnl, s.errors, s.duration_s,
       s.first_time, s.last_time
FROM s LEFT JOIN t ON t.run_id IS NOT DISTINCT FROM s.run_id
ORDER BY {by} {"DESC" if RANK_METRICS[by] else "ASC"} NULLS LAST, s.run_id
""")
        ranked = [RunRow(**{**r, "spans": int(r["spans"]), "events": int(r["events"]),
                            "bars": int(r["bars"]), "trades": int(r["trades"]),
                            "wins": int(r["wins"]), "errors": int(r["errors"]),
                            "realized_pnl": float(r["realized_pnl"]),
                            "duration_s": float(r["duration_s"] or 0.0)}) for r in rows]
        return RunRanking(rows=ranked, by=by,
                          message="" if ranked else self._empty_message())

    def trade_diff(self, run_a: str, run_b: str) -> TradeDiff:
        """The trades of two runs paired in entry order per strategy and symbol; the
        pairs that differ, and the first of them in simulated time."""
        self._trades_table()
        found = {r for (r,) in self.sql("SELECT DISTINCT run_id FROM _trades")}
        missing = [r for r in (run_a, run_b) if r not in found]
        if missing:
            return TradeDiff(rows=[], a=run_a, b=run_b, same=0, first=None,
                             message="no trades for run " + " and ".join(map(repr, missing)))
        rows = self._rows(f"""
WITH numbered AS (
    SELECT run_id, trade_id, coalesce(strategy_id, '?') || ' / ' || coalesce(symbol, '?') AS key,
           entry_time, exit_time, side, realized_pnl,
           row_number() OVER (PARTITION BY run_id, strategy_id, symbol
                              ORDER BY coalesce(entry_time, exit_time), start_ns) AS number
    FROM _trades WHERE run_id IN (?, ?) AND outcome IS DISTINCT FROM '{_REJECTED}'
)
SELECT coalesce(a.key, b.key) AS key, coalesce(a.number, b.number) AS number,
       a.trade_id AS trade_a, b.trade_id AS trade_b, a.entry_time AS entry_a,
       b.entry_time AS entry_b, a.side AS side_a, b.side AS side_b,
       a.realized_pnl AS pnl_a, b.realized_pnl AS pnl_b,
       a.exit_time AS exit_a, b.exit_time AS exit_b
FROM (SELECT * FROM numbered WHERE run_id = ?) a
FULL OUTER JOIN (SELECT * FROM numbered WHERE run_id = ?) b
    ON a.key = b.key AND a.number = b.number
ORDER BY coalesce(a.entry_time, b.entry_time, a.exit_time, b.exit_time), key, number
""", [run_a, run_b, run_a, run_b])
        pairs = [_pair(r) for r in rows]
        differing = [p for p in pairs if p.differs]
        return TradeDiff(rows=differing, a=run_a, b=run_b, same=len(pairs) - len(differing),
                         first=differing[0] if differing else None)


_REJECTED = "rejected"


def _pair(row: dict[str, Any]) -> TradePair:
    exit_a, exit_b = row.pop("exit_a"), row.pop("exit_b")
    differs = ""
    if row["trade_a"] is None or row["trade_b"] is None:
        differs = "missing"
    elif row["entry_a"] != row["entry_b"]:
        differs = "entry"
    elif row["side_a"] != row["side_b"]:
        differs = "side"
    elif exit_a != exit_b:
        differs = "exit"
    elif (row["pnl_a"] is None) != (row["pnl_b"] is None) or (
            row["pnl_a"] is not None and abs(row["pnl_a"] - row["pnl_b"]) > PNL_TOLERANCE):
        differs = "pnl"
    return TradePair(**row, differs=differs)
