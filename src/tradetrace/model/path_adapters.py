"""Adapters that read an event's fields by dotted path: ``objects`` (attributes, as a
compiled framework's value objects have them) and ``keys`` (keys of mappings), with the
options a framework needs in YAML (which argument is the event, the type from the class,
a payload built on the export worker, the ids that correlate events). The contract and
the default ``attributes`` adapter are ``events.py``'s.
"""

from __future__ import annotations

import enum
import keyword
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from .events import EventAdapter

_PLAIN_TYPES = frozenset({str, int, float, bool})


def plain(value: Any) -> Any:
    """A framework's value as a span can hold it: str, int, float and bool as they are;
    an enum member by its name; a number object (a price, a quantity, money) as a float;
    anything else (an id object, a UUID) as its text."""
    cls = value.__class__
    if cls is str or cls is float or cls is int or cls is bool or value is None:
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (str, int, float)):
        return value
    if hasattr(cls, "__float__"):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    return str(value)


def _attribute_path(obj: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _key_path(obj: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        try:
            obj = obj.get(name)
        except AttributeError:  # not a mapping
            return None
        if obj is None:
            return None
    return obj


class PathAdapter(EventAdapter):
    """Fields by dotted path, and the options a framework's events need (in YAML)::

        event_adapter:
          name: objects            # attributes by dotted path (``keys``: keys of mappings)
          argument: message        # the bus call's argument holding the event (a name, or
                                   # a position counted after self); default: the first
          type: class              # the event type is the class name (default: the field)
          payload:                 # the payload a span shows, built from the event's
            symbol: instrument_id  # fields on the export worker; a list is tried in order
            price: [last_px, close]

    With ``payload`` the publish path keeps the event itself rather than a copy of its
    payload, and the export worker reads the payload from it (:meth:`payload_of`): for
    events that do not change once published (value objects, as compiled frameworks
    publish), the cheapest snapshot is none. Values are made plain by :func:`plain`.
    """

    def __init__(self, fields: Mapping[str, str] | None = None, *,
                 argument: int | str | None = None, type: str | None = None,
                 payload: Mapping[str, Any] | None = None,
                 correlate: Mapping[str, Any] | None = None) -> None:
        if argument is not None and not (
                (isinstance(argument, int) and not isinstance(argument, bool) and argument >= 0)
                or (isinstance(argument, str) and argument.isidentifier())):
            raise ValueError(f"argument {argument!r} is not a parameter name or a position")
        if type not in (None, "class"):
            raise ValueError(f"type {type!r}: only 'class' (else the event_type field is read)")
        self.argument = argument
        self.type = type
        self.payload = _payload_spec(payload)
        self.deferred_payload = bool(self.payload)
        super().__init__(fields, correlate=correlate)

    def check(self) -> None:
        for key, path in self.fields.items():
            _split(key, path)
        for key, paths in self.payload.items():
            for path in paths:
                _split(f"payload.{key}", path)

    def read(self, name: str, event: str = "event") -> str:
        # A framework's event types differ in their fields (a bar has no strategy, an
        # account state no instrument): only the type must be there, the rest may not.
        if name == "event_type":
            if self.type == "class":
                return f"{event}.__class__.__name__"
            return self._strict(_split(name, self.fields[name]), event)
        return self.read_or_none(name, event)

    def read_or_none(self, name: str, event: str = "event") -> str:
        if name == "event_type" and self.type == "class":
            return f"{event}.__class__.__name__"
        if name == "payload" and self.payload:
            return event
        return self._lenient(_split(name, self.fields[name]), event)

    def payload_of(self, event: Any) -> dict[str, Any]:
        """The payload of an event kept whole: each key's first path that gives a value."""
        read = self.__dict__.get("_payload_reader")
        if read is None:  # made on first use (on the worker), never pickled
            read = self.__dict__["_payload_reader"] = self._payload_reader()
        payload: dict[str, Any] = read(event)
        return payload

    def _payload_reader(self) -> Callable[[Any], dict[str, Any]]:
        """One generated function reading every key: a call per event, not per path."""
        lines = ["def payload_of(event):", "    payload = {}"]
        for key, paths in self.payload.items():
            first = True
            for path in paths:
                lines.append(f"    {'value' if first else '    value'} = "
                             f"{self._lenient(_split(key, path), 'event')}")
                if not first:
                    lines.insert(-1, "    if value is None:")
                first = False
            lines.append(f"    if value is not None:\n        payload[{key!r}] = "
                         "value if value.__class__ in _PLAIN_TYPES else plain(value)")
        lines.append("    return payload")
        namespace = {**self.namespace(), "plain": plain, "_PLAIN_TYPES": _PLAIN_TYPES}
        exec(compile("\n".join(lines), f"<tradetrace {self.name} payload>", "exec"), namespace)
        function: Callable[[Any], dict[str, Any]] = namespace["payload_of"]
        return function

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_payload_reader"}

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and self.__getstate__() == other.__getstate__()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((super().__hash__(), self.argument, self.type))

    def _strict(self, names: tuple[str, ...], event: str) -> str:
        raise NotImplementedError

    def _lenient(self, names: tuple[str, ...], event: str) -> str:
        raise NotImplementedError


class ObjectAdapter(PathAdapter):
    """``objects``: fields are attributes, by dotted path (``order.client_order_id``)."""

    name = "objects"

    def _strict(self, names: tuple[str, ...], event: str) -> str:
        return ".".join((event, *names))

    def _lenient(self, names: tuple[str, ...], event: str) -> str:
        if len(names) == 1:
            return f"getattr({event}, {names[0]!r}, None)"
        return f"_attribute_path({event}, {names!r})"

    def namespace(self) -> dict[str, Any]:
        return {"_attribute_path": _attribute_path}


class KeyAdapter(PathAdapter):
    """``keys``: events are mappings; fields are keys, by dotted path (``order.id``)."""

    name = "keys"

    def _strict(self, names: tuple[str, ...], event: str) -> str:
        return event + "".join(f"[{name!r}]" for name in names)

    def _lenient(self, names: tuple[str, ...], event: str) -> str:
        if len(names) == 1:
            return f"{event}.get({names[0]!r})"
        return f"_key_path({event}, {names!r})"

    def namespace(self) -> dict[str, Any]:
        return {"_key_path": _key_path}

    def metadata(self, event: Any, create: bool = False) -> MutableMapping[str, Any] | None:
        key = self.fields["metadata"]
        carrier = event.get(key) if isinstance(event, Mapping) else None
        if carrier is None and create and isinstance(event, MutableMapping):
            carrier = event[key] = {}
        return carrier if isinstance(carrier, MutableMapping) else None


def _split(name: str, path: Any) -> tuple[str, ...]:
    names = tuple(path.split(".")) if isinstance(path, str) else ()
    if not names or not all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
        raise ValueError(f"event field {name!r}: {path!r} is not a dotted path of names")
    return names


def _payload_spec(payload: Any) -> dict[str, tuple[str, ...]]:
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload {payload!r} is not a mapping of key -> path(s)")
    spec = {}
    for key, paths in payload.items():
        paths = (paths,) if isinstance(paths, str) else paths
        if not isinstance(key, str) or not isinstance(paths, (list, tuple)) or not paths:
            raise ValueError(f"payload {key!r}: {paths!r} is not a path or a list of paths")
        spec[key] = tuple(paths)
    return spec
