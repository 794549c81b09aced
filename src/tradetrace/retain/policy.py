"""Retention policies: what happens to a trade's spans once the trade is decided.

- ``always``: every span is exported as soon as it is built (NORMAL and DEBUG default);
- ``trade_complete``: a trade's spans are held while it is open and dropped when it
  completes; its metrics are kept (MINIMAL default);
- ``keep_if``: held while open; a completed trade is exported when its condition holds;
- ``sliding_window``: the last ``window`` spans of each container are held and exported
  when one of its spans records an error, and when the run ends.

Spans that belong to no trade are exported under every policy but ``sliding_window``.

A ``keep_if`` condition is declarative YAML: one test, or ``any:``/``all:`` lists of
them, nested as deep as needed::

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
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, finite_number
from .trades import OUTCOMES

ALWAYS, TRADE_COMPLETE, KEEP_IF, SLIDING_WINDOW = (
    "always", "trade_complete", "keep_if", "sliding_window",
)
POLICIES = (ALWAYS, TRADE_COMPLETE, KEEP_IF, SLIDING_WINDOW)
#: A policy that only sets ``window`` or ``incomplete``: its kind comes from the level.
BY_LEVEL = "by level"
INCOMPLETE_CHOICES = ("export", "drop", "policy")

#: A compiled condition: the reason it holds for a trade, or None.
Condition = Callable[[Any], "str | None"]


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


@dataclass(frozen=True)
class RetentionPolicy:
    """What a container does with the spans of its trades (and of nothing else)."""

    kind: str = ALWAYS
    keep_if: Condition | None = None
    window: int = 1000  #: sliding_window: spans held per container
    incomplete: str = "export"  #: trades open at shutdown: export, drop, or as the policy says
    #: the ``keep_if`` condition as configured, compiled again where the policy is
    #: unpickled (the encoder process): a compiled condition is a closure
    keep_if_spec: Any = field(default=None, compare=False)

    def __reduce__(self) -> Any:
        return _rebuilt, (self.kind, self.keep_if_spec, self.window, self.incomplete)

    @property
    def holds(self) -> bool:
        """Whether a trade's spans wait for its decision."""
        return self.kind in (TRADE_COMPLETE, KEEP_IF)

    def decide(self, trade: Any) -> str | None:
        """Why a decided trade is exported (None: it is dropped)."""
        incomplete = trade.outcome in ("incomplete", "expired")
        if incomplete and self.incomplete != "policy":
            return trade.outcome if self.incomplete == "export" else None
        if self.kind in (ALWAYS, SLIDING_WINDOW):
            return self.kind
        if self.kind == KEEP_IF and self.keep_if is not None:
            return self.keep_if(trade)
        return None


@dataclass(frozen=True)
class RetentionLimits:
    """Bounds on what trade-aware retention holds in memory (process-wide)."""

    max_spans_per_trade: int = 1000
    max_open_trades: int = 10_000
    max_buffered_spans: int = 200_000
    max_buffered_megabytes: float = 128.0
    trade_ttl_seconds: float = 86_400.0  #: an open trade with no event this long expires


POLICY_KEYS = ("policy", "keep_if", "window", "incomplete")
LIMIT_KEYS = ("max_spans_per_trade", "max_open_trades", "max_buffered_spans",
              "max_buffered_megabytes", "trade_ttl_seconds")


def parse_policy(raw: Any, path: str, default_kind: str | None = None) -> RetentionPolicy | None:
    """A policy from a ``retention`` mapping (None when it names no policy)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(path, raw, "a mapping")
    kind = raw.get("policy", default_kind)
    if kind is None:
        if "keep_if" in raw:
            kind = KEEP_IF
        elif "window" not in raw and "incomplete" not in raw:
            return None
        else:
            kind = BY_LEVEL
    if kind not in POLICIES and kind is not BY_LEVEL:
        raise ConfigError(f"{path}.policy", kind, ", ".join(POLICIES))
    if kind is not BY_LEVEL:
        kind = POLICIES[POLICIES.index(kind)]  # the constant itself: compared by identity
    keep_if = None
    if kind == KEEP_IF:
        if "keep_if" not in raw:
            raise ConfigError(f"{path}.keep_if", None, "a condition (policy keep_if needs one)")
        keep_if = parse_condition(raw["keep_if"], f"{path}.keep_if")
    elif "keep_if" in raw:
        raise ConfigError(f"{path}.keep_if", raw["keep_if"], "nothing unless policy is keep_if")
    window = finite_number(raw.get("window", 1000), f"{path}.window", "a whole number >= 1",
                           whole=True, valid=lambda v: v >= 1)
    incomplete = raw.get("incomplete", "export")
    if incomplete not in INCOMPLETE_CHOICES:
        raise ConfigError(f"{path}.incomplete", incomplete, ", ".join(INCOMPLETE_CHOICES))
    return RetentionPolicy(kind, keep_if, window, incomplete,
                           raw["keep_if"] if keep_if is not None else None)


def _rebuilt(kind: str, keep_if: Any, window: int, incomplete: str) -> RetentionPolicy:
    """A policy as unpickled: its kind the module's constant (compared by identity), its
    condition compiled again."""
    kind = BY_LEVEL if kind == BY_LEVEL else POLICIES[POLICIES.index(kind)]
    condition = parse_condition(keep_if, "keep_if") if keep_if is not None else None
    return RetentionPolicy(kind, condition, window, incomplete, keep_if)


def parse_limits(raw: Mapping[str, Any], path: str) -> RetentionLimits:
    values: dict[str, Any] = {}
    for name in LIMIT_KEYS:
        if name not in raw:
            continue
        whole = name in ("max_spans_per_trade", "max_open_trades", "max_buffered_spans")
        values[name] = finite_number(
            raw[name], f"{path}.{name}", "a whole number >= 1" if whole else "a number > 0",
            whole=whole, valid=lambda v: v > 0,
        )
    return RetentionLimits(**values)
