"""A run whose spans all failed to deliver says so loudly at exit, and with fail_fast
(``TRADETRACE_FAIL_FAST`` or ``tracing.fail_fast``) the process ends with status 3.
Real processes: an exit status is only seen from outside."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tradetrace.config import load_config
from tradetrace.errors import ConfigError
from tradetrace.export.accounting import Accounting
from tradetrace.reporting import NOTHING_DELIVERED_STATUS, nothing_delivered

ROOT = Path(__file__).resolve().parents[2]
BACKTEST = [sys.executable, str(ROOT / "examples" / "backtest.py"), "--bars", "50", "--quiet"]
LOUD = "NOTHING DELIVERED"


def refused_endpoint() -> str:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def backtest(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADETRACE_", "OTEL_"))}
    # this checkout's package, whatever the working directory (the autostart hook too)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.update({"TRADETRACE_LEVEL": "normal", "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
                "TRADETRACE_FLUSH_TIMEOUT": "10", **variables})
    return subprocess.run(BACKTEST, capture_output=True, text=True, timeout=180, env=env,
                          cwd=tmp_path)


def test_a_run_that_delivered_nothing_says_so_and_exits_as_the_program_did(tmp_path):
    done = backtest(tmp_path, TRADETRACE_STORAGE="otlp",
                    OTEL_EXPORTER_OTLP_ENDPOINT=refused_endpoint())
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = [x for x in done.stderr.splitlines() if LOUD in x]
    assert line.startswith("ERROR") and "none of the " in line and "fail_fast" not in line


@pytest.mark.parametrize("switch", ["variable", "file"])
def test_with_fail_fast_it_exits_non_zero(tmp_path, switch):
    variables = {"TRADETRACE_STORAGE": "otlp",
                 "OTEL_EXPORTER_OTLP_ENDPOINT": refused_endpoint()}
    if switch == "variable":
        variables["TRADETRACE_FAIL_FAST"] = "true"
    else:
        config = tmp_path / "tracing.yaml"
        config.write_text("tracing:\n  fail_fast: true\n")
        variables["TRADETRACE_CONFIG"] = str(config)
    done = backtest(tmp_path, **variables)
    assert done.returncode == NOTHING_DELIVERED_STATUS, done.stderr[-2000:]
    assert f"exits with status {NOTHING_DELIVERED_STATUS}" in done.stderr
    assert "bars" in done.stdout  # the program's own output is all there (flushed)


def test_fail_fast_leaves_a_delivered_run_alone(tmp_path):
    done = backtest(tmp_path, TRADETRACE_FAIL_FAST="true",
                    TRADETRACE_OUTPUT=str(tmp_path / "traces"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert LOUD not in done.stderr
    assert any((tmp_path / "traces").glob("*-0001.jsonl"))


@pytest.mark.parametrize("figures, judged", [
    (Accounting(10, 0, {"sink_failure": 10}), True),
    (Accounting(10, 0, {"sink_failure": 7}, derived_lost=2), True),
    (Accounting(10, 1, {"sink_failure": 9}), False),  # one span got through
    (Accounting(10, 0, {"sink_failure": 10}, derived_exported=1), False),
    (Accounting(10, 0, {"retention_policy": 10}), False),  # dropped by choice
    (Accounting(0, 0, {}), False),  # nothing to deliver
])
def test_nothing_delivered_means_every_span_lost_none_written(figures, judged):
    assert nothing_delivered(figures) is judged


def test_tracing_fail_fast_is_true_or_false(tmp_path):
    config = tmp_path / "tracing.yaml"
    config.write_text("tracing:\n  fail_fast: sometimes\n")
    with pytest.raises(ConfigError, match="tracing.fail_fast"):
        load_config(config_file=config, env={})
    config.write_text("tracing:\n  fail_fast: true\n")
    assert load_config(config_file=config, env={}).fail_fast is True
    assert load_config(config_file=config, env={"TRADETRACE_FAIL_FAST": "0"}).fail_fast is False
