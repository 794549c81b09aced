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
import keyword
import linecache
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..decide.table import DecisionTable
from ..model.record import EVENT, SUPPRESSED, dispatch
from ..model.snapshot import copy_values, is_tracked, snapshot
from .propagation import TRACEPARENT, remote_parent

logger = logging.getLogger(__name__)

class PublishStats:
    """Counters of the publish path's own failures (there should be none)."""

    undecidable = 0  #: events whose type could not be looked up (published untraced)
    unsnapshotable = 0  #: payloads that could not be copied (span without payload attributes)


# Slots of the record (see model/record.py): [EVENT, route, event, snapshot, parent, start, end,
# ids, error, trade, serial]. {event_type} {container_id} {payload} {metadata} are filled
# in per profile;
# {params} and {args} are the original's parameters (or *args, **kwargs).
_TEMPLATE = """
def publish(self, {params}):
    {bind}
    try:
        by_container = by_type(event.{event_type}, MISS)
        if by_container is None:
            return original(self, {args})
        if by_container is MISS:
            route = resolve(event)
        else:
            key = event.{container_id}
            # a miss asks the table: MISS (decide it), or past its caps the overflow route
            route = by_container[key] if key is not None else by_source(event)
            if route is MISS:
                route = resolve(event)
    except Exception:
        stats.undecidable += 1
        route = None
    if route is None:
        return original(self, {args})

    stack = local.stack
    if stack:
        parent = stack[-1]
        # suppress_tracing(), or the same event again (an overriding subclass's publish
        # calling the patched base's): the call goes through unrecorded
        if parent is SUPPRESSED or parent[2] is event:
            return original(self, {args})
    else:
        parent = None
        try:  # a root event may carry its cause from another process (propagation.py)
            carrier = getattr(event, "{metadata}", None)  # no exception for events without
            if carrier and TRACEPARENT in carrier:
                parent = remote(carrier)
        except Exception:
            pass
    kind = route.kind
    record = [kind, route, event, None, parent, 0, 0, None, None, None, None]
    if kind is EVENT:  # (a signal only counted, TALLY, keeps three fields at the end)
        try:  # the payload as it is now, however the traced code changes it later
            payload = event.{payload}
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
    fields: dict[str, str],
) -> Callable[..., Any]:
    """A replacement for ``Bus.publish`` that records traced events and calls the original.

    It is ``_TEMPLATE`` with the original's parameters and the profile's event field names
    written in, compiled once here. For ``def publish(self, event)`` and the default
    fields (event_type, container_id, payload, metadata: the ADMF-PC profile's) it writes
    (tests/capture/test_publish_source.py checks that this example is what it writes)::

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
                    carrier = getattr(event, "metadata", None)  # no exception for events without
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
    ``__tradetrace_fields__``: the field names written in.
    """
    for name in ("event_type", "container_id", "payload", "metadata"):
        if not fields[name].isidentifier() or keyword.iskeyword(fields[name]):
            raise ValueError(f"event field {fields[name]!r} is not an attribute name")
    event_param = _single_parameter(original)
    if event_param is not None:
        params = args = event_param
        bind = "event = " + event_param
    else:
        params, args = "*args, **kwargs", "*args, **kwargs"
        bind = "event = args[0] if args else next(iter(kwargs.values()))"
    source = _TEMPLATE.format(
        params=params, args=args, bind=bind, event_type=fields["event_type"],
        container_id=fields["container_id"], payload=fields["payload"],
        metadata=fields["metadata"],
    )
    namespace: dict[str, Any] = {
        "original": original, "by_type": table.by_type.get, "resolve": table.resolve,
        "by_source": table.resolve_by_source, "MISS": table.MISS, "stats": PublishStats,
        "local": dispatch, "snapshot": snapshot, "copy_values": copy_values,
        "is_tracked": is_tracked, "time_ns": time.time_ns, "EVENT": EVENT,
        "SUPPRESSED": SUPPRESSED, "TRACEPARENT": TRACEPARENT, "remote": remote_parent,
    }
    filename = f"<tradetrace publish #{next(_generated)} of {_name(original)}>"
    exec(compile(source, filename, "exec"), namespace)
    publish: Any = functools.wraps(original)(namespace["publish"])
    _register_source(publish.__code__, filename, source)
    publish.__tradetrace_patch__ = True
    publish.__tradetrace_source__ = filename
    publish.__tradetrace_fields__ = {
        name: fields[name] for name in ("event_type", "container_id", "payload", "metadata")
    }
    return publish


_generated = itertools.count(1)


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


def _single_parameter(function: Callable[..., Any]) -> str | None:
    """The event parameter's name if ``function`` is exactly ``(self, event)``."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    plain = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if len(parameters) == 2 and all(
        p.kind is plain and p.default is inspect.Parameter.empty for p in parameters
    ):
        name = parameters[1].name
        # Names the template itself uses would be shadowed.
        if name not in _TEMPLATE_NAMES:
            return name
    return None


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
