"""The report's plots, one function each: ``(figure or None, note)``.

The note says why there is no figure, or what the figure leaves out. Aggregation is
DuckDB's (the query's SQL); Python only sees per-stage buckets, stages and trades.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .query import TraceQuery
from .query.results import Trade
from .report_html import e

TOP_STAGES = 8  #: latency histograms: the stages with the most spans
TOP_BOTTLENECKS = 12  #: bars and table rows
MAX_TIMELINE_TRADES = 5000  #: more would make a page no browser draws comfortably
BUCKETS_PER_DECADE = 5
WIN, LOSS, NO_PNL = "#2ca02c", "#d62728", "#7f7f7f"


def pnl_color(pnl: float | None) -> str:
    """A trade's colour by the sign of its P&L (its outcome label can say otherwise:
    a trade rejected on exit may still have lost money)."""
    if pnl is None or pnl == 0:
        return NO_PNL
    return WIN if pnl > 0 else LOSS


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _row(trade: Trade) -> str:
    return f"{trade.symbol or '?'} · {trade.strategy_id or '?'} · {_direction(trade)}"


def left_margin(kept: list[Trade]) -> int:
    """The left margin of both trade plots, wide enough for the timeline's row labels
    (about 7 px a character at plotly's 12 px font): equal margins line the two time
    axes up."""
    return max(60, 7 * max((len(_row(t)) for t in kept), default=0) + 20)


def time_range(kept: list[Trade]) -> list[str] | None:
    """The x range of both trade plots: every entry and exit, padded by 1% each side, so
    a trade's bar and its P&L line up one above the other."""
    times = [x for t in kept for x in (parse_time(t.entry_time), parse_time(t.exit_time))
             if x is not None]
    if not times:
        return None
    pad = (max(times) - min(times)) / 100
    return [(min(times) - pad).isoformat(), (max(times) + pad).isoformat()]


def latency(query: TraceQuery) -> tuple[Any, str]:
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
            name=e(f"{event_type} @ {container} ({n:,})"),
            hovertemplate="%{x:.3g} µs: %{y} spans<extra>%{fullData.name}</extra>"))
    fig.update_xaxes(type="log", title_text="duration (µs)")
    fig.update_yaxes(title_text="spans")
    return fig, ""


def stage_label(container: str | None, handler: str | None, event_type: str | None) -> str:
    return " / ".join(p for p in (event_type, container, handler) if p) or "?"


def bottlenecks(query: TraceQuery) -> tuple[Any, str]:
    stages = query.find_bottlenecks(percentile=99).rows[:TOP_BOTTLENECKS]
    if not stages:
        return None, "no event spans"
    import plotly.graph_objects as go

    labels = [e(stage_label(s.container_id, s.handler_name, s.event_type))
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


def _direction(trade: Trade) -> str:
    side = (trade.side or "").lower()
    return {"buy": "long", "sell": "short"}.get(side, side or "?")


def timeline(kept: list[Trade]) -> tuple[Any, str]:
    """One row per symbol, strategy and direction (long and short apart, so both are
    seen); a bar from entry to exit coloured by the sign of the P&L. Losses are drawn
    last: a short losing trade between long winners stays visible."""
    timed = [(t, parse_time(t.entry_time), parse_time(t.exit_time)) for t in kept]
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
    earliest = min(x for _, a, b in timed for x in (a, b) if x is not None)
    # at least 1/600 of the whole span wide (about two pixels): an instant or short
    # trade is still a visible bar, whatever the time scale
    least_ms = max((latest - earliest).total_seconds() * 1000 / 600, 1.0)
    import plotly.graph_objects as go

    fig = go.Figure()
    groups: dict[str, list[tuple[Trade, datetime, datetime]]] = {WIN: [], NO_PNL: [], LOSS: []}
    for t, a, b in timed:
        start = a or b
        assert start is not None
        groups[pnl_color(t.realized_pnl)].append((t, start, b or latest))  # open: to the end
    names = {WIN: "win (P&L > 0)", LOSS: "loss (P&L < 0)", NO_PNL: "no P&L or zero"}
    for color, items in groups.items():
        if not items:
            continue
        fig.add_trace(go.Bar(
            orientation="h", name=f"{names[color]}: {len(items):,}",
            base=[s.isoformat() for _, s, _ in items],
            x=[max((x - s).total_seconds() * 1000, least_ms) for _, s, x in items],
            y=[e(_row(t)) for t, _, _ in items],
            marker={"color": color, "line": {"width": 0}},
            customdata=[[e(t.symbol), e(t.strategy_id), _pnl_text(t.realized_pnl),
                         e(t.trade_id), e(t.entry_time), e(t.exit_time or "open"),
                         e(_direction(t)), e(t.outcome)] for t, _, _ in items],
            hovertemplate=("%{customdata[3]} (%{customdata[6]}, %{customdata[7]})<br>"
                           "%{customdata[0]} · %{customdata[1]}<br>P&L %{customdata[2]}"
                           "<br>%{customdata[4]} → %{customdata[5]}<extra></extra>")))
    rows = len({label for trace in fig.data for label in trace.y})
    fig.update_layout(barmode="overlay", legend={"orientation": "h", "y": -0.25},
                      height=max(300, 150 + 60 * rows), bargap=0.25,
                      margin={"l": left_margin(kept)})
    fig.update_xaxes(type="date", title_text="simulated time", range=time_range(kept))
    fig.update_yaxes(automargin=True, categoryorder="category descending")
    return fig, "; ".join(notes)


def _pnl_text(pnl: float | None) -> str:
    return "n/a" if pnl is None else f"{pnl:+,.2f}"


def closed_trades(kept: list[Trade]) -> list[tuple[datetime, Trade]]:
    """Kept trades with a realized P&L and an exit time, in exit order."""
    return sorted(((x, t) for t in kept
                   if t.realized_pnl is not None and (x := parse_time(t.exit_time))),
                  key=lambda p: (p[0], p[1].trade_id))


def pnl(kept: list[Trade]) -> tuple[Any, str]:
    """Cumulative P&L above, each trade's P&L below: two panels on one time axis, each
    with its own zero (one axis for both hid the trades next to the sum's scale)."""
    closed = closed_trades(kept)
    if not closed:
        return None, "no kept trade with a realized P&L and an exit time"
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    times = [x.isoformat() for x, _ in closed]
    pnls = [t.realized_pnl or 0.0 for _, t in closed]
    cumulative, total = [], 0.0
    for p in pnls:
        total += p
        cumulative.append(total)
    # a bar is as wide as the run's time over the number of trades: plotly's default,
    # the smallest gap between two exits, is 0 when two strategies exit on one bar
    slot = (closed[-1][0] - closed[0][0]).total_seconds() * 1000 / max(len(closed), 1)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[0.55, 0.45])
    fig.add_trace(go.Scatter(x=times, y=cumulative, name="cumulative P&L", mode="lines",
                             line={"color": "#333", "shape": "hv"},  # a step at each exit
                             hovertemplate="cumulative %{y:+,.2f}<extra></extra>"), 1, 1)
    fig.add_trace(go.Bar(x=times, y=pnls, name="P&L per trade", width=max(slot, 1.0),
                         marker={"color": [pnl_color(p) for p in pnls], "line": {"width": 0}},
                         customdata=[[e(t.symbol), e(t.strategy_id), e(t.trade_id)]
                                     for _, t in closed],
                         hovertemplate=("%{customdata[2]}<br>%{customdata[0]} · "
                                        "%{customdata[1]}<br>P&L %{y:+,.2f}<extra></extra>")),
                  2, 1)
    for row, title in ((1, "cumulative P&L"), (2, "P&L per trade")):
        fig.update_yaxes(title_text=title, rangemode="tozero", zeroline=True,
                         zerolinecolor="#888", zerolinewidth=1, row=row, col=1)
    fig.update_layout(height=560, showlegend=False, margin={"l": left_margin(kept)})
    fig.update_xaxes(type="date", range=time_range(kept))
    fig.update_xaxes(title_text="exit time (simulated)", row=2, col=1)
    return fig, ""


def tick_to_trade(query: TraceQuery) -> tuple[Any, str]:
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
