"""Compiled encoders for the common shape of event span.

Most event spans look alike: no error, no explicit causation or correlation id, a payload
of plain str, int and float values, and a few payload shapes per container and event
type. For each shape this generates one function that joins the span's constant JSON
text (written into the function) with its values, instead of building every attribute
by concatenation: about 40% fewer instructions per span.

A function checks the value types it was compiled for and returns None when a span does
not fit (a None where a price was, a non-finite float, a long string): that span, and
everything outside the shape (errors, explicit ids, DEBUG snapshots), goes through the
general encoder in ``spans.py``. The tests compare the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import conventions as conv
from .attributes import MAX_STRING, ConversionStats
from .otlp_json import Attributes, escape

ShapeEncoder = Callable[..., "str | None"]

#: Value types a compiled shape handles; any other type is left to the general encoder.
SHAPED_TYPES = frozenset({str, int, float, type(None)})


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
    constants: list[str] = []
    pieces: list[str] = []  # alternating constant names and value expressions
    text = ['{"traceId":"']

    def value(expression: str, following: str) -> None:
        constants.append("".join(text))
        pieces.extend([f"C{len(constants) - 1}", expression])
        text[:] = [following]

    value("trace", '","spanId":"')
    if caused:
        value("span", '","parentSpanId":"')
        value("parent", '",')
    else:
        value("span", '",')
    text.append(f'"name":{name_json},"kind":1,"startTimeUnixNano":"')
    value("str(start)", '","endTimeUnixNano":"')
    value("str(end)", '","attributes":[')
    if traded:
        text.append(attr.prefix(conv.TRADE_ID) + '{"stringValue":')
        value("esc(trade)", "}},")
    text.append(head + "," + attr.prefix(conv.EVENT_ID) + '{"stringValue":')
    value("esc(event_id)", "}}")
    if timed:
        text.append(",")
        value("when", "")
    checks, skips = [], 0
    for i, (name, sample) in enumerate(zip(names, values, strict=True)):
        kind = type(sample)
        if kind is type(None):
            checks.append(f"v[{i}] is None")
            skips += 1
            continue
        text.append("," + attr.prefix(name))
        if kind is str:
            checks.append(f"v[{i}].__class__ is str and len(v[{i}]) <= {MAX_STRING}")
            text.append('{"stringValue":')
            value(f"esc(v[{i}])", "}}")
        elif kind is float:
            checks.append(f"v[{i}].__class__ is float and v[{i}] - v[{i}] == 0.0")  # finite
            text.append('{"doubleValue":')
            value(f"repr(v[{i}])", "}}")
        else:
            checks.append(f"v[{i}].__class__ is int")
            text.append('{"intValue":"')
            value(f"str(v[{i}])", '"}}')
    if caused:
        text.append("," + attr.prefix(conv.CAUSATION_ID) + '{"stringValue":')
        value("esc(last)", "}}," + derived + "]}")
    else:
        text.append("]")
        value('(\',"links":[\' + last + "]" if last else "")', "}")
    constants.append("".join(text))
    pieces.append(f"C{len(constants) - 1}")

    lines = ["def encode(trace, span, parent, start, end, trade, event_id, when, v, last):"]
    if checks:
        lines += [f"    if not ({' and '.join(checks)}):", "        return None"]
    lines += ["    skip(None)"] * skips  # None payload values are counted, as everywhere
    lines.append(f"    return ''.join(({', '.join(pieces)}))")
    namespace: dict[str, Any] = {f"C{i}": c for i, c in enumerate(constants)}
    namespace.update(esc=escape, skip=ConversionStats.skip)
    exec(compile("\n".join(lines), "<tradetrace span shape>", "exec"), namespace)
    encode: ShapeEncoder = namespace["encode"]
    return encode
