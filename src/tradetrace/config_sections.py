"""The sections of the ``tracing:`` configuration, each a value and its parser.

``config.py`` resolves one :class:`~tradetrace.config.TracingConfig` in its precedence
order (argument, variable, file, default); here is how each part of it is read and
checked: container overrides and their globs, storage rotation and file permissions,
metrics, overload, redaction, trade rules and the run id. Every error is a
:class:`~tradetrace.errors.ConfigError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import environment_variables as ev
from .decide.levels import EVENT_TYPE_NAME, LEVEL_NAMES, TraceLevel, check_known_event_type
from .decide.overload import ACTIONS, OverloadSettings
from .errors import ConfigError, finite_number
from .export.attributes import REDACT_KEYS, Redaction
from .export.files import PRIVATE, Permissions
from .plugins import TRADE_RULES
from .retain.policy import RetentionPolicy, parse_policy, policy_keys
from .retain.trade_rules import TradeRules

_GLOB_CHARS = re.compile(r"^[A-Za-z0-9_*?\[\]!.:\-]+$")
_GLOB_ALLOWED = "letters, digits, _ - . : and the wildcards * ? [...]"
#: A run id names files (``<run id>-0001.jsonl``): a name, never a path.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RUN_ID_ALLOWED = ("1 to 128 letters, digits, '.', '_' or '-', starting with a letter or "
                  "digit (a name, not a path)")


@dataclass(frozen=True)
class ContainerOverride:
    """Settings for the containers whose id matches ``pattern`` (an fnmatch glob)."""

    pattern: str
    level: TraceLevel | None = None
    max_events: int | None = None
    events: frozenset[str] | None = None
    retention: RetentionPolicy | None = None

    @property
    def specificity(self) -> tuple[int, int]:
        """Exact names beat globs; then more literal characters beat fewer."""
        literal = len(re.sub(r"\[[^\]]*\]|[*?]", "", self.pattern))
        return (0 if _is_glob(self.pattern) else 1, literal)


@dataclass(frozen=True)
class Rotation:
    max_megabytes: float = 100.0
    max_files: int = 0  #: keep at most this many files per run (0: keep all)


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = True
    interval_seconds: float = 10.0  #: how often metrics are exported while running


def as_mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(path, value, "a mapping")
    return value


def check_keys(data: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}", key, "one of " + ", ".join(allowed), "unknown key")


def parse_level(value: Any, path: str) -> TraceLevel:
    try:
        return TraceLevel.parse(value)
    except ValueError:
        raise ConfigError(path, value, LEVEL_NAMES) from None


def parse_overrides(raw: Any, known: frozenset[str]) -> tuple[ContainerOverride, ...]:
    overrides: list[ContainerOverride] = []
    for pattern, body in as_mapping(raw, "tracing.overrides").items():
        path = f"tracing.overrides[{pattern!r}]"
        check_glob(pattern, path)
        body = as_mapping(body, path)
        check_keys(body, path, ("level", "max_events", "events", "retention"))
        retention_raw = as_mapping(body.get("retention"), f"{path}.retention")
        check_keys(retention_raw, f"{path}.retention",
                    policy_keys(retention_raw, f"{path}.retention"))
        retention = parse_policy(retention_raw, f"{path}.retention")
        cap = body.get("max_events")
        if cap is not None:
            finite_number(cap, f"{path}.max_events", "a whole number >= 1", whole=True,
                          valid=lambda v: v >= 1)
        events = body.get("events")
        if events is not None:
            if not isinstance(events, list) or not all(
                isinstance(e, str) and EVENT_TYPE_NAME.match(e) for e in events
            ):
                raise ConfigError(f"{path}.events", events, "a list of event type names")
            for i, event in enumerate(events):
                check_known_event_type(event, f"{path}.events[{i}]", known)
            events = frozenset(e.upper() for e in events)
        lvl = parse_level(body["level"], f"{path}.level") if "level" in body else None
        overrides.append(ContainerOverride(pattern, lvl, cap, events, retention))
    return tuple(overrides)


def check_glob(pattern: Any, path: str) -> None:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(
            path, pattern, _GLOB_ALLOWED, "a container glob must be a non-empty string"
        )
    if not _GLOB_CHARS.match(pattern):
        raise ConfigError(path, pattern, _GLOB_ALLOWED, "unexpected character")
    depth = 0
    for char in pattern:
        if char == "[":
            if depth:
                raise ConfigError(path, pattern, _GLOB_ALLOWED, "nested '['")
            depth = 1
        elif char == "]" and depth:
            depth = 0
    if depth:
        raise ConfigError(path, pattern, _GLOB_ALLOWED, "unclosed '['")


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def parse_permissions(raw: Any) -> Permissions:
    """``{file: "0640", folder: "0750"}``: octal modes, as strings or as YAML's octal
    numbers (an unquoted 0640 is read as octal)."""
    path = "tracing.storage.permissions"
    data = as_mapping(raw, path)
    check_keys(data, path, ("file", "folder"))
    modes = {}
    for key, default in (("file", PRIVATE.file), ("folder", PRIVATE.folder)):
        value = data.get(key, default)
        if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value.strip()):
            value = int(value.strip(), 8)
        if value.__class__ is not int or not 0 <= value <= 0o777:
            raise ConfigError(f"{path}.{key}", value, 'an octal mode such as "0600"')
        modes[key] = value
    return Permissions(**modes)


def parse_rotation(raw: Any) -> Rotation:
    data = as_mapping(raw, "tracing.storage.rotation")
    check_keys(data, "tracing.storage.rotation", ("max_megabytes", "max_files"))
    size = finite_number(data.get("max_megabytes", 100.0),
                         "tracing.storage.rotation.max_megabytes", "a positive number",
                         valid=lambda v: v > 0)
    files = finite_number(data.get("max_files", 0), "tracing.storage.rotation.max_files",
                          "a whole number >= 0", whole=True, valid=lambda v: v >= 0)
    return Rotation(float(size), files)


def parse_metrics(raw: Any) -> MetricsSettings:
    if raw is False:
        return MetricsSettings(enabled=False)
    if raw is True:
        return MetricsSettings()
    data = as_mapping(raw, "tracing.metrics")
    check_keys(data, "tracing.metrics", ("enabled", "interval_seconds"))
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("tracing.metrics.enabled", enabled, "true or false")
    interval = finite_number(data.get("interval_seconds", 10.0),
                             "tracing.metrics.interval_seconds", "a number > 0",
                             valid=lambda v: v > 0)
    return MetricsSettings(enabled, float(interval))


def parse_overload(raw: Any, action_env: str | None) -> OverloadSettings:
    path = "tracing.overload"
    data = dict(as_mapping(raw, path))
    check_keys(data, path, ("action", "busy_fraction", "window_seconds", "recover_seconds",
                             "floor"))
    where = {key: f"{path}.{key}" for key in data}
    if action_env:
        data["action"], where["action"] = action_env.strip().lower(), ev.TRADETRACE_OVERLOAD
    action = data.get("action", "off")
    if action not in ACTIONS:
        raise ConfigError(where.get("action", f"{path}.action"), action, ", ".join(ACTIONS))
    numbers = {}
    for key, default, check, expected in (
        ("busy_fraction", 0.25, lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
        ("window_seconds", 5.0, lambda v: v > 0, "a number of seconds > 0"),
        ("recover_seconds", 60.0, lambda v: v >= 0, "a number of seconds >= 0"),
    ):
        value = finite_number(data.get(key, default), where.get(key, f"{path}.{key}"),
                              expected, valid=check)
        numbers[key] = float(value)
    floor = parse_level(data.get("floor", "minimal"), f"{path}.floor")
    if floor is TraceLevel.NONE:
        raise ConfigError(f"{path}.floor", data.get("floor"), "minimal, normal or debug "
                          "(open trades stay traced)")
    return OverloadSettings(action, floor=floor, **numbers)


def parse_run_id(value: Any, path: str) -> str:
    """A run id names the run's files: refused unless it is a plain name."""
    if isinstance(value, int) and value.__class__ is not bool:
        value = str(value)
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise ConfigError(path, value, RUN_ID_ALLOWED)
    return value


def parse_redact(raw: Any, argument: bool | Mapping[str, Any] | None,
                  env_enabled: bool | None) -> Redaction:
    """``tracing.redact`` (``true``/``false`` or a mapping), under the ``redact`` argument
    (its keys win) and ``TRADETRACE_REDACT`` (which sets ``enabled``, below the argument)."""
    path = "tracing.redact"
    data = {"enabled": raw} if isinstance(raw, bool) else dict(as_mapping(raw, path))
    check_keys(data, path, REDACT_KEYS)
    where = {key: f"{path}.{key}" for key in data}
    if env_enabled is not None:
        data["enabled"], where["enabled"] = env_enabled, ev.TRADETRACE_REDACT
    if argument is not None:
        given = {"enabled": argument} if isinstance(argument, bool) else argument
        if not isinstance(given, Mapping):
            raise ConfigError("redact", argument, "true, false or a mapping like tracing.redact")
        check_keys(given, "redact", REDACT_KEYS)
        data.update(given)
        where.update({key: f"redact.{key}" for key in given})
    return Redaction.from_config(data, where)


def parse_trade_rules(raw: Any, where: str = "tracing.trades") -> TradeRules:
    """``tracing.trades`` (or a profile's ``trades``): the rules named by ``rules`` (a
    class registered in ``tradetrace.plugins.TRADE_RULES``, by default ``default``) with
    the given keys on top of its defaults."""
    if not isinstance(raw, Mapping) or "rules" not in raw:
        return TradeRules.from_config(raw, where)
    chosen = TRADE_RULES.get(raw["rules"], f"{where}.rules")
    if not (isinstance(chosen, type) and issubclass(chosen, TradeRules)):
        raise ConfigError(f"{where}.rules", raw["rules"], "a TradeRules class")
    rest = {key: value for key, value in raw.items() if key != "rules"}
    return chosen.from_config(rest, where)


def rule_event_types(rules: TradeRules) -> frozenset[str]:
    """The event types trade rules give a role (a user's own types count as declared)."""
    return (rules.orders | rules.fills | rules.opens | rules.closes | rules.updates
            | rules.signals)


def number_word(raw: str, path: str, allowed: str) -> float:
    """A number given as a variable's text (checked further as any number)."""
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(path, raw, allowed) from None


def parse_fail_fast(variable: bool | None, tracing: Mapping[str, Any]) -> bool:
    """``TRADETRACE_FAIL_FAST`` (already read as a flag), else ``tracing.fail_fast``."""
    if variable is not None:
        return variable
    value = tracing.get("fail_fast", False)
    if not isinstance(value, bool):
        raise ConfigError("tracing.fail_fast", value, "true or false")
    return value
