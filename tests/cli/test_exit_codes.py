"""The exit-status table of `tradetrace --help` (issue 16), a test per row: 0 with an
answer, an empty one too; 1 when there is nothing to answer from; 2 for usage errors,
said before any file is read, naming the option and what it allows. `--json` is valid
JSON whatever the status."""

from __future__ import annotations

import gzip
import json

import pytest

from tradetrace.cli.main import main

QUESTIONS = ("chain", "trade", "trades", "patterns", "bottlenecks", "compare", "tick-to-trade")


def test_tradetrace_help_has_the_exit_status_table(capsys) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("exit status:"):]
    assert [line[:3] for line in table.splitlines() if line[2:3].isdigit()] == [
        "  0", "  1", "  2"]
    assert "| head" in table and "--outcome" in table


@pytest.mark.parametrize("command", [["run"], ["summary"], ["report"], ["serve"], ["query"],
                                     *(["query", q] for q in QUESTIONS)],
                         ids=lambda c: " ".join(c))
def test_every_command_s_help_has_an_example(command: list[str], capsys) -> None:
    assert main([*command, "--help"]) == 0
    example = capsys.readouterr().out.split("example:\n")[1]
    assert example.lstrip().startswith("tradetrace " + command[0])
    if command[0] == "query" and len(command) > 1:
        assert f"tradetrace query {command[1]} " in example


def test_0_with_an_answer(runs, capsys) -> None:
    (folder, _), _ = runs
    assert main(["query", "trades", folder]) == 0
    assert "trd_" in capsys.readouterr().out


def test_0_for_an_empty_answer_that_says_so(runs, capsys) -> None:
    """A valid question over readable files whose answer is empty: 0, said on stdout
    (never a blank line), and `[]` as JSON."""
    (folder, _), _ = runs
    assert main(["query", "trades", folder, "--outcome", "expired"]) == 0
    assert capsys.readouterr().out == "no trades match --outcome expired\n"
    assert main(["query", "trades", folder, "--outcome", "expired", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["query", "patterns", "latency_spike", folder, "--threshold-ms", "100000"]) == 0
    assert capsys.readouterr().out == "latency_spike: none found (--threshold-ms 100000)\n"
    assert main(["query", "patterns", "latency_spike", folder, "--threshold-ms", "100000",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize("command", [["summary"], ["query", "trades"], ["report"]])
def test_1_when_there_are_no_trace_files(tmp_path, capsys, command: list[str]) -> None:
    assert main([*command, str(tmp_path / "nothing-here")]) == 1
    err = capsys.readouterr().err
    assert "no such file, folder or matching glob" in err
    assert "no trace files could be read" in err


def test_1_when_every_file_is_skipped(tmp_path, capsys) -> None:
    (tmp_path / "a.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    (tmp_path / "b.jsonl.gz").write_bytes(b"not gzip at all")
    for command in (["summary"], ["query", "bottlenecks"]):
        assert main([*command, str(tmp_path), "--json"]) == 1
        captured = capsys.readouterr()
        assert "no trace files could be read" in captured.err
        json.loads(captured.out)  # still valid JSON


@pytest.mark.parametrize("content", [b"", b"not json\n{\"half\": \n", gzip.compress(b"")],
                         ids=["empty", "corrupt", "empty-gzip"])
def test_1_when_not_one_span_is_readable(tmp_path, capsys, content: bytes) -> None:
    """A file that is empty or wholly corrupt is read, yet answers nothing: not "0 trades"
    with status 0."""
    path = tmp_path / ("t.jsonl.gz" if content.startswith(b"\x1f\x8b") else "t.jsonl")
    path.write_bytes(content)
    for command in (["summary"], ["query", "trades"]):
        assert main([*command, str(path)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert f"tradetrace: no spans in {path}: 1 file(s) read" in captured.err
    assert main(["query", "trades", str(path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == []


def test_1_for_an_id_that_is_not_there(runs, capsys) -> None:
    (folder, _), _ = runs
    for question, missing in (("trade", "trd_nosuchtrade"), ("chain", "evt_nosuchevent")):
        assert main(["query", question, missing, folder, "--json"]) == 1
        captured = capsys.readouterr()
        assert json.loads(captured.out) is None and missing in captured.err
    assert main(["query", "compare", "run_x", "run_y", "--in", folder]) == 1
    assert "no spans for run 'run_x' and run 'run_y'" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "said"), [
    (["query", "trades", "--outcome", "winn"], "argument --outcome: 'winn' is not an outcome; "
     "allowed: win, loss, flat, rejected, incomplete, expired, evicted"),
    (["query", "trades", "--outcome", "win,los"], "argument --outcome: 'los' is not an outcome"),
    (["query", "trades", "--side", "up"], "argument --side: 'up' is not a side; allowed: long, "
     "short"),
    (["query", "trades", "--start", "notadate"], "argument --start: 'notadate' is not a date "
     "or time (ISO 8601"),
    (["query", "trades", "--end", "2024-13-01"], "argument --end: '2024-13-01' is not a date"),
    (["query", "trades", "--limit", "-1"], "argument --limit: '-1' is not a number of rows"),
    (["query", "trades", "--columns", "trade-id,bogus"], "--columns: unknown column(s) "
     "'bogus'; known: trade-id, outcome"),
    (["query", "patterns", "moon_phase"], "argument PATTERN: invalid choice: 'moon_phase' "
     "(choose from 'latency_spike'"),
    (["query", "patterns", "latency_spike", "--threshold-ms", "-5"], "argument --threshold-ms: "
     "'-5' is not a number above 0"),
    (["query", "bottlenecks", "--percentile", "0"], "argument --percentile: '0' is not a "
     "percentile"),
    (["query", "bottlenecks", "--metric", "speed"], "argument --metric: invalid choice: 'speed'"),
    (["summary", "--max-line-mb", "0"], "argument --max-line-mb: '0' is not a number above 0"),
    (["query", "tick-to-trade", "--limit", "5"], "unrecognized arguments: --limit 5"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_2_for_a_usage_error_naming_the_option(runs, capsys, argv: list[str],
                                               said: str) -> None:
    (folder, _), _ = runs
    assert main([*argv[:2], folder, *argv[2:]] if argv[0] == "query" and argv[1] != "patterns"
                else [*argv[:3], folder, *argv[3:]] if argv[0] == "query"
                else [argv[0], folder, *argv[1:]]) == 2
    captured = capsys.readouterr()
    assert said in captured.err and captured.out == ""


def test_the_engine_out_of_memory_is_a_message_and_status_1(runs, capsys):
    """DuckDB past its memory limit: one line saying so and what to do, no traceback."""
    (folder, _), _ = runs
    assert main(["query", "bottlenecks", folder, "--memory-limit", "2MB"]) == 1
    err = capsys.readouterr().err
    assert "the query engine (DuckDB) failed: Out of Memory" in err
    assert "--memory-limit" in err and "Traceback" not in err
