"""``TraceQuery``: post-hoc questions over many trace files, answered by DuckDB SQL.

Every query is SQL over the flat ``spans`` view (see ``_load.py``); Python only shapes
the rows into result dataclasses. Nothing here raises on bad input: unknown ids and
empty inputs give empty results with a ``message``; only a wrong argument (an unknown
pattern type, a missing threshold) is a ``ValueError``.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from ... import conventions as conv
from ..reader import ReadStats, trace_files
from ._load import Loader, Progress, attr
from .remote import RemoteError, fetch_jaeger, is_remote
from .results import (
    Bottlenecks,
    ChainNode,
    CompareRow,
    Comparison,
    EventChain,
    PatternReport,
    RunTrades,
    Stage,
    TickToTrade,
    Trade,
    TradeEvent,
    TradeResult,
    Trades,
)

Sources = str | Path | Iterable[str | Path]

#: Spans of a stage: event spans and DEBUG handler spans (both carry an event type).
_STAGE = "event_type IS NOT NULL"
#: Event spans only (not handler spans, not trade spans).
_EVENT = "event_type IS NOT NULL AND handler_name IS NULL"
_STAGE_KEYS = {"container": "container_id", "handler": "handler_name",
               "event_type": "event_type"}
_MAX_DEPTH = 512


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



def _direction(text: str) -> str:
    """SQL for :func:`tradetrace.conventions.signal_direction` of an attribute's text."""
    words = " ".join(f"WHEN '{word}' THEN '{meaning}'"
                     for word, meaning in conv.DIRECTION_WORDS.items())
    return (
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"WHEN TRY_CAST({text} AS DOUBLE) IS NOT NULL THEN CASE "
        f"WHEN isnan(TRY_CAST({text} AS DOUBLE)) THEN NULL "
        f"WHEN TRY_CAST({text} AS DOUBLE) > 0 THEN 'long' "
        f"WHEN TRY_CAST({text} AS DOUBLE) < 0 THEN 'short' ELSE 'flat' END "
        f"ELSE CASE lower(trim({text})) {words} "
        f"ELSE nullif(lower(trim({text})), '') END END")

class TraceQuery:
    """Trace files, folders and globs loaded into DuckDB, with trading questions on top.

    ``sources``: a path, folder, glob, or a list of them (our ``<run>-NNNN.jsonl`` files
    and the Collector file exporter's output, plain or ``.gz``). ``progress(done, total)``
    is called after each file. ``stats`` says what was read and what was skipped, why.
    """

    def __init__(self, sources: Sources, *, progress: Progress | None = None,
                 memory_limit: str | None = None) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET enable_progress_bar = false")  # ours is the CLI's, on stderr
        if memory_limit:
            if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit.strip()):
                raise ValueError(f"memory_limit {memory_limit!r}: expected a size like "
                                 "'2GB' or '512MiB'")
            self.con.execute(f"SET memory_limit = '{memory_limit.strip()}'")
        self.stats = ReadStats()
        self._fetched: list[str] = []  #: remote sources read
        self._loader = Loader(self.con, self.stats)
        self._cache: set[str] = set()
        self._sets: list[str] = []
        self._add(sources, 0, progress)

    def _add(self, sources: Sources, source_set: int, progress: Progress | None) -> None:
        listed = [sources] if isinstance(sources, (str, Path)) else list(sources)
        urls = [s for s in listed if isinstance(s, str) and "://" in s]
        paths = [s for s in listed if not (isinstance(s, str) and "://" in s)]
        files = trace_files(paths, self.stats) if paths else []
        with tempfile.TemporaryDirectory(prefix="tradetrace-query-") as fetched:
            files += self._fetch(urls, Path(fetched))  # loaded before the folder goes
            self.stats.files_total += len(files)
            self._loader.load(files, source_set, progress)
        self._cache.clear()
        self._drop_duplicates()
        if not files:
            self.stats.note("no trace files found: every query returns an empty result")

    def _fetch(self, urls: list[str], folder: Path) -> list[Path]:
        """Remote sources into trace files in ``folder`` (remote.py); failures are
        skipped sources with a message."""
        files: list[Path] = []
        for url in urls:
            try:
                if not is_remote(url):
                    raise RemoteError("only Jaeger query services are read (jaeger+http://"
                                      "host:16686/?service=NAME); Tempo is not supported")
                path, traces = fetch_jaeger(url, folder, len(self._fetched))
                self._fetched.append(url)
                self.stats.note(f"{url}: {traces} traces fetched")
                files.append(path)
            except RemoteError as exc:
                self.stats.skipped_sources.append(url)
                self.stats.note(f"{url}: {exc}; skipped")
        return files

    def _drop_duplicates(self) -> None:
        """The same span read twice (a file and its .gz copy, our files and the
        Collector's) counts once; how many were dropped is said."""
        twice = self.sql("SELECT count(*) - count(DISTINCT (trace_id, span_id)) "
                         "FROM _spans")[0][0]
        if twice:
            self.con.execute("""
CREATE OR REPLACE TABLE _spans AS SELECT * FROM _spans
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY file) = 1""")
            self.stats.spans -= twice
            self.stats.note(f"{twice} spans were read more than once (same trace and span "
                            "id in several files); each is counted once")

    # -- raw access -------------------------------------------------------------------

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of any SQL over the ``spans`` view (``self.con`` is the connection)."""
        return self.con.execute(query, params or []).fetchall()

    def _rows(self, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.con.execute(query, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def _empty_message(self) -> str:
        return "no spans loaded" + (f" ({self.stats.messages[-1]})" if self.stats.messages
                                    else "")

    def runs(self) -> list[str]:
        return [r[0] for r in self.con.execute(
            "SELECT DISTINCT run_id FROM _spans WHERE run_id IS NOT NULL ORDER BY 1"
        ).fetchall()]

    # -- causal graph -----------------------------------------------------------------

    def _edges(self) -> str:
        """Table ``_edges``: cause (src) -> effect (dst), built once on first use.

        parent: a span and its parent; link: a span's link to another span (run
        correlation and trade links are not causation and are left out); causation: an
        explicit ``trading.causation.id`` matched by event id where no link was written
        (links are best effort, the attribute is always set).
        """
        if "_edges" in self._cache:
            return "_edges"
        self.con.execute(f"""
CREATE OR REPLACE TEMP TABLE _edges AS
SELECT trace_id AS src_trace, parent_id AS src_span, trace_id AS dst_trace,
       span_id AS dst_span, 'parent' AS relation
FROM _spans WHERE parent_id IS NOT NULL
UNION ALL
SELECT l.trace_id, l.span_id, trace_id, span_id, 'link'
FROM (SELECT trace_id, span_id, unnest(links) AS l FROM _spans WHERE len(links) > 0)
WHERE coalesce(l.relation, '') NOT IN ('{conv.RELATION_CORRELATION}',
                                       '{conv.RELATION_TRADE_EVENT}')
UNION ALL
SELECT c.trace_id, c.span_id, e.trace_id, e.span_id, 'causation'
FROM _spans e JOIN _spans c ON c.event_id = e.causation_id AND c.handler_name IS NULL
     AND c.event_type IS NOT NULL AND c.run_id IS NOT DISTINCT FROM e.run_id
WHERE e.causation_id IS NOT NULL AND NOT coalesce(e.causation_derived, false)
  AND e.handler_name IS NULL
  AND NOT list_contains(list_transform(coalesce(e.links, []), lambda l: l.span_id), c.span_id)
  AND (e.parent_id IS NULL OR e.parent_id <> c.span_id)
""")
        self._cache.add("_edges")
        return "_edges"

    # -- event chain ------------------------------------------------------------------

    def get_event_chain(self, event_id: str) -> EventChain:
        """The causal chain of one event: ancestors and descendants, across traces.

        Ancestors: the parent span, and through causation links (or an explicit
        ``trading.causation.id``) the cause's span in another trace, repeated up to the
        roots. Descendants: children (handler spans at DEBUG included) and spans that
        link to it, repeated down. ``event_id`` is a ``trading.event.id``; a span id
        works too. An unknown id is an empty chain with a message.
        """
        starts = self._rows(
            "SELECT trace_id, span_id FROM _spans WHERE event_id = ? AND handler_name IS NULL",
            [event_id])
        if not starts:
            starts = self._rows("SELECT trace_id, span_id FROM _spans WHERE span_id = ?",
                                [str(event_id).lower()])
        if not starts:
            message = (f"no event with id {event_id!r} in {self.stats.spans} spans"
                       if self.stats.spans else self._empty_message())
            return EventChain(event_id, None, message=message)
        edges = self._edges()
        self.con.execute("CREATE OR REPLACE TEMP TABLE _start AS SELECT * FROM (VALUES "
                         + ",".join("(?, ?)" for _ in starts) + ") t(trace_id, span_id)",
                         [v for s in starts for v in (s["trace_id"], s["span_id"])])
        walk = """
WITH RECURSIVE walk(trace_id, span_id, depth, relation, via_span_id) USING KEY (trace_id, span_id)
AS (
    SELECT trace_id, span_id, 0, NULL::VARCHAR, NULL::VARCHAR FROM _start
    UNION
    SELECT e.{to}_trace, e.{to}_span, w.depth + 1, e.relation, w.span_id
    FROM walk w JOIN {edges} e ON e.{fr}_trace = w.trace_id AND e.{fr}_span = w.span_id
    WHERE w.depth < {max_depth}
)
SELECT s.trace_id, s.span_id, s.name, s.event_type, s.event_id, s.container_id,
       s.handler_name, s.start_ns, s.duration_ns / 1000.0 AS duration_us,
       w.relation, w.via_span_id, w.depth
FROM walk w JOIN _spans s ON s.trace_id = w.trace_id AND s.span_id = w.span_id
ORDER BY {order}
"""
        up = self._rows(walk.format(to="src", fr="dst", edges=edges, max_depth=_MAX_DEPTH,
                                    order="w.depth DESC, s.start_ns"))
        down = self._rows(walk.format(to="dst", fr="src", edges=edges, max_depth=_MAX_DEPTH,
                                      order="s.start_ns, w.depth"))
        ancestors = [ChainNode(**r) for r in up if r["depth"] > 0]
        descendants = [ChainNode(**r) for r in down if r["depth"] > 0]
        selves = [ChainNode(**r) for r in up if r["depth"] == 0]
        message = ""
        if len(selves) > 1:
            message = f"{len(selves)} spans carry event id {event_id!r}; chained from all"
        return EventChain(event_id, selves[0] if selves else None, ancestors, descendants,
                          ancestors + selves + descendants, message)

    # -- trades -----------------------------------------------------------------------

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
               end: str | datetime | None = None, *, events: bool = True) -> Trades:
        """Trades, filtered. ``start``/``end`` bound the entry time (the exit time for a
        trade without an entry), in the traced system's simulated time, inclusive; a
        trade without either time is left out when one is given. P&L bounds are
        inclusive and leave out trades without a P&L."""
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if symbol is not None:
            where.append("t.symbol = ?")
            params.append(symbol)
        if strategy is not None:
            where.append("t.strategy_id = ?")
            params.append(strategy)
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
        filters = {"symbol": symbol, "strategy": strategy, "outcome": outcome,
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

        self.con.execute(f"""
CREATE OR REPLACE TEMP TABLE _trades AS
WITH spans AS (
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
),
from_events AS (
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
    WHERE trade_id IS NOT NULL AND {_EVENT}
      AND trade_id NOT IN (SELECT trade_id FROM spans)
    GROUP BY trade_id
)
SELECT * FROM spans UNION ALL BY NAME SELECT * FROM from_events
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

    # -- patterns ---------------------------------------------------------------------

    #: the built-in patterns (others: the ``tradetrace.query_patterns`` entry points)
    PATTERNS = ("latency_spike", "rejected_orders", "orphan_events", "signal_without_order")

    def detect_patterns(self, pattern_type: str, *, limit: int | None = 1000,
                        **params: Any) -> PatternReport:
        """Find a known pattern; ``count`` is every match, ``rows`` the first ``limit``.

        - ``latency_spike(threshold_ms=None, relative=None)``: event and handler spans
          longer than ``threshold_ms``, and/or longer than ``relative`` times the median
          of their stage (container, handler, event type); longest first.
        - ``rejected_orders()``: ORDER/FILL-type spans whose ``trading.order.status``
          starts with REJECT (how a rejected order is recorded: a FILL with status
          REJECTED), with the order's span joined by order id and the reason
          (``trading.payload.reason`` at DEBUG, or the span's status message).
        - ``orphan_events(event_types=None)``: event spans nothing followed: no child
          span and no span linking to them. ``evidence`` says what that means: at DEBUG
          (handler spans were recorded for the publishing container) ``no_handler``: no
          handler ran; below DEBUG handler calls are not spans, so ``no_consequence``:
          the event may have been handled, but nothing traced was published from it.
        - ``signal_without_order(signal_types=("SIGNAL",), order_types=("ORDER",
          "ORDER_REQUEST"), changed_only=False)``: signals with no order among their
          descendants (children and linked effects, transitively), with each signal's
          attributes and ``previous_direction`` (that of the signal before it from the
          same container, strategy and symbol): why didn't it trade. ``changed_only``
          keeps those whose direction differs from the previous one, the signals a
          strategy that trades on changes should have acted on.
        """
        from ...errors import ConfigError
        from ...plugins import QUERY_PATTERNS

        try:
            pattern = QUERY_PATTERNS.get(pattern_type, "pattern")
        except ConfigError:
            raise ValueError(f"unknown pattern type {pattern_type!r}; known: "
                             + ", ".join(QUERY_PATTERNS.names())) from None
        find = (pattern() if isinstance(pattern, type) else pattern).find
        takes = [name for name in inspect.signature(find).parameters
                 if name not in ("query", "limit")]
        unknown = sorted(set(params) - set(takes))
        if unknown:
            raise ValueError(f"{pattern_type} takes no {', '.join(unknown)}; it takes "
                             + (", ".join(takes) or "no parameters"))
        count, rows, message = find(self, limit if limit is not None else 2**62, **params)
        if not self.stats.spans:
            message = self._empty_message()
        return PatternReport(pattern_type, dict(params), count, rows, message)

    def _counted(self, query: str, params: list[Any], limit: int
                 ) -> tuple[int, list[dict[str, Any]]]:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _matches AS {query}", params)
        (count,) = self.con.execute("SELECT count(*) FROM _matches").fetchone() or (0,)
        rows = self._rows("SELECT * FROM _matches LIMIT ?", [limit])
        return int(count), rows

    # -- timing -----------------------------------------------------------------------

    def _self_times(self) -> str:
        """Table ``_self``: each stage span's self time (its duration minus its
        children's). At DEBUG an event a handler published is the child of the event,
        not of the handler, yet it runs inside the handler's call: it is taken off the
        handler's self time (the sibling handler span that contains it), not twice."""
        if "_self" in self._cache:
            return "_self"
        self.con.execute("""
CREATE OR REPLACE TEMP TABLE _self AS
WITH handlers AS (
    SELECT trace_id, parent_id, span_id, start_ns, end_ns FROM _spans
    WHERE handler_name IS NOT NULL AND parent_id IS NOT NULL
),
placed AS (
    SELECT c.trace_id, c.span_id, c.duration_ns,
           coalesce(min(h.span_id), c.parent_id) AS time_parent
    FROM _spans c
    LEFT JOIN handlers h ON c.handler_name IS NULL AND h.trace_id = c.trace_id
         AND h.parent_id = c.parent_id AND h.span_id <> c.span_id
         AND h.start_ns <= c.start_ns AND c.end_ns <= h.end_ns
    WHERE c.parent_id IS NOT NULL
    GROUP BY c.trace_id, c.span_id, c.duration_ns, c.parent_id
),
children AS (
    SELECT trace_id, time_parent AS span_id, sum(duration_ns) AS child_ns
    FROM placed GROUP BY ALL
)
SELECT s.trace_id, s.span_id, s.container_id, s.handler_name, s.event_type,
       s.run_id, s.source_set, s.duration_ns,
       greatest(s.duration_ns - coalesce(c.child_ns, 0), 0) AS self_ns
FROM _spans s LEFT JOIN children c ON c.trace_id = s.trace_id AND c.span_id = s.span_id
WHERE s.event_type IS NOT NULL
""")
        self._cache.add("_self")
        return "_self"

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
        rows = self._rows(f"""
SELECT {select}, count(*) AS count,
       quantile_disc(duration_ns, 0.5) / 1000.0 AS p50_us,
       quantile_disc(duration_ns, {q}) / 1000.0 AS p_us,
       max(duration_ns) / 1000.0 AS max_us, sum(duration_ns) / 1000.0 AS total_us,
       quantile_disc(self_ns, 0.5) / 1000.0 AS self_p50_us,
       quantile_disc(self_ns, {q}) / 1000.0 AS self_p_us,
       max(self_ns) / 1000.0 AS self_max_us, sum(self_ns) / 1000.0 AS self_total_us,
       CASE WHEN sum(duration_ns) > 0 THEN sum(self_ns) / sum(duration_ns) ELSE 0 END
           AS self_share
FROM {table}
GROUP BY {group}
ORDER BY {metrics[metric]}_us DESC, count DESC, {group}
""")
        stages = [Stage(**_floats(r)) for r in rows]
        message = "" if stages else ("no event spans loaded" if self.stats.spans
                                     else self._empty_message())
        return Bottlenecks(metric, float(percentile), by, stages, message)

    def _compare(self, run_a: str, run_b: str, side: str, what_a: str, what_b: str,
                 params: list[Any]) -> Comparison:
        table = self._self_times()
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
        trade_rows = {r["side"]: r for r in self._rows(f"""
SELECT {side} AS side, count(*) AS trades,
       count(*) FILTER (WHERE outcome IN ('win', 'loss', 'flat')) AS closed,
       count(*) FILTER (WHERE outcome = 'win') AS wins,
       coalesce(sum(realized_pnl), 0) AS realized_pnl
FROM (SELECT t.*, s.source_set FROM _trades t
      LEFT JOIN (SELECT DISTINCT trade_id, run_id, source_set FROM _spans
                 WHERE name = '{conv.TRADE_SPAN_NAME}' OR trade_id IS NOT NULL) s
      ON s.trade_id = t.trade_id AND s.run_id IS NOT DISTINCT FROM t.run_id
      QUALIFY row_number() OVER (PARTITION BY t.trade_id, t.run_id) = 1)
WHERE {side} IS NOT NULL GROUP BY ALL
""", params + params)}
        empty = {"trades": 0, "closed": 0, "wins": 0, "realized_pnl": 0.0}

        def run_trades(key: str) -> RunTrades:
            r = trade_rows.get(key, empty)
            return RunTrades(int(r["trades"]), int(r["closed"]), int(r["wins"]),
                             float(r["realized_pnl"]))

        counts = {r["side"]: r["n"] for r in self._rows(
            f"SELECT {side} AS side, count(*) AS n FROM _spans GROUP BY ALL", params)}
        missing = [name for key, name in (("a", what_a), ("b", what_b)) if not counts.get(key)]
        message = ("no spans for " + " and ".join(missing)) if missing else ""
        return Comparison(run_a, run_b, rows, run_trades("a"), run_trades("b"), message)

    def _compare_runs(self, run_a: str, run_b: str) -> Comparison:
        """Two runs within the loaded data, by ``trading.run.id``: per stage and per
        event type, counts and p50/p99 latency in each and the change (b / a - 1), and
        each run's trades and P&L."""
        side = "CASE run_id WHEN ? THEN 'a' WHEN ? THEN 'b' END"
        return self._compare(run_a, run_b, side, f"run {run_a!r}", f"run {run_b!r}",
                             [run_a, run_b])

    def _compare_sources(cls: Any, sources_a: Sources, sources_b: Sources, *,
                         progress: Progress | None = None) -> Comparison:
        """Two sets of files (each possibly several runs), loaded side by side."""
        query: TraceQuery = cls(sources_a, progress=progress)
        query._add(sources_b, 1, progress)
        side = "CASE source_set WHEN 0 THEN 'a' WHEN 1 THEN 'b' END"
        result = query._compare("sources a", "sources b", side, "sources a", "sources b", [])
        result.a, result.b = _describe(sources_a), _describe(sources_b)
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
        edges = self._edges()
        self.con.execute(f"""
CREATE OR REPLACE TEMP TABLE _t2t AS
WITH RECURSIVE up(fill_trace, fill_span, trace_id, span_id, depth)
USING KEY (fill_trace, fill_span, trace_id, span_id) AS (
    SELECT trace_id, span_id, trace_id, span_id, 0 FROM _spans
    WHERE event_type = 'FILL' AND handler_name IS NULL
    UNION
    SELECT up.fill_trace, up.fill_span, e.src_trace, e.src_span, up.depth + 1
    FROM up JOIN {edges} e ON e.dst_trace = up.trace_id AND e.dst_span = up.span_id
    WHERE up.depth < {_MAX_DEPTH}
),
bars AS (
    SELECT up.fill_trace, up.fill_span, arg_min(b.start_ns, up.depth) AS bar_start
    FROM up JOIN _spans b ON b.trace_id = up.trace_id AND b.span_id = up.span_id
    WHERE b.event_type = 'BAR' AND b.handler_name IS NULL AND up.depth > 0
    GROUP BY ALL
)
SELECT (f.end_ns - bars.bar_start) / 1000.0 AS latency_us
FROM bars JOIN _spans f ON f.trace_id = bars.fill_trace AND f.span_id = bars.fill_span
""")
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
