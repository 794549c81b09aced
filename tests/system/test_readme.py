"""The README as a newcomer meets it: its first command runs as written (in a temporary
folder) and prints what the README's sample shows; its second command is what CI runs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return [b.split("```", 1)[0] for b in README.split(f"```{language}\n")[1:]]


def _numbers(line: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"(?<![\w.])\d[\d,]*(?![\d.])", line)]


@pytest.fixture(scope="module")
def first_command(tmp_path_factory) -> tuple[str, str]:
    """The README's first command's run and summary, with its trace folder moved to a
    temporary one (the install step is what made this test's environment)."""
    command = next(b for b in _blocks("sh") if "tradetrace summary" in b).strip()
    steps = [shlex.split(step) for step in command.split(" && ")]
    assert steps[0][:4] == ["python", "-m", "pip", "install"]
    folder = steps[1][-1]
    assert steps[1][:2] == ["rm", "-rf"] and steps[-1] == ["tradetrace", "summary", folder]
    out = tmp_path_factory.mktemp("readme") / "demo"
    # As piped by a user: a COLUMNS that the test runner's terminal library left in the
    # process environment would set the width (docs: COLUMNS wins when set).
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    printed = []
    for step in steps[2:]:
        argv = [str(out) if word == folder else word for word in step]
        assert argv[0] == "tradetrace"
        done = subprocess.run([sys.executable, "-m", "tradetrace.cli.main", *argv[1:]],
                              cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        printed.append(done.stdout)
    return printed[0], printed[1]


def _sample() -> str:
    return next(b for b in _blocks("text") if " spans in " in b.splitlines()[0])


def test_the_sample_summary_is_what_the_first_command_prints(first_command):
    _, summary = first_command
    lines = summary.splitlines()
    metrics = next(line for line in lines if line.startswith("events recorded:"))
    recorded, _open, exported, dropped, _evicted = _numbers(metrics)
    sample = _sample().splitlines()
    assert exported + dropped <= recorded
    pnl = next(s for s in sample if s.startswith("realised P&L:"))
    # the last line is the next step, the viewer over the same folder
    assert sample[-1] == "view: tradetrace serve tradetrace-traces/demo"
    assert re.fullmatch(r"view: tradetrace serve \S+/demo", lines[-1]), lines[-1]
    lost = next((line for line in lines if line.startswith("LOST: ")), None)
    if dropped or lost:
        # A loaded machine may drop (the trading thread never waits on tracing): the
        # summary then says how many were lost, and the counts below are short by them.
        assert lost is not None, "spans were dropped and the summary did not say so"
        missing = _numbers(lost)[0]
        assert recorded + missing == _numbers(next(
            s for s in sample if s.startswith("events recorded:")))[0]
        assert _numbers(lines[0])[0] == _numbers(sample[0])[0] - missing
        return
    assert _numbers(next(s for s in sample if s.startswith("events recorded:")))[0] == recorded
    assert _numbers(lines[0])[:3] == _numbers(sample[0])[:3]  # spans, traces, files
    assert pnl in lines
    table = sample.index("event type       spans")
    for row in sample[table + 2:]:
        if row == "...":
            break
        assert row in lines, f"README shows {row!r}; the summary printed:\n{summary}"
    # the latency table's columns are as wide as this run's numbers: matched by words
    def header(rows: list[str]) -> int:
        return next(i for i, row in enumerate(rows)
                    if row.split() == ["event", "type", "count", "p50", "us", "p99", "us",
                                       "max", "us"])

    latency = header(sample)
    shown = {s.split()[0]: s.split()[1] for s in sample[latency + 2:] if s != "..."
             and not s.startswith(("metrics", "events", "realised", "view")) and s.split()}
    printed = {s.split()[0]: s.split()[1] for s in lines[header(lines) + 2:]
               if s.split() and s.split()[0] in shown}
    assert printed == {k: v for k, v in shown.items() if k in printed} and printed


def test_the_backtest_part_reports_the_run(first_command):
    run, _ = first_command
    assert "20,000 bars of SPY" in run


def test_the_second_command_is_what_ci_runs():
    command = next(b for b in _blocks("sh") if "python -m pytest" in b).strip()
    assert command in (ROOT / ".ci" / "run").read_text()
