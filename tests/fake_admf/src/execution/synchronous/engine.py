"""Fills every market ORDER at once, inside the ORDER's dispatch.

As in ADMF-PC: a risk exit (stop-loss, take-profit) fills at the exact price its order
names, any other order at its price plus slippage (none here); the fill's ``executed_at``
is the bar time the portfolio put in the order's metadata, but the FILL *event* is stamped
with the wall clock (``datetime.now()``). The fill's metadata is the order's metadata dict
itself, so ``strategy_id``, ``entry_signal`` and ``exit_type`` travel with it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ...core.events.types import Event, EventType
from ..types import Fill, Order, OrderSide, OrderType


class SyncExecutionEngine:
    def __init__(self, component_id: str = "execution_engine",
                 commission_per_share: Decimal = Decimal("0")) -> None:
        self.component_id = component_id
        self.commission_per_share = commission_per_share
        self.fills: list[Fill] = []
        self._container: Any = None

    def set_container(self, container: Any) -> None:
        self._container = container

    def on_order(self, event: Event) -> None:
        payload = event.payload
        order = Order(
            order_id=payload["order_id"],
            symbol=payload["symbol"],
            side=OrderSide(payload["side"]),
            order_type=OrderType(payload["order_type"]),
            quantity=Decimal(str(payload["quantity"])),
            price=Decimal(str(payload["price"])) if payload.get("price") else None,
            created_at=datetime.fromisoformat(payload["created_at"]),
            metadata=payload.get("metadata", {}),
        )
        fill = self.execute_order(order)
        if fill is not None:
            self._container.publish_event(Event(
                event_type=EventType.FILL.value,
                timestamp=datetime.now(),  # the wall clock, unlike every other event
                payload=fill.to_dict(),
                source_id="execution",
                container_id=self._container.container_id,
            ), target_scope="parent")

    def execute_order(self, order: Order) -> Fill | None:
        if order.order_type is not OrderType.MARKET or not order.price:
            return None  # only market orders with a price are simulated here
        price = order.price  # exact for risk exits; no slippage model for the others
        executed_at = order.created_at or datetime.now()
        if "bar_timestamp" in order.metadata:
            executed_at = datetime.fromisoformat(order.metadata["bar_timestamp"])
        fill = Fill(
            fill_id=f"FILL_{order.order_id}_{executed_at.strftime('%H%M%S')}",
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            price=price,
            # the text of a float, as ADMF-PC makes it: "0.0"
            commission=Decimal(str(float(self.commission_per_share * order.quantity))),
            executed_at=executed_at,
            metadata=order.metadata,
        )
        self.fills.append(fill)
        return fill
