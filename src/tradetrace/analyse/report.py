"""``write_report``: one self-contained HTML file of plots and tables over a TraceQuery.

The page needs no network: plotly.js is inlined once in ``<head>`` and every figure is a
``<div id="plot-...">`` drawn by it. It reads top down as a reader asks: how did the run
go and where did time go (``report_glance.py``), then the trades and their P&L, the
latency plots, what went wrong (``report_tables.py``) and what was read. Aggregation
happens in DuckDB over the run index (the query's SQL); Python only sees per-stage
buckets, stages, trades and a few pattern rows. A section with nothing to show is a "no
data" note in place of its plot, never an exception.

>>> from tradetrace.query import TraceQuery                    # doctest: +SKIP
>>> write_report(TraceQuery("traces/"), "report.html")        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import report_figures as figures
from .query import TraceQuery
from .query.results import Trade
from .report_glance import glance, glance_html, stages_html
from .report_html import CSS, e, no_data, table
from .report_tables import rejected_html, why_no_trade_html
from .summary import metrics_beside

#: Plot div ids, stable for tests and links.
PLOT_IDS = ("plot-latency", "plot-bottlenecks", "plot-trades", "plot-pnl", "plot-tick-to-trade")
_CONFIG = {"displaylogo": False, "responsive": True}


def write_report(query: TraceQuery, path: str | Path, *, title: str | None = None) -> Path:
    """Write the HTML report of ``query`` to ``path`` (parents created); return the path."""
    title = title or "tradetrace report"
    kept = kept_trades(query)
    metrics = metrics_beside(query.paths, query.stats, query.run) if query.paths else None
    sections = [
        f"<header><h1>{e(title)}</h1></header>",
        '<section id="glance-section"><h2>How did this run go</h2>'
        + glance_html(glance(query, kept, metrics)) + "</section>",
        '<section id="time-section"><h2>Where did time go</h2>' + stages_html(query) + "</section>",
        _section("Trade timeline", "plot-trades", *figures.timeline(kept),
                 "Each kept trade from entry to exit (simulated time), one row per symbol, "
                 "strategy and direction; red lost money, green made it."),
        _section("P&L of kept trades", "plot-pnl", *figures.pnl(kept),
                 "Cumulative realized P&L (above) and each closed trade's P&L at its exit "
                 "time (below)."),
        _section("Tick to trade", "plot-tick-to-trade", *figures.tick_to_trade(query),
                 "BAR published to FILL done, for every FILL a traced BAR caused."),
        _section("Latency per stage", "plot-latency", *figures.latency(query),
                 "Event span durations of the busiest stages (event type @ container), "
                 f"in {figures.BUCKETS_PER_DECADE} log buckets per decade."),
        _section("Bottlenecks", "plot-bottlenecks", *figures.bottlenecks(query),
                 "p99 of self time (the span minus its children) against p99 of total "
                 "time, per stage, slowest self time first."),
        '<section id="wrong"><h2>What went wrong</h2>' + rejected_html(query)
        + why_no_trade_html(query, metrics) + "</section>",
        _read(query),
    ]
    plotted = any('class="plotly-graph-div"' in s for s in sections)
    script = ""
    if plotted:
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{e(title)}</title><style>{CSS}</style>{script}</head>\n<body>\n"
            + "\n".join(sections) + "\n</body></html>\n")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def kept_trades(query: TraceQuery) -> list[Trade]:
    """Trades with a kept ``trade`` span (trades known only from events have no times)."""
    return [t for t in query.trades(events=False).rows if t.has_trade_span]


def _section(heading: str, div_id: str, figure: Any, empty: str, note: str) -> str:
    if figure is None:
        body = no_data(empty, div_id)
    else:
        figure.update_layout(template="plotly_white",  # a figure's own left margin kept
                             margin={"l": figure.layout.margin.l or 60, "r": 20, "t": 40,
                                     "b": 50})
        body = figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                              config=_CONFIG, default_height="440px")
        if empty:  # a figure with a caveat (e.g. trades left out)
            body += f'<p class="note">{e(empty)}</p>'
    return f'<section><h2>{e(heading)}</h2><p class="note">{e(note)}</p>{body}</section>'


def _read(query: TraceQuery) -> str:
    """What was read: files, runs, what was skipped and why."""
    st = query.stats
    (spans, events, handlers, trades, other) = query.sql("""
SELECT count(*), count(*) FILTER (WHERE event_type IS NOT NULL AND handler_name IS NULL),
       count(*) FILTER (WHERE handler_name IS NOT NULL),
       count(*) FILTER (WHERE name = 'trade' AND trade_id IS NOT NULL),
       count(*) FILTER (WHERE event_type IS NULL AND trade_id IS NULL)
FROM spans""")[0]
    runs = query.sql("""
SELECT coalesce(run_id, '(none)'), count(*), count(DISTINCT trace_id),
       count(*) FILTER (WHERE name = 'trade' AND trade_id IS NOT NULL)
FROM spans GROUP BY 1 ORDER BY 1""")
    files = query.sql("SELECT file, count(*) FROM spans GROUP BY file ORDER BY file")
    facts = [
        ("files read", f"{st.files_read:,} of {st.files_total:,}"),
        ("spans", f"{spans:,} ({events:,} event, {handlers:,} handler, {trades:,} trade, "
                  f"{other:,} other)"),
        ("runs", f"{len([r for r in runs if r[0] != '(none)']):,}"),
        ("skipped", f"{st.bad_lines:,} bad line(s), {st.bad_spans:,} bad span(s), "
                    f"{st.metric_lines:,} metric line(s), {len(st.skipped_files):,} file(s), "
                    f"{len(st.skipped_sources):,} source(s)"),
    ]
    parts = ['<section id="read"><h2>What was read</h2>', table(["", ""], facts)]
    if st.messages:  # said near the top of this section: they explain missing data
        parts.append("<h3>Messages</h3><ul>"
                     + "".join(f"<li>{e(m)}</li>" for m in st.messages) + "</ul>")
    if runs:
        parts.append("<h3>Runs</h3>" + table(["run", "spans", "traces", "trades"], runs))
    if files:
        shown = files[:20]
        parts.append("<h3>Sources</h3>" + table(["file", "spans"], shown))
        if len(files) > len(shown):
            parts.append(f'<p class="note">and {len(files) - len(shown):,} more file(s)</p>')
    skipped = [*st.skipped_sources, *st.skipped_files]
    if skipped:
        parts.append("<h3>Skipped</h3><ul>" + "".join(f"<li>{e(s)}</li>" for s in skipped[:20])
                     + "</ul>")
    return "".join(parts) + "</section>"
