"""``write_report``: one self-contained HTML file of plots and tables over a TraceQuery.

The page needs no network: plotly.js is inlined once in ``<head>`` and every figure is a
``<div id="plot-...">`` drawn by it. Aggregation happens in DuckDB (the query's SQL);
Python only sees per-stage buckets, stages, trades and a few pattern rows. A section with
nothing to show is a "no data" note in place of its plot, never an exception.

>>> from tradetrace.query import TraceQuery                    # doctest: +SKIP
>>> write_report(TraceQuery("traces/"), "report.html")        # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .query import TraceQuery
from .query.results import Trade

#: Plot div ids, stable for tests and links.
PLOT_IDS = ("plot-latency", "plot-bottlenecks", "plot-trades", "plot-pnl", "plot-tick-to-trade")
TOP_STAGES = 8  #: latency histograms: the stages with the most spans
TOP_BOTTLENECKS = 12  #: bars and table rows
PATTERN_ROWS = 20  #: rows per pattern table
MAX_TIMELINE_TRADES = 5000  #: more would make a page no browser draws comfortably
BUCKETS_PER_DECADE = 5
OUTCOME_COLORS = {"win": "#2ca02c", "loss": "#d62728", "flat": "#7f7f7f",
                  "rejected": "#ff7f0e", "incomplete": "#1f77b4", "expired": "#9467bd"}
_CONFIG = {"displaylogo": False, "responsive": True}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;
max-width:1200px;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f5f5f5}
.no-data{padding:1rem;background:#fafafa;border:1px dashed #bbb;color:#666}
.note{color:#666;font-size:.85rem}.plot{min-height:420px}
"""


def write_report(query: TraceQuery, path: str | Path, *, title: str | None = None) -> Path:
    """Write the HTML report of ``query`` to ``path`` (parents created); return the path."""
    title = title or "tradetrace report"
    sections = [
        _header(query, title),
        _section("Latency per stage", "plot-latency", *_latency(query),
                 "Event span durations of the busiest stages (event type @ container), "
                 f"in {BUCKETS_PER_DECADE} log buckets per decade."),
        _section("Bottlenecks", "plot-bottlenecks", *_bottlenecks(query),
                 "p99 of self time (the span minus its children) against p99 of total "
                 "time, per stage, slowest self time first."),
        _section("Trade timeline", "plot-trades", *_timeline(query),
                 "Each kept trade from entry to exit (simulated time), by outcome."),
        _section("P&L of kept trades", "plot-pnl", *_pnl(query),
                 "Realized P&L per closed trade at its exit time, and the cumulative sum."),
        _section("Tick to trade", "plot-tick-to-trade", *_tick_to_trade(query),
                 "BAR published to FILL done, for every FILL a traced BAR caused."),
        _patterns(query),
    ]
    plotted = any('class="plotly-graph-div"' in s for s in sections)
    script = ""
    if plotted:
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{_CSS}</style>{script}</head>\n<body>\n"
            + "\n".join(sections) + "\n</body></html>\n")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


# -- page parts ---------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _section(heading: str, div_id: str, figure: Any, empty: str, note: str) -> str:
    if figure is None:
        body = f'<div id="{div_id}" class="no-data">no data: {_e(empty)}</div>'
    else:
        figure.update_layout(template="plotly_white",
                             margin={"l": 60, "r": 20, "t": 40, "b": 50})
        body = figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                              config=_CONFIG, default_height="440px")
        if empty:  # a figure with a caveat (e.g. trades left out)
            body += f'<p class="note">{_e(empty)}</p>'
    return f'<section><h2>{_e(heading)}</h2><p class="note">{_e(note)}</p>{body}</section>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{_num(v)}</td>' if isinstance(v, (int, float))
                         and not isinstance(v, bool) else f"<td>{_e(v)}</td>"
                         for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(value: float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return ""
    return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"


def _header(query: TraceQuery, title: str) -> str:
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
    parts = [f"<header><h1>{_e(title)}</h1>",
             _table(["", ""], facts)]
    if runs:
        parts.append("<h3>Runs</h3>" + _table(["run", "spans", "traces", "trades"], runs))
    if files:
        shown = files[:20]
        parts.append("<h3>Sources</h3>" + _table(["file", "spans"], shown))
        if len(files) > len(shown):
            parts.append(f'<p class="note">and {len(files) - len(shown):,} more file(s)</p>')
    skipped = [*st.skipped_sources, *st.skipped_files]
    if skipped:
        parts.append("<h3>Skipped</h3><ul>" + "".join(f"<li>{_e(s)}</li>" for s in skipped[:20])
                     + "</ul>")
    if st.messages:
        parts.append("<h3>Messages</h3><ul>"
                     + "".join(f"<li>{_e(m)}</li>" for m in st.messages) + "</ul>")
    return "".join(parts) + "</header>"


# -- figures ------------------------------------------------------------------------------
# Each returns (figure or None, note): the note says why there is no figure, or what the
# figure leaves out.


def _latency(query: TraceQuery) -> tuple[Any, str]:
    k = BUCKETS_PER_DECADE
    rows = query.sql(f"""
WITH stage AS (
    SELECT event_type, coalesce(container_id, '?') AS container_id,
           floor(log10(greatest(duration_ns, 1) / 1000.0) * {k}) AS bucket
    FROM spans WHERE event_type IS NOT NULL AND handler_name IS NULL
),
top AS (
    SELECT event_type, container_id, count(*) AS n FROM stage GROUP BY ALL
    ORDER BY n DESC, event_type, container_id LIMIT {TOP_STAGES}
)
SELECT s.event_type, s.container_id, top.n, s.bucket, count(*)
FROM stage s JOIN top USING (event_type, container_id)
GROUP BY ALL ORDER BY top.n DESC, s.event_type, s.container_id, s.bucket""")
    if not rows:
        return None, "no event spans"
    import plotly.graph_objects as go

    fig = go.Figure()
    stages: dict[tuple[str, str, int], list[tuple[float, int]]] = {}
    for event_type, container, n, bucket, count in rows:
        stages.setdefault((event_type, container, n), []).append((float(bucket), count))
    for (event_type, container, n), buckets in stages.items():
        counts = {int(b): c for b, c in buckets}  # empty buckets in between count 0
        span = range(min(counts), max(counts) + 1)
        fig.add_trace(go.Scatter(
            x=[10 ** ((b + 0.5) / k) for b in span], y=[counts.get(b, 0) for b in span],
            mode="lines+markers",
            name=_e(f"{event_type} @ {container} ({n:,})"),
            hovertemplate="%{x:.3g} µs: %{y} spans<extra>%{fullData.name}</extra>"))
    fig.update_xaxes(type="log", title_text="duration (µs)")
    fig.update_yaxes(title_text="spans")
    return fig, ""


def _stage_label(container: str | None, handler: str | None, event_type: str | None) -> str:
    return " / ".join(p for p in (event_type, container, handler) if p) or "?"


def _bottlenecks(query: TraceQuery) -> tuple[Any, str]:
    stages = query.find_bottlenecks(percentile=99).rows[:TOP_BOTTLENECKS]
    if not stages:
        return None, "no event spans"
    import plotly.graph_objects as go

    labels = [_e(_stage_label(s.container_id, s.handler_name, s.event_type))
              for s in reversed(stages)]
    fig = go.Figure([
        go.Bar(y=labels, x=[s.self_p_us for s in reversed(stages)], orientation="h",
               name="p99 self time", marker_color="#d62728",
               hovertemplate="%{y}<br>p99 self %{x:.1f} µs<extra></extra>"),
        go.Bar(y=labels, x=[s.p_us for s in reversed(stages)], orientation="h",
               name="p99 total time", marker_color="#1f77b4",
               hovertemplate="%{y}<br>p99 total %{x:.1f} µs<extra></extra>"),
    ])
    fig.update_layout(barmode="group", legend={"orientation": "h"})
    fig.update_xaxes(title_text="µs")
    fig.update_yaxes(automargin=True)
    return fig, ""


def _kept_trades(query: TraceQuery) -> list[Trade]:
    """Trades with a kept ``trade`` span (trades known only from events have no times)."""
    return [t for t in query.trades(events=False).rows if t.has_trade_span]


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _timeline(query: TraceQuery) -> tuple[Any, str]:
    kept = _kept_trades(query)
    timed = [(t, _time(t.entry_time), _time(t.exit_time)) for t in kept]
    timed = [(t, a, b) for t, a, b in timed if a or b]
    if not timed:
        return None, ("no kept trades" if not kept
                      else f"{len(kept)} kept trade(s), none with an entry or exit time")
    notes = []
    if len(kept) > len(timed):
        notes.append(f"{len(kept) - len(timed)} kept trade(s) without times left out")
    if len(timed) > MAX_TIMELINE_TRADES:
        notes.append(f"first {MAX_TIMELINE_TRADES:,} of {len(timed):,} trades shown")
        timed = timed[:MAX_TIMELINE_TRADES]
    latest = max(x for _, a, b in timed for x in (a, b) if x is not None)
    import plotly.graph_objects as go

    fig = go.Figure()
    by_outcome: dict[str, list[tuple[Trade, datetime, datetime]]] = {}
    for t, a, b in timed:
        start = a or b
        end = b or latest  # still open at the end of the data
        assert start is not None
        by_outcome.setdefault(t.outcome or "unknown", []).append((t, start, end))
    for outcome, items in sorted(by_outcome.items()):
        fig.add_trace(go.Bar(
            orientation="h", name=_e(outcome),
            base=[s.isoformat() for _, s, _ in items],
            # at least a minute wide, so an instant trade is still a visible bar
            x=[max((e - s).total_seconds(), 60.0) * 1000 for _, s, e in items],
            y=[_e(f"{t.symbol or '?'} · {t.strategy_id or '?'}") for t, _, _ in items],
            marker_color=OUTCOME_COLORS.get(outcome, "#8c564b"),
            customdata=[[_e(t.symbol), _e(t.strategy_id), _pnl_text(t.realized_pnl),
                         _e(t.trade_id), _e(t.entry_time), _e(t.exit_time or "open")]
                        for t, _, _ in items],
            hovertemplate=("%{customdata[3]}<br>symbol %{customdata[0]}, strategy "
                           "%{customdata[1]}<br>P&L %{customdata[2]}<br>%{customdata[4]} → "
                           "%{customdata[5]}<extra>" + _e(outcome) + "</extra>")))
    rows = len({label for trace in fig.data for label in trace.y})
    fig.update_layout(barmode="overlay", legend={"orientation": "h"},
                      height=max(360, 160 + 36 * rows))
    fig.update_xaxes(type="date", title_text="simulated time")
    fig.update_yaxes(automargin=True)
    return fig, "; ".join(notes)


def _pnl_text(pnl: float | None) -> str:
    return "n/a" if pnl is None else f"{pnl:+,.2f}"


def _pnl(query: TraceQuery) -> tuple[Any, str]:
    closed = sorted(((e, t) for t in _kept_trades(query)
                     if t.realized_pnl is not None and (e := _time(t.exit_time))),
                    key=lambda p: (p[0], p[1].trade_id))
    if not closed:
        return None, "no kept trade with a realized P&L and an exit time"
    import plotly.graph_objects as go

    times = [e.isoformat() for e, _ in closed]
    pnls = [t.realized_pnl or 0.0 for _, t in closed]
    cumulative = [sum(pnls[: i + 1]) for i in range(len(pnls))]
    fig = go.Figure([
        go.Bar(x=times, y=pnls, name="trade P&L",
               marker_color=["#2ca02c" if p >= 0 else "#d62728" for p in pnls],
               customdata=[[_e(t.symbol), _e(t.strategy_id), _e(t.trade_id)]
                           for _, t in closed],
               hovertemplate=("%{customdata[2]}<br>%{customdata[0]} · %{customdata[1]}"
                              "<br>P&L %{y:+,.2f}<extra></extra>")),
        go.Scatter(x=times, y=cumulative, name="cumulative", mode="lines",
                   line={"color": "#333"}, yaxis="y2",
                   hovertemplate="cumulative %{y:+,.2f}<extra></extra>"),
    ])
    fig.update_layout(legend={"orientation": "h"},
                      yaxis={"title": {"text": "P&L per trade"}},
                      yaxis2={"title": {"text": "cumulative P&L"}, "overlaying": "y",
                              "side": "right", "showgrid": False})
    fig.update_xaxes(type="date", title_text="exit time (simulated)")
    return fig, ""


def _tick_to_trade(query: TraceQuery) -> tuple[Any, str]:
    t2t = query.tick_to_trade(buckets=30)
    if not t2t.count:
        return None, t2t.message or "no FILL caused by a traced BAR"
    import plotly.graph_objects as go

    # log-width buckets (the query's default), shown as labelled categories: equal-width
    # bars on a log scale, and one outlier cannot squash the body
    fig = go.Figure(go.Bar(
        x=[f"{r['low_us']:,.0f}–{r['high_us']:,.0f}" for r in t2t.rows],
        y=[r["count"] for r in t2t.rows],
        marker_color="#1f77b4", name="fills",
        hovertemplate="%{x} µs: %{y} fill(s)<extra></extra>"))
    marks = [f"{name} {value:,.1f} µs" for name, value in
             (("p50", t2t.p50_us), ("p90", t2t.p90_us), ("p99", t2t.p99_us))
             if value is not None]
    fig.update_layout(title={"text": " · ".join(marks), "font": {"size": 13}})
    fig.update_xaxes(title_text="BAR publish → FILL end (µs)")
    fig.update_yaxes(title_text="fills")
    return fig, f"{t2t.count:,} fill(s); max {t2t.max_us or 0:.1f} µs"


# -- tables -------------------------------------------------------------------------------


def _patterns(query: TraceQuery) -> str:
    stages = query.find_bottlenecks(percentile=99).rows[:TOP_BOTTLENECKS]
    parts = ["<section><h2>Top bottlenecks</h2>"]
    if stages:
        parts.append(_table(
            ["event type", "container", "handler", "count", "p50 µs", "p99 µs", "max µs",
             "p99 self µs", "total ms", "self share"],
            [(s.event_type, s.container_id, s.handler_name, s.count, s.p50_us, s.p_us,
              s.max_us, s.self_p_us, s.total_us / 1000, s.self_share) for s in stages]))
    else:
        parts.append('<div class="no-data">no data: no event spans</div>')
    rejected = query.detect_patterns("rejected_orders", limit=PATTERN_ROWS)
    parts.append(_pattern_table(
        "Rejected orders", rejected.count, rejected.message,
        ["order", "symbol", "strategy", "container", "side", "quantity", "status", "reason"],
        [(r.get("order_id"), r.get("symbol"), r.get("strategy_id"), r.get("container_id"),
          r.get("order_side"), r.get("order_quantity"), r.get("status"), r.get("reason"))
         for r in rejected.rows]))
    silent = query.detect_patterns("signal_without_order", limit=PATTERN_ROWS)
    parts.append(_pattern_table(
        "Signals without orders", silent.count, silent.message,
        ["event", "time (simulated)", "symbol", "strategy", "direction", "container"],
        [(r.get("event_id"), (r.get("attributes") or {}).get("trading.time.simulated"),
          r.get("symbol"), r.get("strategy_id"), r.get("direction"), r.get("container_id"))
         for r in silent.rows]))
    return "".join(parts) + "</section>"


def _pattern_table(heading: str, count: int, message: str, headers: Sequence[str],
                   rows: list[tuple[Any, ...]]) -> str:
    part = f"<h3>{_e(heading)} ({count:,})</h3>"
    if message:
        part += f'<p class="note">{_e(message)}</p>'
    if not rows:
        return part + '<div class="no-data">no data: none found</div>'
    if count > len(rows):
        part += f'<p class="note">first {len(rows)} of {count:,}</p>'
    return part + _table(headers, rows)
