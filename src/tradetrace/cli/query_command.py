"""tradetrace query: ask trace files about event chains, trades, patterns, bottlenecks.

tradetrace query bottlenecks traces/
tradetrace query trades traces/ --outcome loss --pnl-max -100
tradetrace query chain evt_1a2b3c4d5e6f traces/
tradetrace query patterns signal_without_order traces/ --json
tradetrace query compare traces/monday traces/tuesday
tradetrace query runs sweeps/ --by win_rate

Tables go to stdout (``--json`` for machine-readable output); a progress bar while
loading, and what was skipped, go to stderr. The answers are rendered in
``query_output.py``; option values are checked in ``args.py``.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from contextlib import contextmanager
from typing import Any

from ..plugins import QUERY_PATTERNS
from . import args as check
from . import tables
from .args import PATTERN_FLAGS, flags_for

#: Patterns that need one of these parameters (their find() raises otherwise).
NEEDS_ONE_OF = {"latency_spike": ("threshold_ms", "relative")}

_EXAMPLES = {
    "chain": "tradetrace query chain evt_1a2b3c4d5e6f traces/",
    "trade": "tradetrace query trade trd_6f7a6f6f0000001a traces/ --limit 50",
    "trades": "tradetrace query trades traces/ --outcome loss --pnl-max -100 "
              "--start 2024-01-03\n  tradetrace query trades traces/ --side short "
              "--columns trade-id,pnl,entry-time --limit 0",
    "patterns": "tradetrace query patterns latency_spike traces/ --relative 10\n"
                "  tradetrace query patterns signal_without_order traces/ --changed-only",
    "bottlenecks": "tradetrace query bottlenecks traces/ --percentile 95",
    "compare": "tradetrace query compare traces/monday traces/tuesday\n"
               "  tradetrace query compare run_A run_B --in traces/",
    "tick-to-trade": "tradetrace query tick-to-trade traces/ --json",
    "runs": "tradetrace query runs sweeps/ --by win_rate --limit 10\n"
            "  tradetrace query compare run_A run_B --in sweeps/   (the two you pick)",
}


#: ``--run``'s help, for every command that takes it.
ONE_RUN = ("only this run's spans (its trading.run.id), as if the sources held no other; "
           "in the run index only its folder is read")


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    query = commands.add_parser(
        "query", help="ask trace files about event chains, trades, patterns, bottlenecks",
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  " + _EXAMPLES["trades"])
    questions = query.add_subparsers(dest="question", required=True, metavar="QUESTION")

    def question(name: str, help: str, *, rows: bool = True) -> argparse.ArgumentParser:
        parser = questions.add_parser(
            name, help=help, description=help, parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog="example:\n  " + _EXAMPLES[name])
        parser.set_defaults(parser=parser)
        parser.add_argument("--json", action="store_true",
                            help="machine-readable output: a JSON array of rows ([] when "
                                 "none), or one object; --limit applies")
        if name not in ("compare", "runs"):
            parser.add_argument("--run", metavar="RUN_ID", help=ONE_RUN)
        if rows:
            parser.add_argument("--limit", type=check.limit, default=20, metavar="N",
                                help="rows to show (default 20; 0 shows all)")
            parser.add_argument("--wide", action="store_true",
                                help="every column, however wide the terminal")
            parser.add_argument("--columns", metavar="A,B",
                                help="these columns, in this order (names as in the "
                                     "header, e.g. trade-id,pnl)")
        return parser

    chain = question("chain", "the causal chain of one event (ancestors and descendants)")
    chain.add_argument("event_id", help="an event id (trading.event.id) or a span id")
    chain.add_argument("sources", nargs="+", help="trace files, folders or globs")

    trade = question("trade", "one trade and its whole event lifecycle")
    trade.add_argument("trade_id", help="as `query trades` shows it (trd_...)")
    trade.add_argument("sources", nargs="+", help="trace files, folders or globs")
    trade.add_argument("--jaeger-url", metavar="URL",
                       help="the Jaeger UI (e.g. http://localhost:16686; default "
                            "$TRADETRACE_JAEGER_URL): print where the trade is in it")

    trades = question("trades", "trades, filtered")
    trades.add_argument("sources", nargs="+", help="trace files, folders or globs")
    trades.add_argument("--symbol")
    trades.add_argument("--strategy")
    trades.add_argument("--outcome", type=check.outcomes,
                        help="one or several, comma-separated: " + ", ".join(check.OUTCOMES))
    trades.add_argument("--side", type=check.side, help="long or short")
    trades.add_argument("--pnl-min", type=float, metavar="P&L")
    trades.add_argument("--pnl-max", type=float, metavar="P&L")
    trades.add_argument("--start", type=check.start_time, metavar="TIME",
                        help="entry time from (simulated time, ISO 8601), inclusive")
    trades.add_argument("--end", type=check.end_time, metavar="TIME",
                        help="entry time until, inclusive (a date alone: that whole day)")

    names = QUERY_PATTERNS.names()
    patterns = question("patterns", "find a pattern: " + ", ".join(names))
    patterns.add_argument("pattern", choices=names, metavar="PATTERN",
                          help=", ".join(names))
    patterns.add_argument("sources", nargs="+", help="trace files, folders or globs")
    patterns.add_argument("--threshold-ms", type=check.positive, metavar="MS",
                          help="latency_spike: longer than this")
    patterns.add_argument("--relative", type=check.positive, metavar="TIMES",
                          help="latency_spike: longer than this many times its stage's median")
    patterns.add_argument("--changed-only", action="store_true",
                          help="signal_without_order: only signals whose direction differs "
                               "from the previous one")

    bottlenecks = question("bottlenecks", "slowest stages by percentile of self time")
    bottlenecks.add_argument("sources", nargs="+", help="trace files, folders or globs")
    bottlenecks.add_argument("--percentile", type=check.percentile, default=99.0,
                             help="default 99")
    bottlenecks.add_argument("--metric", default="processing_time",
                             choices=("processing_time", "duration"),
                             help="sort by self time (processing_time, the default) or by "
                                  "the whole duration")

    compare = question("compare", "what changed between two runs or two sets of files")
    compare.add_argument("a", help="files, folder or glob of the first run (or its run id "
                                   "with --in)")
    compare.add_argument("b", help="the second")
    compare.add_argument("--in", dest="within", action="append", metavar="SOURCE",
                         help="a and b are run ids inside this source (repeatable)")

    runs = question("runs", "every run in the sources, best first by a metric (a parameter "
                            "sweep's folder is one source)")
    runs.add_argument("sources", nargs="+", help="trace files, folders or globs")
    runs.add_argument("--by", default="realized_pnl", type=check.run_metric,
                      metavar="METRIC", help="rank by: " + ", ".join(check.RUN_METRICS)
                      + " (default realized_pnl; duration_s and errors: lowest first)")

    tick = question("tick-to-trade", "BAR published -> FILL done latency distribution",
                    rows=False)
    tick.add_argument("sources", nargs="+", help="trace files, folders or globs")


def check_pattern_flags(args: argparse.Namespace) -> None:
    """A flag the pattern does not take, or a needed one missing: a usage error, said
    before any file is read, in flags (not Python parameter names)."""
    find = QUERY_PATTERNS.get(args.pattern, "pattern")
    find = (find() if isinstance(find, type) else find).find
    takes = [n for n in inspect.signature(find).parameters if n in PATTERN_FLAGS]
    given = [n for n in PATTERN_FLAGS if getattr(args, n) not in (None, False)]
    wrong = [PATTERN_FLAGS[n] for n in given if n not in takes]
    if wrong:
        options = ", ".join(PATTERN_FLAGS[n] for n in takes) or "no options"
        args.parser.error(f"{', '.join(wrong)}: not an option of {args.pattern} (it takes "
                          f"{options})")
    needed = NEEDS_ONE_OF.get(args.pattern, ())
    if needed and not any(n in given for n in needed):
        args.parser.error(f"{args.pattern} needs " + " or ".join(PATTERN_FLAGS[n]
                                                                 for n in needed)
                          + " (or both)")


def run(args: argparse.Namespace) -> int:
    from . import query_output, runs_output

    if args.question == "patterns":
        check_pattern_flags(args)
    out = tables.console(sys.stdout)
    try:
        if args.question == "compare":
            return runs_output.compare(args, out)
        query = load(args.sources, getattr(args, "run", None))
        if query is None:
            return query_output.nothing(args)
        if args.question == "runs":
            return runs_output.runs(args, query, out)
        return query_output.answer(args, query, out)
    except ValueError as exc:  # a value only the engine can judge: a usage error too
        print(f"tradetrace: {flags_for(str(exc))}", file=sys.stderr)
        return 2


# loading ---------------------------------------------------------------------------------

@contextmanager
def loading() -> Any:
    """A progress bar on stderr while files load (only on a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress("loading trace files", BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=tables.console(sys.stderr), transient=True,
                   disable=not sys.stderr.isatty())
    with bar:
        task = bar.add_task("load", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def load(sources: list[str], run: str | None = None) -> Any:
    """A TraceQuery over ``sources`` (one run's spans, with ``run``) with a progress bar
    and what was skipped said on stderr; None (with a message) when not one span could
    be read."""
    from ..analyse.query import TraceQuery

    with loading() as progress:
        query = TraceQuery(sources, progress=progress, run=run)
    report_skips(query)
    return query if readable(query.stats, sources) else None


def readable(stats: Any, sources: list[str]) -> bool:
    """Whether any span was read; if not, why, on stderr (exit status 1)."""
    where = ", ".join(sources)
    if stats.files_read == 0:
        print("tradetrace: no trace files could be read in " + where
              + (f" ({len(stats.skipped_files)} skipped)" if stats.skipped_files else ""),
              file=sys.stderr)
        return False
    if stats.spans == 0:
        print(f"tradetrace: no spans in {where}: {stats.files_read} file(s) read, "
              f"{stats.bad_lines:,} bad line(s) and {stats.bad_spans:,} bad span(s) skipped",
              file=sys.stderr)
        return False
    return True


def report_skips(query: Any) -> None:
    for message in query.stats.messages:
        print(f"tradetrace: {message}", file=sys.stderr)
