"""Trade rules: how events make up trades.

:class:`TradeRules` say which event types order, fill, open, update and close a position
(the *role* an event plays in a trade), which signal types are counted, and which payload
keys name the *position* an event acts on and the figures read from it (order id, status,
prices, quantity, side, strategy...). Defaults: ADMF-PC's and the demo engine's shape.
``tracing.trades`` configures them (``from_config``); another package registers rules of
its own under ``tradetrace.trade_rules`` (``tracing.trades.rules``). The tracker
(``trades.py``) applies them.

>>> rules = TradeRules.from_config({"position": ["account", "symbol"], "orders": ["NEW_ORDER"]})
>>> rules.role("NEW_ORDER"), rules.role("BAR")
('order', None)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

# Roles an event type can play in a trade; a signal's is to be answered by an order or not
ORDER, FILL, OPEN, CLOSE, UPDATE, SIGNAL = "order", "fill", "open", "close", "update", "signal"

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

    @property
    def trade_types(self) -> frozenset[str]:
        """Every event type with a role in a trade (signals aside)."""
        return self.orders | self.fills | self.opens | self.closes | self.updates

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

