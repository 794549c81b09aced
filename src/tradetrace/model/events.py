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


#: What a session reads events with when its profile names no adapter.
DEFAULT_ADAPTER = AttributeAdapter()


def as_adapter(given: EventAdapter | Mapping[str, str]) -> EventAdapter:
    """``given``, or for a mapping of field names the attributes by those names."""
    return given if isinstance(given, EventAdapter) else AttributeAdapter(given)
