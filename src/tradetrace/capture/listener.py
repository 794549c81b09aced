"""Listener mode: tradetrace subscribes to a framework's own bus instead of patching it.

A compiled bus cannot be patched, but a bus usually lets anyone subscribe, often to every
topic at once (``msgbus.subscribe(topic="*", handler=...)``). The capture handler
subscribed there records each message it is handed with the session's recorder
(recorder.py): decided, snapshotted and buffered exactly like a published event. Its span
has no duration (the handler sees the message, not the whole dispatch); ids a profile
declares in ``correlate`` tie an order's events together instead of nesting.

A profile names where the bus can be found and how to subscribe (docs/frameworks.md)::

    listen:
      - on: nautilus_trader.system.kernel:NautilusKernel.__init__  # a pure-Python method
        bus: msgbus                  # after it returns: this path from its self is the bus
        subscribe: subscribe         # the bus's subscription method ...
        handler: handler             # ... the parameter taking the handler ...
        arguments: {topic: "*"}      # ... and the rest of the call
        unsubscribe: unsubscribe     # optional: called the same way when tracing ends

A program can also subscribe itself: ``tradetrace.listen(bus, topic="*")``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

logger = logging.getLogger(__name__)

#: Messages remembered to record each once: the same object handed over again within
#: this many is not recorded again.
_RECENT = 4


@dataclass(frozen=True)
class ListenSpec:
    """One ``listen`` entry of a profile (the patched ``on`` target is in ``Profile.listen``)."""

    bus: str = "self"  #: dotted path from the method's self to the bus; "self": self itself
    subscribe: str = "subscribe"
    handler: str = "handler"
    arguments: Mapping[str, Any] = field(default_factory=dict)
    unsubscribe: str | None = None

    @classmethod
    def parse(cls, data: Any, path: str) -> ListenSpec:
        if not isinstance(data, Mapping):
            raise ConfigError(path, data, "a mapping with on, bus, subscribe, handler, "
                              "arguments, unsubscribe")
        for key in ("bus", "subscribe", "handler", "unsubscribe"):
            value = data.get(key)
            if value is not None and not (isinstance(value, str) and all(
                    part.isidentifier() for part in value.split("."))):
                raise ConfigError(f"{path}.{key}", value, "a name (or a dotted path for bus)")
        arguments = data.get("arguments", {}) or {}
        if not isinstance(arguments, Mapping) or not all(isinstance(k, str) for k in arguments):
            raise ConfigError(f"{path}.arguments", arguments, "a mapping of parameter -> value")
        return cls(bus=data.get("bus", "self"), subscribe=data.get("subscribe", "subscribe"),
                   handler=data.get("handler", "handler"), arguments=dict(arguments),
                   unsubscribe=data.get("unsubscribe"))


class Listeners:
    """The buses a session listens to, and its capture handler."""

    def __init__(self, session: Any) -> None:
        self._session = session
        #: (bus, how it was subscribed): to unsubscribe when tracing ends
        self._subscribed: list[tuple[weakref.ref[Any] | Callable[[], Any], ListenSpec]] = []
        self.failed = 0  #: subscriptions that raised (logged)
        #: messages handed over again (one message sent on several topics a wildcard
        #: matches, as a fill goes out to its order's and its instrument's topics)
        self.repeated = 0
        recent: list[Any] = [None] * _RECENT
        turn = [0]

        def capture(message: Any) -> None:
            # never raises into the bus; a session at level NONE or shut down records nothing
            if not session.active:
                return
            if (message is recent[0] or message is recent[1] or message is recent[2]
                    or message is recent[3]):  # the same object, not an equal one
                self.repeated += 1
                return
            recorder = session.recorder
            if recorder is not None:
                try:
                    recorder.record(message)
                except Exception:
                    pass
            recent[turn[0]] = message
            turn[0] = (turn[0] + 1) % _RECENT

        self.capture = capture

    def listen(self, bus: Any, spec: ListenSpec) -> bool:
        """Subscribe the capture handler to ``bus`` as ``spec`` says; False (logged) if the
        bus refused. Subscribing the same bus twice does nothing the second time."""
        if any(ref() is bus for ref, _ in self._subscribed):
            return True
        try:
            getattr(bus, spec.subscribe)(**spec.arguments, **{spec.handler: self.capture})
        except Exception:
            self.failed += 1
            logger.warning("tradetrace: could not subscribe to %s.%s(%s): nothing it carries "
                           "is traced", type(bus).__name__, spec.subscribe,
                           ", ".join(f"{k}={v!r}" for k, v in spec.arguments.items()),
                           exc_info=True)
            return False
        try:
            ref: Callable[[], Any] = weakref.ref(bus)
        except TypeError:  # a bus that takes no weak reference is held until tracing ends
            ref = _Strong(bus)
        self._subscribed.append((ref, spec))
        return True

    def listen_from(self, owner: Any, spec: ListenSpec) -> None:
        """After a profile's ``on`` method returned: the bus is ``spec.bus`` from its self."""
        bus = owner
        if spec.bus != "self":
            for name in spec.bus.split("."):
                bus = getattr(bus, name, None)
        if bus is None:
            logger.warning("tradetrace: %s has no %s to listen to", type(owner).__name__,
                           spec.bus)
            return
        self.listen(bus, spec)

    def close(self) -> None:
        """Unsubscribe where the profile says how (best effort); forget every bus."""
        subscribed, self._subscribed = self._subscribed, []
        for ref, spec in subscribed:
            bus = ref()
            if bus is None or spec.unsubscribe is None:
                continue
            try:
                getattr(bus, spec.unsubscribe)(**spec.arguments, **{spec.handler: self.capture})
            except Exception:
                logger.debug("tradetrace: could not unsubscribe", exc_info=True)

    @property
    def buses(self) -> int:
        return sum(1 for ref, _ in self._subscribed if ref() is not None)


class _Strong:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self) -> Any:
        return self.value


def listen_wrapper(listeners: Listeners, spec: ListenSpec) -> Callable[..., Any]:
    """wrapt wrapper for a profile's ``listen.on`` method: call it, then subscribe."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        if instance is not None:
            try:
                listeners.listen_from(instance, spec)
            except Exception:  # never into the traced program
                logger.debug("tradetrace: listening failed", exc_info=True)
        return result

    return wrapper
