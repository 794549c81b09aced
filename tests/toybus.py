"""A tiny trading bus unlike ADMF-PC, for tests of user profiles and error paths.

Its fields have other names (``kind``, ``data``, ``node``...), its ``publish`` takes the
message under another name, and handler exceptions propagate to the publisher (the ADMF
bus swallows them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


@dataclass
class Message:
    kind: Any
    data: Any = field(default_factory=dict)
    node: str | None = None
    origin: str | None = None
    msg_id: str = field(default_factory=lambda: f"msg_{next(_ids)}")
    cause: str | None = None
    trade: str | None = None


class Bus:
    """Dispatches by equality of kinds, so any object (even unhashable) can be a kind."""

    def __init__(self) -> None:
        self.subscriptions: list[tuple[Any, Callable[[Message], Any]]] = []

    def publish(self, message: Message) -> None:
        for kind, handler in list(self.subscriptions):
            if kind == message.kind:
                handler(message)

    def on(self, kind: Any, handler: Callable[[Message], Any]) -> None:
        self.subscriptions.append((kind, handler))

    def off(self, kind: Any, handler: Callable[[Message], Any]) -> None:
        self.subscriptions.remove((kind, handler))


class Engine:
    """Runs a scripted session: each message in ``script`` is published in turn."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def run(self, script: list[Message]) -> int:
        for message in script:
            self.bus.publish(message)
        return len(script)


PROFILE = {
    "name": "toy",
    "publish": ["toybus:Bus.publish"],
    "subscribe": ["toybus:Bus.on"],
    "run": ["toybus:Engine.run"],
    "event_fields": {
        "event_type": "kind",
        "payload": "data",
        "container_id": "node",
        "source_id": "origin",
        "event_id": "msg_id",
        "causation_id": "cause",
        "correlation_id": "trade",
    },
}
