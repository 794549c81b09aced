"""What the compiled core gives: a bus that cannot be patched, id objects, value objects,
enums and integer-nanosecond times."""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Callable
from typing import Any


class Compiled(type):
    """Classes of a compiled core: their attributes cannot be set (as an extension type's)."""

    def __setattr__(cls, name: str, value: object) -> None:
        raise TypeError(f"cannot set {name!r} attribute of immutable type {cls.__name__!r}")


class MessageBus(metaclass=Compiled):
    """``publish(topic, message)``; ``subscribe(topic, handler, priority=0)`` with
    wildcards (``"*"`` for everything). One message may go out on several topics."""

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, Callable[[Any], None], int]] = []
        self.sent = 0  #: publish calls

    def subscribe(self, topic: str, handler: Callable[[Any], None], priority: int = 0) -> None:
        self._subscriptions.append((topic, handler, priority))
        self._subscriptions.sort(key=lambda s: -s[2])

    def unsubscribe(self, topic: str, handler: Callable[[Any], None]) -> None:
        self._subscriptions = [s for s in self._subscriptions
                               if not (s[0] == topic and s[1] == handler)]

    def publish(self, topic: str, message: Any) -> None:
        self.sent += 1
        for pattern, handler, _ in list(self._subscriptions):
            if fnmatch.fnmatchcase(topic, pattern):
                handler(message)


class Identifier(metaclass=Compiled):
    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "value", value)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.value}')"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.value == self.value  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.value))


class StrategyId(Identifier):
    __slots__ = ()


class InstrumentId(Identifier):
    __slots__ = ()


class ClientOrderId(Identifier):
    __slots__ = ()


class PositionId(Identifier):
    __slots__ = ()


class TradeId(Identifier):
    __slots__ = ()


class UUID4(Identifier):
    __slots__ = ()


class Decimalish(metaclass=Compiled):
    """A price, a quantity or money: prints with its precision, converts with float()."""

    __slots__ = ("amount", "precision")

    def __init__(self, amount: float, precision: int = 5) -> None:
        object.__setattr__(self, "amount", round(amount, precision))
        object.__setattr__(self, "precision", precision)

    def __float__(self) -> float:
        return float(self.amount)

    def __str__(self) -> str:
        return f"{self.amount:.{self.precision}f}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self})"


class Price(Decimalish):
    __slots__ = ()


class Quantity(Decimalish):
    __slots__ = ()


class Money(Decimalish):
    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.amount:.2f} USD"


class OrderSide(enum.IntEnum):
    NO_ORDER_SIDE = 0
    BUY = 1
    SELL = 2


class PositionSide(enum.IntEnum):
    FLAT = 1
    LONG = 2
    SHORT = 3
