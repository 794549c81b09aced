"""Runs one topology: build, initialize all, start all, run, stop and clean up in reverse."""

from __future__ import annotations

import uuid
from typing import Any

from .topology import TopologyBuilder


class Sequencer:
    def __init__(self, topology_builder: TopologyBuilder | None = None) -> None:
        self.topology_builder = topology_builder or TopologyBuilder()

    def run_topology(
        self, topology_name: str, config: dict[str, Any], execution_id: str | None = None
    ) -> dict[str, Any]:
        topology = self.topology_builder.build_topology({"mode": topology_name, "config": config})
        context = {
            "execution_id": execution_id or f"exec_{uuid.uuid4().hex[:8]}",
            "topology_name": topology_name,
        }
        return self._execute_topology(topology, config, context)

    def _execute_topology(
        self, topology: dict[str, Any], phase_config: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        containers = list(topology["containers"].values())
        try:
            for container in containers:
                container.initialize()
            for container in containers:
                container.start()
            for container in containers:
                container.execute()
            stats = topology["event_bus"].get_stats()
            portfolios = {name: c.get_component("portfolio_state")
                          for name, c in topology["portfolios"].items()}
            strategy_state = topology["containers"]["strategy"].get_component("strategy_state")
            return {
                "success": True,
                "execution_id": context["execution_id"],
                "topology": context["topology_name"],
                "containers": {c.name: c.container_id for c in containers},
                "bars_processed": topology["data"].bars_published,
                "total_events": stats["event_count"],
                "event_counts": stats["events_by_type"],
                # The fake's own record of what happened, for tests to compare with spans
                "portfolios": {
                    name: {
                        "container_id": topology["portfolios"][name].container_id,
                        "closed_positions": state.closed_positions,
                        "realized_pnl": float(state.realized_pnl),
                        "open_positions": len(state.get_all_positions()),
                    }
                    for name, state in portfolios.items()
                },
                "closed_positions": [p for s in portfolios.values() for p in s.closed_positions],
                "signals": list(strategy_state.published),
                "signals_with_orders": set().union(
                    *(s.signals_with_orders for s in portfolios.values())),
            }
        finally:
            for container in reversed(containers):
                container.stop()
            for container in reversed(containers):
                container.cleanup()  # ADMF-PC's sequencer never disposes
