"""Telemetry never breaks trading: traced code's exceptions pass through unchanged after
being recorded; tracing's own failures are counted and never reach the traced code."""

from __future__ import annotations

import decimal

import pytest
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

import toybus
import tradetrace
from tradetrace import conventions as conv
from tradetrace.capture.publish import PublishStats
from tradetrace.export.attributes import ConversionStats
from tradetrace.testing import recording


class RiskLimitBreached(Exception):
    pass


def _bus_with_failing_handler():
    bus = toybus.Bus()
    error = RiskLimitBreached("notional 2.1M > 2M")

    def check_risk(message):
        raise error

    bus.on("ORDER", check_risk)
    return bus, error


@pytest.mark.parametrize("level", ["normal", "debug"])
def test_handler_exception_passes_through_unchanged_after_being_recorded(level):
    """The very exception object reaches the publisher; the event span holds it as an error."""
    with recording(level, profile=toybus.PROFILE) as spans:
        bus, error = _bus_with_failing_handler()
        with pytest.raises(RiskLimitBreached) as raised:
            bus.publish(toybus.Message("ORDER", {"order_id": "o1"}, node="portfolio_1"))
        assert raised.value is error
        (order,) = spans.events("ORDER")
        handler_spans = [s for s in spans.spans() if conv.HANDLER_NAME in s.attributes]
    for span in [order, *handler_spans]:
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "RiskLimitBreached: notional 2.1M > 2M"
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"].endswith("RiskLimitBreached")
        assert "check_risk" in event.attributes["exception.stacktrace"]
    assert len(handler_spans) == (1 if level == "debug" else 0)


def test_unreadable_events_are_published_untraced_and_counted():
    """An event whose type cannot be looked up still reaches its handlers, untraced."""
    with recording("normal", profile=toybus.PROFILE) as spans:
        bus = toybus.Bus()
        got = []
        bus.on(["unhashable", "kind"], got.append)
        bus.on("FILL", got.append)
        before = PublishStats.undecidable
        bus.publish(toybus.Message(["unhashable", "kind"], node="portfolio_1"))
        bus.publish(toybus.Message("FILL", node="execution_1"))
        assert PublishStats.undecidable == before + 1
        assert [m.kind for m in got] == [["unhashable", "kind"], "FILL"]
        assert [s.attributes[conv.EVENT_TYPE] for s in spans.events()] == ["FILL"]


@pytest.mark.parametrize("payload", [None, 42, "text", ["a", "list"]])
def test_odd_payloads_lose_nothing_but_their_own_attributes(payload):
    """A payload that is not a dict still gets its span (without payload attributes)."""
    with recording("normal", profile=toybus.PROFILE) as spans:
        bus = toybus.Bus()
        got = []
        bus.on("FILL", got.append)
        bus.publish(toybus.Message("FILL", payload, node="execution_1"))
        (fill,) = spans.events("FILL")
    assert got[0].data is payload
    assert fill.attributes[conv.EVENT_TYPE] == "FILL"
    assert conv.SYMBOL not in fill.attributes


def test_payload_values_that_are_not_attributes_are_converted_or_skipped():
    """Decimal becomes float; None and objects are skipped and counted; the rest is kept."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    with recording("normal", profile=toybus.PROFILE) as spans:
        bus = toybus.Bus()
        before = ConversionStats.skipped
        bus.publish(toybus.Message("FILL", {
            "price": decimal.Decimal("451.25"), "quantity": np.int64(100),
            "symbol": None, "side": object(), "timestamp": pd.Timestamp("2024-01-02 09:35"),
            "order_id": "o1",
        }, node="execution_1"))
        (fill,) = spans.events("FILL")
    a = fill.attributes
    assert a[conv.PRICE] == 451.25 and isinstance(a[conv.PRICE], float)
    assert a[conv.QUANTITY] == 100 and type(a[conv.QUANTITY]) is int
    assert a[conv.SIM_TIME] == "2024-01-02T09:35:00"
    assert conv.SYMBOL not in a and conv.SIDE not in a
    assert a[conv.ORDER_ID] == "o1"
    assert ConversionStats.skipped == before + 2  # the object and the None


class BrokenExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans):
        self.calls += 1
        raise ConnectionError("collector down")

    def shutdown(self):
        pass


class FailingExporter(BrokenExporter):
    def export(self, spans):
        self.calls += 1
        return SpanExportResult.FAILURE


@pytest.mark.parametrize("exporter_class", [BrokenExporter, FailingExporter])
def test_exporter_failures_are_counted_never_raised(demo, exporter_class, caplog):
    """A dead exporter costs the spans, is logged once and counted; the backtest completes."""
    exporter = exporter_class()
    session = tradetrace.configure("normal", profile="demo", exporter=exporter)
    results = demo.run_backtest(bars=200, seed=2)
    session.flush()
    stats = session.stats()
    assert results["events_by_type"]["BAR"] == 200
    assert exporter.calls >= 1
    assert stats["export_errors"] == exporter.calls
    assert stats["spans_lost"] >= sum(results["events_by_type"].values())
    assert stats["spans_exported"] == 0
    assert sum("exporting spans failed" in r.message for r in caplog.records) == 1


def test_an_encoding_bug_loses_one_span_not_the_run(demo, monkeypatch):
    """If building a span raises, that span is counted as lost; the others are exported."""
    with recording("normal", profile="demo") as spans:
        encoder = spans.session._worker.encoder
        original = encoder.encode
        calls = {"n": 0}

        def flaky(record):
            calls["n"] += 1
            if calls["n"] == 5:
                raise RuntimeError("bug")
            return original(record)

        monkeypatch.setattr(encoder, "encode", flaky)
        results = demo.run_backtest(bars=100, seed=2)
        exported = len([s for s in spans.spans() if s.name != conv.TRADE_SPAN_NAME])
        stats = spans.session.stats()
    total = sum(results["events_by_type"].values())
    assert stats["build_errors"] == 1
    assert exported == calls["n"] - 1
    assert exported >= total - 1
