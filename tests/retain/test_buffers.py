"""A container's buffer on the publish path: when it wakes the worker, when it drops
(never exporting, waiting at most a moment for the worker), and that appends in between
cost no wake-up."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradetrace.capture.publish import traced_publish
from tradetrace.config import load_config
from tradetrace.decide.table import DecisionTable
from tradetrace.model.events import EVENT_FIELDS
from tradetrace.model.record import TRADE
from tradetrace.retain.buffer import WAKE_AT, ContainerBuffers
from tradetrace.retain.trades import NO_TRADE


@dataclass(frozen=True)
class Fill:
    event_type: str = "FILL"
    payload: dict[str, Any] = field(default_factory=dict)
    container_id: str | None = "portfolio_1"
    source_id: str | None = None


class Bus:
    def __init__(self) -> None:
        self.seen = 0

    def publish(self, event: Fill) -> None:
        self.seen += 1


class Calls:
    """Stands in for the export worker: counts wake-ups."""

    def __init__(self, buffers: ContainerBuffers) -> None:
        self.wakes = 0
        buffers.wake = self.wake

    def wake(self) -> None:
        self.wakes += 1


def traced_bus(cap: int, tmp_path: Path) -> tuple[Bus, ContainerBuffers, Calls]:
    buffers = ContainerBuffers()
    calls = Calls(buffers)
    path = tmp_path / "tracing.yaml"
    path.write_text(f"tracing:\n  overrides:\n    portfolio_*: {{max_events: {cap}}}\n")
    config = load_config(level="normal", config_file=path, env={}, run_id="r")
    patched = type("PatchedBus", (Bus,), {})
    patched.publish = traced_publish(Bus.publish, DecisionTable(config, buffers),
                                     dict(EVENT_FIELDS))
    return patched(), buffers, calls


def test_a_full_buffer_wakes_the_worker_once_then_drops_at_twice_the_cap(tmp_path: Path) -> None:
    """Past twice the cap the worker is behind: the publisher waits for it once (at most
    max_wait: no worker runs here), then drops, counted; the traced call still runs."""
    bus, buffers, calls = traced_bus(4, tmp_path)
    for _ in range(4):
        bus.publish(Fill())
    assert calls.wakes == 0
    bus.publish(Fill())  # the 5th finds the cap reached: the worker is woken
    assert calls.wakes == 1
    for _ in range(3):  # the worker has not come yet: no more wake-ups
        bus.publish(Fill())
    assert calls.wakes == 1 and buffers.waits == 0 and buffers.pending() == 8
    for _ in range(5):  # twice the cap held: one wait in vain, then every record dropped
        bus.publish(Fill())
    assert (buffers.waits, buffers.waits_in_vain, calls.wakes) == (1, 1, 2)
    assert buffers.pending() == 8 and buffers.dropped == 5
    assert bus.seen == 13


def test_a_worker_that_takes_the_buffer_while_the_publisher_waits_loses_nothing(
    tmp_path: Path,
) -> None:
    """The publisher waits on a condition; a worker thread that takes the buffer lets
    it go, and its record is kept."""
    bus, buffers, calls = traced_bus(4, tmp_path)
    buffers.max_wait = 30.0  # bounded, but far longer than the worker below needs
    taken: list[int] = []
    woken = threading.Event()
    buffers.wake = woken.set  # woken at the cap, and again by the waiting publisher

    def worker() -> None:
        while woken.wait(30):
            woken.clear()
            if buffers.hungry:
                taken.append(len(buffers.take_all()))
                buffers.fed()
                return

    thread = threading.Thread(target=worker)
    thread.start()
    for _ in range(9):
        bus.publish(Fill())
    thread.join(30)
    assert taken == [8] and (buffers.waits, buffers.waits_in_vain) == (1, 0)
    assert buffers.pending() == 1 and buffers.dropped == 0


def test_without_a_wait_a_full_buffer_drops_at_once(tmp_path: Path) -> None:
    bus, buffers, calls = traced_bus(4, tmp_path)
    buffers.max_wait = 0
    for _ in range(10):
        bus.publish(Fill())
    assert buffers.waits == 0 and buffers.dropped == 2 and bus.seen == 10


def test_taking_the_buffer_resets_its_thresholds(tmp_path: Path) -> None:
    """After a take the next filling wakes the worker again, and may wait again."""
    bus, buffers, calls = traced_bus(4, tmp_path)
    for _ in range(10):  # woken at the cap, and once more by the publisher that waits
        bus.publish(Fill())
    assert (calls.wakes, buffers.waits, buffers.dropped) == (2, 1, 2)
    assert len(buffers.take_all()) == 8  # the worker drains it
    for _ in range(4):
        bus.publish(Fill())
    assert calls.wakes == 2
    for _ in range(6):
        bus.publish(Fill())
    assert (calls.wakes, buffers.waits, buffers.dropped) == (4, 2, 4)


def test_a_large_buffer_wakes_the_worker_early_and_drops_only_at_twice_its_cap(
    tmp_path: Path,
) -> None:
    """The cap bounds memory; the worker is woken after WAKE_AT records, so that records
    are exported young."""
    cap = 3 * WAKE_AT
    bus, buffers, calls = traced_bus(cap, tmp_path)
    for _ in range(WAKE_AT):
        bus.publish(Fill())
    assert calls.wakes == 0
    bus.publish(Fill())
    assert calls.wakes == 1
    for _ in range(2 * cap - WAKE_AT - 1):
        bus.publish(Fill())
    assert calls.wakes == 1 and buffers.waits == 0 and buffers.dropped == 0
    bus.publish(Fill())
    assert buffers.waits == 1 and buffers.dropped == 1
    assert buffers.pending() == 2 * cap


def test_a_dropped_record_does_not_hold_back_what_it_caused() -> None:
    """Retention waits for a record's cause to be routed; a dropped cause never will be,
    so it is marked as no trade's before it goes."""
    buffers = ContainerBuffers(max_wait=0)
    Calls(buffers)
    buffer = buffers.buffer_for("portfolio_1", 1)
    records = [[None] * 10 for _ in range(4)]
    for record in records:
        buffer.add(record)
    assert buffers.dropped == 2
    assert [r[TRADE] for r in records] == [None, None, NO_TRADE, NO_TRADE]
