"""Many runs as one source (analyse/query/runs.py): runs ranked by a metric against the
backtests' own results, and two runs' trades paired with their first divergence."""

from __future__ import annotations

from pathlib import Path

import pytest

import tradetrace
from tradetrace.query import TraceQuery


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """Three demo runs in one folder: seeds 5 and 6, and seed 5 again (the same trades)."""
    import demo_engine

    folder = tmp_path_factory.mktemp("sweep")
    results: dict[str, dict] = {}
    for name, seed in (("a", 5), ("b", 6), ("a_again", 5)):
        tradetrace.configure("normal", profile="demo", output=folder / name, backend="file",
                             run_id=f"run_{name}")
        results[f"run_{name}"] = demo_engine.run_backtest(bars=500, seed=seed)
        tradetrace.shutdown()
    return folder, results


def test_runs_ranked_by_pnl_match_each_backtests_own_results(sweep):
    folder, results = sweep
    ranking = TraceQuery(folder).rank_runs("realized_pnl")
    by_run = {r.run_id: r for r in ranking.rows}
    assert set(by_run) == set(results)
    for run, result in results.items():
        row = by_run[run]
        assert row.realized_pnl == pytest.approx(sum(result["realized_pnl"].values()), abs=0.05)
        assert row.trades == sum(result["trades"].values())
        assert row.wins == sum(result["winning_trades"].values())
        assert row.bars == 500
        assert row.first_time is not None and row.first_time < row.last_time
    pnls = [r.realized_pnl for r in ranking.rows]
    assert pnls == sorted(pnls, reverse=True)
    durations = [r.duration_s for r in TraceQuery(folder).rank_runs("duration_s").rows]
    assert durations == sorted(durations)  # shortest first: lower is better


def test_an_unknown_metric_lists_the_known_ones(sweep):
    with pytest.raises(ValueError, match="known: realized_pnl, win_rate"):
        TraceQuery(sweep[0]).rank_runs("sharpe")


def test_the_same_run_twice_has_no_divergence(sweep):
    folder, results = sweep
    diff = TraceQuery(folder).trade_diff("run_a", "run_a_again")
    assert diff.rows == [] and diff.first is None
    assert diff.same == sum(results["run_a"]["trades"].values()) + sum(
        results["run_a"]["open_positions"].values())


def test_two_different_runs_diverge_at_their_first_differing_trade(sweep):
    folder, _ = sweep
    q = TraceQuery(folder)
    diff = q.trade_diff("run_a", "run_b")
    assert diff.first is not None and diff.first is diff.rows[0]
    first = diff.first
    assert first.differs in ("missing", "entry", "side", "exit", "pnl")
    entries = [t for t in (first.entry_a, first.entry_b) if t]
    # nothing before the first divergence differs: every earlier pair agreed
    a = {t.trade_id: t for t in q.trades(events=False).rows if t.run_id == "run_a"}
    b = {t.trade_id: t for t in q.trades(events=False).rows if t.run_id == "run_b"}

    def before(trades: dict) -> list[str]:
        return sorted(t.entry_time for t in trades.values()
                      if t.entry_time and t.entry_time < min(entries))

    assert before(a) == before(b)
    assert diff.same + len(diff.rows) >= max(len(a), len(b))


def test_a_run_without_trades_is_said(sweep):
    diff = TraceQuery(sweep[0]).trade_diff("run_a", "run_nope")
    assert diff.rows == [] and "run_nope" in diff.message


def test_a_chain_in_a_sweep_walks_its_own_run_only(sweep):
    """A causal chain never leaves its run: the edges are built for that run's spans
    alone, and the chain is the one the run's folder alone gives."""
    folder, _ = sweep
    query = TraceQuery(folder)
    ((event,),) = query.sql("SELECT event_id FROM spans WHERE event_type = 'FILL' "
                            "AND run_id = 'run_b' ORDER BY start_ns LIMIT 1")
    chain = query.get_event_chain(event)
    walked = query.sql("SELECT DISTINCT s.run_id FROM _edges e JOIN _spans s "
                       "ON s.trace_id = e.dst_trace AND s.span_id = e.dst_span")
    assert walked == [("run_b",)]
    alone = TraceQuery(folder / "b").get_event_chain(event)
    assert [n.span_id for n in chain.rows] == [n.span_id for n in alone.rows]
    assert any(n.event_type == "BAR" for n in chain.ancestors)


def test_trades_of_one_run_are_that_runs_trades_only(sweep):
    folder, results = sweep
    q = TraceQuery(folder)
    for run, result in results.items():
        rows = q.trades(run=run, events=False).rows
        assert {t.run_id for t in rows} == {run}
        closed = [t for t in rows if t.realized_pnl is not None and t.exit_time]
        assert len(closed) == sum(result["trades"].values())
    assert q.trades(run="run_nobody", events=False).rows == []


def test_a_page_of_trades_in_any_order_says_how_many_matched(sweep):
    folder, _ = sweep
    q = TraceQuery(folder)
    every = q.trades(run="run_a", events=False).rows
    by_pnl = sorted((t for t in every if t.realized_pnl is not None),
                    key=lambda t: -t.realized_pnl)  # type: ignore[operator]
    page = q.trades(run="run_a", events=False, order="-realized_pnl", limit=5, offset=2)
    assert page.total == len(every) > 7
    assert [t.realized_pnl for t in page.rows] == [t.realized_pnl for t in by_pnl[2:7]]
    losers = q.trades(run="run_a", outcome="loss", order="holding_period_s", limit=3)
    assert losers.total == sum(t.outcome == "loss" for t in every)
    holdings = [t.holding_period_s for t in losers.rows]
    assert holdings == sorted(holdings) and all(t.events for t in losers.rows)
    with pytest.raises(ValueError, match="expected one of trade_id"):
        q.trades(order="pnl; DROP TABLE _trades")


def test_a_query_of_one_run_reads_that_runs_spans_only(sweep):
    folder, results = sweep
    whole = TraceQuery(folder)
    one = TraceQuery(folder, run="run_b")
    spans_b = whole.sql("SELECT count(*) FROM spans WHERE run_id = 'run_b'")[0][0]
    assert one.stats.spans == spans_b < whole.stats.spans
    assert one.runs() == ["run_b"]
    assert one.trades(events=False).rows == whole.trades(run="run_b", events=False).rows
    bars = {s.event_type: s.count for s in one.find_bottlenecks(by=["event_type"]).rows}
    assert bars["BAR"] == 500
    assert one.tick_to_trade().count == whole.sql(
        "SELECT count(*) FROM spans WHERE run_id = 'run_b' AND event_type = 'FILL'")[0][0]
    raw = TraceQuery(folder, run="run_b", index=False)  # the files read, then one run kept
    assert raw.stats.spans == spans_b
    nobody = TraceQuery(folder, run="run_nobody")
    assert nobody.stats.spans == 0 and "no spans of run 'run_nobody'" in nobody.stats.messages[-1]


def test_a_trade_is_its_id_within_its_run(tmp_path):
    """Runs of a sweep may number their trades alike (the same id, another run): each
    run keeps its own trade, figures and events, from the index as from the files."""
    from .test_reader import line, span, write_lines

    for n, run in enumerate(("r1", "r2")):
        write_lines(tmp_path / f"{run}-0001.jsonl", [line(
            span("ORDER", span_id=f"{n}1" * 8, start=100 + n, attributes={
                "trading.event.type": "ORDER", "trading.trade.id": "trd_x"}),
            span("trade", span_id=f"{n}2" * 8, start=50, attributes={
                "trading.trade.id": "trd_x", "trading.trade.realized_pnl": 10.0 + n,
                "trading.trade.outcome": "win"}),
            span("FILL", span_id=f"{n}3" * 8, start=300, attributes={  # no trade span
                "trading.event.type": "FILL", "trading.trade.id": "trd_y"}),
            resource={"trading.run.id": run})])
    for q in (TraceQuery(tmp_path), TraceQuery(tmp_path, index=False)):
        assert sorted((t.run_id, t.trade_id, t.realized_pnl, t.fills)
                      for t in q.trades(events=False).rows) == [
            ("r1", "trd_x", 10.0, None), ("r1", "trd_y", None, 1),
            ("r2", "trd_x", 11.0, None), ("r2", "trd_y", None, 1)]
        for n, run in enumerate(("r1", "r2")):
            found = q.get_trade("trd_x", run=run).trade
            assert found is not None and found.realized_pnl == 10.0 + n
            assert [e.span_id for e in found.events] == [f"{n}1" * 8]
        assert q.get_trade("trd_x", run="r3").message == "no trade with id 'trd_x' in run 'r3'"


def test_tick_to_trade_of_a_sweep_taken_a_run_at_a_time_is_the_whole_walk(sweep, tmp_path):
    """Over several runs, and spans with no run id beside them, the walk from each fill
    to its bar goes a run at a time (at 10M spans at once it ran out of memory): the
    same latencies as one walk over everything."""
    import shutil

    folder, _ = sweep
    mixed = tmp_path / "mixed"
    shutil.copytree(folder / "a", mixed / "a", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(folder / "b", mixed / "b", ignore=shutil.ignore_patterns(".*"))
    for path in (mixed / "b").glob("*.jsonl"):  # a run whose files carry no run id
        path.write_text(path.read_text().replace('"trading.run.id"', '"other.run.id"'))
    q = TraceQuery(mixed)
    assert sorted(q.runs()) == ["run_a"] and q.sql(
        "SELECT count(*) FROM spans WHERE run_id IS NULL AND event_type = 'FILL'")[0][0] > 0
    result = q.tick_to_trade(buckets=5)
    by_run = sorted(x for (x,) in q.sql("SELECT latency_us FROM _t2t"))
    q.con.execute("CREATE OR REPLACE TEMP TABLE _t2t (latency_us DOUBLE)")
    q._tick_to_trade_of(None)  # one walk over every span
    assert by_run == sorted(x for (x,) in q.sql("SELECT latency_us FROM _t2t"))
    assert result.count == len(by_run) > 0


def test_unanswered_signals_of_a_sweep_are_each_runs_own_together(sweep):
    """signal_without_order walks a run at a time over a sweep: the same signals, in
    time order, as each run's query finds (and as one walk over everything). (The demo
    acts on every change of direction: its signals without an order repeat one.)"""
    folder, _ = sweep
    q = TraceQuery(folder)
    whole = q.detect_patterns("signal_without_order", limit=None)
    runs = [TraceQuery(folder, run=r).detect_patterns(
        "signal_without_order", limit=None) for r in q.runs()]
    assert whole.count == sum(r.count for r in runs) == len(whole.rows) > 0
    assert sorted(r["span_id"] for r in whole.rows) == sorted(
        row["span_id"] for r in runs for row in r.rows)
    starts = [r["start_ns"] for r in whole.rows]
    assert starts == sorted(starts)
    q._by_run = lambda where, params: [None]  # type: ignore[method-assign]
    at_once = q.detect_patterns("signal_without_order", limit=None)
    assert [r["span_id"] for r in at_once.rows] == [r["span_id"] for r in whole.rows]


def test_every_reading_command_reads_one_run_with_run(sweep, tmp_path, capsys):
    """--run: summary (its spans and its metrics), query and report of one run of a
    sweep, as if the folder held no other; a run that is not there is exit status 1."""
    import json

    from tradetrace.cli.main import main

    folder, results = sweep
    assert main(["summary", str(folder), "--run", "run_b", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    whole = TraceQuery(folder)
    assert summary["runs"] == ["run_b"] and summary["spans"] == whole.sql(
        "SELECT count(*) FROM spans WHERE run_id = 'run_b'")[0][0]
    completed = summary["metrics"]["trades_completed"]  # of run b's metrics file alone
    assert completed["win"] + completed["loss"] + completed.get("flat", 0) == sum(
        results["run_b"]["trades"].values())
    assert main(["query", "trades", str(folder), "--run", "run_b", "--json", "--limit", "0"]) == 0
    trades = json.loads(capsys.readouterr().out)
    assert {t["run_id"] for t in trades} == {"run_b"}
    assert len(trades) == len(whole.trades(run="run_b", events=False).rows)
    assert main(["report", str(folder), "--run", "run_b", "-o", str(tmp_path / "b.html")]) == 0
    assert "run_b" in (tmp_path / "b.html").read_text() and "run_a_again" not in (
        tmp_path / "b.html").read_text()
    capsys.readouterr()
    assert main(["query", "trades", str(folder), "--run", "run_z"]) == 1
    assert "no spans of run 'run_z'" in capsys.readouterr().err
