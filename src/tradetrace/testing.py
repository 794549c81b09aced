"""Helpers for testing code traced by tradetrace (yours and ours).

>>> from tradetrace.testing import recording
>>> with recording("normal", profile="demo") as spans:   # doctest: +SKIP
...     run_backtest(bars=100, seed=1)
...     fills = spans.events("FILL")
...     assert spans.parent_of(fills[0]).name == "ORDER"
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from . import configure, shutdown
from . import conventions as conv
from .decide.levels import TraceLevel
from .session import TracingSession

__all__ = ["SpanRecorder", "recording", "spans_by_trade"]


def spans_by_trade(spans: Iterable[ReadableSpan]) -> tuple[dict[str, list[ReadableSpan]],
                                                           dict[str, ReadableSpan]]:
    """The event spans of each trade, and each trade's ``trade`` span, by trade id."""
    events: dict[str, list[ReadableSpan]] = {}
    trades: dict[str, ReadableSpan] = {}
    for span in spans:
        trade_id = (span.attributes or {}).get(conv.TRADE_ID)
        if not isinstance(trade_id, str):
            continue
        if span.name == conv.TRADE_SPAN_NAME:
            trades[trade_id] = span
        else:
            events.setdefault(trade_id, []).append(span)
    return events, trades


class SpanRecorder:
    """The spans a :func:`recording` session exported, with lookups by trading meaning."""

    def __init__(self, session: TracingSession, exporter: InMemorySpanExporter) -> None:
        self.session = session
        self.exporter = exporter

    def spans(self) -> list[ReadableSpan]:
        """Everything exported so far (flushes first)."""
        self.session.flush()
        return list(self.exporter.get_finished_spans())

    def events(self, event_type: str | None = None) -> list[ReadableSpan]:
        """Event spans, optionally of one type, in start order."""
        found = [
            s for s in self.spans()
            if s.attributes and conv.EVENT_TYPE in s.attributes
            and conv.HANDLER_NAME not in s.attributes
            and (event_type is None or s.attributes[conv.EVENT_TYPE] == event_type)
        ]
        return sorted(found, key=lambda s: s.start_time or 0)

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def by_span_id(self) -> dict[int, ReadableSpan]:
        return {s.context.span_id: s for s in self.spans() if s.context is not None}

    def parent_of(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        return self.by_span_id().get(span.parent.span_id)

    def children_of(self, span: ReadableSpan) -> list[ReadableSpan]:
        assert span.context is not None
        return [s for s in self.spans() if s.parent and s.parent.span_id == span.context.span_id]

    def clear(self) -> None:
        self.session.flush()
        self.exporter.clear()


@contextmanager
def recording(
    level: str | TraceLevel = "normal",
    *,
    profile: str | Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Iterator[SpanRecorder]:
    """Trace with an in-memory exporter for the duration of the block, then unpatch."""
    exporter = InMemorySpanExporter()
    session = configure(level, profile=profile, exporter=exporter, **kwargs)
    try:
        yield SpanRecorder(session, exporter)
    finally:
        shutdown()
