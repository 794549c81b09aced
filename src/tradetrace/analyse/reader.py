"""Read OTLP JSON trace files: ours, or the Collector's file exporter output.

Metric lines (``resourceMetrics``, our metrics files or the Collector's) are not
spans: they are handed to ``on_metrics`` when given, and never counted as bad lines.

Accepts files, folders (every ``*.json``, ``*.jsonl`` and their ``.gz`` forms inside,
recursively) and globs. A line that is not valid OTLP JSON is skipped and counted, with
its file and line number logged once per file; nothing else is lost.
"""

from __future__ import annotations

import glob
import gzip
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..export.otlp_json import BadSpan, Span, decode_request

logger = logging.getLogger(__name__)

_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


@dataclass
class ReadStats:
    files: int = 0
    lines: int = 0
    spans: int = 0
    bad_lines: int = 0
    bad_spans: int = 0
    metric_lines: int = 0
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


MetricsSink = Callable[[dict], None]


def read_spans(
    sources: Iterable[str | Path],
    stats: ReadStats | None = None,
    on_metrics: MetricsSink | None = None,
) -> Iterator[Span]:
    stats = stats if stats is not None else ReadStats()
    for path in trace_files(sources, stats):
        stats.files += 1
        try:
            with _open(path) as lines:
                yield from _read_lines(path, lines, stats, on_metrics)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            stats.bad_lines += 1
            stats.problem(f"{path}: unreadable ({exc}); rest of file skipped")


def _read_lines(
    path: Path, lines: IO[str], stats: ReadStats, on_metrics: MetricsSink | None
) -> Iterator[Span]:
    reported = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        stats.lines += 1
        try:
            request = json.loads(line)
            if (
                isinstance(request, dict)
                and "resourceMetrics" in request
                and "resourceSpans" not in request
            ):
                stats.metric_lines += 1
                if on_metrics is not None:
                    on_metrics(request)
                continue
            spans = list(decode_request(request))
        except (ValueError, BadSpan) as exc:
            stats.bad_lines += 1
            if not reported:
                reported = True
                stats.problem(f"{path}:{number}: not an OTLP JSON line ({exc}); skipped "
                              "(further bad lines in this file are only counted)")
            continue
        for span in spans:
            if isinstance(span, BadSpan):
                stats.bad_spans += 1
            else:
                stats.spans += 1
                yield span


def _is_trace(path: Path) -> bool:
    return path.name.endswith(_SUFFIXES)


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115
