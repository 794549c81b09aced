"""The coordinator: builds a backtest topology from a config and runs its lifecycle.

Topology: a ``root`` container owning the bus, with children ``data`` (the bar feed),
``strategy`` (all strategies), one ``portfolio_<strategy_id>`` per strategy, and
``execution``. Running it is: initialize all, start all, execute all (only the data
container does work: everything else happens inside each BAR's publish), then stop and
clean up in reverse order, and dispose.

>>> results = run_backtest(bars=300, seed=7)
>>> results["events_by_type"]["BAR"]
300
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import urandom
from pathlib import Path
from typing import Any

from .containers import Container
from .data import BarFeed
from .execution import ExecutionSettings, SimulatedExecution
from .portfolio import Portfolio, PortfolioSettings
from .risk import RiskLimits
from .strategy import DEFAULT_STRATEGIES, MovingAverageCrossover, StrategySpec

__all__ = ["Coordinator", "run_backtest"]

StrategyLike = StrategySpec | Mapping[str, Any] | Sequence[Any]
CsvSource = str | Path | Mapping[str, str | Path]


@dataclass
class _Backtest:
    """A built topology: containers in lifecycle order, and the components to report on."""

    containers: list[Container]
    feed: BarFeed
    portfolios: list[Portfolio]


class Coordinator:
    """Entry point that turns a topology name and a config into a finished run."""

    def run_topology(
        self, topology_name: str, config: Mapping[str, Any], execution_id: str | None = None
    ) -> dict[str, Any]:
        """Build and run ``topology_name`` (only ``'backtest'``); return the results.

        ``config`` sections, all optional: ``data`` (``symbols``, ``bars``, ``seed``,
        ``csv``), ``strategies`` (list of :class:`StrategySpec`, mappings or
        ``(id, fast, slow)`` tuples), ``portfolio``, ``risk`` and ``execution`` (keyword
        arguments of :class:`PortfolioSettings`, :class:`RiskLimits` and
        :class:`ExecutionSettings`).
        """
        if topology_name != "backtest":
            raise ValueError(f"unknown topology {topology_name!r}; available: 'backtest'")
        execution_id = execution_id or f"exec_{urandom(4).hex()}"
        started = time.perf_counter()
        backtest = _build_backtest(config)
        _run_lifecycle(backtest.containers)
        results = _results(backtest)
        results.update(
            topology=topology_name,
            execution_id=execution_id,
            elapsed_seconds=time.perf_counter() - started,
        )
        return results


def run_backtest(
    bars: int | None = 2000,
    seed: int = 42,
    symbols: Iterable[str] = ("SPY",),
    csv: CsvSource | None = None,
    strategies: Iterable[StrategyLike] | None = None,
) -> dict[str, Any]:
    """Run the backtest topology with default portfolio, risk and execution settings.

    ``csv`` is one file (for a single symbol) or a mapping symbol -> file; symbols
    without a file get synthetic bars. ``bars`` caps the bars read per file.
    """
    config: dict[str, Any] = {
        "data": {"symbols": list(symbols), "bars": bars, "seed": seed, "csv": csv},
    }
    if strategies is not None:
        config["strategies"] = list(strategies)
    return Coordinator().run_topology("backtest", config)


# -- building -----------------------------------------------------------------------------


def _build_backtest(config: Mapping[str, Any]) -> _Backtest:
    data = dict(config.get("data") or {})
    symbols = tuple(data.get("symbols") or ("SPY",))
    feed = BarFeed(
        symbols,
        bars=data.get("bars", 2000),
        seed=data.get("seed", 42),
        csv_paths=_csv_paths(data.get("csv"), symbols),
    )
    specs = [_strategy_spec(item) for item in config.get("strategies") or DEFAULT_STRATEGIES]
    counts = Counter(spec.strategy_id for spec in specs)
    duplicates = sorted(strategy_id for strategy_id, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(f"config['strategies']: duplicate strategy ids {duplicates}")
    portfolio_settings = _settings(PortfolioSettings, config, "portfolio")
    risk_limits = _settings(RiskLimits, config, "risk")
    execution_settings = _settings(ExecutionSettings, config, "execution")

    root = Container({"name": "root", "type": "root"})

    def child(name: str, container_type: str) -> Container:
        return root.add_child(Container({"name": name, "type": container_type}, root.event_bus))

    child("data", "data").add_component("bar_feed", feed)
    strategy = child("strategy", "strategy")
    for spec in specs:
        strategy.add_component(spec.strategy_id, MovingAverageCrossover(spec))
    portfolios = []
    for spec in specs:
        portfolio = Portfolio(spec.strategy_id, portfolio_settings, risk_limits)
        child(f"portfolio_{spec.strategy_id}", "portfolio").add_component("portfolio", portfolio)
        portfolios.append(portfolio)
    child("execution", "execution").add_component(
        "execution", SimulatedExecution(execution_settings)
    )
    return _Backtest([root, *root.children], feed, portfolios)


def _csv_paths(csv: CsvSource | None, symbols: Sequence[str]) -> dict[str, str | Path]:
    if csv is None:
        return {}
    if isinstance(csv, Mapping):
        unknown = set(csv) - set(symbols)
        if unknown:
            raise ValueError(f"config['data']['csv']: symbols {sorted(unknown)} not in {symbols}")
        return dict(csv)
    if len(symbols) != 1:
        raise ValueError(
            f"config['data']['csv']: one file for {len(symbols)} symbols; "
            "pass a mapping symbol -> file"
        )
    return {symbols[0]: csv}


def _strategy_spec(item: StrategyLike) -> StrategySpec:
    if isinstance(item, StrategySpec):
        return item
    if isinstance(item, Mapping):
        return StrategySpec(**item)
    return StrategySpec(*item)


def _settings(settings_type: type[Any], config: Mapping[str, Any], key: str) -> Any:
    try:
        return settings_type(**(config.get(key) or {}))
    except TypeError as exc:
        raise ValueError(f"config[{key!r}]: {exc}") from None


# -- running ------------------------------------------------------------------------------


def _run_lifecycle(containers: list[Container]) -> None:
    try:
        for container in containers:
            container.initialize()
        for container in containers:
            container.start()
        for container in containers:
            container.execute()
    finally:
        for container in reversed(containers):
            container.stop()
        for container in reversed(containers):
            container.cleanup()
        for container in reversed(containers):
            container.dispose()


def _results(backtest: _Backtest) -> dict[str, Any]:
    stats = backtest.containers[0].event_bus.get_stats()
    portfolios = backtest.portfolios
    return {
        "symbols": list(backtest.feed.symbols),
        "bars": backtest.feed.published,
        "events": stats["events_published"],
        "events_by_type": stats["events_by_type"],
        "trades": {p.strategy_id: p.trades for p in portfolios},
        "winning_trades": {p.strategy_id: p.winning_trades for p in portfolios},
        "realized_pnl": {p.strategy_id: round(p.realized_pnl, 2) for p in portfolios},
        "open_positions": {p.strategy_id: len(p.positions) for p in portfolios},
        "rejected_orders": sum(p.rejected_orders for p in portfolios),
        "vetoed_orders": sum(p.vetoed_orders for p in portfolios),
        "handler_errors": stats["handler_errors"],
        "containers": {c.name: c.container_id for c in backtest.containers},
    }
