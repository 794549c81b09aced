"""tradetrace query: ask trace files about event chains, trades, patterns, bottlenecks.

tradetrace query bottlenecks traces/
tradetrace query trades traces/ --outcome loss --pnl-max -100
tradetrace query chain evt_1a2b3c4d5e6f traces/
tradetrace query patterns signal_without_order traces/ --json
tradetrace query compare traces/monday traces/tuesday

Tables go to stdout (``--json`` for machine-readable output); a progress bar while
loading, and what was skipped, go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from ..plugins import QUERY_PATTERNS


def add_parser(commands: Any) -> None:
    query = commands.add_parser(
        "query", help="ask trace files about event chains, trades, patterns, bottlenecks",
        description=__doc__.splitlines()[0])
    questions = query.add_subparsers(dest="question", required=True)

    def question(name: str, help: str) -> argparse.ArgumentParser:
        parser = questions.add_parser(name, help=help, description=help)
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument("--limit", type=int, default=20, help="rows to show (default 20)")
        return parser

    chain = question("chain", "the causal chain of one event (ancestors and descendants)")
    chain.add_argument("event_id", help="an event id (trading.event.id) or a span id")
    chain.add_argument("sources", nargs="+", help="trace files, folders or globs")

    trade = question("trade", "one trade and its whole event lifecycle")
    trade.add_argument("trade_id")
    trade.add_argument("sources", nargs="+")

    trades = question("trades", "trades, filtered")
    trades.add_argument("sources", nargs="+")
    trades.add_argument("--symbol")
    trades.add_argument("--strategy")
    trades.add_argument("--outcome", help="win, loss, flat, rejected, incomplete, ...")
    trades.add_argument("--pnl-min", type=float)
    trades.add_argument("--pnl-max", type=float)
    trades.add_argument("--start", help="entry time from (simulated time, ISO 8601)")
    trades.add_argument("--end", help="entry time until")

    names = ", ".join(QUERY_PATTERNS.names())
    patterns = question("patterns", "find a pattern: " + names)
    patterns.add_argument("pattern", help=names)
    patterns.add_argument("sources", nargs="+")
    patterns.add_argument("--threshold-ms", type=float, help="latency_spike: longer than this")
    patterns.add_argument("--relative", type=float,
                          help="latency_spike: longer than this many times its stage's median")
    patterns.add_argument("--changed-only", action="store_true",
                          help="signal_without_order: only signals whose direction differs "
                               "from the previous one")

    bottlenecks = question("bottlenecks", "slowest stages by percentile of self time")
    bottlenecks.add_argument("sources", nargs="+")
    bottlenecks.add_argument("--percentile", type=float, default=99)
    bottlenecks.add_argument("--metric", default="processing_time",
                             choices=("processing_time", "duration"))

    compare = question("compare", "what changed between two runs or two sets of files")
    compare.add_argument("a", help="files, folder or glob of the first run (or its run id "
                                   "with --in)")
    compare.add_argument("b", help="the second")
    compare.add_argument("--in", dest="within", action="append", metavar="SOURCE",
                         help="a and b are run ids inside this source (repeatable)")

    tick = question("tick-to-trade", "BAR published -> FILL done latency distribution")
    tick.add_argument("sources", nargs="+")


def run(args: argparse.Namespace) -> int:
    from ..analyse.query import TraceQuery

    out = _console(sys.stdout)
    try:
        if args.question == "compare":
            if args.within:
                with loading() as progress:
                    query = TraceQuery(args.within, progress=progress)
                report_skips(query)
                result = query.compare(args.a, args.b)
            else:
                with loading() as progress:
                    result = TraceQuery.compare(args.a, args.b, progress=progress)
            return _emit(args, result, lambda: _compare_tables(out, result, args.limit))
        query = load(args.sources)
        return _answer(args, query, out) if query is not None else 1
    except ValueError as exc:  # an unknown pattern or metric: the message lists the known
        print(f"tradetrace: {exc}", file=sys.stderr)
        return 2


def _answer(args: argparse.Namespace, query: Any, out: Any) -> int:
    question = args.question
    if question == "chain":
        chain = query.get_event_chain(args.event_id)
        return _emit(args, chain, lambda: _chain_table(out, chain), found=chain.event)
    if question == "trade":
        result = query.get_trade(args.trade_id)
        return _emit(args, result, lambda: _trade_detail(out, result), found=result.trade)
    if question == "trades":
        result = query.trades(symbol=args.symbol, strategy=args.strategy,
                              outcome=args.outcome, pnl_min=args.pnl_min,
                              pnl_max=args.pnl_max, start=args.start, end=args.end,
                              events=False)
        return _emit(args, result, lambda: _trades_table(out, result, args.limit))
    if question == "patterns":
        params: dict[str, Any] = {k: v for k, v in (("threshold_ms", args.threshold_ms),
                                                    ("relative", args.relative))
                                  if v is not None}
        if args.changed_only:
            params["changed_only"] = True
        result = query.detect_patterns(args.pattern, **params)
        return _emit(args, result, lambda: _rows_table(
            out, f"{result.pattern}: {result.count} found", result.rows, args.limit))
    if question == "bottlenecks":
        result = query.find_bottlenecks(metric=args.metric, percentile=args.percentile)
        return _emit(args, result, lambda: _bottlenecks_table(out, result, args.limit))
    result = query.tick_to_trade()
    return _emit(args, result, lambda: _tick_table(out, result))


def _emit(args: argparse.Namespace, result: Any, render: Callable[[], None],
          found: Any = True) -> int:
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        render()
    message = getattr(result, "message", "")
    if message:
        print(f"tradetrace: {message}", file=sys.stderr)
    return 0 if found is not None else 1


# loading ---------------------------------------------------------------------------------

@contextmanager
def loading() -> Any:
    """A progress bar on stderr while files load (only on a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress("loading trace files", BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=_console(sys.stderr), transient=True,
                   disable=not sys.stderr.isatty())
    with bar:
        task = bar.add_task("load", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def load(sources: list[str]) -> Any:
    """A TraceQuery over ``sources`` with a progress bar and what was skipped said on
    stderr; None (with a message) when no file could be read."""
    from ..analyse.query import TraceQuery

    with loading() as progress:
        query = TraceQuery(sources, progress=progress)
    report_skips(query)
    if query.stats.files_read == 0:
        print("tradetrace: no trace files could be read in " + ", ".join(sources),
              file=sys.stderr)
        return None
    return query


def report_skips(query: Any) -> None:
    stats = query.stats
    for message in stats.messages:
        print(f"tradetrace: {message}", file=sys.stderr)


# tables ----------------------------------------------------------------------------------

def _console(stream: Any) -> Any:
    from rich.console import Console

    width = None if stream.isatty() else 10_000  # piped: whole ids, no truncation
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


#: Columns whose values are right-aligned numbers.
_NUMERIC = ("us", "ms", "count", "count a", "count b", "P&L", "%", "trades", "closed",
            "wins", "qty", "price", "entry", "exit", "depth")


def _table(title: str, columns: Sequence[str]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        numeric = column.endswith(_NUMERIC)
        table.add_column(column, justify="right" if numeric else "left")
    return table


def _us(value: Any) -> str:
    return "" if value is None else f"{value:,.1f}"


def _num(value: Any, digits: int = 2) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _time(ns: Any) -> str:
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def _chain_table(out: Any, chain: Any) -> None:
    if chain.event is None:
        return
    table = _table(f"causal chain of {chain.event_id}",
                   ("side", "depth", "event type", "event id", "container", "handler",
                    "via", "start (UTC)", "duration us"))

    def add(side: str, node: Any) -> None:
        table.add_row(side, str(node.depth), _text(node.event_type), _text(node.event_id),
                      _text(node.container_id), _text(node.handler_name),
                      _text(node.relation), _time(node.start_ns), _us(node.duration_us))

    for node in sorted(chain.ancestors, key=lambda n: -n.depth):
        add("cause", node)
    add("event", chain.event)
    for node in sorted(chain.descendants, key=lambda n: (n.depth, n.start_ns)):
        add("effect", node)
    out.print(table)


def _trade_detail(out: Any, result: Any) -> None:
    trade = result.trade
    if trade is None:
        return
    facts = _table(f"trade {trade.trade_id}", ("field", "value"))
    for name in ("outcome", "symbol", "strategy_id", "side", "quantity", "entry_price",
                 "exit_price", "realized_pnl", "entry_time", "exit_time", "holding_period_s",
                 "orders", "fills", "rejected_orders", "errors", "max_slippage_bps",
                 "max_fill_latency_ms", "kept_by", "run_id"):
        facts.add_row(name, _cell(getattr(trade, name)))
    out.print(facts)
    events = _table("lifecycle", ("start (UTC)", "event type", "event id", "container",
                                  "order", "side", "qty", "price", "status", "duration us"))
    for event in trade.events:
        events.add_row(_time(event.start_ns), event.event_type, _text(event.event_id),
                       _text(event.container_id), _text(event.order_id), _text(event.side),
                       _num(event.quantity, 0), _num(event.price), _text(event.status),
                       _us(event.duration_us))
    out.print(events)


def _trades_table(out: Any, result: Any, limit: int) -> None:
    rows = result.rows
    table = _table(f"{len(rows)} trades" + (f" (first {limit})" if len(rows) > limit else ""),
                   ("trade id", "outcome", "symbol", "strategy", "side", "qty", "entry",
                    "exit", "P&L", "entry time", "exit time", "kept by"))
    for t in rows[:limit]:
        table.add_row(t.trade_id, _text(t.outcome), _text(t.symbol), _text(t.strategy_id),
                      _text(t.side), _num(t.quantity, 0), _num(t.entry_price),
                      _num(t.exit_price), _num(t.realized_pnl), _text(t.entry_time),
                      _text(t.exit_time), _text(t.kept_by))
    out.print(table)


def _rows_table(out: Any, title: str, rows: list[dict[str, Any]], limit: int) -> None:
    """Pattern rows; ids of spans and traces, all attributes, and columns empty in every
    row shown are left out (they are in --json): the rest fits a terminal."""
    shown = rows[:limit]
    columns = [c for c in (rows[0] if rows else ())
               if c != "attributes" and not c.endswith(("span_id", "trace_id"))
               and any(row[c] is not None for row in shown)]
    table = _table(title + (f" (first {limit})" if len(rows) > limit else ""),
                   [c.removesuffix("_ns") + (" (UTC)" if c.endswith("_ns") else "")
                    for c in columns])
    for row in shown:
        table.add_row(*(_time(row[c]) if c.endswith("_ns") else _cell(row[c])
                        for c in columns))
    out.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return _text(value)


def _bottlenecks_table(out: Any, result: Any, limit: int) -> None:
    p = f"p{result.percentile:g}"
    table = _table(f"bottlenecks by {p} of {result.metric}",
                   ("container", "handler", "event type", "count", "p50 us", f"{p} us",
                    "max us", f"self {p} us", "self total us", "self %"))
    for s in result.rows[:limit]:
        table.add_row(_text(s.container_id), _text(s.handler_name), _text(s.event_type),
                      f"{s.count:,}", _us(s.p50_us), _us(s.p_us), _us(s.max_us),
                      _us(s.self_p_us), _us(s.self_total_us), f"{s.self_share * 100:.0f}")
    out.print(table)


def _compare_tables(out: Any, result: Any, limit: int) -> None:
    table = _table(f"{result.a} -> {result.b}",
                   ("kind", "container", "handler", "event type", "count a", "count b",
                    "p50 a us", "p50 b us", "p50 change %", "p99 a us", "p99 b us",
                    "p99 change %"))
    rows = sorted(result.rows, key=lambda r: -abs(r.p99_change or 0))
    for r in rows[:limit]:
        table.add_row(r.kind, _text(r.container_id), _text(r.handler_name),
                      _text(r.event_type), f"{r.count_a:,}", f"{r.count_b:,}",
                      _us(r.p50_us_a), _us(r.p50_us_b), _percent(r.p50_change),
                      _us(r.p99_us_a), _us(r.p99_us_b), _percent(r.p99_change))
    out.print(table)
    trades = _table("trades", ("run", "trades", "closed", "wins", "P&L"))
    for name, t in ((result.a, result.trades_a), (result.b, result.trades_b)):
        trades.add_row(name, f"{t.trades:,}", f"{t.closed:,}", f"{t.wins:,}",
                       _num(t.realized_pnl))
    out.print(trades)


def _percent(change: Any) -> str:
    return "" if change is None else f"{change * 100:+.1f}"


def _tick_table(out: Any, result: Any) -> None:
    table = _table(f"tick to trade: {result.count:,} fills",
                   ("p50 us", "p90 us", "p99 us", "max us"))
    table.add_row(_us(result.p50_us), _us(result.p90_us), _us(result.p99_us),
                  _us(result.max_us))
    out.print(table)
    if result.rows:
        _rows_table(out, "histogram", result.rows, len(result.rows))
