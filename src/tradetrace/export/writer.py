"""The sink writer: the one thread that does export I/O.

The export worker encodes request lines and queues them here; this thread writes them
to the sink one at a time. So the worker, which the publishing thread may briefly wait
for when a buffer is full (retain/buffer.py), never waits on a file or a network itself,
and a slow, hung or dead sink costs queued lines (counted), never a publish's time.

The queue holds at most ``max_bytes`` of lines; a line past that is dropped
(``sink_backlog``). After a failed write the sink rests (``RETRY_*``), and lines met
meanwhile are dropped (``sink_resting``) rather than written into a failure again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from typing import Any

from .sinks import SpanSink

logger = logging.getLogger(__name__)

#: After a failed write the sink is not tried again for this long (doubling up to the
#: maximum, reset by a success). The maximum is short so that a Collector that restarts
#: gets spans again soon; a probe of a dead one costs only this thread.
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 5.0
#: Encoded lines waiting for the sink, at most (about 45,000 spans).
MAX_QUEUED_BYTES = 32 * 1024 * 1024

# Why a recorded span was not written (the accounting's drop reasons).
SINK_BACKLOG = "sink_backlog"  #: the sink was too slow: the queue of lines was full
SINK_FAILURE = "sink_failure"  #: the write (file, network) failed
SINK_RESTING = "sink_resting"  #: not tried: the sink failed a moment ago
SHUTDOWN_TIMEOUT = "shutdown_timeout"  #: not written when the shutdown deadline passed
REJECTED = "rejected_by_receiver"  #: the receiver said it rejected them (partialSuccess)


class WriteStats:
    """What became of the lines' spans; recorded spans and retention's own apart."""

    def __init__(self) -> None:
        self.exported = 0  #: recorded spans written
        self.dropped: Counter[str] = Counter()  #: recorded spans not written, by reason
        self.queued = 0  #: recorded spans in queued lines and the write under way
        self.derived_exported = 0  #: trade and summary spans written
        self.derived_lost = 0  #: trade and summary spans not written
        self.batches_exported = 0
        self.export_errors = 0
        self.last_error = ""
        #: threads that called the sink: only the writer's (tests check it)
        self.sink_threads: set[int] = set()
        self._logged: set[str] = set()

    def failure(self, kind: str, exc: BaseException) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            logger.error("tradetrace: %s failed (logged once, counted from now on): %r", kind, exc)


class _Line:
    __slots__ = ("data", "recorded", "derived")

    def __init__(self, data: bytes, recorded: int, derived: int) -> None:
        self.data, self.recorded, self.derived = data, recorded, derived


class _Mark:
    """A flush request: served once every line queued before it was written."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number


class SinkWriter:
    def __init__(self, sink: SpanSink, stats: WriteStats | None = None,
                 max_bytes: int = MAX_QUEUED_BYTES) -> None:
        self.sink = sink
        self.stats = stats or WriteStats()
        self.max_bytes = max_bytes
        self._queue: deque[Any] = deque()
        self._bytes = 0
        self._ready = threading.Condition()  #: guards the queue and ``served``
        self.served = 0  #: the highest flush mark written through
        self._stopping = False
        self._abandoned = False
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0
        self._backoff = RETRY_FIRST_SECONDS
        self._backlog_logged = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tradetrace-writer",
                                        daemon=True)
        self._thread.start()
        start = getattr(self.sink, "start", None)  # a helper process (relay.py)
        if start is not None:
            try:
                start()
            except Exception as exc:  # the first write will try again, and count it
                self.stats.failure("starting the sink", exc)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def resting(self) -> bool:
        """The sink failed a moment ago: lines made now would only be dropped."""
        return time.monotonic() < self._retry_at

    # the export worker's side ------------------------------------------------------------
    def put(self, data: bytes, recorded: int, derived: int) -> None:
        """Queue one line holding ``recorded`` recorded spans and ``derived`` of
        retention's own; dropped (counted) when the queue is full or writing stopped."""
        stats = self.stats
        with self._ready:
            if self._abandoned or self._bytes + len(data) > self.max_bytes:
                reason = SHUTDOWN_TIMEOUT if self._abandoned else SINK_BACKLOG
                stats.dropped[reason] += recorded
                stats.derived_lost += derived
                backlog = not self._abandoned and not self._backlog_logged
                self._backlog_logged = self._backlog_logged or backlog
            else:
                self._queue.append(_Line(data, recorded, derived))
                self._bytes += len(data)
                stats.queued += recorded
                self._ready.notify()
                return
        if backlog:
            logger.warning("tradetrace: the sink is slower than tracing: %d MiB of spans "
                           "wait for it, and further ones are dropped and counted (logged "
                           "once)", self.max_bytes >> 20)

    def mark(self, number: int) -> None:
        """Queue a flush request ``number``; ``served`` reaches it once written through."""
        with self._ready:
            self._queue.append(_Mark(number))
            self._ready.notify()

    def wait_served(self, number: int, timeout: float) -> bool:
        with self._ready:
            return self._ready.wait_for(lambda: self.served >= number, timeout)

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        with self._ready:
            self._stopping = True
            self._ready.notify()

    def abandon(self) -> None:
        """Write nothing more: what is queued is dropped (``shutdown_timeout``); a write
        under way may still land."""
        with self._ready:
            self._abandoned = self._stopping = True
            self._ready.notify()
        abandon = getattr(self.sink, "abandon", None)
        if abandon is not None:  # a helper process (relay.py) is ended with us
            try:
                abandon()
            except Exception as exc:
                self.stats.failure("abandoning the sink", exc)

    # this thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopping:
                    self._ready.wait()
                if not self._queue:
                    return  # stopping, and everything written
                item = self._queue.popleft()
                if isinstance(item, _Line):
                    self._bytes -= len(item.data)
            try:
                if isinstance(item, _Mark):
                    self._flush()
                    with self._ready:
                        self.served = max(self.served, item.number)
                        self._ready.notify_all()
                else:
                    self._write(item)
            except Exception as exc:  # keep the writer alive whatever happens
                self.stats.failure("the sink writer", exc)

    def write_here(self, data: bytes, recorded: int, derived: int) -> None:
        """Write one line on the calling thread (no writer thread: a test driving the
        worker by hand)."""
        self.stats.queued += recorded
        self._write(_Line(data, recorded, derived))

    def _write(self, line: _Line) -> None:
        stats = self.stats
        reason = SHUTDOWN_TIMEOUT if self._abandoned else (
            SINK_RESTING if time.monotonic() < self._retry_at else None)
        if reason is None:
            stats.sink_threads.add(threading.get_ident())
            try:
                rejected = self.sink.write(line.data) or 0
            except Exception as exc:
                stats.export_errors += 1
                stats.last_error = repr(exc)
                stats.failure("exporting spans", exc)
                asked = getattr(exc, "retry_after", None)  # a receiver's Retry-After
                rest = self._backoff if asked is None else min(
                    max(asked, self._backoff), RETRY_MAX_SECONDS)
                self._retry_at = time.monotonic() + rest
                self._backoff = min(self._backoff * 2, RETRY_MAX_SECONDS)
                reason = SINK_FAILURE
            else:
                self._backoff = RETRY_FIRST_SECONDS
                # Which spans a receiver rejected it does not say: ours first.
                mine = min(rejected, line.recorded)
                stats.dropped[REJECTED] += mine
                stats.derived_lost += rejected - mine
                stats.exported += line.recorded - mine
                stats.derived_exported += line.derived - (rejected - mine)
                stats.batches_exported += 1
                stats.queued -= line.recorded
                return
        stats.dropped[reason] += line.recorded
        stats.derived_lost += line.derived
        stats.queued -= line.recorded

    def _flush(self) -> None:
        try:
            self.sink.flush()
        except Exception as exc:
            self.stats.failure("flushing the sink", exc)

    def shutdown_sink(self) -> None:
        try:
            self.sink.shutdown()
        except Exception as exc:
            self.stats.failure("shutting the sink down", exc)
