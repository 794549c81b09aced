"""Containers: the named, lifecycle-managed units a topology is built from.

A root container (built without a parent bus) creates the topology's one ``EventBus``;
its children share it. A container does no trading itself: the components attached to
it do, through optional hooks the container calls in attachment order:
``initialize(container)``, ``start()``, ``execute()``, ``stop()``, ``cleanup()``.

>>> root = Container({"name": "root", "type": "root"})
>>> data = root.add_child(Container({"name": "data", "type": "data"}, root.event_bus))
>>> data.container_id.startswith("data_"), data.event_bus is root.event_bus
(True, True)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import Enum
from os import urandom
from typing import Any

from .bus import EventBus, EventFilter, Handler, event_type_key
from .events import Event, EventType

__all__ = ["Component", "Container", "ContainerState"]

logger = logging.getLogger(__name__)


class ContainerState(Enum):
    UNINITIALIZED = "uninitialized"
    INITIALIZING = "initializing"
    INITIALIZED = "initialized"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ERROR = "error"
    DISPOSED = "disposed"


_NOT_STOPPABLE = frozenset(
    {ContainerState.UNINITIALIZED, ContainerState.STOPPED, ContainerState.DISPOSED}
)


class Container:
    """A node of the topology: owns components and children, shares the root's bus."""

    def __init__(self, config: Mapping[str, Any], parent_event_bus: EventBus | None = None):
        if "name" not in config or "type" not in config:
            raise ValueError(f"container config needs 'name' and 'type', got {dict(config)!r}")
        self.config = dict(config)
        self.name: str = config["name"]
        self.container_type: str = config["type"]
        self.container_id = f"{self.container_type}_{urandom(4).hex()}"
        self._owns_bus = parent_event_bus is None
        self.event_bus = (
            EventBus(bus_id=f"{self.container_id}_bus")
            if parent_event_bus is None
            else parent_event_bus
        )
        self.parent: Container | None = None
        self.children: list[Container] = []
        self.components: dict[str, Any] = {}
        self.state = ContainerState.UNINITIALIZED

    def __repr__(self) -> str:
        return f"<Container {self.name} {self.container_id} {self.state.name}>"

    # -- structure ----------------------------------------------------------------------

    def add_child(self, child: Container) -> Container:
        if child.event_bus is not self.event_bus:
            raise ValueError(f"child {child.name!r} must share the bus of {self.name!r}")
        child.parent = self
        self.children.append(child)
        return child

    def add_component(self, name: str, component: Any) -> Any:
        self.components[name] = component
        return component

    # -- lifecycle ----------------------------------------------------------------------

    def initialize(self) -> None:
        self._require("initialize", ContainerState.UNINITIALIZED)
        self._run_phase(ContainerState.INITIALIZING, ContainerState.INITIALIZED, "initialize", self)

    def start(self) -> None:
        self._require("start", ContainerState.INITIALIZED)
        self._run_phase(ContainerState.STARTING, ContainerState.RUNNING, "start")

    def execute(self) -> None:
        """Run the components' ``execute`` hooks; the state stays RUNNING."""
        self._require("execute", ContainerState.RUNNING)
        self._run_phase(ContainerState.RUNNING, ContainerState.RUNNING, "execute")

    def stop(self) -> None:
        """Stop the components; a no-op when there is nothing to stop."""
        if self.state not in _NOT_STOPPABLE:
            self._run_phase(ContainerState.STOPPING, ContainerState.STOPPED, "stop")

    def cleanup(self) -> None:
        self._call_components("cleanup")

    def dispose(self) -> None:
        """Forget components and children; the root also drops every bus subscription."""
        self.components.clear()
        self.children.clear()
        if self._owns_bus:
            self.event_bus.clear()
        self._set_state(ContainerState.DISPOSED)

    def _set_state(self, state: ContainerState) -> None:
        if state is not self.state:
            logger.debug("%s: %s -> %s", self.container_id, self.state.name, state.name)
            self.state = state

    def _require(self, action: str, *allowed: ContainerState) -> None:
        if self.state not in allowed:
            raise RuntimeError(f"{self.name}: cannot {action} while {self.state.name}")

    def _run_phase(
        self, during: ContainerState, after: ContainerState, hook: str, *args: Any
    ) -> None:
        self._set_state(during)
        try:
            self._call_components(hook, *args)
        except Exception:
            self._set_state(ContainerState.ERROR)
            raise
        self._set_state(after)

    def _call_components(self, hook: str, *args: Any) -> None:
        for component in self.components.values():
            method = getattr(component, hook, None)
            if method is not None:
                method(*args)

    # -- events -------------------------------------------------------------------------

    def publish_event(self, event: Event, target_scope: str | None = None) -> None:
        """Publish on the shared bus, stamping this container as the source when unset.

        ``target_scope`` is accepted for ADMF-PC compatibility; with one bus per
        topology every subscriber sees every event, so it does not change delivery.
        """
        if event.container_id is None:
            event.container_id = self.container_id
        if event.source_id is None:
            event.source_id = self.name
        self.event_bus.publish(event)


class Component:
    """Optional base for components: remembers subscriptions so ``stop`` can undo them."""

    container: Container

    def initialize(self, container: Container) -> None:
        self.container = container
        self._subscriptions: list[tuple[str, Handler]] = []

    def stop(self) -> None:
        bus = self.container.event_bus
        for event_type, handler in self._subscriptions:
            bus.unsubscribe(event_type, handler)
        self._subscriptions.clear()

    def subscribe(
        self,
        event_type: EventType | str,
        handler: Handler,
        filter_func: EventFilter | None = None,
    ) -> None:
        self.container.event_bus.subscribe(event_type, handler, filter_func)
        self._subscriptions.append((event_type_key(event_type), handler))

    def subscribe_to_signals(self, handler: Handler, strategy_ids: list[str]) -> None:
        self.container.event_bus.subscribe_to_signals(handler, strategy_ids)
        self._subscriptions.append((EventType.SIGNAL.value, handler))
