"""The one error type tradetrace raises at you, and only at configuration time."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


class ConfigError(ValueError):
    """A configuration value is invalid.

    The message names the key path, the value and what is allowed, e.g.
    ``tracing.overrides['portfolio_[']: 'portfolio_[' is not valid (unclosed '[');
    allowed: letters, digits, _ - . : and the wildcards * ? [...]``.
    """

    def __init__(self, path: str, value: Any, allowed: str, reason: str = "") -> None:
        self.path = path
        self.value = value
        self.allowed = allowed
        self.reason = reason
        why = f" ({reason})" if reason else ""
        super().__init__(f"{path}: {value!r} is not valid{why}; allowed: {allowed}")


def finite_number(
    value: Any,
    path: str,
    allowed: str,
    *,
    whole: bool = False,
    valid: Callable[[Any], bool] | None = None,
) -> Any:
    """``value`` if it is a finite number (an ``int`` when ``whole``; never a bool) that
    ``valid`` accepts, else a :class:`ConfigError` naming ``path``, the value and
    ``allowed``. Every number read from a configuration goes through here: NaN fails
    every comparison, so a check like ``value <= 0`` alone lets ``.nan`` through.

    >>> try:
    ...     finite_number(float("nan"), "tracing.flush_timeout_seconds", "a number > 0")
    ... except ConfigError as exc:
    ...     print(exc)
    tracing.flush_timeout_seconds: nan is not valid (not a finite number); allowed: a number > 0
    """
    if value.__class__ is bool or not isinstance(value, int if whole else (int, float)):
        raise ConfigError(path, value, allowed)
    try:
        finite = whole or math.isfinite(value)
    except OverflowError:  # an int past the float range: 1e309 written as digits
        finite = False
    if not finite:
        raise ConfigError(path, value, allowed, "not a finite number")
    if valid is not None and not valid(value):
        raise ConfigError(path, value, allowed)
    return value
