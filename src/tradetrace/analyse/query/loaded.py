"""Trace files loaded into one DuckDB connection, and SQL over them.

The base of :class:`~tradetrace.analyse.query.engine.TraceQuery`: it reads sources
(files, folders, globs, Jaeger URLs) through the one reader and ``_load.py`` into the
flat ``_spans`` table, counts what it skipped in ``stats``, and answers raw SQL. The
questions are asked by its subclasses (``causality.py``, ``trade_queries.py``,
``timing.py``, ``engine.py``).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from ..reader import ReadStats, trace_files
from ._load import Loader, Progress
from .remote import RemoteError, fetch_jaeger, is_remote

Sources = str | Path | Iterable[str | Path]


class LoadedSpans:
    """Spans of trace files in DuckDB (``con``), and what was read (``stats``)."""

    def __init__(self, sources: Sources, *, progress: Progress | None = None,
                 memory_limit: str | None = None) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET enable_progress_bar = false")  # ours is the CLI's, on stderr
        if memory_limit:
            if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit.strip()):
                raise ValueError(f"memory_limit {memory_limit!r}: expected a size like "
                                 "'2GB' or '512MiB'")
            self.con.execute(f"SET memory_limit = '{memory_limit.strip()}'")
        self.stats = ReadStats()
        self._fetched: list[str] = []  #: remote sources read
        self._loader = Loader(self.con, self.stats)
        self._cache: set[str] = set()
        self._sets: list[str] = []
        self._add(sources, 0, progress)

    def _add(self, sources: Sources, source_set: int, progress: Progress | None) -> None:
        listed = [sources] if isinstance(sources, (str, Path)) else list(sources)
        urls = [s for s in listed if isinstance(s, str) and "://" in s]
        paths = [s for s in listed if not (isinstance(s, str) and "://" in s)]
        files = trace_files(paths, self.stats) if paths else []
        with tempfile.TemporaryDirectory(prefix="tradetrace-query-") as fetched:
            files += self._fetch(urls, Path(fetched))  # loaded before the folder goes
            self.stats.files_total += len(files)
            self._loader.load(files, source_set, progress)
        self._cache.clear()
        self._drop_duplicates()
        if not files:
            self.stats.note("no trace files found: every query returns an empty result")

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
        Collector's) counts once; how many were dropped is said."""
        twice = self.sql("SELECT count(*) - count(DISTINCT (trace_id, span_id)) "
                         "FROM _spans")[0][0]
        if twice:
            self.con.execute("""
CREATE OR REPLACE TABLE _spans AS SELECT * FROM _spans
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY file) = 1""")
            self.stats.spans -= twice
            self.stats.note(f"{twice} spans were read more than once (same trace and span "
                            "id in several files); each is counted once")

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
        return [r[0] for r in self.con.execute(
            "SELECT DISTINCT run_id FROM _spans WHERE run_id IS NOT NULL ORDER BY 1"
        ).fetchall()]
