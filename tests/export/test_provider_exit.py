"""Spans through an SDK TracerProvider (the program's, or the one `opentelemetry-instrument`
set up) are counted like any others: what its exporters refuse is lost and said, never
reported as exported, and a Collector that is not there costs the exit at most the flush
timeout, not the exporters' retries (issue 12: 50 s for a 0.5 s backtest)."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tradetrace
from export.test_writer_failures import _closed_port
from launch.test_launch_paths import _env, _otel_instrument
from system.test_safety import FailingExporter
from tradetrace import conventions as conv

BACKTEST = str(Path(__file__).resolve().parents[2] / "examples" / "backtest.py")


class Seen(SpanProcessor):
    """A processor of the program's own (not one that exports): it sees every span end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_end(self, span) -> None:
        self.names.append(span.name)


def _events(spans) -> list:
    return [s for s in spans if conv.EVENT_TYPE in s.attributes]


def test_a_batch_processor_s_queue_does_not_drop_our_spans(demo):
    """Its exporter is called from the writer thread: a queue of 16 spans, which would
    drop most of a backtest's with a log line only, loses none."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "desk"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=16,
                                                   max_export_batch_size=16))
    session = tradetrace.configure("normal", profile="demo", tracer_provider=provider)
    results = demo.run_backtest(bars=100, seed=3)
    tradetrace.shutdown()
    assert len(_events(exporter.get_finished_spans())) == results["events"]
    accounting = session.accounting()
    assert accounting.exported == accounting.recorded > results["events"]
    provider.shutdown()


def test_what_the_provider_s_exporter_refuses_is_counted_and_said(demo, caplog):
    provider = TracerProvider()
    refusing = FailingExporter()
    provider.add_span_processor(SimpleSpanProcessor(refusing))
    session = tradetrace.configure("normal", profile="demo", tracer_provider=provider)
    demo.run_backtest(bars=100, seed=3)
    with caplog.at_level(logging.INFO, logger="tradetrace"):
        tradetrace.shutdown()
    accounting = session.accounting()
    assert refusing.calls >= 1
    assert accounting.exported == 0 and accounting.pending == 0
    assert accounting.lost == accounting.recorded > 0
    assert set(accounting.dropped) <= {"sink_failure", "sink_resting"}
    (line,) = [r for r in caplog.records if " = exported " in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert "the OpenTelemetry SDK's FailingExporter" in line.getMessage()
    assert "FailingExporter returned FAILURE" in line.getMessage()
    provider.shutdown()


def test_the_program_s_other_processors_see_every_span_even_one_added_later(demo):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tradetrace.configure("normal", profile="demo", tracer_provider=provider)
    seen = Seen()
    provider.add_span_processor(seen)  # after tracing started
    demo.run_backtest(bars=50, seed=3)
    tradetrace.flush()
    exported = [s.name for s in exporter.get_finished_spans()]
    assert seen.names == exported and len(exported) > 50  # each span once, to both
    provider.shutdown()


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_opentelemetry_instrument_without_a_collector_ends_and_counts_the_loss(
        protocol, tmp_path):
    """The distro's defaults (OTLP exporters for traces, metrics and logs, retrying for
    10 s each) and nothing listening: the backtest's results are unchanged, the process
    ends well inside the subprocess timeout, and the exit line says every span was lost
    and why. The launcher process itself is not traced: one start line."""
    command = [sys.executable, BACKTEST, "--bars", "300", "--seed", "4", "--quiet"]
    bare = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_env())
    env = _env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{_closed_port()}",
               OTEL_EXPORTER_OTLP_PROTOCOL=protocol, OTEL_TRACES_SAMPLER="tradetrace",
               OTEL_TRACES_SAMPLER_ARG="normal", TRADETRACE_FLUSH_TIMEOUT="1")
    traced = subprocess.run(_otel_instrument() + command, capture_output=True, text=True,
                            timeout=60, env=env, cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr

    def without_time(out: str) -> str:
        return out.rsplit(",", 1)[0]  # the summary line ends with the elapsed seconds

    assert without_time(traced.stdout) == without_time(bare.stdout)
    said = [line for line in traced.stderr.splitlines() if "tradetrace: " in line]
    starts = [line for line in said if "tradetrace: tracing run " in line]
    assert len(starts) == 1 and "OTLPSpanExporter" in starts[0]
    (end,) = [line for line in said if " = exported " in line]
    figures = re.search(r"recorded (\d+) = exported (\d+) \+ dropped (\d+) \((.*?)\) "
                        r"\+ pending (\d+)", end)
    assert figures is not None, end
    recorded, exported, dropped, pending = (int(figures[i]) for i in (1, 2, 3, 5))
    assert exported == 0 and pending == 0 and recorded == dropped > 0
    reasons = dict(re.findall(r"(\w+) (\d+)", figures[4]))
    assert set(reasons) <= {"sink_failure", "sink_resting", "shutdown_timeout"}
    assert not (tmp_path / "tradetrace-traces").exists()  # no file session on the side
