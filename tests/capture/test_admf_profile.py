"""The built-in `admf` profile against a fake that follows ../shared/ADMF-PC.md exactly."""

from __future__ import annotations

import sys

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.errors import ConfigError
from tradetrace.testing import recording

SIX = {"BAR", "SIGNAL", "ORDER", "FILL", "POSITION_OPEN", "POSITION_CLOSE"}


def _run(admf, bars=300):
    return admf.coordinator().run_topology("backtest", {"bars": bars, "seed": 1})


def test_admf_run_is_traced_with_no_change_to_its_code(admf):
    """Every event of an ADMF-shaped run becomes a span, with the six backtest types."""
    with recording("normal", profile="admf") as spans:
        results = _run(admf)
        counts: dict[str, int] = {}
        for span in spans.events():
            kind = span.attributes[conv.EVENT_TYPE]
            counts[kind] = counts.get(kind, 0) + 1
        patched = spans.session.patched
    assert set(counts) == SIX
    published = results.get("events_by_type") or results.get("event_counts")
    assert counts == dict(published)
    assert "src.core.events.bus:EventBus.publish" in patched
    assert "src.core.coordinator.coordinator:Coordinator.run_topology" in patched


def test_causation_comes_from_dispatch_nesting(admf):
    """ADMF never sets causation ids; parents still follow BAR->SIGNAL->ORDER->FILL->POSITION."""
    parent_type = {"SIGNAL": "BAR", "ORDER": "SIGNAL", "FILL": "ORDER",
                   "POSITION_OPEN": "FILL", "POSITION_CLOSE": "FILL"}
    with recording("normal", profile="admf") as spans:
        _run(admf)
        by_id = spans.by_span_id()
        for span in spans.events():
            kind = span.attributes[conv.EVENT_TYPE]
            if kind == "BAR":
                assert span.parent is None
            else:
                parent = by_id[span.parent.span_id]
                assert parent.attributes[conv.EVENT_TYPE] == parent_type[kind]


def test_quirks_none_timestamps_pandas_timestamps_and_wall_clock_fills(admf):
    """BAR's time comes from its payload; SIGNAL's pandas Timestamp becomes ISO text."""
    pytest.importorskip("pandas")
    with recording("normal", profile="admf") as spans:
        _run(admf, bars=100)
        bar = spans.events("BAR")[20]
        signal = next(s for s in spans.events("SIGNAL")
                      if s.attributes[conv.CAUSATION_ID] == bar.attributes[conv.EVENT_ID])
    assert bar.attributes[conv.SIM_TIME] == signal.attributes[conv.SIM_TIME]
    assert bar.attributes[conv.SIM_TIME].startswith("2024-01-02T")
    assert tradetrace.get_session() is None  # recording() shut down


def test_payload_mutated_after_publish_does_not_leak_into_the_span(admf):
    """ADMF's POSITION_OPEN nests the position's own metadata dict, which the portfolio
    changes later (a higher price seen, the exit type set before the close); the span
    keeps the payload as it was at publish time."""
    with recording("debug", profile="admf") as spans:
        results = _run(admf, bars=200)
        opens = spans.events("POSITION_OPEN")
    exit_type = conv.PAYLOAD_PREFIX + "metadata.exit_type"
    highest = conv.PAYLOAD_PREFIX + "metadata.highest_price"
    assert len(opens) == results["event_counts"]["POSITION_OPEN"] > 0
    assert all(exit_type not in o.attributes for o in opens)
    assert all(float(o.attributes[highest]) == o.attributes[conv.ENTRY_PRICE] for o in opens)
    closed = results["closed_positions"]
    assert all(p["exit_type"] for p in closed)  # what the dicts held by the end


def test_enum_event_types_are_traced_like_their_strings(admf):
    """An event published with the EventType member gets the same span as with its value."""
    with recording("normal", profile="admf") as spans:
        bus = admf.EventBus()
        seen = []
        bus.subscribe("ORDER", seen.append)
        bus.publish(admf.Event(event_type=admf.EventType.ORDER, payload={"order_id": "o1"},
                               container_id="portfolio_a"))
        bus.publish(admf.Event(event_type="ORDER", payload={"order_id": "o2"},
                               container_id="portfolio_a"))
        orders = spans.events("ORDER")
    assert [o.attributes[conv.ORDER_ID] for o in orders] == ["o1", "o2"]
    assert all(o.name == "ORDER" for o in orders)


def test_workflow_phases_nest_under_the_workflow_run(admf):
    """run_workflow -> run_topology -> _execute_topology spans share one trace."""
    workflow = {"config": {"bars": 30, "seed": 2},
                "phases": [{"name": "a", "topology": "backtest", "config": {}},
                           {"name": "b", "topology": "backtest", "config": {}}]}
    with recording("normal", profile="admf") as spans:
        admf.coordinator().run_workflow(workflow)
        (workflow_span,) = spans.named("Coordinator.run_workflow")
        topologies = spans.named("Coordinator.run_topology") + spans.named(
            "Sequencer._execute_topology")
    assert topologies
    assert {s.context.trace_id for s in topologies} == {workflow_span.context.trace_id}


def test_explicit_admf_profile_must_be_importable(monkeypatch):
    """Choosing `admf` where ADMF-PC cannot be imported is a ConfigError at configure time."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "fake_admf" not in p])
    for name in [m for m in sys.modules if m == "src" or m.startswith("src.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ConfigError, match=r"src\.core\.events\.bus.*module not found"):
        tradetrace.configure("normal", profile="admf", backend="none")
    assert tradetrace.get_session() is None
