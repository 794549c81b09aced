"""Trace files loaded into one DuckDB connection, and SQL over them.

The base of :class:`~tradetrace.analyse.query.engine.TraceQuery`: it reads sources
(files, folders, globs, Jaeger URLs) through the one reader and ``_load.py`` into the
flat ``_spans`` table, counts what it skipped in ``stats``, and answers raw SQL. The
questions are asked by its subclasses (``causality.py``, ``trade_queries.py``,
``timing.py``, ``engine.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from ..reader import ReadStats, trace_files
from . import trade_rows
from ._load import CREATE_VIEW, Loader, Progress
from .remote import RemoteError, fetch_jaeger, is_remote
from .run_index import IndexUnavailable, Part, RunIndex, index_folder, trade_part

Sources = str | Path | Iterable[str | Path]
#: Raw rows (files read without the index): the loader's table.
RAW = "_raw_spans"
#: DuckDB's memory for a query (it spills to disk beyond it): 10M spans stay under 2 GB.
DEFAULT_MEMORY_LIMIT = "1.5GB"


def _by_root(paths: list[str | Path], stats: ReadStats) -> dict[Path, list[Path]]:
    """Trace files of ``paths`` by the folder whose index holds them: a folder named as a
    source indexes everything under it; a file or glob, its own folder."""
    by_root: dict[Path, list[Path]] = {}
    seen: set[Path] = set()
    for source in paths:
        folder = Path(source) if Path(source).is_dir() else None
        for path in trace_files([source], stats):
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            root = folder.resolve() if folder is not None else resolved.parent
            by_root.setdefault(root, []).append(resolved)
    return by_root


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def _sql_quote(text: str) -> str:
    return text.replace("'", "''")


class LoadedSpans:
    """Spans of trace files in DuckDB (``con``), and what was read (``stats``).

    Local files are read through their run index (``run_index.py``: Parquet beside them,
    made or brought up to date first), so a query reads only the columns it needs and
    holds little in memory; with ``index=False``, or where the index cannot be written
    (a read-only folder), and for fetched remote traces, the files are loaded into
    memory as before. Either way the rows are the same: ``_spans`` is a view over them.
    """

    def __init__(self, sources: Sources, *, progress: Progress | None = None,
                 memory_limit: str | None = None, index: bool = True,
                 run: str | None = None) -> None:
        #: with a run id: that run's spans only (from the index, only its folder is
        #: read), so any question about one run of a large sweep costs what that run does
        self.run = run
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET enable_progress_bar = false")  # ours is the CLI's, on stderr
        # DuckDB spills past its memory limit into ./.tmp by default: the user's folder
        # (a git checkout, say). A temporary folder of ours instead, gone with the query.
        self._spill = tempfile.mkdtemp(prefix="tradetrace-duckdb-")
        weakref.finalize(self, shutil.rmtree, self._spill, True)
        self.con.execute(f"SET temp_directory = '{_sql_text(Path(self._spill))}'")
        memory_limit = memory_limit or DEFAULT_MEMORY_LIMIT  # read now: the CLI sets it
        if memory_limit:
            if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit.strip()):
                raise ValueError(f"memory_limit {memory_limit!r}: expected a size like "
                                 "'2GB' or '512MiB'")
            self.con.execute(f"SET memory_limit = '{memory_limit.strip()}'")
        self.stats = ReadStats()
        self.use_index = index
        self.indexed = 0  #: trace files (re)indexed while loading
        self.indexed_spans = 0  #: their spans
        self._fetched: list[str] = []  #: remote sources read
        self._loader = Loader(self.con, self.stats, table=RAW)
        self._parts: list[tuple[int, Path, list[Part]]] = []  #: (source set, root, parts)
        self._indexed_spans = 0
        self._spans_twice = 0  #: spans read more than once, left out
        self._twice_where = "FALSE"  #: SQL for the spans that may be among them
        self._cache: set[str] = set()
        self._sets: list[str] = []
        #: the local sources read first (not URLs): where metrics files lie beside them
        self.paths: list[str | Path] = []
        self._add(sources, 0, progress)

    def _add(self, sources: Sources, source_set: int, progress: Progress | None) -> None:
        listed = [sources] if isinstance(sources, (str, Path)) else list(sources)
        urls = [s for s in listed if isinstance(s, str) and "://" in s]
        paths = [s for s in listed if not (isinstance(s, str) and "://" in s)]
        if source_set == 0:
            self.paths = paths
        by_root = _by_root(paths, self.stats)
        files = [f for group in by_root.values() for f in group]
        with tempfile.TemporaryDirectory(prefix="tradetrace-query-") as fetched:
            remote = self._fetch(urls, Path(fetched))  # loaded before the folder goes
            self.stats.files_total += len(files) + len(remote)
            raw = remote + self._from_index(by_root, source_set, progress)
            if raw:
                self._loader.load(raw, source_set, progress)  # sets spans to the raw rows
                self.stats.spans += self._indexed_spans
        self._views()
        if self.run is not None:  # what was read: that run's spans, not the files'
            (spans,) = self.con.execute("SELECT count(*) FROM _spans_read").fetchone() or (0,)
            self.stats.spans = int(spans)
            if not spans:
                self.stats.note(f"no spans of run {self.run!r} in these files")
        self._cache.clear()
        self._drop_duplicates()
        if not files and not remote:
            self.stats.note("no trace files found: every query returns an empty result")

    def _from_index(self, by_root: dict[Path, list[Path]], source_set: int,
                    progress: Progress | None) -> list[Path]:
        """Parts of the indexed files, kept for the views; the files not indexed (no
        index wanted, or it cannot be written) are returned to be loaded raw."""
        raw: list[Path] = []
        if not self.use_index:
            return [f for group in by_root.values() for f in group]
        for root, files in by_root.items():
            index = RunIndex(root)
            before = self.stats.spans
            try:
                parts = index.refresh(files, self.con, self.stats, progress)
            except IndexUnavailable as exc:
                self.stats.note(f"run index not written ({exc}): the files are read directly")
                raw.extend(files)
                continue
            self.indexed += index.indexed
            self.indexed_spans += index.indexed_spans
            self._indexed_spans += self.stats.spans - before
            if self.run is not None:
                parts = [p for p in parts if p.run_id == self.run]
            if parts:
                self._parts.append((source_set, index.root, parts))
        return raw

    def _views(self) -> None:
        """``_spans``: the raw table and every set of parts, as one relation."""
        selects = [f"SELECT * EXCLUDE (row_state) FROM {RAW}" + (
            "" if self.run is None else f" WHERE run_id = '{_sql_quote(self.run)}'")]
        for source_set, root, parts in self._parts:
            listed = ", ".join(f"'{_sql_text(p.path)}'" for p in parts)
            selects.append(
                f"SELECT * REPLACE ('{_sql_text(root)}/' || file AS file), "
                f"{int(source_set)} AS source_set FROM read_parquet([{listed}], "
                "hive_partitioning = true, hive_types = {'run_id': 'VARCHAR'})")
        self.con.execute("CREATE OR REPLACE VIEW _spans_read AS "
                         + "\nUNION ALL BY NAME\n".join(selects))
        self.con.execute("CREATE OR REPLACE VIEW _spans AS SELECT * FROM _spans_read")
        self.con.execute(CREATE_VIEW)

    def _fetch(self, urls: list[str], folder: Path) -> list[Path]:
        """Remote sources into trace files in ``folder`` (remote.py); failures are
        skipped sources with a message."""
        files: list[Path] = []
        for url in urls:
            try:
                if not is_remote(url):
                    raise RemoteError("only Jaeger query services are read (jaeger+http://"
                                      "host:16686/?service=NAME); Tempo is not supported")
                path, traces = fetch_jaeger(url, folder, len(self._fetched))
                self._fetched.append(url)
                self.stats.note(f"{url}: {traces} traces fetched")
                files.append(path)
            except RemoteError as exc:
                self.stats.skipped_sources.append(url)
                self.stats.note(f"{url}: {exc}; skipped")
        return files

    def _drop_duplicates(self) -> None:
        """The same span read twice (a file and its .gz copy, our files and the
        Collector's) counts once; how many were dropped is said.

        Indexed parts are only compared where they can share a span: the same run, and
        start times where two parts' ranges overlap (rotated files of one run barely do),
        so the check reads a sliver of the spans, not all of them."""
        self._spans_twice = 0
        where = self._duplicate_windows()
        if where is None:
            return
        # The copies after the first (by file) of each span read twice: a small table
        # that every read of _spans leaves out, rather than a copy of all the spans (at
        # 10M spans that copy took minutes and most of the memory limit). The answer
        # depends on the index's parts alone, so it is kept beside them: at 10M spans
        # the scan took seconds of every command.
        cache = self._twice_cache(where)
        if not (cache is not None and self._read_twice(cache)):
            self.con.execute(f"""
CREATE OR REPLACE TEMP TABLE _twice AS
SELECT run_id, trace_id, span_id, file FROM _spans_read WHERE {where}
QUALIFY row_number() OVER (PARTITION BY run_id, trace_id, span_id ORDER BY file) > 1""")
            cache = cache if cache is not None and self._write_twice(cache, where) else None
        (twice,) = self.con.execute("SELECT count(*) FROM _twice").fetchone() or (0,)
        self._spans_twice = int(twice)
        self._twice_where = where
        if twice:
            in_one_file = cache is None and (self.con.execute(
                "SELECT count(*) FROM (SELECT 1 FROM _spans_read WHERE " + where
                + " GROUP BY run_id, trace_id, span_id, file HAVING count(*) > 1)").fetchone()
                or (0,))[0]
            if in_one_file:  # a file holding a span twice: the key cannot tell the copies
                self.con.execute("""
CREATE OR REPLACE TABLE _spans_once AS SELECT * FROM _spans_read
QUALIFY row_number() OVER (PARTITION BY run_id, trace_id, span_id ORDER BY file) = 1""")
                self.con.execute("CREATE OR REPLACE VIEW _spans AS SELECT * FROM _spans_once")
            else:
                self.con.execute("""
CREATE OR REPLACE VIEW _spans AS SELECT * FROM _spans_read s
WHERE NOT EXISTS (SELECT 1 FROM _twice t WHERE t.trace_id = s.trace_id
                  AND t.span_id = s.span_id AND t.file = s.file
                  AND t.run_id IS NOT DISTINCT FROM s.run_id)""")
            self.stats.spans -= twice
            self.stats.note(f"{twice} spans were read more than once (same run, trace and "
                            "span id in several files); each is counted once")

    def _twice_cache(self, where: str) -> Path | None:
        """Where the duplicate check's answer is kept: in the index folder, named by the
        parts it was computed from; None when raw rows or several indexes take part."""
        if where == "TRUE" or len(self._parts) != 1 or self.run is not None:
            return None  # (one run's answer would replace the whole index's)
        _, root, parts = self._parts[0]
        key = hashlib.sha256("\n".join([str(root), *sorted(
            f"{p.path}:{p.first_start}:{p.last_start}" for p in parts)]).encode())
        return index_folder(Path(root)) / f"_twice-{key.hexdigest()[:20]}.parquet"

    def _read_twice(self, cache: Path) -> bool:
        if not cache.exists():
            return False
        try:
            self.con.execute("CREATE OR REPLACE TEMP TABLE _twice AS SELECT run_id, "
                             f"trace_id, span_id, file FROM read_parquet('{_sql_text(cache)}')")
            return True
        except duckdb.Error:  # unreadable (cut short, another version): computed again
            return False

    def _write_twice(self, cache: Path, where: str) -> bool:
        """Keep the answer (not when a file holds a span twice: its key cannot tell the
        copies apart, and the slow path decides); older answers are removed."""
        (in_one_file,) = self.con.execute(
            "SELECT count(*) FROM (SELECT 1 FROM _spans_read WHERE " + where
            + " GROUP BY run_id, trace_id, span_id, file HAVING count(*) > 1)").fetchone() or (0,)
        if in_one_file:
            return False
        temporary = cache.with_name(f".{cache.name}.{os.getpid()}")
        try:
            self.con.execute(f"COPY _twice TO '{_sql_text(temporary)}' (FORMAT parquet)")
            os.replace(temporary, cache)
            for old in cache.parent.glob("_twice-*.parquet"):
                if old != cache:
                    old.unlink(missing_ok=True)
            return True
        except (OSError, duckdb.Error):  # a read-only index: computed every time
            temporary.unlink(missing_ok=True)
            return False

    def _duplicate_windows(self) -> str | None:
        """SQL for the spans that may be duplicates; None when none can be."""
        (raw,) = self.con.execute(f"SELECT count(*) FROM {RAW}").fetchone() or (0,)
        if raw:
            return "TRUE"
        by_run: dict[str | None, list[Part]] = {}
        for _, _, parts in self._parts:
            for part in parts:
                by_run.setdefault(part.run_id, []).append(part)
        windows: list[str] = []
        for run, parts in by_run.items():
            parts.sort(key=lambda p: p.first_start)
            reach = None  # the latest start seen so far, and the part it belongs to
            for part in parts:
                if reach is not None and part.first_start <= reach:
                    high = min(reach, part.last_start)
                    same = "run_id IS NULL" if run is None else f"run_id = '{_sql_quote(run)}'"
                    windows.append(f"({same} AND start_ns BETWEEN {part.first_start} AND {high})")
                reach = part.last_start if reach is None else max(reach, part.last_start)
        return " OR ".join(windows) if windows else None

    def _indexed_trade_rows(self) -> bool:
        """The table ``_trade_rows`` from the index's trade rows (``trade_rows.py``), when
        every span was read from the index; False when the spans must be read instead.

        The index's rows were summed per file, so an ``events`` row can count a span read
        twice. Such rows only matter for a trade without a ``trade`` span (its figures
        are read from its events): those trades, if any span of theirs was read twice,
        have their rows made again from the spans, read once."""
        (raw,) = self.con.execute(f"SELECT count(*) FROM {RAW}").fetchone() or (0,)
        if raw or not self._parts:
            return False
        selects = []
        for _, _, parts in self._parts:
            listed = ", ".join(f"'{_sql_text(trade_part(p.path))}'" for p in parts)
            selects.append(f"SELECT * FROM read_parquet([{listed}], hive_partitioning = true, "
                           "hive_types = {'run_id': 'VARCHAR'})")
        self.con.execute("CREATE OR REPLACE TEMP TABLE _trade_rows AS "
                         + "\nUNION ALL BY NAME\n".join(selects))
        if not self._spans_twice:
            return True
        self.con.execute("""
CREATE OR REPLACE TEMP TABLE _from_events AS
SELECT trade_id FROM _trade_rows WHERE row_kind = 'events'
EXCEPT SELECT trade_id FROM _trade_rows WHERE row_kind = 'trade'""")
        (from_events,) = self.con.execute("SELECT count(*) FROM _from_events").fetchone() or (0,)
        if not from_events:
            return True
        self.con.execute(f"""
CREATE OR REPLACE TEMP TABLE _twice_trades AS
SELECT DISTINCT s.trade_id FROM _spans_read s SEMI JOIN _twice t
    ON s.trace_id = t.trace_id AND s.span_id = t.span_id AND s.file = t.file
    AND s.run_id IS NOT DISTINCT FROM t.run_id
WHERE ({self._twice_where}) AND s.trade_id IN (SELECT trade_id FROM _from_events)""")
        (again,) = self.con.execute("SELECT count(*) FROM _twice_trades").fetchone() or (0,)
        if again:
            self.con.execute("DELETE FROM _trade_rows WHERE trade_id IN "
                             "(SELECT trade_id FROM _twice_trades)")
            self.con.execute("INSERT INTO _trade_rows BY NAME " + trade_rows.rows_sql(
                "(SELECT * FROM _spans WHERE trade_id IN (SELECT trade_id FROM _twice_trades))"))
        return True

    # -- raw access -------------------------------------------------------------------

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of any SQL over the ``spans`` view (``self.con`` is the connection)."""
        return self.con.execute(query, params or []).fetchall()

    def _rows(self, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.con.execute(query, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def _empty_message(self) -> str:
        return "no spans loaded" + (f" ({self.stats.messages[-1]})" if self.stats.messages
                                    else "")

    def runs(self) -> list[str]:
        (raw,) = self.con.execute(f"SELECT count(*) FROM {RAW}").fetchone() or (0,)
        if not raw:  # every part holds spans of its run: no need to read them
            return sorted({p.run_id for _, _, parts in self._parts for p in parts
                           if p.run_id is not None})
        return [r[0] for r in self.con.execute(
            "SELECT DISTINCT run_id FROM _spans WHERE run_id IS NOT NULL ORDER BY 1"
        ).fetchall()]
