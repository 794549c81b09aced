"""The answers of ``tradetrace query``, as tables (``tables.py``) or JSON.

``--json`` prints a JSON array of rows for the questions that are lists (``trades``,
``patterns``, ``bottlenecks``, ``runs``; ``[]`` when none match) and one object for the others
(``null`` when there is nothing to show); ``--limit`` shortens both alike. An empty
answer to a valid question is exit status 0 and says so; an id that is not there, 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from . import tables
from .args import PATTERN_FLAGS, flags_for
from .jaeger_links import jaeger_url, trade_links
from .tables import ID, NUM, Column, print_table, print_text

LISTS = ("trades", "patterns", "bottlenecks", "runs")


def nothing(args: argparse.Namespace) -> int:
    """Not one span could be read (said already): still valid JSON, and status 1."""
    if args.json:
        _dump([] if args.question in LISTS else None)
    return 1


def answer(args: argparse.Namespace, query: Any, out: Any) -> int:
    question = args.question
    if question == "chain":
        return _chain(args, query.get_event_chain(args.event_id), out)
    if question == "trade":
        return _trade(args, query, out)
    if question == "trades":
        return _trades(args, query, out)
    if question == "patterns":
        return _patterns(args, query, out)
    if question == "bottlenecks":
        return _bottlenecks(args, query, out)
    return _tick_to_trade(args, query.tick_to_trade(), out)


# -- helpers ------------------------------------------------------------------------------

def _dump(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _first(rows: list[Any], limit: int) -> list[Any]:
    return rows[:limit] if limit else rows


def _more(shown: int, total: int) -> str:
    """``(first 20; --limit 0 shows all)`` when rows were left out."""
    return f" (first {shown:,}; --limit 0 shows all)" if shown < total else ""


def _say(message: str) -> None:
    if message:
        print(f"tradetrace: {message}", file=sys.stderr)


def _time(ns: Any) -> str:
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return tables.text(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _fact(value: Any) -> str:
    """A figure as exact as it is useful: 0.040667 ms stays, 99.86001300000001 is 99.86."""
    if isinstance(value, float) and abs(value) < 1e5:
        return f"{value:,.6g}"
    return _cell(value)


def _table(args: argparse.Namespace, out: Any, title: str, columns: list[Column],
           rows: list[list[str]]) -> None:
    print_table(out, title, columns, rows, wide=getattr(args, "wide", False),
                only=getattr(args, "columns", None))


# -- trades -------------------------------------------------------------------------------

TRADE_COLUMNS = [
    Column("trade id", ID), Column("outcome"), Column("symbol", drop=4),
    Column("strategy", drop=5), Column("side", drop=3), Column("qty", NUM, drop=6),
    Column("entry", NUM, drop=8), Column("exit", NUM, drop=9), Column("P&L", NUM),
    Column("entry time"), Column("exit time", drop=7), Column("holding s", NUM, drop=11),
    Column("kept by", drop=10),
]


def _trades(args: argparse.Namespace, query: Any, out: Any) -> int:
    result = query.trades(symbol=args.symbol, strategy=args.strategy, outcome=args.outcome,
                          side=args.side, pnl_min=args.pnl_min, pnl_max=args.pnl_max,
                          start=args.start, end=args.end, events=False,
                          limit=args.limit or None)
    rows = result.rows
    if args.json:
        _dump([asdict(t) for t in rows])
    elif not rows:
        print_text(out, "no trades match " + _filters(args) if _filters(args)
                   else "no trades in these files")
    else:
        _table(args, out, f"{result.total:,} trades" + _more(len(rows), result.total),
               TRADE_COLUMNS, [[
                   t.trade_id, tables.text(t.outcome), tables.text(t.symbol),
                   tables.text(t.strategy_id), tables.text(t.side), tables.number(t.quantity, 0),
                   tables.number(t.entry_price), tables.number(t.exit_price),
                   tables.number(t.realized_pnl), tables.when(t.entry_time),
                   tables.when(t.exit_time), tables.number(t.holding_period_s, 0),
                   tables.text(t.kept_by)] for t in rows])
    if args.json and len(rows) < result.total:
        _say(f"{len(rows):,} of {result.total:,} trades shown (--limit 0 shows all)")
    if not result.rows:
        _known_values(args, query)
    _say(result.message)
    return 0


def _filters(args: argparse.Namespace) -> str:
    given = []
    for flag in ("symbol", "strategy", "outcome", "side", "pnl_min", "pnl_max", "start", "end"):
        value = getattr(args, flag)
        if value is not None:
            text = ",".join(value) if isinstance(value, list) else str(value)
            given.append(f"--{flag.replace('_', '-')} {text}")
    return " ".join(given)


def _known_values(args: argparse.Namespace, query: Any) -> None:
    """A --symbol or --strategy matching nothing may be a typo: name what there is."""
    every = query.trades(events=False).rows
    for flag, field in (("symbol", "symbol"), ("strategy", "strategy_id")):
        wanted = getattr(args, flag)
        known = sorted({getattr(t, field) for t in every if getattr(t, field)})
        if wanted is not None and wanted not in known:
            _say(f"--{flag} {wanted}: no trade has it; in these files: "
                 + (", ".join(known[:20]) or "none") + (" ..." if len(known) > 20 else ""))


# -- one trade, one chain -----------------------------------------------------------------

def _trade(args: argparse.Namespace, query: Any, out: Any) -> int:
    jaeger = jaeger_url(args.jaeger_url)  # a bad address is a usage error, before reading
    result = query.get_trade(args.trade_id)
    trade = result.trade
    events = _first(trade.events, args.limit) if trade is not None else []
    links = trade_links(jaeger, query, trade.trade_id) if jaeger and trade is not None else []
    if args.json:
        data = result.to_dict()
        if data["trade"] is not None:
            data["trade"]["events"] = data["trade"]["events"][:len(events)]
            if jaeger:
                data["jaeger"] = links
        _dump(data if trade is not None else None)
    elif trade is not None:
        facts = [[name, _fact(getattr(trade, name))] for name in (
            "outcome", "symbol", "strategy_id", "side", "quantity", "entry_price",
            "exit_price", "realized_pnl", "entry_time", "exit_time", "holding_period_s",
            "orders", "fills", "rejected_orders", "errors", "max_slippage_bps",
            "max_fill_latency_ms", "kept_by", "run_id") if getattr(trade, name) is not None]
        print_table(out, f"trade {trade.trade_id}", [Column("field"), Column("value", ID)],
                    facts)
        _table(args, out, f"lifecycle: {len(trade.events):,} events"
               + _more(len(events), len(trade.events)), [
                   Column("start (UTC)", drop=2), Column("event type"), Column("event id", ID),
                   Column("container", ID, drop=4), Column("order", ID, drop=3),
                   Column("side"), Column("qty", NUM, drop=5), Column("price", NUM, drop=6),
                   Column("status"), Column("duration us", NUM, drop=1)],
               [[_time(e.start_ns), e.event_type, tables.text(e.event_id),
                 tables.text(e.container_id), tables.text(e.order_id), tables.text(e.side),
                 tables.number(e.quantity, 0), tables.number(e.price), tables.text(e.status),
                 tables.micros(e.duration_us)] for e in events])
        if links:  # plain lines: a terminal must not wrap or cut an address
            print(f"in Jaeger ({jaeger}):")
            for link in links:
                print(f"  {link['what']:<14} {link['url']}")
    if args.json and trade is not None and len(events) < len(trade.events):
        _say(f"{len(events):,} of {len(trade.events):,} events shown (--limit 0 shows all)")
    _say(result.message)
    return 0 if trade is not None else 1


def _chain(args: argparse.Namespace, chain: Any, out: Any) -> int:
    # the nearest causes and effects first: --limit keeps up to N of each
    causes = _first(sorted(chain.ancestors, key=lambda n: n.depth), args.limit)[::-1]
    effects = _first(sorted(chain.descendants, key=lambda n: (n.depth, n.start_ns)),
                     args.limit)
    left_out = len(chain.ancestors) + len(chain.descendants) - len(causes) - len(effects)
    if args.json:
        data = chain.to_dict()
        if chain.event is not None:
            data["ancestors"] = [asdict(n) for n in causes]
            data["descendants"] = [asdict(n) for n in effects]
            data["rows"] = [asdict(n) for n in (*causes, chain.event, *effects)]
        _dump(data if chain.event is not None else None)
    elif chain.event is not None:
        rows = [[side, str(node.depth), tables.text(node.event_type),
                 tables.text(node.event_id), tables.text(node.container_id),
                 tables.text(node.handler_name), tables.text(node.relation),
                 _time(node.start_ns), tables.micros(node.duration_us)]
                for side, nodes in (("cause", causes), ("event", [chain.event]),
                                    ("effect", effects)) for node in nodes]
        title = (f"causal chain of {chain.event_id}: {len(chain.ancestors):,} cause(s), "
                 f"{len(chain.descendants):,} effect(s)")
        if left_out:
            title += f" (the nearest {args.limit:,} of each; --limit 0 shows all)"
        _table(args, out, title, [
            Column("side"), Column("depth", NUM), Column("event type"), Column("event id", ID),
            Column("container", ID, drop=3), Column("handler", drop=2), Column("via", drop=1),
            Column("start (UTC)", drop=4), Column("duration us", NUM)], rows)
    if args.json and left_out:
        _say(f"{left_out:,} more causes and effects not shown (--limit 0 shows all)")
    _say(chain.message)
    return 0 if chain.event is not None else 1


# -- patterns, bottlenecks, tick to trade -------------------------------------------------

def _patterns(args: argparse.Namespace, query: Any, out: Any) -> int:
    params: dict[str, Any] = {k: v for k, v in (("threshold_ms", args.threshold_ms),
                                                ("relative", args.relative)) if v is not None}
    if args.changed_only:
        params["changed_only"] = True
    result = query.detect_patterns(args.pattern, limit=args.limit or None, **params)
    if args.json:
        _dump(result.rows)
        if len(result.rows) < result.count:
            _say(f"{len(result.rows):,} of {result.count:,} found shown (--limit 0 shows all)")
    elif not result.rows:
        given = " ".join(PATTERN_FLAGS[k] + ("" if v is True else f" {v:g}")
                         for k, v in params.items())
        print_text(out, f"{result.pattern}: none found" + (f" ({given})" if given else ""))
    else:
        rows_table(args, out, f"{result.pattern}: {result.count:,} found"
                   + _more(len(result.rows), result.count), result.rows)
    _say(flags_for(result.message))
    return 0


#: Pattern columns kept at any width (the rest go from the right).
_KEY_COLUMNS = ("event_id", "trade_id", "order_id", "event_type", "name")


def rows_table(args: argparse.Namespace, out: Any, title: str,
               rows: list[dict[str, Any]]) -> None:
    """Rows of a pattern (dicts): span and trace ids and all attributes are left out
    (they are in --json); ids whole, numbers right-aligned, times as UTC clock times."""
    names = [c for c in rows[0] if c != "attributes" and not c.endswith(("span_id", "trace_id"))]
    columns = []
    for position, name in enumerate(names, 1):
        values = [row[name] for row in rows if row[name] is not None]
        kind = (ID if name.endswith("_id") else NUM
                if values and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                  for v in values) and not name.endswith("_ns")
                else tables.TEXT)
        header = name.removesuffix("_ns").replace("_", " ") + (
            " (UTC)" if name.endswith("_ns") else "")
        columns.append(Column(header, kind, 0 if name in _KEY_COLUMNS else position))
    _table(args, out, title, columns,
           [[_time(row[c]) if c.endswith("_ns") else _cell(row[c]) for c in names]
            for row in rows])


def _bottlenecks(args: argparse.Namespace, query: Any, out: Any) -> int:
    result = query.find_bottlenecks(metric=args.metric, percentile=args.percentile)
    rows = _first(result.rows, args.limit)
    if args.json:
        _dump([asdict(s) for s in rows])
    elif not rows:
        print_text(out, "no stages: " + (result.message or "no event spans"))
    else:
        p = f"p{result.percentile:g}"
        _table(args, out, f"bottlenecks by {p} of {result.metric}"
               + _more(len(rows), len(result.rows)), [
                   Column("container", ID), Column("handler"), Column("event type"),
                   Column("count", NUM), Column("p50 us", NUM, drop=3), Column(f"{p} us", NUM),
                   Column("max us", NUM, drop=4), Column(f"self {p} us", NUM),
                   Column("self total us", NUM, drop=5), Column("self %", NUM, drop=2)],
               [[tables.text(s.container_id), tables.text(s.handler_name),
                 tables.text(s.event_type), f"{s.count:,}", tables.micros(s.p50_us),
                 tables.micros(s.p_us), tables.micros(s.max_us), tables.micros(s.self_p_us),
                 tables.micros(s.self_total_us), f"{s.self_share * 100:.0f}"] for s in rows])
    if rows:
        _say(result.message)
    return 0


def _tick_to_trade(args: argparse.Namespace, result: Any, out: Any) -> int:
    if args.json:
        _dump(result.to_dict())
    elif not result.count:
        print_text(out, "tick to trade: no fills")
    else:
        us = [Column("p50 us", NUM), Column("p90 us", NUM), Column("p99 us", NUM),
              Column("max us", NUM)]
        print_table(out, f"tick to trade: {result.count:,} fills", us,
                    [[tables.micros(v) for v in (result.p50_us, result.p90_us, result.p99_us,
                                                 result.max_us)]])
        print_table(out, "histogram", [Column("low us", NUM), Column("high us", NUM),
                                       Column("fills", NUM)],
                    [[tables.number(r["low_us"]), tables.number(r["high_us"]),
                      f"{r['count']:,}"] for r in result.rows])
    _say(result.message)
    return 0
