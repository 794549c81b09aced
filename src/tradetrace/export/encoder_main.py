"""The encoder process's main: it builds spans from the records a traced process sends.

Started by the traced process's :class:`~tradetrace.export.encoder_process.EncoderLink`
(``encoder_process.py`` says why and how), it reads its setup, then frames of packed
records (``encoder_frames.py``), and runs the same retention, encoder and sink as the
in-process worker (``pipeline.py``), reporting its accounting on its stdout. It ends
when its input closes (the traced process ended, even by SIGKILL), exporting what it
holds first.
"""

from __future__ import annotations

import json
import logging
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from .encoder_frames import END_RUN, FLUSH, RECORDS, REPORT, SETUP, STOP, frame, read_frame
from .unpacking import Unpacker

logger = logging.getLogger(__name__)

#: records the encoder process holds unrouted at most; its input waits past this
MAX_QUEUED_RECORDS = 200_000
REPORT_SECONDS = 0.5  #: the encoder reports at least this often while anything changes


class _Reports:
    """Writes reports to the traced process: on each flush, and every REPORT_SECONDS
    while anything changed."""

    def __init__(self, stream: IO[bytes], make: Callable[[], dict[str, Any]]) -> None:
        self.stream = stream
        self.make = make
        self._lock = threading.Lock()
        self._last = ""

    def send(self, served: int = 0, final: bool = False) -> None:
        report = self.make()
        report["served"], report["final"] = served, final
        text = json.dumps(report, default=str)
        with self._lock:
            if text == self._last and not served and not final:
                return
            self._last = text
            try:
                self.stream.write(frame(REPORT, text.encode()))
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def every(self, seconds: float, stop: threading.Event) -> None:
        while not stop.wait(seconds):
            try:
                self.send()
            except Exception:
                logger.debug("tradetrace encoder: report failed", exc_info=True)


def main() -> None:
    """The encoder process: read the setup, then frames, until told to stop or the
    input closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the traced program
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the report stream
    first = read_frame(stdin)
    if first is None or first[0] != SETUP:
        return
    from .pipeline import EncoderPipeline

    pipeline = EncoderPipeline(pickle.loads(first[2]))
    unpacker = Unpacker()
    pipeline.routes = lambda: list(unpacker.routes.values())
    worker = pipeline.worker
    buffer = pipeline.buffers.buffer_for("encoder", MAX_QUEUED_RECORDS)
    worker.start()
    reports = _Reports(stdout, pipeline.report)
    stop = threading.Event()
    threading.Thread(target=reports.every, args=(REPORT_SECONDS, stop), daemon=True,
                     name="tradetrace-encoder-reporter").start()
    timeout = pipeline.flush_timeout
    run_ended = False  #: the flush that follows the run's end flushes the metrics too
    while True:
        got = read_frame(stdin)
        if got is None or got[0] == STOP:
            break
        kind, _, body = got
        if kind == RECORDS:
            try:
                records = unpacker.unpack(body)
            except Exception as exc:  # a frame we cannot read: its records are lost
                pipeline.unreadable += got[1]
                worker.stats.failure("reading records", exc)
                continue
            while len(buffer.records) >= MAX_QUEUED_RECORDS:  # the worker is behind:
                worker.nudge()  # our input waits, and the traced process's queue fills
                time.sleep(0.001)
            buffer.records.extend(records)
            if len(buffer.records) >= 128:
                worker.nudge()
        elif kind == END_RUN:
            worker.nudge(finish=True)
            run_ended = True
        elif kind == FLUSH:
            deadline = time.monotonic() + timeout
            worker.flush(timeout)
            if run_ended and pipeline.metrics is not None:
                pipeline.metrics.flush(max(0.0, deadline - time.monotonic()))
            run_ended = False
            reports.send(served=int(body or b"0"))
    stop.set()
    pipeline.shutdown(timeout)
    reports.send(final=True)
