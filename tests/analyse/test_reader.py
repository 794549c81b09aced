"""Reading OTLP JSON trace files back, and the `tradetrace summary` report built on them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tradetrace import conventions as conv
from tradetrace.analyse.reader import ReadStats, read_spans, trace_files
from tradetrace.analyse.summary import LatencyRow, percentile, summarize
from tradetrace.cli.summary_view import text as render

T1, T2, T3 = "a" * 32, "b" * 32, "c" * 32


def attr(key: str, value: Any) -> dict[str, Any]:
    """One OTLP/JSON attribute, written by hand."""
    if isinstance(value, bool):
        wrapped: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        wrapped = {"intValue": str(value)}
    elif isinstance(value, float):
        wrapped = {"doubleValue": value}
    else:
        wrapped = {"stringValue": value}
    return {"key": key, "value": wrapped}


def span(
    name: str,
    trace_id: str = T1,
    span_id: str = "1" * 16,
    start: int = 1_000,
    duration: int = 1_000,
    attributes: dict[str, Any] | None = None,
    parent: str = "",
    status: int = 0,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + duration),
        "attributes": [attr(k, v) for k, v in (attributes or {}).items()],
    }
    if parent:
        out["parentSpanId"] = parent
    if status:
        out["status"] = {"code": status}
    return out


def request(
    spans: list[dict[str, Any]],
    resource: dict[str, Any] | None = None,
    scope_key: str = "scopeSpans",
) -> dict[str, Any]:
    scope = {"scope": {"name": "tradetrace", "version": "0.1.0"}, "spans": spans}
    if scope_key == "instrumentationLibrarySpans":
        scope = {"instrumentationLibrary": {"name": "old"}, "spans": spans}
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr(k, v) for k, v in (resource or {}).items()]},
                scope_key: [scope],
            }
        ]
    }


def line(*spans: dict[str, Any], **kwargs: Any) -> str:
    return json.dumps(request(list(spans), **kwargs))


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def names(spans: Any) -> list[str]:
    return sorted(s.name for s in spans)


# -- read_spans ------------------------------------------------------------------------


def test_reads_one_span_with_all_fields(tmp_path: Path) -> None:
    """A hand-written span comes back with ids, times, attributes, resource and status."""
    raw = span(
        "FILL",
        trace_id="ABCDEF" + "0" * 26,
        span_id="00F067AA0BA902B7",
        start=1_700_000_000_000_000_000,
        duration=2_500,
        attributes={conv.EVENT_TYPE: "FILL", conv.QUANTITY: 100, conv.PRICE: 101.5, "ok": True},
        parent="1" * 16,
        status=2,
    )
    raw["status"]["message"] = "boom"
    raw["links"] = [{"traceId": T2, "spanId": "2" * 16, "attributes": [attr("rel", "causation")]}]
    raw["events"] = [{"timeUnixNano": "5", "name": "exception", "attributes": []}]
    path = write_lines(tmp_path / "t.jsonl", [line(raw, resource={conv.RUN_ID: "run_1"})])
    stats = ReadStats()
    [got] = list(read_spans([path], stats))
    assert got.trace_id == "abcdef" + "0" * 26
    assert got.span_id == "00f067aa0ba902b7"
    assert got.parent_id == "1" * 16
    assert got.start == 1_700_000_000_000_000_000
    assert got.duration_ns == 2_500
    assert got.attributes == {
        conv.EVENT_TYPE: "FILL",
        conv.QUANTITY: 100,
        conv.PRICE: 101.5,
        "ok": True,
    }
    assert got.resource == {conv.RUN_ID: "run_1"}
    assert (got.status_code, got.status_message) == (2, "boom")
    assert got.links == [{"trace_id": T2, "span_id": "2" * 16, "attributes": {"rel": "causation"}}]
    assert got.events == [{"name": "exception", "time": 5, "attributes": {}}]
    assert got.scope == "tradetrace"
    assert (stats.files_read, stats.spans, stats.bad_lines, stats.bad_spans) == (1, 1, 0, 0)


def test_folders_are_read_recursively(tmp_path: Path) -> None:
    """A folder yields every .json, .jsonl and .gz trace file below it, and nothing else."""
    write_lines(tmp_path / "top.json", [line(span("json"))])
    write_lines(tmp_path / "run1" / "a.jsonl", [line(span("jsonl"))])
    write_lines(tmp_path / "run1" / "deep" / "b.jsonl.gz", [line(span("jsonl.gz"))])
    write_lines(tmp_path / "run2" / "c.json.gz", [line(span("json.gz"))])
    write_lines(tmp_path / "run2" / "notes.txt", [line(span("txt"))])
    write_lines(tmp_path / "run2" / "d.jsonl.bak", [line(span("bak"))])
    stats = ReadStats()
    assert names(read_spans([tmp_path], stats)) == ["json", "json.gz", "jsonl", "jsonl.gz"]
    assert stats.files_read == 4
    assert stats.messages == []


def test_gzip_file_given_directly(tmp_path: Path) -> None:
    """A .jsonl.gz file is decompressed when named directly."""
    path = write_lines(tmp_path / "x.jsonl.gz", [line(span("a")), line(span("b"))])
    assert names(read_spans([path])) == ["a", "b"]


def test_a_named_file_is_read_whatever_its_suffix(tmp_path: Path) -> None:
    """A file named explicitly is read even without a trace suffix."""
    path = write_lines(tmp_path / "export.log", [line(span("a"))])
    assert names(read_spans([path])) == ["a"]


def test_globs_are_expanded(tmp_path: Path) -> None:
    """A glob picks the matching files only."""
    write_lines(tmp_path / "traces_1.jsonl", [line(span("one"))])
    write_lines(tmp_path / "traces_2.jsonl", [line(span("two"))])
    write_lines(tmp_path / "other.jsonl", [line(span("other"))])
    assert names(read_spans([str(tmp_path / "traces_*.jsonl")])) == ["one", "two"]


def test_recursive_glob(tmp_path: Path) -> None:
    """`**` globs reach into subfolders."""
    write_lines(tmp_path / "a" / "b" / "t.jsonl", [line(span("deep"))])
    assert names(read_spans([str(tmp_path / "**" / "*.jsonl")])) == ["deep"]


def test_the_same_file_twice_is_read_once(tmp_path: Path) -> None:
    """A file reached by two sources is read only once."""
    path = write_lines(tmp_path / "t.jsonl", [line(span("a"))])
    stats = ReadStats()
    assert names(read_spans([path, tmp_path, str(tmp_path / "*.jsonl")], stats)) == ["a"]
    assert stats.files_read == 1


def test_trace_files_are_sorted(tmp_path: Path) -> None:
    """Trace files of a folder come back in sorted order."""
    for name in ("c.jsonl", "a.jsonl", "b.json"):
        write_lines(tmp_path / name, [line(span(name))])
    assert [p.name for p in trace_files([tmp_path])] == ["a.jsonl", "b.json", "c.jsonl"]


def test_bad_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    """A truncated line and a non-JSON line are counted; the file's other spans are kept."""
    good = line(span("first"))
    path = write_lines(
        tmp_path / "t.jsonl",
        [good, good[: len(good) // 2], "not json at all", "", line(span("last"))],
    )
    stats = ReadStats()
    assert names(read_spans([path], stats)) == ["first", "last"]
    assert (stats.spans, stats.bad_lines, stats.bad_spans) == (2, 2, 0)
    assert len(stats.messages) == 1  # reported once per file
    assert f"{path}:2" in stats.messages[0]


@pytest.mark.parametrize(
    "bad",
    [json.dumps([1, 2]), json.dumps({"resourceSpans": 5}), json.dumps({"spans": []}), "null"],
    ids=["list", "resourceSpans-not-list", "no-resourceSpans", "null"],
)
def test_json_that_is_not_otlp_is_a_bad_line(tmp_path: Path, bad: str) -> None:
    """Valid JSON without a resourceSpans list counts as a bad line."""
    path = write_lines(tmp_path / "t.jsonl", [bad, line(span("kept"))])
    stats = ReadStats()
    assert names(read_spans([path], stats)) == ["kept"]
    assert stats.bad_lines == 1


@pytest.mark.parametrize(
    "batch",
    [
        {"resource": "not an object", "scopeSpans": []},
        {"scopeSpans": [{"scope": "not an object", "spans": []}]},
        {"scopeSpans": [{"scope": {"name": "s"}, "spans": 5}]},
    ],
    ids=["resource-str", "scope-str", "spans-int"],
)
def test_malformed_structure_does_not_stop_reading(tmp_path: Path, batch: dict[str, Any]) -> None:
    """A structurally wrong OTLP line is skipped and counted, and the next line still read."""
    path = write_lines(
        tmp_path / "t.jsonl", [json.dumps({"resourceSpans": [batch]}), line(span("kept"))]
    )
    stats = ReadStats()
    assert names(read_spans([path], stats)) == ["kept"]
    assert stats.bad_lines + stats.bad_spans >= 1


@pytest.mark.parametrize("drop", ["traceId", "spanId", "startTimeUnixNano", "endTimeUnixNano"])
def test_span_missing_required_field_is_a_bad_span(tmp_path: Path, drop: str) -> None:
    """A span without an id or a time is counted in bad_spans; its neighbours are kept."""
    broken = span("broken", span_id="2" * 16)
    del broken[drop]
    path = write_lines(tmp_path / "t.jsonl", [line(span("ok"), broken, span("ok2"))])
    stats = ReadStats()
    assert names(read_spans([path], stats)) == ["ok", "ok2"]
    assert (stats.spans, stats.bad_spans, stats.bad_lines) == (2, 1, 0)


def test_span_that_is_not_an_object_is_a_bad_span(tmp_path: Path) -> None:
    """A non-object in a spans list is a bad span, not a crash."""
    path = write_lines(tmp_path / "t.jsonl", [line("oops", span("ok"))])  # type: ignore[arg-type]
    stats = ReadStats()
    assert names(read_spans([path], stats)) == ["ok"]
    assert stats.bad_spans == 1


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    """A path that does not exist adds a problem naming it and yields nothing."""
    missing = tmp_path / "nowhere"
    stats = ReadStats()
    assert list(read_spans([missing], stats)) == []
    assert stats.files_read == 0
    assert stats.skipped_sources == [str(missing)]
    assert len(stats.messages) == 1
    assert str(missing) in stats.messages[0]


def test_empty_folder_yields_nothing_and_says_so(tmp_path: Path) -> None:
    """An empty folder gives no spans and no exception, and a message saying it is empty."""
    stats = ReadStats()
    assert list(read_spans([tmp_path], stats)) == []
    assert (stats.files_read, stats.spans, stats.bad_lines) == (0, 0, 0)
    assert stats.messages == [f"{tmp_path}: folder holds no trace files (*.json, *.jsonl, .gz)"]


def test_corrupt_gzip_is_a_skipped_file(tmp_path: Path) -> None:
    """A .gz file that is not gzip is a skipped, unreadable file instead of raising."""
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(b"definitely not gzip")
    stats = ReadStats()
    assert list(read_spans([path], stats)) == []
    assert (stats.files_read, stats.bad_lines, stats.skipped_files) == (0, 0, [str(path)])
    assert "unreadable (corrupt data" in stats.messages[0]


def test_legacy_instrumentation_library_spans(tmp_path: Path) -> None:
    """The pre-1.0 `instrumentationLibrarySpans` key is read like scopeSpans."""
    path = write_lines(
        tmp_path / "old.json",
        [line(span("legacy"), scope_key="instrumentationLibrarySpans")],
    )
    stats = ReadStats()
    assert names(read_spans([path], stats)) == ["legacy"]
    assert stats.bad_lines == stats.bad_spans == 0


def test_int_value_as_json_number(tmp_path: Path) -> None:
    """intValue written as a JSON number (also valid OTLP/JSON) reads back as an int."""
    raw = span("n")
    raw["attributes"] = [{"key": "n", "value": {"intValue": 7}}]
    [got] = read_spans([write_lines(tmp_path / "t.jsonl", [line(raw)])])
    assert got.attributes == {"n": 7}


# -- percentile ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, 0.0),
        ([7], 0, 7),
        ([7], 50, 7),
        ([7], 100, 7),
        ([1, 2], 50, 1),
        ([1, 2], 51, 2),
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 25, 1),
        ([1, 2, 3, 4], 26, 2),
        ([1, 2, 3, 4], 100, 4),
        (list(range(1, 11)), 50, 5),
        (list(range(1, 11)), 90, 9),
        (list(range(1, 11)), 91, 10),
        (list(range(1, 11)), 99, 10),
    ],
)
def test_percentile_nearest_rank(values: list[int], p: float, expected: float) -> None:
    """percentile is the nearest rank: the value at rank ceil(p/100 * n), at least 1."""
    assert percentile(values, p) == expected


@pytest.mark.parametrize("p", [1, 7, 28, 50, 55, 90, 99, 100])
def test_percentile_of_one_to_hundred_is_p(p: int) -> None:
    """Over 1..100 the p-th nearest-rank percentile is p itself (no float rounding up)."""
    assert percentile(list(range(1, 101)), p) == p


# -- summarize / render ----------------------------------------------------------------

FILL_US = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]  # p50 = 5, p99 = 10 by nearest rank
BAR_US = [8, 2, 6, 4]  # sorted 2, 4, 6, 8: p50 = rank 2 = 4, p99 = rank 4 = 8
HANDLER_US = [30, 10, 20]  # sorted 10, 20, 30: p50 = rank 2 = 20, p99 = rank 3 = 30


def write_run(folder: Path) -> None:
    ids = iter(f"{i:016x}" for i in range(1, 100))
    run_a = [
        span(
            "FILL",
            T1,
            next(ids),
            duration=us * 1000,
            attributes={conv.EVENT_TYPE: "FILL", conv.CONTAINER_ID: "portfolio_1"},
            status=2 if us == 10 else (1 if us == 9 else 0),
        )
        for us in FILL_US
    ]
    run_a += [
        span(
            "Portfolio.on_fill",
            T1,
            next(ids),
            duration=us * 1000,
            attributes={
                conv.HANDLER_NAME: "Portfolio.on_fill",
                conv.EVENT_TYPE: "FILL",
                conv.CONTAINER_ID: "portfolio_1",
            },
        )
        for us in HANDLER_US
    ]
    run_b = [
        span(
            "BAR",
            T2,
            next(ids),
            duration=us * 1000,
            attributes={conv.EVENT_TYPE: "BAR", conv.CONTAINER_ID: "data_1"},
        )
        for us in BAR_US
    ]
    run_b.append(span("BAR", T3, next(ids), attributes={conv.EVENT_TYPE: "BAR"}))
    run_b.append(span("container.start", T3, next(ids), attributes={conv.LIFECYCLE_PHASE: "start"}))
    write_lines(folder / "a.jsonl", [line(*run_a, resource={conv.RUN_ID: "run_a"})])
    write_lines(
        folder / "sub" / "b.jsonl.gz",
        [line(*run_b, resource={conv.RUN_ID: "run_b"}), "{truncated"],
    )


def test_summarize_counts(tmp_path: Path) -> None:
    """The summary counts spans, traces, runs, events per type and container, and errors."""
    write_run(tmp_path)
    summary = summarize([tmp_path])
    assert summary.files == 2
    assert summary.spans == 10 + 3 + 4 + 1 + 1
    assert summary.traces == 3
    assert summary.runs == ["run_a", "run_b"]
    assert summary.events_by_type == {"FILL": 10, "BAR": 5}
    assert list(summary.events_by_type) == ["FILL", "BAR"]  # most common first
    assert summary.events_by_container == {"portfolio_1": 10, "data_1": 4, "?": 1}
    assert summary.errors == 1  # status code 2 only; code 1 is OK
    assert summary.other_spans == 1
    assert (summary.skipped_lines, summary.skipped_spans) == (1, 0)
    assert len(summary.problems) == 1


def test_summarize_latency_percentiles(tmp_path: Path) -> None:
    """Publish and handler latency rows hold nearest-rank p50/p99 and max, in microseconds."""
    write_run(tmp_path)
    summary = summarize([tmp_path])
    assert summary.publish_latency == [  # highest p99 first
        LatencyRow("FILL", 10, 5.0, 10.0, 10.0),
        LatencyRow("BAR", 5, 4.0, 8.0, 8.0),
    ]
    assert summary.handler_latency == [LatencyRow("Portfolio.on_fill", 3, 20.0, 30.0, 30.0)]


def test_summary_to_dict(tmp_path: Path) -> None:
    """to_dict gives plain data that serialises to JSON."""
    write_run(tmp_path)
    data = summarize([tmp_path]).to_dict()
    assert json.loads(json.dumps(data))["handler_latency"][0]["name"] == "Portfolio.on_fill"


def test_render_has_the_tables(tmp_path: Path) -> None:
    """The text report shows the headline, every table heading and no traceback."""
    write_run(tmp_path)
    text = render(summarize([tmp_path]))
    assert text.startswith("19 spans in 3 traces from 2 file(s); runs: run_a, run_b")
    for heading in (
        "skipped: 1 bad line(s), 0 bad span(s)",
        "event type",
        "container",
        "publish latency (the publish call, all handlers included)",
        "handler latency (DEBUG handler spans)",
        "p50 us",
        "p99 us",
        "max us",
        "Portfolio.on_fill",
        "errors: 1; trade spans: 0; lifecycle/run/other spans: 1",
    ):
        assert heading in text
    assert "Traceback" not in text
    fill_row = next(r for r in text.splitlines() if r.startswith("FILL") and "10.0" in r)
    assert fill_row.split() == ["FILL", "10", "5.0", "10.0", "10.0"]


def test_render_empty(tmp_path: Path) -> None:
    """An empty folder renders a report saying there is nothing, without errors."""
    text = render(summarize([tmp_path]))
    assert text.startswith("0 spans in 0 traces from 0 file(s); runs: -")
    assert "event type: none" in text
    assert "container: none" in text
    assert "handler latency: no handler spans" in text
    assert "skipped" not in text
    assert "Traceback" not in text
