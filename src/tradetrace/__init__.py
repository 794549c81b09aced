"""tradetrace: OpenTelemetry tracing for event-driven trading and backtesting systems.

Every published trading event becomes a span; causation (which event caused which)
becomes parent/child; trace levels decide, per container, what is recorded.

>>> import tradetrace
>>> session = tradetrace.configure(level="none")   # nothing patched, nothing started
>>> session.active
False
>>> tradetrace.shutdown()
True

A traced backtest (see ``examples/``)::

    tradetrace.configure(level="normal")   # files in ./tradetrace-traces/
    Coordinator().run_topology("backtest", config)   # spans flushed when the run ends
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .decide.levels import TraceLevel
from .errors import ConfigError
from .model.record import SUPPRESSED, dispatch

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from .config import TracingConfig, load_config
    from .decide.sampler import TraceLevelSampler
    from .session import TracingSession

#: Imported on first use (PEP 562): the session imports the OpenTelemetry SDK and the
#: whole pipeline (about 0.15 s), which a process at level NONE never needs.
_LAZY = {"TracingConfig": "config", "load_config": "config",
         "TraceLevelSampler": "decide.sampler", "TracingSession": "session"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ConfigError",
    "TraceLevel",
    "TraceLevelSampler",
    "TracingConfig",
    "TracingSession",
    "__version__",
    "configure",
    "flush",
    "get_session",
    "dispatching",
    "inject",
    "listen",
    "load_config",
    "record",
    "set_level",
    "shutdown",
    "suppress_tracing",
]

_current: TracingSession | None = None
#: A configuration at level NONE that the start-up hook read (and checked), with the
#: hook's search paths: its session, which patches nothing, is made on first need.
_deferred: tuple[TracingConfig, tuple[str, ...]] | None = None
_lock = threading.Lock()


def configure(
    level: str | TraceLevel | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    profile: str | Mapping[str, Any] | None = None,
    output: str | os.PathLike[str] | None = None,
    backend: str | None = None,
    exporter: SpanExporter | None = None,
    service_name: str | None = None,
    run_id: str | None = None,
    search_paths: Iterable[str] = (),
    retention: str | Mapping[str, Any] | None = None,
    tracer_provider: Any = None,
) -> TracingSession:
    """Resolve the configuration, patch the traced system and start exporting.

    Arguments win over ``TRADETRACE_*`` variables, which win over the config file.
    ``exporter`` sends spans to any OpenTelemetry ``SpanExporter`` instead of the
    configured storage. ``retention`` is a policy name (``always``, ``trade_complete``,
    ``keep_if``, ``sliding_window``) or a mapping like the YAML ``tracing.retention``.
    ``tracer_provider`` (an SDK ``TracerProvider``) sends spans through that provider's
    span processors, to join a program's own OpenTelemetry pipeline.
    A previous session is shut down first. Raises
    :class:`ConfigError` for any invalid setting; nothing is patched in that case.
    """
    from .config import load_config

    config = load_config(
        level=level,
        config_file=config_file,
        profile=profile,
        output=output,
        backend=backend,
        service_name=service_name,
        run_id=run_id,
        retention=retention,
    )
    return _start(config, search_paths, exporter=exporter, tracer_provider=tracer_provider)


def _start(config: TracingConfig, search_paths: Iterable[str], **given: Any) -> TracingSession:
    """A session of ``config``, started, in place of the previous one (shut down)."""
    global _current, _deferred
    from .session import TracingSession

    session = TracingSession(config, search_paths=search_paths, **given)
    with _lock:
        _deferred = None
        if _current is not None:
            _current.shutdown()
            _current = None
        _current = session.start()
    return session


def _defer(config: TracingConfig, search_paths: Iterable[str]) -> None:
    """The start-up hook read a configuration at level NONE: its session is made on
    first need (get_session(), set_level() ...), so that a process that never asks
    imports no more of tradetrace than the hook did."""
    global _deferred
    with _lock:
        if _current is None:
            _deferred = (config, tuple(search_paths))


def _session() -> TracingSession | None:
    """The current session; a deferred one (level NONE) is made now."""
    deferred = _deferred
    if _current is None and deferred is not None:
        _start(*deferred)
    return _current


def get_session() -> TracingSession | None:
    """The session :func:`configure` started, if any."""
    return _session()


def flush(timeout: float | None = None) -> bool:
    """Export everything recorded so far (also done when a coordinator run ends)."""
    return _current.flush(timeout) if _current is not None else True


def shutdown(timeout: float | None = None) -> bool:
    """Remove all patches, export what is pending and close files (also done at exit)."""
    global _current, _deferred
    with _lock:
        session, _current, _deferred = _current, None, None
    return session.shutdown(timeout) if session is not None else True


def set_level(level: str | TraceLevel, containers: str | None = None) -> None:
    """Change the trace level while the program runs, everywhere or for the containers
    matching a glob (``"portfolio_*"``). NONE everywhere removes every patch, so the
    cost returns to zero; any other level patches again. Raises :class:`ConfigError`
    for a bad level or glob (nothing changes then); without a session, does nothing.

    >>> import tradetrace
    >>> session = tradetrace.configure(level="none", backend="none")
    >>> tradetrace.set_level("minimal", "portfolio_*"); session.active
    True
    >>> tradetrace.set_level("none"); session.patched
    []
    >>> tradetrace.shutdown()
    True
    """
    session = _session()
    if session is not None:
        session.set_level(level, containers)


@contextlib.contextmanager
def suppress_tracing() -> Iterator[None]:
    """Nothing published on this thread inside the block is traced: warm-up, replays,
    state rebuilt from history. OpenTelemetry's own instrumentations are suppressed too.

    >>> import tradetrace
    >>> with tradetrace.suppress_tracing():
    ...     pass   # bus.publish(...) here leaves no span
    """
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    stack = dispatch.stack
    stack.append(SUPPRESSED)
    try:
        with suppress_instrumentation():
            yield
    finally:
        # the innermost marker is ours (a block cannot outlive the records above it)
        for index in range(len(stack) - 1, -1, -1):
            if stack[index] is SUPPRESSED:
                del stack[index]
                break


def record(event: Any) -> bool:
    """Record ``event`` as published now, for a framework whose bus cannot be patched or
    that has none: the same decision, snapshot, retention and accounting as a patched
    ``publish``, read by the session's event adapter (the profile's ``event_adapter``). Its
    span has no duration; use :class:`dispatching` to time the handling of an event and
    make what it causes its children. True if recorded; never raises.

    >>> import tradetrace
    >>> from types import SimpleNamespace as Event
    >>> session = tradetrace.configure("normal", backend="memory")
    >>> tradetrace.record(Event(event_type="BAR", container_id="data", payload={"close": 1.5},
    ...                         source_id="data", event_id="b1", timestamp=None,
    ...                         causation_id=None, correlation_id=None))
    True
    >>> tradetrace.flush() and [span.name for span in session.exporter.get_finished_spans()]
    ['BAR']
    >>> tradetrace.shutdown()
    True
    """
    session = _current
    recorder = session.recorder if session is not None and session.active else None
    if recorder is None:
        return False
    try:
        return recorder.record(event)
    except Exception:  # never into the caller
        return False


class dispatching:  # noqa: N801 - used like a function: ``with tradetrace.dispatching(e):``
    """Record ``event`` while the block handles it: its span lasts as long as the block,
    what is published or recorded inside on this thread is its child, and an exception
    leaving the block is recorded on it (then passes through unchanged).

    >>> import tradetrace
    >>> from types import SimpleNamespace as Event
    >>> def event(kind, source):
    ...     return Event(event_type=kind, container_id=source, source_id=source, payload={},
    ...                  event_id=kind, timestamp=None, causation_id=None, correlation_id=None)
    >>> session = tradetrace.configure("normal", backend="memory")
    >>> with tradetrace.dispatching(event("BAR", "data")):
    ...     tradetrace.record(event("SIGNAL", "strategy"))
    True
    >>> tradetrace.flush()
    True
    >>> spans = {span.name: span for span in session.exporter.get_finished_spans()}
    >>> spans["SIGNAL"].parent.span_id == spans["BAR"].context.span_id
    True
    >>> tradetrace.shutdown()
    True
    """

    __slots__ = ("_record", "_finish")

    def __init__(self, event: Any) -> None:
        self._record = None
        session = _current
        recorder = session.recorder if session is not None and session.active else None
        if recorder is not None:
            try:
                self._record = recorder.begin(event)
                self._finish = recorder.finish
            except Exception:  # never into the caller
                self._record = None

    def __enter__(self) -> dispatching:
        return self

    def __exit__(self, kind: Any, error: BaseException | None, trace: Any) -> None:
        record, self._record = self._record, None
        if record is not None:
            try:
                self._finish(record, error)
            except Exception:
                pass


def listen(bus: Any, *, subscribe: str = "subscribe", handler: str = "handler",
           unsubscribe: str | None = None, **arguments: Any) -> bool:
    """Subscribe tradetrace to a framework's own bus, for one whose ``publish`` cannot be
    patched: ``bus.<subscribe>(**arguments, <handler>=capture)``, for example
    ``tradetrace.listen(msgbus, topic="*")``. Each message the bus hands the capture
    handler is recorded as by :func:`record`. ``unsubscribe`` names the method that
    undoes it when tracing ends. False (logged) if the bus refused or there is no session.
    """
    from .capture.listener import ListenSpec

    session = _session()
    if session is None:
        return False
    spec = ListenSpec(subscribe=subscribe, handler=handler, arguments=arguments,
                      unsubscribe=unsubscribe)
    return bool(session.listeners.listen(bus, spec))


def inject(event: Any) -> bool:
    """Write the trace context of ``event`` (W3C ``traceparent``) into its metadata before
    it crosses a queue or a process boundary; publishing it on a traced bus there
    continues the trace. False when nothing traced is in flight on this thread."""
    return _current.inject(event) if _current is not None else False
