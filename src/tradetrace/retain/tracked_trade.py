"""A tracked trade: one round trip as the tracker (``trades.py``) rebuilds it.

A :class:`TrackedTrade` is created by the first order that acts on a flat position (or an
open without one) and lives until its position closes, or it ends otherwise (the run
ended: ``incomplete``; no event for the time-to-live: ``expired``; pushed out by a cap:
``evicted``). It gathers what is known of the trade (orders, fills, prices, P&L, its
worst slippage and fill latency) for its ``trade`` span (``export/trade_spans.py``), and
holds the trade's records until retention (``tail.py``) decides on it.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from ..model.record import Record

# Trade states and outcomes
PENDING, OPENED, CLOSED = "pending", "open", "closed"
WIN, LOSS, FLAT, REJECTED, INCOMPLETE, EXPIRED, EVICTED = (
    "win", "loss", "flat", "rejected", "incomplete", "expired", "evicted",
)
OUTCOMES = (WIN, LOSS, FLAT, REJECTED, INCOMPLETE, EXPIRED, EVICTED)

_ids = itertools.count(1)
_prefix = os.urandom(4).hex()


class TrackedTrade:
    """A trade as the tracker rebuilds it, open or closed: one round trip and what is
    known of it; its held records live here too. (The analysis side's trade, read back
    from files, is :class:`tradetrace.analyse.query.results.Trade`.)"""

    __slots__ = (
        "id", "key", "container", "strategy", "symbol", "state", "outcome", "policy",
        "records", "members", "spans", "dropped", "evicted", "bytes", "orders", "fills",
        "rejected", "errors", "outstanding", "side", "quantity", "entry_price",
        "exit_price", "pnl", "entry_time", "exit_time", "exit_type", "start", "end",
        "last_seen", "max_slippage_bps", "max_fill_latency_ms", "decision", "kept_by",
    )

    def __init__(self, key: tuple[Any, ...], container: str, policy: Any, now: float) -> None:
        self.id = f"trd_{_prefix}{next(_ids):08x}"
        self.key = key  #: (container, *position key)
        self.container = container
        self.strategy: Any = None  #: the strategy of the order that opened the position
        self.symbol: Any = None
        self.state = PENDING
        self.outcome: str | None = None
        self.policy = policy  #: the RetentionPolicy of the container that owns the trade
        self.records: list[Record] = []  #: held until the trade is decided
        self.members: list[Record] = []  #: the first spans, for the trade span's links
        self.spans = 0
        self.dropped = 0  #: spans past the per-trade cap
        self.evicted = 0  #: spans summarised because a global cap was hit
        self.bytes = 0
        self.orders = self.fills = self.rejected = self.errors = self.outstanding = 0
        self.side: Any = None
        self.quantity: Any = None
        self.entry_price: Any = None
        self.exit_price: Any = None
        self.pnl: Any = None
        self.entry_time: Any = None
        self.exit_time: Any = None
        self.exit_type: Any = None
        self.start = 0  #: wall clock of its first span's start, ns
        self.end = 0
        self.last_seen = now  #: monotonic seconds of the last event, for the time-to-live
        self.max_slippage_bps: float | None = None
        self.max_fill_latency_ms: float | None = None
        self.decision: bool | None = None  #: None while open; then kept (True) or dropped
        self.kept_by: str | None = None

    @property
    def holding_seconds(self) -> float | None:
        """Holding period in the traced system's own (simulated) time."""
        try:
            delta = self.exit_time - self.entry_time
            if hasattr(delta, "total_seconds"):
                return float(delta.total_seconds())
            entry = self.entry_time
            if entry.__class__ is int:  # epoch ns, us or ms by its size (export/times.py)
                unit = 1e9 if entry >= 10**17 else 1e6 if entry >= 10**14 else (
                    1e3 if entry >= 10**11 else 1.0)
                return delta / unit
            return float(delta)
        except Exception:
            return None

    def __repr__(self) -> str:
        return f"<TrackedTrade {self.id} {self.key} {self.state} {self.outcome or ''}>"

