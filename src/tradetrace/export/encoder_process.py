"""The encoder process: spans are built and written outside the traced process.

Routing records into trades and encoding them as OTLP JSON costs the export worker some
5 us of CPU per event, about what the demo's trading thread spends per event itself;
in the traced process that work holds the GIL against the trading thread, and each
hand-over of the GIL costs both threads more. With ``tracing.encoder: process`` the
traced process only packs records (``packing.py``) and writes them to a pipe; a helper
process, started with tracing, unpacks them and runs the same retention, encoder and
sink as the in-process worker, on another core. (Not the default yet: packing in Python
costs the traced process about as much as it saves, and the encoder builds about
150,000 spans/s, fewer than a fast backtest publishes; docs/performance.md.)

In the traced process: the export worker (``ShipWorker``, the in-process worker's
taking, waking and flushing) packs each batch of records into a frame, and the sink
writer thread (``writer.py``) writes frames to the pipe (``EncoderLink``), without the
GIL. A pipe that stays full (the encoder behind) fills the writer's queue, and frames
past it are dropped, counted; nothing on the trading thread waits for the encoder.

This module is the traced process's side. The frames on the pipes are
``encoder_frames.py``; the encoder process's own loop is ``encoder_main.py``, whose
``main`` is re-exported here (the process is started as below).

The encoder ends when its input closes (the traced process ended, even by SIGKILL): it
exports what it holds first. If it dies, what it held is counted as lost
(``encoder_lost``) and the next frame starts another.

    python -I -c "from tradetrace.export.encoder_process import main; main()"
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..model.record import Record
from .encoder_frames import END_RUN, FLUSH, RECORDS, REPORT, SETUP, STOP, frame, read_frame
from .encoder_main import main
from .packing import Packer
from .worker import ENCODE_ERROR, ExportWorker
from .writer import SHUTDOWN_TIMEOUT

ENCODER_LOST = "encoder_lost"  #: drop reason: held by an encoder process that died


class ShipWorker(ExportWorker):
    """The export worker of the traced process when an encoder process builds the spans:
    it takes, packs and queues frames; routing and encoding happen over there."""

    def __init__(self, buffers: Any, encoder: Any, link: EncoderLink,
                 interval: float = 0.5) -> None:
        super().__init__(buffers, encoder, None, link, interval)  # type: ignore[arg-type]
        self.packer = link.packer = Packer(encoder.kept)
        self.link = link

    def _export(self, records: Sequence[Record], finish: bool = False,
                carry: bool = False) -> None:
        put = self.writer.put if self.writer.running else self.writer.write_here
        if records:
            errors = self.packer.errors
            try:
                body, count = self.packer.pack(records)
            except Exception as exc:
                self.stats.dropped[ENCODE_ERROR] += len(records)
                self.stats.failure("packing records", exc)
            else:
                self.stats.dropped[ENCODE_ERROR] += self.packer.errors - errors
                put(frame(RECORDS, body, count), count, 0)
        if finish:
            put(frame(END_RUN), 0, 0)

    def _lines(self, spans: list[str], recorded: int, carry: bool,
               pause: Callable[[], None] | None) -> None:
        self._carry = []  # frames are never carried


class EncoderLink:
    """The sink of the traced process's writer thread: the pipe to the encoder process,
    started again if it died, and its reports."""

    def __init__(self, setup: dict[str, Any], flush_timeout: float) -> None:
        self.setup = setup
        self.flush_timeout = flush_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._lock = threading.Condition()
        self._flushes = 0
        self._report: dict[str, Any] = {}  #: the live encoder's last report
        self._served = 0  #: the last flush it answered
        self._shipped = 0  #: records written to the live encoder
        self._closed_totals: Counter[str] = Counter()  #: of encoders that ended
        self._closed_dropped: Counter[str] = Counter()
        self._forgotten = False
        self.packer: Packer | None = None  #: whose routes a new encoder is told first
        self._last_closed: dict[str, Any] = {}  #: the last report of an encoder that ended

    # the writer thread ---------------------------------------------------------------------
    def start(self) -> None:
        self._process()

    def _process(self) -> subprocess.Popen[bytes]:
        process = self.process
        if process is not None and process.poll() is None:
            return process
        if process is not None:
            self._ended()
        package_root = str(Path(__file__).resolve().parents[2])
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                "from tradetrace.export.encoder_process import main; main()")
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, close_fds=True)
        self.starts += 1
        _widen(process.stdin)
        with self._lock:
            self.process = process
            self._report, self._served, self._shipped = {}, 0, 0
        assert process.stdin is not None
        process.stdin.write(frame(SETUP, pickle.dumps(self.setup, protocol=5)))
        if self.packer is not None:
            process.stdin.write(frame(RECORDS, self.packer.routes_body()))
        process.stdin.flush()
        self._reader = threading.Thread(target=self._read_reports, args=(process,),
                                        daemon=True, name="tradetrace-encoder-reports")
        self._reader.start()
        return process

    def write(self, data: bytes) -> None:
        """Send one frame. If the encoder died, what it held is lost, and the frame goes
        to a new one at once; if that one fails too, the write fails (the writer rests
        before it tries again)."""
        for _attempt in (1, 2):
            process = self._process()
            assert process.stdin is not None
            try:
                process.stdin.write(data)
                process.stdin.flush()
                break
            except (OSError, ValueError) as exc:
                failed: BaseException = exc
                if process.poll() is None:  # alive: the pipe itself failed
                    process.kill()
                    process.wait()
                self._ended()
        else:
            raise RuntimeError(f"the encoder process died: {failed!r}")
        with self._lock:
            self._shipped += int.from_bytes(data[5:9], "big")
            self._lock.notify_all()

    @property
    def shipped(self) -> int:
        """Records sent to the live encoder."""
        return self._shipped

    def wait_shipped(self, records: int, timeout: float) -> bool:
        """Wait until the live encoder was sent at least ``records`` records."""
        with self._lock:
            return self._lock.wait_for(lambda: self._shipped >= records, timeout)

    def flush(self) -> None:
        """Ask the encoder to write everything it was sent; wait for its answer (at
        most the flush timeout)."""
        process = self.process
        if process is None or process.poll() is not None or process.stdin is None:
            return
        with self._lock:
            self._flushes += 1
            number = self._flushes
        try:
            process.stdin.write(frame(FLUSH, str(number).encode()))
            process.stdin.flush()
        except (OSError, ValueError):
            return
        with self._lock:
            self._lock.wait_for(lambda: self._served >= number or self.process is not process
                                or process.poll() is not None, self.flush_timeout)

    def shutdown(self) -> None:
        """Stop the encoder once it wrote everything (at most the flush timeout)."""
        process = self.process
        if process is None or process.stdin is None:
            return
        try:
            process.stdin.write(frame(STOP))
            process.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            process.wait(self.flush_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._ended()

    def abandon(self) -> None:
        """The traced process is leaving past its deadline: the encoder stops now."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if process is not None:
            self._ended(SHUTDOWN_TIMEOUT)

    def forget(self) -> None:
        """In a forked child: the encoder is the parent's; close our ends, quietly."""
        self._forgotten = True
        process, self.process = self.process, None
        if process is not None:
            for stream in (process.stdin, process.stdout):
                try:
                    if stream is not None:
                        os.close(stream.fileno())
                except OSError:
                    pass
            process.returncode = 0  # never waited for here

    # reports ---------------------------------------------------------------------------------
    def _read_reports(self, process: subprocess.Popen[bytes]) -> None:
        stream = process.stdout
        assert stream is not None
        while True:
            try:
                got = read_frame(stream)
            except (OSError, ValueError):
                got = None
            if got is None:
                break
            kind, _, body = got
            if kind != REPORT:
                continue
            try:
                report = json.loads(body)
            except ValueError:
                continue
            with self._lock:
                if self.process is process:
                    self._report = report
                    self._served = max(self._served, report.get("served", 0))
                self._lock.notify_all()
        with self._lock:
            self._lock.notify_all()

    def _ended(self, reason: str = ENCODER_LOST) -> None:
        """The live encoder ended: its last report is final; what it was sent and did
        not report as exported or dropped is lost (``reason``)."""
        process = self.process
        if process is not None:
            reader = self._reader
            if reader is not threading.current_thread():
                reader.join(1.0)  # its last report: read before the accounting is closed
            for stream in (process.stdin, process.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except (OSError, ValueError):
                    pass
        with self._lock:
            if self.process is None:
                return
            report = self._report
            accounting = report.get("accounting", {})
            exported = accounting.get("exported", 0)
            dropped = accounting.get("dropped", {})
            derived = accounting.get("derived", {})
            self._closed_totals["exported"] += exported
            self._closed_totals["derived_exported"] += derived.get("exported", 0)
            self._closed_totals["derived_lost"] += derived.get("lost", 0)
            self._closed_dropped.update(dropped)
            lost = self._shipped - exported - sum(dropped.values())
            if lost > 0:
                self._closed_dropped[reason] += lost
            self._closed_totals["reports"] += 1
            self._last_closed = report
            self.process = None
            self._report, self._shipped = {}, 0

    def figures(self) -> dict[str, Any]:
        """Exported, dropped by reason, held and the derived spans, over every encoder of
        this run so far (the live one's as of its last report), and its last report."""
        with self._lock:
            report = self._report or self._last_closed
            live = self._report.get("accounting", {})
            dropped = Counter(self._closed_dropped)
            dropped.update(live.get("dropped", {}))
            derived = live.get("derived", {})
            return {
                "exported": self._closed_totals["exported"] + live.get("exported", 0),
                "dropped": dropped,
                "held": live.get("pending_detail", {}).get("held", 0),
                "derived_exported": self._closed_totals["derived_exported"]
                + derived.get("exported", 0),
                "derived_lost": self._closed_totals["derived_lost"] + derived.get("lost", 0),
                "report": report,
            }


def _widen(stream: Any) -> None:
    """A pipe of 1 MiB where Linux allows it (64 KiB otherwise): a frame of a few
    hundred records is written in one go while the encoder reads the one before."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ValueError, ImportError, AttributeError):
        pass


__all__ = ["EncoderLink", "ShipWorker", "main", "ENCODER_LOST"]
