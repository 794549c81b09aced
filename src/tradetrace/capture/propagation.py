"""W3C trace context on events that cross a process boundary or a queue.

Sending side: :func:`inject` writes ``traceparent`` (the span of the event being sent, or
of the event being handled when it is sent) into the event's metadata. A profile's
``transport`` methods (``mybot.ipc:Bridge.send``) do it for every event they are given.

Receiving side: nothing to call. When an event is published with no local cause and its
metadata holds a ``traceparent``, that remote span becomes its parent, so the cascade in
the worker process continues the trace that started in the parent process.

>>> carrier = {}
>>> inject_ids(carrier, ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"), "evt_1")
>>> carrier["traceparent"]
'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
>>> remote_parent(carrier)[7]
('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7')
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, MutableMapping
from typing import Any

from ..model.events import DEFAULT_ADAPTER, EventAdapter
from ..model.record import EVENT, KIND, SUBJECT, SUPPRESSED, Record, dispatch

logger = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
#: The sending side's event id: the receiving span's ``trading.causation.id``.
CAUSE_EVENT_ID = "tradetrace.cause_event_id"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


class PropagationStats:
    malformed = 0  #: ``traceparent`` values that could not be read (event traced as a root)


def remote_parent(carrier: Any) -> Record | None:
    """A stand-in record for the remote cause named by ``carrier['traceparent']``: an
    EVENT whose ids are known and whose trade is settled (none), never exported."""
    value = carrier.get(TRACEPARENT)
    match = _TRACEPARENT.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None or match[1] == _ZERO_TRACE or match[2] == _ZERO_SPAN:
        PropagationStats.malformed += 1
        if PropagationStats.malformed == 1:
            logger.warning("tradetrace: unreadable traceparent %r; the event starts a new "
                           "trace (logged once, counted from now on)", value)
        return None
    cause = carrier.get(CAUSE_EVENT_ID)
    kept = (cause if isinstance(cause, str) else None,) + (None,) * 7
    return [EVENT, None, kept, None, None, 0, 0, (match[1], match[2]), None, 0, None]


def inject_ids(carrier: MutableMapping[str, Any], ids: tuple[str, str], cause: Any) -> None:
    carrier[TRACEPARENT] = f"00-{ids[0]}-{ids[1]}-01"
    if isinstance(cause, str):
        carrier[CAUSE_EVENT_ID] = cause


def sending_record(event: Any) -> Record | None:
    """The record to continue from: the event's own while it is being dispatched, else
    the innermost event being handled on this thread (the sender's cause)."""
    stack = dispatch.stack
    for record in reversed(stack):
        if record is SUPPRESSED:
            return None
        if record[KIND] is EVENT and record[SUBJECT] is event:
            return record
    for record in reversed(stack):
        if record[KIND] is EVENT:
            return record
    return None


def inject(
    event: Any,
    ids_of: Callable[[Record], tuple[str, str]],
    event_id_of: Callable[[Any], Any],
    adapter: EventAdapter = DEFAULT_ADAPTER,
) -> bool:
    """Write the sending span's context into the event's metadata (made if the event has
    none and its adapter can). False when there is nothing traced to continue from, or
    nowhere to write it. Never raises."""
    try:
        record = sending_record(event)
        if record is None:
            return False
        carrier = adapter.metadata(event, create=True)
        if carrier is None:
            return False
        inject_ids(carrier, ids_of(record), event_id_of(record[SUBJECT]))
        return True
    except Exception:
        logger.debug("tradetrace: could not inject trace context", exc_info=True)
        return False
