"""One portfolio's positions, as ADMF-PC's PortfolioState keeps and publishes them.

- Positions are keyed by symbol alone: any strategy's fill acts on the symbol's position,
  whoever opened it.
- SIGNAL (``process_event``): the risk manager's decisions become ORDERs, published with
  the signal's bar time; the ORDER payload is ``Order.to_dict()`` (Decimals as strings)
  with ``metadata.strategy_id`` (``<id>_exit`` for a risk exit), ``entry_signal`` (+1/-1)
  on entries, ``exit_type``/``exit_reason`` on exits and ``bar_timestamp``. Order ids are
  ``ORD_<symbol>_<bar time>_<n>`` with ``n`` counted per portfolio, so two portfolios
  ordering on the same bar can publish the same order id.
- FILL (``on_fill``): the fill's metadata says the strategy, entry signal and exit type;
  the position changes at the fill's ``executed_at`` (bar time): POSITION_OPEN when one
  opens, POSITION_CLOSE when it goes flat, CLOSE then OPEN when a fill flips it (the new
  position's metadata is reset, so its ``strategy_id`` is ``unknown``). Both payloads
  nest the position's ``metadata`` dict itself, which later changes (``highest_price``,
  ``exit_type``) after the event was published.
- P&L: ``entry_signal * (exit - entry) * |quantity|``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..core.events.types import Event, EventType
from ..execution.types import Order, OrderSide, OrderType


@dataclass
class Position:
    symbol: str
    quantity: Decimal
    average_price: Decimal
    opened_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


class PortfolioState:
    def __init__(self, initial_capital: Decimal = Decimal("100000")) -> None:
        self._cash_balance = initial_capital
        self._positions: dict[str, Position] = {}
        self._realized_pnl = Decimal(0)
        self._order_counter = 0
        self._strategy_risk_rules: dict[str, dict[str, Any]] = {}
        self._exit_memory: dict[tuple[str, str], float] = {}
        self._exit_memory_enabled = True
        self._last_prices: dict[str, Decimal] = {}
        self._risk_manager: Any = None
        self._container: Any = None
        # The fake's own record, for tests: what ADMF-PC's results report
        self.closed_positions: list[dict[str, Any]] = []
        self.signals_with_orders: set[str] = set()
        self.pending_order_ids: set[str] = set()

    def set_container(self, container: Any) -> None:
        self._container = container

    def set_risk_manager(self, risk_manager: Any) -> None:
        self._risk_manager = risk_manager

    def get_position(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    def get_all_positions(self) -> dict[str, Position]:
        return dict(self._positions)

    @property
    def realized_pnl(self) -> Decimal:
        return self._realized_pnl

    # -- signals -> orders -------------------------------------------------------------

    def process_event(self, event: Event) -> None:
        if event.event_type != EventType.SIGNAL.value:
            return
        payload = event.payload
        symbol, strategy_id = payload["symbol"], payload["strategy_id"]
        price = payload.get("price", payload.get("metadata", {}).get("price"))
        if price is None or self._risk_manager is None:
            return
        self._last_prices[symbol] = Decimal(str(price))
        if payload.get("risk"):
            self._strategy_risk_rules[strategy_id] = payload["risk"]
        state = {
            "positions": self._positions,
            "last_prices": self._last_prices,
            "strategy_risk_rules": self._strategy_risk_rules,
            "exit_memory": self._exit_memory,
            "exit_memory_enabled": self._exit_memory_enabled,
        }
        orders_before = self._order_counter
        for decision in self._risk_manager.evaluate_signal(payload, state, event.timestamp):
            action = decision["action"]
            if action == "create_order":
                self._create_order_from_decision(decision, event.timestamp)
            elif action == "update_metadata" and decision["symbol"] in self._positions:
                self._positions[decision["symbol"]].metadata.update(decision["updates"])
            elif action == "update_exit_memory":
                key = (decision["symbol"], decision["strategy_id"])
                self._exit_memory[key] = decision["signal_value"]
            elif action == "clear_exit_memory":
                self._exit_memory.pop((decision["symbol"], decision["strategy_id"]), None)
        if self._order_counter != orders_before:
            self.signals_with_orders.add(event.event_id)

    def _create_order_from_decision(self, decision: dict[str, Any], timestamp: Any) -> None:
        symbol = decision["symbol"]
        self._order_counter += 1
        order_id = f"ORD_{symbol}_{timestamp.strftime('%Y%m%d_%H%M%S')}_{self._order_counter:06d}"
        metadata: dict[str, Any] = {"strategy_id": decision["strategy_id"]}
        for key in ("exit_type", "exit_reason"):
            if key in decision:
                metadata[key] = decision[key]
        metadata["bar_timestamp"] = timestamp.isoformat()
        if decision.get("type") == "entry":
            metadata["entry_signal"] = 1.0 if decision["side"] == "BUY" else -1.0
        order = Order(
            order_id=order_id,
            symbol=symbol,
            side=OrderSide[decision["side"]],
            order_type=OrderType[decision.get("order_type", "MARKET")],
            quantity=Decimal(str(decision["quantity"])),
            price=Decimal(str(decision.get("price", 0))),
            created_at=timestamp,
            metadata=metadata,
        )
        self.pending_order_ids.add(order_id)
        self._publish(EventType.ORDER, order.to_dict(), timestamp)

    # -- fills -> positions ------------------------------------------------------------

    def on_fill(self, event: Event) -> None:
        payload = event.payload
        self.pending_order_ids.discard(payload["order_id"])
        quantity = Decimal(str(payload["quantity"]))
        delta = quantity if payload["side"].upper() == "BUY" else -quantity
        executed_at = datetime.fromisoformat(payload.get("filled_at", payload["executed_at"]))
        metadata = payload.get("metadata", {})
        symbol = payload["symbol"]
        position = self._positions.get(symbol)
        if position is not None and (metadata.get("exit_type") or metadata.get("exit_reason")):
            position.metadata["exit_type"] = metadata.get("exit_type")
            position.metadata["exit_reason"] = metadata.get("exit_reason")
        carried = {k: metadata[k] for k in ("strategy_id", "entry_signal") if k in metadata}
        self.update_position(symbol, delta, Decimal(str(payload["price"])), executed_at, carried)

    def update_position(self, symbol: str, delta: Decimal, price: Decimal,
                        timestamp: datetime, metadata: dict[str, Any]) -> None:
        position = self._positions.get(symbol)
        if position is None:
            position = Position(symbol, delta, price, timestamp,
                                {"bars_held": 0, "highest_price": str(price), **metadata})
            self._positions[symbol] = position
            self._publish_open(position, timestamp)
            return
        old = position.quantity
        new = old + delta
        closed_by = metadata.get("strategy_id")
        if new == 0:
            self._close(position, old, price, timestamp, closed_by)
            del self._positions[symbol]
        elif (old > 0) == (delta > 0):
            position.average_price = (position.average_price * old + price * delta) / new
            position.quantity = new
        elif abs(delta) > abs(old):  # a flip: close the old position, open the other way
            self._close(position, old, price, timestamp, closed_by)
            position.quantity, position.average_price, position.opened_at = new, price, timestamp
            position.metadata = {"bars_held": 0, "highest_price": str(price)}
            self._publish_open(position, timestamp)
        else:
            self._realized_pnl += self._pnl(position, old, price, abs(delta))
            position.quantity = new

    @staticmethod
    def _pnl(position: Position, old: Decimal, price: Decimal, size: Decimal) -> Decimal:
        entry_signal = position.metadata.get("entry_signal", 1 if old > 0 else -1)
        return Decimal(str(entry_signal)) * (price - position.average_price) * size

    def _close(self, position: Position, old: Decimal, price: Decimal, when: datetime,
               closed_by: str | None) -> None:
        realized = self._pnl(position, old, price, abs(old))
        self._realized_pnl += realized
        payload = {
            "symbol": position.symbol,
            "quantity": float(old),
            "entry_price": float(position.average_price),
            "exit_price": float(price),
            "realized_pnl": float(realized),
            "strategy_id": position.metadata.get("strategy_id", "unknown"),
            "exit_type": position.metadata.get("exit_type"),
            "exit_reason": position.metadata.get("exit_reason"),
            "metadata": position.metadata,
        }
        self.closed_positions.append({
            **{k: v for k, v in payload.items() if k != "metadata"},
            "portfolio": self._container.container_id,
            "closed_by": closed_by,  # the strategy id on the closing fill
            "opened_at": position.opened_at,
            "closed_at": when,
        })
        self._publish(EventType.POSITION_CLOSE, payload, when)

    def _publish_open(self, position: Position, when: datetime) -> None:
        self._publish(EventType.POSITION_OPEN, {
            "symbol": position.symbol,
            "quantity": float(position.quantity),
            "entry_price": float(position.average_price),
            "strategy_id": position.metadata.get("strategy_id", "unknown"),
            "metadata": position.metadata,
        }, when)

    def _publish(self, event_type: EventType, payload: dict[str, Any], when: Any) -> None:
        self._container.publish_event(Event(
            event_type=event_type.value,
            timestamp=when,
            payload=payload,
            source_id="portfolio",
            container_id=self._container.container_id,
        ), target_scope="parent")
