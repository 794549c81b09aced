"""Parameter sweeps in worker processes, fork and spawn: every worker's spans arrive,
with the run's id and their own worker id, none twice, and a SIGNAL handed to another
process through a queue stays the parent of the ORDER published there."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans

SWEEP = Path(__file__).resolve().parents[1] / "programs" / "sweep.py"
SEEDS, BARS = 4, 60


def _sweep(method: str, out: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    env.update(TRADETRACE_LEVEL="normal", TRADETRACE_OUTPUT=str(out), **extra)
    done = subprocess.run([sys.executable, str(SWEEP), method], capture_output=True,
                          text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_every_worker_s_spans_arrive_and_causation_crosses_the_queue(method, tmp_path):
    out = tmp_path / "traces"
    done = _sweep(method, out)
    events, desk_exit = done.stdout.split()
    assert desk_exit == "0"
    spans = list(read_spans([out]))

    assert len({s.span_id for s in spans}) == len(spans), "a span was exported twice"
    assert len({s.resource[conv.RUN_ID] for s in spans}) == 1  # one run, many processes
    main = [s for s in spans if conv.WORKER_ID not in s.resource]
    workers = [s for s in spans if conv.WORKER_ID in s.resource]

    bars = [s for s in workers if s.attributes.get(conv.EVENT_TYPE) == "BAR"]
    assert len(bars) == SEEDS * BARS
    backtest_events = [s for s in workers if conv.EVENT_TYPE in s.attributes
                       and s.attributes.get(conv.CONTAINER_ID) != "portfolio_desk"]
    assert len(backtest_events) == int(events)  # what the backtests counted, every one
    runs = Counter(s.resource[conv.WORKER_ID] for s in workers
                   if s.name == "Coordinator.run_topology")
    assert sum(runs.values()) == SEEDS and len(runs) <= 2  # a pool of two workers
    for s in workers:
        assert s.resource[conv.WORKER_ID] == f"w{s.resource['process.pid']}"
        assert s.resource["process.parent_pid"] == main[0].resource["process.pid"]

    (signal,) = [s for s in main if s.attributes.get(conv.EVENT_TYPE) == "SIGNAL"]
    (order,) = [s for s in workers if s.attributes.get(conv.CONTAINER_ID) == "portfolio_desk"
                and s.attributes.get(conv.EVENT_TYPE) == "ORDER"]
    assert order.trace_id == signal.trace_id
    assert order.parent_id == signal.span_id
    assert order.attributes[conv.CAUSATION_ID] == signal.attributes[conv.EVENT_ID]

    files = sorted(p.name for p in out.glob("*.jsonl") if not p.name.endswith("-metrics.jsonl"))
    run = main[0].resource[conv.RUN_ID]
    assert f"{run}-0001.jsonl" in files
    assert any(name.startswith(f"{run}-w") for name in files)

