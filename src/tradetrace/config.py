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
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import environment_variables as ev
from .config_file import read_tracing_section
from .config_sections import (
    ContainerOverride,
    MetricsSettings,
    Rotation,
    as_mapping,
    check_glob,
    check_keys,
    number_word,
    parse_fail_fast,
    parse_level,
    parse_metrics,
    parse_overload,
    parse_overrides,
    parse_permissions,
    parse_redact,
    parse_rotation,
    parse_run_id,
    parse_trade_rules,
    rule_event_types,
)
from .decide.levels import (
    BUILTIN_EVENT_TYPES,
    ORDER_LIFECYCLE,
    ContainerPolicy,
    TraceLevel,
    parse_event_types,
    preset,
)
from .decide.overload import OverloadSettings
from .errors import ConfigError, finite_number
from .export.attributes import Redaction
from .export.files import PRIVATE, Permissions
from .plugins import SINKS
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
_TRACING_KEYS = (
    "level", "overrides", "storage", "profile", "service_name", "run_id",
    "flush_timeout_seconds", "retention", "trades", "metrics", "overload", "event_types",
    "redact", "publish_wait_ms", "handle_sigterm", "encoder", "fail_fast",
)
#: where spans are built: a thread of the traced process (the default), or a helper process
ENCODERS = ("thread", "process")

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
    #: ``tracing.trades`` was given: a profile's own trade rules do not replace them
    trades_given: bool = False
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
    #: a run that delivered none of its spans ends the process with a non-zero status
    fail_fast: bool = False
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
        lifecycle = self.order_lifecycle
        if best is None:
            return preset(self.level, container_id, lifecycle=lifecycle)
        level = best.level if best.level is not None else self.level
        return preset(level, container_id, max_events=best.max_events, events=best.events,
                      lifecycle=lifecycle)

    @property
    def order_lifecycle(self) -> frozenset[str]:
        """MINIMAL's events: ADMF-PC's order lifecycle and every type the trade rules give
        a role in a trade (a framework's own names, from its profile's ``trades``)."""
        rules = self.trade_rules
        return ORDER_LIFECYCLE | rules.trade_types if rules is not None else ORDER_LIFECYCLE

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
        lifecycle = self.order_lifecycle
        policies = [preset(self.level, "", lifecycle=lifecycle)]
        policies += [
            preset(o.level if o.level is not None else self.level, o.pattern, events=o.events,
                   lifecycle=lifecycle)
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
        parsed = parse_level(level, "level")
        if containers is None:
            overrides = tuple(replace(o, level=None) for o in self.overrides)
            return replace(self, level=parsed, overrides=overrides)
        check_glob(containers, "containers")
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
    check_keys(tracing, "tracing", _TRACING_KEYS)
    fail_fast = parse_fail_fast(ev.flag(env, ev.TRADETRACE_FAIL_FAST), tracing)
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
    resolved_level = parse_level(raw_level, level_path) if raw_level is not None else None
    disabled = ev.flag(env, ev.OTEL_SDK_DISABLED) is True
    if disabled:
        resolved_level = TraceLevel.NONE

    trades_raw = tracing.get("trades")
    rules = None if trades_raw is False else parse_trade_rules(trades_raw)
    declared = parse_event_types(tracing.get("event_types"), "tracing.event_types")
    known = BUILTIN_EVENT_TYPES | declared | rule_event_types(rules or TradeRules())
    overrides = parse_overrides(tracing.get("overrides"), known)
    storage = as_mapping(tracing.get("storage", {}), "tracing.storage")
    check_keys(storage, "tracing.storage", ("backend", "path", "rotation", "permissions"))

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
        raw_flush = number_word(raw_flush, flush_path, "a positive number of seconds")
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
    retention_raw = as_mapping(tracing.get("retention"), "tracing.retention")
    if retention is not None:  # the argument's keys win over the file's
        given = {"policy": retention} if isinstance(retention, str) else retention
        retention_raw = {**retention_raw, **as_mapping(dict(given), "retention")}
    check_keys(retention_raw, "tracing.retention",
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
        run_id=parse_run_id(rid, rid_path) if rid not in (None, "") else new_run_id(),
        backend=raw_backend,
        output=Path(raw_output),
        rotation=parse_rotation(storage.get("rotation", {})),
        flush_timeout_seconds=float(flush),
        source=where,
        retention=retention_policy,
        limits=limits,
        trade_rules=rules,
        trades_given=trades_raw is not None,
        metrics=parse_metrics(tracing.get("metrics")),
        overload=parse_overload(tracing.get("overload"), env.get(ev.TRADETRACE_OVERLOAD)),
        event_types=declared,
        redaction=parse_redact(tracing.get("redact"), redact, ev.flag(env, ev.TRADETRACE_REDACT)),
        permissions=parse_permissions(storage.get("permissions")),
        publish_wait_seconds=float(wait) / 1000,
        handle_sigterm=sigterm,
        encoder=encoder,
        fail_fast=fail_fast,
    )


def new_run_id() -> str:
    """A sortable, unique run id: ``run_20240102T093000_1a2b3c``."""
    return "run_" + time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "_" + secrets.token_hex(3)

