"""The command line: `tradetrace run` traces an unmodified program, `summary` reads files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans
from tradetrace.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
BACKTEST = str(ROOT / "examples" / "backtest.py")


def _tradetrace(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tradetrace.cli.main", *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=cwd,
    )


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRADETRACE_", "OTEL_"))}
    env.update(extra)
    return env


def test_run_traces_an_unmodified_program(tmp_path):
    """`tradetrace run -- python examples/backtest.py` writes the run's spans, from any cwd."""
    out = tmp_path / "traces"
    done = _tradetrace("run", "--level", "normal", "--output", str(out), "--",
                       sys.executable, BACKTEST, "--bars", "300", "--seed", "5",
                       env=_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # no warnings or errors from tracing: only the line saying where the spans go
    (said,) = [line for line in done.stderr.splitlines() if "tradetrace" in line]
    assert said.startswith("tradetrace: tracing run ") and said.endswith(f"files in {out}")
    spans = list(read_spans([out]))
    kinds = {s.attributes.get(conv.EVENT_TYPE) for s in spans}
    assert {"BAR", "SIGNAL", "ORDER", "FILL", "POSITION_OPEN", "POSITION_CLOSE"} <= kinds
    assert any(s.name == "Coordinator.run_topology" for s in spans)
    bars = [s for s in spans if s.attributes.get(conv.EVENT_TYPE) == "BAR"]
    assert len(bars) == 300


def test_run_passes_the_program_exit_code_and_output(tmp_path):
    """The traced program's stdout and exit status are its own."""
    script = tmp_path / "exit3.py"
    script.write_text("print('hello from the strategy')\nraise SystemExit(3)\n")
    done = _tradetrace("run", "--output", str(tmp_path / "t"), "--", sys.executable,
                       str(script), env=_env())
    assert done.returncode == 3
    assert done.stdout == "hello from the strategy\n"


def test_run_rejects_a_bad_level_before_starting_the_program(tmp_path):
    """A bad setting is one clear line and exit status 2; the program is not started."""
    marker = tmp_path / "started"
    script = tmp_path / "p.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    done = _tradetrace("run", "--level", "verbose", "--", sys.executable, str(script),
                       env=_env())
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tradetrace: --level: 'verbose' is not valid; allowed: none, minimal, normal, debug"
    ]
    assert not marker.exists()


def test_run_rejects_a_profile_it_cannot_find_before_starting(tmp_path):
    """A profile naming a module the program cannot import is caught before it starts."""
    profile = tmp_path / "p.yaml"
    profile.write_text("name: x\npublish: [nosuch_pkg.bus:Bus.publish]\n")
    done = _tradetrace("run", "--profile", str(profile), "--", sys.executable, BACKTEST,
                       env=_env())
    assert done.returncode == 2
    assert "nosuch_pkg.bus:Bus.publish" in done.stderr and "module not found" in done.stderr


def test_run_finds_the_demo_profile_beside_the_script(tmp_path):
    """An explicit `--profile demo` is valid: demo_engine sits beside examples/backtest.py."""
    done = _tradetrace("run", "--profile", "demo", "--output", str(tmp_path / "t"), "--",
                       sys.executable, BACKTEST, "--bars", "20", env=_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "t").glob("*.jsonl"))


def test_bad_setting_inside_the_program_runs_it_untraced(tmp_path):
    """If the start-up hook meets a bad setting it says so once and the program still runs."""
    script = tmp_path / "p.py"
    script.write_text("print('traded')\n")
    env = _env(TRADETRACE_PROFILE="nosuchprofile")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0
    assert done.stdout == "traded\n"
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("tradetrace: tracing disabled: tracing.profile: 'nosuchprofile'")


def test_run_without_a_program_is_a_usage_error(capsys):
    """`tradetrace run` needs a program after --."""
    assert main(["run", "--level", "normal"]) == 2
    assert "give the program after --" in capsys.readouterr().err


def test_summary_prints_tables_and_json(tmp_path, capsys):
    """summary's text and --json agree with the trace files."""
    out = tmp_path / "traces"
    done = _tradetrace("run", "--level", "debug", "--output", str(out), "--",
                       sys.executable, BACKTEST, "--bars", "120", env=_env())
    assert done.returncode == 0, done.stderr
    assert main(["summary", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events_by_type"]["BAR"] == 120
    assert data["handler_latency"] and data["publish_latency"]
    assert data["skipped_lines"] == 0 and len(data["runs"]) == 1
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    for heading in ("event type", "container", "publish latency", "handler latency", "p99 us"):
        assert heading in text


def test_summary_of_nothing_says_so(tmp_path, capsys):
    """An empty folder is a clear message and exit status 1, not a traceback."""
    assert main(["summary", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "no trace files could be read" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_summary_skips_corrupt_lines_and_counts_them(tmp_path, capsys):
    """A truncated line is reported and counted; the rest of the file is summarised."""
    out = tmp_path / "traces"
    done = _tradetrace("run", "--output", str(out), "--", sys.executable, BACKTEST,
                       "--bars", "50", env=_env())
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("*-[0-9][0-9][0-9][0-9].jsonl")
    lines = path.read_text().splitlines()
    lines.insert(1, lines[0][: len(lines[0]) // 2])
    path.write_text("\n".join(lines) + "\n")
    assert main(["summary", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["skipped_lines"] == 1
    assert data["events_by_type"]["BAR"] == 50
    assert any(":2: 1 line(s) not valid OTLP JSON" in p for p in data["problems"])
    assert f"tradetrace: {path}:2: 1 line(s) not valid OTLP JSON" in captured.err  # as query
