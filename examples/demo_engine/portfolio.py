"""Portfolios: one per strategy, turning its SIGNALs into ORDERs and FILLs into positions.

Each portfolio holds at most one position per symbol, in the signal's direction. It
closes the position when the direction changes or the stop-loss is hit, and opens one
whenever it is flat and the signal has a direction (after a stop-out, only once the
direction has changed). ORDER/FILL handling is synchronous: the FILL for an ORDER
arrives inside the ORDER's publish call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from os import urandom
from typing import Any

from .containers import Component, Container
from .events import Event, EventType
from .risk import RiskLimits

__all__ = ["Portfolio", "PortfolioSettings", "Position"]

logger = logging.getLogger(__name__)

BUY, SELL = "BUY", "SELL"


@dataclass(frozen=True)
class PortfolioSettings:
    """Sizing and exit rules shared by every portfolio of a run."""

    position_notional: float = 10_000.0
    stop_loss_pct: float = 0.01

    def __post_init__(self) -> None:
        if self.position_notional <= 0 or not 0 < self.stop_loss_pct < 1:
            raise ValueError(f"portfolio settings out of range: {self}")


@dataclass(slots=True)
class Position:
    symbol: str
    direction: int  # +1 long, -1 short
    quantity: float
    entry_price: float
    entry_commission: float

    @property
    def side(self) -> str:
        return "LONG" if self.direction > 0 else "SHORT"


@dataclass(frozen=True, slots=True)
class _PendingOrder:
    """What an order in flight is for; ``exit_type`` is None for an opening order."""

    symbol: str
    direction: int
    bar_time: datetime | None
    exit_type: str | None = None
    exit_reason: str | None = None


class Portfolio(Component):
    """Portfolio component for one strategy: SIGNAL and FILL in, ORDER and POSITION_* out."""

    def __init__(
        self,
        strategy_id: str,
        settings: PortfolioSettings | None = None,
        risk: RiskLimits | None = None,
    ) -> None:
        self.strategy_id = strategy_id
        self.settings = settings or PortfolioSettings()
        self.risk = risk or RiskLimits()
        self.positions: dict[str, Position] = {}
        self.trades = 0
        self.winning_trades = 0
        self.realized_pnl = 0.0
        self.rejected_orders = 0
        self.vetoed_orders = 0
        self._pending: dict[str, _PendingOrder] = {}
        self._stopped_out: dict[str, int] = {}  # symbol -> direction it was stopped out of

    def initialize(self, container: Container) -> None:
        super().initialize(container)
        self.subscribe_to_signals(self._on_signal, [self.strategy_id])
        self.subscribe(EventType.FILL.value, self._on_fill, self._is_own_fill)

    # -- signals -> orders --------------------------------------------------------------

    def _on_signal(self, event: Event) -> None:
        signal = event.payload
        symbol = signal["symbol"]
        direction = signal["direction"]
        price = signal["price"]
        bar_time = event.timestamp
        position = self.positions.get(symbol)
        if position is not None:
            if position.direction != direction:
                reason = f"direction {position.direction:+d} -> {direction:+d}"
                self._close(position, price, bar_time, "signal", reason)
            else:
                stop = position.entry_price * (1 - position.direction * self.settings.stop_loss_pct)
                if position.direction * (price - stop) <= 0:
                    reason = f"price {price:.2f} reached stop {stop:.2f}"
                    self._close(position, price, bar_time, "stop_loss", reason)
            if symbol in self.positions:  # still open: held, or its closing order rejected
                return
        if direction == 0:
            return
        stopped_direction = self._stopped_out.get(symbol)
        if stopped_direction is not None:
            if stopped_direction == direction:
                return
            del self._stopped_out[symbol]
        self._open(symbol, direction, price, bar_time)

    def _open(self, symbol: str, direction: int, price: float, bar_time: datetime | None) -> None:
        quantity = max(1, int(self.settings.position_notional / price))
        veto = self.risk.veto_reason(quantity, price, len(self.positions))
        if veto is not None:
            self.vetoed_orders += 1
            logger.debug("%s: order for %s %s vetoed: %s", self.strategy_id, quantity, symbol, veto)
            return
        side = BUY if direction > 0 else SELL
        self._send_order(_PendingOrder(symbol, direction, bar_time), side, quantity, price)

    def _close(
        self,
        position: Position,
        price: float,
        bar_time: datetime | None,
        exit_type: str,
        exit_reason: str,
    ) -> None:
        side = SELL if position.direction > 0 else BUY
        pending = _PendingOrder(
            position.symbol, position.direction, bar_time, exit_type, exit_reason
        )
        self._send_order(pending, side, position.quantity, price)

    def _send_order(self, pending: _PendingOrder, side: str, quantity: float, price: float) -> None:
        order_id = f"ord_{urandom(6).hex()}"
        self._pending[order_id] = pending
        self.container.publish_event(
            Event(
                event_type=EventType.ORDER.value,
                payload={
                    "order_id": order_id,
                    "symbol": pending.symbol,
                    "side": side,
                    "quantity": quantity,
                    "price": price,
                    "order_type": "MARKET",
                    "metadata": {"strategy_id": self.strategy_id},
                },
                timestamp=pending.bar_time,
            )
        )

    # -- fills -> positions -------------------------------------------------------------

    def _is_own_fill(self, event: Event) -> bool:
        return event.payload.get("order_id") in self._pending

    def _on_fill(self, event: Event) -> None:
        fill = event.payload
        pending = self._pending.pop(fill["order_id"])
        if fill["status"] == "REJECTED":
            self.rejected_orders += 1
            return
        if pending.exit_type is None:
            self._record_open(pending, fill)
        else:
            self._record_close(pending, fill)

    def _record_open(self, pending: _PendingOrder, fill: dict[str, Any]) -> None:
        position = Position(
            pending.symbol, pending.direction, fill["quantity"], fill["price"], fill["commission"]
        )
        self.positions[position.symbol] = position
        self._publish_position(
            EventType.POSITION_OPEN,
            pending,
            {
                "symbol": position.symbol,
                "quantity": position.quantity,
                "entry_price": position.entry_price,
                "strategy_id": self.strategy_id,
                "side": position.side,
            },
        )

    def _record_close(self, pending: _PendingOrder, fill: dict[str, Any]) -> None:
        position = self.positions.pop(pending.symbol)
        exit_price = fill["price"]
        gross = position.direction * (exit_price - position.entry_price) * position.quantity
        realized_pnl = gross - position.entry_commission - fill["commission"]
        if pending.exit_type == "stop_loss":
            self._stopped_out[position.symbol] = position.direction
        self.trades += 1
        if realized_pnl > 0:
            self.winning_trades += 1
        self.realized_pnl += realized_pnl
        self._publish_position(
            EventType.POSITION_CLOSE,
            pending,
            {
                "symbol": position.symbol,
                "quantity": position.quantity,
                "entry_price": position.entry_price,
                "strategy_id": self.strategy_id,
                "side": position.side,
                "exit_price": exit_price,
                "realized_pnl": realized_pnl,
                "exit_type": pending.exit_type,
                "exit_reason": pending.exit_reason,
            },
        )

    def _publish_position(
        self, event_type: EventType, pending: _PendingOrder, payload: dict[str, Any]
    ) -> None:
        self.container.publish_event(
            Event(event_type=event_type.value, payload=payload, timestamp=pending.bar_time)
        )
