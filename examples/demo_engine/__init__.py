"""A small, self-contained event-driven backtesting engine with ADMF-PC's shape.

Bars flow through one synchronous bus shared by a tree of containers:
BAR -> SIGNAL -> ORDER -> FILL -> POSITION_OPEN / POSITION_CLOSE, all nested inside
the BAR's ``publish`` call. It exists to be traced (and to be the untraced baseline of
the tracing benchmark); it imports nothing outside the standard library.

>>> from demo_engine import run_backtest
>>> run_backtest(bars=500, seed=1)["events_by_type"]["BAR"]
500
"""

from __future__ import annotations

from .bus import BusObserver, EventBus
from .containers import Component, Container, ContainerState
from .coordinator import Coordinator, run_backtest
from .data import Bar, BarFeed, DataError, load_csv_bars, synthetic_bars
from .events import Event, EventType
from .execution import ExecutionSettings, SimulatedExecution
from .portfolio import Portfolio, PortfolioSettings, Position
from .risk import RiskLimits
from .strategy import DEFAULT_STRATEGIES, MovingAverageCrossover, StrategySpec

__all__ = [
    "DEFAULT_STRATEGIES",
    "Bar",
    "BarFeed",
    "BusObserver",
    "Component",
    "Container",
    "ContainerState",
    "Coordinator",
    "DataError",
    "Event",
    "EventBus",
    "EventType",
    "ExecutionSettings",
    "MovingAverageCrossover",
    "Portfolio",
    "PortfolioSettings",
    "Position",
    "RiskLimits",
    "SimulatedExecution",
    "StrategySpec",
    "load_csv_bars",
    "run_backtest",
    "synthetic_bars",
]
