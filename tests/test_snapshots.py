"""A span shows the payload as it was when the event was published, at every depth the
encoder reads, whatever the traced code does to it afterwards (ADMF-PC rewrites an
ORDER's payload in place; nested dicts are shared between events)."""

from __future__ import annotations

import toybus
import tradetrace
from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans
from tradetrace.capture.snapshot import SNAPSHOT_ITEMS, SnapshotStats, snapshot

P = conv.PAYLOAD_PREFIX


def test_nested_values_mutated_after_publish_are_recorded_as_published(tmp_path):
    tradetrace.configure("debug", profile=toybus.PROFILE, output=tmp_path, run_id="nested")
    bus = toybus.Bus()
    shared = {"venue": "XNAS", "limits": [1, 2]}
    payload = {"symbol": "SPY", "risk": {"book": {"level": 1, "ladder": [10, 20]},
                                         "shared": shared}, "tags": ["a", "b"]}
    bus.publish(toybus.Message("SIGNAL", payload, node="strategy_1", msg_id="m1"))
    payload["symbol"] = "QQQ"  # the traced code goes on with its objects
    payload["risk"]["book"]["level"] = 99
    payload["risk"]["book"]["ladder"].append(30)
    payload["tags"][0] = "z"
    shared["venue"] = "ARCA"
    tradetrace.shutdown()
    (span,) = [s for s in read_spans([tmp_path]) if s.attributes.get(conv.EVENT_ID) == "m1"]
    attributes = span.attributes
    assert attributes[P + "symbol"] == "SPY"
    assert attributes[P + "risk.book.level"] == 1
    assert attributes[P + "risk.book.ladder"] == [10, 20]
    assert attributes[P + "risk.shared.venue"] == "XNAS"
    assert attributes[P + "tags"] == ["a", "b"]


def test_the_strategy_a_trade_is_keyed_on_is_the_published_one(tmp_path):
    """At NORMAL too: an ORDER's metadata.strategy_id rewritten after publish does not
    move the order to another trade."""
    tradetrace.configure("normal", profile=toybus.PROFILE, output=tmp_path, run_id="keys")
    bus = toybus.Bus()
    order = {"order_id": "o1", "symbol": "SPY", "side": "BUY", "quantity": 10,
             "price": 100.0, "metadata": {"strategy_id": "momentum"}}
    bus.publish(toybus.Message("ORDER", order, node="portfolio_1", msg_id="order"))
    order["metadata"]["strategy_id"] = "rewritten"
    bus.publish(toybus.Message("FILL", {"order_id": "o1", "symbol": "SPY", "side": "BUY",
                                        "quantity": 10, "price": 100.0,
                                        "metadata": {"strategy_id": "momentum"}},
                               node="portfolio_1", msg_id="fill", cause="order"))
    tradetrace.shutdown()
    spans = {s.attributes.get(conv.EVENT_ID): s for s in read_spans([tmp_path])}
    assert spans["order"].attributes[conv.STRATEGY_ID] == "momentum"
    assert spans["order"].attributes[conv.TRADE_ID] == spans["fill"].attributes[conv.TRADE_ID]


def test_flat_payloads_are_copied_shallowly_and_big_nested_ones_are_cut_and_counted():
    flat = {"symbol": "SPY", "close": 1.0, "volume": 3}
    copy = snapshot(flat)
    assert copy == flat and copy is not flat
    before = SnapshotStats.truncated
    big = {"book": list(range(SNAPSHOT_ITEMS + 10))}
    assert snapshot(big)["book"] == list(range(SNAPSHOT_ITEMS))
    assert SnapshotStats.truncated == before + 1
    cycle: dict = {"self": None}
    cycle["self"] = cycle  # a payload that holds itself ends, counted
    assert snapshot(cycle)["self"] is not cycle
