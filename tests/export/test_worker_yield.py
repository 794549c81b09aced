"""The export worker hands the GIL back to the traced program while it routes and
encodes a batch: by the clock (every YIELD_SECONDS), not after every chunk (each
hand-over costs both threads a wake-up), and only on the worker's own thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hand_worker import hand_built
from tradetrace.export import worker as worker_module
from tradetrace.retain import tail as tail_module


class FakeTime:
    """perf_counter advances ``step`` seconds per call; sleep(0) calls are counted."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self.yields = 0

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds == 0
        self.yields += 1


class CountingSink:
    def __init__(self) -> None:
        self.lines = 0

    def write(self, line: bytes) -> None:
        self.lines += 1

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def encode_on(worker_thread: bool, step: float, demo: Any,
              tmp_path: Path) -> tuple[FakeTime, int]:
    """A worker built by hand and never started: this test drives its export of
    records published on a traced bus."""
    built = hand_built(demo, CountingSink())
    bus, buffers, worker = built.bus, built.buffers, built.worker
    chunks = 10
    for n in range(chunks * worker_module.YIELD_EVERY):
        bus.publish(demo.Event(event_type="BAR", container_id="data_x",
                               payload={"symbol": "SPY", "close": 100.0 + n}))
    records = buffers.take_all()
    fake = FakeTime(step)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker_module, "time", SimpleNamespace(
            perf_counter=fake.perf_counter, sleep=fake.sleep, monotonic=time.monotonic))
        if worker_thread:  # as if this were the worker's own thread
            patch.setattr(worker, "_thread", threading.current_thread())
        worker._export(records)
    return fake, worker.stats.exported


def test_the_worker_yields_by_the_clock_not_per_chunk(demo, tmp_path):
    # 10 chunks, the clock moving 0.1 ms per look: about one hand-over per 0.5 ms
    fake, exported = encode_on(True, worker_module.YIELD_SECONDS / 5, demo, tmp_path)
    assert exported == 10 * worker_module.YIELD_EVERY
    assert 1 <= fake.yields <= 2


def test_a_fast_encode_does_not_hand_over_at_all(demo, tmp_path):
    fake, exported = encode_on(True, 0.0, demo, tmp_path)
    assert exported == 10 * worker_module.YIELD_EVERY
    assert fake.yields == 0


def test_a_slow_export_hands_over_at_every_chance(demo, tmp_path):
    """With the clock past YIELD_SECONDS at every look, each chance is taken: between
    routing's chunks of records, after each chunk of spans encoded, and between request
    lines."""
    fake, _ = encode_on(True, worker_module.YIELD_SECONDS, demo, tmp_path)
    records = 10 * worker_module.YIELD_EVERY
    between_routing_chunks = -(-records // tail_module.PAUSE_EVERY) - 1
    between_lines = -(-records // worker_module.BATCH_SPANS) - 1
    assert between_routing_chunks >= 1 and between_lines >= 1
    assert fake.yields == between_routing_chunks + 10 + between_lines


def test_another_thread_driving_the_export_keeps_the_gil(demo, tmp_path):
    """Only the worker's own thread hands over: a flush on the caller's thread (no
    worker running) has no trading thread to make room for."""
    fake, exported = encode_on(False, worker_module.YIELD_SECONDS, demo, tmp_path)
    assert exported == 10 * worker_module.YIELD_EVERY
    assert fake.yields == 0
