"""Handler spans (DEBUG): each subscribed handler is wrapped in a transparent proxy.

The proxy is a ``wrapt.ObjectProxy``: it compares, hashes and prints as the handler
itself, so ``bus.unsubscribe(event_type, handler)`` still finds it. It records a span
only while its event's container is at DEBUG, and otherwise just calls through.
"""

from __future__ import annotations

import time
from typing import Any

import wrapt

from .record import EVENT, HANDLER, KIND, ROUTE, SUBJECT, call_recorded, dispatch

_time_ns = time.time_ns


class TracedHandler(wrapt.ObjectProxy):
    """A handler that becomes a child span of the event it handles."""

    __slots__ = ()

    def __repr__(self) -> str:  # logs and error messages name the handler, not us
        return repr(self.__wrapped__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        handler = self.__wrapped__
        stack = dispatch.stack
        parent = stack[-1] if stack else None
        if (
            parent is None
            or parent[KIND] is not EVENT
            or not parent[ROUTE].handler_spans
            or not args
            or args[0] is not parent[SUBJECT]
        ):
            return handler(*args, **kwargs)
        route = parent[ROUTE]
        record = [HANDLER, route, handler, None, parent, _time_ns(), 0, None, None, None]
        # not pushed: events the handler publishes are caused by the event, not the call
        return call_recorded(record, handler, args, kwargs, route.buffer.add, push=False)


def wrap_handler_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """Wrap the handler of a ``subscribe``-like call: ``handler=`` or the first callable."""
    for name in ("handler", "callback"):
        if name in kwargs and callable(kwargs[name]):
            if not isinstance(kwargs[name], TracedHandler):
                kwargs = {**kwargs, name: TracedHandler(kwargs[name])}
            return args, kwargs
    for i, arg in enumerate(args):
        if callable(arg) and not isinstance(arg, type):
            if not isinstance(arg, TracedHandler):
                args = (*args[:i], TracedHandler(arg), *args[i + 1 :])
            break
    return args, kwargs
