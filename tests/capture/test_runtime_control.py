"""Control while the program runs: patches whatever the import order, subclasses wrapped
once, handlers restored, suppress_tracing, the level changed at run time, and W3C trace
context across a queue between threads."""

from __future__ import annotations

import importlib
import queue
import sys
import threading

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.capture.propagation import CAUSE_EVENT_ID, TRACEPARENT
from tradetrace.testing import recording


def _new_module(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return name


_BUS = """
class Event:
    def __init__(self, event_type, container_id="portfolio_1", payload=None, metadata=None):
        self.event_type = event_type
        self.container_id = container_id
        self.source_id = None
        self.payload = payload or {}
        self.metadata = metadata if metadata is not None else {}
        self.event_id = "evt_" + str(id(self))
        self.causation_id = self.correlation_id = self.timestamp = None

class Bus:
    def __init__(self):
        self.handlers = {}
    def subscribe(self, event_type, handler):
        self.handlers.setdefault(event_type, []).append(handler)
    def publish(self, event):
        for handler in self.handlers.get(event.event_type, []):
            handler(event)

class Bridge:  # hands events to another process (a list stands in for the socket)
    def __init__(self):
        self.sent = []
    def send(self, event):
        self.sent.append(dict(event.metadata))

class AuditedBus(Bus):
    published = 0
    def publish(self, event):
        AuditedBus.published += 1
        super().publish(event)
"""

_PROFILE = {
    "name": "late",
    "publish": ["late_bus:Bus.publish", "late_bus:AuditedBus.publish"],
    "subscribe": ["late_bus:Bus.subscribe"],
}


def test_a_class_imported_by_name_before_configure_is_still_traced(tmp_path, monkeypatch):
    """`from x import Bus` before tracing starts: the class itself is patched, so the
    name the program holds is traced too."""
    _new_module(tmp_path, monkeypatch, "late_bus", _BUS)
    from late_bus import Bus, Event  # the program's own reference, taken first

    with recording("normal", profile=_PROFILE) as spans:
        Bus().publish(Event("FILL"))
        assert [s.attributes[conv.EVENT_TYPE] for s in spans.events()] == ["FILL"]


def test_an_overriding_subclass_and_its_base_make_one_span_per_event(tmp_path, monkeypatch):
    """Both publish methods are patched; the subclass's calls the base's: one span."""
    _new_module(tmp_path, monkeypatch, "late_bus", _BUS)
    late_bus = importlib.import_module("late_bus")
    with recording("normal", profile=_PROFILE) as spans:
        bus = late_bus.AuditedBus()
        bus.subscribe("SIGNAL", lambda e: bus.publish(late_bus.Event("ORDER")))
        bus.publish(late_bus.Event("SIGNAL"))
        events = spans.events()
        assert [s.attributes[conv.EVENT_TYPE] for s in events] == ["SIGNAL", "ORDER"]
        assert spans.parent_of(events[1]) is events[0]
    assert late_bus.AuditedBus.published == 2


def test_uninstrument_puts_back_handlers_subscribed_while_traced(tmp_path, monkeypatch):
    """At DEBUG handlers are stored as proxies; after shutdown the bus holds the very
    handler objects it was given."""
    _new_module(tmp_path, monkeypatch, "late_bus", _BUS)
    late_bus = importlib.import_module("late_bus")

    def on_fill(event):
        pass

    tradetrace.configure("debug", profile=_PROFILE, backend="none")
    bus = late_bus.Bus()
    bus.subscribe("FILL", on_fill)
    assert bus.handlers["FILL"][0] is not on_fill  # the proxy
    tradetrace.shutdown()
    assert bus.handlers["FILL"][0] is on_fill
    assert type(bus.handlers["FILL"][0]) is type(on_fill)


def test_suppressed_block_records_nothing_and_tracing_resumes_after(demo):
    with recording("normal", profile="demo") as spans:
        with tradetrace.suppress_tracing():
            warmup = demo.run_backtest(bars=40, seed=3)
        assert warmup["events"] > 40
        assert spans.events() == []
        assert spans.named("Coordinator.run_topology") == []
        demo.run_backtest(bars=10, seed=3)
        assert len(spans.events("BAR")) == 10


def test_suppression_inside_a_handler_covers_only_what_it_publishes(demo):
    """A replay inside a handler is not traced; the handler's own event still is."""
    with recording("normal", profile="demo") as spans:
        bus = demo.EventBus()

        def replay(event):
            with tradetrace.suppress_tracing():
                bus.publish(demo.Event(event_type="FILL", container_id="portfolio_x"))

        bus.subscribe("ORDER", replay)
        bus.publish(demo.Event(event_type="ORDER", container_id="portfolio_x"))
        assert [s.attributes[conv.EVENT_TYPE] for s in spans.events()] == ["ORDER"]
        bus.publish(demo.Event(event_type="FILL", container_id="portfolio_x"))
        assert len(spans.events("FILL")) == 1


def test_level_changes_at_run_time_and_none_removes_every_patch(demo):
    from demo_engine.bus import EventBus

    original = EventBus.__dict__["publish"]
    with recording("normal", profile="demo") as spans:
        session = spans.session
        demo.run_backtest(bars=20, seed=2)
        assert len(spans.events("BAR")) == 20
        spans.clear()

        tradetrace.set_level("minimal")
        demo.run_backtest(bars=20, seed=2)
        assert spans.events("BAR") == []  # MINIMAL traces no bars

        tradetrace.set_level("none")
        assert session.patched == [] and EventBus.__dict__["publish"] is original
        spans.clear()
        demo.run_backtest(bars=20, seed=2)
        assert spans.spans() == []

        tradetrace.set_level("normal", "data_*")  # only the data container, from NONE
        assert EventBus.__dict__["publish"] is not original
        demo.run_backtest(bars=20, seed=2)
        types = {s.attributes[conv.EVENT_TYPE] for s in spans.events()}
        assert types == {"BAR"}


def test_a_bad_level_at_run_time_is_an_error_and_changes_nothing(demo):
    with recording("normal", profile="demo") as spans:
        with pytest.raises(tradetrace.ConfigError, match="verbose"):
            tradetrace.set_level("verbose")
        with pytest.raises(tradetrace.ConfigError):
            tradetrace.set_level("debug", "portfolio_{x}")
        assert spans.session.config.level is tradetrace.TraceLevel.NORMAL
        demo.run_backtest(bars=5, seed=2)
        assert len(spans.events("BAR")) == 5


def test_trace_context_crosses_a_queue_between_threads(demo):
    """A SIGNAL is handed to another thread through a queue (a live engine's market-data
    thread, say); the ORDER that thread publishes continues the same trace."""
    with recording("normal", profile="demo") as spans:
        bus = demo.EventBus()
        handoff: queue.Queue = queue.Queue()

        def send(event):
            assert tradetrace.inject(event)
            handoff.put(event)

        def receive():
            signal = handoff.get(timeout=10)
            order = demo.Event(event_type="ORDER", container_id="portfolio_x",
                               metadata=dict(signal.metadata))
            bus.publish(order)

        bus.subscribe("SIGNAL", send, filter_func=lambda e: True)
        consumer = threading.Thread(target=receive)
        consumer.start()
        signal = demo.Event(event_type="SIGNAL", container_id="strategy_x")
        bus.publish(signal)
        consumer.join(10)
        assert not consumer.is_alive()
        assert signal.metadata[TRACEPARENT].startswith("00-")
        assert signal.metadata[CAUSE_EVENT_ID] == signal.event_id

        (sent,) = spans.events("SIGNAL")
        (received,) = spans.events("ORDER")
        assert received.context.trace_id == sent.context.trace_id
        assert received.parent.span_id == sent.context.span_id
        assert received.attributes[conv.CAUSATION_ID] == signal.event_id


def test_a_malformed_traceparent_starts_a_new_trace(demo):
    from tradetrace.capture.propagation import PropagationStats

    before = PropagationStats.malformed
    with recording("normal", profile="demo") as spans:
        bus = demo.EventBus()
        bus.publish(demo.Event(event_type="ORDER", container_id="portfolio_x",
                               metadata={TRACEPARENT: "00-nothex-00-01"}))
        (order,) = spans.events("ORDER")
        assert order.parent is None
    assert PropagationStats.malformed == before + 1


def test_inject_without_anything_traced_in_flight_does_nothing(demo):
    with recording("normal", profile="demo"):
        event = demo.Event(event_type="ORDER", container_id="portfolio_x")
        assert tradetrace.inject(event) is False
        assert TRACEPARENT not in event.metadata


def test_a_profile_s_transport_methods_inject_the_context_of_what_they_send(
        tmp_path, monkeypatch):
    _new_module(tmp_path, monkeypatch, "late_bus", _BUS)
    late_bus = importlib.import_module("late_bus")
    profile = {**_PROFILE, "transport": ["late_bus:Bridge.send"]}
    with recording("normal", profile=profile) as spans:
        bus, bridge = late_bus.Bus(), late_bus.Bridge()
        bus.subscribe("SIGNAL", bridge.send)
        signal = late_bus.Event("SIGNAL")
        bus.publish(signal)
        bridge.send(late_bus.Event("ORDER"))  # nothing traced in flight: sent as it is
        (span,) = spans.events("SIGNAL")
    (carried, bare) = bridge.sent
    trace_id, span_id = f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"
    assert carried[TRACEPARENT] == f"00-{trace_id}-{span_id}-01"
    assert carried[CAUSE_EVENT_ID] == signal.event_id
    assert TRACEPARENT not in bare
