"""A traced feed stopped by a signal mid-run, in a real subprocess: SIGTERM and SIGINT
flush within the timeout and state the accounting, and the process ends as it would
untraced; a handler the program installed is chained, not replaced; SIGKILL leaves only
whole lines behind."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .trading import sequences_in

FEED = Path(__file__).resolve().parent / "programs" / "feed.py"
IDENTITY = re.compile(r"recorded (\d+) = exported (\d+) \+ dropped (\d+)(?: \((.*?)\))? "
                      r"\+ pending (\d+)")


def start(output: Path, *flags: str, **variables: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    env.update(variables)
    return subprocess.Popen([sys.executable, str(FEED), str(output), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def signal_when_ready(process: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    """Wait (bounded) for the feed's ``ready``, send ``signum``, collect its output."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], 60)
    assert readable, "the feed never got ready"
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    return out, err


def exit_line(err: str) -> tuple[int, int, int, int]:
    lines = [line for line in err.splitlines() if IDENTITY.search(line)]
    assert len(lines) == 1, err
    found = IDENTITY.search(lines[0])
    assert found is not None
    return int(found[1]), int(found[2]), int(found[3]), int(found[5])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_flushes_states_the_count_and_ends_as_untraced(signum, tmp_path):
    untraced = start(tmp_path / "none", "--untraced")
    signal_when_ready(untraced, signum)
    traced = start(tmp_path / "traces")
    out, err = signal_when_ready(traced, signum)

    assert traced.returncode == untraced.returncode == -signum
    assert "done" not in out  # stopped mid-run
    recorded, exported, dropped, pending = exit_line(err)
    assert recorded >= 1000 and recorded == exported and dropped == pending == 0
    if signum == signal.SIGTERM:
        assert "stopped by SIGTERM" in err
    numbers, read = sequences_in(tmp_path / "traces")
    assert read.bad_lines == 0
    assert sorted(numbers) == list(range(recorded))  # every event published, once


def test_the_program_s_own_sigterm_handler_is_chained(tmp_path):
    """It runs and decides (here: exit status 3); tracing flushes at that exit."""
    traced = start(tmp_path / "traces", "--own-handler")
    out, err = signal_when_ready(traced, signal.SIGTERM)
    assert traced.returncode == 3
    assert "handled" in out
    recorded, exported, dropped, pending = exit_line(err)
    assert recorded == exported and dropped == pending == 0
    numbers, _ = sequences_in(tmp_path / "traces")
    assert sorted(numbers) == list(range(recorded))


def test_sigterm_handling_can_be_turned_off(tmp_path):
    """handle_sigterm: false leaves SIGTERM's default alone: no flush, no line."""
    config = tmp_path / "tracing.yaml"
    config.write_text("tracing:\n  handle_sigterm: false\n")
    traced = start(tmp_path / "traces", TRADETRACE_CONFIG=str(config))
    _, err = signal_when_ready(traced, signal.SIGTERM)
    assert traced.returncode == -signal.SIGTERM
    assert not IDENTITY.search(err)


def test_sigkill_leaves_only_whole_lines(tmp_path):
    """Nothing can flush or speak after SIGKILL; what is on disk stays readable: lines
    go to the OS whole (one writev each), so at most a line cut by the kill itself."""
    traced = start(tmp_path / "traces", "--ready", "5000", "--flush-at-ready")
    _, err = signal_when_ready(traced, signal.SIGKILL)  # while it publishes and writes on
    assert traced.returncode == -signal.SIGKILL
    numbers, read = sequences_in(tmp_path / "traces")
    assert read.bad_lines <= 1
    assert len(set(numbers)) == len(numbers)
    # flushed before the kill: all there but what the publish path dropped, counted (a
    # loaded machine can leave the worker behind a publisher for more than publish_wait_ms)
    flushed = re.search(r"flushed (\w+) dropped (\d+) pending (\d+)", err)
    assert flushed is not None and flushed[1] == "True" and flushed[3] == "0", err
    assert len(set(range(5000)) - set(numbers)) == int(flushed[2])
