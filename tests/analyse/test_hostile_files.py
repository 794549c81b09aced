"""Hostile trace files (issue 16): each costs the smallest unit it spoils (a line, a span,
a value), counted and said; neither `tradetrace summary` (the plain-Python reader) nor
`tradetrace query` (DuckDB) shows a traceback, and a line over the cap is read past in
bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tradetrace import conventions as conv
from tradetrace.analyse import reader
from tradetrace.analyse.reader import ReadStats, read_lines, read_spans
from tradetrace.cli.main import main
from tradetrace.query import TraceQuery

from .test_reader import attr, line, span


def bars(first: int, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [span("BAR", span_id=f"{i:016x}", start=1_000 + i,
                 attributes={conv.EVENT_TYPE: "BAR", conv.CONTAINER_ID: "data_1", **extra})
            for i in range(first, first + count)]


def bars_line(first: int, count: int, **kwargs: Any) -> str:
    return line(*bars(first, count), resource={conv.RUN_ID: "run_h"}, **kwargs)


def both_commands(capsys: pytest.CaptureFixture[str], path: Path, *options: str
                  ) -> tuple[dict[str, Any], int, str]:
    """`summary --json` and the BAR count of `query bottlenecks --json`, and what the query
    said on stderr; both exit 0 and neither prints a traceback."""
    assert main(["summary", str(path), "--json", *options]) == 0
    summary = capsys.readouterr()
    assert main(["query", "bottlenecks", str(path), "--json", "--limit", "0", *options]) == 0
    query = capsys.readouterr()
    assert "Traceback" not in summary.err + query.err
    (bar,) = [row for row in json.loads(query.out) if row["event_type"] == "BAR"]
    return json.loads(summary.out), bar["count"], query.err


def test_json_nested_too_deep_is_one_bad_line(tmp_path: Path, capsys) -> None:
    """Python's parser gives up past about 1,000 levels (RecursionError): that line is
    skipped and counted; the lines around it are read."""
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join([bars_line(0, 100), "[" * 100_000 + "]" * 100_000,
                               bars_line(100, 100)]) + "\n")
    summary, bars_loaded, said = both_commands(capsys, path)
    assert summary["events_by_type"] == {"BAR": 200} and bars_loaded == 200
    assert summary["skipped_lines"] == 1
    assert any(f"{path}:2: 1 line(s) not valid OTLP JSON" in p for p in summary["problems"])
    assert f"{path}:2: 1 line(s) not valid OTLP JSON" in said
    stats = ReadStats()  # the Python reader (what the loader falls back on) alike
    assert len(list(read_spans(path, stats))) == 200 and stats.bad_lines == 1


def test_a_value_nested_too_deep_costs_its_line_in_python_only(tmp_path: Path,
                                                               capsys) -> None:
    """Inside a span, such a value is no error to DuckDB, which both commands read
    through; Python's reader cannot parse the line and counts it."""
    deep = '{"arrayValue":{"values":[' * 2_000 + "]}}" * 2_000
    spoilt = bars_line(100, 50).replace('"attributes": [', '"attributes": [{"key": "deep", '
                                        f'"value": {deep}}}, ', 1)
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join([bars_line(0, 100), spoilt]) + "\n")
    summary, bars_loaded, _ = both_commands(capsys, path)
    assert (summary["events_by_type"], summary["skipped_lines"]) == ({"BAR": 150}, 0)
    assert bars_loaded == 150
    stats = ReadStats()
    assert len(list(read_spans(path, stats))) == 100 and stats.bad_lines == 1


def test_a_resource_attribute_of_the_wrong_type_costs_that_attribute(tmp_path: Path,
                                                                     capsys) -> None:
    """`intValue: null` (TypeError) and `intValue: "many"` (ValueError) on the resource:
    its 100 spans are read, run id and all. DuckDB, which both commands read through,
    keeps the values as NULL and text; Python's reader leaves each out and counts it."""
    batch = json.loads(bars_line(0, 100))
    batch["resourceSpans"][0]["resource"]["attributes"] += [
        {"key": "host.cores", "value": {"intValue": None}},
        {"key": "host.threads", "value": {"intValue": "many"}}]
    path = tmp_path / "resource.jsonl"
    path.write_text(json.dumps(batch) + "\n" + bars_line(100, 10) + "\n")
    summary, bars_loaded, _ = both_commands(capsys, path)
    assert summary["events_by_type"] == {"BAR": 110} and bars_loaded == 110
    assert (summary["runs"], summary["skipped_lines"], summary["skipped_spans"]) == (
        ["run_h"], 0, 0)
    stats = ReadStats()
    assert len(list(read_spans(path, stats))) == 110 and stats.bad_spans == 2
    assert any("resource attribute 'host.cores' left out, its spans kept" in p
               for p in stats.messages)


def test_one_byte_that_is_not_utf8_costs_one_character_not_the_file(tmp_path: Path,
                                                                    capsys) -> None:
    """A run small enough for one line: 534 spans. The byte reads as U+FFFD and is
    counted; every span is kept, by both readers."""
    text = line(*bars(0, 533), span("SIGNAL", span_id="f" * 16, attributes={
        conv.EVENT_TYPE: "SIGNAL", conv.SYMBOL: "SP~Y"}), resource={conv.RUN_ID: "run_h"})
    path = tmp_path / "one-line.jsonl"
    path.write_bytes(text.encode().replace(b"SP~Y", b"SP\xffY") + b"\n")
    summary, bars_loaded, _ = both_commands(capsys, path)
    assert summary["spans"] == 534 and summary["skipped_lines"] == 0
    assert bars_loaded == 533
    assert any(f"{path}:1: 1 byte sequence(s) not UTF-8, read as U+FFFD" in p
               for p in summary["problems"])
    query = TraceQuery(path)
    assert (query.stats.spans, query.stats.bad_lines, query.stats.characters_replaced) == (
        534, 0, 1)
    assert query.sql("SELECT symbol FROM spans WHERE event_type = 'SIGNAL'") == [("SP\ufffdY",)]


def test_a_line_over_the_cap_is_read_past_in_memory_about_the_cap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 32 MiB line under an 8 MiB cap: one bad line, and the reader never holds much
    more than the cap (it held three times the cap, and a 300 MB line took 675 MB)."""
    cap = 8 << 20
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", cap)
    path = tmp_path / "long.jsonl"
    with open(path, "w") as out:
        out.write(bars_line(0, 10) + "\n" + '{"pad": "' + "x" * (32 << 20) + '"}\n'
                  + bars_line(10, 10) + "\n")
    stats = ReadStats()
    tracemalloc.start()
    try:
        numbers = [number for number, _ in read_lines(path, stats)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert numbers == [1, 3] and stats.bad_lines == 1
    assert peak < cap * 1.5


def test_the_line_cap_is_set_with_max_line_mb_and_both_readers_keep_it(
        tmp_path: Path, capsys) -> None:
    """A 2 MiB line of spans: read at the default cap, a counted bad line at
    `--max-line-mb 1` by summary and query alike (DuckDB used to read it anyway)."""
    pad = {"pad": "x" * (2 << 20)}
    long = line(*[span("BAR", span_id=f"{i:016x}", attributes={
        conv.EVENT_TYPE: "BAR", conv.CONTAINER_ID: "data_1", **(pad if i == 50 else {})})
        for i in range(50, 60)])
    path = tmp_path / "long.jsonl"
    path.write_text(bars_line(0, 50) + "\n" + long + "\n" + bars_line(60, 40) + "\n")
    summary, bars_loaded, _ = both_commands(capsys, path)
    assert (summary["events_by_type"]["BAR"], bars_loaded, summary["skipped_lines"]) == (
        100, 100, 0)
    summary, bars_loaded, said = both_commands(capsys, path, "--max-line-mb", "1")
    assert (summary["events_by_type"]["BAR"], bars_loaded, summary["skipped_lines"]) == (
        90, 90, 1)
    assert f"{path}:2: not an OTLP JSON line (longer than 1,048,576 bytes, the line cap; " \
           "--max-line-mb raises it)" in said
    assert reader.MAX_LINE_BYTES == 64 << 20  # the flag held for its command only


def test_every_hostile_file_together_is_read_in_one_folder(tmp_path: Path) -> None:
    """The plain reader and DuckDB agree on what they keep, file by file, where they can
    (every case above but a too-deep value)."""
    (tmp_path / "a.jsonl").write_text("[" * 5_000 + "]" * 5_000 + "\n" + bars_line(0, 5) + "\n")
    batch = json.loads(bars_line(5, 5))
    batch["resourceSpans"][0]["resource"]["attributes"].append(attr("x", 1) | {
        "value": {"intValue": []}})
    (tmp_path / "b.jsonl").write_text(json.dumps(batch) + "\n")
    (tmp_path / "c.jsonl").write_bytes(bars_line(10, 5).encode().replace(b"data_1", b"d\xfe", 1)
                                       + b"\n")
    stats = ReadStats()
    plain = {(s.trace_id, s.span_id) for s in read_spans([tmp_path], stats)}
    query = TraceQuery(tmp_path)
    assert plain == set(query.sql("SELECT trace_id, span_id FROM spans")) and len(plain) == 15
    assert (stats.bad_lines, stats.characters_replaced) == (
        query.stats.bad_lines, query.stats.characters_replaced) == (1, 1)
