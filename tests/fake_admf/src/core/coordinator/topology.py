"""The universal topology: containers, their components, and the subscriptions wiring them
on the root container's bus, as ADMF-PC's TopologyBuilder does for ``--universal``.

BAR (data) -> SIGNAL (strategy, one per strategy per bar) -> ORDER (the portfolio that
manages the strategy) -> FILL (execution) -> POSITION_OPEN / POSITION_CLOSE, all nested
inside the BAR's ``publish``. Every portfolio subscribes to FILL with a filter that lets
every fill through (ADMF-PC's "permissive filter"), so every portfolio applies every
portfolio's fills to its own positions; ``fill_filter: owner`` delivers a fill only to the
portfolio whose order it fills instead.

Config (all optional)::

    {"bars": 500, "seed": 1, "symbol": "SPY_5m",
     "strategies": [{"period": 10, "std_dev": 2.0,
                     "risk": {"stop_loss": 0.00075, "take_profit": 0.001}}],
     "portfolios": [{"name": "portfolio_x", "strategies": ["bollinger_bands"]}],
     "fill_filter": "all", "position_size": 1}

Strategy ids are ``<symbol>_strategy_<n>``; a strategy's name is ``bollinger_bands`` when
it is the only one, else ``bollinger_bands_<period>_<std_dev * 10>``. Without
``portfolios``, there is one portfolio per strategy, ``portfolio_<name>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...data.handlers import SimpleHistoricalDataHandler
from ...execution.synchronous.engine import SyncExecutionEngine
from ...portfolio.state import PortfolioState
from ...risk.strategy_risk_manager import StrategyRiskManager
from ...strategy.state import ComponentState
from ..containers.container import Container
from ..events.types import Event, EventType

MODES = ("universal", "backtest")  # one wiring for both here
DEFAULT_STRATEGIES = [
    {"period": 10, "std_dev": 2.0, "risk": {"stop_loss": 0.00075, "take_profit": 0.001}},
]


def _strategies(config: dict[str, Any], symbol: str) -> list[dict[str, Any]]:
    raw = config.get("strategies", DEFAULT_STRATEGIES)
    strategies = []
    for i, spec in enumerate(raw):
        grid_name = f"bollinger_bands_{spec['period']}_{round(spec['std_dev'] * 10)}"
        name = spec.get("name") or ("bollinger_bands" if len(raw) == 1 else grid_name)
        strategies.append({**spec, "name": name, "strategy_id": f"{symbol}_strategy_{i}"})
    return strategies


def _fill_filter(kind: str, portfolio: PortfolioState) -> Callable[[Event], bool]:
    if kind == "all":
        return lambda event: True
    if kind == "owner":
        return lambda event: event.payload.get("order_id") in portfolio.pending_order_ids
    raise ValueError(f"fill_filter must be 'all' or 'owner', not {kind!r}")


class TopologyBuilder:
    def build_topology(self, definition: dict[str, Any]) -> dict[str, Any]:
        """``definition``: ``{'mode': 'universal', 'config': {...}}``; returns the topology."""
        mode = definition.get("mode", "universal")
        if mode not in MODES:
            raise ValueError(f"Unknown topology {mode!r}; this fake has {', '.join(MODES)}")
        config = definition.get("config", {})
        symbol = config.get("symbol", "SPY_5m")
        strategies = _strategies(config, symbol)
        ids = {s["name"]: s["strategy_id"] for s in strategies}
        root = Container({"type": "root", "name": "root"})
        containers = {"root": root}

        def add(container_type: str, name: str, **components: Any) -> Container:
            container = Container({"type": container_type, "name": name}, root.event_bus)
            for component_name, component in components.items():
                container.add_component(component_name, component)
            containers[name] = container
            return container

        data = SimpleHistoricalDataHandler(symbol, config.get("bars", 500), config.get("seed", 1))
        add("data", f"{symbol}_5m_data", data_streamer=data)
        add("strategy", "strategy", strategy_state=ComponentState(symbol, strategies))
        portfolio_specs = config.get("portfolios") or [
            {"name": f"portfolio_{s['name']}", "strategies": [s["name"]]} for s in strategies]
        managed: dict[str, set[str]] = {}
        for spec in portfolio_specs:
            state = PortfolioState()
            state.set_risk_manager(StrategyRiskManager(config.get("position_size", 1)))
            add("portfolio", spec["name"], portfolio_state=state)
            managed[spec["name"]] = {ids[name] for name in spec["strategies"]}
        add("execution", "execution", execution_engine=SyncExecutionEngine())
        self._subscribe(containers, managed, config.get("fill_filter", "all"))
        return {
            "name": mode,
            "root": root,
            "event_bus": root.event_bus,
            "containers": containers,
            "data": data,
            "strategies": strategies,
            "portfolios": {name: containers[name] for name in managed},
        }

    @staticmethod
    def _subscribe(containers: dict[str, Container], managed: dict[str, set[str]],
                   fill_filter: str) -> None:
        bus = containers["root"].event_bus
        bus.subscribe(EventType.BAR.value, containers["strategy"].get_component(
            "strategy_state").on_bar)
        for name, strategy_ids in managed.items():
            state = containers[name].get_component("portfolio_state")
            containers[name].event_bus.subscribe(
                EventType.SIGNAL.value, state.process_event,
                filter_func=lambda e, ids=strategy_ids: e.payload.get("strategy_id") in ids)
        bus.subscribe(EventType.ORDER.value,
                      containers["execution"].get_component("execution_engine").on_order)
        for name in managed:
            state = containers[name].get_component("portfolio_state")
            bus.subscribe(EventType.FILL.value, state.on_fill,
                          filter_func=_fill_filter(fill_filter, state))
