"""TradingInstrumentor used in code: spans join a program's own TracerProvider."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tradetrace
from tradetrace import conventions as conv
from tradetrace.launch.instrumentor import TradingInstrumentor, sampler_settings


@pytest.fixture
def provider():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "desk"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    TradingInstrumentor().uninstrument()
    provider.shutdown()


def test_spans_go_through_the_program_s_provider(provider, demo):
    tracer_provider, exporter = provider
    TradingInstrumentor().instrument(tracer_provider=tracer_provider, level="normal",
                                     profile="demo")
    results = demo.run_backtest(bars=30, seed=4)
    tradetrace.flush()
    spans = exporter.get_finished_spans()
    events = [s for s in spans if conv.EVENT_TYPE in s.attributes]
    assert len(events) == results["events"]
    resource = events[0].resource.attributes
    assert resource["service.name"] == "desk"  # the program's resource, ...
    assert resource[conv.RUN_ID].startswith("run_")  # ... with the run on top
    # the program's own spans and ours share the provider
    with tracer_provider.get_tracer("desk").start_as_current_span("rebalance"):
        pass
    assert exporter.get_finished_spans()[-1].name == "rebalance"


def test_uninstrument_unpatches_and_leaves_the_provider_running(provider, demo):
    tracer_provider, exporter = provider
    TradingInstrumentor().instrument(tracer_provider=tracer_provider, profile="demo")
    TradingInstrumentor().uninstrument()
    assert tradetrace.get_session() is None
    exporter.clear()
    demo.run_backtest(bars=10, seed=4)
    assert exporter.get_finished_spans() == ()
    with tracer_provider.get_tracer("desk").start_as_current_span("still-alive"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["still-alive"]


def test_a_named_tradetrace_storage_wins_over_the_provider(provider, demo, tmp_path):
    tracer_provider, exporter = provider
    TradingInstrumentor().instrument(tracer_provider=tracer_provider, profile="demo",
                                     output=str(tmp_path))
    demo.run_backtest(bars=10, seed=4)
    tradetrace.flush()
    assert exporter.get_finished_spans() == ()
    assert list(tmp_path.glob("*-0001.jsonl"))


def test_a_bad_setting_is_one_line_and_nothing_patched(provider, capsys):
    tracer_provider, _ = provider
    TradingInstrumentor().instrument(tracer_provider=tracer_provider, level="loud")
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("tradetrace: tracing disabled: level: 'loud' is not valid")
    assert tradetrace.get_session() is None


@pytest.mark.parametrize("env, expected", [
    ({}, (None, None)),
    ({"OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_TRACES_SAMPLER_ARG": "x"},
     (None, None)),
    ({"OTEL_TRACES_SAMPLER": "tradetrace", "OTEL_TRACES_SAMPLER_ARG": "minimal"},
     ("minimal", None)),
    ({"OTEL_TRACES_SAMPLER": "tradetrace", "OTEL_TRACES_SAMPLER_ARG": "prod.yaml"},
     (None, "prod.yaml")),
])
def test_the_sampler_argument_names_a_level_or_a_config_file(env, expected):
    assert sampler_settings(env) == expected


def test_configure_with_a_provider_that_is_not_the_sdk_s_is_a_clear_error():
    from opentelemetry.trace import NoOpTracerProvider

    with pytest.raises(tradetrace.ConfigError, match="an SDK TracerProvider"):
        tradetrace.configure("normal", tracer_provider=NoOpTracerProvider())
    assert tradetrace.get_session() is None
