"""The viewer's one :class:`TraceQuery`, kept up to date with the trace files.

DuckDB connections are not thread-safe, so every page asks its questions inside
:meth:`Traces.session`, which holds one lock. On entry, at most every
``check_seconds``, the trace files under the sources are listed with their sizes and
modification times; when that list changed (a live run wrote more), the query is made
again, which brings the run index up to date (only the changed files are indexed). What
pages keep between requests (the runs, the latency tables) is kept per ``generation``
and dropped with the query it came from.

A page about one run asks a query of that run alone (``TraceQuery(..., run=)``: only its
folder of the index is read), kept for the few runs asked last: at 10M spans in 33 runs,
one run's latency figures take a fraction of a second where every run's took 20 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..analyse.query import TraceQuery
from ..analyse.reader import ReadStats, is_metrics, trace_files

T = TypeVar("T")
KEPT_RUNS = 4  #: one run's queries kept at a time
Fingerprint = tuple[tuple[str, int, int], ...]


class Traces:
    """The sources, their current query and what was computed from it."""

    def __init__(self, sources: Sequence[str | Path], *, check_seconds: float = 1.5,
                 factory: Callable[..., TraceQuery] = TraceQuery) -> None:
        self.sources = [str(s) for s in sources]
        self.check_seconds = check_seconds
        self.generation = 0  #: how many times the query was made
        self._factory = factory
        self._lock = threading.RLock()
        self._query: TraceQuery | None = None
        self._seen: Fingerprint | None = None
        self._checked = 0.0
        self._kept: dict[str, Any] = {}
        self._runs: dict[str, TraceQuery] = {}  #: one run's queries, the last asked last

    def fingerprint(self) -> Fingerprint:
        """Every trace and metrics file under the sources, with its size and mtime."""
        out = []
        for path in trace_files(self.sources, ReadStats(), metrics=True):
            try:
                st = path.stat()
            except OSError:  # removed between the listing and now: seen next time
                continue
            out.append((str(path), st.st_size, st.st_mtime_ns))
        return tuple(out)

    def metrics_files(self) -> list[Path]:
        return [p for p in trace_files(self.sources, ReadStats(), metrics=True)
                if is_metrics(p)]

    @contextmanager
    def session(self, run: str | None = None) -> Iterator[TraceQuery]:
        """The current query (of one run's spans, with ``run``), for this thread alone
        until the block ends."""
        with self._lock:
            now = time.monotonic()
            if self._query is None or now - self._checked >= self.check_seconds:
                self._checked = now
                seen = self.fingerprint()
                if self._query is None or seen != self._seen:
                    self._query = self._factory(list(self.sources))
                    self._seen = seen
                    self._kept.clear()
                    self._runs.clear()
                    self.generation += 1
            if run is None:
                yield self._query
                return
            query = self._runs.pop(run, None)
            if query is None:
                query = self._factory(list(self.sources), run=run)
                while len(self._runs) >= KEPT_RUNS:
                    self._runs.pop(next(iter(self._runs)))
            self._runs[run] = query
            yield query

    def kept(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per generation of the query (call inside a session)."""
        with self._lock:
            if key not in self._kept:
                self._kept[key] = compute()
            value: T = self._kept[key]
            return value
