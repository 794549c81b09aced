"""Entry points: run one topology, or a workflow of phases each running a topology."""

from __future__ import annotations

import uuid
from typing import Any

from .sequencer import Sequencer


class Coordinator:
    def __init__(self) -> None:
        self.sequencer = Sequencer()

    def run_topology(
        self, topology_name: str, config: dict[str, Any], execution_id: str | None = None
    ) -> dict[str, Any]:
        execution_id = execution_id or f"exec_{uuid.uuid4().hex[:8]}"
        return self.sequencer.run_topology(topology_name, config, execution_id)

    def run_workflow(
        self, workflow_definition: dict[str, Any], workflow_id: str | None = None
    ) -> dict[str, Any]:
        """``{'config': {...}, 'phases': [{'name', 'topology', 'config'}, ...]}``."""
        workflow_id = workflow_id or f"workflow_{uuid.uuid4().hex[:8]}"
        base_config = workflow_definition.get("config", {})
        phases: dict[str, Any] = {}
        for i, phase in enumerate(workflow_definition.get("phases", [])):
            name = phase.get("name", f"phase_{i}")
            config = {**base_config, **phase.get("config", {})}
            phases[name] = self.run_topology(
                phase.get("topology", "backtest"), config, f"{workflow_id}_{name}"
            )
        return {
            "workflow_id": workflow_id,
            "success": all(r["success"] for r in phases.values()),
            "phases": phases,
        }
