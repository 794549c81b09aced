"""Classes tracing cannot patch, for tests/capture/test_unpatchable.py: one whose metaclass
refuses attribute assignment, and an extension type under a Python module's name (as a
framework with a compiled core re-exports its bus)."""

from __future__ import annotations

from datetime import datetime as CompiledBus  # an immutable extension type  # noqa: F401


class Sealed(type):
    def __setattr__(cls, name: str, value: object) -> None:
        raise TypeError(f"{cls.__name__} is sealed")


class SealedBus(metaclass=Sealed):
    def publish(self, event: object) -> str:
        return f"published {event}"
