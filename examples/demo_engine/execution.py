"""Simulated execution: fills each ORDER at once, with slippage, commission and a
liquidity limit.

An order larger than ``max_volume_fraction`` of the last bar's volume is rejected
(a FILL with ``status: 'REJECTED'`` and ``quantity: 0``). "Last bar" is the last BAR
this component has seen: orders are raised while a BAR is dispatched to the strategies,
which subscribed before execution did, so it is the bar before the signal's bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from os import urandom

from .containers import Component, Container
from .events import Event, EventType

__all__ = ["ExecutionSettings", "SimulatedExecution"]


@dataclass(frozen=True)
class ExecutionSettings:
    """Cost and liquidity model of the simulated market."""

    slippage_bps: float = 1.0
    commission_per_share: float = 0.005
    max_volume_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.slippage_bps < 0 or self.commission_per_share < 0:
            raise ValueError(f"execution costs must be non-negative: {self}")
        if not 0 < self.max_volume_fraction <= 1:
            raise ValueError(f"max_volume_fraction must be in (0, 1]: {self}")


class SimulatedExecution(Component):
    """Execution component: subscribes to BAR (for volume) and ORDER, publishes FILL."""

    def __init__(self, settings: ExecutionSettings | None = None) -> None:
        self.settings = settings or ExecutionSettings()
        self.filled = 0
        self.rejected = 0
        self._last_volume: dict[str, float] = {}

    def initialize(self, container: Container) -> None:
        super().initialize(container)
        self._last_volume.clear()
        self.subscribe(EventType.BAR.value, self._on_bar)
        self.subscribe(EventType.ORDER.value, self._on_order)

    def _on_bar(self, event: Event) -> None:
        bar = event.payload
        self._last_volume[bar["symbol"]] = bar["volume"]

    def _on_order(self, event: Event) -> None:
        order = event.payload
        symbol = order["symbol"]
        quantity = order["quantity"]
        settings = self.settings
        capacity = self._last_volume.get(symbol, 0) * settings.max_volume_fraction
        rejected = quantity > capacity
        if rejected:
            self.rejected += 1
            price = commission = slippage_bps = 0.0
            quantity = 0
        else:
            self.filled += 1
            slippage_bps = settings.slippage_bps
            sign = 1 if order["side"] == "BUY" else -1
            price = order["price"] * (1 + sign * slippage_bps / 10_000)
            commission = quantity * settings.commission_per_share
        payload = {
            "fill_id": f"fill_{urandom(6).hex()}",
            "order_id": order["order_id"],
            "symbol": symbol,
            "side": order["side"],
            "quantity": quantity,
            "price": price,
            "commission": commission,
            "slippage_bps": slippage_bps,
            "status": "REJECTED" if rejected else "FILLED",
            "strategy_id": order["metadata"]["strategy_id"],
        }
        if rejected:
            payload["reason"] = (
                f"quantity {order['quantity']} exceeds the liquidity limit of {capacity:.0f} "
                f"({settings.max_volume_fraction:.1%} of the last bar's volume)"
            )
        # Wall-clock time, as ADMF-PC's execution engine stamps its fills.
        self.container.publish_event(
            Event(event_type=EventType.FILL.value, payload=payload, timestamp=datetime.now())
        )
