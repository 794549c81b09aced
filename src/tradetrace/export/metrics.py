"""Streaming metrics with the OpenTelemetry metrics SDK: what is not stored is counted.

Trade-aware retention drops most spans in production; these metrics cover everything
recorded, kept or not, and go where the traces go: OTLP when the storage backend is
``otlp``, else a local OTLP JSON lines file beside the trace files
(``<run id>-metrics.jsonl``, the format of the Collector's file exporter), which
``tradetrace summary`` reads.

Nothing here runs on the publishing thread. Counts the export worker keeps anyway (events
per route, spans kept and dropped, open trades, held bytes) are read by observable
instruments when the SDK collects; only per-trade and per-fill values (and handler
durations at DEBUG) are recorded one by one, on the export worker.

| instrument | kind | unit | attributes |
|---|---|---|---|
| ``trading.events`` | counter | {event} | event type, container |
| ``trading.handler.duration`` | histogram | s | handler, event type, container |
| ``trading.order.fill_latency`` | histogram | ms | container, strategy |
| ``trading.trades.open`` | up-down counter | {trade} | |
| ``trading.trades.completed`` | counter | {trade} | outcome, container, strategy |
| ``trading.trade.pnl`` | histogram, abs(P&L) | {currency} | outcome (sign), container, strategy |
| ``trading.realized_pnl`` | up-down counter | {currency} | container, strategy |
| ``trading.signals`` | counter | {signal} | container, strategy, direction, changed, ordered |
| ``tradetrace.spans`` | counter | {span} | ``tradetrace.span.fate``: exported, dropped, evicted |
| ``tradetrace.spans.lost`` | counter | {span} | ``tradetrace.drop.reason``: buffer_full, ... |
| ``tradetrace.retention.held_spans`` | gauge | {span} | |
| ``tradetrace.retention.held_bytes`` | gauge | By | |
| ``tradetrace.trade.anomalies`` | counter | {event} | ``tradetrace.anomaly`` |
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

# Imported here, not at first export: an import in progress on a background thread
# when the program forks leaves its lock held forever in the child.
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .. import conventions as conv
from .._version import __version__
from ..model.otlp_json import UNENCODABLE
from ..model.record import END, ROUTE, START, SUBJECT, Record
from ..retain.tail import TailRetention
from ..retain.tail_stats import RetentionObserver
from ..retain.tracked_trade import TrackedTrade
from .files import PRIVATE, LineFile, Permissions
from .histograms import HistogramExporter, HistogramSeries

logger = logging.getLogger(__name__)

FATE = "tradetrace.span.fate"
DROP_REASON = "tradetrace.drop.reason"
#: Latency buckets from 10 us (a backtest's synchronous fill) to 10 s (a live broker).
PNL_BUCKETS = [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
               10000.0, 25000.0, 100000.0]
LATENCY_MS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0,
                      100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0]
ANOMALY = "tradetrace.anomaly"
METRICS_SUFFIX = "-metrics.jsonl"


class TradingMetrics(RetentionObserver):
    """The instruments, fed by the export worker and read by the SDK's reader."""

    def __init__(
        self,
        exporter: MetricExporter,
        interval_seconds: float,
        resource: Resource,
        routes: Callable[[], Iterable[Any]],
        retention: Callable[[], TailRetention | None],
        lost: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self._handler = HistogramSeries(
            "trading.handler.duration", "s", "Handler call duration (DEBUG)",
            [b / 1e3 for b in LATENCY_MS_BUCKETS])
        self._fill = HistogramSeries(
            "trading.order.fill_latency", "ms",
            "ORDER published to its first FILL published, wall clock", LATENCY_MS_BUCKETS)
        # OpenTelemetry histograms take no negative values: the size of each trade's P&L
        # goes in the histogram, its sign in the outcome attribute, the net in a sum.
        self._pnl = HistogramSeries(
            "trading.trade.pnl", "{currency}",
            "Size of the realised P&L per completed trade (sign: the outcome)", PNL_BUCKETS)
        self.exporter = HistogramExporter(
            exporter, [self._handler, self._fill, self._pnl], resource,
            InstrumentationScope("tradetrace", __version__))
        # A process that never traced an event (a pip or pytest run with TRADETRACE_LEVEL
        # set, multiprocessing's helper processes) writes no metrics file.
        self.exporter.idle = lambda: not any(True for _ in routes())
        reader = PeriodicExportingMetricReader(
            self.exporter, export_interval_millis=interval_seconds * 1000)
        self.reader = reader
        self.final_export_done: bool | None = None  #: set at shutdown
        self.provider = MeterProvider(
            [reader], resource=resource, exemplar_filter=AlwaysOffExemplarFilter(),
            shutdown_on_exit=False,
        )
        meter = self.provider.get_meter("tradetrace", __version__)
        self._routes = routes
        self._retention = retention
        self._lost = lost
        meter.create_observable_counter(
            "trading.events", [self._events], unit="{event}",
            description="Events recorded, by type and container (kept or not)")
        meter.create_observable_up_down_counter(
            "trading.trades.open", [self._open], unit="{trade}", description="Open trades")
        # Completed trades and net P&L are summed here and observed at collection: a
        # synchronous SDK call costs microseconds, a dict update a tenth of that.
        self._completed: dict[tuple[str, str, str | None], list[float]] = {}
        meter.create_observable_counter(
            "trading.trades.completed", [self._trades], unit="{trade}",
            description="Completed trades")
        meter.create_observable_up_down_counter(
            "trading.realized_pnl", [self._net], unit="{currency}",
            description="Net realised P&L")
        meter.create_observable_counter(
            "trading.signals", [self._signals], unit="{signal}",
            description="Signals by direction, whether it changed and whether an order "
                        "followed (every level but NONE: why didn't it trade)")
        meter.create_observable_counter(
            "tradetrace.spans", [self._spans], unit="{span}",
            description="Spans by what retention did with them")
        meter.create_observable_counter(
            "tradetrace.spans.lost", [self._spans_lost], unit="{span}",
            description="Spans lost outside retention's choices (a full buffer, a failed "
                        "write, ...), by reason: with tradetrace.spans, every recorded span")
        meter.create_observable_gauge(
            "tradetrace.retention.held_spans", [self._held_spans], unit="{span}",
            description="Spans held with open trades and in sliding windows")
        meter.create_observable_gauge(
            "tradetrace.retention.held_bytes", [self._held_bytes], unit="By",
            description="Estimated memory held by retention")
        meter.create_observable_counter(
            "tradetrace.trade.anomalies", [self._anomalies], unit="{event}",
            description="Events that did not fit the trade rules, by kind")

    # fed by the export worker ----------------------------------------------------------
    def trade_completed(self, trade: TrackedTrade) -> None:
        strategy = trade.strategy if isinstance(trade.strategy, str) else None
        key = (trade.outcome or "incomplete", trade.container, strategy)
        totals = self._completed.get(key)
        if totals is None:
            totals = self._completed[key] = [0, 0.0]
        totals[0] += 1
        if isinstance(trade.pnl, float):
            totals[1] += trade.pnl
            self._pnl.record(abs(trade.pnl), _key(key))

    def fill_latency(self, trade: TrackedTrade, milliseconds: float) -> None:
        strategy = trade.strategy if isinstance(trade.strategy, str) else None
        self._fill.record(milliseconds, _key((None, trade.container, strategy)))

    def handler_duration(self, record: Record) -> None:
        if not record[END]:
            return
        route = record[ROUTE]
        name = getattr(record[SUBJECT], "__qualname__", None)
        self._handler.record((record[END] - record[START]) / 1e9, (
            (conv.HANDLER_NAME, name if isinstance(name, str) else type(record[SUBJECT]).__name__),
            (conv.EVENT_TYPE, route.event_type), (conv.CONTAINER_ID, route.container),
        ))

    # read when the SDK collects -------------------------------------------------------
    def _events(self, options: CallbackOptions) -> Iterable[Observation]:
        totals: dict[tuple[str, str], int] = {}
        for route in list(self._routes()):
            key = (route.event_type, route.container)
            totals[key] = totals.get(key, 0) + route.seen
        for (event_type, container), count in totals.items():
            yield Observation(count, {conv.EVENT_TYPE: event_type, conv.CONTAINER_ID: container})

    def _trades(self, options: CallbackOptions) -> Iterable[Observation]:
        for key, (count, _) in list(self._completed.items()):
            yield Observation(count, _attributes(key))

    def _net(self, options: CallbackOptions) -> Iterable[Observation]:
        net: dict[tuple[str, str | None], float] = {}
        for (_, container, strategy), (_, pnl) in list(self._completed.items()):
            net[(container, strategy)] = net.get((container, strategy), 0.0) + pnl
        for (container, strategy), pnl in net.items():
            yield Observation(pnl, _attributes((None, container, strategy)))

    def _signals(self, options: CallbackOptions) -> Iterable[Observation]:
        tail = self._retention()
        if tail is None:
            return
        for (container, strategy, direction, changed, ordered), count in list(
                tail.signals.counts.items()):
            attributes: dict[str, Any] = {conv.CONTAINER_ID: container,
                                          conv.SIGNAL_CHANGED: changed,
                                          conv.SIGNAL_ORDERED: ordered}
            if strategy is not None:
                attributes[conv.STRATEGY_ID] = strategy
            if direction is not None:
                attributes[conv.DIRECTION] = direction
            yield Observation(count, attributes)

    def _open(self, options: CallbackOptions) -> Iterable[Observation]:
        tail = self._retention()
        yield Observation(tail.open_trades if tail is not None else 0)

    def _spans(self, options: CallbackOptions) -> Iterable[Observation]:
        tail = self._retention()
        if tail is not None:
            stats = tail.stats
            yield Observation(stats.spans_passed, {FATE: "exported"})
            yield Observation(stats.spans_dropped, {FATE: "dropped"})
            yield Observation(stats.spans_evicted, {FATE: "evicted"})

    def _spans_lost(self, options: CallbackOptions) -> Iterable[Observation]:
        if self._lost is not None:
            for reason, count in self._lost().items():
                yield Observation(count, {DROP_REASON: reason})

    def _held_spans(self, options: CallbackOptions) -> Iterable[Observation]:
        tail = self._retention()
        yield Observation(tail.stats.spans_held if tail is not None else 0)

    def _held_bytes(self, options: CallbackOptions) -> Iterable[Observation]:
        tail = self._retention()
        yield Observation(tail.stats.bytes_held if tail is not None else 0)

    def _anomalies(self, options: CallbackOptions) -> Iterable[Observation]:
        tail = self._retention()
        if tail is not None:
            for kind, count in list(tail.tracker.stats.anomalies.items()):
                yield Observation(count, {ANOMALY: kind})

    # control ---------------------------------------------------------------------------
    def accounting(self) -> dict[str, Any]:
        """Metric exports: how many the backend took, how many failed (each one is a
        whole collection of every instrument), and the last failure."""
        exporter = self.exporter
        return {"backend": type(exporter.inner).__name__, "exports": exporter.exported,
                "failed": exporter.failed, "unfinished": exporter.in_flight,
                "final_export_done": self.final_export_done,
                "last_error": exporter.last_error}

    def flush(self, timeout_seconds: float) -> bool:
        """Export now; wait at most ``timeout_seconds``. The stock OTLP exporters do not
        bound an export by the timeout they are given (they retry for their own
        ``OTEL_EXPORTER_OTLP_TIMEOUT``), so the export runs on a thread of its own and
        finishes (or fails, counted) there when the wait is over."""
        def export() -> None:
            try:
                self.provider.force_flush(int(timeout_seconds * 1000))
            except Exception:
                logger.debug("tradetrace: flushing metrics failed", exc_info=True)
            finally:
                done.set()

        done = threading.Event()
        threading.Thread(target=export, name="tradetrace-metrics-flush", daemon=True).start()
        return done.wait(timeout_seconds)

    def abandon(self) -> None:
        """In a forked child: stop without exporting (the parent's figures are its own)."""
        self.exporter.muted = True
        self.shutdown(1.0)

    def shutdown(self, timeout_seconds: float) -> None:
        """The last collection and export, within ``timeout_seconds`` (the SDK's reader
        waits for it that long, then lets it go); ``final_export_done`` says whether it
        ended in time (written or failed, counted)."""
        begun = self.exporter.started
        try:
            self.provider.shutdown(int(timeout_seconds * 1000))
        except Exception:
            logger.debug("tradetrace: shutting metrics down failed", exc_info=True)
        self.final_export_done = self.exporter.started > begun and not self.exporter.in_flight


_KEYS: dict[tuple[str | None, str, str | None], tuple[tuple[str, Any], ...]] = {}


def _key(key: tuple[str | None, str, str | None]) -> tuple[tuple[str, Any], ...]:
    """Histogram series key (sorted attribute items) for (outcome, container, strategy)."""
    found = _KEYS.get(key)
    if found is None:
        found = _KEYS[key] = tuple(sorted(_attributes(key).items()))
    return found


def _attributes(key: tuple[str | None, str, str | None]) -> dict[str, Any]:
    outcome, container, strategy = key
    attrs: dict[str, Any] = {conv.CONTAINER_ID: container}
    if outcome is not None:
        attrs[conv.TRADE_OUTCOME] = outcome
    if strategy is not None:
        attrs[conv.STRATEGY_ID] = strategy
    return attrs


class JsonLinesMetricExporter(MetricExporter):
    """Metrics as OTLP JSON lines (``ExportMetricsServiceRequest`` per line) in a file,
    each line whole or not at all (export/files.py)."""

    def __init__(self, path: Path, permissions: Permissions = PRIVATE) -> None:
        super().__init__()
        self.path = path
        self.permissions = permissions
        self._lock = threading.Lock()
        self._file: LineFile | None = None
        self._failed_once = False

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            line = metrics_json(metrics_data).encode("utf-8", UNENCODABLE)
            with self._lock:
                if self._file is None:
                    self._file = LineFile(self.path, self.permissions)
                self._file.append(line)
            return MetricExportResult.SUCCESS
        except Exception as exc:  # counted by HistogramExporter; said once here
            if not self._failed_once:
                self._failed_once = True
                logger.error("tradetrace: writing metrics to %s failed (logged once, "
                             "counted in stats()['metrics']): %r", self.path, exc)
            return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def metrics_json(data: MetricsData) -> str:
    """One OTLP JSON line: the stock protobuf encoding in the OTLP JSON mapping
    (enums as numbers, 64-bit integers as strings, lowerCamelCase names)."""
    message = MessageToDict(encode_metrics(data), use_integers_for_enums=True)
    return json.dumps(message, separators=(",", ":"))


def metrics_file(folder: Path, stem: str) -> Path:
    """The metrics file of a run (or of one worker process of it) beside its traces."""
    return folder / f"{stem}{METRICS_SUFFIX}"


def otlp_metric_exporter() -> MetricExporter:
    """The stock OTLP metric exporter for ``OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL``."""
    import os

    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    return HttpMetricExporter()


__all__: Sequence[str] = ["JsonLinesMetricExporter", "TradingMetrics"]
