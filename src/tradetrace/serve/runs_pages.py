"""The runs page (every run, select two to compare) and the compare page (two runs side
by side, stage by stage and trade by trade, with the first divergence)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..analyse.query import TraceQuery
from ..analyse.reader import ReadStats
from ..analyse.summary import metrics_beside
from .app import NotFound, Request
from .data import Traces
from .html import Raw, e, facts, link, micros, money, page, table


@dataclass
class RunLine:
    """A run as the runs page shows it."""

    run_id: str | None
    level: str  #: as traced: debug (handler spans), normal (bars), else minimal
    bars: int
    events: int
    spans: int
    trades: int
    wins: int
    win_rate: float | None
    realized_pnl: float
    duration_s: float
    errors: int
    dropped: int | None  #: spans dropped or lost, per its metrics file (None: no file)
    first_time: str | None
    last_time: str | None


def run_lines(traces: Traces, query: TraceQuery) -> list[RunLine]:
    """Every run, newest run id first; kept until the traces change."""
    def compute() -> list[RunLine]:
        handlers = dict(query.sql(
            "SELECT run_id, count(*) FILTER (WHERE handler_name IS NOT NULL) FROM spans "
            "GROUP BY run_id"))
        dropped = _dropped(traces)
        lines = []
        for r in query.rank_runs("realized_pnl").rows:
            level = "debug" if handlers.get(r.run_id) else "normal" if r.bars else "minimal"
            lines.append(RunLine(r.run_id, level, r.bars, r.events, r.spans, r.trades, r.wins,
                                 r.win_rate, r.realized_pnl, r.duration_s, r.errors,
                                 dropped.get(r.run_id or ""), r.first_time, r.last_time))
        return sorted(lines, key=lambda x: x.run_id or "", reverse=True)

    return traces.kept("runs", compute)


def _dropped(traces: Traces) -> dict[str, int]:
    """Spans a run's metrics file counts as dropped, evicted or lost, by run id (its
    file is ``<run id>-metrics.jsonl``)."""
    out: dict[str, int] = {}
    for path in traces.metrics_files():
        summary = metrics_beside(path, ReadStats())
        if summary is None:
            continue
        run = path.name.split("-metrics")[0]
        lost = sum(summary.lost.values()) + sum(
            n for fate, n in summary.spans.items() if fate in ("dropped", "evicted"))
        out[run] = out.get(run, 0) + lost
    return out


def runs(request: Request) -> str:
    with request.traces.session() as query:
        lines = run_lines(request.traces, query)
        message = "; ".join(query.stats.messages) if not lines else ""
    if not lines:
        return page("Runs", f'<p class="note">no runs in {e(", ".join(request.traces.sources))}'
                            f"{': ' + e(message) if message else ''}. A run shows up here "
                            "while it writes its files.</p>")
    rows = []
    for line in lines:
        run = line.run_id or ""
        rows.append([
            Raw(f'<input type="radio" name="a" value="{e(run)}" aria-label="a">'),
            Raw(f'<input type="radio" name="b" value="{e(run)}" aria-label="b">'),
            link(run or "(no run id)", "/trades", run=run), line.level, line.bars,
            line.events, line.trades,
            "" if line.win_rate is None else f"{line.win_rate:.0%}",
            Raw(e(money(line.realized_pnl))), f"{line.duration_s:,.1f} s",
            "no metrics file" if line.dropped is None else line.dropped,
            line.errors, line.first_time, line.last_time,
            Raw(link("why no trade", "/why", run=run) + " "
                + link("latency", "/latency", run=run))])
    headers = ["A", "B", "run", "level", "bars", "events", "trades", "win rate", "P&L",
               "duration", "dropped spans", "errors", "first (market)", "last (market)", ""]
    body = (f'<p class="note">{len(lines):,} run(s) in {e(", ".join(request.traces.sources))};'
            " the level is what was traced (handler spans: debug; bars: normal; else "
            "minimal). Dropped spans: dropped, evicted or lost, from the run's metrics file."
            ' Choose A and B to compare two runs.</p><form method="get" action="/compare">'
            + table(headers, rows, table_id="runs")
            + '<button type="submit">Compare A with B</button></form>')
    return page("Runs", body)


def compare(request: Request) -> str:
    a, b = request.need("a"), request.need("b")
    with request.traces.session() as query:
        known = set(query.runs())
        for run in (a, b):
            if run not in known:
                raise NotFound(f"no run {run!r} in the traces")
        # kept per pair: at 10M spans a comparison takes seconds
        result = request.traces.kept(f"compare\0{a}\0{b}", lambda: query.compare(a, b))
    diff = result.trade_diff
    parts = [facts([
        ("trades A / B", f"{result.trades_a.closed:,} / {result.trades_b.closed:,}"),
        ("wins A / B", f"{result.trades_a.wins:,} / {result.trades_b.wins:,}"),
        ("P&L A", money(result.trades_a.realized_pnl)),
        ("P&L B", money(result.trades_b.realized_pnl)),
        ("trades that agree", f"{diff.same:,}" if diff is not None else "-"),
        ("trades that differ", f"{len(diff.rows):,}" if diff is not None else "-")]),
        f"<p>A: {link(a, '/trades', run=a)} &nbsp; B: {link(b, '/trades', run=b)}</p>"]
    if result.message:
        parts.append(f'<p class="note">{e(result.message)}</p>')
    parts.append("<h2>Trade by trade</h2>")
    if diff is None or diff.message:
        parts.append(f'<p class="note">{e(diff.message if diff else "no trades")}</p>')
    elif diff.first is None:
        parts.append('<p id="first-divergence">The two runs took the same trades.</p>')
    else:
        f = diff.first
        parts.append(f'<p id="first-divergence">First divergence: {e(f.key)} trade '
                     f"#{f.number} ({e(f.differs)}): A {_trade_link(f.trade_a, a)} at "
                     f"{e(f.entry_a or '-')}, B {_trade_link(f.trade_b, b)} at "
                     f"{e(f.entry_b or '-')}</p>")
        rows = [[p.key, p.number, p.differs, _trade_link(p.trade_a, a), p.entry_a, p.side_a,
                 Raw(e(money(p.pnl_a))), _trade_link(p.trade_b, b), p.entry_b, p.side_b,
                 Raw(e(money(p.pnl_b)))] for p in diff.rows[:500]]
        parts.append(table(["strategy / symbol", "#", "differs", "trade A", "entry A",
                            "side A", "P&L A", "trade B", "entry B", "side B", "P&L B"],
                           rows, table_id="trade-diff"))
        if len(diff.rows) > 500:
            parts.append(f'<p class="note">first 500 of {len(diff.rows):,}</p>')
    parts.append("<h2>Stage by stage</h2>")
    rows = [[r.kind, r.container_id, r.handler_name, r.event_type, r.count_a, r.count_b,
             r.count_change, micros(r.p50_us_a), micros(r.p50_us_b), _change(r.p50_change),
             micros(r.p99_us_a), micros(r.p99_us_b), _change(r.p99_change)]
            for r in result.distinct_rows()]
    parts.append(table(["kind", "container", "handler", "event type", "count A", "count B",
                        "change", "p50 A", "p50 B", "p50 change", "p99 A", "p99 B",
                        "p99 change"], rows, table_id="stages"))
    return page(f"Compare {a} with {b}", "".join(parts))


def _trade_link(trade_id: str | None, run: str) -> Any:
    return "-" if trade_id is None else link(trade_id, "/trade", id=trade_id, run=run)


def _change(change: float | None) -> str:
    return "" if change is None else f"{change:+.0%}"

