"""The one reader of trace files: which files, which lines, and what was skipped.

Everything that reads trace files back (``tradetrace summary``, ``TraceQuery`` and its
report) goes through this module, so each rule lives here once:

- **files** (:func:`trace_files`): files, folders (recursively: ``*.json``, ``*.jsonl``
  and their ``.gz`` forms) and globs. Metrics files (``*-metrics.jsonl``) are left out
  unless asked for; compressions other than gzip are skipped with a message.
- **lines** (:func:`read_lines`): blank lines are ignored; a line longer than
  :data:`MAX_LINE_BYTES` is a bad line, read past without being held. A byte that is not
  UTF-8 costs that character, not the line: it becomes U+FFFD and is counted
  (``characters_replaced``), as the writer does with text it cannot encode. A ``.gz``
  stream that ends early (a file still being written, a copy cut short) is read up to
  the break.
- **requests**: a line that is not an OTLP JSON request is a bad line; a span without
  trace id, span id or times is a bad span; ``resourceMetrics`` lines are metric lines,
  never bad. :func:`read_spans` applies this in Python; the query loader's SQL applies
  the same rule in DuckDB (``query/_load.py``), and tests pin the two to the same counts
  (tests/analyse/test_one_reader.py). Fields of the wrong JSON type still differ: Python drops a
  span whose kind, int value or id has one, DuckDB keeps it (the field NULL or cast); a
  resource or scope that is not an object, or a resource attribute whose value does not
  decode, is a bad span in Python only (the resource's spans are read without it). A line
  nested deeper than Python's parser goes (about 1,000 levels) is a bad line in Python;
  DuckDB reads it.
- **stats** (:class:`ReadStats`): what was read and what was skipped, with reasons. The
  smallest unit is skipped: a span, else a line, else a file; never more.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..model.otlp_json import BadSpan, Span, decode_request
from .raw_lines import GzipPrefix, open_raw, split_lines

#: Files a folder is searched for (the Collector's rotated sets are ``*.json``).
TRACE_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
#: Compressions we recognise but cannot read: skipped with a message, never an error.
UNSUPPORTED_COMPRESSION = (".zst", ".zstd", ".bz2", ".xz", ".lz4", ".snappy")
#: Longest line read (one OTLP request); a longer one is a bad line, so one broken writer
#: cannot take all memory. Ours are under 1 MiB, a Collector batch of thousands of spans a
#: few MiB. DuckDB sizes its read buffers from this, per thread (2 GiB made a 75 MB file
#: need 3.9 GiB). Read at each call: set it to change the cap (the CLI's
#: ``--max-line-mb``).
MAX_LINE_BYTES = 64 * 1024 * 1024
#: export.metrics.METRICS_SUFFIX, spelled out: importing it loads the metrics SDK.
_METRICS_SUFFIXES = ("-metrics.jsonl", "-metrics.jsonl.gz")
_MAX_MESSAGES = 50
#: The run index's folder beside the trace files (``query/run_index.py``); never read as traces.
INDEX_FOLDER = ".tradetrace-index"


@dataclass
class ReadStats:
    """What reading found: files, spans, and everything skipped, with reasons."""

    files_total: int = 0  #: files found in the sources
    files_read: int = 0
    spans: int = 0
    bad_lines: int = 0  #: not JSON, truncated, too long, or not an OTLP request; skipped
    bad_spans: int = 0  #: span objects without trace id, span id or times, or with a
    #: field that does not decode (a resource attribute: left out, its spans kept)
    characters_replaced: int = 0  #: byte sequences not UTF-8, read as U+FFFD (lines kept)
    metric_lines: int = 0  #: resourceMetrics lines; skipped as spans, never counted as bad
    skipped_files: list[str] = field(default_factory=list)
    skipped_sources: list[str] = field(default_factory=list)  #: URLs, missing paths
    messages: list[str] = field(default_factory=list)
    _reported: set[str] = field(default_factory=set, repr=False, compare=False)
    #: what the Python reader counted, by file (the run index keeps counts per file)
    _by_file: dict[str, dict[str, int]] = field(default_factory=dict, repr=False,
                                                compare=False)

    def counted_in(self, path: Path | str) -> dict[str, int]:
        """``bad_lines`` and ``characters_replaced`` the line reader counted in ``path``."""
        return self._by_file.get(str(path), {})

    def _count(self, path: Path | str, name: str, count: int) -> None:
        counts = self._by_file.setdefault(str(path), {})
        counts[name] = counts.get(name, 0) + count

    def note(self, message: str) -> None:
        if len(self.messages) < _MAX_MESSAGES:
            self.messages.append(message)
        elif len(self.messages) == _MAX_MESSAGES:
            self.messages.append("(further messages left out)")

    def bad_line(self, path: Path, number: int, reason: str) -> None:
        """One bad line whose number is known; the first of each file is said."""
        self.bad_lines += 1
        self._count(path, "bad_lines", 1)
        if str(path) not in self._reported:
            self._reported.add(str(path))
            self.note(f"{path}:{number}: not an OTLP JSON line ({reason}); skipped "
                      "(further bad lines in this file are only counted)")

    def replaced(self, path: Path, number: int, count: int) -> None:
        """``count`` characters of one line read as U+FFFD; the first of each file is said."""
        self.characters_replaced += count
        self._count(path, "characters_replaced", count)
        if f"utf-8:{path}" not in self._reported:
            self._reported.add(f"utf-8:{path}")
            self.note(f"{path}:{number}: {count} byte sequence(s) not UTF-8, read as U+FFFD; "
                      "the line's spans are kept (further ones in this file are only counted)")

    def bad_lines_in(self, path: Path | str, count: int) -> None:
        """``count`` bad lines of one file, counted where line numbers are not known
        (DuckDB's reader): the first is looked for, to say where to look."""
        self.bad_lines += count
        first = first_bad_line(Path(path))
        where = f"{path}:{first}" if first is not None else str(path)
        self.note(f"{where}: {count} line(s) not valid OTLP JSON (truncated, corrupt, or not "
                  "a trace request), the first here; skipped")

    def bad_spans_in(self, path: Path | str, count: int, first: str = "") -> None:
        self.bad_spans += count
        self.note(f"{path}: {count} span(s) without trace id, span id or times, or with a "
                  "field that does not decode; skipped" + (f" (first: {first})" if first else ""))

    def skip_file(self, path: Path | str, reason: str) -> None:
        if str(path) not in self.skipped_files:
            self.skipped_files.append(str(path))
            self.note(f"{path}: {reason}; skipped")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


# -- files --------------------------------------------------------------------------------


def trace_files(sources: str | Path | Iterable[str | Path], stats: ReadStats | None = None,
                *, metrics: bool = False) -> list[Path]:
    """Files, folders (recursively) and globs into a sorted, de-duplicated list of files.

    A file named directly is read whatever its suffix. Metrics files are left out unless
    ``metrics``; missing sources and compressions we cannot read are said in ``stats``.
    """
    stats = stats if stats is not None else ReadStats()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    found: list[Path] = []
    for source in sources:
        text = str(source)
        path = Path(text)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*")
                                if p.is_file() and INDEX_FOLDER not in p.parts)
            wanted = [p for p in candidates if _is_trace(p) or _is_unsupported(p)]
            if not wanted:
                stats.note(f"{text}: folder holds no trace files (*.json, *.jsonl, .gz)")
            found.extend(wanted)
        elif path.is_file():
            found.append(path)
        else:
            files = [p for p in sorted(Path(p) for p in glob.glob(text, recursive=True))
                     if p.is_file()]
            if not files:
                stats.skipped_sources.append(text)
                stats.note(f"{text}: no such file, folder or matching glob; skipped")
            found.extend(files)
    result: list[Path] = []
    for path in dict.fromkeys(found):
        if _is_unsupported(path):
            stats.skip_file(path, "compression not supported (plain or .gz)")
        elif metrics or not is_metrics(path):
            result.append(path)
    return result


def is_metrics(path: Path) -> bool:
    """A metrics file beside the traces (metric lines only, read by the summary)."""
    return path.name.endswith(_METRICS_SUFFIXES)


def _is_trace(path: Path) -> bool:
    return path.name.endswith(TRACE_SUFFIXES)


def _is_unsupported(path: Path) -> bool:
    return path.name.endswith(UNSUPPORTED_COMPRESSION)


# -- lines --------------------------------------------------------------------------------


class UnreadableFile(Exception):
    """Not one byte of the file could be read (missing, no permission, not gzip)."""


def read_lines(path: Path, stats: ReadStats) -> Iterator[tuple[int, str]]:
    """(line number, text) of every readable, non-blank line of ``path``.

    Lines longer than :data:`MAX_LINE_BYTES` are counted as bad in ``stats``, and bytes
    that are not UTF-8 as replaced; a ``.gz`` stream that breaks is read up to the break
    and said. Raises :class:`UnreadableFile` (before yielding anything) when nothing of
    the file can be read.
    """
    cap = MAX_LINE_BYTES
    try:
        raw = open_raw(path)
    except OSError as exc:
        raise UnreadableFile(first_line(exc)) from None
    with raw:
        number = 0
        try:
            for line in split_lines(raw, cap):
                number += 1
                if line is None:
                    stats.bad_line(path, number, f"longer than {cap:,} bytes, the line cap; "
                                   "--max-line-mb raises it")
                elif line.strip():
                    try:
                        text = line.decode("utf-8")
                    except UnicodeDecodeError:
                        text = line.decode("utf-8", "replace")
                        stats.replaced(path, number,
                                       text.count("\ufffd") - line.count(_REPLACEMENT))
                    yield number, text
        except OSError as exc:  # a read error mid-file: keep what came before it
            if number == 0:
                raise UnreadableFile(first_line(exc)) from None
            stats.note(f"{path}: read failed after line {number} ({first_line(exc)}); "
                       "the rest of the file is skipped")
        if isinstance(raw, GzipPrefix) and raw.error is not None:
            if not raw.produced:  # not gzip at all, or cut before its first byte
                raise UnreadableFile(raw.error)
            stats.note(f"{path}: compressed stream is cut short ({raw.error}); the lines "
                       "before the break were read, a cut last line counts as bad")


_REPLACEMENT = "\ufffd".encode()


# -- spans (the plain-Python reader) ------------------------------------------------------

MetricsSink = Callable[[dict], None]


def read_spans(
    sources: str | Path | Iterable[str | Path],
    stats: ReadStats | None = None,
    on_metrics: MetricsSink | None = None,
) -> Iterator[Span]:
    """Every span of ``sources``, in file and line order; skips counted in ``stats``.

    With ``on_metrics``, metrics files are read too and each metric line is handed to it.
    """
    stats = stats if stats is not None else ReadStats()
    files = trace_files(sources, stats, metrics=on_metrics is not None)
    stats.files_total += len(files)
    for path in files:
        bad_spans, first_bad = 0, ""
        try:
            for number, text in read_lines(path, stats):
                try:
                    request = json.loads(text)
                    if (isinstance(request, dict) and "resourceMetrics" in request
                            and "resourceSpans" not in request):
                        stats.metric_lines += 1
                        if on_metrics is not None:
                            on_metrics(request)
                        continue
                    spans = list(decode_request(request))
                except (ValueError, BadSpan, RecursionError) as exc:
                    # RecursionError: nested deeper than json.loads goes (a hostile line)
                    stats.bad_line(path, number, first_line(exc))
                    continue
                for span in spans:
                    if isinstance(span, BadSpan):
                        bad_spans += 1
                        first_bad = first_bad or first_line(span)
                    else:
                        stats.spans += 1
                        yield span
        except UnreadableFile as exc:
            stats.skip_file(path, f"unreadable ({exc})")
            continue
        stats.files_read += 1
        if bad_spans:
            stats.bad_spans_in(path, bad_spans, first_bad)


def first_bad_line(path: Path) -> int | None:
    """The number of the first line of ``path`` that is not an OTLP JSON request."""
    try:
        for number, text in read_lines(path, ReadStats()):
            try:
                request = json.loads(text)
            except (ValueError, RecursionError):
                return number
            if not (isinstance(request, dict)
                    and ("resourceSpans" in request or "resourceMetrics" in request)):
                return number
    except UnreadableFile:
        return None
    return None


def first_line(exc: BaseException) -> str:
    """An exception's first line, short enough for a message."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
