"""Records as bytes: how the traced process hands them to the encoder process.

The traced process only packs (``Packer``); the encoder process unpacks
(``unpacking.py``) into the same record lists the span encoder and trade retention
read, so everything after the hand-over is the code the in-process worker runs.

A frame body is one pickle (protocol 5, C pickler) of ``(new_routes, rows)``:

- ``new_routes``: ``(number, definition)`` of each route met for the first time; a row
  names its route by number (routes are few, and made again by ``set_level``);
- ``rows``: per record ``(kind, route, subject, snapshot, cause, start, end, ids,
  error, serial)``. The first reference to a cause describes it, ``(serial, kind,
  route, ids, kept, its own cause, settled)``: what the encoder reads of it while it is
  still being dispatched (its fields, for the ``trading.causation.id``; its chain up to
  the run, for a root's link). Later ones are its serial, or ``(serial, ids)`` once the
  traced process gave it ids (``inject``, a fork). A cause that is never sent (a remote
  ``traceparent``'s stand-in, a cause inherited through a fork) is described each time,
  settled (no trade). A handler's subject is its name; a lifecycle or run step has
  none (its route is its name and attributes). An exception becomes a
  :class:`~tradetrace.export.plain_values.PackedError`.

Values are pickled by ``plain_values.dumps``: as they are where the encoder process can
import their class, made plain otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from ..model.record import (
    EVENT,
    HANDLER,
    LIFECYCLE,
    RUN,
    SERIAL,
    Record,
)
from ..model.route import Route
from .plain_values import dumps, handler_name, packed_error


def route_definition(route: Route) -> tuple[Any, ...]:
    return (route.container, route.event_type, route.payload_snapshot, route.role,
            route.retention, route.kind)


class Packer:
    """The traced process's side: records to frame bodies. One thread packs."""

    def __init__(self, kept: Callable[[Any], tuple[Any, ...]]) -> None:
        #: an event's kept fields read from the event itself, leniently (the span
        #: encoder's ``kept``): for an event still in flight, or one lacking a field
        self._kept = kept
        self._routes: dict[Route, int] = {}
        self._serials = itertools.count(1)
        self.errors = 0  #: records that could not be packed (dropped, counted)

    def pack(self, records: Iterable[Record]) -> tuple[bytes, int]:
        """One frame body of ``records``, and how many of them it holds: a record that
        cannot be pickled is left out (``errors``), never the frame."""
        new_routes: list[tuple[int, tuple[Any, ...]]] = []
        rows = [self._row(record, new_routes) for record in records]
        try:
            return dumps((new_routes, rows)), len(rows)
        except Exception:
            pass
        kept = []
        for row in rows:  # the smallest unit: find the record that fails
            try:
                dumps(row)
            except Exception:
                self.errors += 1
                continue
            kept.append(row)
        return dumps((new_routes, kept)), len(kept)

    def _row(self, record: Record, new_routes: list[tuple[int, tuple[Any, ...]]]) -> tuple:
        kind, route, subject = record[0], record[1], record[2]
        if kind is LIFECYCLE or kind is RUN:
            subject = None
        else:
            route = self._route(route, new_routes)
            if kind is HANDLER:
                subject = handler_name(subject)
            elif kind is EVENT and subject.__class__ is not tuple:
                subject = self._kept(subject)
        parent = record[4]
        if parent is not None:
            parent = self._cause(parent, new_routes)
        serial = record[SERIAL]
        if serial is None:
            serial = record[SERIAL] = next(self._serials)
        error = record[8]
        if error is not None:
            error = packed_error(error)
        return (kind, route, subject, record[3], parent, record[5], record[6], record[7],
                error, serial)

    def _cause(self, cause: Record, new_routes: list[tuple[int, tuple[Any, ...]]]) -> Any:
        """A reference to a record's cause: its serial once described (with its ids, if
        it got some since), else all the encoder needs while it is in flight: kind,
        route, ids, kept fields (or handler name) and its own cause."""
        serial = cause[SERIAL]
        settled = cause[9] is not None  # a stand-in, never sent: described each time
        if serial is not None and not settled:
            ids = cause[7]
            return serial if ids is None else (serial, ids)
        if serial is None:
            serial = cause[SERIAL] = next(self._serials)
        kind, route, subject = cause[0], cause[1], cause[2]
        kept: Any = None
        if kind is LIFECYCLE or kind is RUN:
            pass
        elif route is not None:
            route = self._route(route, new_routes)
            if kind is HANDLER:
                kept = handler_name(subject)
            elif subject.__class__ is tuple:
                kept = subject
            else:  # an event still being dispatched: its fields now
                kept = self._kept(subject)
        elif subject.__class__ is tuple:
            kept = subject
        grand = cause[4]
        if grand is not None:
            grand = self._cause(grand, new_routes)
        return (serial, kind, route, cause[7], kept, grand, settled)

    def routes_body(self) -> bytes:
        """A frame body of no record that defines every route met so far: the first a new
        encoder process gets, since frames packed already name routes by number."""
        known = list(self._routes.items())  # (the packing thread may add to it meanwhile)
        return dumps(([(number, route_definition(route)) for route, number in known], []))

    def _route(self, route: Route, new_routes: list[tuple[int, tuple[Any, ...]]]) -> int:
        number = self._routes.get(route)
        if number is None:
            number = self._routes[route] = len(self._routes)
            new_routes.append((number, route_definition(route)))
        return number

