"""The kernel: pure Python in NautilusTrader, the one place that sees the bus being made."""

from __future__ import annotations

from ..core import MessageBus


class NautilusKernel:
    def __init__(self, name: str = "BACKTESTER-001") -> None:
        self.name = name
        self._msgbus = MessageBus()

    @property
    def msgbus(self) -> MessageBus:
        return self._msgbus
