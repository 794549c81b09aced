"""``tradetrace summary``: what a set of trace files holds, at a glance (shown on the
terminal by ``cli/summary_view.py``).

>>> from tradetrace.analyse.summary import percentile
>>> percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)
10
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import conventions as conv
from .metric_files import MetricsDigest
from .query._load import Progress, attr
from .query.loaded import LoadedSpans
from .reader import ReadStats, UnreadableFile, is_metrics, read_lines, trace_files


@dataclass
class LatencyRow:
    name: str
    count: int
    p50_us: float
    p99_us: float
    max_us: float


@dataclass
class MetricsSummary:
    """What the metric lines say (everything recorded, whether its spans were kept)."""

    events_recorded: dict[str, int]  #: by event type
    trades_completed: dict[str, int]  #: by outcome
    trades_open: int
    spans: dict[str, int]  #: exported, dropped, evicted (retention's fates)
    anomalies: dict[str, int]
    fill_latency_ms: dict[str, float | None]  #: count, p50, p99 (bucket estimates), max
    realized_pnl: dict[str, float | None]  #: count, sum (net), worst, best
    #: signals: total, changed (direction), unanswered (changed, no order followed), and
    #: unanswered by direction (why didn't it trade, at any level)
    signals: dict[str, Any] = field(default_factory=dict)
    #: spans lost outside retention's choices, by reason (a full buffer, a failed write)
    lost: dict[str, int] = field(default_factory=dict)


@dataclass
class Summary:
    files: int
    spans: int
    traces: int
    runs: list[str]
    events_by_type: dict[str, int]
    events_by_container: dict[str, int]
    publish_latency: list[LatencyRow]  #: per event type: publish call incl. all handlers
    handler_latency: list[LatencyRow]  #: per handler (DEBUG handler spans)
    errors: int
    other_spans: int  #: lifecycle, run and non-trading spans
    skipped_lines: int
    skipped_spans: int
    problems: list[str] = field(default_factory=list)  #: what was skipped, and why
    skipped_files: list[str] = field(default_factory=list)  #: unreadable or unsupported
    trade_spans: int = 0  #: one per kept trade
    metrics: MetricsSummary | None = None
    #: the level stepped down or up under load (tracing.level_change spans), in time order
    level_changes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(p * len(values) / 100))  # p * n first: 7 / 100 * 100 > 7
    return values[rank - 1]


def summarize(sources: str | Path | Iterable[str | Path], *, index: bool = True,
              progress: Progress | None = None, run: str | None = None) -> Summary:
    """What ``sources`` hold (of one run's, with ``run``), read through the run index
    (the files when ``index`` is False): SQL over the spans, and the metric lines of
    metrics files read apart."""
    loaded = LoadedSpans(sources, index=index, progress=progress, run=run)
    stats = loaded.stats
    kind = f"""CASE WHEN handler_name IS NOT NULL THEN 'handler'
        WHEN name = '{conv.TRADE_SPAN_NAME}' AND trade_outcome IS NOT NULL THEN 'trade'
        WHEN event_type IS NOT NULL THEN 'event' ELSE 'other' END"""
    (traces,), = loaded.sql("SELECT count(DISTINCT trace_id) FROM _spans")
    # one pass for the counts by kind, event type and container (10M spans: a pass
    # costs about a second)
    kinds: dict[str, int] = {}
    types: dict[str, int] = {}
    containers: dict[str, int] = {}
    errors = 0
    for span_kind, event_type, container, n, failed in loaded.sql(f"""
SELECT span_kind, CASE WHEN span_kind = 'event' THEN event_type END,
       CASE WHEN span_kind = 'event' THEN coalesce(container_id, '?') END,
       count(*), count(*) FILTER (WHERE status_code = 2)
FROM (SELECT {kind} AS span_kind, event_type, container_id, status_code FROM _spans)
GROUP BY ALL"""):
        kinds[span_kind] = kinds.get(span_kind, 0) + n
        errors += failed
        if span_kind == "event":
            types[event_type] = types.get(event_type, 0) + n
            containers[container] = containers.get(container, 0) + n
    by_type = sorted(types.items(), key=lambda kv: (-kv[1], str(kv[0])))
    by_container = sorted(containers.items(), key=lambda kv: (-kv[1], str(kv[0])))
    changes = loaded.sql(f"""
SELECT start_ns, {attr(conv.LEVEL_BEFORE)}, {attr(conv.LEVEL_AFTER)}, {attr(conv.LEVEL_REASON)}
FROM _spans WHERE name = '{conv.LEVEL_CHANGE_SPAN_NAME}' AND {kind} = 'other' ORDER BY start_ns
""")
    latency = _latency(loaded, kind)
    digest, metric_files = _metric_lines(sources, stats, run)
    return Summary(
        files=stats.files_read + metric_files,
        spans=stats.spans,
        traces=int(traces),
        runs=loaded.runs(),
        events_by_type={str(k): int(n) for k, n in by_type},
        events_by_container={str(k): int(n) for k, n in by_container},
        publish_latency=latency.get("event", []),
        handler_latency=latency.get("handler", []),
        errors=int(errors),
        other_spans=int(kinds.get("other", 0)),
        skipped_lines=stats.bad_lines,
        skipped_spans=stats.bad_spans,
        problems=stats.messages,
        skipped_files=stats.skipped_files,
        trade_spans=int(kinds.get("trade", 0)),
        metrics=_metrics(digest) if digest else None,
        level_changes=[{"time_unix_nano": start, "before": before, "after": after,
                        "reason": reason} for start, before, after, reason in changes],
    )


def _latency(loaded: LoadedSpans, kind: str) -> dict[str, list[LatencyRow]]:
    """Per event type (``event``) and per handler (``handler``), in one pass: count,
    nearest-rank p50 and p99, and max of the duration, in us."""
    def rank(p: int) -> str:  # p * n first, as percentile() does
        return f"d[greatest(1, CAST(ceil({p} * len(d) / 100) AS BIGINT))]"

    rows = loaded.sql(f"""
SELECT span_kind, name, len(d), {rank(50)}, {rank(99)}, d[-1]
FROM (SELECT span_kind, name, list_sort(list(duration_ns)) AS d
      FROM (SELECT {kind} AS span_kind,
                   CASE WHEN handler_name IS NOT NULL THEN handler_name ELSE event_type END
                       AS name, duration_ns FROM _spans)
      WHERE span_kind IN ('event', 'handler') GROUP BY ALL)
""")
    found: dict[str, list[LatencyRow]] = {}
    for span_kind, name, n, p50, p99, top in rows:
        found.setdefault(span_kind, []).append(
            LatencyRow(str(name), int(n), p50 / 1e3, p99 / 1e3, top / 1e3))
    return {k: sorted(v, key=lambda r: (-r.p99_us, r.name)) for k, v in found.items()}


def metrics_beside(sources: str | Path | Iterable[str | Path],
                   stats: ReadStats, run: str | None = None) -> MetricsSummary | None:
    """What the metric lines of ``sources`` say (of one run's, with ``run``; None when
    there are none); ``stats`` are those of reading their spans."""
    digest, _ = _metric_lines(sources, stats, run)
    return _metrics(digest) if digest else None


def _metric_lines(sources: str | Path | Iterable[str | Path], stats: ReadStats,
                  run: str | None = None) -> tuple[MetricsDigest, int]:
    """The metric lines, and how many metrics files were read: the metrics files beside
    the traces, and trace files' own metric lines (a Collector's file exporter can mix
    them in) when reading counted any."""
    digest = MetricsDigest()
    read = 0
    files = [p for p in trace_files(sources, ReadStats(), metrics=True)
             if is_metrics(p) or stats.metric_lines]
    for path in files:
        try:
            for _, text in read_lines(path, ReadStats()):
                if '"resourceMetrics"' not in text[:64]:
                    continue
                try:
                    request = json.loads(text)
                except ValueError:
                    continue  # counted as a bad line where the spans were read
                if isinstance(request, dict) and (run is None or _run_of(request) == run):
                    digest.add(request)
        except UnreadableFile:
            continue  # said where the spans were read
        read += is_metrics(path)
    return digest, read


def _run_of(request: dict[str, Any]) -> str | None:
    """The run id of a metrics request's (first) resource."""
    try:
        for item in request["resourceMetrics"][0]["resource"]["attributes"]:
            if item.get("key") == conv.RUN_ID:
                return str(item["value"].get("stringValue"))
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return None


def _metrics(digest: MetricsDigest) -> MetricsSummary:
    def int_map(values: dict[str, int | float]) -> dict[str, int]:
        return {k: int(v) for k, v in sorted(values.items(), key=lambda kv: -kv[1])}

    fill = digest.histogram("trading.order.fill_latency")
    wins = digest.histogram("trading.trade.pnl", {conv.TRADE_OUTCOME: "win"})
    losses = digest.histogram("trading.trade.pnl", {conv.TRADE_OUTCOME: "loss"})
    every = digest.histogram("trading.trade.pnl")
    net = digest.total("trading.realized_pnl")
    return MetricsSummary(
        events_recorded=int_map(digest.total("trading.events", by=conv.EVENT_TYPE)),
        trades_completed=int_map(digest.total("trading.trades.completed", by=conv.TRADE_OUTCOME)),
        trades_open=int(sum(digest.total("trading.trades.open").values())),
        spans=int_map(digest.total("tradetrace.spans", by="tradetrace.span.fate")),
        anomalies=int_map(digest.total("tradetrace.trade.anomalies", by="tradetrace.anomaly")),
        fill_latency_ms={
            "count": fill.count if fill else 0,
            "p50": fill.quantile(0.5) if fill else None,
            "p99": fill.quantile(0.99) if fill else None,
            "max": fill.max if fill else None,
        },
        signals=_signals(digest),
        lost={k: v for k, v in int_map(digest.total(
            "tradetrace.spans.lost", by="tradetrace.drop.reason")).items() if v},
        realized_pnl={
            "count": every.count if every else 0,
            "sum": float(sum(net.values())) if net else None,
            "worst": -losses.max if losses and losses.max is not None else None,
            "best": wins.max if wins else None,
        },
    )


def _signals(digest: MetricsDigest) -> dict[str, Any]:
    total = changed = 0
    unanswered: Counter[str] = Counter()
    for point in digest.points("trading.signals"):
        count = int(point.value or 0)
        total += count
        if point.attributes.get(conv.SIGNAL_CHANGED) is True:
            changed += count
            if point.attributes.get(conv.SIGNAL_ORDERED) is False:
                unanswered[str(point.attributes.get(conv.DIRECTION, "?"))] += count
    if not total:
        return {}
    return {"total": total, "changed": changed, "unanswered": sum(unanswered.values()),
            "unanswered_by_direction": dict(unanswered.most_common())}
