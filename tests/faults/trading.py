"""A toy trading feed traced under faults, and the checks every fault test makes.

Every event is a BAR whose event id carries its sequence number (``seq_<n>``), so that
what arrived can be told apart from what was published: the accounting identity is checked
against the test's own count of published events and the receiver's (or the files')
count of spans, never against tradetrace's figures alone.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import toybus
import tradetrace
from tradetrace.analyse.reader import ReadStats, read_spans

EVENT_ID = "trading.event.id"


def feed(level: str = "normal", **configure: Any) -> tuple[toybus.Bus, Any]:
    """A traced toy bus (the toy profile: BAR events of container ``data_1``)."""
    session = tradetrace.configure(level, profile=toybus.PROFILE, **configure)
    return toybus.Bus(), session


def publish(bus: toybus.Bus, count: int, start: int = 0) -> int:
    """``count`` BARs numbered from ``start``; the ident of the publishing thread."""
    for n in range(start, start + count):
        bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY", "close": 100.0 + n},
                                   node="data_1", msg_id=f"seq_{n}"))
    return threading.get_ident()


def accounting(session: Any) -> dict[str, Any]:
    figures = session.stats()["accounting"]
    dropped = sum(figures["dropped"].values())
    assert figures["recorded"] == figures["exported"] + dropped + figures["pending"], figures
    return figures


def check(session: Any, published: int, delivered: int | None, *,
          publisher: int | None = None) -> dict[str, Any]:
    """The identity, against what the test knows: every published event recorded,
    ``delivered`` (what the receiver or the files hold) exported, nothing left pending;
    and no sink call on the publishing thread (only the writer thread writes)."""
    figures = accounting(session)
    assert figures["recorded"] == published, figures
    assert figures["pending"] == 0, figures
    if delivered is not None:
        assert figures["exported"] == delivered, figures
    worker = session._worker
    threads = worker.stats.sink_threads
    assert threads <= {worker.writer._thread.ident}, "a sink was called off the writer thread"
    if publisher is not None:
        assert publisher not in threads
    return figures


def sequences_in(folder: Path) -> tuple[list[int], ReadStats]:
    """The sequence numbers of the BAR spans in a trace folder, and the reader's counts."""
    stats = ReadStats()
    numbers = [int(s.attributes[EVENT_ID].removeprefix("seq_"))
               for s in read_spans([folder], stats) if s.name == "BAR"]
    return numbers, stats
