"""A backtest whose events are shaped like the real ADMF-PC's, for bench_instructions.py.

The demo engine's payloads are flat dicts of str and float; the real ADMF-PC's are not,
and tracing it cost several times more per event (issue 12). This publishes the same
cascade as a full-year ADMF-PC run (commit 70d9eca3), with its payloads' shapes and
value types as observed there, and no trading logic:

- BAR: ``timestamp`` a pandas Timestamp (UTC) in the payload, none on the event; a
  ``bar`` object with no attribute form;
- SIGNAL on every bar: the event's timestamp the bar's Timestamp; string direction;
  ``metadata`` of numpy floats (prices, bands), ``parameters`` with ``_risk`` nested
  in it, and the same dict objects again under ``parameters``, ``risk`` and
  ``strategy_config`` (the very objects of the previous SIGNAL: ADMF-PC reuses its
  component's parameters), a fresh ``value`` holding the same ``_risk``;
- every ``ORDER_EVERY`` bars an ORDER (quantity and price Decimal strings, ``stop_price``
  None, ``metadata.strategy_id``), inside it its FILL (the wall clock as timestamp),
  inside that a POSITION_OPEN or POSITION_CLOSE (nested ``metadata``), as ADMF-PC's
  synchronous bus nests them.

Events are the demo engine's, whose fields and ids are ADMF-PC's (``evt_`` and 12 hex
digits); the bus stamps ``metadata['event_id']`` as ADMF-PC's does. Needs pandas and
numpy.
"""

from __future__ import annotations

import datetime
import itertools
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from demo_engine.events import Event  # noqa: E402  (ADMF-PC's fields and event ids)

ORDER_EVERY = 8  #: bars per round trip leg (ADMF-PC full year: 2,480 orders, 20,769 bars)

PROFILE = {
    "name": "admf_shaped",
    "publish": ["admf_shaped:EventBus.publish"],
    "subscribe": ["admf_shaped:EventBus.subscribe"],
    "run": ["admf_shaped:Backtest.run"],  # roots link to their run, as under ADMF-PC
}


@dataclass
class Bar:
    """Stands for ADMF-PC's bar object: a value with no attribute form."""

    symbol: str
    timestamp: Any
    open: float
    high: float
    low: float
    close: float
    volume: float


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[[Event], Any]]] = {}
        self._sequence = 0

    def subscribe(self, event_type: str, handler: Callable[[Event], Any]) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    def publish(self, event: Event) -> None:
        self._sequence += 1
        event.sequence_number = self._sequence
        if "event_id" not in event.metadata:
            event.metadata["event_id"] = f"{event.event_type}_{uuid.uuid4().hex[:8]}"
        for handler in self._handlers.get(event.event_type, ()):
            handler(event)


_PARAMETERS = {"_strategy_type": "strategy_0", "period": 10, "std_dev": 2.0,
               "_risk": {"stop_loss": 0.00075, "take_profit": 0.001}}
_STRATEGY = "SPY_5m_strategy_0"
_SYMBOL = "SPY_5m"


class Backtest:
    """Containers' handlers reduced to publishing what ADMF-PC's publish."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.ids = {name: f"{name}_{uuid.uuid4().hex[:8]}"
                    for name in ("data", "strategy", "portfolio", "execution")}
        self.orders = itertools.count(1)
        self.position = 0.0
        self.entry = 0.0
        self.position_metadata: dict[str, Any] = {}
        self.order_time = datetime.datetime.now(datetime.timezone.utc)
        bus.subscribe("BAR", self.on_bar)
        bus.subscribe("SIGNAL", self.on_signal)
        bus.subscribe("ORDER", self.on_order)
        bus.subscribe("FILL", self.on_fill)

    def run(self, bars: int) -> int:
        start = pd.Timestamp("2024-03-26 13:30:00", tz="UTC")
        step = pd.Timedelta(minutes=5)
        for i in range(bars):
            when = start + i * step
            close = 521.0 + (i % 50) * 0.01
            self.bus.publish(Event(
                "BAR",
                {"symbol": _SYMBOL, "timestamp": when,
                 "bar": Bar(_SYMBOL, when, close, close + 0.1, close - 0.1, close, 1e5),
                 "original_bar_index": i, "split_bar_index": i + 1},
                source_id=f"data_{_SYMBOL}", container_id=self.ids["data"],
            ))
        return self.bus._sequence

    def on_bar(self, bar: Event) -> None:
        p = bar.payload
        close = np.float64(p["bar"].close)
        i = p["original_bar_index"]
        direction = ("long", "short", "flat")[(i // ORDER_EVERY) % 3]
        trade = i % ORDER_EVERY == 0 and i > 0
        band = np.float64(0.59)
        metadata = {
            "price": close, "open": close, "high": close + 0.1, "low": close - 0.1,
            "close": close, "upper_band": close + band / 2, "lower_band": close - band / 2,
            "middle_band": close, "band_width": band, "band_position": np.float64(0.27),
            "component_type": "strategy", "signal_value": 1 if trade else 0,
            "symbol_timeframe": "SPY_5m_5m", "base_strategy_id": "bollinger_bands",
            "parameters": _PARAMETERS, "timeframe": "1m",
            "risk": _PARAMETERS["_risk"], "strategy_hash": "d945e5dcecb8",
        }
        payload = {
            "symbol": _SYMBOL, "direction": direction, "strength": 1 if trade else 0,
            "timestamp": p["timestamp"].isoformat(), "strategy_id": _STRATEGY,
            "signal_type": "entry", "metadata": metadata,
            "value": {"strategy_type": "bollinger_bands", **_PARAMETERS},
            "strategy_type": "bollinger_bands", "parameters": _PARAMETERS,
            "risk": _PARAMETERS["_risk"], "strategy_hash": "d945e5dcecb8",
            "strategy_config": {"type": "bollinger_bands", "parameters": _PARAMETERS},
        }
        self.bus.publish(Event("SIGNAL", payload, source_id="component_state",
                               container_id=self.ids["strategy"], timestamp=p["timestamp"]))

    def on_signal(self, signal: Event) -> None:
        if not signal.payload["strength"]:
            return
        when = signal.timestamp
        side = "sell" if self.position > 0 else "buy"
        price = f"{float(signal.payload['metadata']['close']):.2f}"
        n = next(self.orders)
        self.bus.publish(Event("ORDER", {
            "order_id": f"ORD_{_SYMBOL}_{when:%Y%m%d_%H%M%S}_{n:06d}", "symbol": _SYMBOL,
            "side": side, "order_type": "market", "quantity": "1", "price": price,
            "stop_price": None, "time_in_force": "DAY", "created_at": when.isoformat(),
            "status": "pending",
            "metadata": {"strategy_id": _STRATEGY, "bar_timestamp": when.isoformat(),
                         "entry_signal": 1.0},
        }, source_id="portfolio", container_id=self.ids["portfolio"], timestamp=when))

    def on_order(self, order: Event) -> None:
        o = order.payload
        self.order_time = order.timestamp.to_pydatetime()  # POSITION_*'s timestamp
        self.bus.publish(Event("FILL", {
            "fill_id": f"FILL_{o['order_id']}", "order_id": o["order_id"], "symbol": _SYMBOL,
            "side": o["side"], "quantity": o["quantity"], "price": o["price"],
            "commission": "0.0", "executed_at": o["created_at"], "status": "filled",
            "metadata": dict(o["metadata"]),
        }, source_id="execution", container_id=self.ids["execution"],
            timestamp=datetime.datetime.now()))

    def on_fill(self, fill: Event) -> None:
        f = fill.payload
        price = float(f["price"])
        if self.position == 0:
            self.position, self.entry = 1.0, price
            self.position_metadata = {"bars_held": 0, "highest_price": f["price"],
                                      "strategy_id": _STRATEGY, "entry_signal": 1.0}
            payload = {"symbol": _SYMBOL, "quantity": 1.0, "entry_price": price,
                       "strategy_id": _STRATEGY, "metadata": self.position_metadata}
            kind = "POSITION_OPEN"
        else:
            meta = self.position_metadata
            meta.update(exit_type="signal", exit_reason="Strategy reversal signal (short)")
            payload = {"symbol": _SYMBOL, "quantity": self.position,
                       "entry_price": self.entry, "exit_price": price,
                       "realized_pnl": price - self.entry, "strategy_id": _STRATEGY,
                       "exit_type": "signal", "exit_reason": meta["exit_reason"],
                       "metadata": meta}
            self.position = 0.0
            kind = "POSITION_CLOSE"
        self.bus.publish(Event(kind, payload, source_id="portfolio",
                               container_id=self.ids["portfolio"], timestamp=self.order_time))


def run_backtest(bars: int) -> int:
    """Publish ``bars`` bars' cascade; returns the number of events published."""
    return Backtest(EventBus()).run(bars)
