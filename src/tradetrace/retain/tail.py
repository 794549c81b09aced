"""Trade-aware tail retention: hold a trade's spans until the trade is decided.

Runs on the export worker, between the container buffers (what the publish path
recorded) and the encoder. For each batch of finished records, in publish order:

1. a record whose causing event is not processed yet waits for the next batch, so a
   trade's ORDER is always seen before its FILL and POSITION_OPEN;
2. the :class:`~tradetrace.retain.trades.TradeTracker` says which trade it belongs to;
3. the owning container's :class:`~tradetrace.retain.policy.RetentionPolicy` says
   whether it is exported now, held with its trade, or kept in a sliding window;
4. a completed trade is decided once; the decision is remembered on the trade, so
   spans that end after it follow it.

Memory is bounded: a per-trade span cap, a cap on open trades, global caps on held spans
and bytes (the least recently active trade's buffer becomes one summary span), and a
time-to-live for trades that never close. Losses are counted and logged once per cause.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from itertools import chain
from operator import itemgetter
from typing import Any

from ..model.record import (
    END,
    ERROR,
    EVENT,
    HANDLER,
    KIND,
    PARENT,
    ROUTE,
    SNAPSHOT,
    START,
    TALLY,
    TRADE,
    Record,
)
from .policy import PASS, WINDOW, RetentionPolicy, TailLimits
from .signals import SignalReader, SignalTally, answered_signal
from .tail_stats import (
    COUNTED_ONLY,
    DROPPED_BY_POLICY,
    DROPPED_PER_TRADE_CAP,
    EVICTED_BY_CAP,
    RetentionObserver,
    RetentionStats,
)
from .tracked_trade import EVICTED, EXPIRED, INCOMPLETE, TrackedTrade
from .trade_rules import CLOSE, OPEN, ORDER, SIGNAL, TradeRules
from .trades import NO_TRADE, TradeTracker

logger = logging.getLogger(__name__)

#: Links from a trade span to its events (the OpenTelemetry SDK's default link limit).
MAX_TRADE_LINKS = 128
#: A deferred record whose cause has finished (not in flight, not waiting itself) is
#: processed anyway after this many batches: that cause was lost.
MAX_DEFERRALS = 8
#: A record whose cause is still in flight (or waiting itself) waits at most this long:
#: a program may run for minutes inside one handler's publish.
MAX_WAIT_NS = 2_000_000_000
#: Estimated bytes of a held record: the list, its payload copy and kept fields.
RECORD_BYTES = 600
PAYLOAD_ITEM_BYTES = 100


class EvictionSummary:
    """What a trade's evicted buffer held, exported as one span in its place."""

    __slots__ = ("trade", "reason", "counts", "start", "end")

    def __init__(self, trade: TrackedTrade, reason: str, records: list[Record]) -> None:
        self.trade = trade
        self.reason = reason
        self.counts: Counter[str] = Counter(r[ROUTE].event_type for r in records)
        self.start = min((r[START] for r in records), default=trade.start)
        self.end = max((r[END] for r in records), default=trade.end)


class TailRetention:
    """Trades, policies and bounds between capture and export (export worker only)."""

    def __init__(
        self,
        rules: TradeRules,
        limits: TailLimits,
        observer: RetentionObserver | None = None,
    ) -> None:
        self.limits = limits
        self.observer = observer or RetentionObserver()
        self.tracker = TradeTracker(rules, self._completed, self._opened)
        self.tracker.fill_latency = self.observer.fill_latency
        self.signals = SignalTally()
        self._signal_reader = SignalReader(rules)
        self.stats = RetentionStats()
        self._deferred: list[Record] = []
        self._ages: dict[int, int] = {}  #: id of a deferred record -> batches it waited
        self._decided: list[TrackedTrade] = []  #: completed in this batch, decided after it
        self._windows: dict[str, deque[Any]] = {}
        self._out: list[Record] = []
        self._spans: list[TrackedTrade | EvictionSummary] = []
        self._max_bytes = int(limits.max_buffered_megabytes * 1024 * 1024)

    # the worker's entry point -------------------------------------------------------
    def release(
        self, records: list[Record], finish: bool = False,
        pause: Callable[[], None] | None = None,
    ) -> tuple[list[Record], list[TrackedTrade | EvictionSummary]]:
        """Records to export now, and trade or summary spans to build after them.
        ``pause`` is called between chunks of records (the worker's chance to hand the
        GIL back to the traced program)."""
        out = self._out = []
        self._spans = []
        if self._deferred:
            records = self._deferred + records
            self._deferred = []
        records.sort(key=_start)
        deferred = self._deferred
        ages, self._ages = self._ages, {}
        now = time.time_ns()
        passed = 0
        append = out.append
        for record in records if pause is None else chain.from_iterable(
                _chunks(records, pause)):
            kind = record[KIND]
            if kind is not EVENT and kind is not HANDLER:
                if kind is TALLY:  # a signal for the metrics only
                    record[ROUTE].seen += 1
                    self._signal_reader.count(self.signals, record)
                    self.stats.dropped[COUNTED_ONLY] += 1
                else:  # lifecycle and run steps
                    append(record)
                continue
            parent = record[PARENT]
            if parent is not None and parent[KIND] is EVENT:
                inherited = parent[TRADE]
                if inherited is None and not finish:  # its cause is not processed yet:
                    # wait while the cause is in flight (its publish has not returned) or
                    # waits itself, else a few batches (a cause dropped on a full buffer
                    # never comes)
                    age = ages.get(id(record), 0)
                    if age < MAX_DEFERRALS or (
                        (not parent[END] or id(parent) in self._ages)
                        and now - record[END] < MAX_WAIT_NS  # (a cause that never returns)
                    ):
                        deferred.append(record)
                        self._ages[id(record)] = age + 1
                        continue
            else:
                inherited = NO_TRADE
            route = record[ROUTE]
            if kind is HANDLER:
                self.observer.handler_duration(record)
                role = None
            else:
                route.seen += 1
                role = route.role
                if role is not None:
                    if role is SIGNAL:
                        self._signal_reader.count(self.signals, record)
                        role = None
                    elif role is ORDER and (signal := answered_signal(record)) is not None:
                        self.signals.answered(signal)
            # the common case first: no trade, and no trade to look for
            trade = (None if role is None and inherited is NO_TRADE
                     else self.tracker.assign(record, role, route.retention))
            if trade is None:
                record[TRADE] = NO_TRADE
                if route.retention.holding is WINDOW:
                    self._window(route.container, route.retention, record)
                else:
                    append(record)
                    passed += 1
            else:
                record[TRADE] = trade
                self._member(trade, record, role)
                if self._decided:  # (only assign() completes trades, and returns them)
                    self._decide_completed()
        self.stats.spans_passed += passed
        self._expire()
        self._enforce_caps()
        if finish:
            self._finish()
        spans, self._spans = self._spans, []
        self._out = []
        return out, spans

    # members of trades --------------------------------------------------------------
    def _member(self, trade: TrackedTrade, record: Record, role: str | None) -> None:
        trade.spans += 1
        if record[ERROR] is not None:
            trade.errors += 1
        if record[END] > trade.end:
            trade.end = record[END]
        decision = trade.decision
        if decision is None and record[KIND] is EVENT and len(trade.members) < MAX_TRADE_LINKS:
            trade.members.append(record)  # (a cycle with record[TRADE] until the trade span)
            if role is OPEN or role is CLOSE:
                # the fill that moved this position, when it belongs to another trade (a
                # flip's; ADMF-PC applying another portfolio's fill): linked as well
                fill = record[PARENT]
                if fill is not None and fill[KIND] is EVENT and fill[TRADE] is not trade \
                        and fill[TRADE].__class__ is TrackedTrade:
                    trade.members.append(fill)
        if decision is not None:  # a late span: it follows its trade's decision
            if decision:
                self._out.append(record)
                self.stats.spans_passed += 1
            else:
                self.stats.dropped[DROPPED_BY_POLICY] += 1
            return
        policy: RetentionPolicy = trade.policy
        if policy.holding is PASS:
            self._out.append(record)
            self.stats.spans_passed += 1
        elif policy.holding is WINDOW:
            self._window(record[ROUTE].container, policy, record)
        elif len(trade.records) >= self.limits.max_spans_per_trade and role is not CLOSE:
            trade.dropped += 1
            self.stats.dropped[DROPPED_PER_TRADE_CAP] += 1
            self._loss("max_spans_per_trade", f"trade {trade.id} passed "
                       f"{self.limits.max_spans_per_trade} spans; later ones are counted only")
        else:
            trade.records.append(record)
            size = RECORD_BYTES + PAYLOAD_ITEM_BYTES * len(record[SNAPSHOT] or ())
            trade.bytes += size
            self.stats.bytes_held += size
            self.stats.spans_held += 1
            if self.stats.spans_held > self.limits.max_buffered_spans or (
                self.stats.bytes_held > self._max_bytes
            ):
                self._enforce_caps()

    def _completed(self, trade: TrackedTrade) -> None:
        self._decided.append(trade)  # decided once the record that completed it is a member

    def _opened(self, trade: TrackedTrade) -> None:
        if len(self.tracker.open) > self.limits.max_open_trades:
            oldest = next(iter(self.tracker.open.values()))
            self._loss("max_open_trades", f"more than {self.limits.max_open_trades} open "
                       "trades; the least recently active one is summarised and dropped")
            self._evict(oldest, "max_open_trades")
            self.tracker.end(oldest, EVICTED)
            oldest.decision = False
            self.stats.trades_completed[EVICTED] += 1
            self.observer.trade_completed(oldest)

    def _decide_completed(self) -> None:
        decided, self._decided = self._decided, []
        for trade in decided:
            self._decide(trade)

    def _decide(self, trade: TrackedTrade) -> None:
        policy: RetentionPolicy = trade.policy
        reason = policy.decide(trade)
        trade.decision = reason is not None
        trade.kept_by = reason
        self.stats.trades_completed[trade.outcome or INCOMPLETE] += 1
        self.observer.trade_completed(trade)
        held, trade.records = trade.records, []
        self._unhold(trade, len(held))
        if trade.decision:
            self.stats.trades_kept += 1
            self._out.extend(held)
            self.stats.spans_passed += len(held)
            if policy.holding is WINDOW:
                self._window(trade.container, policy, trade)
            else:
                self._spans.append(trade)
        else:
            self.stats.dropped[DROPPED_BY_POLICY] += len(held)
            trade.members = []  # no trade span: let its records go

    def _unhold(self, trade: TrackedTrade, count: int) -> None:
        """``count`` spans of ``trade`` and its bytes are no longer held (released, dropped
        or evicted)."""
        self.stats.spans_held -= count
        self.stats.bytes_held -= trade.bytes
        trade.bytes = 0

    # bounds ---------------------------------------------------------------------------
    def _evict(self, trade: TrackedTrade, reason: str) -> None:
        held, trade.records = trade.records, []
        self._unhold(trade, len(held))
        trade.evicted += len(held)
        self.stats.dropped[EVICTED_BY_CAP] += len(held)
        self._spans.append(EvictionSummary(trade, reason, held))

    def _enforce_caps(self) -> None:
        limits = self.limits
        if self.stats.spans_held <= limits.max_buffered_spans and (
            self.stats.bytes_held <= self._max_bytes
        ):
            return
        for trade in list(self.tracker.open.values()):
            if trade.records:
                reason = ("max_buffered_spans" if self.stats.spans_held > limits.max_buffered_spans
                          else "max_buffered_megabytes")
                self._loss(reason, "retention holds too much; the least recently active "
                           "trades' spans are summarised")
                self._evict(trade, reason)
                if self.stats.spans_held <= limits.max_buffered_spans and (
                    self.stats.bytes_held <= self._max_bytes
                ):
                    return

    def _expire(self) -> None:
        expired = self.tracker.expired(self.limits.trade_ttl_seconds)
        if expired:
            self._loss("trade_ttl_seconds", f"trades open with no event for "
                       f"{self.limits.trade_ttl_seconds:g} s end as expired")
        for trade in expired:
            self.tracker.end(trade, EXPIRED)
            self._decide(trade)

    def _finish(self) -> None:
        """The run ended: open trades end incomplete; windows are exported; every signal
        is counted."""
        self.signals.settle()
        for trade in list(self.tracker.open.values()):
            self.tracker.end(trade, INCOMPLETE)
            self._decide(trade)
        for window in self._windows.values():
            self._dump(window)

    def _loss(self, cause: str, message: str) -> None:
        if cause not in self.stats.losses_logged:
            self.stats.losses_logged.add(cause)
            logger.warning("tradetrace: %s (%s; logged once, counted in metrics)", message, cause)

    # sliding windows --------------------------------------------------------------------
    def _window(self, container: str, policy: RetentionPolicy, item: Any) -> None:
        window = self._windows.get(container)
        if window is None:
            window = self._windows[container] = deque()
        stats = self.stats
        if len(window) >= policy.window:
            if window.popleft().__class__ is list:
                stats.dropped[DROPPED_BY_POLICY] += 1
                stats.spans_held -= 1
            else:  # a kept trade's own span
                stats.derived_dropped += 1
                stats.derived_held -= 1
        window.append(item)
        if item.__class__ is list:
            stats.spans_held += 1
            if item[ERROR] is not None:
                self._dump(window)  # the lead-up to an error is what a window is for
        else:
            stats.derived_held += 1

    def _dump(self, window: deque[Any]) -> None:
        for item in window:
            if item.__class__ is list:
                self._out.append(item)
                self.stats.spans_passed += 1
                self.stats.spans_held -= 1
            else:
                self._spans.append(item)
                self.stats.derived_held -= 1
        window.clear()

    @property
    def open_trades(self) -> int:
        return len(self.tracker.open)

    @property
    def records_held(self) -> int:
        """Recorded spans retention holds now: with open trades, in windows, or waiting
        for their cause (deferred to the next batch)."""
        return self.stats.spans_held + len(self._deferred)


_start = itemgetter(START)

#: Records routed between two calls of ``release``'s ``pause``.
PAUSE_EVERY = 64


def _chunks(records: list[Record], pause: Callable[[], None]) -> Iterator[list[Record]]:
    """``records`` in slices, calling ``pause`` between them: iterating the slices by
    ``chain.from_iterable`` costs no Python step per record."""
    for start in range(0, len(records), PAUSE_EVERY):
        if start:
            pause()
        yield records[start : start + PAUSE_EVERY]

