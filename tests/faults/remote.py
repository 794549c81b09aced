"""The receivers of receivers.py in a child process, driven from this one.

For measurements: a receiver in the measured process decodes what it receives on that
process's GIL, and so slows the very thread being timed. Hosted in a child, it costs
the measured process nothing but its socket::

    with ReceiverHost() as host:
        receiver = host.start("grpc", slow(0.3))    # a RemoteReceiver
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        ... receiver.die(); receiver.revive(); receiver.set(ok()) ...
        print(receiver.close())                     # what it saw: counts by outcome

One receiver at a time per host; every call waits for the child's answer, bounded.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from typing import Any

from .receivers import Behaviour, FaultReceiver, GrpcFaultReceiver, HttpFaultReceiver, ok

CALL_SECONDS = 30.0  #: longest wait for the child's answer to one command


def summary(receiver: FaultReceiver) -> dict[str, Any]:
    """What a receiver saw, in plain values (it crosses the process boundary)."""
    return {
        "spans_kept": len(receiver.spans),
        "requests": len(receiver.requests),
        "outcomes": dict(Counter(r.outcome for r in receiver.requests)),
        "metric_requests": receiver.metric_requests,
        "held": receiver.waiting,
        "port": receiver.port,
    }


def _serve(connection: Any) -> None:
    """The child: one command at a time, answered with a value or the exception."""
    receiver: FaultReceiver | None = None
    while True:
        try:
            command, *arguments = connection.recv()
        except EOFError:  # the parent is gone
            command, arguments = "quit", []
        try:
            if command == "start":
                protocol, behaviour = arguments
                if receiver is not None:
                    receiver.close()
                receiver = (HttpFaultReceiver() if protocol == "http"
                            else GrpcFaultReceiver()).start()
                receiver.set(behaviour)
                reply: Any = receiver.port
            elif command == "quit":
                if receiver is not None:
                    receiver.close()
                connection.close()
                return
            else:
                assert receiver is not None, "no receiver started"
                if command == "set":
                    receiver.set(arguments[0])
                elif command in ("die", "revive", "release", "close"):
                    getattr(receiver, command)()
                reply = summary(receiver)
        except Exception as exc:  # answered, so the parent raises it
            reply = exc
        connection.send(reply)


class ReceiverHost:
    """A child process (spawned: no state of this one inherited) hosting a receiver."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True,
                                        name="fault-receiver-host")
        self._child_end = child

    def __enter__(self) -> ReceiverHost:
        self._process.start()
        self._child_end.close()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.call("quit", expect_reply=False)
        finally:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(10)
            self._connection.close()

    def call(self, *command: Any, expect_reply: bool = True) -> Any:
        self._connection.send(command)
        if not expect_reply:
            return None
        if not self._connection.poll(CALL_SECONDS):
            raise TimeoutError(f"the receiver host did not answer {command[0]!r}")
        reply = self._connection.recv()
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def start(self, protocol: str, behaviour: Behaviour | None = None) -> RemoteReceiver:
        """A new receiver ("http" or "grpc") in the child; the previous one is closed."""
        port = self.call("start", protocol, behaviour or ok())
        return RemoteReceiver(self, protocol, port)


class RemoteReceiver:
    """A receiver in a ReceiverHost's child: the controls of FaultReceiver, each
    returning what the receiver saw so far (see :func:`summary`)."""

    def __init__(self, host: ReceiverHost, protocol: str, port: int) -> None:
        self.host = host
        self.protocol = protocol
        self.port = port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, behaviour: Behaviour) -> dict[str, Any]:
        return self.host.call("set", behaviour)

    def die(self) -> dict[str, Any]:
        return self.host.call("die")

    def revive(self) -> dict[str, Any]:
        seen = self.host.call("revive")
        self.port = seen["port"]
        return seen

    def release(self) -> dict[str, Any]:
        return self.host.call("release")

    def summary(self) -> dict[str, Any]:
        return self.host.call("summary")

    def close(self) -> dict[str, Any]:
        return self.host.call("close")
