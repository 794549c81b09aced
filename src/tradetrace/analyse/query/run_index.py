"""The run index: trace files turned once into Parquet beside them, and kept current.

Reading OTLP JSON costs most of every question (parsing 1 GB of it takes seconds and,
held in memory, gigabytes), so each trace file is parsed once, by the one loader
(``query/_load.py``), into the same flat rows the queries use, and written as Parquet in
an index folder beside the files::

    <folder>/.tradetrace-index/
        _manifest.json                                  what was indexed, from what
        run_id=<run id>/<file key>.parquet              one part per trace file and run
        _trades/run_id=<run id>/<file key>.parquet      the part's trade rows

The layout is Hive's (a folder per run, ``__HIVE_DEFAULT_PARTITION__`` for spans without
a run id), so DuckDB, pyarrow, Spark, Trino or ClickHouse read it as a table partitioned
by run, without tradetrace (docs/query.md lists the columns). A run is dropped by
deleting its folder; one trace file's rows are its own parts. Beside each part, under
``_trades/`` (a name other engines' globs skip), are its trade rows (``trade_rows.py``):
every trade's figures are combined from those instead of read from every span.

The index is a cache, never a second source of truth. ``manifest.json`` holds, per trace
file (by its path relative to the folder): size and modification time when it was
indexed, its parts, and what reading it counted (spans, bad lines and spans, metric
lines, or why it was unreadable), so a query over the index reports the same skips as
one over the files. A file whose size or time changed is indexed again (a live run's
growing file too); parts of a file that is gone are removed; a new ``FORMAT`` rebuilds
everything. Two processes indexing one folder take turns on a lock; parts and the
manifest are written to a temporary name and renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from .. import reader
from ..reader import INDEX_FOLDER, ReadStats
from . import trade_rows
from ._load import Loader

#: The rows' format; a manifest of another format is rebuilt from the files.
FORMAT = 2
#: Names starting with "_" or "." are not data to Spark, pyarrow and DuckDB globs.
MANIFEST = "_manifest.json"
#: Hive's name for a partition whose value is NULL (DuckDB and pyarrow read it as NULL).
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
STAGE = "_stage"
#: The folder of the parts' trade rows, inside the index folder.
TRADES = "_trades"
#: Rows per Parquet row group. Rows stay in the order of the file (about time order):
#: sorting them by span name, so that a query for the ``trade`` spans skipped the other
#: row groups, cost more than half of writing a part, and trades are read from their
#: own rows now (``trade_rows.py``).
ROW_GROUP = 64 * 1024
#: JSON read by one statement while indexing (two 100 MB files of short lines take
#: about 700 MB to parse).
BATCH_BYTES = 256 * 1024 * 1024

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Part:
    """One Parquet part: one trace file's spans of one run, starting between
    ``first_start`` and ``last_start`` (ns)."""

    path: Path
    run_id: str | None
    first_start: int
    last_start: int


def trade_part(part: Path) -> Path:
    """Where the trade rows of the part at ``part`` are."""
    return part.parent.parent / TRADES / part.parent.name / part.name


class IndexUnavailable(Exception):
    """The index folder cannot be made or written (a read-only folder): the files are
    read directly instead."""


@dataclass
class FileEntry:
    """One indexed trace file: what it was when indexed, its parts, what was counted."""

    size: int
    mtime_ns: int
    parts: list[str] = field(default_factory=list)  #: relative to the index folder
    #: per part: [run id, first start_ns, last start_ns] (where duplicates can be)
    ranges: list[list[Any]] = field(default_factory=list)
    spans: int = 0
    bad_lines: int = 0
    bad_spans: int = 0
    metric_lines: int = 0
    characters_replaced: int = 0  #: byte sequences not UTF-8, read as U+FFFD
    line_cap: int = 0  #: the longest line read when it was indexed (a new cap re-reads it)
    unreadable: str | None = None  #: why nothing of it could be read
    notes: list[str] = field(default_factory=list)  #: what reading it said

    def current(self, stat: os.stat_result) -> bool:
        return (self.size == stat.st_size and self.mtime_ns == stat.st_mtime_ns
                and self.line_cap == reader.MAX_LINE_BYTES)

    def replay(self, path: Path, stats: ReadStats) -> None:
        """Say what reading the file said, as if it had been read now."""
        if self.unreadable is not None:
            stats.skip_file(path, self.unreadable)
            return
        stats.files_read += 1
        stats.spans += self.spans
        stats.metric_lines += self.metric_lines
        stats.bad_lines += self.bad_lines
        stats.bad_spans += self.bad_spans
        stats.characters_replaced += self.characters_replaced
        for note in self.notes:
            stats.note(note.replace("{path}", str(path)))


def index_folder(root: Path) -> Path:
    return root / INDEX_FOLDER


def partition(run_id: str | None) -> str:
    """The Hive folder of a run: its id, percent-encoded where a path needs it."""
    if run_id is None:
        return f"run_id={NULL_PARTITION}"
    return "run_id=" + urllib.parse.quote(run_id, safe="-_.~ ")


def file_key(relative: str) -> str:
    """A part's file name stem: readable, and unique per trace file in the folder."""
    stem = Path(relative).name.split(".")[0][:60]
    digest = hashlib.sha1(relative.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{stem}-{digest}"


class RunIndex:
    """The index of the trace files under ``root``: :meth:`refresh` brings it up to date
    for the files asked about and returns their parts."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.folder = index_folder(self.root)
        self.indexed = 0  #: files (re)indexed by the last refresh
        self.indexed_spans = 0

    # -- the manifest ---------------------------------------------------------------------

    def _read_manifest(self) -> dict[str, FileEntry]:
        try:
            data = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                return {}
            return {name: FileEntry(**entry) for name, entry in data["files"].items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}  # none yet, or damaged: rebuilt from the files

    def _write_manifest(self, entries: dict[str, FileEntry]) -> None:
        data = {"format": FORMAT, "files": {k: asdict(v) for k, v in sorted(entries.items())}}
        temporary = self.folder / f".{MANIFEST}.{os.getpid()}"
        temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(temporary, self.folder / MANIFEST)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.folder.mkdir(exist_ok=True)
            lock = open(self.folder / ".lock", "a+b")  # noqa: SIM115 (held for the block)
        except OSError as exc:
            raise IndexUnavailable(f"{self.folder}: {exc.strerror or exc}") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- refreshing -----------------------------------------------------------------------

    def refresh(self, files: list[Path], con: duckdb.DuckDBPyConnection, stats: ReadStats,
                progress: Progress | None = None) -> list[Part]:
        """The parts of ``files`` (all under ``root``), indexing those that are new or
        changed; what reading each found is added to ``stats``."""
        self.indexed = self.indexed_spans = 0
        try:
            with self._locked():
                entries = self._read_manifest()
                changed = self._prune(entries)
                stale: list[tuple[Path, str, os.stat_result]] = []
                wanted: list[tuple[Path, str]] = []
                for path in files:
                    relative = path.resolve().relative_to(self.root).as_posix()
                    wanted.append((path, relative))
                    try:
                        stat = path.stat()
                    except OSError as exc:
                        entries.pop(relative, None)
                        stats.skip_file(path, f"unreadable ({exc.strerror or exc})")
                        continue
                    entry = entries.get(relative)
                    if entry is None or not entry.current(stat) or not self._present(entry):
                        stale.append((path, relative, stat))
                if stale:
                    self._index(stale, entries, con, stats, progress,
                                len(files) - len(stale), len(files))
                    changed = True
                if changed:
                    self._write_manifest(entries)
        except OSError as exc:
            raise IndexUnavailable(f"{self.folder}: {exc.strerror or exc}") from None
        parts: list[Part] = []
        for path, relative in wanted:
            entry = entries.get(relative)
            if entry is not None:
                entry.replay(path, stats)
                parts.extend(Part(self.folder / part, run, first, last)
                             for part, (run, first, last) in zip(entry.parts, entry.ranges))
        return parts

    def _present(self, entry: FileEntry) -> bool:
        return len(entry.ranges) == len(entry.parts) and all(
            (self.folder / part).is_file() and trade_part(self.folder / part).is_file()
            for part in entry.parts)

    def _prune(self, entries: dict[str, FileEntry]) -> bool:
        """Forget files that are gone, and remove their parts."""
        gone = [name for name in entries if not (self.root / name).is_file()]
        for name in gone:
            self._remove_parts(entries.pop(name))
        return bool(gone)

    def _remove_parts(self, entry: FileEntry) -> None:
        for part in entry.parts:
            for path in (self.folder / part, trade_part(self.folder / part)):
                path.unlink(missing_ok=True)

    def _index(self, stale: list[tuple[Path, str, os.stat_result]],
               entries: dict[str, FileEntry], con: duckdb.DuckDBPyConnection,
               stats: ReadStats, progress: Progress | None, done: int, total: int) -> None:
        batch_stats = ReadStats()
        loader = Loader(con, batch_stats, table=STAGE)
        try:
            for batch in _batches(stale, loader.batch_size()):
                loader.insert([path for path, _, _ in batch])
                counts = loader.file_counts()
                for path, relative, stat in batch:
                    old = entries.pop(relative, None)
                    if old is not None:
                        self._remove_parts(old)
                    if str(path) in loader.too_large:  # not its fault: tried again next time
                        stats.skip_file(path, _reason(batch_stats, path))
                        continue
                    entries[relative] = self._write_parts(
                        con, path, relative, stat, counts.get(str(path), {}), batch_stats)
                con.execute(f"DELETE FROM {STAGE}")
                done += len(batch)
                if progress is not None:
                    progress(done, total)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {STAGE}")

    def _write_parts(self, con: duckdb.DuckDBPyConnection, path: Path, relative: str,
                     stat: os.stat_result, counts: dict[str, int],
                     batch_stats: ReadStats) -> FileEntry:
        counted = batch_stats.counted_in(path)
        entry = FileEntry(stat.st_size, stat.st_mtime_ns, spans=counts.get("span", 0),
                          bad_lines=counts.get("bad_line", 0) + counted.get("bad_lines", 0),
                          characters_replaced=counted.get("characters_replaced", 0),
                          line_cap=reader.MAX_LINE_BYTES,
                          bad_spans=counts.get("bad_span", 0),
                          metric_lines=counts.get("metric", 0))
        if str(path) in batch_stats.skipped_files:
            entry.unreadable = _reason(batch_stats, path)
            return entry
        entry.notes = _notes(batch_stats, path, counts)
        self.indexed += 1
        self.indexed_spans += entry.spans
        runs = con.execute(
            f"SELECT run_id, min(start_ns), max(start_ns) FROM {STAGE} "
            "WHERE file = ? AND row_state = 'span' GROUP BY ALL", [str(path)]).fetchall()
        key = file_key(relative)
        for run, first, last in sorted(runs, key=lambda r: (r[0] is None, r[0] or "")):
            part = f"{partition(run)}/{key}.parquet"
            target = self.folder / part
            target.parent.mkdir(exist_ok=True)
            temporary = target.with_name(f".{target.name}.{os.getpid()}")
            same_run = "run_id IS NULL" if run is None else "run_id = ?"
            con.execute(f"""
COPY (SELECT ? AS file, * EXCLUDE (file, run_id, source_set, row_state) FROM {STAGE}
      WHERE file = ? AND row_state = 'span' AND {same_run})
TO '{_sql_text(temporary)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP})
""", [relative, str(path)] + ([] if run is None else [run]))
            trades = trade_part(target)
            trades.parent.mkdir(parents=True, exist_ok=True)
            trades_temporary = trades.with_name(f".{trades.name}.{os.getpid()}")
            spans = (f"(SELECT * FROM {STAGE} WHERE file = ? AND row_state = 'span' "
                     f"AND {same_run})")
            con.execute(f"COPY ({trade_rows.rows_sql(spans, run_id=False)}) "
                        f"TO '{_sql_text(trades_temporary)}' (FORMAT parquet, COMPRESSION zstd)",
                        ([str(path)] + ([] if run is None else [run])) * 2)
            os.replace(trades_temporary, trades)
            os.replace(temporary, target)
            entry.parts.append(part)
            entry.ranges.append([run, int(first), int(last)])
        return entry


def _batches(stale: list[tuple[Path, str, os.stat_result]],
             files: int) -> Iterator[list[tuple[Path, str, os.stat_result]]]:
    """Up to ``files`` files (one per DuckDB thread) and :data:`BATCH_BYTES` at a time:
    parsing JSON takes several times its size in memory."""
    batch: list[tuple[Path, str, os.stat_result]] = []
    size = 0
    for item in stale:
        if batch and (len(batch) == files or size + item[2].st_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item[2].st_size
    if batch:
        yield batch


def _reason(stats: ReadStats, path: Path) -> str:
    prefix = f"{path}: "
    for message in stats.messages:
        if message.startswith(prefix) and message.endswith("; skipped"):
            return message[len(prefix):-len("; skipped")]
    return "unreadable"


def _notes(batch_stats: ReadStats, path: Path, counts: dict[str, int]) -> list[str]:
    """What reading ``path`` said (the reader's own words), with ``{path}`` for the path
    so the messages follow a folder that moves."""
    said = ReadStats(messages=[m for m in batch_stats.messages if m.startswith(f"{path}:")])
    if counts.get("bad_line"):
        said.bad_lines_in(path, counts["bad_line"])
    if counts.get("bad_span"):
        said.bad_spans_in(path, counts["bad_span"])
    return [m.replace(str(path), "{path}", 1) for m in said.messages]


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")

