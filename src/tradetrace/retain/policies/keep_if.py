"""``keep_if``: a trade's spans are held while it is open; a completed trade is exported
when its condition holds.

A condition is declarative YAML: one test, or ``any:``/``all:`` lists of them, nested as
deep as needed::

    keep_if:
      any:
        - loss_above: 250            # realised loss larger than 250
        - rejected: true             # one of its orders was rejected
        - error: true                # one of its spans recorded an exception
        - slippage_bps_above: 5
        - fill_latency_ms_above: 50  # ORDER published -> FILL published, wall clock
        - all: [{outcome: [win]}, {holding_seconds_above: 86400}]

>>> keep = parse_condition({"any": [{"loss_above": 100}, {"rejected": True}]}, "keep_if")
>>> class T: pnl, rejected = -150.0, 0
>>> keep(T())
'loss_above 100'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...errors import ConfigError, finite_number
from ..policy import HOLD, RetentionPolicy
from ..tracked_trade import OUTCOMES

#: A compiled condition: the reason it holds for a trade, or None.
Condition = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class KeepIf(RetentionPolicy):
    name: ClassVar[str] = "keep_if"
    holding: ClassVar[str] = HOLD
    options: ClassVar[tuple[str, ...]] = ("keep_if",)
    keep_if: Condition | None = None

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], path: str) -> KeepIf:
        if "keep_if" not in raw:
            raise ConfigError(f"{path}.keep_if", None, "a condition (policy keep_if needs one)")
        common = RetentionPolicy.from_config(raw, path)  # window and incomplete
        return cls(window=common.window, incomplete=common.incomplete, spec=dict(raw),
                   keep_if=parse_condition(raw["keep_if"], f"{path}.keep_if"))

    def keeps(self, trade: Any) -> str | None:
        return self.keep_if(trade) if self.keep_if is not None else None


def _above(attribute: str, scale: float = 1.0) -> Callable[[float, str], Condition]:
    def make(threshold: float, label: str) -> Condition:
        def test(trade: Any) -> str | None:
            value = getattr(trade, attribute)
            return label if value is not None and value * scale > threshold else None
        return test
    return make


def _flag(attribute: str) -> Callable[[bool, str], Condition]:
    def make(wanted: bool, label: str) -> Condition:
        def test(trade: Any) -> str | None:
            return label if (getattr(trade, attribute) > 0) == wanted else None
        return test
    return make


def _pnl_below(threshold: float, label: str) -> Condition:
    def test(trade: Any) -> str | None:
        return label if trade.pnl is not None and trade.pnl < threshold else None
    return test


def _outcome_in(outcomes: frozenset[str], label: str) -> Condition:
    def test(trade: Any) -> str | None:
        return label if trade.outcome in outcomes else None
    return test


_NUMERIC: dict[str, Callable[[float, str], Condition]] = {
    "loss_above": _above("pnl", -1.0),
    "pnl_below": _pnl_below,
    "pnl_above": _above("pnl"),
    "slippage_bps_above": _above("max_slippage_bps"),
    "fill_latency_ms_above": _above("max_fill_latency_ms"),
    "holding_seconds_above": _above("holding_seconds"),
}
_FLAGS: dict[str, Callable[[bool, str], Condition]] = {
    "rejected": _flag("rejected"),
    "error": _flag("errors"),
}
TESTS = (*_NUMERIC, *_FLAGS, "outcome", "any", "all")


def parse_condition(raw: Any, path: str) -> Condition:
    """Compile a ``keep_if`` condition; :class:`ConfigError` names what is wrong."""
    if isinstance(raw, list):  # a bare list means any
        return parse_condition({"any": raw}, path)
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise ConfigError(path, raw, "one test as a mapping, e.g. {loss_above: 100}, "
                          "or any:/all: lists of tests")
    ((name, value),) = raw.items()
    where = f"{path}.{name}"
    if name in ("any", "all"):
        if not isinstance(value, list) or not value:
            raise ConfigError(where, value, "a non-empty list of tests")
        parts = [parse_condition(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if name == "any":
            def any_of(trade: Any) -> str | None:
                for part in parts:
                    reason = part(trade)
                    if reason is not None:
                        return reason
                return None
            return any_of

        def all_of(trade: Any) -> str | None:
            reasons = []
            for part in parts:
                reason = part(trade)
                if reason is None:
                    return None
                reasons.append(reason)
            return " and ".join(reasons)
        return all_of
    if name in _NUMERIC:
        finite_number(value, where, "a number")
        return _NUMERIC[name](float(value), f"{name} {value:g}")
    if name in _FLAGS:
        if not isinstance(value, bool):
            raise ConfigError(where, value, "true or false")
        return _FLAGS[name](value, name if value else f"not {name}")
    if name == "outcome":
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or any(v not in OUTCOMES for v in values):
            raise ConfigError(where, value, "one or a list of " + ", ".join(OUTCOMES))
        return _outcome_in(frozenset(values), "outcome " + "/".join(values))
    raise ConfigError(where, name, "one of " + ", ".join(TESTS), "unknown test")


