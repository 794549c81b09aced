"""The export worker: drains the buffers, builds spans and hands them to the sink.

One daemon thread, woken by a full buffer or every ``interval`` seconds. Building and
encoding happen here, not on the publishing thread. Failures are counted and logged
once per kind; they never propagate. ``flush`` exports everything pending on the
caller's thread within a deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ..capture.record import Record
from ..retain.buffer import ContainerBuffer, Retention
from ..retain.tail import TailRetention
from .otlp_json import RequestWriter
from .sinks import SpanSink
from .spans import SpanEncoder

logger = logging.getLogger(__name__)

BATCH_SPANS = 256  #: spans per request line (the Collector reads lines up to 1 MiB)

#: The worker hands the GIL back to the trading thread after encoding for this long:
#: a thread that holds it is only asked to let go every 5 ms (sys.getswitchinterval()),
#: which would stall the traced program's publish by that much while we encode. Not
#: more often: each hand-over costs both threads a wake-up, which after every chunk of
#: spans (~0.1 ms) added a third to NORMAL's cost in the demo backtest.
YIELD_SECONDS = 0.0005
YIELD_EVERY = 32  #: spans encoded between two looks at the clock


#: A publishing thread whose buffer reached twice its cap waits this long for the worker
#: before dropping the buffer's records: back-pressure slows a backtest a little, but a
#: stuck exporter (a collector down, the network) must never stall trading.
INLINE_WAIT_SECONDS = 0.5
#: After a failed write the sink is not tried again for this long (doubling up to the
#: maximum, reset by a success): records meanwhile are counted as lost, not encoded.
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 30.0


class ExportStats:
    def __init__(self) -> None:
        self.spans_exported = 0
        self.batches_exported = 0
        self.build_errors = 0
        self.export_errors = 0
        self.spans_lost = 0  #: not delivered: sink failure, sink resting, deadline, overflow
        self.spans_dropped_overflow = 0  #: dropped because the worker was stuck (of lost)
        self.last_error = ""  #: the last export failure, for the report at exit
        self._logged: set[str] = set()

    def failure(self, kind: str, exc: BaseException) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            logger.error("tradetrace: %s failed (logged once, counted from now on): %r", kind, exc)


class ExportWorker:
    def __init__(
        self,
        retention: Retention,
        encoder: SpanEncoder,
        request: RequestWriter,
        sink: SpanSink,
        interval: float = 0.5,
        tail: TailRetention | None = None,
    ) -> None:
        self.retention = retention
        self.encoder = encoder
        self.request = request
        self.sink = sink
        self.interval = interval
        self.tail = tail  #: trade-aware retention; None: every record is exported
        self.stats = ExportStats()
        self.lock = threading.Lock()  #: one exporting thread at a time (held across fork)
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0  #: the sink rests (circuit open) until then
        self._stuck = False  #: a publisher timed out waiting for the worker; cleared by it
        self._backoff = RETRY_FIRST_SECONDS
        self._yield_at = 0.0  #: when the worker next hands the GIL back (_pause)
        #: called on the worker's thread after each export, outside the export lock, with
        #: the CPU time that export took on this thread (the session judges load with it)
        self.after_export: Callable[[float], None] | None = None
        retention.wake = self._wake.set
        retention.export_inline = self._export_buffer

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tradetrace-export", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping:
                break
            try:
                cpu = time.thread_time()
                with self.lock:
                    self._export(self.retention.take_all())
                self._stuck = False
                if self.after_export is not None:
                    self.after_export(time.thread_time() - cpu)
            except Exception as exc:  # keep the worker alive whatever happens
                self.stats.failure("export loop", exc)

    def _export_buffer(self, buffer: ContainerBuffer) -> None:
        """A publishing thread whose buffer is at twice its cap exports it itself, unless
        the worker is stuck (or the sink resting): then the buffer is dropped, counted."""
        if self._resting() or self._stuck or not self.lock.acquire(
                timeout=INLINE_WAIT_SECONDS):
            self._stuck = True  # no more waiting until the worker gets through an export
            dropped = len(buffer.take())
            self.stats.spans_lost += dropped
            self.stats.spans_dropped_overflow += dropped
            self.stats.failure("keeping up with the traced program",
                               RuntimeError(f"export is stuck; dropped {dropped} spans"))
            return
        try:
            self._export(buffer.take())
        finally:
            self.lock.release()

    def _pause(self) -> None:
        """Hand the GIL back if this worker has held it for YIELD_SECONDS."""
        if time.perf_counter() >= self._yield_at:
            time.sleep(0)  # releases the GIL: a waiting publisher runs now, not in 5 ms
            self._yield_at = time.perf_counter() + YIELD_SECONDS

    def _resting(self) -> bool:
        return time.monotonic() < self._retry_at

    def _export(
        self, records: Sequence[Record], deadline: float | None = None, finish: bool = False
    ) -> None:
        records = list(records)
        extra: Sequence[object] = ()
        # only the worker's own thread hands the GIL back: a publisher exporting inline
        # is the trading thread itself
        pause = self._pause if threading.current_thread() is self._thread else None
        self._yield_at = time.perf_counter() + YIELD_SECONDS
        if self.tail is not None and (records or finish):
            try:
                records, extra = self.tail.route(records, finish, pause)
            except Exception as exc:  # retention broke: export the batch as it is
                self.stats.failure("retention", exc)
        if not records and not extra:
            return
        if self._resting():  # the sink failed a moment ago: do not encode for nothing
            self.stats.spans_lost += len(records) + len(extra)
            return
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
                    self.stats.build_errors += 1
                    self.stats.failure("encoding a span", exc)
                    pending = pending[len(spans) - done + 1 :]
            if pause is not None:
                pause()
        for n, item in enumerate(extra, 1):  # trade and summary spans: after their events
            if pause is not None and n % YIELD_EVERY == 0:
                pause()
            try:
                spans.append(self.encoder.trades.encode(item))  # type: ignore[arg-type]
            except Exception as exc:
                self.stats.build_errors += 1
                self.stats.failure("encoding a trade span", exc)
        for start in range(0, len(spans), BATCH_SPANS):
            batch = spans[start : start + BATCH_SPANS]
            if deadline is not None and time.monotonic() > deadline:
                self.stats.spans_lost += len(spans) - start
                logger.warning(
                    "tradetrace: flush deadline passed, %d spans not written", len(spans) - start
                )
                return
            if self._resting():
                self.stats.spans_lost += len(spans) - start
                return
            try:
                self.sink.write(self.request.line(batch))
                self.stats.spans_exported += len(batch)
                self.stats.batches_exported += 1
                self._backoff = RETRY_FIRST_SECONDS
            except Exception as exc:
                self.stats.export_errors += 1
                self.stats.spans_lost += len(batch)
                self.stats.last_error = repr(exc)
                self.stats.failure("exporting spans", exc)
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, RETRY_MAX_SECONDS)

    def flush(self, timeout: float, finish: bool = False) -> bool:
        """Export everything buffered now; False if the deadline passed first.

        ``finish`` (the run ended): trades still open end as incomplete, and retention
        exports or drops them by policy, with every sliding window."""
        deadline = time.monotonic() + timeout
        if not self.lock.acquire(timeout=timeout):
            return False
        try:
            self._export(self.retention.take_all(), deadline, finish)
            try:
                self.sink.flush()
            except Exception as exc:
                self.stats.failure("flushing the sink", exc)
        finally:
            self.lock.release()
        return time.monotonic() <= deadline

    def shutdown(self, timeout: float) -> bool:
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        done = self.flush(max(timeout, 0.1), finish=True)
        try:
            self.sink.shutdown()
        except Exception as exc:
            self.stats.failure("shutting the sink down", exc)
        return done
