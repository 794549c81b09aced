"""Turns a SIGNAL into decisions for the portfolio, as ADMF-PC's StrategyRiskManager does.

On every signal it first checks *every* open position of the portfolio against the risk
rules of the strategy that opened it (stop-loss on the bar's low for a long, its high for
a short; else take-profit on the other extreme). A hit makes an exit order at the exact
stop or target price whose ``strategy_id`` is ``f"{strategy_id}_exit"``, and, for a
directional entry, an *exit memory* that blocks re-entry until the signal changes.

Then the signal itself: ``flat`` closes the position (any strategy's signal acts on the
position of the symbol, whoever opened it); the opposite direction closes it and opens
the other way (two orders); the same direction does nothing; no position opens one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..strategy.types import SignalDirection

EXIT_SUFFIX = "_exit"


def price_level_exit(position: Any, bar: dict[str, Any], rules: dict[str, Any]
                     ) -> tuple[str, Decimal, str] | None:
    """(exit type, exit price, reason) when the bar crossed the stop or the target."""
    entry = position.average_price
    stop_pct, target_pct = rules.get("stop_loss", 0), rules.get("take_profit", 0)
    low, high = Decimal(str(bar["low"])), Decimal(str(bar["high"]))
    if position.quantity > 0:
        stop = entry * (1 - Decimal(str(stop_pct)))
        target = entry * (1 + Decimal(str(target_pct)))
        if stop_pct and low <= stop:
            return "stop_loss", stop, f"Stop loss hit: price {low:.4f} <= stop {stop:.4f}"
        if target_pct and high >= target:
            reason = f"Take profit hit: price {high:.4f} >= target {target:.4f}"
            return "take_profit", target, reason
    else:
        stop = entry * (1 + Decimal(str(stop_pct)))
        target = entry * (1 - Decimal(str(target_pct)))
        if stop_pct and high >= stop:
            return "stop_loss", stop, f"Stop loss hit: price {high:.4f} >= stop {stop:.4f}"
        if target_pct and low <= target:
            reason = f"Take profit hit: price {low:.4f} <= target {target:.4f}"
            return "take_profit", target, reason
    return None


class StrategyRiskManager:
    def __init__(self, position_size: int = 1) -> None:
        self.position_size = position_size

    def evaluate_signal(self, signal: dict[str, Any], portfolio_state: dict[str, Any],
                        timestamp: Any) -> list[dict[str, Any]]:
        decisions: list[dict[str, Any]] = []
        symbol = signal["symbol"]
        price = signal["metadata"]["price"]
        exiting_on_risk = self._risk_exits(signal, portfolio_state, decisions)
        if symbol in exiting_on_risk:
            return decisions
        direction, strategy_id = signal["direction"], signal["strategy_id"]
        if self._blocked_by_exit_memory(signal, portfolio_state, decisions):
            return decisions
        position = portfolio_state["positions"].get(symbol)
        if direction == SignalDirection.FLAT:
            if position is not None and position.quantity != 0:
                decisions.append(_order("exit", symbol, position, price, strategy_id,
                                        "signal", "Strategy exit signal (FLAT)"))
            return decisions
        long = direction == SignalDirection.LONG
        if position is not None and position.quantity != 0:
            if (position.quantity > 0) == long:
                return decisions  # already in that direction
            decisions.append(_order("exit", symbol, position, price, strategy_id, "signal",
                                    f"Strategy reversal signal ({direction})"))
        decisions.append({
            "action": "create_order", "type": "entry", "symbol": symbol,
            "side": "BUY" if long else "SELL", "quantity": self.position_size,
            "order_type": "MARKET", "price": str(price), "strategy_id": strategy_id,
        })
        return decisions

    def _risk_exits(self, signal: dict[str, Any], state: dict[str, Any],
                    decisions: list[dict[str, Any]]) -> set[str]:
        exiting: set[str] = set()
        metadata = signal["metadata"]
        for symbol, position in state["positions"].items():
            strategy_id = position.metadata.get("strategy_id")
            rules = state["strategy_risk_rules"].get(strategy_id)
            if position.quantity == 0 or not rules:
                continue  # only the portfolio that knows the opener's rules exits on risk
            if symbol == signal["symbol"]:
                current = Decimal(str(metadata["price"]))
                bar = {"low": metadata["low"], "high": metadata["high"]}
            else:
                current = state["last_prices"].get(symbol)
                if current is None:
                    continue
                bar = {"low": current, "high": current}
            if position.quantity > 0 and current > Decimal(
                    position.metadata.get("highest_price", "0")):
                # mutates the dict a POSITION_OPEN already published
                decisions.append({"action": "update_metadata", "symbol": symbol,
                                  "updates": {"highest_price": str(current)}})
            hit = price_level_exit(position, bar, rules)
            if hit is None:
                continue
            exit_type, exit_price, reason = hit
            decisions.append(_order("exit", symbol, position, exit_price,
                                    f"{strategy_id}{EXIT_SUFFIX}", exit_type, reason))
            exiting.add(symbol)
            entry_signal = position.metadata.get("entry_signal")
            if state["exit_memory_enabled"] and entry_signal and abs(entry_signal) > 0.01:
                decisions.append({"action": "update_exit_memory", "symbol": symbol,
                                  "strategy_id": strategy_id, "signal_value": entry_signal})
        return exiting

    @staticmethod
    def _blocked_by_exit_memory(signal: dict[str, Any], state: dict[str, Any],
                                decisions: list[dict[str, Any]]) -> bool:
        """After a risk exit, the same signal value again does not re-enter."""
        key = (signal["symbol"], signal["strategy_id"])
        if not state["exit_memory_enabled"] or key not in state["exit_memory"]:
            return False
        direction = signal["direction"]
        value = (1.0 if direction == SignalDirection.LONG
                 else -1.0 if direction == SignalDirection.SHORT
                 else float(signal.get("strength") or 0))
        if abs(value - state["exit_memory"][key]) < 0.01:
            return True
        decisions.append({"action": "clear_exit_memory", "symbol": key[0],
                          "strategy_id": key[1]})
        return False


def _order(kind: str, symbol: str, position: Any, price: Any, strategy_id: str,
           exit_type: str, reason: str) -> dict[str, Any]:
    return {
        "action": "create_order", "type": kind, "symbol": symbol,
        "side": "SELL" if position.quantity > 0 else "BUY",
        "quantity": abs(position.quantity), "order_type": "MARKET", "price": str(price),
        "strategy_id": strategy_id, "exit_type": exit_type, "exit_reason": reason,
    }
