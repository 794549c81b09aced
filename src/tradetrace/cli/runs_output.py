"""The answers about runs: ``query compare`` (two runs, stage by stage and trade by
trade) and ``query runs`` (every run in the sources, ranked by a metric)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from . import tables
from .query_output import _dump, _first, _more, _say, _table, nothing
from .tables import ID, NUM, Column, print_table, print_text

# -- compare ------------------------------------------------------------------------------


def compare(args: argparse.Namespace, out: Any) -> int:
    from .query_command import load

    if args.a == args.b:
        args.parser.error(f"a and b are the same ({args.a}): compare two runs or two sets "
                          "of files")
    if args.within:
        query = load(args.within)
        if query is None:
            return nothing(args)
        result = query.compare(args.a, args.b)
    else:
        result = _compare_sources(args.a, args.b)
    rows = _first(result.distinct_rows(), args.limit)
    diff = result.trade_diff
    pairs = _first(diff.rows, args.limit) if diff is not None else []
    if args.json:
        data = result.to_dict()
        data["rows"] = [asdict(r) for r in rows]
        if diff is not None:
            data["trade_diff"]["rows"] = [asdict(p) for p in pairs]
        _dump(data)
    else:
        _table(args, out, f"{result.a} -> {result.b}: latency by stage, largest p99 change "
               "first" + _more(len(rows), len(result.distinct_rows())), [
                   Column("container", ID), Column("handler"), Column("event type"),
                   Column("count a", NUM, drop=3), Column("count b", NUM, drop=4),
                   Column("p50 a us", NUM, drop=7), Column("p50 b us", NUM, drop=8),
                   Column("p50 change %", NUM, drop=6), Column("p99 a us", NUM, drop=2),
                   Column("p99 b us", NUM, drop=1), Column("p99 change %", NUM)],
               [["(all)" if r.kind == "event_type" else tables.text(r.container_id),
                 tables.text(r.handler_name), tables.text(r.event_type), f"{r.count_a:,}",
                 f"{r.count_b:,}", tables.micros(r.p50_us_a), tables.micros(r.p50_us_b),
                 tables.percent(r.p50_change), tables.micros(r.p99_us_a),
                 tables.micros(r.p99_us_b), tables.percent(r.p99_change)] for r in rows])
        print_table(out, "trades", [Column("run", ID), Column("trades", NUM),
                                    Column("closed", NUM), Column("wins", NUM),
                                    Column("P&L", NUM)],
                    [[name, f"{t.trades:,}", f"{t.closed:,}", f"{t.wins:,}",
                      tables.number(t.realized_pnl)]
                     for name, t in ((result.a, result.trades_a), (result.b, result.trades_b))])
        if diff is not None:
            _trade_diff(args, out, diff, pairs)
    _say(result.message)
    return 1 if result.message else 0  # a side with no spans: a run id or files not there


def _trade_diff(args: argparse.Namespace, out: Any, diff: Any, pairs: list[Any]) -> None:
    """Trade by trade: how many agree, the first divergence, then the pairs that differ."""
    if diff.message:
        print_text(out, f"trade by trade: {diff.message}")
        return
    if not diff.rows:
        print_text(out, f"trade by trade: all {diff.same:,} trades the same (entry, side, "
                        "exit and P&L)")
        return
    first = diff.first
    print_text(out, f"trade by trade: {diff.same:,} the same, {len(diff.rows):,} differ; "
                    f"first divergence: {first.key} trade #{first.number} ({first.differs}) "
                    f"at {tables.when(first.entry_a or first.entry_b)}")
    _table(args, out, "trades that differ, in entry time" + _more(len(pairs), len(diff.rows)),
           [Column("strategy / symbol"), Column("#", NUM), Column("differs"),
            Column("trade a", ID), Column("trade b", ID), Column("entry a", drop=4),
            Column("entry b", drop=5), Column("side a", drop=2), Column("side b", drop=3),
            Column("P&L a", NUM), Column("P&L b", NUM)],
           [[p.key, str(p.number), p.differs, tables.text(p.trade_a), tables.text(p.trade_b),
             tables.when(p.entry_a), tables.when(p.entry_b), tables.text(p.side_a),
             tables.text(p.side_b), tables.number(p.pnl_a), tables.number(p.pnl_b)]
            for p in pairs])


def _compare_sources(a: str, b: str) -> Any:
    from ..analyse.query import TraceQuery
    from .query_command import loading, report_skips

    loaded: list[Any] = []

    class Kept(TraceQuery):  # the class form builds its query itself: kept for its stats
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            loaded.append(self)

    with loading() as progress:
        result = Kept.compare(a, b, progress=progress)
    report_skips(loaded[0])
    return result


# -- runs ---------------------------------------------------------------------------------

RUN_COLUMNS = [
    Column("run", ID), Column("trades", NUM), Column("win rate %", NUM),
    Column("P&L", NUM), Column("bars", NUM, drop=3), Column("events", NUM, drop=4),
    Column("spans", NUM, drop=6), Column("errors", NUM, drop=5),
    Column("wall s", NUM, drop=2), Column("first bar", drop=7), Column("last bar", drop=8),
]


def runs(args: argparse.Namespace, query: Any, out: Any) -> int:
    result = query.rank_runs(by=args.by)
    rows = _first(result.rows, args.limit)
    if args.json:
        _dump([asdict(r) for r in rows])
    elif not rows:
        print_text(out, "no runs in these files")
    else:
        _table(args, out, f"{len(result.rows):,} runs, best {args.by} first"
               + _more(len(rows), len(result.rows)), RUN_COLUMNS, [[
                   tables.text(r.run_id), f"{r.trades:,}",
                   tables.number(None if r.win_rate is None else 100 * r.win_rate, 1),
                   tables.number(r.realized_pnl), f"{r.bars:,}", f"{r.events:,}",
                   f"{r.spans:,}", f"{r.errors:,}", tables.number(r.duration_s, 1),
                   tables.when(r.first_time), tables.when(r.last_time)] for r in rows])
    _say(result.message)
    return 0
