"""Where time goes: self times, bottlenecks per stage, tick-to-trade latency, and two
runs (or two sets of files) compared stage by stage.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ... import conventions as conv
from ._load import Progress
from .causality import CausalQueries
from .loaded import Sources
from .results import Bottlenecks, CompareRow, Comparison, RunTrades, Stage, TickToTrade
from .runs import RunQueries, TradeDiff
from .sql import MAX_DEPTH

_STAGE_KEYS = {"container": "container_id", "handler": "handler_name",
               "event_type": "event_type"}


#: A generated suffix of a container id (ADMF-PC: ``{type}_{8 hex}``).
_ID_SUFFIX = "_[0-9a-f]{8}$"


class _hybrid:
    """``compare`` on an instance takes run ids; on the class, two source sets."""

    def __init__(self, on_instance: Callable[..., Any], on_class: Callable[..., Any]) -> None:
        self.on_instance = on_instance
        self.on_class = on_class
        self.__doc__ = on_instance.__doc__

    def __get__(self, obj: Any, owner: type) -> Callable[..., Any]:
        if obj is None:
            return functools.partial(self.on_class, owner)
        return functools.partial(self.on_instance, obj)


class TimingQueries(CausalQueries, RunQueries):
    """Self times (``_self``), bottlenecks, tick-to-trade and comparisons."""

    def _self_times(self, runs: list[str] | None = None) -> str:
        """View ``_self``: each stage span's self time (its duration minus its
        children's). At DEBUG an event a handler published is the child of the event,
        not of the handler, yet it runs inside the handler's call: it is taken off the
        handler's self time (the sibling handler span that contains it), not twice.

        With ``runs``, the view ``_self_runs`` of those runs' spans only: their ids are
        written into the SQL, so DuckDB reads only their folders of the index."""
        view = "_self" if runs is None else "_self_runs"
        if view in self._cache:
            return view
        spans = self._spans_of(runs)
        # A view, not a table: at 10M spans a table of every stage span held most of
        # DuckDB's memory limit before the quantiles over it could start.
        # Spans are keyed by a 64-bit hash of (trace id, span id) in the joins and
        # aggregates below, not by the 48 characters of the two ids: at 10M spans the
        # hash tables fit DuckDB's memory limit (a collision would need about 4 billion
        # spans to be likely). Without handler spans (below DEBUG) no span is placed
        # under a sibling handler, and that join is left out.
        handlers = self.sql(f"SELECT count(*) FROM (SELECT 1 FROM {spans} "
                            "WHERE handler_name IS NOT NULL LIMIT 1)")[0][0]
        if handlers:
            children = f"""
handlers AS (
    SELECT trace_id, parent_id, span_id, start_ns, end_ns FROM {spans}
    WHERE handler_name IS NOT NULL AND parent_id IS NOT NULL
),
placed AS (
    SELECT hash(c.trace_id, coalesce(min(h.span_id), c.parent_id)) AS parent_key,
           c.duration_ns
    FROM {spans} c
    LEFT JOIN handlers h ON c.handler_name IS NULL AND h.trace_id = c.trace_id
         AND h.parent_id = c.parent_id AND h.span_id <> c.span_id
         AND h.start_ns <= c.start_ns AND c.end_ns <= h.end_ns
    WHERE c.parent_id IS NOT NULL
    GROUP BY c.trace_id, c.span_id, c.duration_ns, c.parent_id
),
children AS (
    SELECT parent_key, sum(duration_ns) AS child_ns FROM placed GROUP BY ALL
)"""
        else:
            children = f"""
children AS (
    SELECT hash(trace_id, parent_id) AS parent_key, sum(duration_ns) AS child_ns
    FROM {spans} WHERE parent_id IS NOT NULL GROUP BY ALL
)"""
        self.con.execute(f"""
CREATE OR REPLACE TEMP VIEW {view} AS
WITH {children.strip()}
SELECT s.container_id, s.handler_name, s.event_type, s.run_id, s.source_set,
       s.duration_ns, greatest(s.duration_ns - coalesce(c.child_ns, 0), 0) AS self_ns
FROM {spans} s LEFT JOIN children c ON c.parent_key = hash(s.trace_id, s.span_id)
WHERE s.event_type IS NOT NULL
""")
        if runs is None:
            self._cache.add(view)
        return view

    def find_bottlenecks(self, metric: str = "processing_time", percentile: float = 99,
                         by: Iterable[str] = ("container", "handler", "event_type")
                         ) -> Bottlenecks:
        """Per stage: count, p50, the ``percentile``, max and total of the duration and
        of the self time (duration minus children's), sorted by the ``percentile`` of
        ``metric``: ``processing_time`` (self time, the default) or ``duration``.

        A stage is an event span (container, no handler, event type) or a DEBUG handler
        span (the publishing container, the handler, the handled event type).
        """
        metrics = {"processing_time": "self_p", "self_time": "self_p", "duration": "p"}
        if metric not in metrics:
            raise ValueError(f"unknown metric {metric!r}; known: " + ", ".join(metrics))
        by = tuple(by)
        unknown = [b for b in by if b not in _STAGE_KEYS]
        if unknown:
            raise ValueError(f"unknown stage key(s) {unknown}; known: " + ", ".join(_STAGE_KEYS))
        if not 0 < float(percentile) <= 100:
            raise ValueError(f"percentile must be in (0, 100]: {percentile}")
        table = self._self_times()
        q = float(percentile) / 100
        keys = [_STAGE_KEYS[b] for b in by]
        select = ", ".join(f"{k}" if k in keys else f"NULL::VARCHAR AS {k}"
                           for k in _STAGE_KEYS.values())
        group = ", ".join(keys) if keys else "()"
        # both quantiles of a column from one list-valued aggregate: one sort, not two
        # (10M spans: 0.3 s less)
        rows = self._rows(f"""
SELECT * EXCLUDE (d, sd), d[1] / 1000.0 AS p50_us, d[2] / 1000.0 AS p_us,
       sd[1] / 1000.0 AS self_p50_us, sd[2] / 1000.0 AS self_p_us
FROM (
SELECT {select}, count(*) AS count,
       quantile_disc(duration_ns, [0.5, {q}]) AS d,
       max(duration_ns) / 1000.0 AS max_us, sum(duration_ns) / 1000.0 AS total_us,
       quantile_disc(self_ns, [0.5, {q}]) AS sd,
       max(self_ns) / 1000.0 AS self_max_us, sum(self_ns) / 1000.0 AS self_total_us,
       CASE WHEN sum(duration_ns) > 0 THEN sum(self_ns) / sum(duration_ns) ELSE 0 END
           AS self_share
FROM {table}
GROUP BY {group})
ORDER BY {metrics[metric]}_us DESC, count DESC, {group}
""")
        stages = [Stage(**_floats(r)) for r in rows]
        message = "" if stages else ("no event spans loaded" if self.stats.spans
                                     else self._empty_message())
        return Bottlenecks(metric, float(percentile), by, stages, message)

    def _compare(self, run_a: str, run_b: str, side: str, what_a: str, what_b: str,
                 params: list[Any], runs: list[str] | None = None) -> Comparison:
        table = self._self_times(runs)
        self._trades_table()
        stats = """
SELECT {side} AS side, {keys}, count(*) AS n,
       quantile_disc(duration_ns, 0.5) / 1000.0 AS p50,
       quantile_disc(duration_ns, 0.99) / 1000.0 AS p99
FROM {table} WHERE {side} IS NOT NULL GROUP BY ALL
"""
        rows: list[CompareRow] = []
        for kind, keys in (("stage", ["container_id", "handler_name", "event_type"]),
                           ("event_type", ["event_type"])):
            key_list = ", ".join(keys)
            joined = " AND ".join(f"a.{k} IS NOT DISTINCT FROM b.{k}" for k in keys)
            chosen = ", ".join(f"coalesce(a.{k}, b.{k}) AS {k}" for k in keys)
            # Container ids end in a random suffix per run (``data_9e096a37``): stages
            # are matched across runs by the container's name without it.
            named = (f"(SELECT * REPLACE (regexp_replace(container_id, '{_ID_SUFFIX}', '')"
                     f" AS container_id) FROM {table})")
            base = stats.format(side=side, keys=key_list,
                                table=named if kind == "stage" else
                                f"(SELECT * FROM {table} WHERE handler_name IS NULL)")
            for r in self._rows(f"""
WITH st AS ({base}),
a AS (SELECT * FROM st WHERE side = 'a'), b AS (SELECT * FROM st WHERE side = 'b')
SELECT {chosen}, coalesce(a.n, 0) AS count_a, coalesce(b.n, 0) AS count_b,
       a.p50 AS p50_a, b.p50 AS p50_b, a.p99 AS p99_a, b.p99 AS p99_b
FROM a FULL OUTER JOIN b ON {joined}
ORDER BY {key_list}
""", params + params):
                rows.append(CompareRow(
                    kind, r.get("container_id"), r.get("handler_name"), r["event_type"],
                    r["count_a"], r["count_b"], r["count_b"] - r["count_a"],
                    r["p50_a"], r["p50_b"], _change(r["p50_a"], r["p50_b"]),
                    r["p99_a"], r["p99_b"], _change(r["p99_a"], r["p99_b"])))
        # which set of sources a trade came from is read from its spans; runs are
        # told apart by the trades' own run ids
        trades = "_trades" if runs is not None else f"""(SELECT t.*, s.source_set FROM _trades t
      LEFT JOIN (SELECT DISTINCT trade_id, run_id, source_set FROM _spans
                 WHERE name = '{conv.TRADE_SPAN_NAME}' OR trade_id IS NOT NULL) s
      ON s.trade_id = t.trade_id AND s.run_id IS NOT DISTINCT FROM t.run_id
      QUALIFY row_number() OVER (PARTITION BY t.trade_id, t.run_id) = 1)"""
        trade_rows = {r["side"]: r for r in self._rows(f"""
SELECT {side} AS side, count(*) AS trades,
       count(*) FILTER (WHERE outcome IN ('win', 'loss', 'flat')) AS closed,
       count(*) FILTER (WHERE outcome = 'win') AS wins,
       coalesce(sum(realized_pnl), 0) AS realized_pnl
FROM {trades}
WHERE {side} IS NOT NULL GROUP BY ALL
""", params + params)}
        empty = {"trades": 0, "closed": 0, "wins": 0, "realized_pnl": 0.0}

        def run_trades(key: str) -> RunTrades:
            r = trade_rows.get(key, empty)
            return RunTrades(int(r["trades"]), int(r["closed"]), int(r["wins"]),
                             float(r["realized_pnl"]))

        counts = {r["side"]: r["n"] for r in self._rows(
            f"SELECT {side} AS side, count(*) AS n FROM {self._spans_of(runs)} "
            "GROUP BY ALL", params)}
        missing = [name for key, name in (("a", what_a), ("b", what_b)) if not counts.get(key)]
        message = ("no spans for " + " and ".join(missing)) if missing else ""
        return Comparison(run_a, run_b, rows, run_trades("a"), run_trades("b"), message)

    def _compare_runs(self, run_a: str, run_b: str) -> Comparison:
        """Two runs within the loaded data, by ``trading.run.id``: per stage and per
        event type, counts and p50/p99 latency in each and the change (b / a - 1), and
        each run's trades and P&L."""
        side = "CASE run_id WHEN ? THEN 'a' WHEN ? THEN 'b' END"
        result = self._compare(run_a, run_b, side, f"run {run_a!r}", f"run {run_b!r}",
                               [run_a, run_b], runs=[run_a, run_b])
        result.trade_diff = self.trade_diff(run_a, run_b)
        return result

    def _compare_sources(cls: Any, sources_a: Sources, sources_b: Sources, *,
                         progress: Progress | None = None) -> Comparison:
        """Two sets of files (each possibly several runs), loaded side by side."""
        query: TimingQueries = cls(sources_a, progress=progress)
        query._add(sources_b, 1, progress)
        side = "CASE source_set WHEN 0 THEN 'a' WHEN 1 THEN 'b' END"
        result = query._compare("sources a", "sources b", side, "sources a", "sources b", [])
        result.a, result.b = _describe(sources_a), _describe(sources_b)
        runs = {side: ids for side, ids in query.sql(
            f"SELECT {side} AS side, list(DISTINCT run_id) FILTER (WHERE run_id IS NOT NULL)"
            " FROM _spans GROUP BY ALL")}
        run_a, run_b = runs.get("a") or [], runs.get("b") or []
        if len(run_a) == 1 and len(run_b) == 1 and run_a != run_b:
            result.trade_diff = query.trade_diff(run_a[0], run_b[0])
        else:
            result.trade_diff = TradeDiff(
                a=result.a, b=result.b, rows=[], same=0, first=None,
                message=f"trade by trade needs one run on each side and two different "
                        f"runs (a: {len(run_a)}, b: {len(run_b)}); compare run ids with --in")
        return result

    compare = _hybrid(_compare_runs, _compare_sources)

    def tick_to_trade(self, buckets: int = 20, scale: str = "log") -> TickToTrade:
        """BAR publish start -> FILL end, for each FILL caused by a BAR: the nearest BAR
        among its ancestors (parents, causation links, explicit causation ids).
        Rejected fills count too (they are FILLs). Histogram: ``buckets`` buckets from the
        minimum to the maximum, in microseconds, of equal width on a ``log`` scale (the
        default: latencies are long-tailed, one outlier would squash the body) or a
        ``linear`` one."""
        if scale not in ("log", "linear"):
            raise ValueError(f"unknown scale {scale!r}; known: log, linear")
        self.con.execute("CREATE OR REPLACE TEMP TABLE _t2t (latency_us DOUBLE)")
        # A run at a time where there are several (a causal chain never leaves its run):
        # over a sweep of 10M spans at once the walk ran out of DuckDB's memory limit.
        for scope in self._by_run("event_type = 'FILL'", []):
            self._tick_to_trade_of(scope)
        (count, p50, p90, p99, top, low) = self.con.execute("""
SELECT count(*), quantile_disc(latency_us, 0.5), quantile_disc(latency_us, 0.9),
       quantile_disc(latency_us, 0.99), max(latency_us), min(latency_us) FROM _t2t
""").fetchone() or (0, None, None, None, None, None)
        if not count:
            message = ("no FILL caused by a traced BAR (at MINIMAL, BARs are not traced)"
                       if self.stats.spans else self._empty_message())
            return TickToTrade(0, None, None, None, None, [], message)
        n = max(1, int(buckets))
        log = scale == "log" and low > 0
        lo, hi = (math.log10(low), math.log10(top)) if log else (low, top)
        width = (hi - lo) / n if hi > lo else 1.0
        value = "log10(latency_us)" if log else "latency_us"
        hist = self._rows(f"""
WITH b AS (SELECT least(greatest(CAST(floor(({value} - ?) / ?) AS INTEGER), 0), {n - 1})
                  AS bucket FROM _t2t)
SELECT bucket, count(*) AS count FROM b GROUP BY bucket ORDER BY bucket
""", [lo, width])
        counts = {r["bucket"]: r["count"] for r in hist}

        def edge(i: int) -> float:
            return 10 ** (lo + i * width) if log else lo + i * width

        rows = [{"low_us": edge(i), "high_us": edge(i + 1), "count": counts.get(i, 0)}
                for i in range(n)]
        return TickToTrade(int(count), p50, p90, p99, top, rows)

    def _tick_to_trade_of(self, runs: list[str | None] | None) -> None:
        """The tick-to-trade latencies of ``runs`` (all for None) into ``_t2t``."""
        edges, spans = self._edges(runs), self._spans_of(runs)
        self.con.execute(f"""
INSERT INTO _t2t
WITH RECURSIVE up(fill_trace, fill_span, trace_id, span_id, depth)
USING KEY (fill_trace, fill_span, trace_id, span_id) AS (
    SELECT trace_id, span_id, trace_id, span_id, 0 FROM {spans}
    WHERE event_type = 'FILL' AND handler_name IS NULL
    UNION
    SELECT up.fill_trace, up.fill_span, e.src_trace, e.src_span, up.depth + 1
    FROM up JOIN {edges} e ON e.dst_trace = up.trace_id AND e.dst_span = up.span_id
    WHERE up.depth < {MAX_DEPTH}
),
bars AS (
    SELECT up.fill_trace, up.fill_span, arg_min(b.start_ns, up.depth) AS bar_start
    FROM up JOIN {spans} b ON b.trace_id = up.trace_id AND b.span_id = up.span_id
    WHERE b.event_type = 'BAR' AND b.handler_name IS NULL AND up.depth > 0
    GROUP BY ALL
)
SELECT (f.end_ns - bars.bar_start) / 1000.0 AS latency_us
FROM bars JOIN {spans} f ON f.trace_id = bars.fill_trace AND f.span_id = bars.fill_span
""")


def _floats(row: dict[str, Any]) -> dict[str, Any]:
    return {k: float(v) if isinstance(v, (int, float)) and k != "count" else v
            for k, v in row.items()}


def _change(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not a:
        return None
    return b / a - 1


def _describe(sources: Sources) -> str:
    if isinstance(sources, (str, Path)):
        return str(sources)
    return ", ".join(str(s) for s in sources)
