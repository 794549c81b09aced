"""The run index (analyse/run_index.py): made once, brought up to date file by file,
dropped parts for files that changed or went, the same answers and skips as reading the
files, and readable without tradetrace (plain Parquet, Hive layout)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import tradetrace
from tradetrace.analyse.query.run_index import MANIFEST, NULL_PARTITION, TRADES, RunIndex
from tradetrace.analyse.reader import INDEX_FOLDER
from tradetrace.query import TraceQuery

from .test_one_reader import counts, spans_line
from .test_reader import line, span, write_lines


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Two demo backtests traced at NORMAL into one folder (a tiny parameter sweep)."""
    import demo_engine

    folder = tmp_path_factory.mktemp("sweep")
    results = {}
    for seed in (5, 6):
        tradetrace.configure("normal", profile="demo", output=folder / f"seed{seed}",
                             backend="file")
        results[seed] = demo_engine.run_backtest(bars=500, seed=seed)
        tradetrace.shutdown()
    return folder, results


def copy_of(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "traces"
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(INDEX_FOLDER))
    return target


def manifest(folder: Path) -> dict:
    return json.loads((folder / INDEX_FOLDER / MANIFEST).read_text())["files"]


def answers(query: TraceQuery) -> tuple:
    trades = query.trades(events=False).rows
    return (query.stats.spans, sorted((t.trade_id, t.outcome, t.realized_pnl) for t in trades),
            query.sql("SELECT count(*), count(DISTINCT trace_id), sum(duration_ns) FROM spans"))


def test_first_query_indexes_and_later_ones_read_only_the_index(demo_runs, tmp_path):
    folder = copy_of(demo_runs[0], tmp_path)
    direct = TraceQuery(folder, index=False)
    assert not (folder / INDEX_FOLDER).exists()

    first = TraceQuery(folder)
    files = sorted(p for p in folder.rglob("*.jsonl") if not p.name.endswith("-metrics.jsonl"))
    assert first.indexed == len(files) >= 2
    assert answers(first) == answers(direct)
    assert counts(first.stats) == counts(direct.stats)

    again = TraceQuery(folder)
    assert again.indexed == 0
    assert answers(again) == answers(direct)
    parts = sorted((folder / INDEX_FOLDER).glob("run_id=*/*.parquet"))
    assert {p.parent.name for p in parts} == {
        f"run_id={r}" for (r,) in direct.sql("SELECT DISTINCT run_id FROM spans")}


def test_new_changed_and_removed_files_update_only_their_parts(demo_runs, tmp_path):
    folder = copy_of(demo_runs[0], tmp_path)
    seed5, seed6 = sorted(p for p in folder.iterdir() if p.is_dir())
    shutil.move(str(seed6), tmp_path / "later")
    before = TraceQuery(folder)
    assert before.stats.spans == TraceQuery(seed5, index=False).stats.spans

    shutil.move(str(tmp_path / "later"), seed6)  # a new run lands
    grown = TraceQuery(folder)
    assert grown.indexed == len(list(seed6.glob("*-0*.jsonl")))
    assert answers(grown) == answers(TraceQuery(folder, index=False))

    trace_file = next(seed5.glob("*-0001.jsonl"))
    extra = line(span("late", trace_id="e" * 32, span_id="1" * 16))
    with trace_file.open("a") as out:  # a file that grew (a live run)
        out.write(extra + "\n")
    changed = TraceQuery(folder)
    assert changed.indexed == 1
    assert changed.sql("SELECT count(*) FROM spans WHERE name = 'late'") == [(1,)]

    old_parts = manifest(folder)[trace_file.relative_to(folder).as_posix()]["parts"]
    trace_file.unlink()
    gone = TraceQuery(folder)
    assert gone.indexed == 0
    assert gone.sql("SELECT count(*) FROM spans WHERE name = 'late'") == [(0,)]
    assert trace_file.relative_to(folder).as_posix() not in manifest(folder)
    assert not any((folder / INDEX_FOLDER / part).exists() for part in old_parts)
    assert answers(gone) == answers(TraceQuery(folder, index=False))


def test_a_deleted_part_or_damaged_manifest_is_rebuilt_from_the_files(demo_runs, tmp_path):
    folder = copy_of(demo_runs[0], tmp_path)
    expected = answers(TraceQuery(folder))
    next((folder / INDEX_FOLDER).glob("run_id=*/*.parquet")).unlink()
    assert TraceQuery(folder).indexed == 1
    next((folder / INDEX_FOLDER / TRADES).glob("run_id=*/*.parquet")).unlink()
    assert TraceQuery(folder).indexed == 1
    (folder / INDEX_FOLDER / MANIFEST).write_text("{not json")
    rebuilt = TraceQuery(folder)
    assert rebuilt.indexed >= 2
    assert answers(rebuilt) == expected


def test_trades_combined_from_the_index_are_the_trades_read_from_the_spans(tmp_path):
    """A trade's events in two rotated files, without its ``trade`` span (figures from
    its events), and a trade with two ``trade`` spans (the later wins): every field
    the same from the index's trade rows as from the spans."""
    def event(kind: str, sid: str, start: int, **attributes: object) -> dict:
        return span(kind, span_id=sid * 16, start=start, attributes={
            "trading.event.type": kind, "trading.trade.id": "trd_a", "trading.symbol": "SPY",
            "trading.container.id": f"c{start}", **attributes})

    write_lines(tmp_path / "run-0001.jsonl", [line(
        event("ORDER", "1", 100), event("FILL", "2", 200, **{"trading.order.status": "FILLED"}),
        event("POSITION_OPEN", "3", 300, **{"trading.position.entry_price": 10.5}),
        span("trade", span_id="7" * 16, start=50, attributes={
            "trading.trade.id": "trd_b", "trading.trade.realized_pnl": 1.0}),
        resource={"trading.run.id": "r1"})])
    write_lines(tmp_path / "run-0002.jsonl", [line(
        event("FILL", "4", 400, **{"trading.order.status": "REJECTED"}),
        event("POSITION_CLOSE", "5", 500, **{"trading.position.exit_price": 11.0,
                                             "trading.position.realized_pnl": 50.0}),
        event("POSITION_CLOSE", "6", 600, **{"trading.position.exit_price": 12.0,
                                             "trading.position.realized_pnl": 150.0}),
        span("trade", span_id="8" * 16, start=60, duration=5_000, attributes={
            "trading.trade.id": "trd_b", "trading.trade.realized_pnl": 2.0,
            "trading.trade.outcome": "win"}),
        resource={"trading.run.id": "r1"})])
    direct = TraceQuery(tmp_path, index=False).trades(events=False).rows
    indexed_query = TraceQuery(tmp_path)
    assert indexed_query._indexed_trade_rows()  # the fast path is the one tested
    assert indexed_query.trades(events=False).rows == direct
    a, b = sorted(direct, key=lambda t: t.trade_id)
    assert (a.has_trade_span, a.entry_price, a.exit_price, a.realized_pnl) == (
        False, 10.5, 12.0, 150.0)
    assert (a.orders, a.fills, a.rejected_orders, a.container_id, a.run_id) == (
        1, 2, 1, "c100", "r1")
    assert (b.has_trade_span, b.realized_pnl, b.outcome) == (True, 2.0, "win")

    # the second file read twice (a copy beside it): its events count once
    shutil.copy(tmp_path / "run-0002.jsonl", tmp_path / "copy-0002.jsonl")
    twice = TraceQuery(tmp_path)
    assert twice._spans_twice == 4 and twice._indexed_trade_rows()
    assert twice.trades(events=False).rows == direct


def test_skips_are_said_the_same_from_the_index_as_from_the_files(tmp_path):
    good = spans_line(0, 3)
    no_ids = span("y", span_id="")
    write_lines(tmp_path / "a.jsonl", [good, good[:40], line(span("x", span_id="f" * 16),
                                                              no_ids)])
    (tmp_path / "b.jsonl").write_bytes(b"\x00\xff not json at all\n")
    write_lines(tmp_path / "c.jsonl", [spans_line(10, 2), '{"resourceMetrics": []}'])
    direct = TraceQuery(tmp_path, index=False)
    for _ in range(2):  # indexing, then from the manifest
        indexed = TraceQuery(tmp_path)
        assert counts(indexed.stats) == counts(direct.stats)
        assert sorted(indexed.stats.messages) == sorted(direct.stats.messages)
        assert set(indexed.sql("SELECT span_id FROM spans")) == set(
            direct.sql("SELECT span_id FROM spans"))


def test_spans_without_a_run_id_go_to_hives_null_partition(tmp_path):
    write_lines(tmp_path / "collector.json", [spans_line(0, 4)])
    query = TraceQuery(tmp_path)
    assert query.sql("SELECT count(*), count(run_id) FROM spans") == [(4, 0)]
    assert [p.parent.name for p in (tmp_path / INDEX_FOLDER).glob("run_id=*/*.parquet")] == [
        f"run_id={NULL_PARTITION}"]


def test_a_read_only_folder_is_read_directly_with_a_note(demo_runs, tmp_path):
    if os.geteuid() == 0:
        # root writes anywhere: make the index folder's place a file instead
        folder = copy_of(demo_runs[0], tmp_path)
        (folder / INDEX_FOLDER).write_text("in the way")
    else:
        folder = copy_of(demo_runs[0], tmp_path)
        folder.chmod(0o555)
    query = TraceQuery(folder)
    assert query.indexed == 0
    assert any("run index not written" in m for m in query.stats.messages)
    assert answers(query) == answers(TraceQuery(folder, index=False))


def test_a_file_named_directly_is_indexed_beside_it(demo_runs, tmp_path):
    folder = copy_of(demo_runs[0], tmp_path)
    one = next(folder.rglob("*-0001.jsonl"))
    query = TraceQuery(one)
    assert query.indexed == 1
    assert (one.parent / INDEX_FOLDER / MANIFEST).is_file()
    assert list(manifest(one.parent)) == [one.name]
    assert query.sql("SELECT DISTINCT file FROM spans") == [(str(one.resolve()),)]


def test_the_index_is_plain_parquet_another_engine_reads_alone(demo_runs, tmp_path):
    """A team that outgrows one machine points pyarrow (or Spark, Trino, ClickHouse) at
    the index: the same trade count and P&L as `tradetrace query trades`."""
    pyarrow_dataset = pytest.importorskip("pyarrow.dataset")
    import pyarrow.compute as pc

    folder = copy_of(demo_runs[0], tmp_path)
    query = TraceQuery(folder)
    ours = [t for t in query.trades(events=False).rows if t.has_trade_span]

    dataset = pyarrow_dataset.dataset(folder / INDEX_FOLDER, format="parquet",
                                      partitioning="hive")
    table = dataset.to_table(columns=["run_id", "name", "trade_id", "trade_outcome",
                                      "trade_pnl"], filter=pc.field("name") == "trade")
    assert table.num_rows == len(ours)
    assert sorted(table.column("trade_id").to_pylist()) == sorted(t.trade_id for t in ours)
    assert pc.sum(table.column("trade_pnl")).as_py() == pytest.approx(
        sum(t.realized_pnl or 0 for t in ours))
    runs = set(table.column("run_id").to_pylist())
    assert runs == {r for (r,) in query.sql("SELECT DISTINCT run_id FROM spans")}
    assert len(runs) == 2


def test_a_refresh_holds_the_folders_lock_for_its_whole_update(demo_runs, tmp_path):
    import fcntl

    folder = copy_of(demo_runs[0], tmp_path)
    with RunIndex(folder)._locked(), open(folder / INDEX_FOLDER / ".lock", "a+b") as other:
        with pytest.raises(BlockingIOError):  # a second refresher would wait here
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(folder / INDEX_FOLDER / ".lock", "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released after it


def test_duckdb_spills_into_a_temporary_folder_not_the_users(demo_runs, tmp_path,
                                                              monkeypatch):
    """DuckDB's default spill folder is ./.tmp: inside a user's checkout, `git add -A`
    picked it up. Ours is a temporary folder, removed with the query."""
    monkeypatch.chdir(tmp_path)
    query = TraceQuery(demo_runs[0], memory_limit="64MB")
    ((spill,),) = query.sql("SELECT current_setting('temp_directory')")
    assert Path(spill).is_dir() and tmp_path not in Path(spill).parents
    query.sql("SELECT trace_id, span_id, attr_values FROM _spans ORDER BY attr_values")
    assert not (tmp_path / ".tmp").exists()
    del query
    import gc

    gc.collect()
    assert not Path(spill).exists()


def test_spans_read_twice_count_once_and_the_check_is_kept_beside_the_parts(demo_runs,
                                                                             tmp_path):
    """A copy of a run's file (our file and the Collector's, a .gz beside the plain one):
    its spans count once. Which copies to leave out depends on the parts alone, so the
    answer is kept in the index folder, read by the next command, and not used once the
    parts change."""
    folder = copy_of(demo_runs[0], tmp_path)
    direct = answers(TraceQuery(folder, index=False))
    (original,) = sorted((folder / "seed5").glob("run_*-0001.jsonl"))
    shutil.copy(original, folder / "seed5" / "collector-copy.jsonl")

    first = TraceQuery(folder)
    assert answers(first) == direct
    assert any("read more than once" in m for m in first.stats.messages)
    (kept,) = (folder / INDEX_FOLDER).glob("_twice-*.parquet")
    written = kept.stat().st_mtime_ns

    again = TraceQuery(folder)
    assert answers(again) == direct
    assert kept.stat().st_mtime_ns == written  # read, not computed and written again

    (folder / "seed5" / "collector-copy.jsonl").unlink()
    assert answers(TraceQuery(folder)) == direct
    assert not any("read more than once" in m for m in TraceQuery(folder).stats.messages)


def test_the_same_ids_in_two_runs_are_two_spans_not_one_read_twice(tmp_path):
    """A span is its run's: two runs sharing trace and span ids (a run's files copied as
    another run of a sweep) hold two spans each; the same file read twice, one."""
    spans = [span("BAR", span_id=f"{i:016x}", start=1_000 + i) for i in range(5)]
    write_lines(tmp_path / "r1-0001.jsonl", [line(*spans, resource={"trading.run.id": "r1"})])
    write_lines(tmp_path / "r2-0001.jsonl", [line(*spans, resource={"trading.run.id": "r2"})])
    for index in (True, False):
        q = TraceQuery(tmp_path, index=index)
        assert q.stats.spans == 10 and not any("more than once" in m for m in q.stats.messages)
        assert q.sql("SELECT run_id, count(*) FROM spans GROUP BY 1 ORDER BY 1") == [
            ("r1", 5), ("r2", 5)]
    shutil.copy(tmp_path / "r2-0001.jsonl", tmp_path / "r2-copy.jsonl")
    q = TraceQuery(tmp_path)
    assert q.stats.spans == 10 and q._spans_twice == 5
