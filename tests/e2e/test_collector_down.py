"""The Collector dies in the middle of a backtest: the backtest finishes with the results
it has untraced, what reached the Collector before is on disk, and the process's exit
line accounts for every span: exported (at least what the Collector wrote) plus dropped
by reason."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tradetrace.analyse.query import TraceQuery

from .stack import ROOT, collector, wait_until

pytestmark = pytest.mark.e2e

BARS = 100_000  # a few seconds traced: long enough to lose the Collector halfway


def test_collector_dying_mid_run(tmp_path):
    command = [sys.executable, str(ROOT / "examples" / "backtest.py"), "--bars", str(BARS),
               "--seed", "8", "--quiet"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    bare = subprocess.run(command, capture_output=True, text=True, timeout=300, env=base)
    files = tmp_path / "otelcol"
    with collector(tmp_path, "file.yaml",
                   OTELCOL_FILE_PATH=str(files / "traces.jsonl")) as ports:
        env = {**base, "TRADETRACE_LEVEL": "normal", "TRADETRACE_STORAGE": "otlp",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports['otlp_http']}",
               "OTEL_EXPORTER_OTLP_TIMEOUT": "2"}
        traced = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env)
        try:
            wait_until(lambda: any(files.glob("*.jsonl")) and TraceQuery(files).stats.spans
                       > 0 or traced.poll() is not None, 120,
                       "the first spans in the Collector's file")
        except AssertionError:
            traced.kill()
            raise
        assert traced.poll() is None, "the backtest ended before the Collector could die"
    # the Collector is stopped here, mid-run
    out, err = traced.communicate(timeout=300)
    assert traced.returncode == 0, err
    assert out.rsplit(",", 1)[0] == bare.stdout.rsplit(",", 1)[0]  # same trading results
    delivered = TraceQuery(files).stats.spans
    assert delivered > 0
    (report,) = [line for line in err.splitlines() if " = exported " in line]
    found = re.search(r"recorded (\d+) = exported (\d+) \+ dropped (\d+) \((.*?)\) "
                      r"\+ pending (\d+)(?:; trade spans: (\d+) exported)?", report)
    assert found is not None, report
    recorded, exported, dropped, pending = (int(found[i]) for i in (1, 2, 3, 5))
    assert recorded == exported + dropped and pending == 0 and 0 < dropped < recorded
    reasons = dict(item.rsplit(" ", 1) for item in found[4].split(", "))
    assert set(reasons) <= {"sink_failure", "sink_resting", "sink_backlog", "buffer_full"}, (
        reasons)
    assert 0 < delivered <= exported + int(found[6] or 0)  # what the Collector wrote
