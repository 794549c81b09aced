"""Payload values to OpenTelemetry attribute values.

OTel attributes are str, bool, int, float or homogeneous sequences of them. Trading
payloads hold Decimals, numpy and pandas scalars, Timestamps, Enums, nested dicts and
None. This converts what has a faithful attribute form and counts what it skips.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import logging
from collections.abc import Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

AttrValue = str | bool | int | float | tuple[Any, ...]
SKIP: Any = object()
MAX_STRING = 4096


class ConversionStats:
    skipped = 0  #: payload values with no attribute form (None, objects, mixed lists)
    _logged: set[str] = set()

    @classmethod
    def skip(cls, value: Any) -> Any:
        cls.skipped += 1
        kind = type(value).__name__
        if kind not in cls._logged and len(cls._logged) < 64:
            cls._logged.add(kind)
            logger.info("tradetrace: payload values of type %s are not recorded", kind)
        return SKIP


def to_attribute(value: Any) -> Any:
    """The attribute form of one value, or SKIP (counted)."""
    cls = value.__class__
    if cls is str:
        return value if len(value) <= MAX_STRING else value[:MAX_STRING]
    if cls is int or cls is float or cls is bool:
        return value
    if cls is dt.datetime:  # simulated times: one per bar
        return value.isoformat()
    if value is None:
        return ConversionStats.skip(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, enum.Enum):
        return to_attribute(value.value)
    if isinstance(value, str):  # str subclasses
        return str(value)[:MAX_STRING]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        if value != value:  # pandas.NaT: a missing time, not a time
            return ConversionStats.skip(value)
        return value.isoformat()  # pandas.Timestamp is a datetime
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
    if item is not None and getattr(value, "ndim", 1) == 0:
        try:
            return to_attribute(item())
        except Exception:
            return ConversionStats.skip(value)
    if isinstance(value, (list, tuple)):
        return _sequence(value)
    return ConversionStats.skip(value)


def _sequence(values: list[Any] | tuple[Any, ...]) -> Any:
    items = [to_attribute(v) for v in values]
    items = [v for v in items if v is not SKIP]
    if not items:
        return ConversionStats.skip(values) if values else ()
    kinds = {type(v) for v in items}
    if kinds == {int, float}:
        return tuple(float(v) for v in items)
    if len(kinds) != 1 or tuple in kinds:
        return ConversionStats.skip(values)
    return tuple(items)


def flatten(prefix: str, payload: Mapping[str, Any], depth: int = 3) -> Iterator[tuple[str, Any]]:
    """Nested dicts become dotted keys: ``metadata.strategy_id``."""
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if depth > 1:
                yield from flatten(name + ".", value, depth - 1)
            else:
                ConversionStats.skip(value)
            continue
        converted = to_attribute(value)
        if converted is not SKIP:
            yield name, converted
