"""Memory stays bounded whatever the events' ids look like: past MAX_ROUTES distinct
(event type, container) keys, new keys share one overflow container per event type,
every event is still recorded, and the overflow is counted."""

from __future__ import annotations

import pytest

import toybus
import tradetrace
from tradetrace.decide import table as table_module
from tradetrace.decide.table import OVERFLOW_CONTAINER

CAP = 64


@pytest.fixture
def small_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "MAX_ROUTES", CAP)


@pytest.mark.parametrize("field", ["node", "origin"])
def test_unbounded_ids_share_the_overflow_container(small_table, field, tmp_path):
    """A unique container id (or, without one, a unique source id) per event."""
    session = tradetrace.configure("normal", profile=toybus.PROFILE, output=tmp_path)
    bus = toybus.Bus()
    events = 5_000
    for n in range(events):
        ids = {"node": f"data_{n}"} if field == "node" else {"node": None,
                                                            "origin": f"feed_{n}"}
        bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY"}, **ids))
    tradetrace.shutdown()
    stats = session.stats()
    assert stats["accounting"]["recorded"] == events
    assert stats["accounting"]["exported"] == events
    assert len(session.table.routes) <= CAP + 1
    assert len(session.retention.buffers()) <= CAP + 2  # + the system and overflow buffers
    assert stats["routes_overflowed"] == events - CAP
    overflow = [r for r in session.table.routes if r.container == OVERFLOW_CONTAINER]
    assert len(overflow) == 1 and overflow[0].seen == events - CAP


def test_known_containers_keep_their_routes_after_the_overflow(small_table, tmp_path):
    session = tradetrace.configure("normal", profile=toybus.PROFILE, output=tmp_path)
    bus = toybus.Bus()
    bus.publish(toybus.Message(kind="BAR", node="data_known"))
    for n in range(CAP * 2):
        bus.publish(toybus.Message(kind="BAR", node=f"data_{n}"))
    bus.publish(toybus.Message(kind="BAR", node="data_known"))
    tradetrace.shutdown()
    known = [r for r in session.table.routes if r.container == "data_known"]
    assert len(known) == 1 and known[0].seen == 2
