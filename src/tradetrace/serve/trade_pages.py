"""One trade's whole life, one span's attributes, and one event's chain.

The trade page lays every event span of the trade (``TraceQuery.get_trade``) on one
axis across the traces they are in (``waterfall.py``), in wall or market time
(``?time=market``), each with its attributes and DEBUG payload folded below it, a link
to its chain and, when configured, to the span in Jaeger. The chain page is
``get_event_chain`` both ways: the causes up to the root, the effects down.
"""

from __future__ import annotations

from typing import Any

from .. import conventions as conv
from ..analyse.query import TraceQuery
from . import jaeger
from .app import NotFound, Request
from .html import Raw, e, facts, href, link, micros, money, num, page, table
from .waterfall import Row, market_seconds, render

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


def trade(request: Request) -> str:
    trade_id = request.need("id")
    market = request.get("time") == "market"
    with request.traces.session() as query:
        found = query.get_trade(trade_id)
        t = found.trade
        if t is None:
            raise NotFound(found.message or f"no trade with id {trade_id!r}")
        run = t.run_id
        # The traces its events are in hold their causes too (the bar and the signal of
        # an order): read with them, and the trade span, in one pass over the run.
        traces = sorted({ev.trace_id for ev in t.events})
        spans = span_rows(query, ("run_id = ?" if run is not None else "run_id IS NULL")
                          + " AND (list_contains(?, trace_id) OR trade_id = ?)",
                          ([run] if run is not None else []) + [traces, trade_id])
    by_id = {(s["trace_id"], s["span_id"]): s for s in spans}
    trade_span = next((s for s in spans if s["name"] == conv.TRADE_SPAN_NAME
                       and s["attributes"].get(conv.TRADE_ID) == trade_id), None)
    base = request.jaeger_url
    parts = [facts([("outcome", t.outcome or "-"), ("side", t.side or "-"),
                    ("symbol", t.symbol or "-"), ("P&L", money(t.realized_pnl) or "-"),
                    ("holding s", num(t.holding_period_s) or "-"),
                    ("max slippage bps", num(t.max_slippage_bps) or "-"),
                    ("max fill latency ms", num(t.max_fill_latency_ms, 3) or "-"),
                    ("kept by", t.kept_by or "-")]),
             f"<p>run {link(run or '-', '/trades', run=run)} · strategy {e(t.strategy_id)}"
             f" · entry {e(t.entry_time)} at {e(num(t.entry_price))} · exit {e(t.exit_time)}"
             f" at {e(num(t.exit_price))} · exit type {e(t.exit_type or '-')} · orders "
             f"{e(t.orders)}, fills {e(t.fills)}, rejected {e(t.rejected_orders)}, errors "
             f"{e(t.errors)}</p>"]
    if found.message:
        parts.append(f'<p class="note">{e(found.message)}</p>')
    if base and spans:
        search = jaeger.trade_search_url(base, trade_id, spans[0]["service_name"],
                                         min(s["start_ns"] for s in spans),
                                         max(s["end_ns"] for s in spans))
        parts.append(f'<p><a id="jaeger-search" href="{e(search)}">this trade in Jaeger</a></p>')
    switch = ('<p class="switch">time: '
              + (f'<a id="wall" href="{href("/trade", id=trade_id, run=run)}">wall</a> '
                 "<b>market</b>" if market else
                 f'<b>wall</b> <a id="market" href="'
                 f'{href("/trade", id=trade_id, run=run, time="market")}">market</a>') + "</p>")
    lives = _life(t.events, by_id)
    parts.append(f"<h2>Its life: {len(t.events)} event span(s) of the trade and "
                 f"{len(lives) - len(t.events)} cause(s), in {len({x[0] for x in lives})} "
                 "trace(s)</h2>" + switch)
    parts.append(_waterfall(lives, by_id, run, base, market, t.entry_time, t.exit_time))
    if trade_span is not None:
        parts.append("<h2>The trade span</h2>" + attributes_html(trade_span["attributes"]))
    return page(f"Trade {trade_id}", "".join(parts))


def _short(value: Any) -> Any:
    """A number's text (attributes are text) with at most 4 decimals, for the tables."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return f"{number:,.4f}".rstrip("0").rstrip(".")


Life = tuple[str, str, int, str]  #: trace id, span id, start ns, "trade" or "cause"


def _life(events: list[Any], by_id: dict[tuple[str, str], dict[str, Any]]) -> list[Life]:
    """The trade's event spans and, walking up their parents, the event spans that led
    to them (a bar, its signal) that are not the trade's own; in time order."""
    own = {(ev.trace_id, ev.span_id) for ev in events}
    out: dict[tuple[str, str], Life] = {
        (ev.trace_id, ev.span_id): (ev.trace_id, ev.span_id, ev.start_ns, "trade")
        for ev in events}
    for key in own:
        parent = by_id.get(key, {}).get("parent_id")
        while parent is not None and (key[0], parent) in by_id:
            up = by_id[(key[0], parent)]
            attrs = up["attributes"]
            if (key[0], parent) not in out and attrs.get(conv.EVENT_TYPE) and not attrs.get(
                    conv.HANDLER_NAME):
                out[(key[0], parent)] = (key[0], parent, up["start_ns"], "cause")
            parent = up["parent_id"]
    return sorted(out.values(), key=lambda x: (x[2], x[1]))


def _waterfall(lives: list[Life], by_id: dict[tuple[str, str], dict[str, Any]],
               run: str | None, base: str | None, market: bool, entry: str | None,
               exit_: str | None) -> str:
    first_ns = min((x[2] for x in lives), default=0)
    # A market time far off the trade's own (a fill stamped with the wall clock by its
    # engine) would squash every other row: such a row is placed with the row before.
    low, high = market_seconds(entry), market_seconds(exit_)
    margin = max((high - low) if low is not None and high is not None else 0.0, 86_400.0)
    rows, previous = [], None
    for trace_id, span_id, start_ns, role in lives:
        s = by_id.get((trace_id, span_id))
        attrs = s["attributes"] if s else {}
        duration_us = (s["end_ns"] - s["start_ns"]) / 1e3 if s else 0.0
        kind = str(attrs.get(conv.EVENT_TYPE) or (s or {}).get("name") or "?")
        sim = attrs.get(conv.SIM_TIME)
        if market:
            at = market_seconds(sim)
            label = str(sim).split("T")[-1] if sim else "no market time"
            if at is not None and low is not None and not (
                    low - margin <= at <= (high or low) + margin):
                at, label = previous, "off the trade's clock: placed with its cause"
            previous = at if at is not None else previous
            start, end = at, at
        else:
            start = (start_ns - first_ns) / 1e9
            end, label = start + duration_us / 1e6, micros(duration_us)
        event_id = attrs.get(conv.EVENT_ID)
        links = [link("chain", "/chain", event=event_id, run=run) if event_id else "",
                 link("span", "/span", trace=trace_id, span=span_id, run=run)]
        if base:
            links.append(Raw(f'<a href="{e(jaeger.span_url(base, trace_id, span_id))}">'
                             "jaeger</a>"))
        rows.append(Row(
            [kind, "cause" if role == "cause" else "trade", attrs.get(conv.CONTAINER_ID),
             f"+{(start_ns - first_ns) / 1e6:,.3f} ms", sim, micros(duration_us),
             attrs.get(conv.SIDE) or attrs.get(conv.DIRECTION), _short(attrs.get(conv.QUANTITY)),
             _short(attrs.get(conv.PRICE)), attrs.get(conv.STATUS),
             Raw(" ".join(str(x) for x in links if x))],
            kind, start, end, label, css="event " + role,
            details=f'<details class="attrs"><summary>attributes of {e(kind)} '
                    f"<span class=id>{e(span_id)}</span></summary>{attributes_html(attrs)}"
                    "</details>",
            extra={"event-id": str(event_id or ""), "event-type": kind}))
    axis = ("market time: the traced system's clock (trading.time.simulated); the events "
            "of one bar share an instant" if market else
            "wall time: when each span ran, from the first of them")
    return render(["event", "role", "container", "wall", "market time", "duration",
                   "side / direction", "qty", "price", "status", ""], rows, axis=axis)


def span(request: Request) -> str:
    trace_id, span_id = request.need("trace").lower(), request.need("span").lower()
    run = request.get("run")
    where = "trace_id = ? AND span_id = ?" + (" AND run_id = ?" if run else "")
    with request.traces.session() as query:
        found = span_rows(query, where, [trace_id, span_id] + ([run] if run else []))
    if not found:
        raise NotFound(f"no span {span_id!r} in trace {trace_id!r}")
    s = found[0]
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
