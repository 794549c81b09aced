"""What each role of a profile is patched with (``publish``, ``subscribe``,
``unsubscribe``, ``transport``, ``lifecycle``, ``run``, a listener's ``on``, a framework's
``hook``), and trace context injection for events that cross a queue or a process."""

from __future__ import annotations

import inspect
from typing import Any

from .lifecycle import RecordSink, lifecycle_wrapper, run_wrapper
from .listener import listen_wrapper
from .patcher import function_wrapper, subscribe_wrapper, unsubscribe_wrapper
from .profile import Profile, Target
from .propagation import inject
from .publish import traced_publish


def replacement(session: Any, records: RecordSink, role: str, original: Any,
                profile: Profile, target: Target | None = None) -> Any:
    """The function that replaces ``original`` for ``role`` (None: leave it)."""
    if role == "publish":
        call = original
        if not inspect.isfunction(original):  # any other descriptor: bind per call

            def call(self: Any, *args: Any, **kwargs: Any) -> Any:
                return original.__get__(self, type(self))(*args, **kwargs)

        return traced_publish(call, session.table, session.adapter)
    if role in ("subscribe", "unsubscribe"):
        # Handlers are wrapped only when some container may get handler spans.
        return (
            function_wrapper(original, subscribe_wrapper if role == "subscribe"
                             else unsubscribe_wrapper)
            if session.config.any_handler_spans
            else None
        )
    if role == "transport":
        return function_wrapper(original, transport_wrapper(session))
    if role == "listen":
        spec = next(spec for on, spec in profile.listen if on == target)
        return function_wrapper(original, listen_wrapper(session.listeners, spec))
    if role == "hook":  # a framework's own capture point (capture/frameworks/)
        hook = next(hook for on, hook in profile.hooks if on == target)
        return function_wrapper(original, hook(session))
    if role == "lifecycle":
        wrapper = lifecycle_wrapper(records, profile.container_id_attribute)
        return function_wrapper(original, wrapper)
    return function_wrapper(original, run_wrapper(records))


def inject_context(session: Any, event: Any) -> bool:
    """Put this event's trace context (W3C ``traceparent``) in its metadata; False when
    nothing traced is being dispatched on this thread."""
    worker = session._worker
    if worker is None:
        return False
    encoder = worker.encoder
    return inject(event, encoder.ids, lambda subject: encoder.kept(subject)[0],
                  session.adapter)


def transport_wrapper(session: Any) -> Any:
    """wrapt wrapper for a profile's ``transport`` methods: inject, then send."""
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        event = args[0] if args else next(iter(kwargs.values()), None)
        if event is not None:
            session.inject(event)
        return wrapped(*args, **kwargs)

    return wrapper
