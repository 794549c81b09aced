"""Latency: where time goes per stage (p50/p99/max of duration and self time), the
tick-to-trade distribution, the spikes; each stage links to its slowest spans
(``/spans``), each spike to its span.

Of one run (``?run=``: a query of that run's spans alone, a fraction of a second at 10M
spans in 33 runs) or of every loaded run (20 s there); computed once per generation of
the traces."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from ..analyse.query import Bottlenecks, TraceQuery
from .app import PLOTLY_ROUTE, Request, engine_failed
from .data import Traces
from .html import e, link, micros, page, table

SPIKE_RELATIVE = 10.0  #: a spike: ten times its stage's median or more
SPIKES = 50
SLOWEST = 100  #: spans listed for a stage


def _latency(traces: Traces, query: TraceQuery, run: str | None) -> dict[str, Any]:
    """Each part, or why it could not be had (the engine out of memory at this size):
    one part failing leaves the others on the page."""
    def compute() -> dict[str, Any]:
        parts: dict[str, Any] = {}
        for name, ask in (
                ("stages", lambda: query.find_bottlenecks(percentile=99)),
                ("t2t", lambda: query.tick_to_trade(buckets=30)),
                ("spikes", lambda: query.detect_patterns("latency_spike", limit=SPIKES,
                                                         relative=SPIKE_RELATIVE))):
            try:
                parts[name] = ask()
            except duckdb.Error as exc:
                parts[name] = engine_failed(exc)
        return parts
    return traces.kept(f"latency:{run}", compute)


def latency(request: Request) -> str:
    run = request.get("run")
    with request.traces.session(run, apart=True) as query:
        found = _latency(request.traces, query, run)
    scope = (f"Run {e(run)} ({link('every run', '/latency')})." if run else
             "Over every loaded run (a run's own: its latency link on the runs page).")
    parts = [f'<p class="note" id="scope">{scope} Self time: a span minus its children '
             "(what the stage itself cost). A stage links to its slowest spans.</p>",
             "<h2>Per stage</h2>", _failed(found["stages"]) or _stages(found["stages"], run),
             "<h2>Tick to trade</h2>"]
    scripts: list[str] = []
    t2t = found["t2t"]
    if isinstance(t2t, str):
        parts.append(_failed(t2t))
    elif t2t.count:
        parts.append(f'<p id="t2t">{t2t.count:,} fill(s) caused by a bar: p50 '
                     f"{e(micros(t2t.p50_us))}, p90 {e(micros(t2t.p90_us))}, p99 "
                     f"{e(micros(t2t.p99_us))}, max {e(micros(t2t.max_us))}</p>")
        parts.append(_histogram(t2t.rows))
        scripts.append(PLOTLY_ROUTE)
    else:
        parts.append(f'<p class="note">{e(t2t.message)}</p>')
    spikes = found["spikes"]
    if isinstance(spikes, str):
        parts.append("<h2>Spikes</h2>" + _failed(spikes))
    else:
        parts.append(f"<h2>Spikes ({spikes.count:,}: {SPIKE_RELATIVE:g}x their stage's "
                     "median or more)</h2>" + _spikes(spikes.rows, run))
    return page("Latency", "".join(parts), scripts=scripts)


def _failed(part: Any) -> str:
    return f'<p class="error">{e(part)}</p>' if isinstance(part, str) else ""


def _stages(stages: Bottlenecks, run: str | None) -> str:
    rows = [[link(" / ".join(x for x in (s.event_type, s.container_id, s.handler_name) if x),
                  "/spans", event_type=s.event_type, container=s.container_id,
                  handler=s.handler_name, run=run), s.count, micros(s.p50_us), micros(s.p_us),
             micros(s.max_us), micros(s.self_p50_us), micros(s.self_p_us),
             micros(s.self_max_us), f"{s.self_share:.0%}"] for s in stages.rows]
    out = table(["stage (event type / container / handler)", "count", "p50", "p99", "max",
                 "self p50", "self p99", "self max", "self share"], rows, table_id="stages")
    if stages.message:
        out += f'<p class="note">{e(stages.message)}</p>'
    return out


def _spikes(found: list[dict[str, Any]], run: str | None) -> str:
    rows = [[r.get("event_type") or r.get("name"), r.get("container_id"),
             r.get("handler_name"), micros(r.get("duration_us")), micros(r.get("median_us")),
             "" if r.get("ratio") is None else f"{r['ratio']:,.0f}x",
             link(r["span_id"], "/span", trace=r["trace_id"], span=r["span_id"]),
             link(r["trade_id"], "/trade", id=r["trade_id"], run=run) if r.get("trade_id")
             else ""]
            for r in found]
    return table(["stage", "container", "handler", "duration", "stage median", "ratio",
                  "span", "trade"], rows, table_id="spikes")


def _histogram(buckets: list[dict[str, Any]]) -> str:
    """The buckets as a plotly bar chart (plotly.js from our own route)."""
    figure = {"data": [{"type": "bar", "x": [f"{micros(b['low_us'])}" for b in buckets],
                        "y": [b["count"] for b in buckets], "marker": {"color": "#1f77b4"}}],
              "layout": {"height": 320, "margin": {"l": 50, "r": 20, "t": 20, "b": 80},
                         "xaxis": {"title": {"text": "bar published -> fill done (bucket "
                                                     "start, log scale)"}},
                         "yaxis": {"title": {"text": "fills"}}}}
    data = json.dumps(figure).replace("</", "<\\/")  # never closes the script element
    return ('<div id="plot-t2t" style="height:320px"></div><script>'
            f"(function(){{var f={data};Plotly.newPlot('plot-t2t',f.data,f.layout,"
            "{displaylogo:false,responsive:true});})();</script>")


def spans(request: Request) -> str:
    """The slowest spans of one stage, each linking to its span page."""
    conditions, params = [], []
    for name, column in (("event_type", "event_type"), ("container", "container_id"),
                         ("handler", "handler_name")):
        value = request.get(name)
        if value is None:
            conditions.append(f"{column} IS NULL" if name == "handler" else "TRUE")
        else:
            conditions.append(f"{column} = ?")
            params.append(value)
    run = request.get("run")
    with request.traces.session(run) as query:
        rows = query.sql(
            "SELECT trace_id, span_id, name, run_id, trade_id, start_ns, duration_ns "
            f"FROM spans WHERE {' AND '.join(conditions)} AND event_type IS NOT NULL "
            f"ORDER BY duration_ns DESC LIMIT {SLOWEST}", params)
    stage = " / ".join(x for x in (request.get("event_type"), request.get("container"),
                                   request.get("handler")) if x)
    cells = [[name, micros(duration / 1e3), link(span_id, "/span", trace=trace_id,
                                                span=span_id, run=run),
              link(run or "-", "/trades", run=run),
              link(trade, "/trade", id=trade, run=run) if trade else ""]
             for trace_id, span_id, name, run, trade, _, duration in rows]
    return page(f"Slowest spans of {stage or 'every stage'}",
                f'<p class="note">the {SLOWEST} longest, '
                f'{"of run " + e(run) if run else "over every run"}</p>'
                + table(["span", "duration", "span id", "run", "trade"], cells,
                        table_id="slowest"))
