"""The viewer's one :class:`TraceQuery`, kept up to date with the trace files.

DuckDB connections are not thread-safe, so every page asks its questions inside
:meth:`Traces.session`, which holds that query's lock (each query has its own: a slow
page over every run, asked apart, never holds up the trades pages). On entry, at most every
``check_seconds``, the trace files under the sources are listed with their sizes and
modification times; when that list changed (a live run wrote more), the query is made
again, which brings the run index up to date (only the changed files are indexed). What
pages keep between requests (the runs, the latency tables) is kept per ``generation``
and dropped with the query it came from.

A page about one run asks a query of that run alone (``TraceQuery(..., run=)``: only its
folder of the index is read), kept for the few runs asked last: at 10M spans in 33 runs,
one run's latency figures take a fraction of a second where every run's took 20 s.
Pages over every run that take long (latency, why no trade) ask a query of their own
(``apart``), so the trades and trade pages go on answering meanwhile.
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
        self._lock = threading.RLock()  #: the bookkeeping below, never held for a question
        self._query: TraceQuery | None = None
        self._query_lock = threading.Lock()
        self._seen: Fingerprint | None = None
        self._checked = 0.0
        self._kept: dict[str, Any] = {}
        #: one run's queries ("": every run's, apart), each with its lock, the last asked last
        self._runs: dict[str, tuple[TraceQuery, threading.Lock]] = {}

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
    def session(self, run: str | None = None, *, apart: bool = False
                ) -> Iterator[TraceQuery]:
        """The current query (of one run's spans, with ``run``; of every run but apart
        from the pages' own, with ``apart``), for this thread alone until the block ends."""
        with self._lock:
            now = time.monotonic()
            if self._query is None or now - self._checked >= self.check_seconds:
                self._checked = now
                seen = self.fingerprint()
                if self._query is None or seen != self._seen:
                    self._query = self._factory(list(self.sources))
                    self._query_lock = threading.Lock()
                    self._seen = seen
                    self._kept.clear()
                    self._runs.clear()
                    self.generation += 1
            if run is None and not apart:
                query, lock = self._query, self._query_lock
            else:
                key = run or ""
                scope = self._runs.pop(key, None)
                if scope is None:
                    scope = (self._factory(list(self.sources), **(
                        {"run": run} if run is not None else {})), threading.Lock())
                    while len(self._runs) >= KEPT_RUNS:
                        self._runs.pop(next(iter(self._runs)))
                self._runs[key] = scope
                query, lock = scope
        with lock:
            yield query

    def kept(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per generation of the query (call inside the session of the
        query it asks: its lock keeps a second asker waiting until the first has kept it)."""
        with self._lock:
            if key in self._kept:
                found: T = self._kept[key]
                return found
            generation = self.generation
        value = compute()
        with self._lock:
            if generation == self.generation:  # not computed from a query since replaced
                self._kept[key] = value
        return value
