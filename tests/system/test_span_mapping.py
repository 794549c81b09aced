"""The event -> span mapping on the demo engine: names, parents, links, attributes."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

import tradetrace
from tradetrace import conventions as conv
from tradetrace.testing import recording

CASCADE = ["BAR", "SIGNAL", "ORDER", "FILL"]


def _type(span):
    return span.attributes.get(conv.EVENT_TYPE)


def test_every_published_event_becomes_one_span(demo):
    """At NORMAL the span count per event type equals what the engine published."""
    with recording("normal", profile="demo") as spans:
        results = demo.run_backtest(bars=400, seed=3)
        counts: dict[str, int] = {}
        for span in spans.events():
            counts[_type(span)] = counts.get(_type(span), 0) + 1
    assert counts == results["events_by_type"]
    assert counts["POSITION_OPEN"] > 0 and counts["POSITION_CLOSE"] > 0


@pytest.mark.parametrize("level", ["normal", "debug"])
def test_causing_event_is_the_parent(demo, level):
    """SIGNAL's parent is its BAR, ORDER's its SIGNAL, FILL's its ORDER, POSITION_* a FILL,
    at DEBUG too (where the handler that published an event also has a span)."""
    expected = {"SIGNAL": "BAR", "ORDER": "SIGNAL", "FILL": "ORDER",
                "POSITION_OPEN": "FILL", "POSITION_CLOSE": "FILL"}
    with recording(level, profile="demo") as spans:
        demo.run_backtest(bars=400, seed=3)
        by_id = spans.by_span_id()
        for span in spans.events():
            kind = _type(span)
            if kind == "BAR":
                assert span.parent is None
                continue
            parent = by_id[span.parent.span_id]
            assert _type(parent) == expected[kind]
            assert parent.context.trace_id == span.context.trace_id
            # derived causation names the parent event
            assert span.attributes[conv.CAUSATION_ID] == parent.attributes[conv.EVENT_ID]
            assert span.attributes[conv.CAUSATION_DERIVED] is True


def test_each_bar_starts_a_trace_linked_to_the_run(demo):
    """A BAR has no traced cause: it roots its own trace and links to the run span."""
    with recording("normal", profile="demo") as spans:
        demo.run_backtest(bars=50, seed=3)
        (run,) = spans.named("Coordinator.run_topology")
        bars = spans.events("BAR")
        assert len({b.context.trace_id for b in bars}) == len(bars) == 50
        for bar in bars:
            (link,) = bar.links
            assert link.context.span_id == run.context.span_id
            assert link.context.trace_id == run.context.trace_id
            assert link.attributes[conv.LINK_RELATION] == conv.RELATION_CORRELATION
            assert link.attributes[conv.CORRELATION_ID] == spans.session.config.run_id
        # non-root events carry no links of their own
        assert all(not s.links for s in spans.events() if _type(s) != "BAR")


def test_event_attributes_are_exhaustive(demo):
    """Each event type carries exactly the trading attributes its payload supports."""
    common = {conv.EVENT_TYPE, conv.EVENT_ID, conv.CONTAINER_ID, conv.SOURCE_ID, conv.SIM_TIME}
    caused = common | {conv.CAUSATION_ID, conv.CAUSATION_DERIVED}
    traded = caused | {conv.TRADE_ID}  # every order-lifecycle event belongs to a trade
    expected = {
        "BAR": common | {conv.SYMBOL, conv.PRICE},
        "SIGNAL": caused | {conv.SYMBOL, conv.DIRECTION, conv.STRATEGY_ID, conv.PRICE},
        "ORDER": traded | {conv.ORDER_ID, conv.SYMBOL, conv.SIDE, conv.QUANTITY, conv.PRICE,
                           conv.STRATEGY_ID},
        "FILL": traded | {conv.FILL_ID, conv.ORDER_ID, conv.SYMBOL, conv.SIDE, conv.QUANTITY,
                          conv.PRICE, conv.STATUS, conv.STRATEGY_ID},
        "POSITION_OPEN": traded | {conv.SYMBOL, conv.SIDE, conv.QUANTITY, conv.ENTRY_PRICE,
                                   conv.STRATEGY_ID},
        "POSITION_CLOSE": traded | {conv.SYMBOL, conv.SIDE, conv.QUANTITY, conv.ENTRY_PRICE,
                                    conv.EXIT_PRICE, conv.REALIZED_PNL, conv.EXIT_TYPE,
                                    conv.EXIT_REASON, conv.STRATEGY_ID},
    }
    with recording("normal", profile="demo") as spans:
        demo.run_backtest(bars=300, seed=3)
        seen = set()
        for span in spans.events():
            kind = _type(span)
            assert set(span.attributes) == expected[kind], kind
            assert span.name == kind
            assert span.kind is SpanKind.INTERNAL
            seen.add(kind)
    assert seen == set(expected)


def test_attribute_values_come_from_the_event_at_publish_time(demo):
    """An ORDER span holds the order's own values; container and source ids are the publisher's."""
    with recording("normal", profile="demo") as spans:
        demo.run_backtest(bars=300, seed=3)
        order = spans.events("ORDER")[0]
        fill = next(f for f in spans.events("FILL")
                    if f.attributes[conv.ORDER_ID] == order.attributes[conv.ORDER_ID])
    a = order.attributes
    assert a[conv.CONTAINER_ID].startswith("portfolio_")
    assert a[conv.SIDE] in ("BUY", "SELL")
    assert isinstance(a[conv.QUANTITY], int) and a[conv.QUANTITY] > 0
    assert isinstance(a[conv.PRICE], float)
    assert a[conv.STRATEGY_ID] in ("ma_5_20", "ma_10_40")
    assert a[conv.SIM_TIME].startswith("2024-")  # bar time, ISO 8601
    assert fill.attributes[conv.CONTAINER_ID].startswith("execution_")
    assert fill.attributes[conv.STRATEGY_ID] == a[conv.STRATEGY_ID]


def test_lifecycle_and_run_spans(demo):
    """Container lifecycle steps are children of the run span, one per container and step."""
    with recording("normal", profile="demo") as spans:
        demo.run_backtest(bars=20, seed=3)
        (run,) = spans.named("Coordinator.run_topology")
        steps = [s for s in spans.spans() if s.name.startswith("container.")]
    assert run.parent is None
    assert run.attributes[conv.TOPOLOGY] == "backtest"
    phases = {s.attributes[conv.LIFECYCLE_PHASE] for s in steps}
    assert {"initialize", "start", "stop"} <= phases
    for step in steps:
        assert step.context.trace_id == run.context.trace_id
        assert step.attributes[conv.CONTAINER_ID]
        assert step.name == "container." + step.attributes[conv.LIFECYCLE_PHASE]


def test_resource_names_the_service_and_the_run(demo):
    """Every span's resource has service.name and trading.run.id."""
    with recording("normal", profile="demo", service_name="bt-svc", run_id="run_test_1") as spans:
        demo.run_backtest(bars=10, seed=3)
        resources = {id(s.resource): s.resource for s in spans.spans()}
    for resource in resources.values():
        assert resource.attributes["service.name"] == "bt-svc"
        assert resource.attributes[conv.RUN_ID] == "run_test_1"


def test_service_name_defaults_follow_the_sdk_resource(demo, monkeypatch):
    """Unset, service.name comes from OTEL_RESOURCE_ATTRIBUTES, else it is "trading"."""
    with recording("normal", profile="demo") as spans:
        demo.run_backtest(bars=5, seed=3)
        assert spans.spans()[0].resource.attributes["service.name"] == "trading"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=desk-7,deployment=paper")
    with recording("normal", profile="demo") as spans:
        demo.run_backtest(bars=5, seed=3)
        resource = spans.spans()[0].resource.attributes
    assert resource["service.name"] == "desk-7" and resource["deployment"] == "paper"


def test_global_none_with_an_override_traces_only_that_container(demo, tmp_path):
    """`level: none` plus `portfolio_*: normal` patches and traces the portfolios only."""
    config = tmp_path / "t.yaml"
    config.write_text("tracing:\n  level: none\n  overrides:\n    portfolio_*: {level: normal}\n")
    session = tradetrace.configure(profile="demo", config_file=config, backend="memory")
    assert session.active
    demo.run_backtest(bars=200, seed=3)
    session.flush()
    spans = session.exporter.get_finished_spans()
    containers = {s.attributes[conv.CONTAINER_ID].split("_")[0]
                  for s in spans if conv.EVENT_TYPE in s.attributes}
    assert containers == {"portfolio"}


def test_debug_adds_handler_spans_and_payload_snapshots(demo):
    """At DEBUG every handler call is a child span of its event, and payloads are recorded."""
    with recording("debug", profile="demo") as spans:
        demo.run_backtest(bars=60, seed=3)
        by_id = spans.by_span_id()
        handlers = [s for s in spans.spans() if conv.HANDLER_NAME in s.attributes]
        bar = spans.events("BAR")[-1]
    assert handlers
    for span in handlers:
        parent = by_id[span.parent.span_id]
        assert parent.attributes[conv.EVENT_TYPE] == span.attributes[conv.EVENT_TYPE]
        assert span.attributes[conv.EVENT_ID] == parent.attributes[conv.EVENT_ID]
        assert span.name == span.attributes[conv.HANDLER_NAME]
        assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time
    names = {s.attributes[conv.HANDLER_NAME] for s in handlers}
    assert any("on_bar" in n or "Strategy" in n or "Crossover" in n for n in names), names
    payload = {k for k in bar.attributes if k.startswith(conv.PAYLOAD_PREFIX)}
    assert {conv.PAYLOAD_PREFIX + k for k in ("open", "high", "low", "close", "volume")} <= payload
    assert conv.EVENT_BUS_ID in bar.attributes and conv.EVENT_SEQUENCE in bar.attributes


def test_minimal_traces_only_the_order_lifecycle(demo):
    """MINIMAL: no BAR or SIGNAL spans; ORDERs become roots of their own traces."""
    with recording("minimal", profile="demo", retention="always") as spans:
        results = demo.run_backtest(bars=300, seed=3)
        kinds = {_type(s) for s in spans.events()}
        orders = spans.events("ORDER")
    assert kinds == {"ORDER", "FILL", "POSITION_OPEN", "POSITION_CLOSE"}
    assert len(orders) == results["events_by_type"]["ORDER"]
    assert all(o.parent is None for o in orders)
    assert all(conv.CAUSATION_ID not in o.attributes for o in orders)


def test_overrides_apply_per_container(demo, tmp_path):
    """A glob override turns one container family off and another to DEBUG."""
    config = tmp_path / "tracing.yaml"
    config.write_text(
        "tracing:\n  level: normal\n  overrides:\n"
        "    strategy_*: {level: none}\n    execution_*: {level: debug}\n"
    )
    with recording(profile="demo", config_file=config) as spans:
        demo.run_backtest(bars=200, seed=3)
        kinds = {_type(s) for s in spans.events()}
        handlers = {s.attributes[conv.CONTAINER_ID].split("_")[0]
                    for s in spans.spans() if conv.HANDLER_NAME in s.attributes}
        orders = spans.events("ORDER")
        by_id = spans.by_span_id()
    assert "SIGNAL" not in kinds and {"BAR", "ORDER", "FILL"} <= kinds
    assert handlers == {"execution"}  # handler spans only for execution's events
    # with SIGNAL untraced, an ORDER's nearest traced cause is its BAR
    assert all(_type(by_id[o.parent.span_id]) == "BAR" for o in orders)


@pytest.mark.parametrize("level", ["normal", "debug"])
def test_numbers_held_as_text_are_numbers_in_trading_attributes(admf, level):
    """ADMF-PC's ORDER and FILL payloads come from Order.to_dict(): Decimals as strings
    (quantity "1", price "521.11"). trading.quantity and trading.price are numbers all
    the same, so a backend can sum and average them; the DEBUG snapshot keeps the text
    the system published; text that is no number stays text."""
    bus = admf.EventBus()
    nested = {"order_id": "O1", "symbol": "SPY", "side": "buy", "quantity": "1",
              "price": "521.11", "metadata": {"strategy_id": "s0"}}
    flat = {"order_id": "O2", "symbol": "SPY", "strategy_id": "s0", "quantity": "1"}
    prices = ("521.11", "521.11", "n/a", 521.5)  # repeated: a shape the encoder compiles
    with recording(level, profile="admf") as spans:
        for payload in (nested, flat):
            for price in prices:
                bus.publish(admf.Event("ORDER", dict(payload, price=price),
                                       container_id="portfolio_1"))
        orders = spans.events("ORDER")
    assert [o.attributes[conv.QUANTITY] for o in orders] == [1.0] * 8
    assert [o.attributes[conv.PRICE] for o in orders] == [521.11, 521.11, "n/a", 521.5] * 2
    if level == "debug":
        assert orders[0].attributes[conv.PAYLOAD_PREFIX + "price"] == "521.11"
