"""Plug-in points by name: every table of what can be chosen by name, in one place.

Each point is a :class:`Registry`: a table of the built-in implementations (a name and
where it lives, imported only when chosen) and an entry-point group through which another
package adds its own, in the style of OpenTelemetry's samplers and exporters::

    # pyproject.toml of another package
    [project.entry-points."tradetrace.sinks"]
    parquet = "my_package.backend:ParquetBackend"

then ``storage: {backend: parquet}`` (or ``TRADETRACE_STORAGE=parquet``) chooses it.
A built-in wins over an entry point of the same name.

- storage backends (sinks): group ``tradetrace.sinks``, a
  :class:`tradetrace.export.backends.StorageBackend`;
- retention policies: ``tradetrace.retention_policies``, a
  :class:`tradetrace.retain.policy.RetentionPolicy`;
- trade rules: ``tradetrace.trade_rules``, a :class:`tradetrace.retain.trade_rules.TradeRules`;
- query patterns: ``tradetrace.query_patterns``, a
  :class:`tradetrace.analyse.query.patterns.QueryPattern`;
- event adapters (how a framework's event gives its type, ids, container and payload):
  ``tradetrace.event_adapters``, a :class:`tradetrace.model.events.EventAdapter`.

>>> SINKS.names()[:4]
['file', 'otlp', 'memory', 'none']
>>> try:
...     SINKS.get("tape", "tracing.storage.backend")
... except ConfigError as error:
...     print(error.path, error.value, error.allowed.split(" (")[0])
tracing.storage.backend tape file, otlp, memory, none
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from .errors import ConfigError

logger = logging.getLogger(__name__)


class Registry:
    """The implementations of one plug-in point, by name."""

    def __init__(self, what: str, group: str, built_in: Mapping[str, str]) -> None:
        self.what = what  #: what one of them is called in messages
        self.group = group  #: the entry-point group other packages add to
        self.built_in = dict(built_in)  #: name -> "module:attribute"
        self._loaded: dict[str, Any] = {}

    def names(self) -> list[str]:
        """Built-in names first (in table order), then installed ones."""
        installed = [e.name for e in entry_points(group=self.group)]
        return list(self.built_in) + sorted(n for n in set(installed) if n not in self.built_in)

    def get(self, name: str, path: str | None = None) -> Any:
        """The implementation named ``name``: :class:`ConfigError` (naming ``path``, the
        setting that chose it) listing the choices when there is none, or when a third
        party's cannot be loaded."""
        if not isinstance(name, str):
            raise ConfigError(path or self.what, name, self._choices())
        if name in self._loaded:
            return self._loaded[name]
        if name in self.built_in:
            module, _, attribute = self.built_in[name].partition(":")
            found = getattr(importlib.import_module(module), attribute)
        else:
            matches = [e for e in entry_points(group=self.group) if e.name == name]
            if not matches:
                raise ConfigError(path or self.what, name, self._choices())
            try:
                found = matches[0].load()
            except Exception as exc:  # another package's code: say which, and why
                raise ConfigError(path or self.what, name, self._choices(),
                                  f"its entry point {matches[0].value} failed to load: "
                                  f"{type(exc).__name__}: {exc}") from exc
        self._loaded[name] = found
        return found

    def check(self, name: Any, path: str) -> str:
        """``name`` if something is registered under it, without importing it (config
        is checked before anything is built); else a :class:`ConfigError`."""
        if not isinstance(name, str) or name not in self:
            raise ConfigError(path, name, self._choices())
        return name

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def _choices(self) -> str:
        return (", ".join(self.built_in) + " (built in) or one installed in the entry-point "
                f"group {self.group}")


SINKS = Registry("storage backend", "tradetrace.sinks", {
    "file": "tradetrace.export.backends.file:FileBackend",
    "otlp": "tradetrace.export.backends.otlp:OtlpBackend",
    "memory": "tradetrace.export.backends.memory:MemoryBackend",
    "none": "tradetrace.export.backends.none:NoBackend",
})

RETENTION_POLICIES = Registry("retention policy", "tradetrace.retention_policies", {
    "always": "tradetrace.retain.policies.always:Always",
    "trade_complete": "tradetrace.retain.policies.trade_complete:TradeComplete",
    "keep_if": "tradetrace.retain.policies.keep_if:KeepIf",
    "sliding_window": "tradetrace.retain.policies.sliding_window:SlidingWindow",
})

TRADE_RULES = Registry("trade rules", "tradetrace.trade_rules", {
    "default": "tradetrace.retain.trade_rules:TradeRules",
})

QUERY_PATTERNS = Registry("query pattern", "tradetrace.query_patterns", {
    "latency_spike": "tradetrace.analyse.query.patterns.latency_spike:LatencySpike",
    "rejected_orders": "tradetrace.analyse.query.patterns.rejected_orders:RejectedOrders",
    "orphan_events": "tradetrace.analyse.query.patterns.orphan_events:OrphanEvents",
    "signal_without_order":
        "tradetrace.analyse.query.patterns.signal_without_order:SignalWithoutOrder",
})

EVENT_ADAPTERS = Registry("event adapter", "tradetrace.event_adapters", {
    "attributes": "tradetrace.model.events:AttributeAdapter",
    "objects": "tradetrace.model.path_adapters:ObjectAdapter",
    "keys": "tradetrace.model.path_adapters:KeyAdapter",
    "backtrader": "tradetrace.model.backtrader:BacktraderAdapter",
})
