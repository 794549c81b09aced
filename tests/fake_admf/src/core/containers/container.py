"""Containers: a named lifecycle around components, sharing one bus per topology."""

from __future__ import annotations

import logging
import uuid
from enum import Enum
from typing import Any

from ..events.bus import EventBus
from ..events.types import Event

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


class Container:
    """``config`` has ``type`` and ``name``. A root container (no parent bus) creates the bus.

    Components are plain objects, named, with any of ``set_container(container)`` (called
    by ``add_component``), ``execute()`` and ``cleanup()``. They do not subscribe
    themselves: the topology builder subscribes their handlers on the shared bus.
    """

    def __init__(self, config: dict[str, Any], parent_event_bus: EventBus | None = None) -> None:
        self.config = config
        self.container_type: str = config.get("type", "container")
        self.name: str = config.get("name", self.container_type)
        self.container_id = f"{self.container_type}_{uuid.uuid4().hex[:8]}"
        self.event_bus = parent_event_bus or EventBus(bus_id=f"{self.container_id}_bus")
        self.components: dict[str, Any] = {}
        self.state = ContainerState.UNINITIALIZED

    def _set_state(self, state: ContainerState) -> None:
        logger.debug("%s: %s -> %s", self.container_id, self.state.name, state.name)
        self.state = state

    def add_component(self, name: str, component: Any) -> None:
        self.components[name] = component
        if hasattr(component, "set_container"):
            component.set_container(self)

    def get_component(self, name: str) -> Any:
        return self.components.get(name)

    def _call_components(self, step: str) -> None:
        try:
            for component in self.components.values():
                if hasattr(component, step):
                    getattr(component, step)()
        except Exception:
            self._set_state(ContainerState.ERROR)
            raise

    def initialize(self) -> None:
        self._set_state(ContainerState.INITIALIZING)
        self._call_components("initialize")
        self._set_state(ContainerState.INITIALIZED)

    def start(self) -> None:
        self._set_state(ContainerState.STARTING)
        self._call_components("start")
        self._set_state(ContainerState.RUNNING)

    def execute(self) -> None:
        if self.state is not ContainerState.RUNNING:
            raise RuntimeError(f"{self.container_id} is {self.state.name}, not RUNNING")
        self._call_components("execute")

    def stop(self) -> None:
        self._set_state(ContainerState.STOPPING)
        self._call_components("stop")
        self._set_state(ContainerState.STOPPED)

    def cleanup(self) -> None:
        self._call_components("cleanup")

    def dispose(self) -> None:
        if self.state is not ContainerState.DISPOSED:
            self.components.clear()
            self._set_state(ContainerState.DISPOSED)

    def publish_event(self, event: Event, target_scope: str | None = None) -> None:
        self.event_bus.publish(event)

    def __repr__(self) -> str:
        return f"Container({self.name!r}, {self.container_id}, {self.state.name})"
