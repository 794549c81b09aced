"""Events as immutable objects: the type is the class, ids are id objects, times are
integer nanoseconds since the epoch (``ts_event``), every event has a UUID4 ``id``."""

from __future__ import annotations

from dataclasses import dataclass

from ..core import (
    UUID4,
    ClientOrderId,
    InstrumentId,
    Money,
    OrderSide,
    PositionId,
    PositionSide,
    Price,
    Quantity,
    StrategyId,
    TradeId,
)


@dataclass(frozen=True, slots=True)
class Bar:
    instrument_id: InstrumentId
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Quantity
    ts_event: int
    ts_init: int


@dataclass(frozen=True, slots=True)
class OrderInitialized:
    id: UUID4
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    side: OrderSide
    quantity: Quantity
    ts_event: int


@dataclass(frozen=True, slots=True)
class OrderSubmitted:
    id: UUID4
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    ts_event: int


@dataclass(frozen=True, slots=True)
class OrderFilled:
    id: UUID4
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    position_id: PositionId
    trade_id: TradeId
    order_side: OrderSide
    last_qty: Quantity
    last_px: Price
    ts_event: int


@dataclass(frozen=True, slots=True)
class AccountState:
    id: UUID4
    balance: Money
    ts_event: int


@dataclass(frozen=True, slots=True)
class PositionOpened:
    id: UUID4
    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    opening_order_id: ClientOrderId
    entry: OrderSide
    side: PositionSide
    quantity: Quantity
    last_px: Price
    avg_px_open: float
    realized_pnl: Money
    ts_event: int


@dataclass(frozen=True, slots=True)
class PositionClosed:
    id: UUID4
    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    opening_order_id: ClientOrderId
    closing_order_id: ClientOrderId
    entry: OrderSide
    side: PositionSide
    quantity: Quantity
    last_px: Price
    avg_px_open: float
    avg_px_close: float
    realized_pnl: Money
    ts_event: int
