"""Retention policies: what happens to a trade's spans once the trade is decided.

Built in (one module each in ``policies/``, named in :data:`tradetrace.plugins.RETENTION_POLICIES`):

- ``always``: every span is exported as soon as it is built (NORMAL and DEBUG default);
- ``trade_complete``: a trade's spans are held while it is open and dropped when it
  completes; its metrics are kept (MINIMAL default);
- ``keep_if``: held while open; a completed trade is exported when its condition holds
  (``policies/keep_if.py``);
- ``sliding_window``: the last ``window`` spans of each container are held and exported
  when one of its spans records an error, and when the run ends.

Spans that belong to no trade are exported under every policy but ``sliding_window``.

A policy is a frozen dataclass subclassing :class:`RetentionPolicy`: a ``name``, how its
trades' spans wait (``holding``: until the trade is decided, not at all, or in the
container's window) and :meth:`~RetentionPolicy.keeps`, the decision on a completed
trade. Another package adds one through the ``tradetrace.retention_policies`` entry-point
group; ``from_config`` reads its own keys (listed in ``options``)::

    @dataclass(frozen=True)
    class KeepWinners(RetentionPolicy):
        name = "keep_winners"

        def keeps(self, trade):
            return "winner" if trade.outcome == "win" else None

>>> policy = parse_policy({"policy": "keep_if", "keep_if": {"loss_above": 100}}, "retention")
>>> class Trade: outcome, pnl, rejected = "loss", -150.0, 0
>>> policy.decide(Trade())
'loss_above 100'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ..errors import ConfigError, finite_number

#: How a policy's trade spans wait: until the trade is decided, not at all (exported as
#: they come), or in their container's sliding window.
HOLD, PASS, WINDOW = "hold", "pass", "window"
INCOMPLETE_CHOICES = ("export", "drop", "policy")
#: A policy that only sets ``window`` or ``incomplete``: its kind comes from the level.
BY_LEVEL = "by level"
#: the built-in names, for the levels' defaults and the docs
ALWAYS, TRADE_COMPLETE, KEEP_IF, SLIDING_WINDOW = (
    "always", "trade_complete", "keep_if", "sliding_window",
)


@dataclass(frozen=True)
class RetentionPolicy:
    """What a container does with the spans of its trades (and of nothing else)."""

    name: ClassVar[str] = BY_LEVEL
    holding: ClassVar[str] = HOLD
    #: the configuration keys of this policy besides policy, window and incomplete
    options: ClassVar[tuple[str, ...]] = ()

    window: int = 1000  #: sliding_window: spans held per container
    incomplete: str = "export"  #: trades open at shutdown: export, drop, or as the policy says
    #: the mapping it was configured from: the policy is made again from it where it is
    #: unpickled (the encoder process; a compiled condition is a closure)
    spec: Any = field(default=None, compare=False)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], path: str) -> RetentionPolicy:
        """The policy a ``retention`` mapping describes (``path`` names it in errors)."""
        window = finite_number(raw.get("window", 1000), f"{path}.window",
                               "a whole number >= 1", whole=True, valid=lambda v: v >= 1)
        incomplete = raw.get("incomplete", "export")
        if incomplete not in INCOMPLETE_CHOICES:
            raise ConfigError(f"{path}.incomplete", incomplete, ", ".join(INCOMPLETE_CHOICES))
        return cls(window=window, incomplete=incomplete, spec=dict(raw))

    @property
    def kind(self) -> str:
        return self.name

    @property
    def holds(self) -> bool:
        """Whether a trade's spans wait for its decision."""
        return self.holding is HOLD

    def keeps(self, trade: Any) -> str | None:
        """Why a completed trade is exported, or None to drop its held spans."""
        return None

    def decide(self, trade: Any) -> str | None:
        """Why a decided trade is exported (None: it is dropped)."""
        if trade.outcome in ("incomplete", "expired") and self.incomplete != "policy":
            return trade.outcome if self.incomplete == "export" else None
        return self.keeps(trade)

    def __reduce__(self) -> Any:
        return _rebuilt, (self.name, self.spec, self.window, self.incomplete)


@dataclass(frozen=True)
class TailLimits:
    """Bounds on what tail retention (retain/tail.py) holds in memory (process-wide)."""

    max_spans_per_trade: int = 1000
    max_open_trades: int = 10_000
    max_buffered_spans: int = 200_000
    max_buffered_megabytes: float = 128.0
    trade_ttl_seconds: float = 86_400.0  #: an open trade with no event this long expires


POLICY_KEYS = ("policy", "window", "incomplete")
LIMIT_KEYS = ("max_spans_per_trade", "max_open_trades", "max_buffered_spans",
              "max_buffered_megabytes", "trade_ttl_seconds")


def policy_class(name: Any, path: str) -> type[RetentionPolicy]:
    """The policy class registered as ``name``; a ConfigError listing the choices."""
    from ..plugins import RETENTION_POLICIES

    found: type[RetentionPolicy] = RETENTION_POLICIES.get(name, path)
    return found


def policy_keys(raw: Mapping[str, Any], path: str) -> tuple[str, ...]:
    """The keys a ``retention`` mapping may have: the common ones and its policy's own
    (``keep_if`` for ``keep_if``)."""
    name = raw.get("policy", KEEP_IF if "keep_if" in raw else None)
    return POLICY_KEYS + (policy_class(name, f"{path}.policy").options if name else ())


def parse_policy(raw: Any, path: str, default_kind: str | None = None) -> RetentionPolicy | None:
    """A policy from a ``retention`` mapping (None when it names no policy)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(path, raw, "a mapping")
    name = raw.get("policy", default_kind)
    if name is None:
        if "keep_if" in raw:
            name = KEEP_IF
        elif "window" not in raw and "incomplete" not in raw:
            return None
        else:
            return RetentionPolicy.from_config(raw, path)  # by level
    cls = policy_class(name, f"{path}.policy")
    owners = _option_owners()
    for key in raw:
        if key not in POLICY_KEYS + cls.options and key in owners:
            raise ConfigError(f"{path}.{key}", raw[key], f"nothing unless policy is "
                              f"{owners[key]}")
    return cls.from_config(raw, path)


def _option_owners() -> dict[str, str]:
    """The built-in policies' own keys, and whose they are (``keep_if``: keep_if)."""
    from ..plugins import RETENTION_POLICIES

    return {option: name for name in RETENTION_POLICIES.built_in
            for option in RETENTION_POLICIES.get(name).options}


def _rebuilt(name: str, spec: Any, window: int, incomplete: str) -> RetentionPolicy:
    """A policy as unpickled: made again from its configuration, by name."""
    cls = RetentionPolicy if name == BY_LEVEL else policy_class(name, "retention.policy")
    policy = cls.from_config(spec or {}, "retention") if spec is not None else cls()
    return replace(policy, window=window, incomplete=incomplete)


def parse_limits(raw: Mapping[str, Any], path: str) -> TailLimits:
    values: dict[str, Any] = {}
    for name in LIMIT_KEYS:
        if name not in raw:
            continue
        whole = name in ("max_spans_per_trade", "max_open_trades", "max_buffered_spans")
        values[name] = finite_number(
            raw[name], f"{path}.{name}", "a whole number >= 1" if whole else "a number > 0",
            whole=whole, valid=lambda v: v > 0,
        )
    return TailLimits(**values)
