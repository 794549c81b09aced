"""A container's buffer on the publish path: when it wakes the worker, when the
publishing thread exports it itself, and that appends in between cost no wake-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradetrace.capture.profile import EVENT_FIELDS
from tradetrace.capture.publish import traced_publish
from tradetrace.config import load_config
from tradetrace.decide.table import DecisionTable
from tradetrace.retain.buffer import WAKE_AT, ContainerBuffer, Retention


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
    """Stands in for the export worker: counts wake-ups and inline exports."""

    def __init__(self, retention: Retention, drain_inline: bool = True) -> None:
        self.wakes = 0
        self.inline: list[int] = []
        self.drain_inline = drain_inline
        retention.wake = self.wake
        retention.export_inline = self.export_inline

    def wake(self) -> None:
        self.wakes += 1

    def export_inline(self, buffer: ContainerBuffer) -> None:
        self.inline.append(len(buffer.take()) if self.drain_inline else len(buffer.records))


def traced_bus(cap: int, tmp_path: Path) -> tuple[Bus, Retention, Calls]:
    retention = Retention()
    calls = Calls(retention)
    path = tmp_path / "tracing.yaml"
    path.write_text(f"tracing:\n  overrides:\n    portfolio_*: {{max_events: {cap}}}\n")
    config = load_config(level="normal", config_file=path, env={}, run_id="r")
    patched = type("PatchedBus", (Bus,), {})
    patched.publish = traced_publish(Bus.publish, DecisionTable(config, retention),
                                     dict(EVENT_FIELDS))
    return patched(), retention, calls


def test_a_full_buffer_wakes_the_worker_once_then_exports_inline_at_twice_the_cap(
    tmp_path: Path,
) -> None:
    bus, retention, calls = traced_bus(4, tmp_path)
    for _ in range(3):
        bus.publish(Fill())
    assert calls.wakes == 0
    bus.publish(Fill())  # the 4th: the cap
    assert calls.wakes == 1
    for _ in range(3):  # the worker has not come yet: no more wake-ups
        bus.publish(Fill())
    assert calls.wakes == 1 and calls.inline == []
    bus.publish(Fill())  # the 8th: twice the cap, the publisher exports itself
    assert calls.inline == [8] and calls.wakes == 1
    assert bus.seen == 8 and retention.pending() == 0


def test_taking_the_buffer_resets_its_threshold(tmp_path: Path) -> None:
    bus, retention, calls = traced_bus(4, tmp_path)
    for _ in range(5):
        bus.publish(Fill())
    assert calls.wakes == 1
    assert len(retention.take_all()) == 5  # the worker drains it
    for _ in range(4):
        bus.publish(Fill())
    assert calls.wakes == 2 and calls.inline == []


def test_a_large_buffer_wakes_the_worker_early_and_exports_inline_only_at_twice_its_cap(
    tmp_path: Path,
) -> None:
    """The cap bounds memory; the worker is woken after WAKE_AT records, so that records
    are exported young."""
    cap = 3 * WAKE_AT
    bus, retention, calls = traced_bus(cap, tmp_path)
    for _ in range(WAKE_AT - 1):
        bus.publish(Fill())
    assert calls.wakes == 0
    bus.publish(Fill())
    assert calls.wakes == 1
    for _ in range(2 * cap - WAKE_AT - 1):
        bus.publish(Fill())
    assert calls.wakes == 1 and calls.inline == []
    bus.publish(Fill())
    assert calls.inline == [2 * cap]
    for _ in range(WAKE_AT):  # taken: early again
        bus.publish(Fill())
    assert calls.wakes == 2


def test_a_buffer_the_worker_cannot_drain_keeps_asking() -> None:
    """If the inline export could not take the records (it raised, say), the next
    append asks again rather than growing past twice the cap silently."""
    retention = Retention()
    calls = Calls(retention, drain_inline=False)
    buffer = retention.buffer_for("portfolio_1", 2)
    for _ in range(6):
        buffer.add([])
    assert calls.wakes == 1
    assert calls.inline == [4, 5, 6]
