"""Capture without patching: ``tradetrace.record``, ``tradetrace.dispatching``,
``tradetrace.listen`` and a patched ``publish(topic, message)`` whose event is its second
argument (the adapter's ``argument``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.capture.publish import PublishStats
from tradetrace.testing import recording


def event(kind: str, source: str = "data", **payload: Any) -> SimpleNamespace:
    return SimpleNamespace(event_type=kind, container_id=source, source_id=source,
                           payload=payload, event_id=f"{kind}-{id(payload)}", timestamp=None,
                           causation_id=None, correlation_id=None)


class TopicBus:
    """A pure-Python bus of the ``publish(topic, message)`` shape, with a wildcard."""

    def __init__(self) -> None:
        self.handlers: list[tuple[str, Any]] = []

    def subscribe(self, topic: str, handler: Any) -> None:
        self.handlers.append((topic, handler))

    def unsubscribe(self, topic: str, handler: Any) -> None:
        self.handlers.remove((topic, handler))

    def publish(self, topic: str, message: Any) -> str:
        for pattern, handler in list(self.handlers):
            if pattern in ("*", topic):
                handler(message)
        return f"sent {topic}"


def test_record_makes_a_span_without_duration_and_is_false_untraced() -> None:
    assert tradetrace.record(event("BAR")) is False  # no session: nothing, no error
    with recording("normal") as spans:
        assert tradetrace.record(event("BAR", close=1.5)) is True
        tradetrace.flush()
        [bar] = spans.named("BAR")
        assert bar.start_time == bar.end_time
        assert dict(bar.attributes or {})[conv.PRICE] == 1.5
        tradetrace.set_level("none")
        assert tradetrace.record(event("BAR")) is False
    assert tradetrace.record(event("BAR")) is False  # shut down


def test_record_never_raises_and_counts_what_it_cannot_read() -> None:
    with recording("normal") as spans:
        before = PublishStats.undecidable
        assert tradetrace.record(object()) is False  # no event_type: undecidable
        assert PublishStats.undecidable == before + 1
        with tradetrace.suppress_tracing():
            assert tradetrace.record(event("BAR")) is False
        tradetrace.flush()
        assert spans.spans() == []


def test_dispatching_times_the_block_nests_and_passes_errors_through() -> None:
    with recording("normal") as spans:
        with pytest.raises(KeyError, match="no such order"):
            with tradetrace.dispatching(event("ORDER", "portfolio_1", order_id="o1")):
                tradetrace.record(event("FILL", "execution", order_id="o1"))
                raise KeyError("no such order")
        tradetrace.flush()
        [order], [fill] = spans.named("ORDER"), spans.named("FILL")
        assert fill.parent is not None and fill.parent.span_id == order.context.span_id
        assert order.end_time >= fill.end_time >= order.start_time
        assert not order.status.is_ok and order.events[0].name == "exception"


def test_listen_subscribes_a_capture_handler_and_unsubscribes_at_the_end() -> None:
    bus = TopicBus()
    with recording("normal", profile={"name": "topics", "publish": [],
                                      "listen": []}) as spans:
        assert tradetrace.listen(bus, topic="*", unsubscribe="unsubscribe")
        assert tradetrace.listen(bus, topic="*")  # once per bus
        assert len(bus.handlers) == 1
        message = event("BAR", close=2.0)
        bus.publish("bars", message)
        bus.publish("bars.again", message)  # the same object again: one span
        tradetrace.flush()
        assert len(spans.named("BAR")) == 1
        assert spans.session.listeners.repeated == 1
    assert bus.handlers == []


def test_a_bus_that_refuses_a_subscription_is_said_and_traced_no_further(
        caplog: pytest.LogCaptureFixture) -> None:
    class Refusing:
        def subscribe(self, topic: str, handler: Any) -> None:
            raise RuntimeError("closed")

    with recording("normal"):
        assert tradetrace.listen(Refusing(), topic="*") is False
    assert "could not subscribe to Refusing.subscribe(topic='*')" in caplog.text


def test_publish_topic_message_reads_the_message_as_the_event() -> None:
    profile = {"name": "topics", "publish": [f"{__name__}:TopicBus.publish"],
               "event_adapter": {"name": "objects", "argument": "message"}}
    bus = TopicBus()
    bus.subscribe("bars", lambda bar: bus.publish("signals", event("SIGNAL", "strategy")))
    with recording("normal", profile=profile) as spans:
        assert bus.publish("bars", event("BAR")) == "sent bars"
        tradetrace.flush()
        [bar], [signal] = spans.named("BAR"), spans.named("SIGNAL")
        assert signal.parent is not None and signal.parent.span_id == bar.context.span_id
        assert TopicBus.publish.__tradetrace_fields__["event_type"] == "event.event_type"


def test_a_profile_listens_after_its_on_method_returns() -> None:
    class Kernel:
        def __init__(self) -> None:
            self.bus = TopicBus()

    profile = {"name": "kernel", "listen": [{"on": f"{__name__}:Kernel.__init__",
                                             "bus": "bus", "arguments": {"topic": "*"}}]}
    globals()["Kernel"] = Kernel  # the profile names it by module and class
    try:
        with recording("normal", profile=profile) as spans:
            kernel = Kernel()
            kernel.bus.publish("bars", event("BAR"))
            tradetrace.flush()
            assert len(spans.named("BAR")) == 1
            assert spans.session.listeners.buses == 1
    finally:
        del globals()["Kernel"]
