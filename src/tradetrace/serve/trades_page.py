"""A run's trades: sortable, filterable, paged; every filter and the sort are query
parameters, so a view of the trades is a URL to share.

The engine filters by run, outcome, side, symbol and P&L, sorts and pages
(``TraceQuery.trades(run=..., events=False, order=..., limit=..., offset=...)``). The
filters it does not know (holding time, slippage, fill latency, kept_by) are applied
here to the run's matching trades before paging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..analyse.query.results import Trade
from ..analyse.query.trade_queries import TRADE_ORDERS
from .app import BadRequest, NotFound, Request
from .html import Figure, Raw, e, href, link, money, num, page, table

PAGE_SIZE = 200
OUTCOMES = ("win", "loss", "flat", "rejected", "incomplete", "expired")
SIDES = ("LONG", "SHORT")

#: (parameter, label, the trade's value, at least (True) or at most) for the filters
#: applied here
_LOCAL: tuple[tuple[str, str, Callable[[Trade], Any], bool], ...] = (
    ("hold_min", "holding s >=", lambda t: t.holding_period_s, True),
    ("hold_max", "holding s <=", lambda t: t.holding_period_s, False),
    ("slip_min", "slippage bps >=", lambda t: t.max_slippage_bps, True),
    ("lat_min", "fill latency ms >=", lambda t: t.max_fill_latency_ms, True),
)

#: (column label, order key or None) of the table, in order
COLUMNS = (
    ("trade", "trade_id"), ("outcome", "outcome"), ("side", "side"), ("symbol", "symbol"),
    ("strategy", "strategy_id"), ("quantity", "quantity"), ("entry price", "entry_price"),
    ("exit price", "exit_price"), ("P&L", "realized_pnl"), ("entry (market)", "entry_time"),
    ("exit (market)", "exit_time"), ("holding s", "holding_period_s"),
    ("max slippage bps", "max_slippage_bps"), ("max fill latency ms", "max_fill_latency_ms"),
    ("orders", "orders"), ("fills", "fills"), ("rejected", None), ("kept by", "kept_by"),
)
FILTERS = ("outcome", "side", "symbol", "pnl_min", "pnl_max", "kept_by",
           *(name for name, *_ in _LOCAL))


def trades(request: Request) -> str:
    run = request.need("run")
    order = request.get("order")
    if order is not None and order.lstrip("-") not in TRADE_ORDERS:
        raise BadRequest(f"order={order!r}: sort by one of {', '.join(TRADE_ORDERS)}")
    outcome, side = request.get("outcome"), request.get("side")
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequest(f"outcome={outcome!r}: one of {', '.join(OUTCOMES)}")
    if side is not None and side.upper() not in SIDES:
        raise BadRequest(f"side={side!r}: LONG or SHORT")
    try:
        number = max(1, int(request.get("page", "1") or 1))
    except ValueError:
        raise BadRequest("page must be a whole number") from None
    local = [(name, request.number(name), value, at_least)
             for name, _, value, at_least in _LOCAL if request.get(name) is not None]
    kept_by = request.get("kept_by")
    asked: dict[str, Any] = dict(run=run, outcome=outcome, side=side,
                                 symbol=request.get("symbol"), pnl_min=request.number("pnl_min"),
                                 pnl_max=request.number("pnl_max"), events=False, order=order)
    with request.traces.session() as query:
        if local or kept_by:  # filters of ours: the run's matching trades, paged here
            every = query.trades(**asked).rows
            chosen = [t for t in every if _keeps(t, local, kept_by)]
            total, rows = len(chosen), chosen[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
        else:
            found = query.trades(**asked, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
            total, rows = found.total, found.rows
        if not total and run not in query.runs():
            raise NotFound(f"no run {run!r} in the traces")
    return page(f"Trades of {run}", _filters(request, run) + _summary(request, total, number)
                + _table(request, rows) + _pager(request, total, number))


def _keeps(trade: Trade, local: list[tuple[str, float | None, Callable[[Trade], Any], bool]],
           kept_by: str | None) -> bool:
    if kept_by is not None and trade.kept_by != kept_by:
        return False
    for _, bound, value, at_least in local:
        got = value(trade)
        if bound is None:
            continue
        if got is None or (got < bound if at_least else got > bound):
            return False
    return True


def _filters(request: Request, run: str) -> str:
    def choice(name: str, options: tuple[str, ...]) -> str:
        current = request.get(name) or ""
        items = "".join(f'<option value="{e(o)}"{" selected" if o == current else ""}>'
                        f"{e(o or 'any')}</option>" for o in ("", *options))
        return f'<label>{e(name)}<select name="{e(name)}">{items}</select></label>'

    def text(name: str, label: str) -> str:
        return (f'<label>{e(label)}<input name="{e(name)}" '
                f'value="{e(request.get(name) or "")}"></label>')

    fields = [choice("outcome", OUTCOMES), choice("side", SIDES), text("symbol", "symbol"),
              text("pnl_min", "P&L >="), text("pnl_max", "P&L <="), text("kept_by", "kept by"),
              *(text(name, label) for name, label, *_ in _LOCAL)]
    order = request.get("order")
    hidden = f'<input type="hidden" name="run" value="{e(run)}">' + (
        f'<input type="hidden" name="order" value="{e(order)}">' if order else "")
    return (f'<form class="filters" method="get" action="/trades">{hidden}{"".join(fields)}'
            f'<button type="submit">Filter</button>'
            f'<a href="{href("/trades", run=run)}">clear</a></form>'
            f'<p>{link("why no trade in this run", "/why", run=run)}</p>')


def _summary(request: Request, total: int, number: int) -> str:
    first = (number - 1) * PAGE_SIZE
    shown = f"{first + 1:,}-{min(total, first + PAGE_SIZE):,} of " if total > PAGE_SIZE else ""
    return f'<p id="count" class="note">{shown}{total:,} trade(s)</p>'


def _params(request: Request, **changed: Any) -> dict[str, Any]:
    kept = {name: request.get(name) for name in ("run", "order", "page", *FILTERS)}
    kept.update(changed)
    return kept


def _table(request: Request, rows: list[Trade]) -> str:
    order = request.get("order") or ""
    headers: list[Any] = []
    for label, key in COLUMNS:
        if key is None:
            headers.append(label)
            continue
        descending = order == key  # a second click turns the sort around
        arrow = " ▲" if order == key else " ▼" if order == "-" + key else ""
        headers.append(link(label + arrow, "/trades", **_params(
            request, order=("-" if descending else "") + key, page=None)))
    cells = [[link(t.trade_id, "/trade", id=t.trade_id, run=t.run_id), t.outcome, t.side,
              t.symbol, t.strategy_id, t.quantity, t.entry_price, t.exit_price,
              Raw(f'<span class="pnl">{e(money(t.realized_pnl))}</span>'), t.entry_time,
              t.exit_time, t.holding_period_s, t.max_slippage_bps,
              Figure(num(t.max_fill_latency_ms, 3)),
              t.orders, t.fills, t.rejected_orders, t.kept_by] for t in rows]
    classes = [t.outcome or "" for t in rows]
    return table(headers, cells, table_id="trades", row_classes=classes)


def _pager(request: Request, total: int, number: int) -> str:
    pages = max(1, -(-total // PAGE_SIZE))
    if pages == 1:
        return ""
    parts = ['<p class="pager">']
    if number > 1:
        parts.append(str(link("previous", "/trades", **_params(request, page=number - 1))))
    parts.append(f"<span>page {num(number)} of {num(pages)}</span>")
    if number < pages:
        parts.append(str(link("next", "/trades", **_params(request, page=number + 1))))
    return "".join(parts) + "</p>"
