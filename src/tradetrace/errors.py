"""The one error type tradetrace raises at you, and only at configuration time."""

from __future__ import annotations

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
