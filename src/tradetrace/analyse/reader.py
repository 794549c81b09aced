"""Read OTLP JSON trace files: ours, or the Collector's file exporter output.

Accepts files, folders (every ``*.json``, ``*.jsonl`` and their ``.gz`` forms inside,
recursively) and globs. A line that is not valid OTLP JSON is skipped and counted, with
its file and line number logged once per file; nothing else is lost.
"""

from __future__ import annotations

import glob
import gzip
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


@dataclass
class Span:
    """A span read back from a file (times in ns since the epoch)."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start: int
    end: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    links: list[dict[str, Any]] = field(default_factory=list)
    status_code: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return self.end - self.start


@dataclass
class ReadStats:
    files: int = 0
    lines: int = 0
    spans: int = 0
    bad_lines: int = 0
    bad_spans: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(message)
        logger.warning("tradetrace: %s", message)


def trace_files(sources: Iterable[str | Path], stats: ReadStats | None = None) -> list[Path]:
    """Expand files, folders and globs into a sorted list of trace files."""
    found: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file() and _is_trace(p))
        elif path.is_file():
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(str(source), recursive=True))
            if not matches and stats is not None:
                stats.problem(f"{source}: no such file, folder or matching glob")
            found.extend(p for p in matches if p.is_file())
    return list(dict.fromkeys(found))


def read_spans(sources: Iterable[str | Path], stats: ReadStats | None = None) -> Iterator[Span]:
    stats = stats if stats is not None else ReadStats()
    for path in trace_files(sources, stats):
        stats.files += 1
        try:
            with _open(path) as lines:
                yield from _read_lines(path, lines, stats)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            stats.bad_lines += 1
            stats.problem(f"{path}: unreadable ({exc}); rest of file skipped")


def _read_lines(path: Path, lines: IO[str], stats: ReadStats) -> Iterator[Span]:
    reported = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        stats.lines += 1
        try:
            request = json.loads(line)
            batches = request["resourceSpans"]
        except (ValueError, KeyError, TypeError) as exc:
            stats.bad_lines += 1
            if not reported:
                reported = True
                stats.problem(f"{path}:{number}: not an OTLP JSON line ({type(exc).__name__}); "
                              "skipped (further bad lines in this file are only counted)")
            continue
        for span in _spans_of(batches, stats):
            stats.spans += 1
            yield span


def _spans_of(batches: Any, stats: ReadStats) -> Iterator[Span]:
    for batch in batches if isinstance(batches, list) else ():
        try:
            resource = attributes(batch.get("resource", {}).get("attributes", []))
            scopes = batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []
        except AttributeError:
            stats.bad_spans += 1
            continue
        for scope in scopes:
            for raw in scope.get("spans", []) if isinstance(scope, dict) else ():
                try:
                    yield Span(
                        trace_id=raw["traceId"].lower(),
                        span_id=raw["spanId"].lower(),
                        parent_id=(raw.get("parentSpanId") or "").lower(),
                        name=raw.get("name", ""),
                        start=int(raw["startTimeUnixNano"]),
                        end=int(raw["endTimeUnixNano"]),
                        attributes=attributes(raw.get("attributes", [])),
                        resource=resource,
                        links=[
                            {
                                "trace_id": link["traceId"].lower(),
                                "span_id": link["spanId"].lower(),
                                "attributes": attributes(link.get("attributes", [])),
                            }
                            for link in raw.get("links", [])
                        ],
                        status_code=int((raw.get("status") or {}).get("code", 0)),
                        events=raw.get("events", []),
                    )
                except (KeyError, TypeError, ValueError, AttributeError):
                    stats.bad_spans += 1


def attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and "key" in item:
            out[item["key"]] = any_value(item.get("value") or {})
    return out


def any_value(value: dict[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    return None


def _is_trace(path: Path) -> bool:
    return path.name.endswith(_SUFFIXES)


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115
