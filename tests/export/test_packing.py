"""Packer and Unpacker (export/packing.py) on hand-built records (tests/hand_records.py),
without an encoder process: what the traced process packs comes out as the record
lists the worker's units read, with kinds and roles the very constants they compare by
identity, causes linked to the records that arrive later, and routes sent once."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest

from hand_records import DATA, PORTFOLIO, event, handler, kept, route, run, step
from tradetrace.export import unpacking
from tradetrace.export.packing import Packer
from tradetrace.export.unpacking import UNKNOWN_ROUTE, Unpacker
from tradetrace.model.record import (
    END,
    EVENT,
    HANDLER,
    IDS,
    KIND,
    LIFECYCLE,
    PARENT,
    ROUTE,
    SERIAL,
    SNAPSHOT,
    START,
    SUBJECT,
    TRADE,
    new_record,
)
from tradetrace.retain.trades import ORDER


def kept_of(event_object: Any) -> tuple[Any, ...]:
    """The packer's reading of an event still being dispatched (the span encoder's
    ``kept`` in a session): here, its ``fields``."""
    return event_object.fields


class InFlight:
    """An event object, as SUBJECT holds it while its publish has not returned."""

    def __init__(self, *fields: Any) -> None:
        self.fields = fields


def pair() -> tuple[Packer, Unpacker]:
    return Packer(kept_of), Unpacker()


def test_a_finished_event_comes_out_as_it_went_in() -> None:
    packer, unpacker = pair()
    order = event(route("ORDER", PORTFOLIO), {"order_id": "o1", "quantity": 10},
                  fields=kept("e1", PORTFOLIO))
    body, count = packer.pack([order])
    [back] = unpacker.unpack(body)
    assert count == 1 and back is not order
    assert back[KIND] is EVENT  # the constant itself: the worker compares by identity
    assert back[SUBJECT] == order[SUBJECT] and back[SNAPSHOT] == {"order_id": "o1",
                                                                  "quantity": 10}
    assert (back[START], back[END], back[PARENT], back[TRADE]) == (
        order[START], order[END], None, None)
    assert back[SERIAL] == order[SERIAL] is not None  # numbered in the traced process
    sent, got = order[ROUTE], back[ROUTE]
    assert (got.container, got.event_type, got.payload_snapshot, got.retention) == (
        sent.container, sent.event_type, sent.payload_snapshot, sent.retention)
    assert got.role is ORDER
    assert got.buffer is None and got.keep is None  # the publish path's, not sent


def test_a_route_is_sent_once_and_unpacked_into_one_object() -> None:
    packer, unpacker = pair()
    orders = route("ORDER", PORTFOLIO)
    first, _ = packer.pack([event(orders), event(orders)])
    second, _ = packer.pack([event(orders)])
    assert len(pickle.loads(first)[0]) == 1 and pickle.loads(second)[0] == []
    records = unpacker.unpack(first) + unpacker.unpack(second)
    assert len({id(r[ROUTE]) for r in records}) == 1


def test_a_new_unpacker_learns_every_route_from_routes_body() -> None:
    """An encoder process started later (the first one died) gets frames that name
    routes sent to its predecessor."""
    packer, _ = pair()
    bars, orders = route("BAR", DATA), route("ORDER", PORTFOLIO)
    packer.pack([event(bars), event(orders)])  # went to the dead one
    later, _ = packer.pack([event(orders), event(bars)])
    fresh = Unpacker()
    with pytest.raises(KeyError):
        Unpacker().unpack(later)
    assert fresh.unpack(packer.routes_body()) == []
    assert [r[ROUTE].event_type for r in fresh.unpack(later)] == ["ORDER", "BAR"]


def test_a_cause_packed_first_is_the_very_record_its_effects_hold() -> None:
    packer, unpacker = pair()
    order = event(route("ORDER", PORTFOLIO), fields=kept("e1"))
    fill = event(route("FILL", "execution_1"), parent=order)
    [order_back] = unpacker.unpack(packer.pack([order])[0])
    [fill_back] = unpacker.unpack(packer.pack([fill])[0])
    assert fill_back[PARENT] is order_back


def test_a_cause_still_in_flight_is_a_placeholder_filled_in_when_it_arrives() -> None:
    """A BAR ends after its SIGNAL: the SIGNAL is packed while the BAR is dispatched.
    The unpacker stands in a record in flight (no end, no trade yet) with the BAR's
    fields as they were, and fills that same list in when the BAR comes."""
    packer, unpacker = pair()
    bar = new_record(EVENT, route("BAR", DATA), InFlight("b1", DATA), None, 100)
    signal = event(route("SIGNAL", "strategy_1"), parent=bar)
    [signal_back] = unpacker.unpack(packer.pack([signal])[0])
    placeholder = signal_back[PARENT]
    assert placeholder[KIND] is EVENT and placeholder[ROUTE].event_type == "BAR"
    assert placeholder[SUBJECT] == ("b1", DATA)
    assert placeholder[END] == 0 and placeholder[TRADE] is None  # in flight
    bar[SUBJECT], bar[END] = kept("b1", DATA), 200  # its publish returned
    [bar_back] = unpacker.unpack(packer.pack([bar])[0])
    assert bar_back is placeholder
    assert (bar_back[END], bar_back[SUBJECT]) == (200, kept("b1", DATA))


def test_ids_a_cause_got_after_it_was_sent_reach_the_unpacked_record() -> None:
    """``inject`` (or a fork) gives a record ids in the traced process; the next effect
    that names it carries them."""
    packer, unpacker = pair()
    order = event(route("ORDER", PORTFOLIO))
    [order_back] = unpacker.unpack(packer.pack([order])[0])
    order[IDS] = ("1" * 32, "2" * 16)
    unpacker.unpack(packer.pack([event(route("FILL", "execution_1"), parent=order)])[0])
    assert order_back[IDS] == ("1" * 32, "2" * 16)


def test_a_settled_stand_in_is_described_each_time() -> None:
    """A remote traceparent's stand-in is never sent itself: each effect describes it
    (ids and fields), settled (no trade)."""
    packer, unpacker = pair()
    remote: list[Any] = [EVENT, None, kept("r1"), None, None, 0, 0, ("a" * 32, "b" * 16),
                         None, 0, None]
    orders = route("ORDER", PORTFOLIO)
    first, second = unpacker.unpack(packer.pack([event(orders, parent=remote),
                                                 event(orders, parent=remote)])[0])
    for back in (first, second):
        assert back[PARENT][IDS] == ("a" * 32, "b" * 16)
        assert back[PARENT][SUBJECT] == kept("r1") and back[PARENT][TRADE] == 0


def test_handlers_go_by_name_and_steps_by_their_route() -> None:
    packer, unpacker = pair()

    def on_order(event_object: Any) -> None:
        pass

    outer = run(attributes=(("trading.run.mode", "backtest"),))
    started = step("container.start", (("trading.container.id", PORTFOLIO),), parent=outer)
    orders = route("ORDER", PORTFOLIO, debug=True)
    order = event(orders)
    call = handler(orders, on_order, order)
    back = unpacker.unpack(packer.pack([outer, started, order, call])[0])
    run_back, step_back, order_back, call_back = back
    assert step_back[KIND] is LIFECYCLE and step_back[PARENT] is run_back
    assert step_back[ROUTE] == ("container.start", (("trading.container.id", PORTFOLIO),))
    assert step_back[SUBJECT] is None
    assert call_back[KIND] is HANDLER and call_back[PARENT] is order_back
    assert call_back[SUBJECT] == on_order.__qualname__
    assert order_back[ROUTE].payload_snapshot is True


def test_a_record_that_cannot_be_pickled_is_left_out_and_counted() -> None:
    """The stdlib's own classes are pickled as they are; one that refuses costs its
    record, never the frame."""
    packer, unpacker = pair()
    orders = route("ORDER", PORTFOLIO)
    good = event(orders, {"n": 1})
    bad = event(orders, {"lock": threading.Lock()})
    also_good = event(orders, {"n": 2})
    body, count = packer.pack([good, bad, also_good])
    assert count == 2 and packer.errors == 1
    assert [r[SNAPSHOT] for r in unpacker.unpack(body)] == [{"n": 1}, {"n": 2}]


def test_a_cause_forgotten_past_the_cap_is_a_settled_stand_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The unpacker remembers at most MAX_KNOWN records (a cause dropped in the traced
    process never arrives): an effect of one forgotten gets a stand-in, no trade's."""
    monkeypatch.setattr(unpacking, "MAX_KNOWN", 8)
    packer, unpacker = pair()
    orders = route("ORDER", PORTFOLIO)
    order = event(orders)
    unpacker.unpack(packer.pack([order])[0])
    unpacker.unpack(packer.pack([event(orders) for _ in range(20)])[0])
    [fill_back] = unpacker.unpack(packer.pack([event(route("FILL", "execution_1"),
                                                     parent=order)])[0])
    stand_in = fill_back[PARENT]
    assert stand_in[SERIAL] == order[SERIAL] and stand_in[ROUTE] is UNKNOWN_ROUTE
    assert stand_in[TRADE] == 0
    assert len(unpacker._known) <= 8
