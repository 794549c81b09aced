"""The export worker writes full request lines: spans of small passes wait for the next
pass instead of making a line (an envelope, a write, a wake-up of the writer) each, and
are written when a flush asks for them, when the run ends or when they have waited an
interval. Every span is accounted for meanwhile (pending, in the worker's hands)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from hand_worker import hand_built
from tradetrace.export import worker as worker_module
from tradetrace.export.accounting import account
from tradetrace.export.worker import BATCH_SPANS


class LineSink:
    """Keeps the number of spans of each line written."""

    def __init__(self) -> None:
        self.lines: list[int] = []

    def write(self, line: bytes) -> None:
        request = json.loads(line)
        self.lines.append(len(request["resourceSpans"][0]["scopeSpans"][0]["spans"]))

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


class Pipeline(SimpleNamespace):
    def publish_bars(self, demo: Any, n: int) -> None:
        for i in range(n):
            self.bus.publish(demo.Event(event_type="BAR", container_id="data_x",
                                        payload={"symbol": "SPY", "close": 100.0 + i}))

    def accounting(self) -> Any:
        return account(self.buffers, self.worker, self.tail)


@pytest.fixture
def pipeline(demo: Any) -> Pipeline:
    """A worker built by hand and never started: the test drives its passes."""
    sink = LineSink()
    return Pipeline(sink=sink, **vars(hand_built(demo, sink)))


def test_small_passes_make_full_lines(pipeline, demo):
    passes = BATCH_SPANS // 10 + 1
    for _ in range(passes):
        pipeline.publish_bars(demo, 10)
        pipeline.worker._pass(drain=False)
    assert pipeline.sink.lines == [BATCH_SPANS]
    waiting = 10 * passes - BATCH_SPANS
    before = pipeline.accounting()
    assert (before.recorded, before.exported, before.pending) == (
        10 * passes, BATCH_SPANS, waiting)
    assert before.buffered == before.held == before.writing == 0  # in the worker's hands
    pipeline.worker._pass()  # a flush's pass (drain) writes the rest
    assert pipeline.sink.lines == [BATCH_SPANS, waiting]
    after = pipeline.accounting()
    assert (after.exported, after.pending) == (10 * passes, 0)


def test_spans_short_of_a_line_wait_at_most_an_interval(pipeline, demo, monkeypatch):
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock.now)
    pipeline.publish_bars(demo, 5)
    pipeline.worker._pass(drain=False)
    assert pipeline.sink.lines == []
    clock.now += pipeline.worker.interval / 2
    pipeline.publish_bars(demo, 5)
    pipeline.worker._pass(drain=False)
    assert pipeline.sink.lines == []  # the oldest waited half an interval
    clock.now += pipeline.worker.interval / 2
    pipeline.worker._pass(drain=False)  # nothing new, but the oldest waited an interval
    assert pipeline.sink.lines == [10]


def test_a_flush_writes_every_span_a_running_worker_carried(demo, tmp_path):
    """With the worker's thread: spans of passes woken by a buffer wait for a full
    line, and a flush writes them all (the file has every span recorded)."""
    import tradetrace

    session = tradetrace.configure("normal", profile="demo", output=str(tmp_path),
                                   run_id="lines")
    try:
        bus = demo.EventBus()
        for i in range(3 * BATCH_SPANS + 7):
            bus.publish(demo.Event(event_type="BAR", container_id="data_x",
                                   payload={"symbol": "SPY", "close": 100.0 + i}))
        assert tradetrace.flush(10.0)
        accounting = session.accounting()
        assert accounting.exported == accounting.recorded == 3 * BATCH_SPANS + 7
        assert accounting.pending == 0
    finally:
        tradetrace.shutdown()
    written = sum(len(r["scopeSpans"][0]["spans"])
                  for path in tmp_path.glob("lines-*.jsonl") if "metrics" not in path.name
                  for line in path.read_text().splitlines()
                  for r in json.loads(line)["resourceSpans"])
    assert written == 3 * BATCH_SPANS + 7
