"""Orders and fills as ADMF-PC publishes them: ``to_dict`` turns Decimals into strings and
enums into their lower-case values, so ORDER and FILL payloads carry ``"1"`` and
``"521.11"``, not numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any


class OrderSide(str, Enum):
    BUY = "buy"
    SELL = "sell"


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"


class OrderStatus(str, Enum):
    PENDING = "pending"
    FILLED = "filled"
    REJECTED = "rejected"


class FillStatus(str, Enum):
    FILLED = "filled"
    PARTIAL = "partial"


@dataclass
class Order:
    order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    created_at: datetime | None = None
    status: OrderStatus = OrderStatus.PENDING
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "quantity": str(self.quantity),
            "price": str(self.price) if self.price else None,
            "stop_price": None,
            "time_in_force": "DAY",
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "status": self.status.value,
            "metadata": self.metadata,  # the same dict, not a copy
        }


@dataclass
class Fill:
    fill_id: str
    order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal
    executed_at: datetime
    status: FillStatus = FillStatus.FILLED
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fill_id": self.fill_id,
            "order_id": self.order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "commission": str(self.commission),
            "executed_at": self.executed_at.isoformat(),
            "status": self.status.value,
            "metadata": self.metadata,
        }
