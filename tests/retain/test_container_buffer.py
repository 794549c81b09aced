"""ContainerBuffer and ContainerBuffers (retain/buffer.py) driven directly, as the publish path
(``add``, ``full``) and the export worker (``take_all``, ``fed``) drive them; no bus,
no table, no worker thread. tests/retain/test_buffers.py drives the same through the
generated publish."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tradetrace.model.record import TRADE
from tradetrace.retain.buffer import WAKE_AT, ContainerBuffers
from tradetrace.retain.trades import NO_TRADE


def records(n: int, start: int = 0) -> list[list[Any]]:
    """``n`` records told apart by their first slot."""
    return [[start + i] + [None] * 10 for i in range(n)]


class Wakes:
    """Stands in for the export worker's wake-up."""

    def __init__(self, retention: ContainerBuffers) -> None:
        self.count = 0
        retention.wake = self.wake

    def wake(self) -> None:
        self.count += 1


def test_one_buffer_per_container_its_cap_from_the_first_ask() -> None:
    retention = ContainerBuffers()
    buffer = retention.buffer_for("portfolio_1", 10)
    assert retention.buffer_for("portfolio_1", 500) is buffer
    assert (buffer.container, buffer.cap, buffer.hard) == ("portfolio_1", 10, 20)
    assert buffer.wake_at == 10 == buffer.limit  # a small cap wakes the worker at the cap
    large = retention.buffer_for("data_1", 10 * WAKE_AT)
    assert large.wake_at == WAKE_AT and large is not buffer
    assert retention.all() == [buffer, large]


def test_take_returns_the_records_oldest_first_and_empties_the_buffer() -> None:
    retention = ContainerBuffers()
    Wakes(retention)
    buffer = retention.buffer_for("portfolio_1", 4)
    added = records(6)
    for record in added:
        buffer.add(record)
    assert retention.pending() == 6
    assert buffer.take() == added
    assert buffer.take() == [] and retention.pending() == 0


def test_the_worker_is_woken_once_per_filling() -> None:
    """At ``wake_at`` the limit rises to the hard cap: later appends cost no wake-up,
    until a take lowers it again."""
    retention = ContainerBuffers(max_wait=0)
    wakes = Wakes(retention)
    buffer = retention.buffer_for("portfolio_1", 4)
    for record in records(4):
        buffer.add(record)
    assert wakes.count == 0 and buffer.limit == 4
    buffer.add(records(1)[0])
    assert wakes.count == 1 and buffer.limit == buffer.hard == 8
    for record in records(3):
        buffer.add(record)
    assert wakes.count == 1
    buffer.take()
    assert buffer.limit == 4
    for record in records(5):
        buffer.add(record)
    assert wakes.count == 2


def test_past_the_hard_cap_records_are_dropped_counted_and_of_no_trade() -> None:
    retention = ContainerBuffers(max_wait=0)
    Wakes(retention)
    buffer = retention.buffer_for("portfolio_1", 2)
    kept, dropped = records(4), records(3, start=100)
    for record in kept + dropped:
        buffer.add(record)
    assert [r[0] for r in buffer.records] == [0, 1, 2, 3]
    assert buffer.dropped == 3 == retention.dropped
    assert all(r[TRADE] is NO_TRADE for r in dropped)
    assert all(r[TRADE] is None for r in kept)


def test_a_full_buffer_s_publisher_waits_once_per_filling() -> None:
    """The wait is bounded (here: the buffer can never be taken, so it ends at
    ``max_wait``); after one wait in vain, further records drop without waiting."""
    retention = ContainerBuffers(max_wait=0.001)
    Wakes(retention)
    buffer = retention.buffer_for("portfolio_1", 1)
    for record in records(5):
        buffer.add(record)
    assert (retention.waits, retention.waits_in_vain, buffer.dropped) == (1, 1, 3)


def test_a_wait_ends_as_soon_as_the_buffer_has_room() -> None:
    """``wait_for_take`` returns True without waiting out ``max_wait`` when the worker
    has taken the buffer already."""
    retention = ContainerBuffers(max_wait=60.0)
    Wakes(retention)
    buffer = retention.buffer_for("portfolio_1", 1)
    assert retention.wait_for_take(buffer) is True
    assert (retention.waits, retention.waits_in_vain) == (1, 0)
    retention.fed()
    assert retention.hungry is False


def test_without_max_wait_nobody_waits() -> None:
    retention = ContainerBuffers(max_wait=0)
    buffer = retention.buffer_for("portfolio_1", 1)
    assert retention.wait_for_take(buffer) is False and retention.waits == 0


def test_take_all_takes_whole_buffers_until_the_limit() -> None:
    retention = ContainerBuffers()
    Wakes(retention)
    for name, n in (("a", 3), ("b", 3), ("c", 3)):
        buffer = retention.buffer_for(name, 100)
        for record in records(n):
            buffer.add(record)
    assert len(retention.take_all(limit=4)) == 6  # a's and b's: buffers are not split
    assert retention.pending() == 3
    assert len(retention.take_all()) == 3 and retention.pending() == 0


def test_a_hungry_take_serves_the_buffers_publishers_wait_for_first() -> None:
    retention = ContainerBuffers(max_wait=0)
    Wakes(retention)
    quiet = retention.buffer_for("data_1", 100)
    quiet.add(records(1, start=500)[0])
    full = retention.buffer_for("portfolio_1", 2)
    for record in records(4):
        full.add(record)
    retention.hungry = True  # as a waiting publisher leaves it
    assert [r[0] for r in retention.take_all(limit=1)] == [0, 1, 2, 3]
    retention.fed()
    assert [r[0] for r in retention.take_all()] == [500]


def test_a_failing_wake_up_never_reaches_the_publisher(
    caplog: pytest.LogCaptureFixture,
) -> None:
    retention = ContainerBuffers(max_wait=0)

    def broken() -> None:
        raise RuntimeError("worker gone")

    retention.wake = broken
    buffer = retention.buffer_for("portfolio_1", 1)
    with caplog.at_level(logging.ERROR, logger="tradetrace.retain.buffer"):
        for record in records(3):
            buffer.add(record)
    assert "handling a full buffer failed" in caplog.text
