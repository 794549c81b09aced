"""The generated ``publish`` (capture/publish.py) on its own: a bus class patched with
``traced_publish`` over a real DecisionTable and ContainerBuffers, no session, no worker. What
each publish leaves in its container's buffer: one finished record per traced event,
its cause from the dispatch stack, its payload as published; and what it leaves alone:
the bus's own arguments, return values and exceptions."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

import tradetrace
from tradetrace.capture.publish import PublishStats, traced_publish
from tradetrace.config import load_config
from tradetrace.decide.table import DecisionTable
from tradetrace.model.events import EVENT_FIELDS
from tradetrace.model.record import (
    END,
    ERROR,
    EVENT,
    IDS,
    KIND,
    PARENT,
    ROUTE,
    SNAPSHOT,
    START,
    SUBJECT,
    TALLY,
    TRADE,
    dispatch,
)
from tradetrace.retain.buffer import ContainerBuffers


@dataclass
class Event:
    """An event with every field the default profile (ADMF-PC's) reads."""

    event_type: Any
    payload: Any = field(default_factory=dict)
    container_id: Any = "portfolio_1"
    source_id: Any = None
    event_id: Any = None
    timestamp: Any = None
    causation_id: Any = None
    correlation_id: Any = None
    target_container: Any = None
    sequence_number: Any = None
    metadata: Any = None


class Bus:
    """Calls every handler with every event; returns how many it has published."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []
        self.published: list[Any] = []

    def publish(self, event: Any) -> int:
        self.published.append(event)
        for handler in self.handlers:
            handler(event)
        return len(self.published)


def patched(bus_class: type = Bus, level: str = "normal") -> tuple[Any, ContainerBuffers]:
    """An instance of a subclass of ``bus_class`` whose publish is the generated one."""
    retention = ContainerBuffers()
    table = DecisionTable(load_config(level=level, env={}, run_id="r"), retention)
    subclass = type("Patched" + bus_class.__name__, (bus_class,), {})
    subclass.publish = traced_publish(bus_class.publish, table, dict(EVENT_FIELDS))
    return subclass(), retention


def test_an_event_the_level_does_not_trace_goes_through_unrecorded() -> None:
    bus, retention = patched(level="minimal")
    bar = Event("BAR", {"close": 1.0}, container_id="data_1")
    assert bus.publish(bar) == 1
    assert bus.published == [bar] and retention.pending() == 0


def test_a_traced_event_leaves_one_finished_record_in_its_container_s_buffer() -> None:
    bus, retention = patched()
    order = Event("ORDER", {"order_id": "o1", "quantity": 10}, event_id="e1",
                  source_id="portfolio_1", timestamp="2024-01-02T09:30:00",
                  causation_id="e0", correlation_id="c1", target_container="execution_1")
    assert bus.publish(order) == 1
    [buffer] = retention.all()
    [record] = buffer.take()
    assert buffer.container == "portfolio_1"
    assert record[KIND] is EVENT
    assert (record[ROUTE].container, record[ROUTE].event_type) == ("portfolio_1", "ORDER")
    # the event itself is let go: its record keeps NORMAL's six fields
    assert record[SUBJECT] == ("e1", "portfolio_1", "2024-01-02T09:30:00", "e0", "c1",
                               "execution_1")
    assert record[SNAPSHOT] == {"order_id": "o1", "quantity": 10}
    assert record[SNAPSHOT] is not order.payload
    assert record[PARENT] is None and record[ERROR] is None
    assert 0 < record[START] <= record[END]
    assert record[IDS] is None and record[TRADE] is None  # the worker's slots, not yet set
    assert dispatch.stack == []


def test_the_payload_is_kept_as_it_was_published() -> None:
    """Changed afterwards, nested values included, the record holds the published one."""
    bus, retention = patched()
    payload = {"order_id": "o1", "legs": {"quantity": 10}}
    order = Event("ORDER", payload)
    bus.publish(order)
    payload["order_id"] = "changed"
    payload["legs"]["quantity"] = 99
    [record] = retention.take_all()
    assert record[SNAPSHOT] == {"order_id": "o1", "legs": {"quantity": 10}}


def test_an_event_published_while_another_is_dispatched_has_it_as_its_cause() -> None:
    bus, retention = patched()
    fill = Event("FILL", {"order_id": "o1"}, container_id="execution_1")

    def execute(event: Event) -> None:
        if event.event_type == "ORDER":
            bus.publish(fill)

    bus.handlers.append(execute)
    bus.publish(Event("ORDER", {"order_id": "o1"}))
    by_type = {r[ROUTE].event_type: r for r in retention.take_all()}
    order_record, fill_record = by_type["ORDER"], by_type["FILL"]
    assert fill_record[PARENT] is order_record and order_record[PARENT] is None
    assert order_record[START] <= fill_record[START] <= fill_record[END] <= order_record[END]
    assert dispatch.stack == []


def test_the_dispatch_stack_is_per_thread() -> None:
    """An event another thread publishes during a dispatch is a root there."""
    bus, retention = patched()

    def hand_over(event: Event) -> None:
        if event.event_type == "SIGNAL":
            thread = threading.Thread(target=bus.publish,
                                      args=(Event("ORDER", {"order_id": "o1"}),))
            thread.start()
            thread.join()

    bus.handlers.append(hand_over)
    bus.publish(Event("SIGNAL", {"direction": 1}, container_id="strategy_1"))
    by_type = {r[ROUTE].event_type: r for r in retention.take_all()}
    assert set(by_type) == {"SIGNAL", "ORDER"}
    assert by_type["ORDER"][PARENT] is None


def test_the_traced_code_s_exception_passes_through_unchanged_and_is_recorded() -> None:
    bus, retention = patched()
    error = ValueError("over the limit")

    def reject(event: Event) -> None:
        raise error

    bus.handlers.append(reject)
    with pytest.raises(ValueError) as raised:
        bus.publish(Event("ORDER", {"order_id": "o1"}))
    assert raised.value is error
    [record] = retention.take_all()
    assert record[ERROR] is error and record[END] >= record[START]
    assert dispatch.stack == []


def test_nothing_is_recorded_inside_suppress_tracing() -> None:
    bus, retention = patched()
    with tradetrace.suppress_tracing():
        assert bus.publish(Event("ORDER")) == 1
    assert retention.pending() == 0 and len(bus.published) == 1
    bus.publish(Event("ORDER"))
    assert retention.pending() == 1


def test_an_overriding_subclass_calling_the_patched_base_makes_one_record() -> None:
    """Both publish methods patched (a profile may list both): the event is recorded by
    the outer one only."""
    base, retention = patched()

    class Child(type(base)):  # type: ignore[misc]
        def publish(self, event: Any) -> int:
            return super().publish(event)

    table = DecisionTable(load_config(level="normal", env={}, run_id="r"), retention)
    Child.publish = traced_publish(Child.publish, table, dict(EVENT_FIELDS))
    assert Child().publish(Event("ORDER")) == 1
    [record] = retention.take_all()
    assert record[PARENT] is None


def test_an_event_the_table_cannot_decide_is_published_untraced_and_counted() -> None:
    bus, retention = patched()
    before = PublishStats.undecidable
    odd = Event(["ORDER"])  # an unhashable event type: no table lookup can take it
    assert bus.publish(odd) == 1
    assert bus.published == [odd] and retention.pending() == 0
    assert PublishStats.undecidable == before + 1


class UnreadablePayload(Event):
    @property  # type: ignore[override]
    def payload(self) -> Any:
        raise RuntimeError("payload gone")

    @payload.setter
    def payload(self, value: Any) -> None:
        pass


def test_a_payload_that_cannot_be_read_costs_the_snapshot_not_the_record() -> None:
    bus, retention = patched()
    before = PublishStats.unsnapshotable
    bus.publish(UnreadablePayload("ORDER", event_id="e1"))
    [record] = retention.take_all()
    assert record[SNAPSHOT] is None and record[SUBJECT][0] == "e1"
    assert PublishStats.unsnapshotable == before + 1


def test_a_root_event_carrying_a_traceparent_has_its_remote_cause() -> None:
    bus, retention = patched()
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    bus.publish(Event("ORDER", metadata={"traceparent": f"00-{trace_id}-{span_id}-01"}))
    bus.publish(Event("ORDER", metadata={"traceparent": "not a traceparent"}))
    remote, malformed = retention.take_all()
    assert remote[PARENT] is not None and remote[PARENT][IDS] == (trace_id, span_id)
    assert malformed[PARENT] is None


def test_a_signal_the_level_only_counts_keeps_three_fields_and_no_payload() -> None:
    """At MINIMAL a SIGNAL is a TALLY record: (direction, strategy, symbol), for the
    signal metrics; never a span, so no snapshot."""
    bus, retention = patched(level="minimal")
    bus.publish(Event("SIGNAL", {"direction": "LONG", "strategy_id": "s1", "symbol": "SPY",
                                 "strength": 0.7}, container_id="strategy_1"))
    [record] = retention.take_all()
    assert record[KIND] is TALLY
    assert record[SUBJECT] == ("LONG", "s1", "SPY") and record[SNAPSHOT] is None


class KeywordBus(Bus):
    def publish(self, event: Any, priority: int = 0, *, urgent: bool = False) -> Any:
        super().publish(event)
        return priority, urgent


def test_a_publish_with_more_parameters_gets_them_all() -> None:
    """Not ``(self, event)``: the generated function forwards ``*args, **kwargs``, and
    finds the event first among them."""
    bus, retention = patched(KeywordBus)
    assert bus.publish(Event("ORDER"), 5, urgent=True) == (5, True)
    assert bus.publish(event=Event("FILL", container_id="execution_1")) == (0, False)
    assert [r[ROUTE].event_type for r in retention.take_all()] == ["ORDER", "FILL"]


@pytest.mark.parametrize("name", ["not a name", "class", "1st"])
def test_field_names_that_are_not_attribute_names_are_refused(name: str) -> None:
    table = DecisionTable(load_config(level="normal", env={}, run_id="r"), ContainerBuffers())
    with pytest.raises(ValueError, match="not an attribute name"):
        traced_publish(Bus.publish, table, {**EVENT_FIELDS, "payload": name})


def test_the_original_is_left_as_it_was() -> None:
    publish = Bus.publish
    bus, _ = patched()
    assert Bus.publish is publish
    assert type(bus).publish.__wrapped__ is publish
