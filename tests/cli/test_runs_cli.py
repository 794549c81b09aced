"""``query runs`` and ``query compare``'s trade-by-trade part, against the backtests'
own results (cli/runs_output.py)."""

from __future__ import annotations

import json

import pytest

from tradetrace.analyse.query import TraceQuery
from tradetrace.analyse.query.results import RANK_METRICS
from tradetrace.cli.args import RUN_METRICS
from tradetrace.cli.main import main


def _json(capsys, *argv: str):
    assert main(["query", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_ranks_every_run_of_the_sources_by_pnl(runs, capsys):
    folders, results = runs
    rows = _json(capsys, "runs", *folders)
    pnls = [sum(r["realized_pnl"].values()) for r in results]
    assert [r["realized_pnl"] for r in rows] == pytest.approx(sorted(pnls, reverse=True),
                                                              abs=0.05)
    assert sorted(r["trades"] for r in rows) == sorted(sum(r["trades"].values())
                                                       for r in results)


def test_runs_by_win_rate_and_the_limit(runs, capsys):
    folders, results = runs
    rows = _json(capsys, "runs", *folders, "--by", "win_rate", "--limit", "1")
    rates = [sum(r["winning_trades"].values()) / sum(r["trades"].values()) for r in results]
    assert len(rows) == 1 and rows[0]["win_rate"] == pytest.approx(max(rates))


def test_runs_table_shows_full_run_ids(runs, capsys):
    folders, _ = runs
    assert main(["query", "runs", *folders]) == 0
    out = capsys.readouterr().out
    for folder in folders:
        assert TraceQuery([folder]).runs()[0] in out


def test_an_unknown_metric_is_a_usage_error_listing_the_metrics(runs, capsys):
    assert main(["query", "runs", runs[0][0], "--by", "sharpe"]) == 2
    assert "choose from realized_pnl, win_rate" in capsys.readouterr().err


def test_the_flag_names_the_metrics_the_engine_ranks_by():
    assert RUN_METRICS == tuple(RANK_METRICS)


def test_compare_pairs_two_runs_trade_by_trade(runs, capsys):
    (a, b), (results_a, _) = runs
    comparison = _json(capsys, "compare", a, b, "--limit", "0")
    diff = comparison["trade_diff"]
    assert diff["message"] == ""
    assert diff["rows"], "two seeds trade differently"
    assert diff["first"] == diff["rows"][0]
    assert diff["same"] + len(diff["rows"]) >= sum(results_a["trades"].values())
    assert {p["differs"] for p in diff["rows"]} <= {"missing", "entry", "side", "exit", "pnl"}


def test_compare_limit_applies_to_the_trade_pairs_too(runs, capsys):
    (a, b), _ = runs
    comparison = _json(capsys, "compare", a, b, "--limit", "2")
    assert len(comparison["trade_diff"]["rows"]) == 2
    assert main(["query", "compare", a, b, "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "first divergence" in out and "trades that differ" in out


def test_comparing_a_run_with_itself_is_a_usage_error(runs, capsys):
    (a, _), _ = runs
    run = TraceQuery([a]).runs()[0]
    assert main(["query", "compare", run, run, "--in", a]) == 2
    assert "a and b are the same" in capsys.readouterr().err
