"""Profiles: what to patch in a traced system, by role.

A profile names, as ``module:Class.method``, the methods that play each role:

- ``publish``: the event bus's publish (every published event becomes a span);
- ``subscribe``: methods that register handlers (the handler is wrapped, for DEBUG's
  handler spans);
- ``unsubscribe``: methods that remove one; they are handed the wrapper that was
  subscribed, so a bus that keys handlers by identity finds it (capture/handlers.py);
- ``lifecycle``: container lifecycle steps (initialize, start, execute, stop, ...);
- ``run``: the coordinator's entry points (a run span; the pipeline flushes at its end);
- ``transport``: methods that send an event across a queue or to another process (its
  trace context is injected into the event's metadata first; capture/propagation.py).

Built in: ``admf`` (ADMF-PC, imported as ``src.*``), ``demo`` (``examples/demo_engine``),
and the frameworks' profiles in capture/frameworks/ (``nautilus``, ``backtrader``).
A user profile is YAML with the same keys, plus ``event_fields`` when the event object
names its fields differently, and ``event_adapter`` when its events are not read by
attribute (an adapter by name: model/events.py, ``plugins.EVENT_ADAPTERS``)::

    name: mybot
    publish: [mybot.bus:Bus.publish]
    subscribe: [mybot.bus:Bus.subscribe]
    unsubscribe: [mybot.bus:Bus.unsubscribe]
    lifecycle: [mybot.nodes:Node.start, mybot.nodes:Node.stop]
    run: [mybot.engine:Engine.run]
    event_fields: {event_type: kind, payload: data}
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import keyword
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..config_sections import parse_trade_rules
from ..errors import ConfigError
from ..model.events import EVENT_FIELDS
from ..plugins import EVENT_ADAPTERS
from .frameworks import backtrader, nautilus
from .listener import ListenSpec
from .profile_types import _TARGET_FORM, ROLES, Profile, Target

__all__ = ["BUILTIN", "ROLES", "Profile", "Target", "parse_profile", "resolve_profiles"]


def _methods(module: str, cls: str, names: str) -> tuple[Target, ...]:
    return tuple(Target(module, cls, name) for name in names.split())


_LIFECYCLE = "initialize start execute stop cleanup dispose"

BUILTIN: dict[str, Profile] = {
    "admf": Profile(
        name="admf",
        publish=_methods("src.core.events.bus", "EventBus", "publish"),
        subscribe=_methods(
            "src.core.events.bus", "EventBus", "subscribe subscribe_all subscribe_to_signals"
        ),
        unsubscribe=_methods("src.core.events.bus", "EventBus", "unsubscribe unsubscribe_all"),
        lifecycle=_methods("src.core.containers.container", "Container", _LIFECYCLE),
        run=_methods("src.core.coordinator.coordinator", "Coordinator", "run_topology run_workflow")
        + _methods("src.core.coordinator.sequencer", "Sequencer", "_execute_topology")
        + _methods("src.core.coordinator.topology", "TopologyBuilder", "build_topology"),
    ),
    "demo": Profile(
        name="demo",
        publish=_methods("demo_engine.bus", "EventBus", "publish"),
        subscribe=_methods(
            "demo_engine.bus", "EventBus", "subscribe subscribe_all subscribe_to_signals"
        ),
        unsubscribe=_methods("demo_engine.bus", "EventBus", "unsubscribe unsubscribe_all"),
        lifecycle=_methods("demo_engine.containers", "Container", _LIFECYCLE),
        run=_methods("demo_engine.coordinator", "Coordinator", "run_topology"),
    ),
    "nautilus": nautilus.PROFILE,
    "backtrader": backtrader.PROFILE,
}


def resolve_profiles(
    spec: str | Mapping[str, Any] | None, search_paths: Iterable[str] = ()
) -> tuple[tuple[Profile, ...], bool]:
    """The profiles to apply and whether they were chosen explicitly.

    Unset, every built-in profile read by the default adapter is armed (``admf``,
    ``demo``): each patches its modules when (and if) they are imported; ``nautilus`` and
    ``backtrader`` are armed only when chosen. Explicit profiles are checked now: their
    modules must be importable.
    """
    if spec is None:
        return tuple(p for p in BUILTIN.values() if p.by_default), False
    if isinstance(spec, Mapping):
        profile = parse_profile(spec, "tracing.profile")
    elif spec in BUILTIN:
        profile = BUILTIN[spec]
    elif spec.endswith((".yaml", ".yml")) or Path(spec).is_file():
        profile = load_profile(Path(spec))
    else:
        allowed = ", ".join(BUILTIN) + ", or the path of a YAML profile"
        raise ConfigError("tracing.profile", spec, allowed, "unknown profile")
    check_importable(profile, list(search_paths))
    return (profile,), True


def load_profile(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            "tracing.profile", str(path), "a readable YAML profile", str(exc)
        ) from None
    except yaml.YAMLError:
        raise ConfigError(
            "tracing.profile", str(path), "a valid YAML profile", "bad YAML"
        ) from None
    return parse_profile(data, f"tracing.profile ({path})")


def parse_profile(data: Any, path: str) -> Profile:
    if not isinstance(data, Mapping):
        raise ConfigError(path, data, "a mapping with publish, subscribe, unsubscribe, "
                          "lifecycle, run")
    allowed = ("name", *ROLES, "listen", "event_fields", "event_adapter", "trades",
               "container_id_attribute")
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}", key, ", ".join(allowed), "unknown key")
    roles: dict[str, Any] = {}
    for role in ROLES:
        raw = data.get(role, [])
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list):
            raise ConfigError(f"{path}.{role}", raw, f"a list of {_TARGET_FORM}")
        roles[role] = tuple(Target.parse(t, f"{path}.{role}[{i}]") for i, t in enumerate(raw))
    # no publish target is fine: events may come by listen, tradetrace.listen() or
    # tradetrace.record(), read as the profile's event_fields and event_adapter say
    listen = _listen(data.get("listen", []), path)
    adapter_name, options = _adapter_spec(data.get("event_adapter", "attributes"), path)
    fields = _event_fields(data.get("event_fields", {}) or {}, adapter_name, path)
    _adapter_options(adapter_name, fields, options, path)
    cid = data.get("container_id_attribute", "container_id")
    if not isinstance(cid, str) or not cid.isidentifier() or keyword.iskeyword(cid):
        raise ConfigError(f"{path}.container_id_attribute", cid, "an attribute name")
    return Profile(
        name=str(data.get("name", "custom")),
        event_fields=fields,
        container_id_attribute=cid,
        event_adapter=adapter_name,
        adapter_options=options,
        listen=listen,
        trades=parse_trade_rules(data["trades"], f"{path}.trades") if "trades" in data else None,
        **roles,
    )


def _listen(raw: Any, path: str) -> tuple[tuple[Target, ListenSpec], ...]:
    """``listen``: entries with ``on`` (the method after which to subscribe) and how."""
    raw = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(raw, list):
        raise ConfigError(f"{path}.listen", raw, "a list of {on: ..., bus: ..., subscribe: "
                          "..., handler: ..., arguments: {...}}")
    entries = []
    for i, entry in enumerate(raw):
        where = f"{path}.listen[{i}]"
        on = Target.parse(entry.get("on") if isinstance(entry, Mapping) else None, f"{where}.on")
        entries.append((on, ListenSpec.parse({k: v for k, v in entry.items() if k != "on"},
                                             where)))
    return tuple(entries)


def _adapter_spec(raw: Any, path: str) -> tuple[str, dict[str, Any]]:
    """``event_adapter``: a name, or a mapping with ``name`` and the adapter's options."""
    if isinstance(raw, Mapping):
        options = dict(raw)
        name = EVENT_ADAPTERS.check(options.pop("name", None), f"{path}.event_adapter.name")
        return name, options
    return EVENT_ADAPTERS.check(raw, f"{path}.event_adapter"), {}


def _adapter_options(name: str, fields: dict[str, str], options: dict[str, Any],
                     path: str) -> None:
    """Build the adapter once, so a bad option is a ConfigError now, not at start."""
    if not options:
        return
    try:
        EVENT_ADAPTERS.get(name, f"{path}.event_adapter")(fields, **options)
    except TypeError as exc:  # an option the adapter does not take
        raise ConfigError(f"{path}.event_adapter", options, f"the options of the {name} "
                          "adapter", str(exc)) from None
    except ValueError as exc:
        raise ConfigError(f"{path}.event_adapter", options, f"the options of the {name} "
                          "adapter", str(exc)) from None


def _event_fields(raw: Any, adapter_name: str, path: str) -> dict[str, str]:
    """A profile's ``event_fields``, checked by the adapter that reads them."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}.event_fields", raw, "a mapping of field -> where it is")
    for key, value in raw.items():
        if key not in EVENT_FIELDS:
            raise ConfigError(f"{path}.event_fields.{key}", key, ", ".join(EVENT_FIELDS))
        if not isinstance(value, str):
            raise ConfigError(f"{path}.event_fields.{key}", value, "a string")
    adapter_class = EVENT_ADAPTERS.get(adapter_name, f"{path}.event_adapter")
    for key, value in raw.items():  # each field alone first, so the error names it
        try:
            adapter_class({key: value})
        except ValueError as exc:
            if adapter_name == "attributes":
                raise ConfigError(f"{path}.event_fields.{key}", value, "an attribute name"
                                  ) from None
            raise ConfigError(f"{path}.event_fields.{key}", value,
                              f"what the {adapter_name} adapter reads", str(exc)) from None
    try:
        return adapter_class(dict(raw)).fields
    except ValueError as exc:
        raise ConfigError(f"{path}.event_fields", dict(raw), f"what the {adapter_name} "
                          "adapter reads", str(exc)) from None


def check_importable(profile: Profile, search_paths: list[str]) -> None:
    """Every module must be importable; methods of modules already imported must exist."""
    for role, target in profile.targets():
        where = f"tracing.profile[{profile.name}].{role}"
        module = sys.modules.get(target.module)
        if module is None:
            if not _findable(target.module, search_paths):
                raise ConfigError(where, str(target), "an importable module", "module not found")
            if _extension_module(target.module, search_paths):
                raise ConfigError(where, str(target), "a method of a Python class "
                                  "tradetrace can patch", f"{target.module} is a compiled "
                                  "extension module: its classes cannot be patched")
            continue
        check_target(module, target, where)


def check_target(module: Any, target: Target, where: str, patchable: bool = True) -> None:
    """The class and method exist (and, with ``patchable``, can be replaced)."""
    owner = getattr(module, target.cls, None)
    if not isinstance(owner, type):
        raise ConfigError(where, str(target), "an existing class", f"no class {target.cls}")
    if not callable(getattr(owner, target.method, None)):
        raise ConfigError(where, str(target), "an existing method", f"no method {target.method}")
    reason = unpatchable(owner, target.method) if patchable else ""
    if reason:
        raise ConfigError(where, str(target), "a method of a Python class tradetrace can patch",
                          reason)


#: Py_TPFLAGS_IMMUTABLETYPE (CPython 3.10+): built-in and extension types, whose
#: attributes cannot be set.
_IMMUTABLE_TYPE = 1 << 8
_ABSENT = object()


def unpatchable(owner: type, name: str) -> str:
    """Why ``owner.name`` cannot be replaced ("" if it can), found by trying, with nothing
    left changed: an extension type (a Cython, Rust or C class), or a class whose
    metaclass refuses attribute assignment."""
    if getattr(owner, "__flags__", 0) & _IMMUTABLE_TYPE:
        return f"{owner.__qualname__} is an immutable (extension or built-in) type"
    had = owner.__dict__.get(name, _ABSENT)
    try:
        current = had if had is not _ABSENT else inspect.getattr_static(owner, name)
        setattr(owner, name, current)  # the same object back
    except Exception as exc:
        return f"{owner.__qualname__}.{name} cannot be set: {type(exc).__name__}: {exc}"
    try:
        if had is _ABSENT and name in owner.__dict__:
            delattr(owner, name)
    except Exception:  # pragma: no cover (set but not deleted: left as the same object)
        pass
    return ""


def _extension_module(module: str, search_paths: list[str]) -> bool:
    """Whether ``module`` would be loaded from a compiled extension (its classes are
    extension types), known without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return False
    return isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)


def _findable(module: str, search_paths: list[str]) -> bool:
    try:
        if importlib.util.find_spec(module) is not None:
            return True
    except (ImportError, ValueError):
        pass
    # The script's folder is not on sys.path yet when a start-up hook runs.
    top = module.split(".")[0]
    return importlib.machinery.PathFinder.find_spec(top, search_paths) is not None
