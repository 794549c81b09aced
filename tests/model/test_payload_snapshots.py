"""A span shows the payload as it was published, however the traced code changes it
afterwards, at every level; what the snapshot leaves out is counted."""

from __future__ import annotations

import copy
import datetime
import enum
from collections import OrderedDict, namedtuple
from typing import Any

import pytest

import toybus
from tradetrace import conventions as conv
from tradetrace.model import snapshot as snapshots
from tradetrace.model.record import EVENT, KIND, SNAPSHOT
from tradetrace.model.snapshot import SNAPSHOT_DEPTH, SNAPSHOT_ITEMS, SnapshotStats, snapshot
from tradetrace.testing import recording


def _order() -> dict[str, Any]:
    """An ADMF-PC-like ORDER: scalars, ``metadata.strategy_id`` (trades are keyed on
    it), lists inside dicts, and nesting 5 levels deep."""
    return {
        "order_id": "o1", "symbol": "SPY", "side": "BUY", "quantity": [60, 40],
        "price": 451.25, "timestamp": datetime.datetime(2024, 1, 2, 9, 35),
        "metadata": {"strategy_id": "momentum_1", "tags": ["entry", "long"]},
        "risk": {"limits": {"notional": [1_000_000.0, 2_000_000.0]}},
        "l1": {"l2": {"l3": {"l4": {"l5": [1, 2, 3]}}}},
        "legs": ({"venue": "ARCA", "fills": [1, 2]}, ("frozen", "tuple")),
    }


def _mutate(payload: dict[str, Any]) -> None:
    """What traded code does after publishing: every level changes."""
    payload["price"] = 0.0
    payload["quantity"].append(1)
    payload["metadata"]["strategy_id"] = "risk_exit"
    payload["metadata"]["tags"][0] = "exit"
    payload["risk"]["limits"]["notional"][1] = 0.0
    payload["l1"]["l2"]["l3"]["l4"]["l5"].append(4)
    payload["l1"]["l2"]["l3"]["l4"]["new"] = "key"
    payload["legs"][0]["fills"].clear()
    payload["legs"][0]["venue"] = "NYSE"
    payload["status"] = "FILLED"


@pytest.mark.parametrize("level", ["normal", "debug"])
def test_mutations_after_publish_do_not_reach_the_span(level, monkeypatch):
    """The encoded span and the snapshot the encoder reads equal the payload at publish
    time, at every level; the published dict itself is untouched by tracing."""
    with recording(level, profile=toybus.PROFILE) as spans:
        encoder = spans.session._worker.encoder
        seen: list[Any] = []
        original = encoder.encode

        def encode(record: Any) -> str:
            seen.append((record[KIND], copy.deepcopy(record[SNAPSHOT])))
            return original(record)

        monkeypatch.setattr(encoder, "encode", encode)
        bus = toybus.Bus()
        received: list[Any] = []
        bus.on("ORDER", lambda message: received.append(message.data))
        payload = _order()
        at_publish = copy.deepcopy(payload)
        bus.publish(toybus.Message("ORDER", payload, node="portfolio_1"))
        _mutate(payload)
        (order,) = spans.events("ORDER")
    assert received[0] is payload  # handlers get the very payload, not a copy
    (recorded,) = [payload for kind, payload in seen if kind is EVENT]
    assert recorded == at_publish
    a = order.attributes
    assert a[conv.STRATEGY_ID] == "momentum_1"
    assert a[conv.PRICE] == 451.25
    assert list(a[conv.QUANTITY]) == [60, 40]
    assert "trading.status" not in a
    if level == "debug":
        p = conv.PAYLOAD_PREFIX
        assert a[p + "metadata.strategy_id"] == "momentum_1"
        assert list(a[p + "metadata.tags"]) == ["entry", "long"]
        assert list(a[p + "risk.limits.notional"]) == [1_000_000.0, 2_000_000.0]
        assert p + "status" not in a


def test_the_trade_is_keyed_by_the_strategy_at_publish_time():
    """A position's trade takes metadata.strategy_id as published, not as rewritten."""
    with recording("normal", profile=toybus.PROFILE) as spans:
        bus = toybus.Bus()
        opened = {"symbol": "SPY", "quantity": 100, "entry_price": 451.0,
                  "metadata": {"strategy_id": "momentum_1"}}
        bus.publish(toybus.Message("POSITION_OPEN", opened, node="portfolio_1"))
        opened["metadata"]["strategy_id"] = "mean_reversion_2"
        closed = {"symbol": "SPY", "quantity": 100, "exit_price": 452.0, "realized_pnl": 100.0,
                  "metadata": {"strategy_id": "momentum_1"}}
        bus.publish(toybus.Message("POSITION_CLOSE", closed, node="portfolio_1"))
        (trade,) = spans.named(conv.TRADE_SPAN_NAME)
        events = spans.events()
    assert trade.attributes[conv.STRATEGY_ID] == "momentum_1"
    assert {s.attributes[conv.TRADE_ID] for s in events} == {trade.attributes[conv.TRADE_ID]}


class Side(enum.Enum):
    BUY = "BUY"


Fill = namedtuple("Fill", "price quantity")


def test_snapshot_copies_what_can_change_and_shares_the_rest():
    """Containers are copied at every level; strings, numbers, datetimes, enums and
    tuples of them are the very same objects."""
    when = datetime.datetime(2024, 1, 2, 9, 35)
    payload = {
        "symbol": "SPY", "price": 451.25, "side": Side.BUY, "timestamp": when,
        "ids": ("o1", "o2"), "fills": [Fill(451.0, 60), Fill(451.5, [40])],
        "seen": {"o1"}, "book": OrderedDict(bid=451.0), "nested": ([1], 2),
    }
    recorded = snapshot(payload)
    assert recorded == {**payload, "book": {"bid": 451.0}}
    assert type(recorded["book"]) is dict
    for key in ("symbol", "price", "side", "timestamp", "ids"):
        assert recorded[key] is payload[key]
    for key in ("fills", "seen", "book", "nested"):
        assert recorded[key] is not payload[key]
    assert recorded["fills"][0] is payload["fills"][0]  # a namedtuple of scalars
    assert type(recorded["fills"][1]) is Fill and recorded["fills"][1][1] is not payload[
        "fills"][1][1]
    assert recorded["nested"][0] is not payload["nested"][0]


def test_a_dict_held_twice_is_copied_once():
    """ADMF-PC's SIGNAL holds its strategy's parameters under three keys: the snapshot
    holds one copy of them under the same three, safe from later changes."""
    risk = {"stop_loss": 0.00075, "take_profit": 0.001}
    parameters = {"period": 10, "_risk": risk}
    payload = {"metadata": {"parameters": parameters, "risk": risk}, "parameters": parameters,
               "strategy_config": {"parameters": parameters}, "risk": risk}
    at_publish = copy.deepcopy(payload)
    recorded = snapshot(payload)
    parameters["period"] = 20
    risk["stop_loss"] = 0.5
    assert recorded == at_publish
    copies = [recorded["parameters"], recorded["metadata"]["parameters"],
              recorded["strategy_config"]["parameters"]]
    assert all(c is copies[0] for c in copies) and copies[0] is not parameters
    assert copies[0]["_risk"] is recorded["risk"] is recorded["metadata"]["risk"]


def test_a_flat_payload_is_copied_once_and_shared_below():
    """Nothing to copy inside: the shallow copy is the snapshot."""
    payload = {"symbol": "SPY", "price": 451.25, "quantity": 100, "note": None}
    recorded = snapshot(payload)
    assert recorded == payload and recorded is not payload


def test_payloads_that_are_not_dicts():
    """Lists are copied, scalars and objects shared; None stays None."""
    items = [{"a": 1}]
    assert snapshot(items) == items and snapshot(items)[0] is not items[0]
    marker = object()
    assert snapshot(marker) is marker
    assert snapshot(None) is None and snapshot(42) == 42


def test_long_nested_containers_are_cut_and_counted():
    """A nested list keeps its first SNAPSHOT_ITEMS items; each cut is counted."""
    before = SnapshotStats.truncated
    payload = {"prices": list(range(SNAPSHOT_ITEMS + 10)), "ids": set(range(SNAPSHOT_ITEMS + 1)),
               "wide": {str(i): i for i in range(SNAPSHOT_ITEMS + 1)}}
    recorded = snapshot(payload)
    assert recorded["prices"] == list(range(SNAPSHOT_ITEMS))
    assert len(recorded["ids"]) == len(recorded["wide"]) == SNAPSHOT_ITEMS
    assert SnapshotStats.truncated == before + 3


def test_the_payload_itself_keeps_all_its_keys():
    """The top level is never cut (as a shallow copy never was)."""
    payload = {str(i): [i] for i in range(SNAPSHOT_ITEMS * 2)}
    before = SnapshotStats.truncated
    assert snapshot(payload) == payload
    assert SnapshotStats.truncated == before


def test_deep_and_self_referencing_payloads_end_at_the_depth_bound():
    """Below SNAPSHOT_DEPTH levels containers are kept as they are (counted); a payload
    that contains itself is snapshotted without recursing forever."""
    deep: dict[str, Any] = {"leaf": [1]}
    for _ in range(SNAPSHOT_DEPTH):
        deep = {"down": deep}
    before = SnapshotStats.truncated
    recorded = snapshot(deep)
    assert recorded == deep
    node, original = recorded, deep
    for _ in range(SNAPSHOT_DEPTH):
        node, original = node["down"], original["down"]
        assert node is not original  # levels 1 to SNAPSHOT_DEPTH: copied
    assert node["leaf"] is original["leaf"]  # the level below: shared
    assert SnapshotStats.truncated == before + 1

    loop: dict[str, Any] = {"price": 1.0}
    loop["self"] = loop
    recorded = snapshot(loop)
    assert recorded["price"] == 1.0 and recorded["self"]["self"]["price"] == 1.0


def test_types_learned_as_shared_are_bounded(monkeypatch):
    """Payload value types are remembered up to a bound; past it they are still
    snapshotted right, just classified each time."""
    monkeypatch.setattr(snapshots, "_MAX_LEARNED", 0)
    kinds = [type(f"Value{i}", (), {}) for i in range(3)]
    learned = set(snapshots._SHARED)
    payload = {"values": [kind() for kind in kinds], "book": type("Book", (dict,), {})(a=[1])}
    recorded = snapshot(payload)
    assert recorded["values"] == payload["values"] and recorded["book"] == {"a": [1]}
    assert recorded["book"]["a"] is not payload["book"]["a"]
    assert snapshots._SHARED == learned


def test_debug_keeps_the_metadata_the_bus_stamped(admf):
    """DEBUG's trading.event.bus_id is the id the bus put in the event's metadata, not
    what the traced code wrote there after publish returned."""
    with recording("debug", profile="admf") as spans:
        bus = admf.EventBus()
        event = admf.Event("FILL", {"order_id": "o1"}, container_id="execution_1")
        bus.publish(event)
        stamped = event.metadata["event_id"]
        event.metadata["event_id"] = "rewritten"
        (fill,) = spans.events("FILL")
    assert stamped.startswith("FILL_")
    assert fill.attributes[conv.EVENT_BUS_ID] == stamped
