"""The export worker: drains the buffers, routes records through retention, encodes.

One daemon thread, woken by a buffer (``retain/buffer.py``), by a flush request or every
``interval`` seconds. It is the only thread that routes or encodes; the lines it makes
go to the sink writer (``writer.py``), the only thread that does I/O. A publishing
thread never exports: when its buffer is full it may wait a moment for this thread to
take the buffer (``ContainerBuffers.wait_for_take``), which this thread does between chunks of
work, and never while waiting on I/O, because it never waits on I/O.
:meth:`ExportWorker.flush` asks the two threads and waits for them with a deadline.

Every record taken from the buffers is accounted for (``export/accounting.py``):
written, or dropped with a reason; what is neither is pending (with retention, or in
these threads' hands). Failures are counted and logged once per kind; they never
propagate.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence

from ..model.otlp_json import UNENCODABLE, RequestWriter
from ..model.record import (
    EVENT,
    F_CAUSATION,
    F_CORRELATION,
    F_EVENT_ID,
    F_SOURCE,
    F_TARGET,
    KIND,
    SNAPSHOT,
    SUBJECT,
    Record,
)
from ..model.snapshot import SnapshotStats
from ..retain.buffer import ContainerBuffers
from ..retain.tail import TailRetention
from .sinks import SpanSink
from .spans import SpanEncoder
from .writer import SINK_RESTING, SinkWriter, WriteStats

logger = logging.getLogger(__name__)

BATCH_SPANS = 256  #: spans per request line (the Collector reads lines up to 1 MiB)

#: The worker hands the GIL back to the trading thread after encoding for this long:
#: a thread that holds it is only asked to let go every 5 ms (sys.getswitchinterval()),
#: which would stall the traced program's publish by that much while we encode. Not
#: more often: each hand-over costs both threads a wake-up, which after every chunk of
#: spans (~0.1 ms) added a third to NORMAL's cost in the demo backtest.
YIELD_SECONDS = 0.0002
YIELD_EVERY = 32  #: spans encoded between two looks at the clock

ENCODE_ERROR = "encode_error"  #: drop reason: the record could not be encoded
#: Records the worker takes at most in one pass (and beyond what it is working on, for
#: publishers that wait): a publisher faster than the worker then waits or drops at its
#: buffer, instead of memory growing in the worker's hands.
MAX_IN_HAND = 50_000


#: kept fields that are ids: a framework's id objects are written as their text
_ID_FIELDS = frozenset({F_EVENT_ID, F_SOURCE, F_CAUSATION, F_CORRELATION, F_TARGET})


class ExportStats(WriteStats):
    """The writer's figures (export/writer.py) and the worker's own."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0  #: records taken from the buffers

    @property
    def spans_exported(self) -> int:
        """Every span written: recorded ones and trade/summary spans."""
        return self.exported + self.derived_exported

    @property
    def build_errors(self) -> int:
        return self.dropped[ENCODE_ERROR]


class ExportWorker:
    def __init__(
        self,
        buffers: ContainerBuffers,
        encoder: SpanEncoder,
        request: RequestWriter,
        sink: SpanSink,
        interval: float = 0.5,
        tail: TailRetention | None = None,
    ) -> None:
        self.buffers = buffers
        self.encoder = encoder
        self.request = request
        self.sink = sink
        self.interval = interval
        self.tail = tail  #: trade-aware retention; None: every record is exported
        self.stats = ExportStats()
        self.writer = SinkWriter(sink, self.stats)
        #: taking from the buffers, and reading the accounting: a reader never sees
        #: records between the buffers and ``taken``. Held for microseconds, never
        #: across I/O.
        self.ledger = threading.Lock()
        self._wake = threading.Event()
        self._requests = threading.Condition()  #: flush requests (``_requested``)
        self._requested = 0
        self._finish = False  #: a request also ends the run (flush(finish=True))
        self._stopping = False
        self._exited = False  #: the thread has returned (set under ``_requests``)
        self._thread: threading.Thread | None = None
        self._more: list[Record] = []  #: taken for a waiting publisher mid-pass
        self._yield_at = 0.0  #: when the worker next hands the GIL back (_pause)
        self._carry: list[str] = []  #: spans encoded, short of a line, for the next pass
        adapter = encoder.adapter
        #: events kept whole on the publish path: their payload is read here, once taken
        self._payload_of = adapter.payload_of if adapter.deferred_payload else None
        self._carried_derived: list[int] = []  #: which of them are retention's own spans
        self._carried_at = 0.0  #: when the oldest of them was carried (monotonic)
        self._drops_said = False
        #: called on the worker's thread after each pass with the CPU time that pass
        #: took on this thread (the session judges load with it)
        self.after_export: Callable[[float], None] | None = None
        buffers.wake = self._wake.set

    def start(self) -> None:
        self.writer.start()
        self._thread = threading.Thread(target=self._run, name="tradetrace-export", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        served = 0  #: the last flush request served
        while True:
            woken = self._wake.wait(self.interval)
            self._wake.clear()
            with self._requests:
                target, finish, self._finish = self._requested, self._finish, False
                stopping = self._stopping
            # Spans short of a line wait for the next pass, unless a flush asked for
            # them, the run ends, or nothing new came within an interval.
            drain = target != served or finish or stopping or not woken
            served = target
            try:
                cpu = time.thread_time()
                self._pass(finish, drain)
                if self.after_export is not None:
                    self.after_export(time.thread_time() - cpu)
            except Exception as exc:  # keep the worker alive whatever happens
                self.stats.failure("export loop", exc)
            if drain:  # a flush request is served once the lines before it are written
                self.writer.mark(target)  # (only then: a mark wakes the writer thread)
            if stopping:
                with self._requests:
                    if self._requested == target:
                        self._exited = True
                        self.writer.stop()
                        return

    # taking ----------------------------------------------------------------------------
    def _take(self, limit: int = MAX_IN_HAND) -> list[Record]:
        """What is buffered now (up to ``limit`` records); a publisher waiting for its
        buffer is let go."""
        buffers = self.buffers
        with self.ledger:
            records = buffers.take_all(limit)
            self.stats.taken += len(records)
        if buffers.hungry:
            buffers.fed()
        if self._payload_of is not None:
            self._read_payloads(records)
        return records

    def _read_payloads(self, records: list[Record]) -> None:
        """Events the publish path kept whole (model/path_adapters.py ``PathAdapter``) get their
        payload now, a mapping like any snapshot, and their ids as text (a framework's id
        objects), before retention or packing reads them."""
        payload_of = self._payload_of
        for record in records:
            if record[KIND] is not EVENT:
                continue
            event = record[SNAPSHOT]
            if event is not None and event.__class__ is not dict:
                try:
                    record[SNAPSHOT] = payload_of(event)  # type: ignore[misc]
                except Exception:  # the span goes without payload attributes
                    record[SNAPSHOT] = None
                    SnapshotStats.unreadable += 1
            fields = record[SUBJECT]
            if fields.__class__ is tuple:
                record[SUBJECT] = tuple(
                    str(value) if i in _ID_FIELDS and value is not None
                    and value.__class__ is not str else value
                    for i, value in enumerate(fields))

    def _pass(self, finish: bool = False, drain: bool = True) -> None:
        """Take everything buffered now and export it, with whatever is taken for
        waiting publishers meanwhile, MAX_IN_HAND records at a time; ``finish``: then
        end the run. Spans short of a full line wait for the next pass (``_lines``)
        unless ``drain``, or they have waited an interval."""
        records = self._take()
        self._say_buffer_drops()
        while True:
            full = len(records) >= MAX_IN_HAND  # more may wait in the buffers
            self._export(records, carry=True)
            records, self._more = self._more, []
            if not records and full:
                records = self._take()
            if not records:
                break
        if finish:
            self._export([], finish=True, carry=True)
        if self._carry and (drain or time.monotonic() - self._carried_at >= self.interval):
            self._lines([], 0, False, None)

    def _say_buffer_drops(self) -> None:
        """Records the publish path dropped are counted there and said here, once: a
        log line is I/O, which the publishing thread never does."""
        if not self._drops_said and self.buffers.dropped:
            self._drops_said = True
            logger.warning("tradetrace: the export worker fell behind and full container "
                           "buffers dropped records (logged once; counted in "
                           "stats()['accounting']['dropped']['buffer_full'])")

    def _pause(self) -> None:
        """Between chunks of work: let a publisher waiting for its buffer go, and hand
        the GIL back if this worker has held it for YIELD_SECONDS."""
        if self.buffers.hungry and len(self._more) < MAX_IN_HAND:
            self._more += self._take(MAX_IN_HAND - len(self._more))
            time.sleep(0)  # the publisher runs on at once
            self._yield_at = time.perf_counter() + YIELD_SECONDS
        elif time.perf_counter() >= self._yield_at:
            time.sleep(0)  # releases the GIL: a waiting publisher runs now, not in 5 ms
            self._yield_at = time.perf_counter() + YIELD_SECONDS

    # routing and encoding --------------------------------------------------------------
    def _export(self, records: Sequence[Record], finish: bool = False,
                carry: bool = False) -> None:
        """Route and encode ``records`` and write their spans; ``carry``: spans short of
        a full line wait in ``_carry`` for the next call."""
        stats = self.stats
        records = list(records)
        extra: Sequence[object] = ()
        # Only the worker's own thread hands the GIL back (a flush without a worker
        # thread runs on the caller's).
        pause = self._pause if threading.current_thread() is self._thread else None
        self._yield_at = time.perf_counter() + YIELD_SECONDS
        correlator = self.encoder.correlator
        if correlator is not None and records:
            try:
                correlator.correlate(records)
            except Exception as exc:  # the batch goes on as published
                stats.failure("correlation by id", exc)
        if self.tail is not None and (records or finish):
            try:
                records, extra = self.tail.release(records, finish, pause)
            except Exception as exc:  # retention broke: export the batch as it is
                stats.failure("retention", exc)
        if not records and not extra:
            return
        if self.writer.resting:  # the sink failed a moment ago: do not encode for nothing
            stats.dropped[SINK_RESTING] += len(records)
            stats.derived_lost += len(extra)
            return
        spans = self._encode(records, pause)
        recorded = len(spans)  # the first spans are the records', then retention's own
        for n, item in enumerate(extra, 1):  # trade and summary spans: after their events
            if pause is not None and n % YIELD_EVERY == 0:
                pause()
            try:
                spans.append(self.encoder.trades.encode(item))  # type: ignore[arg-type]
            except Exception as exc:
                stats.derived_lost += 1
                stats.failure("encoding a trade span", exc)
        self._lines(spans, recorded, carry, pause)

    def _lines(self, spans: list[str], recorded: int, carry: bool,
               pause: Callable[[], None] | None) -> None:
        """Request lines of the spans carried from before and ``spans`` (the first
        ``recorded`` of them recorded, the rest retention's own), BATCH_SPANS a line;
        ``carry``: the last spans short of a line are kept for the next call instead.

        Passes are small (a buffer wakes the worker at WAKE_AT records, so that records
        die young), and a line per pass would cost a request envelope, a write and a
        wake-up of the writer thread for a few spans each."""
        derived = list(range(len(self._carry) + recorded, len(self._carry) + len(spans)))
        if self._carry:
            spans = self._carry + spans
            derived = self._carried_derived + derived
        end = len(spans) - len(spans) % BATCH_SPANS if carry else len(spans)
        put = self.writer.put if self.writer.running else self.writer.write_here
        for start in range(0, end, BATCH_SPANS):
            if pause is not None and start:
                pause()  # a line is a join and an encode of some 200 KB: one at a time
            batch = spans[start : min(start + BATCH_SPANS, end)]
            theirs = bisect_left(derived, start + len(batch)) - bisect_left(derived, start)
            # Bytes once, here: a value with a lone surrogate (a symbol decoded with
            # surrogateescape) is replaced and counted instead of failing the line.
            data = self.request.line(batch).encode("utf-8", UNENCODABLE)
            put(data, len(batch) - theirs, theirs)
        if end < len(spans) and (end or not self._carry):  # the oldest left is new
            self._carried_at = time.monotonic()
        self._carry = spans[end:]
        self._carried_derived = [i - end for i in derived if i >= end]

    def _encode(self, records: list[Record], pause: Callable[[], None] | None) -> list[str]:
        """Spans of ``records`` in order; one that fails costs only itself (counted)."""
        spans: list[str] = []
        try:
            self.encoder.encode_batch(records)
        except Exception as exc:
            self.stats.failure("ordering a batch", exc)
        encode = self.encoder.encode
        for start in range(0, len(records), YIELD_EVERY):
            pending = records[start : start + YIELD_EVERY]
            while pending:  # map() per chunk: no Python-level step per record
                done = len(spans)
                try:
                    spans += map(encode, pending)
                    pending = []
                except Exception as exc:  # skip the record that failed, go on after it
                    self.stats.dropped[ENCODE_ERROR] += 1
                    self.stats.failure("encoding a span", exc)
                    pending = pending[len(spans) - done + 1 :]
            if pause is not None:
                pause()
        return spans

    # control, from other threads ---------------------------------------------------------
    def nudge(self, finish: bool = False) -> None:
        """Have the worker export now (``finish``: and end the run); wait for nothing."""
        if finish:
            with self._requests:
                self._finish = True
        self._wake.set()

    def flush(self, timeout: float, finish: bool = False) -> bool:
        """Have the worker export everything buffered now and the writer write it; True
        once written, False if ``timeout`` passed first (what is left stays pending;
        nothing is dropped for it).

        ``finish`` (the run ended): trades still open end as incomplete, and retention
        exports or drops them by policy, with every sliding window. The caller waits on
        a condition only: routing, encoding and writing happen on the two threads."""
        deadline = time.monotonic() + timeout
        with self._requests:
            here = self._thread is None or self._exited
            if not here:
                self._requested += 1
                target = self._requested
                self._finish = self._finish or finish
        if here:  # never started (a test drives it), or stopped: on this thread
            self._pass(finish)
            if not self.writer.running:
                self.writer._flush()
            return True
        self._wake.set()
        return self.writer.wait_served(target, max(0.0, deadline - time.monotonic()))

    def shutdown(self, timeout: float) -> bool:
        """Finish the run and stop both threads; True if everything was written in
        time. Past the deadline nothing more is written (what is left: ``abandon``)."""
        with self._requests:
            self._stopping = True
        done = self.flush(max(timeout, 0.1), finish=True)
        if not done:
            self.abandon()
            return False
        self.writer.shutdown_sink()
        return True

    def abandon(self) -> None:
        """Write nothing more: the process is leaving. Lines not yet written count as
        ``shutdown_timeout`` (a write already under way may still land)."""
        with self._requests:
            self._stopping = True
        self.writer.abandon()
        self._wake.set()
