"""The publish path: where an event becomes a record (and, later, a span).

Budget (``../shared/PERFORMANCE.md``): +0.3 us for an event the level does not trace,
+2 us for one it does. So this function decides with one table lookup before anything
else, and for a traced event only snapshots the payload, takes two timestamps and
appends a list to its container's buffer. Spans are built later by the export worker.

The patch is a plain function on the bus class rather than a wrapt wrapper: on this
path a class-level wrapt ``FunctionWrapper`` costs ~0.6 us per call by itself (binding
on every attribute lookup), twice the whole budget for an untraced event. Everything
off this path (subscribe, lifecycle, run, post-import hooks) uses wrapt.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from ..decide.table import DecisionTable
from .record import END, ERROR, EVENT, SNAPSHOT, START, dispatch

logger = logging.getLogger(__name__)

#: Bounds of a DEBUG payload snapshot (deep copy of dicts and lists).
SNAPSHOT_DEPTH = 4
SNAPSHOT_ITEMS = 256


def snapshot(value: Any, depth: int = SNAPSHOT_DEPTH) -> Any:
    """Copy nested dicts and lists so later mutation by the traced code cannot leak in."""
    if depth and isinstance(value, dict):
        return {k: snapshot(v, depth - 1) for k, v in list(value.items())[:SNAPSHOT_ITEMS]}
    if depth and isinstance(value, (list, tuple)):
        return [snapshot(v, depth - 1) for v in value[:SNAPSHOT_ITEMS]]
    return value


class PublishStats:
    """Counters of the publish path's own failures (there should be none)."""

    undecidable = 0  #: events whose key could not be looked up (counted, passed through)
    unsnapshotable = 0  #: payloads that could not be copied (span has no payload attributes)


def traced_publish(
    original: Callable[..., Any], table: DecisionTable, payload_field: str = "payload"
) -> Callable[..., Any]:
    """A replacement for ``Bus.publish`` that records traced events and calls the original."""
    lookup, resolve, key_of, miss = table.lookup, table.resolve, table.key_of, table.MISS
    payload_of = attrgetter(payload_field)
    time_ns = time.time_ns
    local = dispatch

    @functools.wraps(original)
    def publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            event = args[0] if args else next(iter(kwargs.values()))
            key = key_of(event)
            route = lookup(key, miss)
            if route is miss:
                route = resolve(key)
        except Exception:  # an event we cannot read is still published, untraced
            PublishStats.undecidable += 1
            route = None
        if route is None:
            return original(self, *args, **kwargs)

        stack = local.stack
        record = [EVENT, route, event, None, stack[-1] if stack else None, 0, 0, None, None]
        try:
            payload = payload_of(event)
            record[SNAPSHOT] = snapshot(payload) if route.payload_snapshot else payload.copy()
        except Exception:
            PublishStats.unsnapshotable += 1
        stack.append(record)
        record[START] = time_ns()
        try:
            return original(self, *args, **kwargs)
        except BaseException as exc:
            record[ERROR] = exc
            raise
        finally:
            record[END] = time_ns()
            stack.pop()
            buffer = route.buffer
            records = buffer.records
            records.append(record)
            if len(records) >= buffer.cap:
                buffer.full()

    publish.__tradetrace_patch__ = True  # type: ignore[attr-defined]
    return publish
