"""The causal graph of spans, and the chain of one event through it.

Cause -> effect edges come from parents, links and explicit causation ids; an event's
chain is the walk up and down them, across traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import conventions as conv
from .loaded import LoadedSpans
from .results import ChainNode, EventChain
from .sql import MAX_DEPTH, of_runs


class CausalQueries(LoadedSpans):
    """The causal graph (``_edges``) and event chains."""

    # -- causal graph -----------------------------------------------------------------

    def _spans_of(self, runs: Sequence[str | None] | None) -> str:
        """SQL for the spans of ``runs`` (None: every span; a None among them: spans
        without a run id), the ids written out so that DuckDB reads only their folders
        of the index."""
        return "_spans" if runs is None else f"(SELECT * FROM _spans WHERE {of_runs(runs)})"

    def _by_run(self, where: str, params: list[Any]) -> list[list[str | None] | None]:
        """The scopes to walk the causal graph in, one after the other: each run with
        spans matching ``where`` when there are several (a chain never leaves its run,
        and over a sweep of 10M spans at once a walk ran out of DuckDB's memory limit);
        else everything at once."""
        runs = [r for (r,) in self.sql(f"SELECT DISTINCT run_id FROM _spans WHERE {where}",
                                       params)]
        return [[r] for r in runs] if len(runs) > 1 else [None]

    def _edges(self, runs: list[str | None] | None = None) -> str:
        """Table ``_edges``: cause (src) -> effect (dst), built on first use for the
        runs asked (all when None; a causal chain never leaves its run, so a chain in a
        sweep of hundreds of runs reads one run's spans, not all of them).

        parent: a span and its parent; link: a span's link to another span (run
        correlation and trade links are not causation and are left out); causation: an
        explicit ``trading.causation.id`` matched by event id where no link was written
        (links are best effort, the attribute is always set).
        """
        key = "_edges" if runs is None else "_edges:" + repr(sorted(runs, key=str))
        if key in self._cache or "_edges" in self._cache:  # every run's edges serve any
            return "_edges"
        self._cache.discard(next((k for k in self._cache if k.startswith("_edges")), ""))
        spans = self._spans_of(runs)
        self.con.execute(f"""
CREATE OR REPLACE TEMP TABLE _edges AS
SELECT trace_id AS src_trace, parent_id AS src_span, trace_id AS dst_trace,
       span_id AS dst_span, 'parent' AS relation
FROM {spans} WHERE parent_id IS NOT NULL
UNION ALL
SELECT l.trace_id, l.span_id, trace_id, span_id, 'link'
FROM (SELECT trace_id, span_id, unnest(links) AS l FROM {spans} WHERE len(links) > 0)
WHERE coalesce(l.relation, '') NOT IN ('{conv.RELATION_CORRELATION}',
                                       '{conv.RELATION_TRADE_EVENT}')
UNION ALL
SELECT c.trace_id, c.span_id, e.trace_id, e.span_id, 'causation'
FROM {spans} e JOIN {spans} c
     ON c.event_id = e.causation_id AND c.handler_name IS NULL
     AND c.event_type IS NOT NULL AND c.run_id IS NOT DISTINCT FROM e.run_id
WHERE e.causation_id IS NOT NULL AND NOT coalesce(e.causation_derived, false)
  AND e.handler_name IS NULL
  AND NOT list_contains(list_transform(coalesce(e.links, []), lambda l: l.span_id), c.span_id)
  AND (e.parent_id IS NULL OR e.parent_id <> c.span_id)
""")
        self._cache.add(key)
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
        starts = self._rows("SELECT trace_id, span_id, run_id FROM _spans WHERE event_id = ? "
                            "AND handler_name IS NULL", [event_id])
        if not starts:
            starts = self._rows("SELECT trace_id, span_id, run_id FROM _spans "
                                "WHERE span_id = ?", [str(event_id).lower()])
        if not starts:
            message = (f"no event with id {event_id!r} in {self.stats.spans} spans"
                       if self.stats.spans else self._empty_message())
            return EventChain(event_id, None, message=message)
        edges = self._edges(list({s["run_id"] for s in starts}))
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
        up = self._rows(walk.format(to="src", fr="dst", edges=edges, max_depth=MAX_DEPTH,
                                    order="w.depth DESC, s.start_ns"))
        down = self._rows(walk.format(to="dst", fr="src", edges=edges, max_depth=MAX_DEPTH,
                                      order="s.start_ns, w.depth"))
        ancestors = [ChainNode(**r) for r in up if r["depth"] > 0]
        descendants = [ChainNode(**r) for r in down if r["depth"] > 0]
        selves = [ChainNode(**r) for r in up if r["depth"] == 0]
        message = ""
        if len(selves) > 1:
            message = f"{len(selves)} spans carry event id {event_id!r}; chained from all"
        return EventChain(event_id, selves[0] if selves else None, ancestors, descendants,
                          ancestors + selves + descendants, message)
