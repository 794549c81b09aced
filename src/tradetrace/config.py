"""Configuration: one precedence order, one frozen result.

Each setting is resolved as: explicit argument, then environment variable, then the YAML
file (``TRADETRACE_CONFIG`` or ``config_file=``), then the default. Standard ``OTEL_*``
variables keep their meaning: ``OTEL_SDK_DISABLED=true`` turns tracing off,
``OTEL_SERVICE_NAME`` names the service, ``OTEL_EXPORTER_OTLP_ENDPOINT`` makes OTLP the
default storage.

Example file::

    tracing:
      level: minimal
      overrides:
        portfolio_*: {level: normal}
        execution_*: {level: debug, max_events: 100000}
      storage: {backend: file, path: tradetrace-traces/, rotation: {max_megabytes: 100}}
      retention:                     # trade-aware retention (docs/retention.md)
        policy: keep_if
        keep_if: {any: [{loss_above: 250}, {rejected: true}, {error: true}]}
      event_types: [REBALANCE]       # your own event types, beyond ADMF-PC's
      redact: {extra_keys: [pin]}    # DEBUG's payload values under these keys: [REDACTED]

Every number must be finite, a run id is a plain name (files are named after it), an
override's ``events`` must be known or declared types, and no key may appear twice.

>>> cfg = load_config(level="minimal", env={})
>>> cfg.policy_for("portfolio_1a2b").traces("FILL"), cfg.policy_for("data_9f").traced
(True, False)
"""

from __future__ import annotations

import fnmatch
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import environment_variables as ev
from .config_file import read_tracing_section
from .decide.levels import (
    BUILTIN_EVENT_TYPES,
    EVENT_TYPE_NAME,
    LEVEL_NAMES,
    ContainerPolicy,
    TraceLevel,
    check_known_event_type,
    parse_event_types,
    preset,
)
from .decide.overload import ACTIONS, OverloadSettings
from .errors import ConfigError, finite_number
from .export.attributes import REDACT_KEYS, Redaction
from .export.files import PRIVATE, Permissions
from .plugins import SINKS, TRADE_RULES
from .retain.policies.always import Always
from .retain.policies.trade_complete import TradeComplete
from .retain.policy import (
    BY_LEVEL,
    LIMIT_KEYS,
    RetentionPolicy,
    TailLimits,
    parse_limits,
    parse_policy,
    policy_keys,
)
from .retain.trade_rules import TradeRules

#: Where trace files go by default, relative to the working directory at start. Named
#: for tradetrace, so that it is never a folder of the traced system's own (ADMF-PC keeps
#: its signal and trade store in ``./traces``).
DEFAULT_OUTPUT = "tradetrace-traces"
_GLOB_CHARS = re.compile(r"^[A-Za-z0-9_*?\[\]!.:\-]+$")
_GLOB_ALLOWED = "letters, digits, _ - . : and the wildcards * ? [...]"
#: A run id names files (``<run id>-0001.jsonl``): a name, never a path.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RUN_ID_ALLOWED = ("1 to 128 letters, digits, '.', '_' or '-', starting with a letter or "
                  "digit (a name, not a path)")
_TRACING_KEYS = (
    "level", "overrides", "storage", "profile", "service_name", "run_id",
    "flush_timeout_seconds", "retention", "trades", "metrics", "overload", "event_types",
    "redact", "publish_wait_ms", "handle_sigterm", "encoder",
)
#: where spans are built: a thread of the traced process (the default), or a helper process
ENCODERS = ("thread", "process")

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


#: Retention when neither the container's override nor ``tracing.retention`` names one.
LEVEL_RETENTION: dict[TraceLevel, RetentionPolicy] = {TraceLevel.MINIMAL: TradeComplete()}
DEFAULT_RETENTION: RetentionPolicy = Always()


@dataclass(frozen=True)
class TracingConfig:
    """The resolved configuration; build it with :func:`load_config`."""

    level: TraceLevel = TraceLevel.NORMAL
    overrides: tuple[ContainerOverride, ...] = ()
    profile: str | Mapping[str, Any] | None = None
    service_name: str | None = None  #: None: OTEL_RESOURCE_ATTRIBUTES, else "trading"
    run_id: str = ""
    backend: str = "file"
    output: Path = Path(DEFAULT_OUTPUT)
    rotation: Rotation = field(default_factory=Rotation)
    flush_timeout_seconds: float = 5.0
    source: str = "defaults"  #: where the file part came from, for messages
    disabled: bool = False  #: OTEL_SDK_DISABLED: off whatever the levels say
    retention: RetentionPolicy | None = None  #: None: by level (LEVEL_RETENTION)
    limits: TailLimits = field(default_factory=TailLimits)
    trade_rules: TradeRules | None = field(default_factory=TradeRules)  #: None: no trades
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    overload: OverloadSettings = field(default_factory=OverloadSettings)
    #: event types declared in ``tracing.event_types`` (beyond the built-in ones)
    event_types: frozenset[str] = frozenset()
    #: payload values written as [REDACTED] (DEBUG's snapshot); the span encoder's setting
    redaction: Redaction = field(default_factory=Redaction)
    #: modes of the trace files and folders tradetrace creates
    permissions: Permissions = PRIVATE
    #: how long a publisher whose buffer is full may wait for the export worker to take
    #: it (retain/buffer.py), in seconds; 0: drop at once
    publish_wait_seconds: float = 0.001
    #: flush and state the accounting on SIGTERM (launch/signals.py)
    handle_sigterm: bool = True
    #: ``thread``: spans are built and written by a thread of the traced program;
    #: ``process``: by a helper process, off its GIL (export/encoder_process.py)
    encoder: str = "thread"

    @property
    def enabled(self) -> bool:
        """Whether anything at all may be traced (else nothing is patched)."""
        if self.disabled:
            return False
        levels = [self.level] + [o.level for o in self.overrides if o.level is not None]
        return any(level is not TraceLevel.NONE for level in levels)

    def _override_for(self, container_id: str) -> ContainerOverride | None:
        best: ContainerOverride | None = None
        for override in self.overrides:
            if fnmatch.fnmatchcase(container_id, override.pattern) and (
                best is None or override.specificity > best.specificity
            ):
                best = override
        return best

    def policy_for(self, container_id: str) -> ContainerPolicy:
        """The policy of one container: global level, then the most specific override."""
        best = self._override_for(container_id)
        if best is None:
            return preset(self.level, container_id)
        level = best.level if best.level is not None else self.level
        return preset(level, container_id, max_events=best.max_events, events=best.events)

    def retention_for(self, container_id: str) -> RetentionPolicy:
        """What a container does with its trades' spans: its override's retention, then
        ``tracing.retention``, then its level's default (MINIMAL: trade_complete)."""
        best = self._override_for(container_id)
        chosen = best.retention if best is not None and best.retention is not None else (
            self.retention)
        if chosen is not None and chosen.name != BY_LEVEL:
            return chosen
        level = LEVEL_RETENTION.get(self.policy_for(container_id).level, DEFAULT_RETENTION)
        if chosen is None:
            return level
        return replace(level, window=chosen.window, incomplete=chosen.incomplete)

    def may_trace(self, event_type: str) -> bool:
        """Whether any container could trace (or count) this event type (else: skip it
        at once)."""
        policies = [preset(self.level, "")]
        policies += [
            preset(o.level if o.level is not None else self.level, o.pattern, events=o.events)
            for o in self.overrides
        ]
        return any(p.traces(event_type) or self.counts_signal(p, event_type) for p in policies)

    def counts_signal(self, policy: ContainerPolicy, event_type: str) -> bool:
        """Whether a container whose policy does not trace this signal type still counts
        it (``trading.signals``: why-not at MINIMAL). Only levels above NONE do."""
        rules = self.trade_rules
        return (rules is not None and event_type in rules.signals
                and policy.level is not TraceLevel.NONE)

    def with_level(self, level: str | TraceLevel, containers: str | None = None) -> TracingConfig:
        """This config at another level: every container's (overrides keep their other
        settings), or only that of the containers matching the glob ``containers``."""
        parsed = _parse_level(level, "level")
        if containers is None:
            overrides = tuple(replace(o, level=None) for o in self.overrides)
            return replace(self, level=parsed, overrides=overrides)
        _check_glob(containers, "containers")
        kept = [o for o in self.overrides if o.pattern != containers]
        old = next((o for o in self.overrides if o.pattern == containers), None)
        changed = replace(old, level=parsed) if old else ContainerOverride(containers, parsed)
        return replace(self, overrides=(*kept, changed))

    @property
    def top_level(self) -> TraceLevel:
        """The highest level any container may have."""
        return max([self.level] + [o.level for o in self.overrides if o.level is not None])

    def capped(self, cap: TraceLevel | None) -> TracingConfig:
        """This config with no level above ``cap`` (None: unchanged); NONE stays NONE."""
        if cap is None or self.top_level <= cap:
            return self
        overrides = tuple(
            replace(o, level=cap) if o.level is not None and o.level > cap else o
            for o in self.overrides
        )
        return replace(self, level=min(self.level, cap), overrides=overrides)

    @property
    def any_handler_spans(self) -> bool:
        """Whether some container may get handler spans (handlers are wrapped only then)."""
        levels = [self.level] + [o.level for o in self.overrides if o.level is not None]
        return TraceLevel.DEBUG in levels


def load_config(
    *,
    level: str | TraceLevel | None = None,
    config_file: str | os.PathLike[str] | None = None,
    profile: str | Mapping[str, Any] | None = None,
    output: str | os.PathLike[str] | None = None,
    backend: str | None = None,
    service_name: str | None = None,
    run_id: str | None = None,
    retention: str | Mapping[str, Any] | None = None,
    redact: bool | Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> TracingConfig:
    """Resolve the configuration; raise :class:`ConfigError` naming any bad value.

    ``redact`` is ``True``/``False`` or a mapping like ``tracing.redact``, whose keys win
    over the file's (``TRADETRACE_REDACT`` sets ``enabled`` between the two)."""
    env = os.environ if env is None else env
    path = config_file if config_file is not None else env.get(ev.TRADETRACE_CONFIG) or None
    tracing = read_tracing_section(Path(path)) if path else {}
    where = str(path) if path else "defaults"
    _check_keys(tracing, "tracing", _TRACING_KEYS)
    ev.flag(env, ev.TRADETRACE_FAIL_FAST)  # read at start-up failures; checked here too
    parent = env.get(ev.TRADETRACE_PARENT_PID, "")
    if parent and not parent.isdigit():
        raise ConfigError(ev.TRADETRACE_PARENT_PID, parent,
                          "a process id (set by tradetrace for child processes)")

    def pick(arg: Any, env_name: str | None, key: str) -> tuple[Any, str]:
        if arg is not None:
            return arg, key
        if env_name and env.get(env_name):
            return env[env_name], env_name
        if key in tracing:
            return tracing[key], f"tracing.{key}"
        return None, key

    raw_level, level_path = pick(level, ev.TRADETRACE_LEVEL, "level")
    resolved_level = _parse_level(raw_level, level_path) if raw_level is not None else None
    disabled = ev.flag(env, ev.OTEL_SDK_DISABLED) is True
    if disabled:
        resolved_level = TraceLevel.NONE

    trades_raw = tracing.get("trades")
    rules = None if trades_raw is False else _trade_rules(trades_raw)
    declared = parse_event_types(tracing.get("event_types"), "tracing.event_types")
    known = BUILTIN_EVENT_TYPES | declared | _rule_event_types(rules or TradeRules())
    overrides = _parse_overrides(tracing.get("overrides"), known)
    storage = _mapping(tracing.get("storage", {}), "tracing.storage")
    _check_keys(storage, "tracing.storage", ("backend", "path", "rotation", "permissions"))

    raw_backend, backend_path = backend, "backend"
    if raw_backend is None and env.get(ev.TRADETRACE_STORAGE):
        raw_backend, backend_path = env[ev.TRADETRACE_STORAGE], ev.TRADETRACE_STORAGE
    if raw_backend is None and "backend" in storage:
        raw_backend, backend_path = storage["backend"], "tracing.storage.backend"
    if raw_backend is None:
        otlp_set = env.get(ev.OTEL_EXPORTER_OTLP_ENDPOINT) or env.get(
            ev.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        )
        folder_named = output is not None or env.get(ev.TRADETRACE_OUTPUT)
        raw_backend = "otlp" if otlp_set and not folder_named else "file"
    SINKS.check(raw_backend, backend_path)

    raw_output = output or env.get(ev.TRADETRACE_OUTPUT) or storage.get("path") or DEFAULT_OUTPUT
    if (
        output is None
        and not env.get(ev.TRADETRACE_OUTPUT)
        and "path" in storage
        and not (isinstance(storage["path"], str) and storage["path"])
    ):
        raise ConfigError("tracing.storage.path", storage["path"], "a folder path")

    raw_profile, _ = pick(profile, ev.TRADETRACE_PROFILE, "profile")
    if raw_profile is not None and not isinstance(raw_profile, (str, Mapping)):
        raise ConfigError(
            "tracing.profile", raw_profile, "a profile name, a YAML path or a mapping"
        )

    name, name_path = pick(service_name, ev.OTEL_SERVICE_NAME, "service_name")
    if name is not None and (name.__class__ is bool or not isinstance(name, (str, int))):
        raise ConfigError(name_path, name, "a service name (a string)")
    rid, rid_path = pick(run_id, ev.TRADETRACE_RUN_ID, "run_id")
    raw_flush, flush_path = pick(None, ev.TRADETRACE_FLUSH_TIMEOUT, "flush_timeout_seconds")
    if flush_path == ev.TRADETRACE_FLUSH_TIMEOUT:
        raw_flush = _number_word(raw_flush, flush_path, "a positive number of seconds")
    if flush_path == "flush_timeout_seconds":  # set nowhere
        raw_flush, flush_path = 5.0, "tracing.flush_timeout_seconds"
    flush = finite_number(raw_flush, flush_path, "a positive number of seconds",
                          valid=lambda v: v > 0)
    wait = finite_number(tracing.get("publish_wait_ms", 1.0), "tracing.publish_wait_ms",
                         "milliseconds from 0 to 1000", valid=lambda v: 0 <= v <= 1000)
    sigterm = tracing.get("handle_sigterm", True)
    if not isinstance(sigterm, bool):
        raise ConfigError("tracing.handle_sigterm", sigterm, "true or false")
    encoder, encoder_path = pick(None, ev.TRADETRACE_ENCODER, "encoder")
    if encoder_path == "encoder":  # set nowhere
        encoder, encoder_path = "thread", "tracing.encoder"
    if isinstance(encoder, str):
        encoder = encoder.strip().lower()
    if encoder not in ENCODERS:
        raise ConfigError(encoder_path, encoder, " or ".join(ENCODERS))
    retention_raw = _mapping(tracing.get("retention"), "tracing.retention")
    if retention is not None:  # the argument's keys win over the file's
        given = {"policy": retention} if isinstance(retention, str) else retention
        retention_raw = {**retention_raw, **_mapping(dict(given), "retention")}
    _check_keys(retention_raw, "tracing.retention",
                policy_keys(retention_raw, "tracing.retention") + LIMIT_KEYS)
    try:
        retention_policy = parse_policy(retention_raw, "tracing.retention")
        limits = parse_limits(retention_raw, "tracing.retention")
    except ConfigError as exc:  # name the argument when the bad key came from it
        key = exc.path.removeprefix("tracing.retention.").split(".")[0].split("[")[0]
        if retention is None or isinstance(retention, str) or key not in retention:
            raise
        raise ConfigError(exc.path.replace("tracing.", "", 1), exc.value, exc.allowed,
                          exc.reason) from None
    return TracingConfig(
        level=resolved_level if resolved_level is not None else TraceLevel.NORMAL,
        overrides=overrides,
        profile=raw_profile,
        service_name=str(name) if name else None,
        disabled=disabled,
        run_id=_parse_run_id(rid, rid_path) if rid not in (None, "") else new_run_id(),
        backend=raw_backend,
        output=Path(raw_output),
        rotation=_parse_rotation(storage.get("rotation", {})),
        flush_timeout_seconds=float(flush),
        source=where,
        retention=retention_policy,
        limits=limits,
        trade_rules=rules,
        metrics=_parse_metrics(tracing.get("metrics")),
        overload=_parse_overload(tracing.get("overload"), env.get(ev.TRADETRACE_OVERLOAD)),
        event_types=declared,
        redaction=_parse_redact(tracing.get("redact"), redact, ev.flag(env, ev.TRADETRACE_REDACT)),
        permissions=_parse_permissions(storage.get("permissions")),
        publish_wait_seconds=float(wait) / 1000,
        handle_sigterm=sigterm,
        encoder=encoder,
    )


def _number_word(raw: str, path: str, allowed: str) -> float:
    """A number given as a variable's text (checked further as any number)."""
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(path, raw, allowed) from None


def new_run_id() -> str:
    """A sortable, unique run id: ``run_20240102T093000_1a2b3c``."""
    return "run_" + time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "_" + secrets.token_hex(3)


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(path, value, "a mapping")
    return value


def _check_keys(data: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}", key, "one of " + ", ".join(allowed), "unknown key")


def _parse_level(value: Any, path: str) -> TraceLevel:
    try:
        return TraceLevel.parse(value)
    except ValueError:
        raise ConfigError(path, value, LEVEL_NAMES) from None


def _parse_overrides(raw: Any, known: frozenset[str]) -> tuple[ContainerOverride, ...]:
    overrides: list[ContainerOverride] = []
    for pattern, body in _mapping(raw, "tracing.overrides").items():
        path = f"tracing.overrides[{pattern!r}]"
        _check_glob(pattern, path)
        body = _mapping(body, path)
        _check_keys(body, path, ("level", "max_events", "events", "retention"))
        retention_raw = _mapping(body.get("retention"), f"{path}.retention")
        _check_keys(retention_raw, f"{path}.retention",
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
        lvl = _parse_level(body["level"], f"{path}.level") if "level" in body else None
        overrides.append(ContainerOverride(pattern, lvl, cap, events, retention))
    return tuple(overrides)


def _check_glob(pattern: Any, path: str) -> None:
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


def _parse_permissions(raw: Any) -> Permissions:
    """``{file: "0640", folder: "0750"}``: octal modes, as strings or as YAML's octal
    numbers (an unquoted 0640 is read as octal)."""
    path = "tracing.storage.permissions"
    data = _mapping(raw, path)
    _check_keys(data, path, ("file", "folder"))
    modes = {}
    for key, default in (("file", PRIVATE.file), ("folder", PRIVATE.folder)):
        value = data.get(key, default)
        if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value.strip()):
            value = int(value.strip(), 8)
        if value.__class__ is not int or not 0 <= value <= 0o777:
            raise ConfigError(f"{path}.{key}", value, 'an octal mode such as "0600"')
        modes[key] = value
    return Permissions(**modes)


def _parse_rotation(raw: Any) -> Rotation:
    data = _mapping(raw, "tracing.storage.rotation")
    _check_keys(data, "tracing.storage.rotation", ("max_megabytes", "max_files"))
    size = finite_number(data.get("max_megabytes", 100.0),
                         "tracing.storage.rotation.max_megabytes", "a positive number",
                         valid=lambda v: v > 0)
    files = finite_number(data.get("max_files", 0), "tracing.storage.rotation.max_files",
                          "a whole number >= 0", whole=True, valid=lambda v: v >= 0)
    return Rotation(float(size), files)


def _parse_metrics(raw: Any) -> MetricsSettings:
    if raw is False:
        return MetricsSettings(enabled=False)
    if raw is True:
        return MetricsSettings()
    data = _mapping(raw, "tracing.metrics")
    _check_keys(data, "tracing.metrics", ("enabled", "interval_seconds"))
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("tracing.metrics.enabled", enabled, "true or false")
    interval = finite_number(data.get("interval_seconds", 10.0),
                             "tracing.metrics.interval_seconds", "a number > 0",
                             valid=lambda v: v > 0)
    return MetricsSettings(enabled, float(interval))


def _parse_overload(raw: Any, action_env: str | None) -> OverloadSettings:
    path = "tracing.overload"
    data = dict(_mapping(raw, path))
    _check_keys(data, path, ("action", "busy_fraction", "window_seconds", "recover_seconds",
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
    floor = _parse_level(data.get("floor", "minimal"), f"{path}.floor")
    if floor is TraceLevel.NONE:
        raise ConfigError(f"{path}.floor", data.get("floor"), "minimal, normal or debug "
                          "(open trades stay traced)")
    return OverloadSettings(action, floor=floor, **numbers)


def _parse_run_id(value: Any, path: str) -> str:
    """A run id names the run's files: refused unless it is a plain name."""
    if isinstance(value, int) and value.__class__ is not bool:
        value = str(value)
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise ConfigError(path, value, RUN_ID_ALLOWED)
    return value


def _parse_redact(raw: Any, argument: bool | Mapping[str, Any] | None,
                  env_enabled: bool | None) -> Redaction:
    """``tracing.redact`` (``true``/``false`` or a mapping), under the ``redact`` argument
    (its keys win) and ``TRADETRACE_REDACT`` (which sets ``enabled``, below the argument)."""
    path = "tracing.redact"
    data = {"enabled": raw} if isinstance(raw, bool) else dict(_mapping(raw, path))
    _check_keys(data, path, REDACT_KEYS)
    where = {key: f"{path}.{key}" for key in data}
    if env_enabled is not None:
        data["enabled"], where["enabled"] = env_enabled, ev.TRADETRACE_REDACT
    if argument is not None:
        given = {"enabled": argument} if isinstance(argument, bool) else argument
        if not isinstance(given, Mapping):
            raise ConfigError("redact", argument, "true, false or a mapping like tracing.redact")
        _check_keys(given, "redact", REDACT_KEYS)
        data.update(given)
        where.update({key: f"redact.{key}" for key in given})
    return Redaction.from_config(data, where)


def _trade_rules(raw: Any) -> TradeRules:
    """``tracing.trades``: the rules named by ``rules`` (a class registered in
    ``tradetrace.plugins.TRADE_RULES``, by default ``default``) with the given keys on
    top of its defaults."""
    if not isinstance(raw, Mapping) or "rules" not in raw:
        return TradeRules.from_config(raw)
    chosen = TRADE_RULES.get(raw["rules"], "tracing.trades.rules")
    if not (isinstance(chosen, type) and issubclass(chosen, TradeRules)):
        raise ConfigError("tracing.trades.rules", raw["rules"], "a TradeRules class")
    rest = {key: value for key, value in raw.items() if key != "rules"}
    return chosen.from_config(rest)


def _rule_event_types(rules: TradeRules) -> frozenset[str]:
    """The event types trade rules give a role (a user's own types count as declared)."""
    return (rules.orders | rules.fills | rules.opens | rules.closes | rules.updates
            | rules.signals)
