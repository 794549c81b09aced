"""Tables show what one needs to type next (issue 16): ids, P&L and dates whole at any
terminal width, the columns worth least left out first (and said), empty columns not
shown, numbers right-aligned under headers with their units, one style everywhere."""

from __future__ import annotations

import json

import pytest

from tradetrace.cli.main import main


def trades_json(capsys, folder: str) -> list[dict]:
    assert main(["query", "trades", folder, "--json", "--limit", "0"]) == 0
    return json.loads(capsys.readouterr().out)


def rows_of(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("─"))
    return [line for line in lines[start + 1:] if line and not line.startswith("not shown")]


@pytest.mark.parametrize("width", [80, 120])
def test_trade_ids_pnl_and_dates_are_whole_at_80_and_120_columns(runs, capsys, monkeypatch,
                                                                 width: int) -> None:
    (folder, _), _ = runs
    trades = [t for t in trades_json(capsys, folder) if t["realized_pnl"] is not None][:8]
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["query", "trades", folder, "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= width
    rows = {row.split()[0]: row for row in rows_of(out)}
    for trade in trades:
        row = rows[trade["trade_id"]]  # the whole id starts its row
        assert f"{trade['realized_pnl']:,.2f}" in row
        assert trade["entry_time"].replace("T", " ") in row


def test_a_narrow_terminal_says_what_it_left_out_and_wide_shows_it(runs, capsys,
                                                                   monkeypatch) -> None:
    (folder, _), _ = runs
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["query", "trades", folder, "--limit", "3"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[1].split()
    assert header[:2] == ["trade", "id"] and "kept" not in header
    assert "not shown at this width: " in out and "kept-by" in out
    assert "--wide shows every column" in out
    assert main(["query", "trades", folder, "--limit", "3", "--wide"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[-2:] == ["kept", "by"] and "not shown" not in out
    assert main(["query", "trades", folder, "--limit", "3", "--columns", "pnl,trade-id"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split() == ["P&L", "trade", "id"]


def test_columns_empty_in_every_row_are_not_shown(runs, capsys) -> None:
    """At NORMAL no span has a handler: no handler column (it was there, empty)."""
    (folder, _), _ = runs
    assert main(["query", "bottlenecks", folder]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert header.split()[:4] == ["container", "event", "type", "count"]
    assert "handler" not in header


def test_compare_shows_each_stage_once(runs, capsys) -> None:
    """At NORMAL each event type is one stage: its event-type row repeated its numbers."""
    (a, b), _ = runs
    assert main(["query", "compare", a, b, "--limit", "0"]) == 0
    out = capsys.readouterr().out
    table = rows_of(out)[:rows_of(out).index("trades") if "trades" in rows_of(out) else None]
    stage_rows = [row.split()[:2] for row in table if row.split()[0] != "run"]
    event_types = [event_type for _, event_type in stage_rows if event_type.isupper()]
    assert len(event_types) == len(set(event_types)) >= 6
    assert "(all)" not in out and "event_type" not in out


def test_numbers_are_right_aligned_under_headers_with_units(runs, capsys) -> None:
    (folder, _), _ = runs
    assert main(["query", "bottlenecks", folder, "--wide"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1]
    assert {"p50 us", "p99 us", "max us", "self total us"} <= {
        h.strip() for h in header.split("  ") if h.strip()}
    end = header.index("p99 us") + len("p99 us")
    for row in rows_of("\n".join(lines)):
        assert row[end - 1].isdigit() and row[end:end + 1] in (" ", "")


def test_summary_and_query_tables_have_one_style(runs, capsys) -> None:
    """The same header rule and no box lines in both (summary printed ASCII, query boxes)."""
    (folder, _), _ = runs
    assert main(["summary", folder]) == 0
    summary = capsys.readouterr().out
    assert main(["query", "bottlenecks", folder]) == 0
    query = capsys.readouterr().out
    for out in (summary, query):
        assert any(line.startswith("─") and set(line) == {"─"} for line in out.splitlines())
        assert not {"│", "┃", "━", "-----"} & {c for line in out.splitlines()
                                               for c in ("│", "┃", "━", "-----") if c in line}
        assert all(line == line.rstrip() for line in out.splitlines())
