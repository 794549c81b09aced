"""`tradetrace query`: each question from the command line, as tables and as JSON, with
the same answers as the API; bad input is a message and an exit status, not a traceback."""

from __future__ import annotations

import json

import pytest

from tradetrace.analyse.query import TraceQuery
from tradetrace.cli.main import main


def _json(capsys, *argv: str):
    assert main(["query", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def table_rows(out: str) -> list[str]:
    """The rows of the first table in ``out``: the lines after its header's rule."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("─"))
    return lines[start + 1:]


def test_bottlenecks_table_and_json_agree_with_the_api(runs, capsys):
    (folder, _), _ = runs
    expected = TraceQuery(folder).find_bottlenecks(percentile=95).to_dict()
    assert _json(capsys, "bottlenecks", folder, "--percentile", "95", "--limit", "0") == (
        json.loads(json.dumps(expected["rows"], default=str)))
    # the table at the same percentile: its first row is the API's (a table at another
    # percentile may rank stages otherwise, by timings that differ from run to run)
    assert main(["query", "bottlenecks", folder, "--percentile", "95", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "bottlenecks by p95 of processing_time" in out
    rows = table_rows(out)
    top = expected["rows"][0]
    assert top["container_id"] in rows[0] and top["event_type"] in rows[0]


def test_trades_filtered_by_outcome(runs, capsys):
    (folder, _), (results, _) = runs
    everything = _json(capsys, "trades", folder, "--limit", "0")
    closed = [t for t in everything if t["outcome"] in ("win", "loss", "flat")]
    assert len(closed) == sum(results["trades"].values())  # the backtest's own count
    wins = _json(capsys, "trades", folder, "--outcome", "win", "--limit", "0")
    assert len(wins) == sum(results["winning_trades"].values())
    assert {t["outcome"] for t in wins} == {"win"}
    assert main(["query", "trades", folder, "--outcome", "loss", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "(first 2;" in out and "loss" in out and "win " not in out


def test_a_fill_s_chain_reaches_back_to_its_bar(runs, capsys):
    (folder, _), _ = runs
    trade = next(t for t in _json(capsys, "trades", folder) if t["fills"])
    detail = _json(capsys, "trade", trade["trade_id"], folder)["trade"]
    fill = next(e for e in detail["events"] if e["event_type"] == "FILL")
    chain = _json(capsys, "chain", fill["event_id"], folder)
    assert [n["event_type"] for n in sorted(chain["ancestors"], key=lambda n: -n["depth"])
            ] == ["BAR", "SIGNAL", "ORDER"]
    assert main(["query", "chain", fill["event_id"], folder]) == 0
    rows = capsys.readouterr().out.splitlines()[3:]  # after the title and the header

    def row_of(text: str) -> int:
        return next(i for i, row in enumerate(rows) if text in row)

    assert row_of("BAR") < row_of("ORDER") < row_of(fill["event_id"])


def test_unknown_ids_exit_1_with_a_message(runs, capsys):
    (folder, _), _ = runs
    assert main(["query", "chain", "evt_nosuchevent", folder]) == 1
    assert main(["query", "trade", "trd_nosuchtrade", folder]) == 1
    err = capsys.readouterr().err
    assert "evt_nosuchevent" in err and "trd_nosuchtrade" in err


def test_an_unknown_pattern_lists_the_known_ones(runs, capsys):
    (folder, _), _ = runs
    assert main(["query", "patterns", "moon_phase", folder]) == 2
    err = capsys.readouterr().err.strip()
    assert "argument PATTERN: invalid choice: 'moon_phase'" in err
    for known in ("latency_spike", "rejected_orders", "orphan_events", "signal_without_order"):
        assert known in err


def test_a_parameter_the_pattern_does_not_take_is_a_usage_error(runs, capsys):
    (folder, _), _ = runs
    assert main(["query", "patterns", "latency_spike", folder, "--threshold-ms", "1",
                 "--changed-only"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("error: --changed-only: not an option of latency_spike (it takes "
                        "--threshold-ms, --relative)")


def test_changed_only_narrows_signals_without_order(runs, capsys):
    (folder, _), _ = runs
    every = _json(capsys, "patterns", "signal_without_order", folder, "--limit", "0")
    changed = _json(capsys, "patterns", "signal_without_order", folder, "--changed-only",
                    "--limit", "0")
    assert len(changed) < len(every)
    assert all(row["direction"] != row["previous_direction"] for row in changed)


def test_rejected_orders_match_the_backtest(runs, capsys):
    (folder, _), (results, _) = runs
    report = _json(capsys, "patterns", "rejected_orders", folder, "--limit", "0")
    assert len(report) == results["rejected_orders"]


def test_compare_two_folders_counts_each_run(runs, capsys):
    (a, b), (results_a, results_b) = runs
    comparison = _json(capsys, "compare", a, b, "--limit", "0")
    (bars,) = [r for r in comparison["rows"] if r["event_type"] == "BAR"]
    assert bars["kind"] == "stage"  # not repeated as an event type: one stage has it
    assert bars["container_id"] == "data"  # matched across runs without the id's suffix
    assert bars["count_a"] == results_a["events_by_type"]["BAR"]
    assert bars["count_b"] == results_b["events_by_type"]["BAR"]
    assert comparison["trades_a"]["wins"] == sum(results_a["winning_trades"].values())
    assert comparison["trades_b"]["wins"] == sum(results_b["winning_trades"].values())


def test_compare_two_runs_inside_one_set_of_sources(runs, capsys):
    (a, b), (results_a, results_b) = runs
    run_a, run_b = TraceQuery([a]).runs()[0], TraceQuery([b]).runs()[0]
    comparison = _json(capsys, "compare", "--in", a, run_a, run_b, "--in", b, "--limit", "0")
    (fills,) = [r for r in comparison["rows"] if r["event_type"] == "FILL"]
    assert (fills["count_a"], fills["count_b"]) == (
        results_a["events_by_type"]["FILL"], results_b["events_by_type"]["FILL"])


def test_tick_to_trade_counts_every_fill(runs, capsys):
    (folder, _), (results, _) = runs
    result = _json(capsys, "tick-to-trade", folder)
    assert result["count"] == results["events_by_type"]["FILL"]
    assert result["p50_us"] <= result["p99_us"] <= result["max_us"]


def test_no_trace_files_is_a_message_and_status_1(tmp_path, capsys):
    assert main(["query", "bottlenecks", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no trace files" in err


def test_corrupt_lines_are_skipped_and_said(runs, tmp_path, capsys):
    (folder, _), _ = runs
    from pathlib import Path

    source = sorted(Path(folder).glob("*-0001.jsonl"))[0]
    copy = tmp_path / source.name
    lines = source.read_text().splitlines()
    copy.write_text("\n".join([lines[0][: len(lines[0]) // 2], "not json", *lines[1:]]) + "\n")
    assert main(["query", "bottlenecks", str(copy), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)
    assert "2" in captured.err and "skipped" in captured.err


def test_a_memory_limit_caps_duckdb_and_the_files_still_load(runs):
    (folder, _), (results, _) = runs
    query = TraceQuery(folder, memory_limit="256MB")
    assert query.stats.messages == []
    events = query.sql("SELECT count(*) FROM spans WHERE event_type IS NOT NULL "
                       "AND handler_name IS NULL")[0][0]
    assert events == results["events"]
    with pytest.raises(ValueError, match="expected a size"):
        TraceQuery(folder, memory_limit="256MB'; SELECT 1; --")


def test_report_command_writes_the_html_report(runs, tmp_path, capsys):
    (folder, _), _ = runs
    out = tmp_path / "r.html"
    assert main(["report", folder, "-o", str(out), "--title", "seed 3"]) == 0
    page = out.read_text()
    assert "<title>seed 3" in page or "seed 3" in page
    for plot in ("plot-latency", "plot-bottlenecks", "plot-trades", "plot-pnl",
                 "plot-tick-to-trade"):
        assert f'id="{plot}"' in page
    assert "report written to" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "empty"), "-o", str(tmp_path / "x.html")]) == 1


def test_a_span_read_twice_counts_once(runs, tmp_path, capsys):
    (folder, _), (results, _) = runs
    import gzip
    import shutil
    from pathlib import Path

    source = sorted(Path(folder).glob("*-0001.jsonl"))[0]
    shutil.copy(source, tmp_path / source.name)
    with open(source, "rb") as plain, gzip.open(tmp_path / (source.name + ".gz"), "wb") as gz:
        gz.write(plain.read())
    query = TraceQuery(tmp_path)
    events = query.sql("SELECT count(*) FROM spans WHERE event_type IS NOT NULL "
                       "AND handler_name IS NULL")[0][0]
    assert events == results["events"]
    assert any("read more than once" in m for m in query.stats.messages)
