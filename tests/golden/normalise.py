"""The spans of a demo run, made comparable across runs: wall times dropped, random ids
(trace, span, event, trade, container and bus ids, the process) named by their order of
first appearance, spans in the order they started."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

#: random parts of values: OTLP ids (the whole value), and the hex after an underscore
#: of the demo's event, order, trade, container and bus ids (``evt_e536a79208f8``)
_RANDOM = re.compile(r"^[0-9a-f]{16}$|^[0-9a-f]{32}$|(?<=_)[0-9a-f]{8,}\b")
#: the demo stamps fills with the wall clock; its market data is from 2024
_WALL_TIME = re.compile(r"\b20(?:2[5-9]|[3-9][0-9])-[0-9]{2}-[0-9]{2}T[0-9:.]+")
#: wall-clock fields, and resource attributes that differ per process
_WALL = {"startTimeUnixNano", "endTimeUnixNano", "timeUnixNano"}
_PER_PROCESS = {"process.pid", "service.instance.id", "telemetry.sdk.version"}


def spans_of(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The resource attributes and spans of every trace file in ``folder``."""
    resources: list[dict[str, Any]] = []
    spans: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")):
        if path.name.endswith("-metrics.jsonl"):
            continue
        for line in path.read_text().splitlines():
            for resource_spans in json.loads(line)["resourceSpans"]:
                resource = resource_spans.get("resource", {})
                resources.append({a["key"]: a["value"] for a in resource.get("attributes", [])
                                  if a["key"] not in _PER_PROCESS})
                for scope in resource_spans["scopeSpans"]:
                    spans += scope["spans"]
    return resources, spans


def normalised(folder: Path) -> list[str]:
    """One JSON text per span (the first line: the distinct resources), comparable
    between two runs of the same program."""
    resources, spans = spans_of(folder)
    spans.sort(key=lambda s: (int(s["startTimeUnixNano"]), s["name"]))
    names: dict[str, str] = {}

    def rename(value: Any) -> Any:
        if isinstance(value, dict) and "latency" in str(value.get("key", "")):
            return {"key": value["key"], "value": "<wall-clock latency>"}
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items() if k not in _WALL}
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, str):
            value = _WALL_TIME.sub("<wall time>", value)
            return _RANDOM.sub(lambda m: names.setdefault(m.group(0), f"<{len(names)}>"), value)
        return value

    distinct = sorted({json.dumps(r, sort_keys=True) for r in resources})
    return [json.dumps(distinct)] + [json.dumps(rename(s), sort_keys=True) for s in spans]
