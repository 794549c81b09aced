"""Trades: which events belong to which round trip, from the first order to the close.

A :class:`TradeTracker` runs on the export worker, over finished records in publish
order. :class:`TradeRules` say which event types open, extend and close a trade and which
payload keys name the *position* an event acts on. A trade is one position's life, from
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

>>> rules = TradeRules.from_config({"position": ["account", "symbol"], "orders": ["NEW_ORDER"]})
>>> rules.role("NEW_ORDER"), rules.role("BAR")
('order', None)
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
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

logger = logging.getLogger(__name__)

# Roles an event type can play in a trade; a signal's is to be answered by an order or not
ORDER, FILL, OPEN, CLOSE, UPDATE, SIGNAL = "order", "fill", "open", "close", "update", "signal"

# Trade states and outcomes
PENDING, OPENED, CLOSED = "pending", "open", "closed"
WIN, LOSS, FLAT, REJECTED, INCOMPLETE, EXPIRED, EVICTED = (
    "win", "loss", "flat", "rejected", "incomplete", "expired", "evicted",
)
OUTCOMES = (WIN, LOSS, FLAT, REJECTED, INCOMPLETE, EXPIRED, EVICTED)

#: Processed records that belong to no trade carry this in their TRADE slot, so a
#: child can tell "parent processed, no trade" from "parent not processed yet" (None).
NO_TRADE: Any = 0

#: Order ids remembered after their trade completed, for fills that arrive late.
ORDER_MEMORY = 2048

Path = tuple[str, ...]


def _paths(value: Any, where: str) -> tuple[Path, ...]:
    """``"strategy_id|metadata.strategy_id"`` -> alternatives, each a key path."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, value, "a payload key, dotted for nested keys, "
                          "alternatives separated by |")
    return tuple(tuple(part.split(".")) for part in value.replace(" ", "").split("|"))


def read_path(payload: Any, alternatives: tuple[Path, ...]) -> Any:
    """The first alternative present in ``payload`` (None if none is)."""
    for path in alternatives:
        value = payload
        for key in path:
            if value.__class__ is not dict and not isinstance(value, Mapping):
                value = None
                break
            value = value.get(key)
            if value is None:
                break
        if value is not None:
            return value
    return None


def getter(alternatives: tuple[Path, ...]) -> Callable[[Any], Any]:
    """``read_path`` for one rule, with a fast path for a single plain key: the tracker
    reads several fields of every trade event."""
    if len(alternatives) == 1 and len(alternatives[0]) == 1:
        (key,) = alternatives[0]
        return lambda payload: payload.get(key)
    if len(alternatives) == 2 and len(alternatives[0]) == 1:
        (first,), rest = alternatives[0], alternatives[1:]

        def first_or_rest(payload: Any) -> Any:
            value = payload.get(first)
            return value if value is not None else read_path(payload, rest)
        return first_or_rest
    return lambda payload: read_path(payload, alternatives)


@dataclass(frozen=True)
class TradeRules:
    """How events make up trades. Defaults: ADMF-PC's and the demo engine's shape."""

    orders: frozenset[str] = frozenset({"ORDER", "ORDER_REQUEST"})
    fills: frozenset[str] = frozenset({"FILL"})
    opens: frozenset[str] = frozenset({"POSITION_OPEN"})
    closes: frozenset[str] = frozenset({"POSITION_CLOSE"})
    updates: frozenset[str] = frozenset({"POSITION_UPDATE"})
    #: signals, counted by direction and whether an order followed (retain/signals.py)
    signals: frozenset[str] = frozenset({"SIGNAL"})
    #: what names the position an event acts on, besides its container: payload paths
    position: tuple[tuple[Path, ...], ...] = ((("symbol",),),)
    order_id: tuple[Path, ...] = (("order_id",),)
    status: tuple[Path, ...] = (("status",),)
    rejected_statuses: frozenset[str] = frozenset({"REJECTED"})
    pnl: tuple[Path, ...] = (("realized_pnl",), ("pnl",))
    price: tuple[Path, ...] = (("price",), ("fill_price",))
    entry_price: tuple[Path, ...] = (("entry_price",),)
    exit_price: tuple[Path, ...] = (("exit_price",),)
    quantity: tuple[Path, ...] = (("quantity",), ("qty",))
    side: tuple[Path, ...] = (("side",),)
    symbol: tuple[Path, ...] = (("symbol",),)
    strategy: tuple[Path, ...] = (("strategy_id",), ("metadata", "strategy_id"))
    direction: tuple[Path, ...] = (("direction",),)

    _KEYS = ("orders", "fills", "opens", "closes", "updates", "signals", "position", "order_id",
             "status", "rejected_statuses", "pnl", "price", "entry_price", "exit_price",
             "quantity", "side", "symbol", "strategy", "direction")
    _TYPES = ("orders", "fills", "opens", "closes", "updates", "signals")

    def role(self, event_type: str) -> str | None:
        """What an event of this type does to a trade, if anything."""
        for role, types in ((ORDER, self.orders), (FILL, self.fills), (OPEN, self.opens),
                            (CLOSE, self.closes), (UPDATE, self.updates),
                            (SIGNAL, self.signals)):
            if event_type in types:
                return role
        return None

    @classmethod
    def from_config(cls, raw: Any, where: str = "tracing.trades") -> TradeRules:
        """Rules from the ``tracing.trades`` mapping; every key optional."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigError(where, raw, "a mapping of trade rules")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            path = f"{where}.{name}"
            if name == "key":  # its name before trades were positions' lives
                if "position" in raw:
                    raise ConfigError(path, value, "one of key and position",
                                      "key is the older name of position")
                name = "position"
            if name not in cls._KEYS:
                raise ConfigError(path, name, "one of " + ", ".join(cls._KEYS), "unknown key")
            if name in cls._TYPES or name == "rejected_statuses":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(path, value, "a list of names")
                upper = name != "rejected_statuses"
                values[name] = frozenset(v.upper() if upper else v for v in value)
            elif name == "position":
                if not isinstance(value, list) or not value:
                    raise ConfigError(path, value, "a non-empty list of payload keys")
                values[name] = tuple(_paths(v, f"{path}[{i}]") for i, v in enumerate(value))
            else:
                values[name] = _paths(value, path)
        rules = cls(**values)
        roles = [getattr(rules, name) for name in cls._TYPES]
        for a, b in itertools.combinations(roles, 2):
            if a & b:
                raise ConfigError(where, sorted(a & b), "each event type in one role only",
                                  "an event type has two roles")
        return rules


_ids = itertools.count(1)
_prefix = os.urandom(4).hex()


class TrackedTrade:
    """A trade as the tracker rebuilds it, open or closed: one round trip and what is
    known of it; its held records live here too. (The analysis side's trade, read back
    from files, is :class:`tradetrace.analyse.query.results.Trade`.)"""

    __slots__ = (
        "id", "key", "container", "strategy", "symbol", "state", "outcome", "policy",
        "records", "members", "spans", "dropped", "evicted", "bytes", "orders", "fills",
        "rejected", "errors", "outstanding", "side", "quantity", "entry_price",
        "exit_price", "pnl", "entry_time", "exit_time", "exit_type", "start", "end",
        "last_seen", "max_slippage_bps", "max_fill_latency_ms", "decision", "kept_by",
    )

    def __init__(self, key: tuple[Any, ...], container: str, policy: Any, now: float) -> None:
        self.id = f"trd_{_prefix}{next(_ids):08x}"
        self.key = key  #: (container, *position key)
        self.container = container
        self.strategy: Any = None  #: the strategy of the order that opened the position
        self.symbol: Any = None
        self.state = PENDING
        self.outcome: str | None = None
        self.policy = policy  #: the RetentionPolicy of the container that owns the trade
        self.records: list[Record] = []  #: held until the trade is decided
        self.members: list[Record] = []  #: the first spans, for the trade span's links
        self.spans = 0
        self.dropped = 0  #: spans past the per-trade cap
        self.evicted = 0  #: spans summarised because a global cap was hit
        self.bytes = 0
        self.orders = self.fills = self.rejected = self.errors = self.outstanding = 0
        self.side: Any = None
        self.quantity: Any = None
        self.entry_price: Any = None
        self.exit_price: Any = None
        self.pnl: Any = None
        self.entry_time: Any = None
        self.exit_time: Any = None
        self.exit_type: Any = None
        self.start = 0  #: wall clock of its first span's start, ns
        self.end = 0
        self.last_seen = now  #: monotonic seconds of the last event, for the time-to-live
        self.max_slippage_bps: float | None = None
        self.max_fill_latency_ms: float | None = None
        self.decision: bool | None = None  #: None while open; then kept (True) or dropped
        self.kept_by: str | None = None

    @property
    def holding_seconds(self) -> float | None:
        """Holding period in the traced system's own (simulated) time."""
        try:
            delta = self.exit_time - self.entry_time
            return float(delta.total_seconds() if hasattr(delta, "total_seconds") else delta)
        except Exception:
            return None

    def __repr__(self) -> str:
        return f"<TrackedTrade {self.id} {self.key} {self.state} {self.outcome or ''}>"


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
