"""OTLP ``http/protobuf`` and ``grpc``, encoded and sent by a helper process.

Our spans are OTLP JSON request lines (``model/otlp_json.py``). :class:`RelaySink` hands
each line over a pipe to a helper process, which parses it, encodes it to protobuf by
hand (``model/otlp_proto.py``: no SDK span objects, no generated message classes) and
sends it itself: a POST to ``/v1/traces`` (``otlp_http.OtlpHttpSender``) or a unary
gRPC ``Export`` call with the bytes as they are (``otlp_grpc.OtlpGrpcSender``),
configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables. Encoding and sending
still cost CPU (about 16 us a span, against about 60 us through the stock exporters:
``benchmarks/bench_relay.py``); in the traced process it would hold the GIL against the
trading thread (a publish waits up to the 5 ms switch interval), so it runs in the
helper. The writer thread only writes to the pipe and reads the answer, both without the
GIL; a hung or slow receiver holds the helper, never the traced process.

The receiver's reply is read as ``otlp_http`` reads it: a ``partialSuccess`` counts its
``rejectedSpans`` as rejected; a 2xx reply over HTTP that is no
``ExportTraceServiceResponse`` is counted and logged once (its spans count as exported:
the receiver said so), over gRPC it fails the call, as grpcio would. Failures are not
retried in the helper: the writer drops the line as failed and rests (for the receiver's
Retry-After or RetryInfo delay if it gave one), as for ``http/json``.

The helper starts with tracing (its imports cost CPU better spent before trading than
during it), ends when its input closes (the traced process ended, even by SIGKILL), ignores
SIGINT (a Ctrl-C in the terminal is for the traced program, which flushes through it)
and is started again if it dies. Frames: a kind byte (``L`` line, ``F`` flush, ``S``
shutdown), a 4-byte big-endian length and the body; each is answered by a length and a
JSON object ``{"ok": bool, "error": str, "retry_after": float, "rejected": int,
"message": str, "unreadable": str}`` (only ``ok`` always there).

    python -I -m tradetrace.export.relay grpc   # what RelaySink runs, by hand
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

from .otlp_http import ReplyCounts, traces_endpoint

logger = logging.getLogger(__name__)

LINE, FLUSH, SHUTDOWN = b"L", b"F", b"S"
#: Seconds the helper gets to shut its exporter down when tracing ends.
SHUTDOWN_SECONDS = 5.0


class RelayFailed(Exception):
    """The helper answered with a failure, or died."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  #: the receiver's Retry-After / RetryInfo, if any


class RelaySink(ReplyCounts):
    """A :class:`~tradetrace.export.sinks.SpanSink` feeding the helper process."""

    def __init__(self, protocol: str) -> None:
        super().__init__()
        self.protocol = protocol
        # For the log lines about replies; the helper reads the variables itself.
        self.endpoint = (traces_endpoint(os.environ) if protocol != "grpc" else
                         os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                         or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "the receiver")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0  #: helpers started (more than one: one died)

    def _helper(self) -> subprocess.Popen[bytes]:
        if self.process is not None:
            if self.process.poll() is None:
                return self.process
            _close(self.process)  # it died between calls: its pipes are ours to close
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

    def _call(self, kind: bytes, body: bytes = b"") -> dict[str, Any]:
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
        answer: dict[str, Any] = json.loads(reply)
        if not answer.get("ok"):
            retry = answer.get("retry_after")
            raise RelayFailed(answer.get("error") or "export failed",
                              float(retry) if isinstance(retry, (int, float)) else None)
        return answer

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

    def write(self, line: bytes) -> int:
        """Send one line through the helper; how many of its spans the receiver
        rejected. Raises RelayFailed (then none of them count as written)."""
        answer = self._call(LINE, line)
        if "unreadable" in answer:
            self.count_unreadable(str(answer["unreadable"]))
            return 0
        return self.count_rejected(int(answer.get("rejected") or 0),
                                   str(answer.get("message") or ""))

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
    # Frames go to the real stdout; anything printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer

    sender: Any = None
    broken = ""  # why no sender could be made: every line is answered with it
    try:
        sender = _sender(protocol)
    except Exception as exc:
        broken = f"the {protocol} sender could not start: {exc!r}"
    while True:
        kind = source.read(1)
        body = _read_frame(source) if kind else None
        if body is None:
            break
        answer: dict[str, Any] = {"ok": True}
        try:
            if kind == LINE:
                if sender is None:
                    raise RelayFailed(broken)
                answer = _export(sender, body, strict=protocol == "grpc")
            elif kind == SHUTDOWN and sender is not None:
                sender.close()
        except Exception as exc:  # answered: the traced process counts the line as failed
            answer = {"ok": False, "error": str(exc) or repr(exc)}
            retry = getattr(exc, "retry_after", None)
            if isinstance(retry, (int, float)):
                answer["retry_after"] = retry
        reply = json.dumps(answer).encode()
        out.write(len(reply).to_bytes(4, "big") + reply)
        out.flush()
        if kind == SHUTDOWN:
            return
    if sender is not None:
        sender.close()


def _sender(protocol: str) -> Any:
    if protocol == "grpc":
        try:
            import grpc  # noqa: F401
        except ImportError:
            raise RelayFailed("grpc needs grpcio: pip install grpcio") from None
        from .otlp_grpc import OtlpGrpcSender

        return OtlpGrpcSender()
    from .otlp_http import OtlpHttpSender

    return OtlpHttpSender(content_type="application/x-protobuf")


def _export(sender: Any, line: bytes, strict: bool) -> dict[str, Any]:
    """Encode one line, send it, read the reply: the answer for the traced process."""
    from ..model.otlp_proto import encode_request, partial_success

    request = json.loads(line)
    if not any(scope.get("spans") for batch in request.get("resourceSpans") or ()
               for scope in batch.get("scopeSpans") or ()):
        return {"ok": True}
    reply = sender.send(encode_request(request))
    try:
        rejected, message = partial_success(reply)
    except ValueError as exc:
        if strict:  # gRPC: a reply that does not parse fails the call
            raise RelayFailed(f"the reply is no ExportTraceServiceResponse ({exc})") from None
        return {"ok": True, "unreadable": repr(reply[:60])}
    return {"ok": True, "rejected": rejected, "message": message} if rejected else {"ok": True}


if __name__ == "__main__":  # python -I -m tradetrace.export.relay grpc, by hand
    main(sys.argv[1] if len(sys.argv) > 1 else "http/protobuf")
