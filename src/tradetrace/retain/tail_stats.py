"""What tail retention reports: the counts it keeps and what it tells an observer.

:class:`RetentionStats` counts recorded spans by what retention did with them, with the
drop reasons below (the accounting's, ``export/accounting.py``); retention tells the
metrics (``export/metrics.py``) of completed trades, fill latencies and handler
durations through :class:`RetentionObserver`, so that retain/ never imports export/.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..model.record import Record
from .tracked_trade import TrackedTrade


class RetentionObserver:
    """What retention tells the metrics (export/metrics.py ``TradingMetrics``), through
    this protocol so that retain/ never imports export/; the default tells no one."""

    def trade_completed(self, trade: TrackedTrade) -> None: ...
    def fill_latency(self, trade: TrackedTrade, milliseconds: float) -> None: ...
    def handler_duration(self, record: Record) -> None: ...


#: Why retention let a recorded span go (``RetentionStats.dropped``; the accounting's
#: drop reasons): a trade not kept by its policy, or a sliding window's oldest span;
#: past ``max_spans_per_trade``; summarised when a global cap was hit.
DROPPED_BY_POLICY, DROPPED_PER_TRADE_CAP, EVICTED_BY_CAP = (
    "retention_policy", "max_spans_per_trade", "evicted")
#: A signal recorded for the signal metrics only (a level that does not trace it): counted
#: in ``trading.signals``, never a span; a choice of the level, not a loss.
COUNTED_ONLY = "counted_only"


@dataclass
class RetentionStats:
    """Counts of recorded spans (records) only; trade and summary spans, which
    retention makes itself, are counted apart (``derived_*``)."""

    spans_passed: int = 0  #: handed to the exporter
    spans_held: int = 0  #: held now, with open trades or in windows
    bytes_held: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  #: by reason (above)
    derived_dropped: int = 0  #: trade spans pushed out of a sliding window
    derived_held: int = 0  #: trade spans in sliding windows now
    trades_completed: Counter[str] = field(default_factory=Counter)  #: by outcome
    trades_kept: int = 0
    losses_logged: set[str] = field(default_factory=set)

    @property
    def spans_dropped(self) -> int:
        """Dropped by a policy, a window or the per-trade cap."""
        return self.dropped[DROPPED_BY_POLICY] + self.dropped[DROPPED_PER_TRADE_CAP]

    @property
    def spans_evicted(self) -> int:
        """Summarised because a global cap was hit."""
        return self.dropped[EVICTED_BY_CAP]
