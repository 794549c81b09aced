"""SpanEncoder (export/spans.py) alone: records built by hand (tests/hand_records.py), each
encoded, wrapped in a request line and parsed back as OTLP JSON. No session, no bus: the
trace shape (parents, links), attributes, times and error status come from the records
only."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hand_records import event, handler, kept, route, run, step
from tradetrace import conventions as conv
from tradetrace.export.spans import SpanEncoder
from tradetrace.model.otlp_json import STATUS_ERROR, RequestWriter, Span, decode_request
from tradetrace.model.record import END, IDS, START, TRADE, Record
from tradetrace.retain.policies.always import Always
from tradetrace.retain.trades import TrackedTrade

RUN_ID = "run_42"


class TickError(Exception):
    """An exception of the traced program's own."""


def encoded(encoder: SpanEncoder, *records: Record) -> tuple[list[Span], list[dict[str, Any]]]:
    """``records`` encoded as one batch (in the order ``encode_batch`` leaves them), then
    read back from one request line: (decoded spans, raw span objects), in the order the
    records were given."""
    batch = list(records)
    encoder.encode_batch(batch)
    texts = {id(record): encoder.encode(record) for record in batch}
    line = RequestWriter([("service.name", "unit")], "tradetrace", "1").line(
        [texts[id(record)] for record in records])
    request = json.loads(line)
    spans = list(decode_request(request))
    assert all(isinstance(span, Span) for span in spans), spans
    return spans, request["resourceSpans"][0]["scopeSpans"][0]["spans"]


def is_hex_id(text: str, length: int) -> bool:
    return len(text) == length and int(text, 16) != 0


class TestSpanEncoder:
    def test_a_root_event_is_a_span_of_its_type_with_its_fields_and_mapped_payload(self):
        when = dt.datetime(2024, 1, 2, 9, 30)
        bar = event(route("BAR", "data_1"),
                    {"symbol": "SPY", "close": 101.5, "volume": 1200, "timestamp": when},
                    fields=kept("bar_1", "feed_1", when))
        (span,), (raw,) = encoded(SpanEncoder(RUN_ID), bar)

        assert span.name == "BAR"
        assert is_hex_id(span.trace_id, 32) and is_hex_id(span.span_id, 16)
        assert bar[IDS] == (span.trace_id, span.span_id)  # the record remembers its ids
        assert span.parent_id == "" and span.links == [] and span.events == []
        assert (span.start, span.end) == (bar[START], bar[END])
        # OTLP JSON: 64-bit times as decimal strings, kind an integer (internal)
        assert raw["startTimeUnixNano"] == str(bar[START]) and raw["kind"] == 1
        assert "status" not in raw
        # exactly these: what NORMAL does not map (volume, the payload's timestamp) is left out
        assert span.attributes == {
            conv.EVENT_TYPE: "BAR", conv.CONTAINER_ID: "data_1", conv.SOURCE_ID: "feed_1",
            conv.EVENT_ID: "bar_1", conv.SIM_TIME: "2024-01-02T09:30:00",
            conv.SYMBOL: "SPY", conv.PRICE: 101.5,
        }

    def test_payload_keys_map_to_trading_attributes_with_aliases_and_numbers_as_text(self):
        encoder = SpanEncoder(RUN_ID)
        order = route("ORDER", "portfolio_1")
        aliased = event(order, {"qty": 5, "fill_price": 10.25})
        both = event(order, {"quantity": 3, "qty": 5, "price": 1.5, "close": 2.5})
        as_text = event(order, {"price": "521.11", "quantity": "lots", "order_id": "o1"})
        nested = event(order, {"symbol": "QQQ", "metadata": {"strategy_id": "momentum"}})
        no_time = event(order, {"symbol": "QQQ", "timestamp": 1700000000})
        spans, _ = encoded(encoder, aliased, both, as_text, nested, no_time)
        attrs = [span.attributes for span in spans]

        assert (attrs[0][conv.QUANTITY], attrs[0][conv.PRICE]) == (5, 10.25)
        # an alias is used only when the key it stands in for is absent
        assert (attrs[1][conv.QUANTITY], attrs[1][conv.PRICE]) == (3, 1.5)
        # a price held as text is a number; text that is no number stays text
        assert attrs[2][conv.PRICE] == 521.11 and attrs[2][conv.QUANTITY] == "lots"
        assert attrs[2][conv.ORDER_ID] == "o1"
        # ADMF-PC keeps the strategy in the payload's metadata
        assert attrs[3][conv.STRATEGY_ID] == "momentum"
        # no kept time: the payload's timestamp is the simulated time
        assert attrs[4][conv.SIM_TIME] == 1700000000
        assert all(conv.SIM_TIME not in a for a in attrs[:4])

    def test_a_caused_event_is_a_child_in_its_causes_trace_even_encoded_first(self):
        bar = event(route("BAR", "data_1"), {"symbol": "SPY"}, fields=kept("bar_7"))
        signal = event(route("SIGNAL", "strategy_1"), {"symbol": "SPY", "direction": 1},
                       parent=bar)
        order = event(route("ORDER", "portfolio_1"), {"symbol": "SPY"}, parent=signal)
        # the children first: their cause was still in flight when they were encoded
        (order_span, signal_span, bar_span), _ = encoded(SpanEncoder(RUN_ID), order, signal,
                                                          bar)

        assert bar_span.parent_id == ""
        assert signal_span.parent_id == bar_span.span_id
        assert order_span.parent_id == signal_span.span_id
        assert {bar_span.trace_id, signal_span.trace_id, order_span.trace_id} == {
            bar_span.trace_id}
        assert len({bar_span.span_id, signal_span.span_id, order_span.span_id}) == 3
        # the causation a dispatch nesting implies: the cause's event id, marked derived
        assert signal_span.attributes[conv.CAUSATION_ID] == "bar_7"
        assert signal_span.attributes[conv.CAUSATION_DERIVED] is True
        assert order_span.attributes[conv.CAUSATION_ID] == signal[2][0]
        assert conv.CAUSATION_ID not in bar_span.attributes
        # a child links to nothing: its parent is its cause
        assert signal_span.links == [] and order_span.links == []

    def test_events_without_a_traced_cause_start_traces_linked_to_their_run(self):
        encoder = SpanEncoder(RUN_ID)
        the_run = run("coordinator.run_topology", ((conv.TOPOLOGY, "backtest"),))
        start = step("container.start", ((conv.CONTAINER_ID, "data_1"),
                                          (conv.LIFECYCLE_PHASE, "start")), parent=the_run)
        bar_route = route("BAR", "data_1")
        first = event(bar_route, {"symbol": "SPY"}, parent=start)
        second = event(bar_route, {"symbol": "SPY"}, parent=the_run)
        outside = event(bar_route, {"symbol": "SPY"})  # before or after any run
        (run_span, step_span, first_span, second_span, outside_span), _ = encoded(
            encoder, the_run, start, first, second, outside)

        assert run_span.name == "coordinator.run_topology" and run_span.parent_id == ""
        assert run_span.attributes == {conv.TOPOLOGY: "backtest"}
        assert step_span.name == "container.start"
        assert (step_span.trace_id, step_span.parent_id) == (run_span.trace_id,
                                                             run_span.span_id)
        assert step_span.attributes == {conv.CONTAINER_ID: "data_1",
                                        conv.LIFECYCLE_PHASE: "start"}
        for root in (first_span, second_span):
            assert root.parent_id == "" and root.trace_id != run_span.trace_id
            assert root.links == [{
                "trace_id": run_span.trace_id, "span_id": run_span.span_id,
                "attributes": {conv.LINK_RELATION: conv.RELATION_CORRELATION,
                               conv.CORRELATION_ID: RUN_ID},
            }]
        assert first_span.trace_id != second_span.trace_id  # a trace per root
        assert outside_span.links == []

    def test_an_explicit_causation_links_to_its_cause_across_traces_in_publish_order(self):
        encoder = SpanEncoder(RUN_ID)
        order = event(route("ORDER", "portfolio_1"), {"symbol": "SPY"}, fields=kept("ord_1"))
        fill = event(route("FILL", "execution_1"), {"symbol": "SPY"},
                     fields=kept("fill_1", None, None, "ord_1"))
        unknown = event(route("FILL", "execution_1"), {"symbol": "SPY"},
                        fields=kept("fill_2", None, None, "ord_never_seen"))
        # the batch lists the fill first: encode_batch puts it back in publish order, so
        # that its cause is known when it is encoded
        (fill_span, order_span, unknown_span), _ = encoded(encoder, fill, order, unknown)

        assert fill_span.trace_id != order_span.trace_id and fill_span.parent_id == ""
        assert fill_span.links == [{
            "trace_id": order_span.trace_id, "span_id": order_span.span_id,
            "attributes": {conv.LINK_RELATION: conv.RELATION_CAUSATION,
                           conv.CAUSATION_ID: "ord_1"},
        }]
        assert fill_span.attributes[conv.CAUSATION_ID] == "ord_1"
        assert conv.CAUSATION_DERIVED not in fill_span.attributes  # said by the bus itself
        assert unknown_span.attributes[conv.CAUSATION_ID] == "ord_never_seen"
        assert unknown_span.links == []

    def test_an_explicit_causation_naming_the_parent_adds_no_link(self):
        encoder = SpanEncoder(RUN_ID)
        order = event(route("ORDER", "portfolio_1"), {}, fields=kept("ord_3"))
        fill = event(route("FILL", "execution_1"), {}, parent=order,
                     fields=kept("fill_3", None, None, "ord_3", "corr_9", "portfolio_2"))
        (order_span, fill_span), _ = encoded(encoder, order, fill)

        assert fill_span.parent_id == order_span.span_id and fill_span.links == []
        assert fill_span.attributes[conv.CAUSATION_ID] == "ord_3"
        assert fill_span.attributes[conv.CORRELATION_ID] == "corr_9"
        assert fill_span.attributes[conv.TARGET_CONTAINER] == "portfolio_2"

    def test_an_error_is_the_spans_status_and_an_exception_event(self):
        try:
            raise TickError("bad tick")
        except TickError as exc:
            error = exc
        bad = event(route("TICK", "data_1"), {"symbol": "SPY"}, error=error)
        plain = event(route("TICK", "data_1"), {"symbol": "SPY"}, error=ValueError("no"))
        (span, plain_span), (raw, _) = encoded(SpanEncoder(RUN_ID), bad, plain)

        assert raw["status"]["code"] == STATUS_ERROR
        assert span.status_message == "TickError: bad tick"
        (exception,) = span.events
        assert exception["name"] == "exception" and exception["time"] == bad[END]
        attrs = exception["attributes"]
        assert attrs["exception.type"] == f"{__name__}.TickError"
        assert attrs["exception.message"] == "bad tick"
        assert "raise TickError" in attrs["exception.stacktrace"]
        assert attrs["exception.stacktrace"].rstrip().endswith("TickError: bad tick")
        # the event's own attributes are still there
        assert span.attributes[conv.SYMBOL] == "SPY" and span.name == "TICK"
        # builtins are named without their module
        assert plain_span.events[0]["attributes"]["exception.type"] == "ValueError"
        assert plain_span.status_message == "ValueError: no"

    def test_handler_spans_are_children_of_their_event_named_by_the_handler(self):
        def on_bar(event: Any) -> None: ...

        bar_route = route("BAR", "data_1", debug=True)
        bar = event(bar_route, {"symbol": "SPY"},
                    fields=kept("bar_3", None, None, None, None, None, None, None))
        ok = handler(bar_route, on_bar, bar)
        failed = handler(bar_route, on_bar, bar, error=RuntimeError("risk timeout"))
        (bar_span, ok_span, failed_span), _ = encoded(SpanEncoder(RUN_ID), bar, ok, failed)

        assert ok_span.name == on_bar.__qualname__
        assert (ok_span.trace_id, ok_span.parent_id) == (bar_span.trace_id, bar_span.span_id)
        assert ok_span.attributes == {
            conv.HANDLER_NAME: on_bar.__qualname__, conv.EVENT_TYPE: "BAR",
            conv.CONTAINER_ID: "data_1", conv.EVENT_ID: "bar_3",
        }
        assert ok_span.status_code == 0
        assert failed_span.status_code == STATUS_ERROR
        assert failed_span.status_message == "RuntimeError: risk timeout"
        assert failed_span.parent_id == bar_span.span_id

    def test_debug_writes_the_payload_snapshot_and_bus_ids_redacting_secret_keys(self):
        payload = {"symbol": "SPY", "price": 1.25,
                   "venue": {"name": "X", "api_key": "s3cret"}, "password": "hunter2"}
        debug = event(route("ORDER", "portfolio_1", debug=True), dict(payload),
                      fields=kept("ord_5", None, None, None, None, None, 17,
                                  {"event_id": "bus_5"}))
        normal = event(route("ORDER", "portfolio_1"), dict(payload))
        (span, normal_span), raws = encoded(SpanEncoder(RUN_ID), debug, normal)

        snapshot = {k: v for k, v in span.attributes.items()
                    if k.startswith(conv.PAYLOAD_PREFIX)}
        assert snapshot == {
            "trading.payload.symbol": "SPY", "trading.payload.price": 1.25,
            "trading.payload.venue.name": "X", "trading.payload.venue.api_key": "[REDACTED]",
            "trading.payload.password": "[REDACTED]",
        }
        assert "s3cret" not in json.dumps(raws) and "hunter2" not in json.dumps(raws)
        assert span.attributes[conv.EVENT_SEQUENCE] == 17
        assert span.attributes[conv.EVENT_BUS_ID] == "bus_5"
        assert span.attributes[conv.SYMBOL] == "SPY"  # the mapped attributes as well
        assert not any(k.startswith(conv.PAYLOAD_PREFIX) for k in normal_span.attributes)
        assert conv.EVENT_SEQUENCE not in normal_span.attributes

    def test_a_trades_events_carry_its_id_first(self):
        trade = TrackedTrade(("portfolio_1", "SPY"), "portfolio_1", Always(), 0.0)
        order = event(route("ORDER", "portfolio_1"), {"symbol": "SPY", "price": 1.0})
        failed = event(route("ORDER", "portfolio_1"), {"symbol": "SPY"},
                       error=RuntimeError("x"))
        other = event(route("ORDER", "portfolio_1"), {"symbol": "SPY", "price": 1.0})
        order[TRADE] = failed[TRADE] = trade
        (order_span, failed_span, other_span), raws = encoded(SpanEncoder(RUN_ID), order,
                                                              failed, other)

        for span, raw in zip((order_span, failed_span), raws):
            assert span.attributes[conv.TRADE_ID] == trade.id
            assert raw["attributes"][0]["key"] == conv.TRADE_ID
        assert conv.TRADE_ID not in other_span.attributes

    def test_ids_are_unique_and_a_reseeded_encoder_does_not_repeat_them(self):
        encoder = SpanEncoder(RUN_ID)
        bar_route = route("BAR", "data_1")
        spans, _ = encoded(encoder, *(event(bar_route, {"symbol": "SPY"}) for _ in range(200)))
        assert len({s.trace_id for s in spans}) == len({s.span_id for s in spans}) == 200

        state = encoder._rand.getstate()  # a fork: the child holds the parent's generator
        parent, child = SpanEncoder(RUN_ID), SpanEncoder(RUN_ID)
        parent._rand.setstate(state)
        child._rand.setstate(state)
        child.reseed()
        (a,), _ = encoded(parent, event(bar_route, {}))
        (b,), _ = encoded(child, event(bar_route, {}))
        assert a.trace_id != b.trace_id
