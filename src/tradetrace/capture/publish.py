"""The publish path: where an event becomes a record (and, later, a span).

Budget (``../shared/PERFORMANCE.md``): +0.3 us for an event the level does not trace,
+2 us for one it does. So the patched ``publish`` decides with one or two dict lookups
before anything else, and for a traced event only snapshots the payload (model/snapshot.py),
takes two timestamps and appends a list to its container's buffer. Spans are encoded
later by the export worker.

Two measured choices keep it inside the budget:

- it is a plain function on the bus class, not a wrapt wrapper: a class-level wrapt
  ``FunctionWrapper`` costs ~0.6 us per call by itself (it binds on every attribute
  lookup), twice the whole budget of an untraced event. Everything off this path
  (subscribe, lifecycle, run, post-import hooks) uses wrapt;
- it is generated from the template below with the original's own signature and the
  profile's field names written in, like ``dataclasses`` generates ``__init__``:
  ``*args, **kwargs`` forwarding costs ~0.4 us more per call than a fixed signature.

The generated source is registered with ``linecache`` under its own pseudo-file name,
``<tradetrace publish #N of module.Class.publish>`` (N counts the functions generated in
this process, so no two share a name), and compiled with that name: a traceback through
the patched ``publish`` shows its lines, pdb lists them, and
``inspect.getsource(publish.__code__)`` returns them. (``inspect.getsource(publish)``
follows ``__wrapped__``, set by ``functools.wraps``, to the original's source.) The entry
lives as long as the generated code object. The bytecode is the same as without it: only
the code's file name is different.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import linecache
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ..decide.table import DecisionTable
from ..model.events import DEFAULT_ADAPTER, EventAdapter, as_adapter
from ..model.record import EVENT, SUPPRESSED, dispatch
from ..model.snapshot import copy_values, is_tracked, snapshot
from .propagation import TRACEPARENT, remote_parent

logger = logging.getLogger(__name__)

class PublishStats:
    """Counters of the publish path's own failures (there should be none)."""

    undecidable = 0  #: events whose type could not be looked up (published untraced)
    unsnapshotable = 0  #: payloads that could not be copied (span without payload attributes)


# Slots of the record (see model/record.py): [EVENT, route, event, snapshot, parent, start, end,
# ids, error, trade, serial]. {event_type} {container_id} {payload} {metadata} are the
# event adapter's expressions reading those fields (model/events.py);
# {params} and {args} are the original's parameters (or *args, **kwargs).
#: The payload snapshot: a copy as it is now, however the traced code changes it later.
_SNAPSHOT = """\
    if kind is EVENT:  # (a signal only counted, TALLY, keeps three fields at the end)
        try:  # the payload as it is now, however the traced code changes it later
            payload = {payload}
            if payload.__class__ is dict:
                copy = payload.copy()
                record[3] = copy_values(copy) if is_tracked(copy) else copy
            else:
                record[3] = snapshot(payload)
        except Exception:
            stats.unsnapshotable += 1"""
#: An adapter's events that never change once published are kept whole, not copied:
#: the export worker reads their payload (EventAdapter.payload_of).
_KEPT_WHOLE = """\
    if kind is EVENT:  # kept whole: the export worker reads its payload
        record[3] = event"""

#: Deciding and starting the record, shared with the recorder (recorder.py); {skip} is
#: how the generated function returns when the event is not recorded.
DECIDE = """\
    try:
        by_container = by_type({event_type}, MISS)
        if by_container is None:
            {skip}
        if by_container is MISS:
            route = resolve(event)
        else:
            key = {container_id}
            # a miss asks the table: MISS (decide it), or past its caps the overflow route
            route = by_container[key] if key is not None else by_source(event)
            if route is MISS:
                route = resolve(event)
    except Exception:
        stats.undecidable += 1
        route = None
    if route is None:
        {skip}

    stack = local.stack
    if stack:
        parent = stack[-1]
        # suppress_tracing(), or the same event again (an overriding subclass's publish
        # calling the patched base's): the call goes through unrecorded
        if parent is SUPPRESSED or parent[2] is event:
            {skip}
    else:
        parent = None
        try:  # a root event may carry its cause from another process (propagation.py)
            carrier = {metadata}  # no exception for events without
            if carrier and TRACEPARENT in carrier:
                parent = remote(carrier)
        except Exception:
            pass
    kind = route.kind
    record = [kind, route, event, None, parent, 0, 0, None, None, None, None]
"""

_TEMPLATE = """
def publish(self, {params}):
    {bind}
""" + DECIDE + """\
{snapshot}
    stack.append(record)
    record[5] = time_ns()
    try:
        return original(self, {args})
    except BaseException as exc:
        record[8] = exc
        raise
    finally:
        record[6] = time_ns()
        stack.pop()
        try:
            record[2] = route.keep(event)
        except Exception:  # an event without some field: the encoder reads it as it is
            pass
        buffer = route.buffer
        records = buffer.records
        if len(records) < buffer.limit:
            records.append(record)
        else:  # wakes the worker, or (worker behind) drops the record, counted
            buffer.full(record)
"""


def traced_publish(
    original: Callable[..., Any],
    table: DecisionTable,
    adapter: EventAdapter | Mapping[str, str] = DEFAULT_ADAPTER,
) -> Callable[..., Any]:
    """A replacement for ``Bus.publish`` that records traced events and calls the original.

    It is ``_TEMPLATE`` with the original's parameters and the event adapter's expressions
    for the event's type, container, payload and metadata written in (a mapping of field
    names is read as attributes by those names), compiled once here. For
    ``def publish(self, event)`` and the default adapter (attributes by ADMF-PC's names) it
    writes (tests/capture/test_publish_source.py checks that this example is what it writes)::

        def publish(self, event):
            event = event
            try:
                by_container = by_type(event.event_type, MISS)
                if by_container is None:
                    return original(self, event)
                if by_container is MISS:
                    route = resolve(event)
                else:
                    key = event.container_id
                    # a miss asks the table: MISS (decide it), or past its caps the overflow route
                    route = by_container[key] if key is not None else by_source(event)
                    if route is MISS:
                        route = resolve(event)
            except Exception:
                stats.undecidable += 1
                route = None
            if route is None:
                return original(self, event)

            stack = local.stack
            if stack:
                parent = stack[-1]
                # suppress_tracing(), or the same event again (an overriding subclass's publish
                # calling the patched base's): the call goes through unrecorded
                if parent is SUPPRESSED or parent[2] is event:
                    return original(self, event)
            else:
                parent = None
                try:  # a root event may carry its cause from another process (propagation.py)
                    carrier = getattr(event, 'metadata', None)  # no exception for events without
                    if carrier and TRACEPARENT in carrier:
                        parent = remote(carrier)
                except Exception:
                    pass
            kind = route.kind
            record = [kind, route, event, None, parent, 0, 0, None, None, None, None]
            if kind is EVENT:  # (a signal only counted, TALLY, keeps three fields at the end)
                try:  # the payload as it is now, however the traced code changes it later
                    payload = event.payload
                    if payload.__class__ is dict:
                        copy = payload.copy()
                        record[3] = copy_values(copy) if is_tracked(copy) else copy
                    else:
                        record[3] = snapshot(payload)
                except Exception:
                    stats.unsnapshotable += 1
            stack.append(record)
            record[5] = time_ns()
            try:
                return original(self, event)
            except BaseException as exc:
                record[8] = exc
                raise
            finally:
                record[6] = time_ns()
                stack.pop()
                try:
                    record[2] = route.keep(event)
                except Exception:  # an event without some field: the encoder reads it as it is
                    pass
                buffer = route.buffer
                records = buffer.records
                if len(records) < buffer.limit:
                    records.append(record)
                else:  # wakes the worker, or (worker behind) drops the record, counted
                    buffer.full(record)

    The function carries the original's ``functools.wraps`` attributes (``__wrapped__`` is
    the original), ``__tradetrace_source__``: the pseudo-file name its source is
    registered under in ``linecache`` (also its ``__code__.co_filename``), and
    ``__tradetrace_fields__``: the expressions written in, by field.
    """
    adapter = as_adapter(adapter)  # a ValueError for a field it cannot read
    expressions = adapter_expressions(adapter)
    params, args, bind = _binding(original, adapter.argument)
    source = _TEMPLATE.format(params=params, args=args, bind=bind,
                              snapshot=snapshot_block(adapter),
                              skip=f"return original(self, {args})", **expressions)
    filename = f"<tradetrace publish #{next(_generated)} of {_name(original)}>"
    namespace = compiled(source, filename, table, adapter, original=original)
    publish: Any = functools.wraps(original)(namespace["publish"])
    publish.__tradetrace_patch__ = True
    publish.__tradetrace_source__ = filename
    publish.__tradetrace_fields__ = expressions
    return publish


_generated = itertools.count(1)


def adapter_expressions(adapter: EventAdapter) -> dict[str, str]:
    """What the templates read of an event, as the adapter writes it."""
    clash = sorted(set(adapter.namespace()) & (_TEMPLATE_NAMES | {"event"}))
    if clash:
        raise ValueError(f"the {adapter.name} adapter's name {clash[0]!r} is one the "
                         "generated functions use")
    return {
        "event_type": adapter.read("event_type"), "container_id": adapter.read("container_id"),
        "payload": adapter.read("payload"), "metadata": adapter.read_or_none("metadata"),
    }


def snapshot_block(adapter: EventAdapter) -> str:
    """The payload's snapshot (or, for events kept whole, the event) in the templates."""
    if adapter.deferred_payload:
        return _KEPT_WHOLE
    return _SNAPSHOT.format(payload=adapter.read("payload"))


def compiled(source: str, filename: str, table: DecisionTable, adapter: EventAdapter,
             **names: Any) -> dict[str, Any]:
    """``source`` run in the names the templates use, its text kept in ``linecache`` for
    as long as what it defines lives; its namespace."""
    namespace: dict[str, Any] = {
        **adapter.namespace(), **names,
        "by_type": table.by_type.get, "resolve": table.resolve,
        "by_source": table.resolve_by_source, "MISS": table.MISS, "stats": PublishStats,
        "local": dispatch, "snapshot": snapshot, "copy_values": copy_values,
        "is_tracked": is_tracked, "time_ns": time.time_ns, "EVENT": EVENT,
        "SUPPRESSED": SUPPRESSED, "TRACEPARENT": TRACEPARENT, "remote": remote_parent,
    }
    exec(compile(source, filename, "exec"), namespace)
    for value in list(namespace.values()):
        code = getattr(value, "__code__", None)
        if code is not None and code.co_filename == filename:
            _register_source(code, filename, source)
            break
    return namespace


def _register_source(code: Any, filename: str, source: str) -> None:
    """Puts ``source`` in ``linecache`` under ``filename`` for as long as ``code`` lives.

    A ``None`` mtime, as attrs registers its generated methods, makes
    ``linecache.checkcache`` (run by ``traceback`` before it reads lines) keep the entry;
    a finalizer on the code object (which frames and tracebacks hold, not the function)
    drops it when no traceback can show it any more, so re-arming in a long run does not
    accumulate sources.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    weakref.finalize(code, linecache.cache.pop, filename, None)


def _binding(function: Callable[..., Any], argument: int | str | None) -> tuple[str, str, str]:
    """(parameters, arguments, the line binding ``event``) for the generated function.

    The original's own parameters when they are plain (positional or keyword, no
    defaults, no names the template uses): a fixed signature is cheaper to call than
    ``*args, **kwargs``. The event is ``argument`` (a name, or a position after self),
    else the only parameter, else the first."""
    names = _plain_parameters(function)
    if names is not None and (argument is None or argument in names or (
            isinstance(argument, int) and argument < len(names))):
        event = (argument if isinstance(argument, str) else names[argument or 0])
        listed = ", ".join(names)
        return listed, listed, "event = " + event
    position = argument if isinstance(argument, int) else 0
    if isinstance(argument, str):
        known = _parameter_names(function)
        position = known.index(argument) if argument in known else -1
        by_position = (f"args[{position}] if len(args) > {position} else None"
                       if position >= 0 else "None")
        bind = f"event = kwargs[{argument!r}] if {argument!r} in kwargs else {by_position}"
    elif position == 0:
        bind = "event = args[0] if args else next(iter(kwargs.values()), None)"
    else:
        bind = f"event = args[{position}] if len(args) > {position} else None"
    return "*args, **kwargs", "*args, **kwargs", bind


def _parameter_names(function: Callable[..., Any]) -> list[str]:
    """The names of ``function``'s parameters after ``self`` ([] if it has no signature)."""
    try:
        return list(inspect.signature(function).parameters)[1:]
    except (TypeError, ValueError):
        return []


def _plain_parameters(function: Callable[..., Any]) -> list[str] | None:
    """The parameter names after ``self`` if all are plain and none is a name the
    template uses; else None."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    plain = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if len(parameters) < 2 or not all(
        p.kind is plain and p.default is inspect.Parameter.empty for p in parameters
    ):
        return None
    names = [p.name for p in parameters[1:]]
    # Names the template itself uses would be shadowed.
    return None if set(names) & _TEMPLATE_NAMES else names


_TEMPLATE_NAMES = frozenset({
    "self", "by_container", "route", "key", "stack", "record", "payload", "buffer",
    "records", "exc", "original", "by_type", "resolve", "by_source", "MISS", "stats",
    "local", "snapshot", "time_ns", "EVENT", "parent", "carrier", "remote", "SUPPRESSED",
    "TRACEPARENT", "copy", "copy_values", "is_tracked", "dict",
})


def _name(function: Any) -> str:
    """``module.Class.method`` for the pseudo-file name."""
    qualname = getattr(function, "__qualname__", type(function).__name__)
    module = getattr(function, "__module__", None)
    return f"{module}.{qualname}" if isinstance(module, str) and module else qualname
