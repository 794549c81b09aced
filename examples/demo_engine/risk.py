"""Pre-trade risk limits: the check that may veto a portfolio's opening order."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RiskLimits"]


@dataclass(frozen=True)
class RiskLimits:
    """Limits on new positions; orders that only close a position are never vetoed."""

    max_position_notional: float = 25_000.0
    max_open_positions: int = 5

    def __post_init__(self) -> None:
        if self.max_position_notional <= 0 or self.max_open_positions < 1:
            raise ValueError(f"risk limits must be positive, got {self}")

    def veto_reason(self, quantity: float, price: float, open_positions: int) -> str | None:
        """Why an order opening ``quantity`` at ``price`` is refused, or None to allow it."""
        notional = quantity * price
        if notional > self.max_position_notional:
            return f"notional {notional:,.0f} exceeds {self.max_position_notional:,.0f}"
        if open_positions >= self.max_open_positions:
            return f"{open_positions} positions already open (max {self.max_open_positions})"
        return None
