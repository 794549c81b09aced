"""The report's first screen: how did this run go (headline numbers), and where did
time go (per-stage latency, by the share of time spent in each stage itself).

Trades, win rate, P&L and drawdown are those of the kept trades (their ``trade``
spans); bars and dropped spans come from the metric lines beside the traces when there
are any, as they count every event recorded, kept or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from .query import TraceQuery
from .query.results import Trade
from .report_figures import closed_trades, stage_label
from .report_html import Raw, e, table
from .summary import MetricsSummary

TOP_STAGES = 10  #: rows of the "where did time go" table


@dataclass
class Glance:
    trades: int  #: kept trades with a realized P&L
    wins: int
    losses: int
    pnl: float | None
    max_drawdown: float | None  #: deepest fall of the cumulative P&L from its peak
    bars: int
    spans: int
    dropped: int | None  #: None: no metric lines to say
    #: trades closed by the run as the metrics count them, kept or not (None: no metrics)
    closed_in_run: int | None = None

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None


def max_drawdown(pnls: list[float]) -> float:
    """Deepest fall of the running sum from its highest point so far (0 before any
    trade): ``max_drawdown([5, -3, 4, -8, 1]) == 8``."""
    peak = total = deepest = 0.0
    for p in pnls:
        total += p
        peak = max(peak, total)
        deepest = max(deepest, peak - total)
    return deepest


def glance(query: TraceQuery, kept: list[Trade], metrics: MetricsSummary | None) -> Glance:
    pnls = [t.realized_pnl or 0.0 for _, t in closed_trades(kept)]
    if metrics and metrics.events_recorded:
        bars = sum(n for k, n in metrics.events_recorded.items() if k.upper() == "BAR")
    else:
        ((bars,),) = query.sql("SELECT count(*) FROM _spans WHERE upper(event_type) = 'BAR' "
                               "AND handler_name IS NULL")
    return Glance(
        trades=len(pnls), wins=sum(p > 0 for p in pnls), losses=sum(p < 0 for p in pnls),
        pnl=sum(pnls) if pnls else None,
        max_drawdown=max_drawdown(pnls) if pnls else None,
        bars=int(bars), spans=query.stats.spans,
        # lost, not dropped by a policy's choice (MINIMAL drops most spans on purpose)
        dropped=sum(metrics.lost.values()) if metrics else None,
        closed_in_run=sum(n for k, n in metrics.trades_completed.items()
                          if k in ("win", "loss", "flat")) if metrics else None)


def glance_html(g: Glance) -> str:
    def card(name: str, label: str, value: str, kind: str = "") -> str:
        cls = f' class="{kind}"' if kind else ""
        return f'<div id="glance-{name}"{cls}><b>{e(value)}</b><span>{e(label)}</span></div>'

    def amount(value: float | None, sign: str = "") -> str:
        return "n/a" if value is None else f"{value:{sign},.2f}"

    rate = "n/a" if g.win_rate is None else f"{g.win_rate:.0%}"
    cards = [
        # the numbers are the kept trades': said when retention kept fewer than were made
        card("trades", "trades closed" if g.closed_in_run in (None, g.trades) else
             f"trades closed and kept, of {g.closed_in_run:,}", f"{g.trades:,}"),
        # not coloured: a trend follower wins a third of its trades and makes money
        card("win-rate", f"win rate: {g.wins:,} won, {g.losses:,} lost", rate),
        card("pnl", "realized P&L", amount(g.pnl, "+"),
             "" if not g.pnl else ("win" if g.pnl > 0 else "loss")),
        card("drawdown", "max drawdown", amount(g.max_drawdown), "loss" if g.max_drawdown else ""),
        card("bars", "bars", f"{g.bars:,}"),
        card("spans", "spans", f"{g.spans:,}"),
        card("dropped", "spans lost (a full buffer, a failed write)",
             "n/a (no metrics)" if g.dropped is None else f"{g.dropped:,}",
             "loss" if g.dropped else ""),
    ]
    return f'<div class="glance" id="glance">{"".join(cards)}</div>'


def stages_html(query: TraceQuery) -> str:
    """Per stage: latency percentiles and the share of all traced time spent in the
    stage itself (self time: a BAR's span holds its whole cascade; its self time is
    the data handler's own)."""
    stages = query.find_bottlenecks(percentile=99).rows
    if not stages:
        return '<div class="no-data" id="stages">no data: no event spans</div>'
    everything = sum(s.self_total_us for s in stages) or 1.0
    top = sorted(stages, key=lambda s: -s.self_total_us)[:TOP_STAGES]
    rows = []
    for s in top:
        share = s.self_total_us / everything
        bar = f'<span class="share" style="width:{share * 6:.2f}rem"></span>{share:.1%}'
        rows.append((stage_label(s.container_id, s.handler_name, s.event_type), s.count,
                     s.p50_us, s.p_us, s.max_us, s.self_p_us, s.self_total_us / 1000,
                     Raw(bar)))
    note = (f'<p class="note">the {len(top)} stages with the most self time of '
            f"{len(stages)}; self time is the span minus its children</p>")
    return '<div id="stages">' + table(
        ["stage (event type / container / handler)", "spans", "p50 µs", "p99 µs", "max µs",
         "p99 self µs", "self ms", "share of time"], rows) + note + "</div>"
