"""Runs every configured strategy on each BAR and publishes one SIGNAL per strategy.

ADMF-PC's SIGNAL: ``timestamp`` is the bar time (a pandas Timestamp); the payload has
``direction`` (``long``/``short``/``flat``), ``strength`` (0 or 1), ``strategy_id``
(``<symbol>_strategy_<n>``) and nested ``metadata`` (price, OHLC, bands, ``parameters``
with ``_risk``, ``risk``); ``parameters`` and ``risk`` are repeated at the top level,
where the portfolio reads its risk rules.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..core.events.types import Event, EventType
from .bollinger import bollinger_bands
from .types import Signal, SignalDirection

DIRECTIONS = {1: SignalDirection.LONG, -1: SignalDirection.SHORT, 0: SignalDirection.FLAT}


class ComponentState:
    def __init__(self, symbol: str, strategies: list[dict[str, Any]]) -> None:
        """``strategies``: ``{"strategy_id", "period", "std_dev", "risk"}`` each."""
        self.symbol = symbol
        self.strategies = strategies
        self.closes: deque[float] = deque(maxlen=max(s["period"] for s in strategies))
        self.published: list[tuple[str, str, str]] = []  # (event id, strategy, direction)
        self._container: Any = None

    def set_container(self, container: Any) -> None:
        self._container = container

    def on_bar(self, event: Event) -> None:
        bar = event.payload["bar"]
        self.closes.append(bar.close)
        for strategy in self.strategies:
            if len(self.closes) >= strategy["period"]:
                self._publish(strategy, bar, list(self.closes)[-strategy["period"]:])

    def _publish(self, strategy: dict[str, Any], bar: Any, closes: list[float]) -> None:
        result = bollinger_bands(closes, bar, strategy["std_dev"])
        value = result["signal_value"]
        parameters: dict[str, Any] = {
            "period": strategy["period"], "std_dev": strategy["std_dev"],
            "_strategy_type": "bollinger_bands",
        }
        if strategy.get("risk"):
            parameters["_risk"] = strategy["risk"]
        metadata = {
            **result["metadata"],
            "component_type": "strategy",
            "signal_value": value,
            "base_strategy_id": "bollinger_bands",
            "parameters": parameters,
            "timeframe": "5m",
        }
        if strategy.get("risk"):
            metadata["risk"] = strategy["risk"]
        signal = Signal(self.symbol, DIRECTIONS[value], abs(value), bar.timestamp,
                        strategy["strategy_id"], metadata=metadata)
        payload = {**signal.to_dict(), "strategy_type": "bollinger_bands",
                   "parameters": parameters}
        if "_risk" in parameters:
            payload["risk"] = parameters["_risk"]
        event = Event(
            event_type=EventType.SIGNAL.value,
            timestamp=bar.timestamp,
            payload=payload,
            source_id="component_state",
            container_id=self._container.container_id,
        )
        self.published.append((event.event_id, signal.strategy_id, signal.direction.value))
        self._container.publish_event(event, target_scope="parent")
