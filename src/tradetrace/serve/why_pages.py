"""Why no trade: signals whose direction changed from the one before (same container,
strategy and symbol) and led to no order, with what happened around each: the strategy's
order before it and its fill's status (a rejected order is often why a change found
nothing to close), and its next order.

The pattern is ``signal_without_order(changed_only=True)``, over one run's spans alone
(``?run=``: a query of that run, a quarter of a second at 10M spans) or every loaded run."""

from __future__ import annotations

from typing import Any

import duckdb

from .. import conventions as conv
from ..analyse.query import TraceQuery
from ..analyse.report_tables import orders_around, position_text, positions_at
from .app import Request, engine_failed
from .data import Traces
from .html import e, link, page, table

SEARCHED = 5000  #: signals looked at, at most
SHOWN = 300  #: rows of a page


def _found(traces: Traces, query: TraceQuery, run: str | None
           ) -> tuple[int, list[dict[str, Any]]] | str:
    """The unanswered changes of direction of ``query``'s spans, each with its run and
    the orders around it; kept until the traces change."""
    def compute() -> tuple[int, list[dict[str, Any]]] | str:
        try:
            found = query.detect_patterns("signal_without_order", limit=SEARCHED,
                                          changed_only=True)
        except duckdb.Error as exc:  # kept too: asking again would fail the same way
            return engine_failed(exc)
        spans = [r["span_id"] for r in found.rows]
        runs = dict(query.sql("SELECT span_id, run_id FROM spans WHERE handler_name IS NULL "
                              "AND list_contains(?, span_id)", [spans])) if spans else {}
        around = orders_around(query, spans) if spans else {}
        held = positions_at(query, spans) if spans else {}
        for r in found.rows:
            r["run_id"] = runs.get(r["span_id"])
            r["before"], r["after"] = around.get(r["span_id"], (None, None))
            r["held"] = held.get(r["span_id"])
        return found.count, found.rows

    return traces.kept(f"why:{run}", compute)


def _what_happened(row: dict[str, Any]) -> str:
    """The likeliest reason, told from the orders around the signal and the position
    its strategy held when it was published."""
    before, after, direction = row["before"], row["after"], row.get("direction")
    is_open, side, at = row.get("held") or (False, None, None)
    held = side if is_open else None
    if before and "REJECT" in before.upper():
        return "the order before was rejected: no position to close or turn"
    if held is not None and direction in ("long", "short") and held == direction.upper():
        return f"already {direction}: the position opened {at or ''} was still held"
    if held is not None and direction == "flat":
        return (f"a {held} position (opened {at or '?'}) was held: the flat signal "
                "did not close it (closed later by its own exit, or the next order)")
    if direction == "flat" and side is not None:
        return "closed already by its own exit: a flat signal had nothing to close"
    if direction == "flat":
        return "no position was held: a flat signal had nothing to close"
    if after:
        return "an order came later (next order)"
    return "no order followed (risk veto, an existing position, or the strategy's rule)"


def why(request: Request) -> str:
    run = request.get("run")
    with request.traces.session(run, apart=True) as query:
        found = _found(request.traces, query, run)
    if isinstance(found, str):
        return page("Why no trade", f'<p class="error">{e(found)}</p>')
    count, rows = found
    chosen = rows
    cells = []
    for r in chosen[:SHOWN]:
        attrs = r.get("attributes") or {}
        signal = (link("chain", "/chain", event=r["event_id"], run=r["run_id"])
                  if r.get("event_id") else "")
        # what happened first (the answer), then what it was told from
        cells.append([attrs.get(conv.SIM_TIME)]
                     + ([] if run else [link(r["run_id"] or "-", "/why", run=r["run_id"])])
                     + [r.get("strategy_id"), r.get("symbol"),
                        f"{r.get('previous_direction') or 'none'} → "
                        f"{r.get('direction') or '?'}",
                        _what_happened(r), position_text(r["held"]), r["before"] or "-",
                        r["after"] or "-", signal,
                        link("span", "/span", trace=r["trace_id"], span=r["span_id"],
                             run=r["run_id"])])
    where = f"run {run}" if run else "every run"
    note = (f'<p class="note" id="why-count">{len(chosen):,} signal(s) in {e(where)} changed '
            "direction and led to no order" + (f" (first {SHOWN} shown)" if len(chosen) > SHOWN
                                               else "") + ". Orders are shown as "
            "'market time, side, fill status'.")
    if count > SEARCHED:
        note += f" Only the first {SEARCHED:,} of {count:,} were looked at."
    note += "</p>"
    if not chosen:
        note += ('<p class="none">none: every change of direction led to an order (or no '
                 "signal was traced: signals are traced from level normal)</p>")
    back = f"<p>{link('trades of ' + run, '/trades', run=run)}</p>" if run else ""
    return page("Why no trade", back + note + table(
        ["signal (market time)"] + ([] if run else ["run"])
        + ["strategy", "symbol", "direction", "what happened", "position held",
           "order before", "next order", "", ""], cells, table_id="why"))


