"""Records as bytes: how the traced process hands them to the encoder process.

The traced process only packs (``Packer``); the encoder process unpacks (``Unpacker``)
into the same record lists the span encoder and trade retention read, so everything
after the hand-over is the code the in-process worker runs.

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
  :class:`PackedError`.

A cause is usually still being dispatched when the records it caused are packed (a
BAR ends after its SIGNAL); the unpacker stands a placeholder in for it, in flight (no
end time), and fills that same list in when the cause arrives, so retention's "cause
still in flight" and the encoder's ids work as in one process.

Values are pickled as they are when the encoder process can import their class (the
standard library, installed packages); others are made plain: an ``Enum`` its value,
a subclass of ``str``/``int``/``float``/``dict``/``list``/``tuple`` its base, anything
else an :class:`Opaque` (recorded as not convertible, as the span encoder would).
"""

from __future__ import annotations

import enum
import io
import itertools
import pickle
import sys
import traceback
import types
from collections.abc import Callable, Iterable
from typing import Any

from ..config import DEFAULT_RETENTION
from ..model.record import (
    EVENT,
    HANDLER,
    LIFECYCLE,
    RUN,
    SERIAL,
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


class PackedError(Exception):
    """An exception that escaped traced code, as the encoder process sees it: the type's
    qualified and short names, its text and its stack trace, formatted where it was
    raised."""

    def __init__(self, qualified: str, name: str, message: str, stacktrace: str) -> None:
        super().__init__(message)
        self.qualified, self.name, self.message, self.stacktrace = (
            qualified, name, message, stacktrace)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        return PackedError, (self.qualified, self.name, self.message, self.stacktrace)


def packed_error(error: BaseException) -> PackedError:
    if isinstance(error, PackedError):
        return error
    cls = type(error)
    module = cls.__module__
    qualified = cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
    try:
        message = str(error)
    except Exception as exc:  # a broken __str__: its own failure, not ours
        message = f"<unprintable {cls.__name__}: {exc!r}>"
    stack = "".join(traceback.format_exception(cls, error, error.__traceback__))
    return PackedError(qualified, cls.__name__, message, stack)


class Opaque:
    """A value whose class the encoder process cannot import: its type's name and its
    text (``str()``, made where it was recorded; None if that failed). The encoder
    treats it as it treats the value: no attribute form, and its text where one is
    needed (an id object's), which fails as the value's own ``str()`` did."""

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str | None = None) -> None:
        self.type_name, self.text = type_name, text

    def __str__(self) -> str:
        if self.text is None:
            raise ValueError(f"a {self.type_name} value without a text")
        return self.text

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __reduce__(self) -> Any:
        return Opaque, (self.type_name, self.text)


def _same(value: Any) -> Any:
    return value


_BASES = (str, int, float, dict, list, tuple)
_CALLABLES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type,
              types.ModuleType)
#: class -> True (pickled as it is) or a function making its instances plain
_how: dict[type, Any] = {}


def _importable(cls: type) -> bool:
    """Whether the encoder process (``python -I``: the standard library and installed
    packages) can import ``cls`` by name."""
    module = getattr(cls, "__module__", None) or ""
    root = module.partition(".")[0]
    if root in ("builtins", "tradetrace") or root in sys.stdlib_module_names:
        return "<locals>" not in getattr(cls, "__qualname__", "<locals>")
    file = getattr(sys.modules.get(root), "__file__", None) or ""
    return ("site-packages" in file or "dist-packages" in file) and (
        "<locals>" not in getattr(cls, "__qualname__", "<locals>"))


def _decide(cls: type) -> Any:
    # Functions of any kind (Cython's too) and classes are saved by name: reductions
    # name them (pandas' ``_unpickle_timestamp``, ``datetime``), and so may payloads.
    if issubclass(cls, _CALLABLES) or ("function" in cls.__name__
                                       and "__call__" in dir(cls)):
        how: Any = _named
    elif issubclass(cls, enum.Enum):
        how = _enum_value
    elif _importable(cls):
        how = True
    else:
        base = next((b for b in _BASES if issubclass(cls, b)), None)
        how = _opaque if base is None else _as_base(base)
    if len(_how) < 4096:
        _how[cls] = how
    return how


#: classes and functions -> whether the encoder process can import them by name
_importable_names: dict[Any, bool] = {}


def _named(value: Any) -> Any:
    """A class or function: by name where the encoder process can import it (the
    classes that reductions name, such as ``datetime``), else opaque."""
    try:
        known = _importable_names.get(value)
    except TypeError:  # unhashable
        known = None
    if known is None:
        known = _importable(value if isinstance(value, type) else type(
            "_", (), {"__module__": getattr(value, "__module__", None) or "",
                      "__qualname__": getattr(value, "__qualname__", "<locals>")}))
        if len(_importable_names) < 4096:
            try:
                _importable_names[value] = known
            except TypeError:
                pass
    return NotImplemented if known else _opaque(value)


def _opaque(value: Any) -> Any:
    try:
        text: str | None = str(value)
    except Exception:
        text = None
    return Opaque, (type(value).__qualname__, text)


def _enum_value(value: Any) -> Any:
    return _same, (value.value,)


def _as_base(base: type) -> Any:
    if base is dict:
        return lambda value: (dict, (list(dict.items(value)),))
    return lambda value: (base, (base(value),))


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        how = _how.get(obj.__class__)
        if how is None:
            how = _decide(obj.__class__)
        if how is True:
            return NotImplemented
        return how(obj)


def dumps(value: Any) -> bytes:
    out = io.BytesIO()
    _Pickler(out, protocol=5).dump(value)
    return out.getvalue()


def _qualname(handler: Any) -> str:
    name = getattr(handler, "__qualname__", None)
    return name if isinstance(name, str) else type(handler).__qualname__


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
                subject = _qualname(subject)
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
                kept = _qualname(subject)
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

