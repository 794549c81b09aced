"""Recording events without patching: ``tradetrace.record(event)``, ``tradetrace.dispatching``
and the listener a profile subscribes on a framework's own bus (listener.py).

A framework whose bus cannot be patched (a compiled class) or that has no bus at all
hands its events to tradetrace instead. The functions are generated from the same
template as the patched ``publish`` (publish.py: decide with one or two dict lookups,
snapshot the payload, append to the container's buffer), so levels, retention,
accounting, safety and the publish-path budgets are the same; only the span's timing
differs:

- ``record(event)``: the event happened now; its span has no duration. Nothing it causes
  is known by nesting (a profile's ``correlate`` ids link what belongs together);
- ``begin(event)`` ... ``finish(record)``: the event is being handled until ``finish``;
  whatever is recorded or published on this thread in between is its child, as with a
  patched ``publish``. ``tradetrace.dispatching(event)`` is the context manager over them.

Neither raises into the caller: an event that cannot be read is counted
(``stats()["undecidable_events"]``) and left unrecorded.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from ..decide.table import DecisionTable
from ..model.events import EventAdapter
from ..model.record import END, ERROR, SUBJECT, Record, dispatch
from .publish import DECIDE, adapter_expressions, compiled, snapshot_block

_RECORD = """
def record(event):
""" + DECIDE.replace("{skip}", "return False") + """\
{snapshot}
    record[5] = record[6] = time_ns()
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
    return True


def begin(event):
""" + DECIDE.replace("{skip}", "return None") + """\
{snapshot}
    stack.append(record)
    record[5] = time_ns()
    return record
"""

_generated = itertools.count(1)


class Recorder:
    """The generated ``record`` and ``begin`` for one decision table and adapter."""

    def __init__(self, table: DecisionTable, adapter: EventAdapter) -> None:
        source = _RECORD.format(snapshot=snapshot_block(adapter), **adapter_expressions(adapter))
        namespace = compiled(source, f"<tradetrace recorder #{next(_generated)}>", table,
                             adapter)
        #: ``record(event) -> bool``: recorded now, as a span without duration
        self.record: Callable[[Any], bool] = namespace["record"]
        #: ``begin(event) -> record | None``: recording until :meth:`finish`
        self.begin: Callable[[Any], Record | None] = namespace["begin"]

    @staticmethod
    def finish(record: Record, error: BaseException | None = None) -> None:
        """End what :attr:`begin` started (on the thread that began it)."""
        record[END] = time.time_ns()
        if error is not None:
            record[ERROR] = error
        stack = dispatch.stack
        if stack and stack[-1] is record:
            stack.pop()
        route = record[1]
        try:
            record[SUBJECT] = route.keep(record[SUBJECT])
        except Exception:  # an event without some field: the encoder reads it as it is
            pass
        buffer = route.buffer
        if len(buffer.records) < buffer.limit:
            buffer.records.append(record)
        else:
            buffer.full(record)
