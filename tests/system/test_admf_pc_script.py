"""benchmarks/admf_pc.py: it skips cleanly without an ADMF-PC checkout, and the checks it
makes (ADMF-PC's log read, trades matched, the cost table) hold on made-up input."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import admf_pc  # noqa: E402
import admf_pc_checks as checks  # noqa: E402


def run_script(tmp_path, *args, root=None):
    env = {k: v for k, v in os.environ.items() if k not in ("ADMF_PC_ROOT", "ADMF_PC_PYTHON")}
    if root is not None:
        env["ADMF_PC_ROOT"] = str(root)
    return subprocess.run([sys.executable, str(BENCHMARKS / "admf_pc.py"), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def test_without_a_checkout_it_says_so_and_exits_0(tmp_path):
    done = run_script(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().count("\n") == 0
    assert "skipped" in done.stdout and "ADMF_PC_ROOT" in done.stdout
    assert not list(tmp_path.iterdir())


def test_a_folder_that_is_not_a_checkout_is_skipped(tmp_path):
    done = run_script(tmp_path, root=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "not an ADMF-PC checkout" in done.stdout


def test_a_checkout_that_does_not_import_is_skipped(tmp_path):
    (tmp_path / "main.py").write_text("")
    (tmp_path / "config" / "bollinger").mkdir(parents=True)
    (tmp_path / admf_pc.CONFIG).write_text("name: x\n")
    done = run_script(tmp_path, root=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "does not import" in done.stdout


def test_bad_levels_are_refused():
    with pytest.raises(SystemExit):
        admf_pc.parse_args(["--levels", "normal,loud"])
    assert admf_pc.parse_args(["--bars", "all"]).bars == 0
    assert admf_pc.parse_args(["--bars", "20769"]).bars == 20769


def test_bare_runs_carry_no_tradetrace_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TRADETRACE_LEVEL", "debug")
    ctx = admf_pc.Context(tmp_path, sys.executable, 500, tmp_path, False)
    assert not any(k.startswith("TRADETRACE_") for k in admf_pc.run_env(ctx, "bare", None))
    env = admf_pc.run_env(ctx, admf_pc.KEEP_IF_RUN, tmp_path / "t")
    assert env["TRADETRACE_LEVEL"] == "minimal"
    assert "keep_if" in Path(env["TRADETRACE_CONFIG"]).read_text()


# -- ADMF-PC's log, as its portfolio writes it (made-up values) -------------------------------

OPEN_LINE = ("2026-01-01 10:00:00,000 - src.portfolio.state - INFO -   📊 Position updated: "
             "PortfolioPosition(symbol='SPY', quantity=Decimal('1'), average_price=Decimal('10'),"
             " current_price=Decimal('10'), unrealized_pnl=Decimal('0'), realized_pnl="
             "Decimal('0'), opened_at=datetime.datetime(2024, 1, 2, 15, 0, tzinfo=datetime."
             "timezone.utc), last_updated=datetime.datetime(2024, 1, 2, 15, 0, tzinfo=datetime."
             "timezone.utc), metadata={'strategy_id': 's1'})")


def closed_line(pnl: str, opened: str, closed: str, exit_type: str = "signal") -> str:
    return ("2026-01-01 10:00:01,000 - src.portfolio.state - INFO -   📊 Position updated: "
            "PortfolioPosition(symbol='SPY', quantity=Decimal('0'), average_price=Decimal('10'),"
            " current_price=Decimal('10'), unrealized_pnl=Decimal('0'), realized_pnl="
            f"Decimal('{pnl}'), opened_at=datetime.datetime({opened}, tzinfo=datetime.timezone."
            f"utc), last_updated=datetime.datetime({closed}, tzinfo=datetime.timezone.utc), "
            f"metadata={{'bars_held': 0, 'strategy_id': 's1', 'exit_type': '{exit_type}'}})")


def test_the_log_gives_closed_positions_and_outputs():
    lines = [
        OPEN_LINE,
        closed_line("0.290", "2024, 1, 2, 15, 0", "2024, 1, 2, 15, 5"),
        "... INFO - ✅ Published POSITION_CLOSE event for SPY pnl=$0.29",
        closed_line("-0.39015750", "2024, 1, 2, 16, 0", "2024, 1, 2, 16, 30", "stop_loss"),
        "... INFO - ✅ Published POSITION_CLOSE event for SPY pnl=$-0.39",
        "... INFO - ✅ Published POSITION_CLOSE event for flipped position SPY old_qty=1 pnl=$1.25",
        "... INFO -   💳 Cash balance: $100000.90",
        "... INFO -   📈 Total portfolio value: $100001.15",
        "... INFO - Saved 2 trades to /x/traces/store/Tabc.parquet",
        "... INFO - Results directory: config/bollinger/results/20260101_100000",
    ]
    got = checks.parse_admf_log(lines)
    assert [(p.entry_time, p.exit_time, p.realized_pnl, p.exit_type) for p in got.closed] == [
        ("2024-01-02T15:00:00+00:00", "2024-01-02T15:05:00+00:00", Decimal("0.290"), "signal"),
        ("2024-01-02T16:00:00+00:00", "2024-01-02T16:30:00+00:00", Decimal("-0.39015750"),
         "stop_loss"),
    ]
    assert got.closed[0].strategy_id == "s1"
    assert got.close_events == 3 and got.flips == [Decimal("1.25")]
    assert got.realized_pnl == Decimal("0.290") - Decimal("0.39015750") + Decimal("1.25")
    assert (got.final_cash, got.final_value) == ("100000.90", "100001.15")
    assert got.trades_file == "/x/traces/store/Tabc.parquet"
    assert got.results_dir == "config/bollinger/results/20260101_100000"


def test_fingerprints_name_the_first_difference():
    a = checks.parse_admf_log([closed_line("1", "2024, 1, 2, 15, 0", "2024, 1, 2, 15, 5")])
    b = checks.parse_admf_log([closed_line("2", "2024, 1, 2, 15, 0", "2024, 1, 2, 15, 5")])
    assert checks.first_difference(a.fingerprint(), a.fingerprint()) is None
    difference = checks.first_difference(a.fingerprint(), b.fingerprint())
    assert difference is not None and difference.startswith("closed[0]")
    b.closed.append(b.closed[0])
    assert checks.first_difference(a.fingerprint(), b.fingerprint()) == "closed: 1 against 2"


def test_the_exit_line_is_read_with_its_reasons():
    text = ("noise\n2026 - tradetrace.session - INFO - tradetrace: run r1 (files in /t): recorded "
            "171 = exported 23 + dropped 148 (retention_policy 148) + pending 0; trade spans: 1\n")
    line = checks.parse_exit_line(text)
    assert line is not None and line.balanced
    assert (line.recorded, line.exported, line.dropped, line.pending) == (171, 23, 148, 0)
    assert line.text.startswith("tradetrace: run r1")
    unbalanced = checks.parse_exit_line("recorded 5 = exported 3 + dropped 1 + pending 0")
    assert unbalanced is not None and not unbalanced.balanced
    assert checks.parse_exit_line("no such line") is None


# -- trades against closed positions ----------------------------------------------------------


def position(entry, exit_, pnl, strategy="s1"):
    return checks.ClosedPosition("SPY", strategy, entry, exit_, Decimal(pnl))


def trade(tid, entry, exit_, pnl, outcome="win", orders=2, fills=2,
          events=("ORDER", "FILL", "POSITION_OPEN", "POSITION_CLOSE")):
    return checks.TradeView(tid, outcome, "s1", entry, exit_, pnl, orders, fills,
                            frozenset(events))


T1, T2, T3 = "2024-01-02T15:00:00+00:00", "2024-01-02T15:05:00+00:00", "2024-01-02T15:10:00+00:00"


def test_each_position_matches_one_trade_by_times_then_pnl():
    positions = [position(T1, T2, "0.5"), position(T1, T2, "-0.25"), position(T2, T3, "1"),
                 position(T1, T3, "2")]
    trades = [trade("a", T1, T2, -0.25, "loss"), trade("b", T1.replace("+00:00", "Z"), T2, 0.5),
              trade("c", T2, T3, 1.5), trade("d", None, None, None, "incomplete", 10, 10, ())]
    match = checks.match_trades(positions, trades)
    assert [(p.realized_pnl, t.trade_id) for p, t in match.matched] == [
        (Decimal("0.5"), "b"), (Decimal("-0.25"), "a")]
    assert [(p.realized_pnl, t.trade_id) for p, t in match.pnl_differs] == [(Decimal("1"), "c")]
    assert [p.realized_pnl for p in match.no_trade] == [Decimal("2")]
    assert [t.trade_id for t in match.no_position] == ["d"]


def test_complete_means_outcome_open_close_order_and_fill():
    assert checks.is_complete(trade("a", T1, T2, 1.0))
    assert not checks.is_complete(trade("b", None, None, None, "incomplete"))
    assert not checks.is_complete(trade("c", T1, T2, 1.0, events=("ORDER", "FILL",
                                                                   "POSITION_OPEN")))
    assert not checks.is_complete(trade("d", T1, T2, 1.0, orders=0))


def test_utc_iso_reads_both_spellings_and_offsets():
    assert checks.utc_iso("2024-01-02T15:00:00Z") == T1
    assert checks.utc_iso("2024-01-02T16:00:00+01:00") == T1
    assert checks.utc_iso("2024-01-02T15:00:00") == T1
    assert checks.utc_iso(None) is None


# -- cost --------------------------------------------------------------------------------------


def test_rounds_rotate_so_no_config_always_runs_first():
    configs = ["bare", "none", "normal"]
    orders = [checks.round_order(configs, r) for r in range(3)]
    assert [o[0] for o in orders] == configs
    assert all(sorted(o) == sorted(configs) for o in orders)


def test_cost_table_ratios_against_bare_median():
    times = {"bare": [10.0, 12.0, 11.0], "none": [11.05, 11.0, 11.1], "normal": [12.0, 11.4, 11.6]}
    rows = {r.config: r for r in checks.cost_table(times, {"none": 1.01, "normal": 1.05})}
    assert rows["bare"].ratio == pytest.approx(1.0) and rows["bare"].verdict == ""
    assert rows["none"].median_s == pytest.approx(11.05)
    assert rows["none"].ratio == pytest.approx(11.05 / 11.0)
    assert rows["none"].verdict == "PASS"
    assert rows["normal"].ratio == pytest.approx(11.6 / 11.0)
    assert rows["normal"].verdict == "MISS"
    assert rows["normal"].runs == 3
