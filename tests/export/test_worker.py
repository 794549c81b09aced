"""ExportWorker (export/worker.py) with an in-memory sink: records built by hand
(tests/hand_records.py) put in a container buffer, a real SpanEncoder and RequestWriter,
and the worker driven through its public flush/shutdown, with and without its threads.
No sleeps: flush() and shutdown() wait on conditions with deadlines."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

from hand_records import DATA, Book, event, handler, route
from tradetrace.export import writer as writer_module
from tradetrace.export.accounting import account
from tradetrace.export.spans import SpanEncoder
from tradetrace.export.worker import BATCH_SPANS, ENCODE_ERROR, ExportWorker
from tradetrace.export.writer import (
    REJECTED,
    RETRY_FIRST_SECONDS,
    SHUTDOWN_TIMEOUT,
    SINK_FAILURE,
    SINK_RESTING,
)
from tradetrace.model.otlp_json import RequestWriter, decode_request
from tradetrace.retain.buffer import ContainerBuffers
from tradetrace.retain.policy import TailLimits, parse_policy
from tradetrace.retain.tail import TailRetention
from tradetrace.retain.trades import TradeRules

DEADLINE = 10.0  #: seconds a flush may take on a busy machine; never waited out when well


class MemorySink:
    """Keeps every line written (decoded), the threads that wrote, and can be told to
    fail, to report rejected spans, or to block until released."""

    def __init__(self) -> None:
        self.lines: list[list[str]] = []  #: the span names of each line
        self.threads: set[int] = set()
        self.fail_next = 0
        self.reject = 0
        self.gate: threading.Event | None = None
        self.writing = threading.Event()
        self.flushes = self.shutdowns = 0

    def write(self, line: bytes) -> int:
        self.threads.add(threading.get_ident())
        self.writing.set()
        if self.gate is not None:
            self.gate.wait(DEADLINE)
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("collector down")
        self.lines.append([s.name for s in decode_request(json.loads(line))])
        return self.reject

    def flush(self) -> None:
        self.flushes += 1

    def shutdown(self) -> None:
        self.shutdowns += 1

    @property
    def names(self) -> list[str]:
        return [name for line in self.lines for name in line]


def pipeline(tail: TailRetention | None = None) -> SimpleNamespace:
    sink = MemorySink()
    buffers = ContainerBuffers()
    worker = ExportWorker(buffers, SpanEncoder("r"), RequestWriter([], "tradetrace", "1"),
                          sink, tail=tail)
    return SimpleNamespace(sink=sink, buffers=buffers, worker=worker, tail=tail)


def put(p: SimpleNamespace, records: list) -> None:
    buffer = p.buffers.buffer_for(DATA, 100_000)
    for record in records:
        buffer.add(record)


def bars(n: int) -> list:
    bar_route = route("BAR", DATA)
    return [event(bar_route, {"symbol": "SPY", "close": 100.0 + i}) for i in range(n)]


def balanced(p: SimpleNamespace) -> object:
    """The accounting, checked: recorded = exported + dropped + pending."""
    a = account(p.buffers, p.worker, p.tail)
    assert a.recorded == a.exported + sum(a.dropped.values()) + a.pending, a
    return a


class TestExportWorker:
    def test_a_flush_without_threads_serves_everything_in_full_lines(self):
        p = pipeline()
        put(p, bars(BATCH_SPANS + 44))
        assert p.worker.flush(DEADLINE)

        assert [len(line) for line in p.sink.lines] == [BATCH_SPANS, 44]
        assert p.sink.names == ["BAR"] * (BATCH_SPANS + 44) and p.sink.flushes == 1
        stats = p.worker.stats
        assert (stats.taken, stats.exported, stats.batches_exported) == (
            BATCH_SPANS + 44, BATCH_SPANS + 44, 2)
        assert stats.queued == 0 and not +stats.dropped
        a = balanced(p)
        assert (a.recorded, a.exported, a.pending) == (BATCH_SPANS + 44, BATCH_SPANS + 44, 0)

    def test_a_running_worker_writes_on_its_writer_thread_and_shutdown_drains_it(self):
        p = pipeline()
        put(p, bars(3 * BATCH_SPANS + 7))
        p.worker.start()
        try:
            assert p.worker.flush(DEADLINE)
            assert len(p.sink.names) == 3 * BATCH_SPANS + 7
            assert p.sink.threads == {p.worker.writer._thread.ident}
            assert threading.get_ident() not in p.sink.threads

            put(p, bars(5))  # short of a line: written by the shutdown's drain
        finally:
            assert p.worker.shutdown(DEADLINE)
        p.worker._thread.join(DEADLINE)
        p.worker.writer._thread.join(DEADLINE)
        assert not p.worker._thread.is_alive() and not p.worker.writer.running
        assert len(p.sink.names) == 3 * BATCH_SPANS + 12 and p.sink.shutdowns == 1
        a = balanced(p)
        assert a.exported == a.recorded == 3 * BATCH_SPANS + 12 and a.pending == 0
        # stopped: a later flush runs on the caller's thread and still serves
        put(p, bars(2))
        assert p.worker.flush(DEADLINE) and len(p.sink.names) == 3 * BATCH_SPANS + 14

    def test_a_failed_write_is_counted_then_the_sink_rests(self, monkeypatch):
        clock = SimpleNamespace(now=100.0)
        monkeypatch.setattr(writer_module, "time",
                            SimpleNamespace(monotonic=lambda: clock.now))
        p = pipeline()
        p.sink.fail_next = 1
        put(p, bars(BATCH_SPANS + 3))
        assert p.worker.flush(DEADLINE)

        stats = p.worker.stats
        # the first line failed; the second, met while the sink rests, is not tried
        assert +stats.dropped == {SINK_FAILURE: BATCH_SPANS, SINK_RESTING: 3}
        assert stats.export_errors == 1 and "collector down" in stats.last_error
        assert p.sink.lines == [] and balanced(p).pending == 0

        put(p, bars(4))  # still resting: dropped before being encoded
        assert p.worker.flush(DEADLINE)
        assert stats.dropped[SINK_RESTING] == 3 + 4 and p.sink.lines == []

        clock.now += RETRY_FIRST_SECONDS  # rested: the sink is tried again
        put(p, bars(2))
        assert p.worker.flush(DEADLINE)
        assert p.sink.names == ["BAR", "BAR"] and stats.exported == 2
        a = balanced(p)
        assert a.recorded == BATCH_SPANS + 9 and a.dropped == {
            SINK_FAILURE: BATCH_SPANS, SINK_RESTING: 7}

    def test_spans_a_receiver_rejects_are_counted_as_dropped(self):
        p = pipeline()
        p.sink.reject = 2
        put(p, bars(10))
        assert p.worker.flush(DEADLINE)
        assert p.worker.stats.exported == 8 and p.worker.stats.dropped[REJECTED] == 2
        assert balanced(p).pending == 0

    def test_a_record_that_cannot_be_encoded_costs_only_itself(self):
        p = pipeline()
        good = bars(5)
        orphan = handler(route("BAR", DATA, debug=True), print, None)  # no event: no span
        put(p, good[:2] + [orphan] + good[2:])
        assert p.worker.flush(DEADLINE)
        assert p.sink.names == ["BAR"] * 5
        assert +p.worker.stats.dropped == {ENCODE_ERROR: 1}
        assert p.worker.stats.build_errors == 1
        a = balanced(p)
        assert (a.recorded, a.exported, a.dropped) == (6, 5, {ENCODE_ERROR: 1})

    def test_with_trade_retention_the_counts_include_its_drops_and_trade_spans(self):
        tail = TailRetention(TradeRules(), TailLimits())
        p = pipeline(tail)
        hold = parse_policy({"policy": "trade_complete"}, "retention")
        kept, dropped = Book(), Book(hold, portfolio="portfolio_2")
        put(p, kept.round_trip("WIN", 5.0) + dropped.round_trip("DROP", 5.0)
            + kept.opening("OPEN") + bars(3))
        assert p.worker.flush(DEADLINE)

        stats = p.worker.stats
        assert stats.exported == 6 + 3 + 3 and stats.derived_exported == 1
        assert p.sink.names.count("trade") == 1
        a = balanced(p)
        assert a.dropped == {"retention_policy": 6} and a.pending == 0
        assert tail.open_trades == 1

        assert p.worker.flush(DEADLINE, finish=True)  # the run ended: OPEN is incomplete
        assert stats.derived_exported == 2 and tail.open_trades == 0
        assert balanced(p).pending == 0

    def test_a_shutdown_past_its_deadline_abandons_what_is_left(self):
        p = pipeline()
        p.sink.gate = threading.Event()  # the sink hangs until released
        put(p, bars(BATCH_SPANS + 10))
        p.worker.start()
        try:
            assert p.sink.writing.wait(DEADLINE)  # the first line is being written
            assert not p.worker.shutdown(0.1)
        finally:
            p.sink.gate.set()
        p.worker._thread.join(DEADLINE)  # its last pass made the rest, then it stopped
        p.worker.writer._thread.join(DEADLINE)
        assert not p.worker._thread.is_alive() and not p.worker.writer.running
        stats = p.worker.stats
        # the write under way landed; the line queued behind it was not written
        assert stats.exported == BATCH_SPANS and +stats.dropped == {SHUTDOWN_TIMEOUT: 10}
        assert p.sink.shutdowns == 0  # an abandoned sink is not shut down cleanly
        assert balanced(p).pending == 0
