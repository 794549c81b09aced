"""User profiles in YAML: other field names, other method names, validation."""

from __future__ import annotations

import pytest
import yaml

import toybus
import tradetrace
from tradetrace import conventions as conv
from tradetrace.errors import ConfigError
from tradetrace.testing import recording


def test_yaml_profile_traces_a_bus_with_other_names(tmp_path):
    """A profile file maps `kind`, `data`, `node`... onto the trading conventions."""
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(toybus.PROFILE))
    with recording("normal", profile=str(path)) as spans:
        bus = toybus.Bus()
        engine = toybus.Engine(bus)
        bus.on("ORDER", lambda m: bus.publish(toybus.Message(
            "FILL", {"order_id": m.data["order_id"], "price": 10.5}, node="execution_1")))
        engine.run([toybus.Message("ORDER", {"order_id": "o1", "symbol": "ES"},
                                   node="portfolio_1", origin="momentum")])
        (run,) = spans.named("Engine.run")
        (order,) = spans.events("ORDER")
        (fill,) = spans.events("FILL")
    assert order.attributes[conv.CONTAINER_ID] == "portfolio_1"
    assert order.attributes[conv.SOURCE_ID] == "momentum"
    assert order.attributes[conv.EVENT_ID].startswith("msg_")
    assert order.attributes[conv.SYMBOL] == "ES"
    assert fill.parent.span_id == order.context.span_id
    assert fill.attributes[conv.CAUSATION_ID] == order.attributes[conv.EVENT_ID]
    assert order.links[0].context.span_id == run.context.span_id


def test_explicit_causation_ids_become_links_across_traces():
    """A message naming its cause (published outside the cause's dispatch) links to it."""
    with recording("normal", profile=toybus.PROFILE) as spans:
        bus = toybus.Bus()
        first = toybus.Message("SIGNAL", {"symbol": "ES"}, node="strategy_1")
        bus.publish(toybus.Message("ORDER", {}, node="portfolio_1", cause="unknown_yet"))
        bus.publish(first)
        bus.publish(toybus.Message("ORDER", {"order_id": "o2"}, node="portfolio_1",
                                   cause=first.msg_id, trade="T-9"))
        signal = spans.events("SIGNAL")[0]
        order = spans.events("ORDER")[-1]
    assert order.parent is None  # not published inside the SIGNAL's dispatch
    assert order.context.trace_id != signal.context.trace_id
    assert order.attributes[conv.CAUSATION_ID] == first.msg_id
    assert conv.CAUSATION_DERIVED not in order.attributes
    assert order.attributes[conv.CORRELATION_ID] == "T-9"
    (link,) = order.links
    assert link.context.span_id == signal.context.span_id
    assert link.attributes[conv.LINK_RELATION] == conv.RELATION_CAUSATION


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"name": "x", "publish": ["toybus.Bus.publish"]}, r"publish\[0\].*'package.module:Class"),
        ({"name": "x", "publish": ["toybus:Bus.emit"]}, r"no method emit"),
        ({"name": "x", "publish": ["toybus:Buss.publish"]}, r"no class Buss"),
        ({"name": "x", "publish": ["no_such_module_xyz:Bus.publish"]}, r"module not found"),
        ({"name": "x", "publish": ["toybus:Bus.publish"], "colour": "red"}, r"colour.*unknown key"),
        ({"name": "x", "publish": ["toybus:Bus.publish"],
          "event_fields": {"kind": "type"}}, r"event_fields\.kind"),
        ({"name": "x", "publish": ["toybus:Bus.publish"],
          "event_fields": {"event_type": "class"}}, r"event_fields\.event_type.*attribute name"),
    ],
)
def test_bad_profiles_are_config_errors(profile, message):
    """Profile mistakes are ConfigErrors at configure time naming the key and the value."""
    with pytest.raises(ConfigError, match=message):
        tradetrace.configure("normal", profile=profile, backend="none")
    assert tradetrace.get_session() is None


def test_unknown_profile_name_lists_the_known_ones():
    """An unknown profile name says which names exist."""
    with pytest.raises(ConfigError, match=r"allowed: admf, demo, nautilus, backtrader, "
                       r"or the path of a YAML profile"):
        tradetrace.configure("normal", profile="admf2", backend="none")
