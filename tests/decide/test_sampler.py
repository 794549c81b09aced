"""TraceLevelSampler: decisions as a grid, the factory, the entry point and the SDK path."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.span import TraceState

from tradetrace import conventions as conv
from tradetrace.config import load_config
from tradetrace.decide.levels import TraceLevel
from tradetrace.decide.sampler import TraceLevelSampler, trace_level_sampler_factory

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_SPAN_ID = 0x00F067AA0BA902B7
PARENT_STATE = TraceState([("vendor", "parent")])

LEVELS = ["none", "minimal", "normal", "debug"]


def parent_context(sampled: bool | None) -> Context | None:
    """None: a root span; else a remote parent with that sampled flag and a trace state."""
    if sampled is None:
        return None
    parent = SpanContext(
        TRACE_ID,
        PARENT_SPAN_ID,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
        trace_state=PARENT_STATE,
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def attrs(
    container: str | None = None,
    event: str | None = None,
    source: str | None = None,
    handler: str | None = None,
) -> dict[str, str]:
    out = {}
    if container is not None:
        out[conv.CONTAINER_ID] = container
    if source is not None:
        out[conv.SOURCE_ID] = source
    if event is not None:
        out[conv.EVENT_TYPE] = event
    if handler is not None:
        out[conv.HANDLER_NAME] = handler
    return out


# Spans that name a container: the container's policy decides, whatever the parent says.
# Expected decisions per level (none, minimal, normal, debug), written from the spec:
# MINIMAL = order lifecycle only, nothing of data_*/strategy_*; handler spans at DEBUG only.
CONTAINER_CASES: dict[str, tuple[dict[str, str], tuple[bool, bool, bool, bool]]] = {
    "fill@portfolio": (attrs("portfolio_1", "FILL"), (False, True, True, True)),
    "bar@portfolio": (attrs("portfolio_1", "BAR"), (False, False, True, True)),
    "signal@strategy": (attrs("strategy_1", "SIGNAL"), (False, False, True, True)),
    "order@strategy": (attrs("strategy_1", "ORDER"), (False, False, True, True)),
    "bar@data": (attrs("data_1", "BAR"), (False, False, True, True)),
    "fill@data": (attrs("data_1", "FILL"), (False, False, True, True)),
    "order@execution": (attrs("execution_1", "ORDER"), (False, True, True, True)),
    "fill@risk": (attrs("risk_1", "FILL"), (False, True, True, True)),
    "lowercase-fill@portfolio": (attrs("portfolio_1", "fill"), (False, True, True, True)),
    "fill@source-portfolio": (attrs(source="portfolio_1", event="FILL"), (False, True, True, True)),
    "bar@source-data": (attrs(source="data_1", event="BAR"), (False, False, True, True)),
    "container-beats-source": (
        attrs("data_1", "FILL", source="portfolio_1"),
        (False, False, True, True),
    ),
    "handler@portfolio": (
        attrs("portfolio_1", handler="Portfolio.on_fill"),
        (False, False, False, True),
    ),
    "handler-with-event@portfolio": (
        attrs("portfolio_1", "FILL", handler="Portfolio.on_fill"),
        (False, False, False, True),
    ),
    "handler@source-data": (
        attrs(source="data_1", handler="Data.on_bar"),
        (False, False, False, True),
    ),
    "container-only@portfolio": (attrs("portfolio_1"), (False, True, True, True)),
    "container-only@data": (attrs("data_1"), (False, False, True, True)),
}

# Spans without a container follow their parent; a root is sampled unless level is NONE.
NO_CONTAINER_CASES: dict[str, dict[str, str]] = {
    "no-attributes": {},
    "event-only": attrs(event="BAR"),
    "handler-only": attrs(handler="Portfolio.on_fill"),
    "other-attributes": {"http.method": "GET"},
}


@pytest.mark.parametrize("parent", [None, True, False], ids=["root", "sampled", "unsampled"])
@pytest.mark.parametrize("level_index", range(4), ids=LEVELS)
@pytest.mark.parametrize("case", list(CONTAINER_CASES))
def test_container_spans_follow_the_container_policy(
    case: str, level_index: int, parent: bool | None
) -> None:
    """A span naming a container (or source) is decided by that container's policy alone."""
    attributes, expected = CONTAINER_CASES[case]
    sampler = TraceLevelSampler(LEVELS[level_index])
    result = sampler.should_sample(parent_context(parent), TRACE_ID, "span", attributes=attributes)
    sampled = expected[level_index]
    assert result.decision is (Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP)
    assert dict(result.attributes) == (attributes if sampled else {})


@pytest.mark.parametrize(
    ("parent", "level", "expected"),
    [
        (None, "none", False),
        (None, "minimal", True),
        (None, "normal", True),
        (None, "debug", True),
        (True, "none", True),
        (True, "minimal", True),
        (True, "normal", True),
        (True, "debug", True),
        (False, "none", False),
        (False, "minimal", False),
        (False, "normal", False),
        (False, "debug", False),
    ],
)
@pytest.mark.parametrize("case", list(NO_CONTAINER_CASES))
def test_other_spans_follow_parent_or_level(
    case: str, parent: bool | None, level: str, expected: bool
) -> None:
    """Without a container, a span follows its parent; a root one is sampled unless NONE."""
    attributes = NO_CONTAINER_CASES[case]
    result = TraceLevelSampler(level).should_sample(
        parent_context(parent), TRACE_ID, "span", attributes=attributes
    )
    assert result.decision is (Decision.RECORD_AND_SAMPLE if expected else Decision.DROP)


def test_none_attributes_are_accepted() -> None:
    """attributes=None is treated like no attributes."""
    result = TraceLevelSampler("normal").should_sample(None, TRACE_ID, "span", attributes=None)
    assert result.decision is Decision.RECORD_AND_SAMPLE


def test_non_string_container_is_ignored() -> None:
    """A non-str container attribute does not name a container; the span follows the level."""
    result = TraceLevelSampler("minimal").should_sample(
        None, TRACE_ID, "span", attributes={conv.CONTAINER_ID: 5, conv.EVENT_TYPE: "BAR"}
    )
    assert result.decision is Decision.RECORD_AND_SAMPLE


@pytest.mark.parametrize("sampled", [True, False])
def test_parent_trace_state_is_passed_through(sampled: bool) -> None:
    """The parent's trace state is kept on the decision, sampled or not."""
    result = TraceLevelSampler("minimal").should_sample(
        parent_context(sampled),
        TRACE_ID,
        "span",
        attributes=attrs("portfolio_1", "FILL" if sampled else "BAR"),
        trace_state=TraceState([("other", "x")]),
    )
    assert result.trace_state == PARENT_STATE


def test_root_keeps_given_trace_state() -> None:
    """A root span keeps the trace state it was given."""
    state = TraceState([("vendor", "root")])
    result = TraceLevelSampler("normal").should_sample(
        None, TRACE_ID, "span", attributes={}, trace_state=state
    )
    assert result.trace_state == state


@pytest.mark.parametrize(
    ("level", "description"),
    [
        ("none", "TraceLevelSampler{level=none}"),
        ("MINIMAL", "TraceLevelSampler{level=minimal}"),
        (TraceLevel.NORMAL, "TraceLevelSampler{level=normal}"),
        (3, "TraceLevelSampler{level=debug}"),
    ],
)
def test_description(level: Any, description: str) -> None:
    """The description names the global level in lower case."""
    assert TraceLevelSampler(level).get_description() == description


def test_default_level_is_normal() -> None:
    """Without arguments the sampler works at NORMAL."""
    assert TraceLevelSampler().get_description() == "TraceLevelSampler{level=normal}"


@pytest.mark.parametrize("level", ["verbose", "", 9, None])
def test_invalid_level_raises_value_error(level: Any) -> None:
    """An unknown level raises ValueError naming the sampler and the value."""
    with pytest.raises(ValueError, match=r"TraceLevelSampler: unknown trace level") as info:
        TraceLevelSampler(level)
    assert repr(level) in str(info.value)


def test_sampler_uses_config_overrides(tmp_path: Path) -> None:
    """Built from a TracingConfig, the sampler applies its per-container overrides."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "tracing:\n  level: minimal\n  overrides:\n    data_*: {level: normal}\n",
        encoding="utf-8",
    )
    sampler = TraceLevelSampler(load_config(config_file=path, env={}))
    bar_data = sampler.should_sample(None, TRACE_ID, "s", attributes=attrs("data_1", "BAR"))
    bar_port = sampler.should_sample(None, TRACE_ID, "s", attributes=attrs("portfolio_1", "BAR"))
    assert bar_data.decision is Decision.RECORD_AND_SAMPLE
    assert bar_port.decision is Decision.DROP


# -- factory and entry point -----------------------------------------------------------


@pytest.mark.parametrize(("arg", "level"), [("minimal", "minimal"), (" DEBUG ", "debug")])
def test_factory_with_level_name(arg: str, level: str) -> None:
    """The factory accepts a level name (any case, trimmed)."""
    sampler = trace_level_sampler_factory(arg)
    assert isinstance(sampler, TraceLevelSampler)
    assert sampler.get_description() == f"TraceLevelSampler{{level={level}}}"


@pytest.mark.parametrize("name", ["tracing.yaml", "tracing.yml", "tracing.conf"])
def test_factory_with_yaml_path(tmp_path: Path, name: str) -> None:
    """The factory reads a tradetrace YAML config given as a path, overrides included."""
    path = tmp_path / name
    path.write_text(
        "tracing:\n  level: none\n  overrides:\n    portfolio_*: {level: minimal}\n",
        encoding="utf-8",
    )
    sampler = trace_level_sampler_factory(str(path))
    assert sampler.get_description() == "TraceLevelSampler{level=none}"
    fill = sampler.should_sample(None, TRACE_ID, "s", attributes=attrs("portfolio_1", "FILL"))
    assert fill.decision is Decision.RECORD_AND_SAMPLE


@pytest.mark.parametrize("arg", [None, "", "   "])
def test_factory_without_arg_reads_env(monkeypatch: pytest.MonkeyPatch, arg: Any) -> None:
    """Without an argument the factory reads TRADETRACE_LEVEL from the environment."""
    monkeypatch.setenv("TRADETRACE_LEVEL", "minimal")
    assert trace_level_sampler_factory(arg).get_description() == "TraceLevelSampler{level=minimal}"


def test_factory_without_arg_reads_config_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without an argument TRADETRACE_CONFIG is honoured too."""
    path = tmp_path / "t.yaml"
    path.write_text("tracing: {level: debug}\n", encoding="utf-8")
    monkeypatch.setenv("TRADETRACE_CONFIG", str(path))
    assert trace_level_sampler_factory(None).get_description() == "TraceLevelSampler{level=debug}"


def test_factory_bad_yaml_raises_value_error(tmp_path: Path) -> None:
    """A bad config file raises ValueError naming OTEL_TRACES_SAMPLER_ARG and the key."""
    path = tmp_path / "t.yaml"
    path.write_text("tracing: {level: loud}\n", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        trace_level_sampler_factory(str(path))
    assert str(info.value).startswith("OTEL_TRACES_SAMPLER_ARG: ")
    assert "tracing.level" in str(info.value) and "'loud'" in str(info.value)


def test_factory_missing_yaml_raises_value_error(tmp_path: Path) -> None:
    """A .yaml path that does not exist is reported, not taken for a level name."""
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER_ARG: .*missing.yaml"):
        trace_level_sampler_factory(str(tmp_path / "missing.yaml"))


def test_factory_unknown_level_raises_value_error() -> None:
    """An unknown level name raises ValueError naming it."""
    with pytest.raises(ValueError, match="'loud'"):
        trace_level_sampler_factory("loud")


def test_entry_point_is_registered() -> None:
    """The `tradetrace` sampler entry point loads the factory."""
    points = importlib.metadata.entry_points(group="opentelemetry_traces_sampler")
    ours = [p for p in points if p.name == "tradetrace"]
    assert len(ours) == 1
    assert ours[0].load() is trace_level_sampler_factory


def test_sdk_configuration_loads_the_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own OTEL_TRACES_SAMPLER path builds a TraceLevelSampler from the arg."""
    from opentelemetry.sdk._configuration import _import_sampler

    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "minimal")
    sampler = _import_sampler("tradetrace")
    assert isinstance(sampler, TraceLevelSampler)
    assert sampler.get_description() == "TraceLevelSampler{level=minimal}"


# -- end to end with the SDK -----------------------------------------------------------


@pytest.fixture
def memory_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(memory_exporter: InMemorySpanExporter) -> Any:
    provider = TracerProvider(sampler=TraceLevelSampler("minimal"))
    provider.add_span_processor(SimpleSpanProcessor(memory_exporter))
    yield provider
    provider.shutdown()


def test_sdk_records_fill_and_drops_bar_at_minimal(
    tracer_provider: TracerProvider, memory_exporter: InMemorySpanExporter
) -> None:
    """Through a real TracerProvider, MINIMAL keeps a portfolio FILL and drops a data BAR."""
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span(
        "FILL", attributes={conv.CONTAINER_ID: "portfolio_1", conv.EVENT_TYPE: "FILL"}
    ) as fill:
        assert fill.is_recording()
    with tracer.start_as_current_span(
        "BAR", attributes={conv.CONTAINER_ID: "data_1", conv.EVENT_TYPE: "BAR"}
    ) as bar:
        assert not bar.is_recording()
        assert not bar.get_span_context().trace_flags.sampled
    spans = memory_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["FILL"]
    assert dict(spans[0].attributes or {}) == {
        conv.CONTAINER_ID: "portfolio_1",
        conv.EVENT_TYPE: "FILL",
    }


def test_sdk_child_without_container_follows_parent(
    tracer_provider: TracerProvider, memory_exporter: InMemorySpanExporter
) -> None:
    """A plain child span is kept under a kept FILL and dropped under a dropped BAR."""
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span(
        "FILL", attributes={conv.CONTAINER_ID: "portfolio_1", conv.EVENT_TYPE: "FILL"}
    ):
        with tracer.start_as_current_span("db.write"):
            pass
    with tracer.start_as_current_span(
        "BAR", attributes={conv.CONTAINER_ID: "data_1", conv.EVENT_TYPE: "BAR"}
    ):
        with tracer.start_as_current_span("compute"):
            pass
    spans = {s.name: s for s in memory_exporter.get_finished_spans()}
    assert set(spans) == {"FILL", "db.write"}
    assert spans["db.write"].parent is not None
    assert spans["db.write"].parent.span_id == spans["FILL"].context.span_id
