"""What a profile is: its patch points (``Target``) and roles (``Profile``).

Apart from profile.py (which resolves and parses profiles) so that a framework's built-in
profile can live in a module of its own (capture/frameworks/) and be one row of
``profile.BUILTIN``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..model.events import EVENT_FIELDS, EventAdapter
from ..plugins import EVENT_ADAPTERS
from .listener import ListenSpec

ROLES = ("publish", "subscribe", "unsubscribe", "lifecycle", "run", "transport")
_TARGET = re.compile(
    r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<cls>[A-Za-z_]\w*)\.(?P<method>[A-Za-z_]\w*)$"
)
_TARGET_FORM = "'package.module:Class.method'"


@dataclass(frozen=True)
class Target:
    """One patch point: ``module:Class.method``."""

    module: str
    cls: str
    method: str

    @classmethod
    def parse(cls, text: Any, path: str) -> Target:
        match = _TARGET.match(text) if isinstance(text, str) else None
        if not match:
            raise ConfigError(path, text, _TARGET_FORM)
        return cls(match["module"], match["cls"], match["method"])

    def __str__(self) -> str:
        return f"{self.module}:{self.cls}.{self.method}"


@dataclass(frozen=True)
class Profile:
    name: str
    publish: tuple[Target, ...]
    subscribe: tuple[Target, ...] = ()
    unsubscribe: tuple[Target, ...] = ()
    lifecycle: tuple[Target, ...] = ()
    run: tuple[Target, ...] = ()
    transport: tuple[Target, ...] = ()
    #: listener mode: after each ``on`` method returns, subscribe to the bus it names
    listen: tuple[tuple[Target, ListenSpec], ...] = ()
    #: a framework without a bus: each pure-Python method is wrapped by ``hook(session)``
    #: (a wrapt wrapper recording what the call shows through ``session.recorder``);
    #: built-in profiles only (capture/frameworks/)
    hooks: tuple[tuple[Target, Callable[[Any], Callable[..., Any]]], ...] = ()
    #: the framework's own trade rules (retain/trade_rules.py TradeRules), used unless
    #: ``tracing.trades`` is given
    trades: Any = None
    #: armed when no profile is chosen (a profile whose events need their own adapter is
    #: armed only when chosen: one adapter reads a session's events)
    by_default: bool = True
    event_fields: Mapping[str, str] = field(default_factory=lambda: dict(EVENT_FIELDS))
    container_id_attribute: str = "container_id"
    event_adapter: str = "attributes"  #: how its events are read (model/events.py)
    adapter_options: Mapping[str, Any] = field(default_factory=dict)  #: the adapter's own

    def targets(self) -> Iterable[tuple[str, Target]]:
        for role in ROLES:
            for target in getattr(self, role):
                yield role, target
        for target, _ in self.listen:
            yield "listen", target
        for target, _ in self.hooks:
            yield "hook", target

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.module for _, t in self.targets()))

    def field(self, name: str) -> str:
        return self.event_fields.get(name, name)

    def adapter(self) -> EventAdapter:
        """The event adapter this profile names, reading its ``event_fields``."""
        adapter: EventAdapter = EVENT_ADAPTERS.get(self.event_adapter, "event_adapter")(
            self.event_fields, **self.adapter_options)
        return adapter
