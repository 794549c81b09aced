"""Payload values to OpenTelemetry attribute values.

OTel attributes are str, bool, int, float or homogeneous sequences of them. Trading
payloads hold Decimals, numpy and pandas scalars, Timestamps, Enums, nested dicts and
None. This converts what has a faithful attribute form and counts what it skips.

Payload values under keys that look secret (``api_key``, ``password``, ``token``...) are
written as ``[REDACTED]`` instead (:class:`Redaction`); whether a key is hidden is
decided once per key name, not per value.

>>> hidden = HiddenKeys(Redaction(), "p.")
>>> dict(flatten("p.", {"symbol": "SPY", "metadata": {"apiKey": "sk-1"}}, hidden=hidden))
{'p.symbol': 'SPY', 'p.metadata.apiKey': '[REDACTED]'}
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import ConfigError

logger = logging.getLogger(__name__)

AttrValue = str | bool | int | float | tuple[Any, ...]
SKIP: Any = object()
MAX_STRING = 4096


class ConversionStats:
    skipped = 0  #: payload values with no attribute form (None, objects, mixed lists)
    redacted = 0  #: payload values written as REDACTED (their key looked secret)
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
    # An attribute array holds scalars only: a nested list makes the whole value unfit,
    # found without converting it (a list that holds itself would recurse for ever).
    if any(isinstance(v, (list, tuple)) for v in values):
        return ConversionStats.skip(values)
    items = [to_attribute(v) for v in values]
    items = [v for v in items if v is not SKIP]
    if not items:
        return ConversionStats.skip(values) if values else ()
    kinds = {type(v) for v in items}
    if kinds == {int, float}:
        return tuple(float(v) for v in items)
    if len(kinds) != 1:
        return ConversionStats.skip(values)
    return tuple(items)


def flatten(
    prefix: str,
    payload: Mapping[str, Any],
    depth: int = 3,
    hidden: Mapping[str, bool] | None = None,
) -> Iterator[tuple[str, Any]]:
    """Nested dicts become dotted keys: ``metadata.strategy_id``. An attribute name that
    ``hidden`` maps to True gets REDACTED for its value, whatever the value: a nested
    dict under it becomes that one attribute."""
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if hidden is not None and hidden[name]:  # its hash is cached for the encoder's lookup
            ConversionStats.redacted += 1
            yield name, REDACTED
            continue
        if isinstance(value, Mapping):
            if depth > 1:
                yield from flatten(name + ".", value, depth - 1, hidden)
            else:
                ConversionStats.skip(value)
            continue
        converted = to_attribute(value)
        if converted is not SKIP:
            yield name, converted


# -- redaction -------------------------------------------------------------------------

#: What a hidden payload value is written as: the key stays, so its presence shows.
REDACTED = "[REDACTED]"

#: ``tracing.redact.keys`` by default: fragments of key names whose values are hidden.
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "api_key", "access_key", "private_key", "secret", "password", "passwd", "passphrase",
    "token", "credential", "authorization", "account",
)

#: The keys of ``tracing.redact`` (which may also be ``true`` or ``false``).
REDACT_KEYS = ("enabled", "keys", "extra_keys")

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def key_letters(name: str) -> str:
    """A key name as compared with the redaction list: lower case, letters and digits
    only, so ``api_key``, ``apiKey``, ``API-KEY`` and ``x.api.key`` all hold ``apikey``."""
    return _NOT_ALNUM.sub("", name.lower())


@dataclass(frozen=True)
class Redaction:
    """Which payload values are written as REDACTED: those whose key name (dotted for a
    nested key: ``metadata.api_key``) contains one of ``keys``, compared by
    :func:`key_letters`. A key under a hidden one is hidden with it. Only payload
    attributes are concerned: tradetrace's named ``trading.*`` attributes never are."""

    keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    enabled: bool = True

    @cached_property
    def _fragments(self) -> tuple[str, ...]:
        return tuple(f for f in (key_letters(k) for k in self.keys) if f)

    @classmethod
    def from_config(cls, data: Mapping[str, Any], where: Mapping[str, str]) -> Redaction:
        """From ``tracing.redact``'s keys (``enabled``, ``keys``: replaces the default
        list, ``extra_keys``: added to it); ``where`` names each key's source."""
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(where["enabled"], enabled, "true or false")
        keys = DEFAULT_REDACT_KEYS
        if "keys" in data:
            keys = _redact_keys(data["keys"], where["keys"])
        if "extra_keys" in data:
            extra = _redact_keys(data["extra_keys"], where["extra_keys"])
            keys += tuple(k for k in extra if k not in keys)
        return cls(keys, enabled)

    def hides(self, name: str) -> bool:
        """Whether the value under the (dotted) payload key ``name`` is hidden."""
        if not self.enabled:
            return False
        letters = key_letters(name)
        return any(fragment in letters for fragment in self._fragments)


def _redact_keys(raw: Any, path: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise ConfigError(path, raw, "a list of key names or parts of them, e.g. [api_key]")
    for i, key in enumerate(raw):
        if not isinstance(key, str) or not key_letters(key):
            raise ConfigError(f"{path}[{i}]", key, "a key name or part of one, with at least "
                              "one ASCII letter or digit")
    return tuple(raw)


class HiddenKeys(dict[str, bool]):
    """``attribute name -> hidden?`` for payload attributes, decided by a
    :class:`Redaction` on first sight of each name (less ``prefix``, e.g.
    ``trading.payload.``): encoding then pays one dict lookup per payload value."""

    LIMIT = 4096  #: names remembered before the memory is reset
    _logged: set[str] = set()

    def __init__(self, redaction: Redaction, prefix: str = "") -> None:
        super().__init__()
        self.redaction = redaction
        self.prefix = prefix

    def __missing__(self, name: str) -> bool:
        key = name[len(self.prefix):] if name.startswith(self.prefix) else name
        hidden = self.redaction.hides(key)
        if len(self) >= self.LIMIT:
            self.clear()
        self[name] = hidden
        if hidden and key not in self._logged and len(self._logged) < 64:
            self._logged.add(key)
            logger.info("tradetrace: payload values under %r are written as %s", key, REDACTED)
        return hidden
