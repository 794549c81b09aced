"""One span (its ids and attributes, the DEBUG payload apart) and one event's chain
(``get_event_chain``: its causes up to the root and its effects down, across traces).

``/span?...&part=attributes`` is the attributes alone, a fragment the trade page loads
when a row is unfolded: reading a span's attributes reads its run's attribute columns
(about 0.1 s at 10M spans), paid only for the rows looked at.
"""

from __future__ import annotations

from typing import Any

from .. import conventions as conv
from ..analyse.query import TraceQuery
from . import jaeger
from .app import NotFound, Request
from .html import e, link, micros, page, table
from .waterfall import Row, render

_SPAN_COLUMNS = ("trace_id, span_id, name, parent_id, service_name, status_code, "
                 "status_message, start_ns, end_ns, run_id, event_id, attributes")


def span_rows(query: TraceQuery, where: str, params: list[Any]) -> list[dict[str, Any]]:
    """Spans of the public ``spans`` view with their attributes as a dict."""
    names = [n.strip() for n in _SPAN_COLUMNS.split(",")]
    rows = [dict(zip(names, r)) for r in query.sql(
        f"SELECT {_SPAN_COLUMNS} FROM spans WHERE {where} ORDER BY start_ns", params)]
    for row in rows:
        row["attributes"] = dict(row["attributes"] or {})
    return rows


def attributes_html(attributes: dict[str, Any]) -> str:
    """The attributes as a table, the DEBUG payload snapshot apart."""
    plain = sorted((k, v) for k, v in attributes.items() if not k.startswith(conv.PAYLOAD_PREFIX))
    payload = sorted((k[len(conv.PAYLOAD_PREFIX):], v) for k, v in attributes.items()
                     if k.startswith(conv.PAYLOAD_PREFIX))
    out = table(["attribute", "value"], plain)
    if payload:
        out += "<b>payload snapshot (DEBUG)</b>" + table(["field", "value"], payload)
    return out



def span(request: Request) -> str:
    trace_id, span_id = request.need("trace").lower(), request.need("span").lower()
    run = request.get("run")
    where = "trace_id = ? AND span_id = ?" + (" AND run_id = ?" if run else "")
    with request.traces.session() as query:
        found = span_rows(query, where, [trace_id, span_id] + ([run] if run else []))
    if not found:
        raise NotFound(f"no span {span_id!r} in trace {trace_id!r}")
    s = found[0]
    if request.get("part") == "attributes":  # the fragment a trade page unfolds
        return attributes_html(s["attributes"])
    parts = [table(["", ""], [
        ("name", s["name"]), ("trace", s["trace_id"]), ("span", s["span_id"]),
        ("parent", s["parent_id"] or "-"), ("run", s["run_id"]), ("service", s["service_name"]),
        ("status", f"{s['status_code'] or 0} {s['status_message'] or ''}"),
        ("duration", micros((s["end_ns"] - s["start_ns"]) / 1e3))])]
    if s["event_id"]:
        chain_link = link("its chain, both directions", "/chain", event=s["event_id"],
                          run=s["run_id"])
        parts.append(f"<p>{chain_link}</p>")
    trade_id = s["attributes"].get(conv.TRADE_ID)
    if trade_id:
        trade_link = link(f"its trade {trade_id}", "/trade", id=trade_id, run=s["run_id"])
        parts.append(f"<p>{trade_link}</p>")
    if request.jaeger_url:
        url = jaeger.span_url(request.jaeger_url, s["trace_id"], s["span_id"])
        parts.append(f'<p><a href="{e(url)}">in Jaeger</a></p>')
    parts.append("<h2>Attributes</h2>" + attributes_html(s["attributes"]))
    return page(f"Span {s['name']}", "".join(parts))


def chain(request: Request) -> str:
    event_id = request.need("event")
    with request.traces.session() as query:
        found = query.get_event_chain(event_id)
    if found.event is None:
        raise NotFound(found.message or f"no event with id {event_id!r}")
    run = request.get("run")
    first = min(n.start_ns for n in found.rows)
    rows = []
    for n in found.rows:
        where = ("the event" if n.relation is None else
                 f"{'cause' if n in found.ancestors else 'effect'}, {n.depth} step(s), "
                 f"by {n.relation}")
        own = (link(n.event_id, "/chain", event=n.event_id, run=run)
               if n.event_id and n.event_id != event_id else (n.event_id or ""))
        start = (n.start_ns - first) / 1e9
        rows.append(Row([where, n.event_type or n.name, n.handler_name, n.container_id, own,
                         f"+{(n.start_ns - first) / 1e6:,.3f} ms", micros(n.duration_us),
                         link("span", "/span", trace=n.trace_id, span=n.span_id, run=run)],
                        n.event_type or ("trade" if n.name == "trade" else None), start,
                        start + n.duration_us / 1e6, micros(n.duration_us),
                        css="self" if n.relation is None else "",
                        extra={"relation": n.relation or "self"}))
    parts = [f'<p class="note">{len(found.ancestors)} cause(s) up to the root, '
             f"{len(found.descendants)} effect(s) down, across "
             f"{len({n.trace_id for n in found.rows})} trace(s). {e(found.message)}</p>",
             '<div class="chain">' + render(["relation", "event", "handler", "container",
                                             "event id", "wall", "duration", ""], rows,
                                            table_id="chain") + "</div>"]
    return page(f"Chain of {found.event.event_type or found.event.name} {event_id}",
                "".join(parts))
