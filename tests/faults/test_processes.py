"""Worker processes under faults: a pool ended by close+join, by terminate() (SIGTERM)
and with a worker killed by SIGKILL, under fork and spawn; and a fork while the parent's
writer is stuck in a write. Workers report their accounting to the parent, which says
it at exit and names the workers whose count cannot be known."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import toybus
from tradetrace import conventions as conv
from tradetrace.analyse.reader import ReadStats, read_spans

PROGRAMS = Path(__file__).resolve().parent / "programs"
WORKERS_LINE = re.compile(r"(\d+) worker process\(es\): recorded (\d+) = exported (\d+) "
                          r"\+ dropped (\d+)(?: \((.*?)\))? \+ pending (\d+)")


def traced_env(tmp_path: Path) -> dict[str, str]:
    profile = tmp_path / "toy.yaml"
    profile.write_text(yaml.safe_dump(toybus.PROFILE))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    tests = str(Path(__file__).resolve().parents[1])
    env.update(TRADETRACE_LEVEL="normal", TRADETRACE_OUTPUT=str(tmp_path / "traces"),
               TRADETRACE_PROFILE=str(profile), TRADETRACE_RUN_ID="sweep",
               PYTHONPATH=os.pathsep.join(filter(None, [tests, env.get("PYTHONPATH")])))
    return env


def worker_bars(folder: Path) -> dict[str, list[str]]:
    stats = ReadStats()
    out: dict[str, list[str]] = {}
    for span in read_spans([folder], stats):
        if span.name == "BAR" and conv.WORKER_ID in span.resource:
            out.setdefault(span.resource[conv.WORKER_ID], []).append(
                span.attributes[conv.EVENT_ID])
    assert stats.bad_lines == 0
    return out


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("ending", ["join", "terminate"])
def test_every_worker_s_count_reaches_the_parent(method, ending, tmp_path):
    done = subprocess.run([sys.executable, str(PROGRAMS / "pool.py"), method, ending],
                          capture_output=True, text=True, timeout=180,
                          env=traced_env(tmp_path))
    assert done.returncode == 0, done.stderr
    found = WORKERS_LINE.search(done.stderr)
    assert found is not None, done.stderr
    recorded, exported, dropped, pending = (int(found[i]) for i in (2, 3, 4, 6))
    assert recorded == exported == 2 * 500 and dropped == pending == 0
    assert "without reporting" not in done.stderr
    bars = worker_bars(tmp_path / "traces")
    ids = [i for worker in bars.values() for i in worker]
    assert len(ids) == len(set(ids)) == 1000  # every one, none twice


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_killed_worker_is_named_as_unknown(method, tmp_path):
    done = subprocess.run([sys.executable, str(PROGRAMS / "pool.py"), method, "kill"],
                          capture_output=True, text=True, timeout=180,
                          env=traced_env(tmp_path))
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if "without reporting" in x]
    assert "1 worker process(es) ended without reporting a count" in line
    assert "what they recorded is unknown" in line
    found = WORKERS_LINE.search(line)
    assert found is not None  # the others' counts are still summed
    assert int(found[2]) >= 500 and int(found[2]) == int(found[3])


def test_fork_while_the_writer_is_stuck_in_a_write(tmp_path):
    """The parent's trace file is a FIFO nobody reads: its writer thread blocks in the
    write. os.fork() still returns at once in both processes (no lock the writer holds
    is taken), the child traces into its own files, and the parent's shutdown gives up
    at its deadline and says so."""
    done = subprocess.run([sys.executable, str(PROGRAMS / "stuck_fork.py"),
                           str(tmp_path / "traces")],
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith(("TRADETRACE_", "OTEL_"))})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["child-exit", "0", "shutdown", "False"]
    bars = worker_bars(tmp_path / "traces")
    assert [len(ids) for ids in bars.values()] == [300]
    assert "shutdown_timeout" in done.stderr
