"""The stock OTLP exporters (http/protobuf, grpc), run in a helper process.

The stock exporters turn each span into protobuf in Python: 60-120 us of CPU per span,
in chunks of many milliseconds per request. In the traced process that CPU would hold
the GIL against the trading thread (a publish waits up to the 5 ms switch interval), so
:class:`RelaySink` hands our OTLP JSON lines over a pipe to a helper process, which
decodes them and calls the stock exporter, configured by the same
``OTEL_EXPORTER_OTLP_*`` variables. The writer thread only writes to the pipe and reads
the answer, both without the GIL; a hung or slow receiver holds the helper, never the
traced process.

The helper starts with tracing (its imports cost CPU better spent before trading than
during it), ends when its input closes (the traced process ended, even by SIGKILL), ignores
SIGINT (a Ctrl-C in the terminal is for the traced program, which flushes through it)
and is started again if it dies. Frames: a kind byte (``L`` line, ``F`` flush, ``S``
shutdown), a 4-byte big-endian length and the body; each is answered by a length and a
JSON object ``{"ok": bool, "error": str}``.

    python -I -m tradetrace.export.relay grpc   # what RelaySink runs
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

LINE, FLUSH, SHUTDOWN = b"L", b"F", b"S"
#: Seconds the helper gets to shut its exporter down when tracing ends.
SHUTDOWN_SECONDS = 5.0


class RelayFailed(Exception):
    """The helper answered with a failure, or died."""


class RelaySink:
    """A :class:`~tradetrace.export.sinks.SpanSink` feeding the helper process."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0  #: helpers started (more than one: one died)

    def _helper(self) -> subprocess.Popen[bytes]:
        if self.process is not None and self.process.poll() is None:
            return self.process
        self.process = None
        package_root = str(Path(__file__).resolve().parents[2])
        # Not traced itself: no TRADETRACE_* variable, and isolated mode (-I) keeps out
        # PYTHONPATH, where opentelemetry-instrument puts its own start-up hook.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                f"from tradetrace.export.relay import main; main({self.protocol!r})")
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", code], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, close_fds=True)
        self.starts += 1
        return self.process

    def _call(self, kind: bytes, body: bytes = b"") -> None:
        process = self._helper()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(kind + len(body).to_bytes(4, "big"))
            process.stdin.write(body)
            process.stdin.flush()
            reply = _read_frame(process.stdout)
        except (OSError, ValueError) as exc:
            self._lost()
            raise RelayFailed(f"the export helper died: {exc!r}") from None
        if reply is None:
            self._lost()
            raise RelayFailed("the export helper died")
        answer = json.loads(reply)
        if not answer.get("ok"):
            raise RelayFailed(answer.get("error") or "export failed")

    def _lost(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            try:
                process.kill()
                process.wait(1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
            _close(process)

    def start(self) -> None:
        """Start the helper now (tracing starts, the program has not traded yet): its
        imports take a few tenths of a second of CPU, better spent before the first
        trade than during it."""
        self._helper()

    def write(self, line: bytes) -> None:
        self._call(LINE, line)

    def flush(self) -> None:
        if self.process is not None:
            self._call(FLUSH)

    def shutdown(self) -> None:
        process = self.process
        if process is None:
            return
        try:
            self._call(SHUTDOWN)
        except RelayFailed:
            return
        finally:
            self.process = None
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(SHUTDOWN_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
        _close(process)

    def abandon(self) -> None:
        """Tracing gave up at its deadline: end the helper. A write waiting for it gets
        end of file and fails (``_lost`` then closes the pipes on that thread)."""
        process = self.process
        if process is not None:
            try:
                process.kill()
            except OSError:
                pass

    def forget(self) -> None:
        """In a forked child: the helper is the parent's. Its pipes are kept as they
        are (closing them here could flush or reap what is not this process's)."""
        if self.process is not None:
            _forgotten.append(self.process)
            self.process = None


_forgotten: list[Any] = []


def _close(process: subprocess.Popen[bytes]) -> None:
    for pipe in (process.stdin, process.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "big")
    body = stream.read(size)
    return body if len(body) == size else None


# -- the helper process ----------------------------------------------------------------


def main(protocol: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = protocol
    # Frames go to the real stdout; anything printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer

    from .sinks import otlp_exporter

    exporter = otlp_exporter()
    while True:
        kind = source.read(1)
        body = _read_frame(source) if kind else None
        if body is None:
            break
        answer: dict[str, Any] = {"ok": True}
        try:
            if kind == LINE:
                _export(exporter, body)
            elif kind == FLUSH:
                exporter.force_flush()
            elif kind == SHUTDOWN:
                exporter.shutdown()
        except Exception as exc:  # answered: the traced process counts the line as failed
            answer = {"ok": False, "error": repr(exc)}
        reply = json.dumps(answer).encode()
        out.write(len(reply).to_bytes(4, "big") + reply)
        out.flush()
        if kind == SHUTDOWN:
            return
    exporter.shutdown()


def _export(exporter: Any, line: bytes) -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from ..model.otlp_json import BadSpan, decode_request
    from .sinks import SdkSink

    request = json.loads(line)
    spans = [s for s in decode_request(request) if not isinstance(s, BadSpan)]
    if not spans:
        return
    scope = (request["resourceSpans"][0]["scopeSpans"][0].get("scope") or {})
    sink = SdkSink(exporter, Resource(spans[0].resource),
                   InstrumentationScope(scope.get("name", "tradetrace"), scope.get("version")))
    result = exporter.export([sink.readable(s) for s in spans])
    if result is not SpanExportResult.SUCCESS:
        raise RelayFailed(f"{type(exporter).__name__} returned {result.name}")
