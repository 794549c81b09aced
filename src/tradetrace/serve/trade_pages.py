"""One trade's whole life, as one waterfall across the traces it lies in.

Every event span of the trade (``TraceQuery.get_trade``) and the event spans that led to
them (the bar and the signal of its orders, found up their parents in the same traces)
on one axis (``waterfall.py``), in wall or market time (``?time=market``); each row
links to its chain, its span and, when configured, Jaeger, and unfolds its attributes
(the DEBUG payload apart), loaded when unfolded (``span_pages.py``): the waterfall's own
columns are read without them, which keeps the page at tens of milliseconds at 10M spans.
"""

from __future__ import annotations

from typing import Any

from .. import conventions as conv
from ..analyse.query.results import TradeEvent
from . import jaeger
from .app import NotFound, Request
from .html import LAZY_SCRIPT, Raw, e, facts, href, link, micros, money, num, page
from .waterfall import Row, market_seconds, render

#: The columns of the ``spans`` view the waterfall needs (no attribute map: reading
#: the attributes of a run's spans is most of a page's time at 10M spans).
_COLUMNS = ("trace_id", "span_id", "name", "parent_id", "service_name", "start_ns",
            "end_ns", "event_type", "handler_name", "container_id", "event_id", "sim_time")

Key = tuple[str, str]
Life = tuple[str, str, int, str]  #: trace id, span id, start ns, "trade" or "cause"


def trade(request: Request) -> str:
    trade_id = request.need("id")
    market = request.get("time") == "market"
    asked = request.get("run")
    with request.traces.session() as query:
        found = query.get_trade(trade_id, run=asked)
        t = found.trade
        if t is None:
            raise NotFound(found.message or f"no trade with id {trade_id!r}")
        run = t.run_id
        # The traces its events are in hold their causes too (the bar and the signal of
        # an order): read with them, and the trade span, in one pass over the run.
        traces = sorted({ev.trace_id for ev in t.events})
        where = ("run_id = ?" if run is not None else "run_id IS NULL") + (
            " AND (list_contains(?, trace_id) OR trade_id = ?)")
        spans = [dict(zip(_COLUMNS, r)) for r in query.sql(
            f"SELECT {', '.join(_COLUMNS)} FROM spans WHERE {where}",
            ([run] if run is not None else []) + [traces, trade_id])]
    by_id = {(s["trace_id"], s["span_id"]): s for s in spans}
    trade_span = next((s for s in spans if s["name"] == conv.TRADE_SPAN_NAME
                       and s["event_type"] is None), None)
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
    events = {(ev.trace_id, ev.span_id): ev for ev in t.events}
    parts.append(_waterfall(lives, by_id, events, run, base, market, t.entry_time,
                            t.exit_time))
    if trade_span is not None:
        parts.append("<h2>The trade span</h2>" + _folded(
            "its attributes", trade_span["trace_id"], trade_span["span_id"], run,
            "trade-span"))
    return page(f"Trade {trade_id}", "".join(parts) + LAZY_SCRIPT)


def _folded(summary: str, trace_id: str, span_id: str, run: str | None,
            ident: str = "") -> str:
    """A span's attributes, folded: loaded when unfolded (a link without script)."""
    src = href("/span", trace=trace_id, span=span_id, run=run, part="attributes")
    page_link = link("the span's page", "/span", trace=trace_id, span=span_id, run=run)
    ident = f' id="{e(ident)}"' if ident else ""
    return (f'<details class="attrs"{ident} data-src="{src}"><summary>{summary}</summary>'
            f'<div class="attrs-body">{page_link}</div></details>')


def _life(events: list[TradeEvent], by_id: dict[Key, dict[str, Any]]) -> list[Life]:
    """The trade's event spans and, walking up their parents, the event spans that led
    to them (a bar, its signal) that are not the trade's own; in time order."""
    out: dict[Key, Life] = {
        (ev.trace_id, ev.span_id): (ev.trace_id, ev.span_id, ev.start_ns, "trade")
        for ev in events}
    for trace_id, span_id, _, _ in list(out.values()):
        parent = by_id.get((trace_id, span_id), {}).get("parent_id")
        while parent is not None and (trace_id, parent) in by_id:
            up = by_id[(trace_id, parent)]
            if (trace_id, parent) not in out and up["event_type"] and not up["handler_name"]:
                out[(trace_id, parent)] = (trace_id, parent, up["start_ns"], "cause")
            parent = up["parent_id"]
    return sorted(out.values(), key=lambda x: (x[2], x[1]))


def _waterfall(lives: list[Life], by_id: dict[Key, dict[str, Any]],
               events: dict[Key, TradeEvent], run: str | None, base: str | None,
               market: bool, entry: str | None, exit_: str | None) -> str:
    first_ns = min((x[2] for x in lives), default=0)
    # A market time far off the trade's own (a fill stamped with the wall clock by its
    # engine) would squash every other row: such a row is placed with the row before.
    low, high = market_seconds(entry), market_seconds(exit_)
    margin = max((high - low) if low is not None and high is not None else 0.0, 86_400.0)
    rows, previous = [], None
    for trace_id, span_id, start_ns, role in lives:
        s = by_id.get((trace_id, span_id), {})
        ev = events.get((trace_id, span_id))
        duration_us = ev.duration_us if ev else (s["end_ns"] - s["start_ns"]) / 1e3
        kind = str(s.get("event_type") or (ev.event_type if ev else "?"))
        sim = s.get("sim_time")
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
        event_id = s.get("event_id") or (ev.event_id if ev else None)
        links = [link("chain", "/chain", event=event_id, run=run) if event_id else "",
                 link("span", "/span", trace=trace_id, span=span_id, run=run)]
        if base:
            links.append(Raw(f'<a href="{e(jaeger.span_url(base, trace_id, span_id))}">'
                             "jaeger</a>"))
        rows.append(Row(
            [kind, role, s.get("container_id") or (ev.container_id if ev else None),
             f"+{(start_ns - first_ns) / 1e6:,.3f} ms", sim, micros(duration_us),
             ev.side if ev else None, _short(ev.quantity if ev else None),
             _short(ev.price if ev else None), ev.status if ev else None,
             Raw(" ".join(str(x) for x in links if x))],
            kind, start, end, label, css="event " + role,
            details=_folded(f"attributes of {e(kind)} <span class=id>{e(span_id)}</span>",
                            trace_id, span_id, run),
            extra={"event-id": str(event_id or ""), "event-type": kind}))
    axis = ("market time: the traced system's clock (trading.time.simulated); the events "
            "of one bar share an instant" if market else
            "wall time: when each span ran, from the first of them")
    return render(["event", "role", "container", "wall", "market time", "duration", "side",
                   "qty", "price", "status", ""], rows, axis=axis)


def _short(value: Any) -> Any:
    """A number with at most 4 decimals, for the tables."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return f"{number:,.4f}".rstrip("0").rstrip(".")
