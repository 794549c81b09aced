"""Trades: which events belong to which round trip, from the first order to the close.

A :class:`TradeTracker` runs on the export worker, over finished records in publish
order, and applies the :class:`~tradetrace.retain.trade_rules.TradeRules`. A trade (a
:class:`~tradetrace.retain.tracked_trade.TrackedTrade`) is one position's life, from
the first order that acts on a flat position to the close: it is keyed by (the event's
container, the position key), by default (container, symbol), because ADMF-PC's and the
demo engine's portfolios hold one position per symbol and have no position id. Whatever
strategy sent an order (ADMF-PC's risk exits come as ``<strategy>_exit``), it joins the
trade of the position it acts on. A FILL joins its order's trade by order id;
POSITION_OPEN makes the trade open and POSITION_CLOSE completes it; a flip (a close and
an open from one fill) completes one trade and starts the next. Any event published while
a trade's event is dispatched (a handler's span, a PORTFOLIO_UPDATE caused by a FILL)
belongs to the same trade.

Anomalies (a close without an open, an open twice, a fill for an unknown order, a
missing key) are counted and logged once per kind; the event is then simply not part
of a trade. Nothing here raises into the caller.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model.record import (
    EVENT,
    F_TIME,
    KIND,
    PARENT,
    ROUTE,
    SNAPSHOT,
    START,
    SUBJECT,
    TRADE,
    Record,
)
from .tracked_trade import CLOSED, FLAT, LOSS, OPENED, PENDING, REJECTED, WIN, TrackedTrade
from .trade_rules import CLOSE, FILL, OPEN, ORDER, TradeRules, getter

logger = logging.getLogger(__name__)

#: Processed records that belong to no trade carry this in their TRADE slot, so a
#: child can tell "parent processed, no trade" from "parent not processed yet" (None).
NO_TRADE: Any = 0

#: Order ids remembered after their trade completed, for fills that arrive late.
ORDER_MEMORY = 2048


@dataclass
class TrackerStats:
    trades_opened: int = 0
    anomalies: Counter[str] = field(default_factory=Counter)
    #: orders no longer remembered (past ORDER_MEMORY): a fill naming one finds no order
    orders_forgotten: int = 0


_FIELDS = ("order_id", "status", "pnl", "price", "entry_price", "exit_price", "quantity",
           "side", "symbol", "strategy")


class TradeTracker:
    """Assigns records to trades (export worker only; not thread-safe by design)."""

    def __init__(
        self,
        rules: TradeRules,
        completed: Callable[[TrackedTrade], None],
        opened: Callable[[TrackedTrade], None] = lambda trade: None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.rules = rules
        self._completed = completed
        self._opened = opened
        self.clock = clock or time.monotonic
        #: by id, least recently active first
        self.open: OrderedDict[str, TrackedTrade] = OrderedDict()
        self._by_key: dict[tuple[Any, ...], TrackedTrade] = {}
        #: order id -> [trade, publish time, price, side, filled yet, strategy]
        self._orders: OrderedDict[Any, list[Any]] = OrderedDict()
        self.stats = TrackerStats()
        self._get = {name: getter(getattr(rules, name)) for name in _FIELDS}
        self._key_getters = tuple(getter(alternatives) for alternatives in rules.position)
        self.fill_latency: Callable[[TrackedTrade, float], None] = lambda trade, ms: None

    def anomaly(self, kind: str, detail: str) -> None:
        self.stats.anomalies[kind] += 1
        if self.stats.anomalies[kind] == 1:
            logger.warning("tradetrace: trade anomaly %s (%s); the event is traced outside any "
                           "trade (logged once, counted from now on)", kind, detail)

    def assign(self, record: Record, role: str | None, policy: Any) -> TrackedTrade | None:
        """The trade ``record`` belongs to (None: none). Called in publish order."""
        parent = record[PARENT]
        inherited = parent[TRADE] if parent is not None and parent[KIND] is EVENT else None
        if inherited is NO_TRADE:
            inherited = None
        if role is None or record[KIND] is not EVENT:
            trade = inherited
        else:
            payload = record[SNAPSHOT]
            if payload.__class__ is not dict and not isinstance(payload, Mapping):
                payload = {}
            try:
                trade = self._by_role(record, role, payload, inherited, policy)
            except Exception as exc:  # a payload of odd types: not part of a trade
                self.anomaly("unreadable_payload", repr(exc))
                trade = inherited
        if trade is not None and trade.decision is None:
            trade.last_seen = self.clock()
            if trade.state is not CLOSED:
                self.open.move_to_end(trade.id)
        return trade

    # roles --------------------------------------------------------------------------
    def _key(self, record: Record, payload: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """(container, *position key): the position ``record`` acts on."""
        parts = [record[ROUTE].container]
        for get in self._key_getters:
            value = get(payload)
            if value is None or value.__class__ not in _KEY_TYPES:
                return None
            parts.append(value)
        return tuple(parts)

    def _by_role(
        self, record: Record, role: str, payload: Mapping[str, Any],
        inherited: TrackedTrade | None, policy: Any,
    ) -> TrackedTrade | None:
        rules = self.rules
        get = self._get
        if role is FILL:
            order_id = get["order_id"](payload)
            entry = self._orders.get(order_id) if _hashable(order_id) else None
            if entry is None:
                if inherited is None:
                    self.anomaly("fill_for_unknown_order", f"order id {order_id!r}")
                return inherited
            trade = entry[0]
            trade.fills += 1
            if not entry[4]:
                entry[4] = True
                trade.outstanding -= 1
                latency_ms = (record[START] - entry[1]) / 1e6
                if trade.max_fill_latency_ms is None or latency_ms > trade.max_fill_latency_ms:
                    trade.max_fill_latency_ms = latency_ms
                self.fill_latency(trade, latency_ms)
            status = get["status"](payload)
            if status in rules.rejected_statuses:
                trade.rejected += 1
                if trade.state is PENDING and trade.outstanding <= 0 and trade.decision is None:
                    self._complete(trade, REJECTED)
                return trade
            price = get["price"](payload)
            slippage = _slippage_bps(entry[2], price, entry[3])
            if slippage is not None and (
                trade.max_slippage_bps is None or slippage > trade.max_slippage_bps
            ):
                trade.max_slippage_bps = slippage
            return trade

        key = self._key(record, payload)
        if key is None:
            if inherited is None:
                self.anomaly("missing_key", f"{record[ROUTE].event_type} without "
                             + " or ".join(".".join(p) for a in rules.position for p in a))
            return inherited
        trade = self._by_key.get(key)
        if role is ORDER:
            strategy = get["strategy"](payload)
            if trade is None:
                trade = self._new(key, record, policy, strategy)
            trade.orders += 1
            trade.outstanding += 1
            order_id = get["order_id"](payload)
            if _hashable(order_id):
                self._orders[order_id] = [trade, record[START], get["price"](payload),
                                          get["side"](payload), False, strategy]
                if len(self._orders) > ORDER_MEMORY:
                    self._orders.popitem(last=False)
                    self.stats.orders_forgotten += 1
            if get["status"](payload) in rules.rejected_statuses:
                trade.rejected += 1
            return trade
        if role is OPEN:
            if trade is None:  # a flip's second half, or a position opened without an order
                trade = self._new(key, record, policy, self._opening_strategy(record, payload))
            elif trade.state is OPENED:
                self.anomaly("open_twice", f"{key} is open already")
                return trade
            trade.state = OPENED
            trade.entry_price = get["entry_price"](payload) or get["price"](payload)
            trade.quantity = get["quantity"](payload)
            side = get["side"](payload)
            trade.side = _position_side(side) if side is not None else trade.side
            trade.entry_time = _sim_time(record, payload)
            return trade
        if role is CLOSE:
            if trade is None or trade.state is PENDING:
                self.anomaly("close_without_open", f"no open trade for {key}")
                if trade is None:
                    return inherited
            trade.exit_price = get["exit_price"](payload) or get["price"](payload)
            if trade.quantity is None:
                trade.quantity = get["quantity"](payload)
            if trade.entry_price is None:
                trade.entry_price = get["entry_price"](payload)
            side = get["side"](payload)
            if side is not None:
                trade.side = _position_side(side)
            trade.pnl = as_number(get["pnl"](payload))
            if trade.pnl is None:
                trade.pnl = _pnl(trade)
            trade.exit_time = _sim_time(record, payload)
            trade.exit_type = payload.get("exit_type")
            self._complete(trade, _outcome(trade.pnl))
            return trade
        # UPDATE
        if trade is None:
            return inherited
        return trade

    def _opening_strategy(self, record: Record, payload: Mapping[str, Any]) -> Any:
        """Who opened a position that no pending order of its own announced: the strategy
        of the order whose fill is being dispatched (a flip), else the open's payload."""
        parent = record[PARENT]
        if parent is not None and parent[KIND] is EVENT and isinstance(parent[SNAPSHOT], Mapping):
            order_id = self._get["order_id"](parent[SNAPSHOT])
            entry = self._orders.get(order_id) if _hashable(order_id) else None
            if entry is not None and entry[5] is not None:
                return entry[5]
        return self._get["strategy"](payload)

    def _new(self, key: tuple[Any, ...], record: Record, policy: Any,
             strategy: Any) -> TrackedTrade:
        trade = TrackedTrade(key, key[0], policy, self.clock())
        trade.strategy = strategy
        trade.start = record[START]
        payload = record[SNAPSHOT] or {}
        trade.symbol = self._get["symbol"](payload)
        side = self._get["side"](payload)
        if side is not None:
            trade.side = _position_side(side)
        self._by_key[key] = trade
        self.open[trade.id] = trade
        self.stats.trades_opened += 1
        self._opened(trade)
        return trade

    def _complete(self, trade: TrackedTrade, outcome: str) -> None:
        trade.state = CLOSED
        trade.outcome = outcome
        self._forget(trade)
        self._completed(trade)

    def _forget(self, trade: TrackedTrade) -> None:
        self.open.pop(trade.id, None)
        if self._by_key.get(trade.key) is trade:
            del self._by_key[trade.key]

    def end(self, trade: TrackedTrade, outcome: str) -> None:
        """End a trade that never closed (shutdown, time-to-live, eviction)."""
        if trade.state is not CLOSED:
            trade.state = CLOSED
            trade.outcome = outcome
            self._forget(trade)

    def expired(self, ttl_seconds: float) -> list[TrackedTrade]:
        """Open trades with no event for ``ttl_seconds``, least recently active first."""
        limit = self.clock() - ttl_seconds
        out = []
        for trade in self.open.values():
            if trade.last_seen > limit:
                break
            out.append(trade)
        return out


_KEY_TYPES = frozenset({str, int, float})


def _hashable(value: Any) -> bool:
    return value is not None and value.__hash__ is not None


def as_number(value: Any) -> float | None:
    """A number (not NaN) from a float, int, Decimal or numeric text; None otherwise."""
    if value.__class__ is float:  # prices and P&L, mostly
        return value if value == value else None
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no P&L


def _pnl(trade: TrackedTrade) -> float | None:
    entry, exit_, quantity = (as_number(trade.entry_price), as_number(trade.exit_price),
                              as_number(trade.quantity))
    if entry is None or exit_ is None or quantity is None:
        return None
    sign = -1.0 if trade.side == "SHORT" else 1.0
    return sign * (exit_ - entry) * abs(quantity)


def _outcome(pnl: float | None) -> str:
    if pnl is None or pnl == 0:
        return FLAT
    return WIN if pnl > 0 else LOSS


_SIDES = {"BUY": "LONG", "LONG": "LONG", "1": "LONG", "+1": "LONG",
          "SELL": "SHORT", "SHORT": "SHORT", "-1": "SHORT"}


def _position_side(side: Any) -> str:
    text = str(side).upper()
    return _SIDES.get(text, text)


def _slippage_bps(expected: Any, actual: Any, side: Any) -> float | None:
    """Adverse slippage of a fill against its order's price, in basis points."""
    expected, actual = as_number(expected), as_number(actual)
    if not expected or actual is None or not actual:
        return None
    sign = -1.0 if _position_side(side) == "SHORT" else 1.0
    return sign * (actual - expected) / expected * 10_000


def _sim_time(record: Record, payload: Mapping[str, Any]) -> Any:
    subject = record[SUBJECT]
    when = subject[F_TIME] if subject.__class__ is tuple else getattr(subject, "timestamp", None)
    return when if when is not None else payload.get("timestamp")
