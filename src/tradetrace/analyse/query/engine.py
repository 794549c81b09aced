"""``TraceQuery``: post-hoc questions over many trace files, answered by DuckDB SQL.

Every query is SQL over the flat ``spans`` view (see ``_load.py``); Python only shapes
the rows into result dataclasses. Nothing here raises on bad input: unknown ids and
empty inputs give empty results with a ``message``; only a wrong argument (an unknown
pattern type, a missing threshold) is a ``ValueError``.
"""

from __future__ import annotations

import inspect
from typing import Any

from .causality import CausalQueries
from .results import PatternReport
from .runs import RunQueries
from .timing import TimingQueries


class TraceQuery(TimingQueries, CausalQueries, RunQueries):
    """Trace files, folders and globs loaded into DuckDB, with trading questions on top.

    ``sources``: a path, folder, glob, or a list of them (our ``<run>-NNNN.jsonl`` files
    and the Collector file exporter's output, plain or ``.gz``). ``progress(done, total)``
    is called after each file. ``stats`` says what was read and what was skipped, why.

    The questions are asked by its bases: event chains (``causality.py``), trades
    (``trade_queries.py``), bottlenecks, tick-to-trade and comparisons
    (``timing.py``), runs ranked and two runs' trades paired (``runs.py``); loading
    and raw SQL are ``loaded.py``'s. Patterns are here.
    """

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
