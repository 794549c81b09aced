"""A bus that keeps handlers by identity (``id(handler)`` keys, ``is`` checks), as some
frameworks do, for tests/capture/test_handler_identity.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toybus import Message


class IdentityBus:
    def __init__(self) -> None:
        self.handlers: dict[Any, dict[int, Callable[[Message], Any]]] = {}

    def publish(self, message: Message) -> list[Any]:
        return [handler(message) for handler in list(self.handlers.get(message.kind,
                                                                        {}).values())]

    def subscribe(self, kind: Any, handler: Callable[[Message], Any]) -> None:
        self.handlers.setdefault(kind, {})[id(handler)] = handler

    def unsubscribe(self, kind: Any, handler: Callable[[Message], Any]) -> None:
        del self.handlers[kind][id(handler)]  # KeyError for a handler it does not hold

    def holds(self, kind: Any, handler: Callable[[Message], Any]) -> bool:
        return any(h is handler for h in self.handlers.get(kind, {}).values())


PROFILE = {
    "name": "identity",
    "publish": ["identity_bus:IdentityBus.publish"],
    "subscribe": ["identity_bus:IdentityBus.subscribe"],
    "unsubscribe": ["identity_bus:IdentityBus.unsubscribe"],
    "event_fields": {"event_type": "kind", "payload": "data", "container_id": "node",
                     "source_id": "origin", "event_id": "msg_id", "causation_id": "cause",
                     "correlation_id": "trade"},
}
