"""`tradetrace summary` (plain Python) and `TraceQuery` (DuckDB) read trace files by the
one reader's rules (analyse/reader.py): the same files, spans and skips, for every kind
of line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tradetrace.analyse import reader
from tradetrace.analyse.reader import ReadStats, read_spans
from tradetrace.analyse.summary import summarize
from tradetrace.query import TraceQuery

from .test_reader import line, span, write_lines

COUNTS = ("files_total", "files_read", "spans", "bad_lines", "bad_spans", "metric_lines",
          "skipped_files", "skipped_sources")


def spans_line(first: int, count: int) -> str:
    return line(*(span(f"s{i}", span_id=f"{i:016x}") for i in range(first, first + count)))


def both(sources: list[Any]) -> tuple[set[tuple[str, str]], ReadStats,
                                      set[tuple[str, str]], ReadStats]:
    """The (trace id, span id) pairs and stats of the plain reader and of the query."""
    stats = ReadStats()
    plain = {(s.trace_id, s.span_id) for s in read_spans(sources, stats)}
    query = TraceQuery(sources)
    loaded = set(query.sql("SELECT trace_id, span_id FROM spans"))
    return plain, stats, loaded, query.stats


def counts(stats: ReadStats) -> dict[str, Any]:
    return {name: getattr(stats, name) for name in COUNTS}


def test_summary_and_query_see_the_same_spans_and_skips_in_one_folder(tmp_path: Path) -> None:
    good, bad_span = spans_line(1, 3), span("no ids", span_id="")
    write_lines(tmp_path / "a.jsonl", [good, good[:50], line(span("x", span_id="f" * 16),
                                                             bad_span),
                                       '{"resourceMetrics": []}'])
    write_lines(tmp_path / "sub" / "b.jsonl.gz", [spans_line(10, 2)])
    whole = gzip.compress("".join(spans_line(100 + 5 * i, 5) + "\n"
                                  for i in range(400)).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: len(whole) * 2 // 3])
    (tmp_path / "x.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    (tmp_path / "run-metrics.jsonl").write_text('{"resourceMetrics": []}\n')

    plain, stats, loaded, query = both([tmp_path])

    assert plain == loaded
    assert counts(stats) == counts(query)
    assert stats.files_total == stats.files_read == 3  # not the .zst, not the metrics file
    assert stats.skipped_files == [str(tmp_path / "x.jsonl.zst")]
    assert stats.bad_lines == 2  # a.jsonl's half line and the cut gzip's last line
    assert (stats.bad_spans, stats.metric_lines) == (1, 1)
    assert 3 + 1 + 2 + 5 < stats.spans < 3 + 1 + 2 + 5 * 400  # the gzip up to its break
    for messages in (stats.messages, query.messages):
        assert any(m.startswith(f"{tmp_path / 'cut.jsonl.gz'}: compressed stream is cut short")
                   for m in messages)
    summary = summarize([tmp_path])  # reads the metrics file too, and nothing else more
    assert summary.files == stats.files_read + 1
    assert (summary.spans, summary.skipped_lines, summary.skipped_spans) == (
        stats.spans, stats.bad_lines, stats.bad_spans)
    assert summary.skipped_files == stats.skipped_files


OK = line(span("kept", span_id="e" * 16))
GOOD = span("g", span_id="d" * 16)


def request_with(batch: dict[str, Any]) -> str:
    return json.dumps({"resourceSpans": [batch]})


@pytest.mark.parametrize(("text", "expected"), [
    ("not json", (1, 1, 0, 0)),
    (OK[:40], (1, 1, 0, 0)),
    ("[1, 2]", (1, 1, 0, 0)),
    ("null", (1, 1, 0, 0)),
    ('{"resourceSpans": 5}', (1, 1, 0, 0)),
    ('{"spans": []}', (1, 1, 0, 0)),
    ('{"resourceMetrics": []}', (1, 0, 0, 1)),
    ('{"resourceSpans": []}', (1, 0, 0, 0)),
    ("   \t ", (1, 0, 0, 0)),
    (request_with({"scopeSpans": [{"spans": ["oops", GOOD]}]}), (2, 0, 1, 0)),
    (request_with({"scopeSpans": [{"spans": [{**GOOD, "traceId": ""}]}]}), (1, 0, 1, 0)),
    (request_with({"scopeSpans": [{"spans": [{**GOOD, "startTimeUnixNano": "x"}]}]}),
     (1, 0, 1, 0)),
    (json.dumps({"resourceSpans": [{"instrumentationLibrarySpans": [{"spans": [GOOD]}]}]}),
     (2, 0, 0, 0)),
], ids=["not-json", "cut", "list", "null", "resourceSpans-5", "no-resourceSpans", "metrics",
        "no-spans", "blank", "span-not-object", "no-trace-id", "bad-time", "legacy-scope"])
def test_each_kind_of_line_is_counted_alike(tmp_path: Path, text: str,
                                            expected: tuple[int, ...]) -> None:
    """(spans, bad lines, bad spans, metric lines) of a line beside a good one."""
    write_lines(tmp_path / "t.jsonl", [text, OK])
    plain, stats, loaded, query = both([tmp_path])
    assert plain == loaded
    assert counts(stats) == counts(query)
    assert (stats.spans, stats.bad_lines, stats.bad_spans, stats.metric_lines) == expected


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz"])
def test_a_line_over_the_limit_is_one_bad_line(tmp_path: Path, name: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Only that line is skipped: the lines after it are read."""
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 4096)
    long = line(span("long", span_id="c" * 16, attributes={"pad": "x" * 5000}))
    write_lines(tmp_path / name, [OK, long, line(span("after", span_id="b" * 16))])
    stats = ReadStats()
    assert sorted(s.name for s in read_spans([tmp_path], stats)) == ["after", "kept"]
    assert (stats.bad_lines, stats.files_read) == (1, 1)
    assert stats.messages[0].startswith(f"{tmp_path / name}:2: not an OTLP JSON line "
                                        "(longer than 4,096 bytes, the line cap; "
                                        "--max-line-mb raises it)")


def test_the_query_reads_a_cut_gzip_by_the_reader_s_line_rules(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file DuckDB cannot read goes through the one reader: its limit applies there too
    (DuckDB's own reader does not refuse a long line, see query/_load.py)."""
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 4096)
    long = line(span("long", span_id="c" * 16, attributes={"pad": "x" * 5000}))
    whole = gzip.compress(("\n".join([OK, long] + [spans_line(10 * i, 10) for i in range(1, 300)])
                           + "\n").encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    plain, stats, loaded, query = both([tmp_path])
    assert plain == loaded and ("a" * 32, "c" * 16) not in plain
    assert counts(stats) == counts(query)
    assert stats.bad_lines == 2  # the long line and the cut last one


def test_a_line_that_is_not_utf8_is_one_bad_line_in_both(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_bytes(OK.encode() + b'\n{"resourceSpans": "\xff\xfe"}\n'
                                       + OK.replace("e" * 16, "a" * 16).encode() + b"\n")
    plain, stats, loaded, query = both([tmp_path])
    assert plain == loaded and len(plain) == 2
    assert counts(stats) == counts(query)
    assert stats.bad_lines == 1


def test_unreadable_files_are_skipped_files_in_both(tmp_path: Path) -> None:
    """Not gzip, or a compression we do not read: the file is skipped, with a message."""
    write_lines(tmp_path / "ok.jsonl", [OK])
    (tmp_path / "fake.jsonl.gz").write_bytes(b"definitely not gzip")
    (tmp_path / "t.jsonl.bz2").write_bytes(b"BZh9")
    missing = str(tmp_path / "nothing-*.jsonl")
    plain, stats, loaded, query = both([tmp_path, tmp_path / "t.jsonl.bz2", missing])
    assert plain == loaded and len(plain) == 1
    assert counts(stats) == counts(query)
    assert sorted(stats.skipped_files) == sorted(
        [str(tmp_path / "fake.jsonl.gz"), str(tmp_path / "t.jsonl.bz2")])
    assert stats.skipped_sources == [missing]
    assert (stats.files_total, stats.files_read, stats.bad_lines) == (2, 1, 0)


def test_a_gzip_of_several_members_is_read_whole_by_both(tmp_path: Path) -> None:
    """Concatenated gzips (appended to, or joined with cat) are one file of all lines."""
    parts = [gzip.compress((spans_line(10 * i, 3) + "\n").encode()) for i in range(1, 4)]
    (tmp_path / "t.jsonl.gz").write_bytes(b"".join(parts))
    plain, stats, loaded, query = both([tmp_path])
    assert plain == loaded and len(plain) == 9
    assert counts(stats) == counts(query)
    assert (stats.bad_lines, stats.messages) == (0, [])


def test_metrics_files_are_the_ones_the_exporter_writes(tmp_path: Path) -> None:
    from tradetrace.export.metrics import metrics_file

    path = metrics_file(tmp_path, "run_1")
    path.write_text('{"resourceMetrics": []}\n')
    assert reader.is_metrics(path)
    assert reader.trace_files([tmp_path]) == []
    assert reader.trace_files([tmp_path], metrics=True) == [path]
