"""Handler spans (DEBUG): each subscribed handler is wrapped in a transparent proxy.

The proxy is a ``wrapt.ObjectProxy``: it compares, hashes and prints as the handler
itself, so a bus that finds handlers by equality (``list.remove``, ``h != handler``,
sets, dicts keyed by the handler) still finds it. A bus that keys handlers by identity
(``self._handlers[id(handler)]``, ``is``) would not: so one handler object always gets
the same proxy, and the profile's ``unsubscribe`` methods are given that proxy in place
of the handler (:func:`proxy_handler_argument`). The proxy records a span only while its
event's container is at DEBUG, and otherwise just calls through.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import wrapt

from ..model.record import EVENT, HANDLER, KIND, ROUTE, SUBJECT, call_recorded, dispatch

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
        record = [HANDLER, route, handler, None, parent, _time_ns(), 0, None, None, None, None]
        # not pushed: events the handler publishes are caused by the event, not the call
        return call_recorded(record, handler, args, kwargs, route.buffer.add, push=False)


#: Buses a handler was wrapped for: where uninstrumenting puts the originals back.
_buses: weakref.WeakSet[Any] = weakref.WeakSet()
#: id(handler) -> its proxy, while some bus holds the proxy (the proxy holds the handler,
#: so the id is not reused meanwhile)
_proxies: weakref.WeakValueDictionary[int, TracedHandler] = weakref.WeakValueDictionary()


def _proxy_of(handler: Any) -> TracedHandler | None:
    proxy = _proxies.get(id(handler))
    return proxy if proxy is not None and proxy.__wrapped__ is handler else None


def _proxy_for(handler: Any) -> TracedHandler:
    """The proxy of ``handler``: the same object for the same handler, as untraced."""
    proxy = _proxy_of(handler)
    if proxy is None:
        proxy = TracedHandler(handler)
        try:
            _proxies[id(handler)] = proxy
        except TypeError:  # pragma: no cover (wrapt proxies take weak references)
            pass
    return proxy
#: Containers bigger than this are not searched for handlers (an event history, say).
_SEARCH_LIMIT = 10_000


def remember_bus(bus: Any) -> None:
    try:
        _buses.add(bus)
    except TypeError:  # not weak-referenceable: its handlers stay wrapped (and pass through)
        pass


def unwrap_handlers() -> int:
    """Put the original handler back wherever a bus stored one of our proxies (lists,
    dicts, sets and tuples in its attributes, a few levels deep); returns how many."""
    restored = 0
    for bus in list(_buses):
        state = getattr(bus, "__dict__", None)
        if isinstance(state, dict):
            _, count = _unwrapped(state, 4)
            restored += count
    _buses.clear()
    return restored


def _unwrapped(value: Any, depth: int) -> tuple[Any, int]:
    """(value without proxies, how many were replaced); mutable containers change in place."""
    if isinstance(value, TracedHandler):
        return value.__wrapped__, 1
    if depth == 0 or not isinstance(value, (list, dict, tuple, set)):
        return value, 0
    if len(value) > _SEARCH_LIMIT:
        return value, 0
    count = 0
    if isinstance(value, dict):
        for key, item in list(value.items()):
            new, n = _unwrapped(item, depth - 1)
            # keys too: a proxy as the key, or its id (a bus keyed by identity)
            new_key = key.__wrapped__ if isinstance(key, TracedHandler) else (
                id(item.__wrapped__) if isinstance(item, TracedHandler) and key == id(item)
                else key)
            if new_key is not key:
                del value[key]
                value[new_key] = new
                count += n or 1
            elif n:
                value[key] = new
                count += n
        return value, count
    items = [_unwrapped(item, depth - 1) for item in value]
    count = sum(n for _, n in items)
    if not count:
        return value, 0
    new = [item for item, _ in items]
    if isinstance(value, list):
        value[:] = new
    elif isinstance(value, set):
        value.clear()
        value.update(new)
    else:  # a tuple: rebuilt, and stored back by the container that holds it
        value = type(value)(*new) if hasattr(value, "_fields") else tuple(new)
    return value, count


def wrap_handler_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """Wrap the handler of a ``subscribe``-like call: ``handler=`` or the first callable."""
    return _replace_handler(args, kwargs, _proxy_for)


def proxy_handler_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """For an ``unsubscribe``-like call: the handler the program passes is replaced by
    the proxy that was subscribed for it, if any (a bus keyed by identity finds that)."""
    return _replace_handler(args, kwargs, lambda h: _proxy_of(h) or h)


def _replace_handler(args: tuple[Any, ...], kwargs: dict[str, Any],
                     replace: Any) -> tuple[Any, Any]:
    for name in ("handler", "callback"):
        if name in kwargs and callable(kwargs[name]):
            if not isinstance(kwargs[name], TracedHandler):
                kwargs = {**kwargs, name: replace(kwargs[name])}
            return args, kwargs
    for i, arg in enumerate(args):
        if callable(arg) and not isinstance(arg, type):
            if not isinstance(arg, TracedHandler):
                args = (*args[:i], replace(arg), *args[i + 1 :])
            break
    return args, kwargs
