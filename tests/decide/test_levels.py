"""Trace levels, their per-container presets, and the compiled decision table."""

from __future__ import annotations

import enum
import json
from types import SimpleNamespace
from typing import Any

import pytest

from tradetrace.config import ContainerOverride, TracingConfig, load_config
from tradetrace.decide.levels import ContainerPolicy, TraceLevel, container_kind, preset
from tradetrace.decide.table import DecisionTable, event_type_name
from tradetrace.model.events import AttributeAdapter
from tradetrace.model.otlp_json import any_value
from tradetrace.retain.buffer import ContainerBuffers

LEVELS = list(TraceLevel)
CONTAINERS = ["data_1a", "strategy_2b", "portfolio_3c", "execution_4d", "risk_5e"]
EVENT_TYPES = ["BAR", "SIGNAL", "ORDER", "FILL", "POSITION_OPEN", "POSITION_CLOSE"]

#: Written from the spec, not from the code: MINIMAL traces the order lifecycle only, and
#: nothing at all of data_* and strategy_* containers.
ORDER_LIFECYCLE_HERE = {"ORDER", "FILL", "POSITION_OPEN", "POSITION_CLOSE"}
MINIMAL_OFF = {"data_1a", "strategy_2b"}


def expected_traced(level: TraceLevel, container: str, event_type: str) -> bool:
    if level is TraceLevel.NONE:
        return False
    if level is TraceLevel.MINIMAL:
        return container not in MINIMAL_OFF and event_type in ORDER_LIFECYCLE_HERE
    return True


# -- TraceLevel.parse ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("none", TraceLevel.NONE),
        ("MINIMAL", TraceLevel.MINIMAL),
        ("Normal", TraceLevel.NORMAL),
        ("  debug\n", TraceLevel.DEBUG),
        (0, TraceLevel.NONE),
        (1, TraceLevel.MINIMAL),
        (2, TraceLevel.NORMAL),
        (3, TraceLevel.DEBUG),
        (TraceLevel.DEBUG, TraceLevel.DEBUG),
    ],
)
def test_parse_accepts_names_numbers_and_members(value: object, level: TraceLevel) -> None:
    """Names in any case (trimmed), level numbers and members all parse."""
    assert TraceLevel.parse(value) is level


@pytest.mark.parametrize("value", ["verbose", "", "max", 4, -1, 2.0, True, False, None, ["debug"]])
def test_parse_rejects_everything_else(value: object) -> None:
    """Unknown names, out-of-range numbers, floats, bools and None raise ValueError."""
    with pytest.raises(ValueError, match="unknown trace level"):
        TraceLevel.parse(value)


def test_levels_are_ordered() -> None:
    """Levels compare by how much they trace."""
    assert TraceLevel.NONE < TraceLevel.MINIMAL < TraceLevel.NORMAL < TraceLevel.DEBUG


# -- the level x container x event type grid -------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("level", LEVELS, ids=[lv.name for lv in LEVELS])
def test_level_container_event_grid(level: TraceLevel, container: str, event_type: str) -> None:
    """Whether an event becomes a span, by level, container kind and event type."""
    expected = expected_traced(level, container, event_type)
    assert preset(level, container).traces(event_type) is expected
    assert TracingConfig(level=level).policy_for(container).traces(event_type) is expected


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("level", LEVELS, ids=[lv.name for lv in LEVELS])
def test_traced_flag(level: TraceLevel, container: str) -> None:
    """A policy is `traced` exactly when it traces some event type."""
    policy = preset(level, container)
    assert policy.traced is any(expected_traced(level, container, e) for e in EVENT_TYPES)


@pytest.mark.parametrize("container", ["data_1", "strategy_1", "data_", "strategy_x_y"])
def test_minimal_traces_nothing_of_data_and_strategy(container: str) -> None:
    """At MINIMAL, data_* and strategy_* containers trace no event type at all."""
    policy = preset(TraceLevel.MINIMAL, container)
    assert policy.events == frozenset()
    assert not policy.traced
    assert not any(policy.traces(e) for e in [*EVENT_TYPES, "ERROR", "RISK_BREACH"])


@pytest.mark.parametrize("event_type", ["ORDER_REQUEST", "POSITION_UPDATE", "RISK_BREACH", "ERROR"])
def test_minimal_traces_rest_of_order_lifecycle(event_type: str) -> None:
    """MINIMAL's order lifecycle also covers order requests, position updates, risk and errors."""
    assert preset(TraceLevel.MINIMAL, "portfolio_1").traces(event_type)


@pytest.mark.parametrize("container", ["Data_1", "mydata_1"])
def test_minimal_off_globs_are_case_sensitive_prefixes(container: str) -> None:
    """Only ids that start with exactly `data_`/`strategy_` are switched off at MINIMAL."""
    assert preset(TraceLevel.MINIMAL, container).traces("FILL")


@pytest.mark.parametrize("level", LEVELS, ids=[lv.name for lv in LEVELS])
def test_debug_only_has_handler_spans_and_payload_snapshots(level: TraceLevel) -> None:
    """Handler spans and payload snapshots belong to DEBUG alone."""
    policy = preset(level, "portfolio_1")
    assert policy.handler_spans is (level is TraceLevel.DEBUG)
    assert policy.payload_snapshot is (level is TraceLevel.DEBUG)


@pytest.mark.parametrize(
    ("container", "cap"),
    [
        ("data_1", 1000),
        ("strategy_1", 1000),
        ("execution_1", 5000),
        ("portfolio_1", 10000),
        ("risk_1", 5000),
        ("portfolio", 10000),
        ("", 5000),
    ],
)
@pytest.mark.parametrize("level", [TraceLevel.MINIMAL, TraceLevel.NORMAL])
def test_max_events_defaults_per_container_kind(
    level: TraceLevel, container: str, cap: int
) -> None:
    """Below DEBUG, the buffer cap depends on the container kind (ADMF-PC's defaults)."""
    assert preset(level, container).max_events == cap


@pytest.mark.parametrize("container", CONTAINERS)
def test_debug_max_events(container: str) -> None:
    """DEBUG gives every container the same, larger buffer cap."""
    assert preset(TraceLevel.DEBUG, container).max_events == 50000


def test_explicit_max_events_and_events_win() -> None:
    """Explicit max_events and events replace the level's defaults."""
    policy = preset(TraceLevel.MINIMAL, "data_1", max_events=3, events=frozenset({"BAR"}))
    assert policy == ContainerPolicy(TraceLevel.MINIMAL, 3, frozenset({"BAR"}))
    assert policy.traces("BAR") and not policy.traces("FILL")


def test_level_none_ignores_explicit_events() -> None:
    """At NONE nothing is traced, even with an explicit events list."""
    policy = preset(TraceLevel.NONE, "portfolio_1", events=frozenset({"FILL"}))
    assert not policy.traced
    assert not policy.traces("FILL")


def test_empty_events_means_untraced() -> None:
    """An empty events list switches a container off at any level."""
    policy = preset(TraceLevel.DEBUG, "portfolio_1", events=frozenset())
    assert not policy.traced
    assert not policy.traces("FILL")


@pytest.mark.parametrize(
    ("container", "kind"),
    [("portfolio_1a2b3c4d", "portfolio"), ("data_x_y", "data"), ("risk", "risk"), ("", "")],
)
def test_container_kind(container: str, kind: str) -> None:
    """The container kind is the id's prefix before the first underscore."""
    assert container_kind(container) == kind


# -- may_trace / any_handler_spans -----------------------------------------------------


@pytest.mark.parametrize(
    ("level", "overrides", "event_type", "expected"),
    [
        (TraceLevel.MINIMAL, (), "BAR", False),
        (TraceLevel.MINIMAL, (), "SIGNAL", True),  # counted for trading.signals
        (TraceLevel.MINIMAL, (), "FILL", True),
        (TraceLevel.NORMAL, (), "BAR", True),
        (TraceLevel.NONE, (), "FILL", False),
        (TraceLevel.MINIMAL, (ContainerOverride("data_*", TraceLevel.NORMAL),), "BAR", True),
        (TraceLevel.NONE, (ContainerOverride("portfolio_*", TraceLevel.MINIMAL),), "FILL", True),
        (TraceLevel.NONE, (ContainerOverride("portfolio_*", TraceLevel.MINIMAL),), "BAR", False),
        (
            TraceLevel.MINIMAL,
            (ContainerOverride("data_*", events=frozenset({"BAR"})),),
            "BAR",
            True,
        ),
        (
            TraceLevel.MINIMAL,
            (ContainerOverride("data_*", events=frozenset({"BAR"})),),
            "SIGNAL",
            True,
        ),
        (TraceLevel.NONE, (ContainerOverride("portfolio_*", TraceLevel.MINIMAL),), "SIGNAL",
         True),
        (TraceLevel.MINIMAL, (ContainerOverride("risk_*", TraceLevel.NONE),), "BAR", False),
    ],
)
def test_may_trace(
    level: TraceLevel,
    overrides: tuple[ContainerOverride, ...],
    event_type: str,
    expected: bool,
) -> None:
    """may_trace is true when the global level or any override could trace the type, or
    count it (a signal, at any level but NONE)."""
    assert TracingConfig(level=level, overrides=overrides).may_trace(event_type) is expected


def test_without_trade_rules_no_signal_is_counted() -> None:
    config = TracingConfig(level=TraceLevel.MINIMAL, trade_rules=None)
    assert not config.may_trace("SIGNAL") and config.may_trace("FILL")


@pytest.mark.parametrize(
    ("level", "overrides", "expected"),
    [
        (TraceLevel.NORMAL, (), False),
        (TraceLevel.MINIMAL, (), False),
        (TraceLevel.DEBUG, (), True),
        (TraceLevel.NORMAL, (ContainerOverride("execution_*", TraceLevel.DEBUG),), True),
        (TraceLevel.NONE, (ContainerOverride("execution_*", TraceLevel.DEBUG),), True),
        (TraceLevel.NORMAL, (ContainerOverride("execution_*", max_events=5),), False),
    ],
)
def test_any_handler_spans(
    level: TraceLevel, overrides: tuple[ContainerOverride, ...], expected: bool
) -> None:
    """Handlers are wrapped only when the global level or some override is DEBUG."""
    assert TracingConfig(level=level, overrides=overrides).any_handler_spans is expected


# -- the decision table ----------------------------------------------------------------


class PlainType(enum.Enum):
    FILL = "FILL"
    BAR = "BAR"


class NumberedType(enum.Enum):
    FILL = 1
    BAR = 2


class StrType(str, enum.Enum):
    FILL = "FILL"
    BAR = "BAR"


def event(event_type: Any, container_id: Any = "portfolio_1", source_id: Any = None) -> Any:
    return SimpleNamespace(event_type=event_type, container_id=container_id, source_id=source_id)


def table(level: str = "minimal", **kwargs: Any) -> DecisionTable:
    return DecisionTable(load_config(level=level, run_id="r", env={}, **kwargs), ContainerBuffers())


@pytest.mark.parametrize(
    "raw",
    ["FILL", PlainType.FILL, NumberedType.FILL, StrType.FILL],
    ids=["str", "enum-str-value", "enum-int-value", "str-enum"],
)
def test_enum_and_str_event_types_share_a_wire_name(raw: Any) -> None:
    """Enum members and strings resolve to the same plain-str wire name and buffer."""
    decisions = table()
    route = decisions.resolve(event(raw))
    reference = decisions.resolve(event("FILL"))
    assert route is not None and reference is not None
    assert route.event_type == "FILL"
    # what the exporter writes for the event type attribute
    assert json.loads(any_value(route.event_type)) == {"stringValue": "FILL"}
    assert type(route.event_type) is str
    assert route.buffer is reference.buffer


@pytest.mark.parametrize(
    ("raw", "name"),
    [("BAR", "BAR"), ("bar", "bar"), (PlainType.BAR, "BAR"), (NumberedType.BAR, "BAR"), (7, "7")],
)
def test_event_type_name(raw: Any, name: str) -> None:
    """Strings pass through; Enums give their str value, else their name; others str()."""
    assert event_type_name(raw) == name


def test_route_for_traced_event() -> None:
    """A traced event gets a route to its container's buffer, cached by (type, container)."""
    decisions = table()
    route = decisions.resolve(event(PlainType.FILL, "portfolio_1"))
    assert route is not None
    assert route.container == "portfolio_1"
    assert route.buffer.container == "portfolio_1"
    assert route.buffer.cap == 10000
    assert not route.handler_spans and not route.payload_snapshot
    assert decisions.by_type[PlainType.FILL]["portfolio_1"] is route
    assert len(decisions) == 1


def test_lowercase_event_type_is_decided_case_insensitively() -> None:
    """A lowercase event type is matched against the level's upper-case names."""
    route = table().resolve(event("fill", "portfolio_1"))
    assert route is not None and route.event_type == "fill"


@pytest.mark.parametrize("raw", ["BAR", PlainType.BAR])
def test_untraced_types_are_cached_as_none(raw: Any) -> None:
    """At MINIMAL a BAR resolves to None and its type is cached as None."""
    decisions = table()
    assert decisions.resolve(event(raw, "portfolio_1")) is None
    assert raw in decisions.by_type
    assert decisions.by_type[raw] is None


def test_a_signal_the_level_does_not_trace_is_counted_only() -> None:
    """At MINIMAL a SIGNAL (of any container) gets a TALLY route: recorded for the signal
    metrics, without handler spans or payload snapshot; a BAR of the same container none."""
    decisions = table()
    route = decisions.resolve(event("SIGNAL", "strategy_1"))
    assert route is not None and route.kind == "tally" and not route.handler_spans
    assert decisions.resolve(event("BAR", "strategy_1")) is None
    assert decisions.resolve(event("FILL", "portfolio_1")).kind == "event"


def test_untraced_container_is_cached_as_none() -> None:
    """A traced type from an untraced container is cached as None under that container."""
    decisions = table()
    assert decisions.resolve(event("FILL", "data_1")) is None
    assert decisions.by_type["FILL"] == {"data_1": None}


def test_missing_container_falls_back_to_source_id() -> None:
    """With container_id None the source id decides, and the answer is cached by source."""
    decisions = table()
    traced = event("FILL", container_id=None, source_id="portfolio_9")
    route = decisions.resolve_by_source(traced)
    assert route is not None
    assert route.container == "portfolio_9"
    assert decisions.resolve_by_source(traced) is route  # cached, not decided again
    assert len(decisions) == 1
    # the type is known (no container under it): the publish path asks by source next time
    assert decisions.by_type["FILL"] == {}
    assert decisions.resolve_by_source(event("FILL", None, "data_9")) is None


def test_no_container_and_no_source_is_unknown() -> None:
    """An event with neither id is attributed to the `unknown` container."""
    route = table().resolve(event("FILL", container_id=None, source_id=None))
    assert route is not None and route.container == "unknown"


def test_non_string_container_id_is_stringified() -> None:
    """A non-str container id becomes its str form."""
    route = table(level="normal").resolve(event("BAR", container_id=42))
    assert route is not None and route.container == "42"


def test_buffers_are_shared_per_container() -> None:
    """All event types of one container share one buffer; containers do not share."""
    decisions = table(level="normal")
    fill = decisions.resolve(event("FILL", "portfolio_1"))
    order = decisions.resolve(event("ORDER", "portfolio_1"))
    bar = decisions.resolve(event("BAR", "portfolio_1"))
    other = decisions.resolve(event("FILL", "portfolio_2"))
    assert fill is not None and order is not None and bar is not None and other is not None
    assert fill.buffer is order.buffer is bar.buffer
    assert other.buffer is not fill.buffer
    containers = {b.container for b in decisions._container_buffers.all()}
    assert containers == {"portfolio_1", "portfolio_2"}


def test_routes_follow_overrides(tmp_path: Any) -> None:
    """Overrides decide the route: its cap and whether handlers get spans."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "tracing:\n  level: minimal\n  overrides:\n"
        "    execution_*: {level: debug, max_events: 100000}\n"
        "    data_*: {events: [BAR]}\n",
        encoding="utf-8",
    )
    decisions = DecisionTable(load_config(config_file=path, env={}), ContainerBuffers())
    execution = decisions.resolve(event("BAR", "execution_1"))
    data = decisions.resolve(event("BAR", "data_1"))
    portfolio = decisions.resolve(event("BAR", "portfolio_1"))
    assert execution is not None and data is not None
    assert execution.buffer.cap == 100000
    assert execution.handler_spans and execution.payload_snapshot
    assert data.buffer.cap == 1000 and not data.handler_spans
    assert portfolio is None


def test_custom_field_names() -> None:
    """The table reads whichever attribute names the profile gives it."""
    decisions = DecisionTable(
        TracingConfig(level=TraceLevel.NORMAL, run_id="r"), ContainerBuffers(),
        AttributeAdapter({"event_type": "kind", "container_id": "box", "source_id": "origin"}),
    )
    route = decisions.resolve(SimpleNamespace(kind="BAR", box=None, origin="data_1"))
    assert route is not None and route.container == "data_1" and route.event_type == "BAR"
