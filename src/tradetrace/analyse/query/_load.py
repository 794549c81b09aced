"""Loading OTLP JSON trace files into one flat DuckDB table, ``_spans``.

DuckDB's JSON reader parses each file with an explicit schema (no sampling, so a file
whose first lines are odd is read the same as any other) and UNNEST flattens
resourceSpans -> scopeSpans -> spans into one row per span. Python never sees a span.

Each file is loaded on its own, so one broken file costs only itself and ``progress``
can report per file. With ``ignore_errors`` DuckDB turns a line it cannot parse into a
row of NULLs: such rows are counted as bad lines (as are JSON lines that are not OTLP
requests), metric lines (``resourceMetrics``) are counted apart and never as bad, and
both are deleted once counted. A gzip stream that ends early (a file still being written,
a copy cut short) is decompressed by a streaming pre-pass into a temporary file up to
where it breaks, and that part is loaded.
"""

from __future__ import annotations

import glob
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ... import conventions as conv

Progress = Callable[[int, int], None]

#: Files a folder is searched for (the Collector's rotated sets are ``*.json``).
TRACE_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
#: Compressions we recognise but cannot read: skipped with a message, never an error.
UNSUPPORTED_COMPRESSION = (".zst", ".zstd", ".bz2", ".xz", ".lz4", ".snappy")
_MAX_MESSAGES = 50
#: Longest line read (one OTLP request). DuckDB sizes its read buffers from this, per
#: thread: 2 GiB made a 75 MB file need 3.9 GiB. Ours are under 1 MiB; a Collector
#: batch of thousands of spans is a few MiB. A longer line fails its file, with a message.
MAX_LINE_BYTES = 64 * 1024 * 1024


@dataclass
class QueryStats:
    """What loading found: files, spans, and everything skipped, with reasons."""

    files_total: int = 0  #: trace files found in the sources
    files_read: int = 0
    spans: int = 0
    bad_lines: int = 0  #: not JSON, truncated, or not an OTLP request; skipped
    bad_spans: int = 0  #: span objects without trace id, span id or times; skipped
    metric_lines: int = 0  #: resourceMetrics lines; skipped, never counted as bad
    skipped_files: list[str] = field(default_factory=list)
    skipped_sources: list[str] = field(default_factory=list)  #: URLs, missing paths
    messages: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        if len(self.messages) < _MAX_MESSAGES:
            self.messages.append(message)
        elif len(self.messages) == _MAX_MESSAGES:
            self.messages.append("(further messages left out)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- sources ------------------------------------------------------------------------------


def expand_sources(sources: str | Path | Iterable[str | Path], stats: QueryStats) -> list[Path]:
    """Files, folders (recursively) and globs into a sorted, de-duplicated list of files.

    Metrics files (``*-metrics.jsonl``) are left out; URLs and compressions we cannot
    read are skipped with a message in ``stats``.
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    found: list[Path] = []
    for source in sources:
        text = str(source)
        path = Path(text)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
            if not any(_is_trace(p) or _is_compressed_other(p) for p in candidates):
                stats.note(f"{text}: folder holds no trace files (*.json, *.jsonl, .gz)")
            for candidate in candidates:
                if _is_compressed_other(candidate):
                    _skip_file(candidate, stats, "compression not supported (plain or .gz)")
                elif _is_trace(candidate):
                    found.append(candidate)
        elif path.is_file():
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            files = [p for p in matches if p.is_file()]
            if not files:
                stats.skipped_sources.append(text)
                stats.note(f"{text}: no such file, folder or matching glob; skipped")
            found.extend(files)
    result: list[Path] = []
    for path in dict.fromkeys(found):
        if _is_metrics(path):
            continue
        if _is_compressed_other(path):
            _skip_file(path, stats, "compression not supported (plain or .gz)")
            continue
        result.append(path)
    return result


def _is_trace(path: Path) -> bool:
    return path.name.endswith(TRACE_SUFFIXES) and not _is_metrics(path)


def _is_metrics(path: Path) -> bool:
    return path.name.endswith(("-metrics.jsonl", "-metrics.jsonl.gz"))


def _is_compressed_other(path: Path) -> bool:
    return path.name.endswith(UNSUPPORTED_COMPRESSION)


def _skip_file(path: Path, stats: QueryStats, reason: str) -> None:
    if str(path) not in stats.skipped_files:
        stats.skipped_files.append(str(path))
        stats.note(f"{path}: {reason}; skipped")


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
_RESOURCE_SPANS = (
    f"STRUCT(resource STRUCT(attributes {_ATTRS}), scopeSpans STRUCT(scope STRUCT("
    f"name VARCHAR, version VARCHAR), spans {_SPAN}[])[])[]"
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
)

CREATE_TABLE = """
CREATE TABLE _spans (
    file VARCHAR, trace_id VARCHAR, span_id VARCHAR, parent_id VARCHAR, name VARCHAR,
    kind INTEGER, start_ns BIGINT, end_ns BIGINT, duration_ns BIGINT,
    status_code INTEGER, status_message VARCHAR,
    run_id VARCHAR, worker_id VARCHAR, service_name VARCHAR,
    event_type VARCHAR, container_id VARCHAR, source_id VARCHAR, event_id VARCHAR,
    causation_id VARCHAR, trade_id VARCHAR, handler_name VARCHAR, symbol VARCHAR,
    strategy_id VARCHAR, order_id VARCHAR, causation_derived BOOLEAN,
    attr_keys VARCHAR[], attr_values VARCHAR[],
    links STRUCT(trace_id VARCHAR, span_id VARCHAR, relation VARCHAR)[],
    source_set INTEGER, row_state VARCHAR
)
"""

# The public view: `attributes` as a MAP, built only when a query selects it. Keys are
# de-duplicated (the first value wins) because MAP refuses duplicate keys.
CREATE_VIEW = """
CREATE VIEW spans AS SELECT * EXCLUDE (attr_keys, attr_values, row_state),
    CASE WHEN len(list_distinct(attr_keys)) = len(attr_keys) THEN map(attr_keys, attr_values)
         ELSE map(list_distinct(attr_keys), list_transform(list_distinct(attr_keys),
                  lambda k: attr_values[list_position(attr_keys, k)]))
    END AS attributes
FROM _spans
"""


def _insert_sql(source_set: int) -> str:
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
INSERT INTO _spans BY NAME
WITH lines AS (
    SELECT filename, resourceSpans, resourceMetrics
    FROM read_json(?, format='newline_delimited', columns={_COLUMNS!r},
                   ignore_errors=true, maximum_object_size={MAX_LINE_BYTES}, filename=true)
),
rs AS (
    SELECT filename, resourceSpans IS NOT NULL AS ok, resourceMetrics IS NOT NULL AS metric,
           unnest(CASE WHEN resourceSpans IS NULL THEN [NULL] ELSE resourceSpans END) AS r
    FROM lines
),
ss AS (
    SELECT filename, ok, metric, {res_keys} AS rk, {res_values} AS rv,
           unnest(CASE WHEN ok THEN r.scopeSpans ELSE [NULL] END) AS s
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
    """Loads files into ``_spans`` of one connection, counting into ``stats``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, stats: QueryStats) -> None:
        self.con = con
        self.stats = stats
        con.execute(CREATE_TABLE)
        con.execute(CREATE_VIEW)

    def load(self, files: list[Path], source_set: int = 0, progress: Progress | None = None,
             done: int = 0, total: int | None = None) -> int:
        total = len(files) if total is None else total
        sql = _insert_sql(source_set)
        # DuckDB reads the files of one statement in parallel, one file per thread: a
        # statement per file would leave cores idle.
        (threads,) = self.con.execute("SELECT current_setting('threads')").fetchone() or (2,)
        size = max(2, int(threads))
        for first in range(0, len(files), size):
            batch = files[first:first + size]
            self._load_batch(batch, sql)
            done += len(batch)
            if progress is not None:
                try:
                    progress(done, total)
                except Exception as exc:  # a broken progress bar must not stop loading
                    self.stats.note(f"progress callback failed ({exc!r}); ignored")
                    progress = None
        self._count_and_clear()
        return done

    def _load_batch(self, batch: list[Path], sql: str) -> None:
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
        except duckdb.Error as exc:
            if path.name.endswith(".gz") and _gzip_broken(exc):
                self._load_broken_gzip(path, sql)
                return
            _skip_file(path, self.stats, f"unreadable ({_first_line(exc)})")
            return
        self.stats.files_read += 1

    def _load_broken_gzip(self, path: Path, sql: str) -> None:
        """Decompress what can be, streaming, into a temporary file; load that part."""
        fd, tmp = tempfile.mkstemp(suffix=".jsonl", prefix="tradetrace-query-")
        try:
            with os.fdopen(fd, "wb") as out:
                error = _copy_gzip_prefix(path, out)
            self.con.execute(sql, [[tmp], str(path)])
        except (OSError, duckdb.Error) as exc:
            _skip_file(path, self.stats, f"unreadable ({_first_line(exc)})")
            return
        finally:
            os.unlink(tmp)
        self.stats.files_read += 1
        self.stats.note(f"{path}: compressed stream is cut short ({error}); the lines "
                        "before the break were read, a cut last line counts as bad")

    def _count_and_clear(self) -> None:
        rows = self.con.execute(
            "SELECT file, row_state, count(*) FROM _spans WHERE row_state <> 'span' "
            "GROUP BY ALL ORDER BY file"
        ).fetchall()
        for file, state, count in rows:
            if state == "bad_line":
                self.stats.bad_lines += count
                self.stats.note(f"{file}: {count} line(s) not valid OTLP JSON (truncated, "
                                "corrupt, or not a trace request); skipped")
            elif state == "bad_span":
                self.stats.bad_spans += count
                self.stats.note(f"{file}: {count} span(s) without trace id, span id or "
                                "times; skipped")
            elif state == "metric":
                self.stats.metric_lines += count
        self.con.execute("DELETE FROM _spans WHERE row_state <> 'span'")
        (spans,) = self.con.execute("SELECT count(*) FROM _spans").fetchone() or (0,)
        self.stats.spans = int(spans)


def _gzip_broken(exc: Exception) -> bool:
    text = str(exc).lower()
    return "gzip" in text or "decompress" in text or "end of" in text


def _copy_gzip_prefix(path: Path, out: Any) -> str:
    """Copy the decompressed bytes of ``path`` to ``out`` until the stream breaks.

    zlib by hand rather than ``gzip.open``: its read() loses the bytes it decompressed
    before the error; here every byte before the break is written.
    """
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 16):
                while chunk:
                    out.write(decompressor.decompress(chunk))
                    chunk = b""
                    if decompressor.eof:  # a multi-member file: the next member
                        chunk = decompressor.unused_data
                        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    except zlib.error as exc:
        return f"corrupt data: {exc}"
    if not decompressor.eof:
        out.write(decompressor.flush())
        return "the stream ends before its end marker"
    return "no error on a second read"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
