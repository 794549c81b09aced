"""Frame bodies back into records, in the encoder process (``packing.py`` packs them).

A cause is usually still being dispatched when the records it caused are packed (a
BAR ends after its SIGNAL); the unpacker stands a placeholder in for it, in flight (no
end time), and fills that same list in when the cause arrives, so retention's "cause
still in flight" and the encoder's ids work as in one process.
"""

from __future__ import annotations

import itertools
import pickle
from typing import Any

from ..config import DEFAULT_RETENTION
from ..model.record import (
    EVENT,
    HANDLER,
    LIFECYCLE,
    RUN,
    TALLY,
    Record,
)
from ..model.route import Route
from ..retain.trade_rules import CLOSE, FILL, OPEN, ORDER, SIGNAL, UPDATE

#: the constants themselves: kinds and roles are compared by identity
KINDS = {kind: kind for kind in (EVENT, HANDLER, LIFECYCLE, RUN, TALLY)}
ROLES = {role: role for role in (ORDER, FILL, OPEN, CLOSE, UPDATE, SIGNAL)}
#: records remembered by serial, at most (a cause dropped in the traced process never
#: arrives): the oldest are forgotten past this
MAX_KNOWN = 65_536


class Unpacker:
    """The encoder process's side: frame bodies to records, causes linked."""

    def __init__(self) -> None:
        self.routes: dict[int, Route] = {}
        #: serial -> record: causes referenced (placeholders until they arrive) and
        #: records arrived (an effect packed after its cause, in the same frame)
        self._known: dict[int, Record] = {}

    def unpack(self, body: bytes) -> list[Record]:
        new_routes, rows = pickle.loads(body)
        for number, definition in new_routes:
            self.routes[number] = _route(definition)
        routes, known = self.routes, self._known
        out: list[Record] = []
        for kind, route, subject, snapshot, parent, start, end, ids, error, serial in rows:
            kind = KINDS[kind]
            if kind is not LIFECYCLE and kind is not RUN:
                route = routes[route]
            if parent is not None:
                parent = self._cause(parent)
            record = known.get(serial)
            if record is None:
                record = [kind, route, subject, snapshot, parent, start, end, ids, error,
                          None, serial]
                self._remember(serial, record)
            else:  # its effects hold this list: fill it in
                if record[7] is not None:  # ids given to it for an effect encoded first
                    ids = record[7]
                record[:] = [kind, route, subject, snapshot, parent, start, end, ids, error,
                             None, serial]
            out.append(record)
        return out

    def _cause(self, ref: Any) -> Record:
        known = self._known
        if ref.__class__ is int or len(ref) == 2:  # described before
            serial, ids = (ref, None) if ref.__class__ is int else ref
            cause = known.get(serial)
            if cause is None:  # forgotten (past MAX_KNOWN): a settled stand-in
                return [EVENT, UNKNOWN_ROUTE, (None,) * 8, None, None, 0, 0, ids, None, 0,
                        serial]
            if ids is not None and cause[7] is None:
                cause[7] = ids
            return cause
        serial, kind, route, ids, kept, grand, settled = ref
        kind = KINDS[kind]
        if route.__class__ is int:
            route = self.routes[route]
        if kind is not LIFECYCLE and kind is not RUN:
            if kept is None and kind is not HANDLER:
                kept = (None,) * 8
        parent = self._cause(grand) if grand is not None else None
        if settled:
            return [kind, route, kept, None, parent, 0, 0, ids, None, 0, serial]
        cause = known.get(serial)
        if cause is None:
            # in flight (no end), of no trade yet: as the cause is in the traced process
            cause = [kind, route, kept, None, parent, 0, 0, ids, None, None, serial]
            self._remember(serial, cause)
        elif ids is not None and cause[7] is None:
            cause[7] = ids
        return cause

    def _remember(self, serial: int, record: Record) -> None:
        known = self._known
        if len(known) >= MAX_KNOWN:
            for stale in list(itertools.islice(known, MAX_KNOWN // 4)):
                del known[stale]
        known[serial] = record


#: the route of a cause forgotten before its effect arrived
UNKNOWN_ROUTE = Route("", "", None, False, None, None, DEFAULT_RETENTION)  # type: ignore[arg-type]


def _route(definition: tuple[Any, ...]) -> Route:
    container, event_type, debug, role, retention, kind = definition
    return Route(container, event_type, None, debug, None,  # type: ignore[arg-type]
                 ROLES.get(role, role), retention, KINDS[kind])
