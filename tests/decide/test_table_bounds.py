"""The decision table is bounded whatever ids the traced system makes up: past its caps,
events of new containers are recorded in the overflow container, without deciding
anything per event, and counted."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

import toybus
from tradetrace import conventions as conv
from tradetrace.capture.publish import traced_publish
from tradetrace.config import load_config
from tradetrace.decide import table as tables
from tradetrace.decide.levels import TraceLevel
from tradetrace.decide.table import MAX_CONTAINERS, OVERFLOW_CONTAINER, DecisionTable
from tradetrace.model.events import EVENT_FIELDS
from tradetrace.retain.buffer import ContainerBuffers
from tradetrace.testing import recording

EVENTS = 100_000


@dataclass
class Event:
    event_type: str
    container_id: Any = None
    source_id: Any = None
    payload: dict[str, Any] = field(default_factory=dict)


class CountingTable(DecisionTable):
    """Counts how often an event had to be decided (the slow path)."""

    decided = 0

    def resolve(self, event: Any) -> Any:
        self.decided += 1
        return super().resolve(event)


def _traced_bus(level: str = "normal") -> tuple[Any, CountingTable, ContainerBuffers]:
    class Bus:
        def publish(self, event: Event) -> None:
            pass

    buffers = ContainerBuffers()
    decisions = CountingTable(load_config(level=level, env={}, run_id="r"), buffers)
    Bus.publish = traced_publish(Bus.publish, decisions, dict(EVENT_FIELDS))  # type: ignore[method-assign]
    return Bus(), decisions, buffers


def _recorded(buffers: ContainerBuffers) -> dict[str, int]:
    return {b.container: len(b.records) for b in buffers.all() if b.records}


@pytest.mark.parametrize("ids", ["container", "source"])
def test_made_up_ids_stay_within_the_caps_and_are_recorded_in_the_overflow(ids, caplog):
    """100k events with unique container (or source) ids: MAX_CONTAINERS buffers plus
    the overflow's, every event recorded, those past the cap counted, said once, and
    decided once each only up to the cap."""
    bus, decisions, buffers = _traced_bus()
    with caplog.at_level(logging.WARNING, logger="tradetrace"):
        for i in range(EVENTS):
            made_up = f"portfolio_{i}"
            bus.publish(Event("FILL", container_id=made_up) if ids == "container"
                        else Event("FILL", source_id=made_up))
    recorded = _recorded(buffers)
    assert len(buffers.all()) == MAX_CONTAINERS + 1
    assert len(decisions.routes) == MAX_CONTAINERS + 1
    assert len(decisions) <= tables.MAX_ROUTES
    # no worker here: past twice its cap the overflow buffer drops, counted
    assert sum(recorded.values()) + buffers.dropped == EVENTS
    assert recorded[OVERFLOW_CONTAINER] + buffers.dropped == EVENTS - MAX_CONTAINERS
    assert decisions.overflow_events == EVENTS - MAX_CONTAINERS
    assert decisions.decided == MAX_CONTAINERS + 1  # then the per-type dict answers
    said = [r for r in caplog.records if OVERFLOW_CONTAINER in r.getMessage()]
    assert len(said) == 1


def test_events_without_a_container_id_are_decided_once_per_source():
    """A repeated source id is decided once; its route is not made again per event."""
    bus, decisions, buffers = _traced_bus()
    for _ in range(1000):
        bus.publish(Event("FILL", source_id="portfolio_1"))
    assert decisions.decided == 1
    assert len(decisions.routes) == 1
    assert _recorded(buffers) == {"portfolio_1": 1000}


def test_a_known_container_keeps_its_buffer_after_the_cap(monkeypatch):
    """Past the cap, a container that already has a buffer still gets its own route
    for an event type it publishes for the first time (its trade is not split)."""
    monkeypatch.setattr(tables, "MAX_CONTAINERS", 4)
    bus, decisions, buffers = _traced_bus()
    for i in range(10):
        bus.publish(Event("FILL", container_id=f"portfolio_{i}"))
    bus.publish(Event("ORDER", container_id="portfolio_9"))  # an ORDER route to overflow
    bus.publish(Event("ORDER", container_id="portfolio_1"))
    assert _recorded(buffers) == {
        "portfolio_0": 1, "portfolio_1": 2, "portfolio_2": 1, "portfolio_3": 1,
        OVERFLOW_CONTAINER: 7,
    }


def test_made_up_event_types_share_one_overflow_route(monkeypatch):
    """Past MAX_OVERFLOW_TYPES event types as well, events share one route named after
    the overflow container; still recorded, still bounded."""
    monkeypatch.setattr(tables, "MAX_CONTAINERS", 1)
    monkeypatch.setattr(tables, "MAX_OVERFLOW_TYPES", 2)
    bus, decisions, buffers = _traced_bus()
    for i in range(50):
        bus.publish(Event(f"CUSTOM_{i}", container_id=f"portfolio_{i}"))
    names = {(route.container, route.event_type) for route in decisions.routes}
    assert names == {("portfolio_0", "CUSTOM_0"), (OVERFLOW_CONTAINER, "CUSTOM_1"),
                     (OVERFLOW_CONTAINER, "CUSTOM_2"), (OVERFLOW_CONTAINER, OVERFLOW_CONTAINER)}
    assert sum(_recorded(buffers).values()) == 50


def test_levels_going_back_and_forth_make_no_new_routes():
    """Each reconfigure empties the caches; routes that come out the same are reused."""
    bus, decisions, _ = _traced_bus()
    config = load_config(level="normal", env={}, run_id="r")
    for _ in range(20):
        for level in ("debug", "normal"):
            decisions.reconfigure(config.with_level(level))
            bus.publish(Event("FILL", container_id="portfolio_1"))
            bus.publish(Event("FILL", source_id="execution_1"))
    assert sorted((r.container, r.handler_spans) for r in decisions.routes) == [
        ("execution_1", False), ("execution_1", True), ("portfolio_1", False),
        ("portfolio_1", True)]


def test_overflow_events_are_spans_of_the_overflow_container(monkeypatch):
    """End to end: the spans past the cap name the overflow container and keep their
    own type, source and payload; the session's table counts them."""
    monkeypatch.setattr(tables, "MAX_CONTAINERS", 2)
    with recording("normal", profile=toybus.PROFILE) as spans:
        bus = toybus.Bus()
        for i in range(5):
            bus.publish(toybus.Message("FILL", {"order_id": f"o{i}"}, node=f"execution_{i}",
                                       origin=f"broker_{i}"))
        fills = spans.events("FILL")
        table = spans.session.table
    assert [s.attributes[conv.CONTAINER_ID] for s in fills] == [
        "execution_0", "execution_1", OVERFLOW_CONTAINER, OVERFLOW_CONTAINER, OVERFLOW_CONTAINER]
    assert [s.attributes[conv.ORDER_ID] for s in fills] == [f"o{i}" for i in range(5)]
    assert fills[4].attributes[conv.SOURCE_ID] == "broker_4"
    assert table.overflow_events == 3


def test_the_overflow_container_follows_its_own_policy(monkeypatch):
    """Past the cap, new containers are decided by the overflow container's policy:
    at MINIMAL an ORDER is traced, a BAR is not (and neither is counted twice)."""
    monkeypatch.setattr(tables, "MAX_CONTAINERS", 1)
    bus, decisions, buffers = _traced_bus(level="minimal")
    assert decisions._config.policy_for(OVERFLOW_CONTAINER).level is TraceLevel.MINIMAL
    for i in range(3):
        bus.publish(Event("ORDER", container_id=f"portfolio_{i}"))
        bus.publish(Event("BAR", container_id=f"data_{i}"))
    assert _recorded(buffers) == {"portfolio_0": 1, OVERFLOW_CONTAINER: 2}
    assert decisions.overflow_events == 2
