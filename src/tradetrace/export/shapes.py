"""Compiled encoders for the common shapes of event span and trade span.

Most event spans look alike: no error, no explicit causation or correlation id, a payload
of plain str, int and float values, and a few payload shapes per container and event
type. For each shape this generates one function that joins the span's constant JSON
text (written into the function) with its values, instead of building every attribute
by concatenation: about 40% fewer instructions per span.

A function checks the value types it was compiled for and returns None when a span does
not fit (a None where a price was, a non-finite float, a long string): that span, and
everything outside the shape (errors, explicit ids, DEBUG snapshots), goes through the
general encoder in ``spans.py``. Trade spans (``trade_spans.py``) are compiled the same
way, per container and types of the trade's values. The tests compare the two.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .. import conventions as conv
from ..model.otlp_json import Attributes, escape
from .attributes import MAX_STRING, ConversionStats

ShapeEncoder = Callable[..., "str | None"]

#: Value types a compiled event shape handles; any other type is left to the general encoder.
SHAPED_TYPES = frozenset({str, int, float, type(None)})


class _Texts(dict[Any, str]):
    """The JSON text of values that repeat, computed once: a price down a cascade (BAR
    close, SIGNAL, ORDER, FILL), a symbol, a side. A lookup costs a fraction of repr()
    of a float or of escape()."""

    def __init__(self, write: Callable[[Any], str]) -> None:
        super().__init__()
        self._write = write

    def __missing__(self, value: Any) -> str:
        text = self._write(value)
        if value:  # 0.0 is never kept: it equals -0.0 (same hash), whose text differs
            if len(self) >= 4096:
                self.clear()
            self[value] = text
        return text


_float_text = _Texts(repr)
_string_text = _Texts(escape)  #: values of low-cardinality attributes only


class _Writer:
    """The body of one generated function: constant JSON text joined with value
    expressions, behind the checks that the values have the types compiled for."""

    def __init__(self, attr: Attributes, text: str) -> None:
        self.attr = attr
        self.constants: list[str] = []
        self.pieces: list[str] = []  # alternating constant names and value expressions
        self.text = [text]
        self.checks: list[str] = []

    def add(self, text: str) -> None:
        self.text.append(text)

    def value(self, expression: str, following: str = "") -> None:
        self.constants.append("".join(self.text))
        self.pieces += [f"C{len(self.constants) - 1}", expression]
        self.text = [following]

    def attribute(self, name: str, v: str, sample: Any) -> None:
        """Attribute ``name`` (after a comma) with the value of expression ``v``, whose type
        is ``sample``'s: nothing for None, as the general encoders write nothing for it."""
        kind = type(sample)
        if sample is None:
            self.checks.append(f"{v} is None")
            return
        self.add("," + self.attr.prefix(name))
        if kind is str:
            self.checks.append(f"{v}.__class__ is str and len({v}) <= {MAX_STRING}")
            self.add('{"stringValue":')
            self.value(f"st[{v}]" if name in self.attr.cached_keys else f"esc({v})", "}}")
        elif kind is float:
            self.checks.append(f"{v}.__class__ is float and {v} - {v} == 0.0")  # finite
            self.add('{"doubleValue":')
            self.value(f"fr[{v}]", "}}")
        elif kind is int:
            self.checks.append(f"{v}.__class__ is int")
            self.add('{"intValue":"')
            self.value(f"str({v})", '"}}')
        else:  # datetime (trade spans): to_attribute() writes its ISO form
            assert kind is datetime
            self.checks.append(f"{v}.__class__ is datetime")
            self.add('{"stringValue":')
            self.value(f"esc({v}.isoformat())", "}}")

    def compile(self, parameters: str, prologue: list[str]) -> ShapeEncoder:
        self.constants.append("".join(self.text))
        self.pieces.append(f"C{len(self.constants) - 1}")
        lines = [f"def encode({parameters}):"]
        if self.checks:
            lines += [f"    if not ({' and '.join(self.checks)}):", "        return None"]
        lines += prologue
        lines.append(f"    return ''.join(({', '.join(self.pieces)}))")
        namespace: dict[str, Any] = {f"C{i}": c for i, c in enumerate(self.constants)}
        namespace.update(esc=escape, skip=ConversionStats.skip, datetime=datetime, fr=_float_text,
                         st=_string_text)
        exec(compile("\n".join(lines), "<tradetrace span shape>", "exec"), namespace)
        encode: ShapeEncoder = namespace["encode"]
        return encode


def _envelope(attr: Attributes, name_json: str, caused: bool) -> _Writer:
    """A writer up to the opening of the attributes: ids, name, start and end."""
    w = _Writer(attr, '{"traceId":"')
    w.value("trace", '","spanId":"')
    if caused:
        w.value("span", '","parentSpanId":"')
        w.value("parent", '",')
    else:
        w.value("span", '",')
    w.add(f'"name":{name_json},"kind":1,"startTimeUnixNano":"')
    w.value("str(start)", '","endTimeUnixNano":"')
    w.value("str(end)", '","attributes":[')
    return w


def compile_shape(
    attr: Attributes,
    derived: str,
    head: str,
    name_json: str,
    names: tuple[str, ...],
    values: tuple[Any, ...],
    caused: bool,
    timed: bool,
    traded: bool,
) -> ShapeEncoder | None:
    """``encode(trace, span, parent, start, end, trade, event_id, when, v, last)`` for spans
    like the one whose payload values (in plan order) are ``values``; None if they are not
    all of SHAPED_TYPES.

    ``trade`` is the trade id of a span of a trade (``traded``), written first among the
    attributes; ``last`` is the cause's event id for a caused event, the run link (or "")
    for a root.
    """
    if any(type(value) not in SHAPED_TYPES for value in values):
        return None
    w = _envelope(attr, name_json, caused)
    if traded:
        w.add(attr.prefix(conv.TRADE_ID) + '{"stringValue":')
        w.value("esc(trade)", "}},")
    w.add(head + "," + attr.prefix(conv.EVENT_ID) + '{"stringValue":')
    w.value("esc(event_id)", "}}")
    if timed:
        w.add(",")
        w.value("when")
    for i, (name, sample) in enumerate(zip(names, values, strict=True)):
        w.attribute(name, f"v[{i}]", sample)
    if caused:
        w.add("," + attr.prefix(conv.CAUSATION_ID) + '{"stringValue":')
        w.value("esc(last)", "}}," + derived + "]}")
    else:
        w.add("]")
        w.value('(\',"links":[\' + last + "]" if last else "")', "}")
    skips = ["    skip(None)"] * values.count(None)  # None payload values are counted
    return w.compile("trace, span, parent, start, end, trade, event_id, when, v, last", skips)


#: Value types of a trade span's attributes that a compiled shape handles.
TRADE_SHAPED_TYPES = SHAPED_TYPES | {datetime}


def compile_trade_shape(
    attr: Attributes, name_json: str, names: tuple[str, ...], values: tuple[Any, ...]
) -> ShapeEncoder | None:
    """``encode(trace, span, start, end, trade, v, links)`` for trade spans like the one
    whose attribute values (after its id, in ``names`` order) are ``values``: None values
    are left out. None if the values are not all of TRADE_SHAPED_TYPES."""
    if any(type(value) not in TRADE_SHAPED_TYPES for value in values):
        return None
    w = _envelope(attr, name_json, False)
    w.add(attr.prefix(conv.TRADE_ID) + '{"stringValue":')
    w.value("esc(trade)", "}}")
    for i, (name, sample) in enumerate(zip(names, values, strict=True)):
        w.attribute(name, f"v[{i}]", sample)
    w.add("]")
    w.value("links", "}")
    return w.compile("trace, span, start, end, trade, v, links", [])
