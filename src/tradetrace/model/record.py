"""The record: what the publish path keeps of one event, handler call or lifecycle step.

A record is a plain list, not an object: creating a list is several times cheaper than
instantiating a class, and the publish path has a budget of about 2 us. Slots are named
by the constants below; only the capture code writes them, and only the export worker
reads them (after the record is finished) and fills ``IDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

# Record kinds (compared by identity on the hot path)
EVENT = "event"
HANDLER = "handler"
LIFECYCLE = "lifecycle"
RUN = "run"
#: A signal a level does not trace, recorded for the signal metrics only (why-not at
#: MINIMAL): never a span. Its SUBJECT is (direction, strategy, symbol), read when its
#: publish returns; it has no payload snapshot. The kind makes an event published under
#: it a root, as when nothing above it is traced.
TALLY = "tally"

# Slots
KIND = 0  #: one of the kinds above
ROUTE = 1  #: EVENT/HANDLER: the Route the table chose; LIFECYCLE/RUN: (name, attributes)
SUBJECT = 2  #: EVENT: the event while dispatched, then its KEPT fields; HANDLER: the handler
SNAPSHOT = 3  #: EVENT: the payload as it was at publish time
PARENT = 4  #: the record being dispatched when this one started (the cause), or None
START = 5  #: wall clock, ns since the epoch
END = 6
IDS = 7  #: (trace_id, span_id), assigned lazily by the export worker
ERROR = 8  #: the exception that escaped, if any
TRADE = 9  #: the TrackedTrade it belongs to (retain/tracked_trade.py), set by the export worker
#: its number in the stream to the encoder process (export/packing.py), given when it or
#: a record it caused is first packed
SERIAL = 10

#: Pushed on the dispatch stack by ``tradetrace.suppress_tracing()``: nothing published
#: below it is recorded. Never in a buffer; its TRADE slot says "no trade" (retain/trades.py).
SUPPRESSED: list[Any] = ["suppressed", None, None, None, None, 0, 0, None, None, 0, None]

Record = list  # type alias for readers: list[Any] laid out as above

#: What an EVENT record keeps of its event once published: a tuple of these fields
#: replaces the event in SUBJECT, so the event (its __dict__, payload and metadata) is
#: freed at once rather than aging through the garbage collector's generations.
#: DEBUG keeps all of them; other levels the first six.
KEPT_FIELDS = (
    "event_id", "source_id", "timestamp", "causation_id", "correlation_id",
    "target_container", "sequence_number", "metadata",
)
F_EVENT_ID, F_SOURCE, F_TIME, F_CAUSATION, F_CORRELATION, F_TARGET, F_SEQUENCE, F_METADATA = (
    range(len(KEPT_FIELDS))
)
KEPT_AT_NORMAL = 6


class DispatchStack(threading.local):
    """Per thread: the records being dispatched, innermost last.

    Synchronous event buses publish nested events from inside handlers, so the innermost
    traced record is the cause of whatever is published next on the same thread.
    """

    def __init__(self) -> None:
        self.stack: list[Record] = []


dispatch = DispatchStack()


def new_record(kind: str, route: Any, subject: Any, parent: Record | None, start: int) -> Record:
    """A record for the colder paths (lifecycle, run); the publish path inlines this."""
    return [kind, route, subject, None, parent, start, 0, None, None, None, None]


def call_recorded(
    record: Record | None,
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    done: Callable[[Record], None],
    push: bool = True,
) -> Any:
    """Call ``wrapped`` as ``record``: its error recorded and re-raised unchanged, its end
    time set, then handed to ``done`` (which must not raise). ``push`` puts it on the
    dispatch stack, as the parent of what happens inside the call."""
    if record is None:
        return wrapped(*args, **kwargs)
    stack = dispatch.stack
    if push:
        stack.append(record)
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:  # recorded, then passed through unchanged
        record[ERROR] = exc
        raise
    finally:
        record[END] = time.time_ns()
        if stack and stack[-1] is record:
            stack.pop()
        done(record)
