"""Flags do what they say (issue 16): --limit shortens --json and one trade's lifecycle,
errors name command-line flags, and a reader that stops early ends nothing in a
traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tradetrace.cli.main import main


def test_json_into_head_exits_quietly(runs) -> None:
    """`tradetrace query ... --json | head -1`: the reader closes the pipe after a line;
    the output (far more than a pipe holds) stops there, status 0, nothing on stderr."""
    folders, _ = runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
    with subprocess.Popen(
            [sys.executable, "-m", "tradetrace.cli.main", "query", "patterns", "orphan_events",
             *folders, "--json", "--limit", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as child:
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline() == b"[\n"
        child.stdout.close()
        err = child.stderr.read().decode()
        assert child.wait(timeout=120) == 0
    assert err == ""  # no traceback, no BrokenPipeError, no "Exception ignored"


def test_json_honours_limit(runs, capsys) -> None:
    (folder, _), _ = runs
    assert main(["query", "trades", folder, "--json", "--limit", "0"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert main(["query", "trades", folder, "--json", "--limit", "3"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == every[:3]
    assert f"tradetrace: 3 of {len(every)} trades shown (--limit 0 shows all)" in captured.err
    assert main(["query", "bottlenecks", folder, "--json", "--limit", "2"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_trade_limit_shortens_its_lifecycle(runs, capsys) -> None:
    (folder, _), _ = runs
    assert main(["query", "trades", folder, "--json", "--limit", "0"]) == 0
    trade_id = next(t["trade_id"] for t in json.loads(capsys.readouterr().out)
                    if t["fills"] >= 2)
    assert main(["query", "trade", trade_id, folder, "--json", "--limit", "0"]) == 0
    events = json.loads(capsys.readouterr().out)["trade"]["events"]
    assert len(events) > 2
    assert main(["query", "trade", trade_id, folder, "--json", "--limit", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["trade"]["events"] == events[:2]
    assert main(["query", "trade", trade_id, folder, "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert f"lifecycle: {len(events)} events (first 2; --limit 0 shows all)" in out
    lifecycle = out[out.index("lifecycle:"):].splitlines()
    assert len(lifecycle) == 3 + 2  # title, header, rule, two events
    assert [e["event_id"] in line for e, line in zip(events, lifecycle[3:])] == [True, True]


def test_errors_name_flags_not_python_parameters(runs, capsys) -> None:
    (folder, _), _ = runs
    assert main(["query", "patterns", "latency_spike", folder]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("error: latency_spike needs --threshold-ms or --relative "
                                "(or both)")
    assert "threshold_ms" not in err
    assert main(["query", "patterns", "signal_without_order", folder, "--relative", "2"]) == 2
    assert ("--relative: not an option of signal_without_order (it takes --changed-only)"
            in capsys.readouterr().err)
