"""Loading OTLP JSON trace files into one flat DuckDB table, ``_spans``.

Which files, and the rules for lines and what was skipped, are the one reader's
(``analyse/reader.py``); this module is its DuckDB side. DuckDB's JSON reader parses each
file with an explicit schema (no sampling, so a file whose first lines are odd is read
the same as any other) and UNNEST flattens resourceSpans -> scopeSpans -> spans into one
row per span: Python never sees a span.

With ``ignore_errors`` DuckDB turns a line it cannot parse into a row of NULLs: such rows
are counted as bad lines (as are JSON lines that are not OTLP requests), metric lines
(``resourceMetrics``) are counted apart and never as bad, and both are deleted once
counted. A file DuckDB cannot read (a gzip stream that ends early) is read through the
reader's ``read_lines``, whose readable lines go to a temporary file loaded in its place.
So is a file the reader would read otherwise: a plain file holding a line over
``MAX_LINE_BYTES`` (DuckDB 2.0 reads such a line whole, up to its buffer), found by a scan
of files larger than the cap, and a file whose bad lines hold bytes that are not UTF-8
(the reader reads them as U+FFFD, DuckDB drops the line). Only in a ``.gz`` file is a
line over the cap still read by DuckDB; no writer we know comes near it.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb

from ... import conventions as conv
from .. import reader
from ..reader import ReadStats, UnreadableFile, first_line, open_raw, read_lines

Progress = Callable[[int, int], None]


# -- schema and SQL -----------------------------------------------------------------------

_VALUE = (
    "STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue DOUBLE, boolValue BOOLEAN,"
    " arrayValue JSON, kvlistValue JSON, bytesValue VARCHAR)"
)
_ATTRS = f"STRUCT(key VARCHAR, value {_VALUE})[]"
_SPAN = (
    "STRUCT(traceId VARCHAR, spanId VARCHAR, parentSpanId VARCHAR, name VARCHAR,"
    " kind INTEGER, startTimeUnixNano VARCHAR, endTimeUnixNano VARCHAR,"
    f" attributes {_ATTRS}, links STRUCT(traceId VARCHAR, spanId VARCHAR,"
    f" attributes {_ATTRS})[], status STRUCT(code INTEGER, message VARCHAR))"
)
# The scope is not kept (no column needs it), so the pre-1.0 instrumentationLibrarySpans
# has the same type as scopeSpans and stands in for it, as in the plain reader.
_SCOPE_SPANS = f"STRUCT(spans {_SPAN}[])[]"
_RESOURCE_SPANS = (
    f"STRUCT(resource STRUCT(attributes {_ATTRS}), scopeSpans {_SCOPE_SPANS},"
    f" instrumentationLibrarySpans {_SCOPE_SPANS})[]"
)
_COLUMNS = {"resourceSpans": _RESOURCE_SPANS, "resourceMetrics": "JSON"}

# An attribute value as text: intValue is a string in OTLP JSON already; arrays and
# kvlists stay their JSON text. Typed columns cast this text back (TRY_CAST).
_TEXT = (
    "coalesce(a.value.stringValue, a.value.intValue, CAST(a.value.doubleValue AS VARCHAR),"
    " CAST(a.value.boolValue AS VARCHAR), CAST(a.value.arrayValue AS VARCHAR),"
    " CAST(a.value.kvlistValue AS VARCHAR), a.value.bytesValue)"
)


def attr(name: str, keys: str = "attr_keys", values: str = "attr_values") -> str:
    """SQL for one attribute's text value (NULL when absent), by linear key lookup.

    Two parallel lists and ``list_position`` are cheaper than building a MAP per span.
    """
    return f"{values}[list_position({keys}, '{name}')]"


#: (column, attribute) read from every span's attributes into their own columns.
SPAN_COLUMNS = (
    ("event_type", conv.EVENT_TYPE),
    ("container_id", conv.CONTAINER_ID),
    ("source_id", conv.SOURCE_ID),
    ("event_id", conv.EVENT_ID),
    ("causation_id", conv.CAUSATION_ID),
    ("trade_id", conv.TRADE_ID),
    ("handler_name", conv.HANDLER_NAME),
    ("symbol", conv.SYMBOL),
    ("strategy_id", conv.STRATEGY_ID),
    ("order_id", conv.ORDER_ID),
    ("sim_time", conv.SIM_TIME),
    ("trade_outcome", conv.TRADE_OUTCOME),
)

CREATE_TABLE = """
CREATE TABLE {table} (
    file VARCHAR, trace_id VARCHAR, span_id VARCHAR, parent_id VARCHAR, name VARCHAR,
    kind INTEGER, start_ns BIGINT, end_ns BIGINT, duration_ns BIGINT,
    status_code INTEGER, status_message VARCHAR,
    run_id VARCHAR, worker_id VARCHAR, service_name VARCHAR,
    event_type VARCHAR, container_id VARCHAR, source_id VARCHAR, event_id VARCHAR,
    causation_id VARCHAR, trade_id VARCHAR, handler_name VARCHAR, symbol VARCHAR,
    strategy_id VARCHAR, order_id VARCHAR, sim_time VARCHAR, trade_outcome VARCHAR,
    trade_pnl DOUBLE, causation_derived BOOLEAN,
    attr_keys VARCHAR[], attr_values VARCHAR[],
    links STRUCT(trace_id VARCHAR, span_id VARCHAR, relation VARCHAR)[],
    source_set INTEGER, row_state VARCHAR
)
"""

# The public view: `attributes` as a MAP, built only when a query selects it. Keys are
# de-duplicated (the first value wins) because MAP refuses duplicate keys.
CREATE_VIEW = """
CREATE OR REPLACE VIEW spans AS SELECT * EXCLUDE (attr_keys, attr_values),
    CASE WHEN len(list_distinct(attr_keys)) = len(attr_keys) THEN map(attr_keys, attr_values)
         ELSE map(list_distinct(attr_keys), list_transform(list_distinct(attr_keys),
                  lambda k: attr_values[list_position(attr_keys, k)]))
    END AS attributes
FROM _spans
"""


def _insert_sql(source_set: int, table: str = "_spans", object_size: int | None = None) -> str:
    """SQL loading files into ``table``; ``object_size``: the longest line DuckDB is to
    expect (the cap when unknown). DuckDB reads a file in buffers sized by it, so a
    smaller one, where the lines are known to be short, parses a file on several threads
    at once and in less memory (a 100 MB file of 260 KB lines: 0.26 s instead of 0.40 s)."""
    keys = "list_transform(sp.attributes, lambda a: a.key)"
    values = f"list_transform(sp.attributes, lambda a: {_TEXT})"
    res_keys = "list_transform(r.resource.attributes, lambda a: a.key)"
    res_values = f"list_transform(r.resource.attributes, lambda a: {_TEXT})"
    columns = ",\n    ".join(
        f"{attr(attribute, 'k', 'v')} AS {column}" for column, attribute in SPAN_COLUMNS
    )
    relation = (
        "list_filter(l.attributes, lambda a: a.key = "
        f"'{conv.LINK_RELATION}')[1].value.stringValue"
    )
    return f"""
INSERT INTO {table} BY NAME
WITH lines AS (
    SELECT filename, resourceSpans, resourceMetrics
    FROM read_json(?, format='newline_delimited', columns={_COLUMNS!r},
                   ignore_errors=true, maximum_object_size={object_size or reader.MAX_LINE_BYTES},
                   filename=true)
),
rs AS (
    SELECT filename, resourceSpans IS NOT NULL AS ok, resourceMetrics IS NOT NULL AS metric,
           unnest(CASE WHEN resourceSpans IS NULL THEN [NULL] ELSE resourceSpans END) AS r
    FROM lines
),
ss AS (
    SELECT filename, ok, metric, {res_keys} AS rk, {res_values} AS rv,
           unnest(CASE WHEN ok THEN coalesce(r.scopeSpans, r.instrumentationLibrarySpans)
                       ELSE [NULL] END) AS s
    FROM rs
),
sp AS (
    SELECT filename, ok, metric, rk, rv, unnest(CASE WHEN ok THEN s.spans ELSE [NULL] END) AS sp
    FROM ss
),
flat AS (
    SELECT filename, ok, metric, rk, rv, sp, {keys} AS k, {values} AS v,
           TRY_CAST(sp.startTimeUnixNano AS BIGINT) AS s_ns,
           TRY_CAST(sp.endTimeUnixNano AS BIGINT) AS e_ns
    FROM sp
)
SELECT
    coalesce(?, filename) AS file,
    lower(sp.traceId) AS trace_id, lower(sp.spanId) AS span_id,
    lower(nullif(sp.parentSpanId, '')) AS parent_id,
    coalesce(sp.name, '') AS name, sp.kind AS kind,
    s_ns AS start_ns, e_ns AS end_ns, e_ns - s_ns AS duration_ns,
    coalesce(sp.status.code, 0) AS status_code, sp.status.message AS status_message,
    {attr(conv.RUN_ID, 'rk', 'rv')} AS run_id,
    {attr(conv.WORKER_ID, 'rk', 'rv')} AS worker_id,
    {attr('service.name', 'rk', 'rv')} AS service_name,
    {columns},
    TRY_CAST({attr(conv.TRADE_PNL, 'k', 'v')} AS DOUBLE) AS trade_pnl,
    TRY_CAST({attr(conv.CAUSATION_DERIVED, 'k', 'v')} AS BOOLEAN) AS causation_derived,
    k AS attr_keys, v AS attr_values,
    coalesce(list_transform(sp.links, lambda l: {{'trace_id': lower(l.traceId),
        'span_id': lower(l.spanId), 'relation': {relation}}}), []) AS links,
    {int(source_set)} AS source_set,
    CASE WHEN NOT ok AND metric THEN 'metric'
         WHEN NOT ok THEN 'bad_line'
         WHEN coalesce(sp.traceId, '') = '' OR coalesce(sp.spanId, '') = ''
              OR s_ns IS NULL OR e_ns IS NULL THEN 'bad_span'
         ELSE 'span' END AS row_state
FROM flat
"""


# -- loading ------------------------------------------------------------------------------


class Loader:
    """Loads files into ``table`` (``_spans``, or the index's staging table) of one
    connection, counting into ``stats``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, stats: ReadStats,
                 table: str = "_spans") -> None:
        self.con = con
        self.stats = stats
        self.table = table
        #: files skipped for want of memory, not for what they hold (tried again later)
        self.too_large: list[str] = []
        self._by_lines: set[str] = set()  #: files loaded through the reader's lines
        self._utf8_checked: set[str] = set()
        con.execute(CREATE_TABLE.format(table=table))

    def batch_size(self) -> int:
        # DuckDB reads the files of one statement in parallel, one file per thread: a
        # statement per file would leave cores idle.
        (threads,) = self.con.execute("SELECT current_setting('threads')").fetchone() or (2,)
        return max(2, int(threads))

    def load(self, files: list[Path], source_set: int = 0, progress: Progress | None = None,
             done: int = 0, total: int | None = None) -> int:
        total = len(files) if total is None else total
        size = self.batch_size()
        for first in range(0, len(files), size):
            batch = files[first:first + size]
            self.insert(batch, source_set)
            done += len(batch)
            if progress is not None:
                try:
                    progress(done, total)
                except Exception as exc:  # a broken progress bar must not stop loading
                    self.stats.note(f"progress callback failed ({exc!r}); ignored")
                    progress = None
        self.count_and_clear()
        return done

    def insert(self, batch: list[Path], source_set: int = 0) -> None:
        """Rows of ``batch`` into the table, skipped lines and spans still in it (marked
        by ``row_state``) until :meth:`count_and_clear`."""
        self._load_batch(batch, source_set)
        self._reread_not_utf8()

    def file_counts(self) -> dict[str, dict[str, int]]:
        """Rows in the table by file and ``row_state`` (span, bad_line, bad_span, metric)."""
        counts: dict[str, dict[str, int]] = {}
        for file, state, count in self.con.execute(
                f"SELECT file, row_state, count(*) FROM {self.table} GROUP BY ALL").fetchall():
            counts.setdefault(file, {})[state] = int(count)
        return counts

    def _load_batch(self, batch: list[Path], source_set: int) -> None:
        longest = {p: _longest_line(p) for p in batch}
        cap = reader.MAX_LINE_BYTES
        for path in batch:  # DuckDB would read the long line whole, into memory
            if (longest[path] or 0) > cap:
                self._load_lines(path, _insert_sql(source_set, self.table))
        batch = [p for p in batch if (longest[p] or 0) <= cap]
        if not batch:
            return
        # twice the longest line (a growing file's next lines are much like its last),
        # at least 1 MiB; the cap when a file's lines were not measured (gzip)
        measured = [longest[p] for p in batch]
        size = cap if None in measured else min(
            cap, max(SMALLEST_OBJECT, 2 * max(n or 0 for n in measured)))
        sql = _insert_sql(source_set, self.table, size)
        try:
            self.con.execute(sql, [[str(p) for p in batch], None])
        except duckdb.Error:
            for path in batch:  # one of them is broken: find which, keep the others
                self._load_file(path, sql)
            return
        self.stats.files_read += len(batch)

    def _load_file(self, path: Path, sql: str) -> None:
        try:
            self.con.execute(sql, [[str(path)], str(path)])
        except duckdb.OutOfMemoryException:
            self._too_large(path)
            return
        except duckdb.Error:
            self._load_lines(path, sql)
            return
        self.stats.files_read += 1

    def _too_large(self, path: Path) -> None:
        (limit,) = self.con.execute("SELECT current_setting('memory_limit')").fetchone() or ("",)
        self.too_large.append(str(path))
        self.stats.skip_file(path, f"too large to read within the memory limit ({limit}); "
                             "give a larger one (--memory-limit)")

    def _load_lines(self, path: Path, sql: str) -> bool:
        """What the reader can read of ``path`` (up to a gzip break, without lines it
        counts as bad), through a temporary file; the spans keep ``path`` as their file."""
        self._by_lines.add(str(path))
        fd, tmp = tempfile.mkstemp(suffix=".jsonl", prefix="tradetrace-query-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for _, text in read_lines(path, self.stats):
                    out.write(text.rstrip("\r\n"))
                    out.write("\n")
            self.con.execute(sql, [[tmp], str(path)])
        except duckdb.OutOfMemoryException:
            self._too_large(path)
            return False
        except (UnreadableFile, OSError, duckdb.Error) as exc:
            self.stats.skip_file(path, f"unreadable ({first_line(exc)})")
            return False
        finally:
            os.unlink(tmp)
        self.stats.files_read += 1
        return True

    def _reread_not_utf8(self) -> None:
        """Files whose bad lines hold bytes that are not UTF-8, loaded again through the
        reader, which keeps such a line (U+FFFD for the bytes) where DuckDB drops it."""
        for file, source_set in self.con.execute(
                f"SELECT DISTINCT file, source_set FROM {self.table} "
                "WHERE row_state = 'bad_line'").fetchall():
            if file in self._by_lines or file in self._utf8_checked:
                continue
            self._utf8_checked.add(file)
            if not _has_bytes_not_utf8(Path(file)):
                continue
            self.con.execute(f"DELETE FROM {self.table} WHERE file = ? AND source_set = ?",
                             [file, source_set])
            self.stats.files_read -= 1  # counted again by _load_lines when it reads it
            self._load_lines(Path(file), _insert_sql(source_set, self.table))

    def count_and_clear(self) -> None:
        rows = self.con.execute(
            f"SELECT file, row_state, count(*) FROM {self.table} WHERE row_state <> 'span' "
            "GROUP BY ALL ORDER BY file"
        ).fetchall()
        for file, state, count in rows:
            if state == "bad_line":
                self.stats.bad_lines_in(file, count)
            elif state == "bad_span":
                self.stats.bad_spans_in(file, count)
            elif state == "metric":
                self.stats.metric_lines += count
        self.con.execute(f"DELETE FROM {self.table} WHERE row_state <> 'span'")
        (spans,) = self.con.execute(f"SELECT count(*) FROM {self.table}").fetchone() or (0,)
        self.stats.spans = int(spans)


#: The least ``maximum_object_size`` given to DuckDB.
SMALLEST_OBJECT = 1 << 20


def _longest_line(path: Path) -> int | None:
    """The longest line of a plain file, in bytes (a scan for newlines, a chunk at a
    time: about 30 ms per 100 MB from the page cache, which DuckDB then reads from);
    None for a gzip file or one that cannot be read (said when DuckDB or the reader
    tries it)."""
    if path.name.endswith(".gz"):
        return None
    longest = run = 0  # run: bytes since the last newline
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                start = 0
                while (newline := chunk.find(b"\n", start)) != -1:
                    longest = max(longest, run + newline - start)
                    run, start = 0, newline + 1
                run += len(chunk) - start
    except OSError:
        return None
    return max(longest, run)


def _has_bytes_not_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open_raw(path) as raw:
            while chunk := raw.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return True
    except OSError:
        return False
    return False
