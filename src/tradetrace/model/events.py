"""Event adapters: how a framework's event gives what tradetrace reads of it.

tradetrace reads a few named fields of each published event (``EVENT_FIELDS``: its type,
container, source, payload, ids, time, metadata). An adapter says where each one is.
The built-in ``attributes`` adapter reads attributes (ADMF-PC's names by default; a
profile's ``event_fields`` renames them). Another adapter is a subclass chosen by name
(``event_adapter:`` in a profile), built in through a row in ``plugins.EVENT_ADAPTERS``
or added by another package through the entry-point group ``tradetrace.event_adapters``.

An adapter gives Python *expressions*, not functions: the patched ``publish`` is
generated with them written in (capture/publish.py), so reading a field costs what the
expression costs and nothing more, and the same expressions compile into the getters the
decision table and the span encoder use. Two per field: :meth:`~EventAdapter.read` may
raise when the field is missing (the publish path catches it), and
:meth:`~EventAdapter.read_or_none` gives None instead (for fields an event may lack,
without the cost of an exception).

>>> adapter = AttributeAdapter({"event_type": "kind"})
>>> adapter.read("event_type"), adapter.read_or_none("metadata")
('event.kind', "getattr(event, 'metadata', None)")
>>> class Bar:
...     kind, container_id = "BAR", "data"
>>> adapter.getter("event_type")(Bar()), adapter.getter("payload", strict=False)(Bar())
('BAR', None)
>>> AttributeAdapter({"payload": "data-1"})
Traceback (most recent call last):
...
ValueError: event field 'payload': 'data-1' is not an attribute name
"""

from __future__ import annotations

import enum
import keyword
from collections.abc import Callable, Mapping, MutableMapping
from operator import attrgetter
from typing import Any, ClassVar

#: What tradetrace reads from an event, with ADMF-PC's attribute names (the default).
EVENT_FIELDS: dict[str, str] = {
    "event_type": "event_type",
    "payload": "payload",
    "source_id": "source_id",
    "container_id": "container_id",
    "correlation_id": "correlation_id",
    "causation_id": "causation_id",
    "timestamp": "timestamp",
    "metadata": "metadata",
    "event_id": "event_id",
    "sequence_number": "sequence_number",
    "target_container": "target_container",
}


class EventAdapter:
    """The contract of an event adapter.

    ``fields`` maps each name in :data:`EVENT_FIELDS` to where this adapter finds it
    (its meaning is the adapter's own: an attribute name, a key, a path); a profile's
    ``event_fields`` overrides entries. A subclass implements :meth:`read` and
    :meth:`read_or_none`, may check its ``fields`` in :meth:`check` (a ``ValueError``
    naming the field), and may give names its expressions use in :meth:`namespace`.
    Adapters are pickled to the encoder process by class and ``fields``: keep them plain.
    """

    name: ClassVar[str] = ""
    #: which argument of the patched call is the event: a parameter name, or a position
    #: counted after ``self``; None: the only one, else the first
    argument: int | str | None = None
    #: the publish path keeps the event itself and the worker reads its payload through
    #: :meth:`payload_of` (events that never change once published)
    deferred_payload: bool = False

    #: relation -> payload keys holding ids that tie events together (an order's events,
    #: a fill to its order, a position to its orders): export/correlation.py
    correlate: dict[str, tuple[str, ...]] = {}  # noqa: RUF012 - replaced, never mutated

    def __init__(self, fields: Mapping[str, str] | None = None, *,
                 correlate: Mapping[str, Any] | None = None) -> None:
        self.correlate = _correlate_spec(correlate)
        unknown = sorted(set(fields or ()) - set(EVENT_FIELDS))
        if unknown:
            raise ValueError(f"event field {unknown[0]!r} is not one of: "
                             + ", ".join(EVENT_FIELDS))
        self.fields = {**EVENT_FIELDS, **(fields or {})}
        self.check()

    def check(self) -> None:
        """Raise ``ValueError`` for a field this adapter cannot read."""

    def read(self, name: str, event: str = "event") -> str:
        """An expression reading field ``name`` of the object called ``event``; it may
        raise when the event has no such field."""
        raise NotImplementedError

    def read_or_none(self, name: str, event: str = "event") -> str:
        """An expression reading field ``name``, None when the event has none (without
        raising for that)."""
        raise NotImplementedError

    def namespace(self) -> dict[str, Any]:
        """Names the expressions use besides the event (helper functions, constants)."""
        return {}

    def payload_of(self, event: Any) -> dict[str, Any]:
        """The payload of an event the publish path kept whole (``deferred_payload``)."""
        raise NotImplementedError

    def getter(self, name: str, strict: bool = True) -> Callable[[Any], Any]:
        """``event -> field`` (``strict``: may raise when missing; else None)."""
        read = self.read if strict else self.read_or_none
        return self._compile(read(name))

    def getters(self, names: tuple[str, ...], strict: bool = True
                ) -> Callable[[Any], tuple[Any, ...]]:
        """``event -> (field, ...)`` for ``names``, in one call."""
        read = self.read if strict else self.read_or_none
        return self._compile("(" + "".join(read(name) + ", " for name in names) + ")")

    def metadata(self, event: Any, create: bool = False) -> MutableMapping[str, Any] | None:
        """The event's metadata mapping (where trace context travels across processes),
        made empty first when ``create`` and the adapter can; None if there is none."""
        carrier = self.getter("metadata", strict=False)(event)
        return carrier if isinstance(carrier, MutableMapping) else None

    def _compile(self, expression: str) -> Callable[[Any], Any]:
        source = f"lambda event: {expression}"
        code = compile(source, f"<tradetrace {self.name or type(self).__name__} adapter>", "eval")
        function: Callable[[Any], Any] = eval(code, self.namespace())  # noqa: S307 - our text
        return function

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, EventAdapter) and type(other) is type(self)
                and other.fields == self.fields and other.correlate == self.correlate)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.fields.items()))))

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.fields.items() if EVENT_FIELDS[k] != v}
        return f"{type(self).__name__}({changed or ''})"


class AttributeAdapter(EventAdapter):
    """``attributes``: each field is an attribute of the event object (ADMF-PC's events,
    and any event class with named fields)."""

    name = "attributes"

    def check(self) -> None:
        for key, attribute in self.fields.items():
            if not (isinstance(attribute, str) and attribute.isidentifier()
                    and not keyword.iskeyword(attribute)):
                raise ValueError(f"event field {key!r}: {attribute!r} is not an attribute name")

    def read(self, name: str, event: str = "event") -> str:
        return f"{event}.{self.fields[name]}"

    def read_or_none(self, name: str, event: str = "event") -> str:
        return f"getattr({event}, {self.fields[name]!r}, None)"

    def getter(self, name: str, strict: bool = True) -> Callable[[Any], Any]:
        if strict:  # the C getter: what the table calls on every decision
            return attrgetter(self.fields[name])
        return super().getter(name, strict)

    def getters(self, names: tuple[str, ...], strict: bool = True
                ) -> Callable[[Any], tuple[Any, ...]]:
        if strict and len(names) > 1:
            return attrgetter(*(self.fields[name] for name in names))
        return super().getters(names, strict)

    def metadata(self, event: Any, create: bool = False) -> MutableMapping[str, Any] | None:
        attribute = self.fields["metadata"]
        carrier = getattr(event, attribute, None)
        if carrier is None and create:
            carrier = {}
            setattr(event, attribute, carrier)
        return carrier if isinstance(carrier, MutableMapping) else None


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


def _correlate_spec(correlate: Any) -> dict[str, tuple[str, ...]]:
    """``{relation: key or [keys]}``: the payload keys holding each relation's ids."""
    if correlate is None:
        return {}
    if not isinstance(correlate, Mapping):
        raise ValueError(f"correlate {correlate!r} is not a mapping of relation -> key(s)")
    spec = {}
    for relation, keys in correlate.items():
        keys = (keys,) if isinstance(keys, str) else keys
        if not (isinstance(relation, str) and relation and isinstance(keys, (list, tuple))
                and keys and all(isinstance(k, str) and k for k in keys)):
            raise ValueError(f"correlate {relation!r}: {keys!r} is not a key or a list of keys")
        spec[relation] = tuple(keys)
    return spec


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


#: What a session reads events with when its profile names no adapter.
DEFAULT_ADAPTER = AttributeAdapter()


def as_adapter(given: EventAdapter | Mapping[str, str]) -> EventAdapter:
    """``given``, or for a mapping of field names the attributes by those names."""
    return given if isinstance(given, EventAdapter) else AttributeAdapter(given)
