"""TailRetention (retain/tail.py) alone: records built by hand (tests/hand_records.py) are
routed in batches, and what comes out is checked: records to export, trade and summary
spans, what is held, what was dropped and why. Every test also checks the accounting
identity: records routed in = handed out + dropped (by reason) + still held."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from hand_records import DATA, PORTFOLIO, Book, event, handler, route, run, step, tally
from tradetrace.model.record import END, EVENT, HANDLER, KIND, SNAPSHOT, START, TRADE, Record
from tradetrace.retain.policy import TailLimits, parse_policy
from tradetrace.retain.tail import (
    COUNTED_ONLY,
    DROPPED_BY_POLICY,
    DROPPED_PER_TRADE_CAP,
    EVICTED_BY_CAP,
    MAX_DEFERRALS,
    PAYLOAD_ITEM_BYTES,
    RECORD_BYTES,
    EvictionSummary,
    TailRetention,
)
from tradetrace.retain.trades import NO_TRADE, TrackedTrade, TradeRules

HOLD = parse_policy({"policy": "trade_complete"}, "retention")
KEEP_LOSSES = parse_policy({"policy": "keep_if", "keep_if": {"outcome": "loss"}}, "retention")


class Harness:
    """A TailRetention and everything that went in and came out of it."""

    def __init__(self, limits: TailLimits = TailLimits()) -> None:  # noqa: B008
        self.tail = TailRetention(TradeRules(), limits)
        self.recorded = 0
        self.out: list[Record] = []
        self.spans: list[TrackedTrade | EvictionSummary] = []

    def release(self, records: list[Record], finish: bool = False
              ) -> tuple[list[Record], list[TrackedTrade | EvictionSummary]]:
        self.recorded += len(records)
        out, spans = self.tail.release(list(records), finish)
        self.out += out
        self.spans += spans
        self.check()
        return out, spans

    def check(self) -> None:
        """recorded = exported + dropped + pending, and nothing handed out twice."""
        dropped = sum(self.tail.stats.dropped.values())
        assert self.recorded == len(self.out) + dropped + self.tail.records_held, (
            self.recorded, len(self.out), dict(self.tail.stats.dropped),
            self.tail.records_held)
        assert len({id(r) for r in self.out}) == len(self.out)

    @property
    def trades(self) -> list[TrackedTrade]:
        return [s for s in self.spans if isinstance(s, TrackedTrade)]

    @property
    def summaries(self) -> list[EvictionSummary]:
        return [s for s in self.spans if isinstance(s, EvictionSummary)]


def payload_bytes(records: list[Record]) -> int:
    return sum(RECORD_BYTES + PAYLOAD_ITEM_BYTES * len(r[SNAPSHOT]) for r in records)


class TestTailRetention:
    def test_records_of_no_trade_pass_at_once_in_publish_order(self):
        h = Harness()
        the_run = run()
        bar_route = route("BAR", DATA)
        bars = [event(bar_route, {"symbol": "SPY", "close": 1.0}, parent=the_run)
                for _ in range(3)]
        lifecycle = step("container.start", parent=the_run)
        out, spans = h.release([bars[2], lifecycle, bars[0], the_run, bars[1]])

        assert out == sorted(out, key=lambda r: r[START]) and len(out) == 5  # by start time
        assert set(map(id, out)) == {id(r) for r in [*bars, lifecycle, the_run]}
        assert spans == []
        # a processed record of no trade says so: what it caused need not wait for it
        assert all(bar[TRADE] is NO_TRADE for bar in bars)
        assert bar_route.seen == 3
        assert h.tail.records_held == 0 and h.tail.open_trades == 0

    def test_always_passes_a_trades_records_at_once_and_its_close_makes_its_trade_span(self):
        h = Harness()
        book = Book()
        opening = book.opening("SPY")
        out, spans = h.release(opening)

        assert out == opening and spans == []
        trade = opening[0][TRADE]
        assert isinstance(trade, TrackedTrade) and all(r[TRADE] is trade for r in opening)
        assert (trade.state, trade.decision, h.tail.open_trades) == ("open", None, 1)

        closing = book.closing("SPY", 120.0)
        out, spans = h.release(closing)
        assert out == closing and spans == [trade]
        assert all(r[TRADE] is trade for r in closing)
        assert (trade.outcome, trade.pnl, trade.kept_by) == ("win", 120.0, "always")
        assert trade.members == opening + closing  # the trade span's links
        assert (trade.orders, trade.fills, trade.spans) == (2, 2, 6)
        assert h.tail.stats.trades_completed == Counter(win=1)
        assert h.tail.stats.trades_kept == 1 and h.tail.open_trades == 0

    def test_a_holding_policy_holds_an_open_trade_and_counts_what_it_holds(self):
        h = Harness()
        book = Book(HOLD)
        opening = book.opening("SPY")
        out, _ = h.release(opening)

        assert out == []
        assert h.tail.records_held == h.tail.stats.spans_held == 3
        assert h.tail.stats.bytes_held == payload_bytes(opening)
        assert opening[0][TRADE].records == opening

        out, spans = h.release(book.closing("SPY", -5.0))  # completed: trade_complete drops it
        assert out == [] and spans == []
        assert h.tail.stats.dropped[DROPPED_BY_POLICY] == 6
        assert (h.tail.stats.spans_held, h.tail.stats.bytes_held) == (0, 0)
        assert opening[0][TRADE].members == []  # no trade span: its records are let go

    def test_a_record_waits_for_its_cause_to_be_processed(self):
        """A child routed before its cause is deferred to a later batch (counted as held),
        then processed after the cause, in the cause's trade."""
        h = Harness()
        book = Book()
        placed = book.order("SPY")
        update = book.routes["PORTFOLIO_UPDATE"]
        caused = event(update, {"equity": 1.0}, parent=placed)
        handled = handler(update, print, placed)

        out, _ = h.release([caused, handled])
        assert out == [] and h.tail.records_held == 2

        out, _ = h.release([placed])
        assert out == [placed, caused, handled]
        assert caused[TRADE] is handled[TRADE] is placed[TRADE]
        assert isinstance(placed[TRADE], TrackedTrade) and h.tail.records_held == 0

    def test_a_cause_that_never_comes_lets_its_child_go_after_a_few_batches(self):
        """A cause that finished but was never routed (dropped on a full buffer) holds
        its child MAX_DEFERRALS batches, then the child goes, in no trade."""
        h = Harness()
        lost = Book().order("SPY")  # finished (END set), never routed
        child = event(route("PORTFOLIO_UPDATE", PORTFOLIO), {"symbol": "SPY"}, parent=lost)

        assert h.release([child]) == ([], [])
        for _ in range(MAX_DEFERRALS - 1):
            assert h.release([]) == ([], [])
            assert h.tail.records_held == 1
        out, _ = h.release([])
        assert out == [child] and child[TRADE] is NO_TRADE

    def test_a_cause_still_in_flight_holds_its_child_until_the_run_ends(self):
        h = Harness()
        in_flight = Book().order("SPY")
        in_flight[END] = 0  # its publish has not returned
        child = event(route("PORTFOLIO_UPDATE", PORTFOLIO), {}, parent=in_flight,
                      start=time.time_ns())
        for _ in range(MAX_DEFERRALS + 3):
            assert h.release([child] if not h.recorded else []) == ([], [])
        assert h.tail.records_held == 1
        out, _ = h.release([], finish=True)  # the run ended: nothing waits any more
        assert out == [child] and h.tail.records_held == 0

    @pytest.mark.parametrize(("pnl", "kept"), [(-50.0, True), (50.0, False)])
    def test_late_records_follow_their_trades_decision(self, pnl, kept):
        """A fill after its trade's close (the order id is remembered) and an event
        caused by the close are exported with a kept trade, dropped with a dropped one."""
        h = Harness()
        book = Book(KEEP_LOSSES)
        h.release(book.opening("SPY"))
        exit_order = book.order("SPY", "SELL")
        close = book.close("SPY", pnl)
        h.release([exit_order, close])
        trade = close[TRADE]
        assert trade.decision is kept

        late = [book.fill(exit_order),
                event(book.routes["PORTFOLIO_UPDATE"], {"symbol": "SPY"}, parent=close)]
        out, spans = h.release(late)
        assert all(r[TRADE] is trade for r in late)
        assert spans == []  # the trade span was made at the decision
        if kept:
            assert out == late
        else:
            assert out == [] and h.tail.stats.dropped[DROPPED_BY_POLICY] == 5 + 2

    def test_past_its_span_cap_a_trade_counts_its_spans_and_still_keeps_its_close(self):
        h = Harness(TailLimits(max_spans_per_trade=4))
        book = Book(KEEP_LOSSES)
        opening = book.opening("SPY")
        updates = [book.update("SPY", i) for i in range(5)]
        closing = book.closing("SPY", -10.0)
        h.release(opening + updates)
        out, spans = h.release(closing)

        (trade,) = spans
        assert out == opening + updates[:1] + closing[-1:]  # the first four, and the close
        assert trade.dropped == h.tail.stats.dropped[DROPPED_PER_TRADE_CAP] == 4 + 2
        assert trade.spans == 3 + 5 + 3

    def test_the_span_cap_concerns_held_trades_only(self):
        h = Harness(TailLimits(max_spans_per_trade=2))
        book = Book()  # always: nothing is held, so nothing is capped
        records = book.opening("SPY") + [book.update("SPY", 1.0)] + book.closing("SPY", 1.0)
        out, _ = h.release(records)
        assert out == records and h.tail.stats.dropped[DROPPED_PER_TRADE_CAP] == 0

    def test_too_many_open_trades_evict_the_least_recently_active(self):
        h = Harness(TailLimits(max_open_trades=2))
        book = Book(HOLD)
        first, second = book.opening("AAA"), book.opening("BBB")
        h.release(first + second)
        h.release([book.update("AAA", 1.0)])  # AAA is now the more recently active
        third = book.opening("CCC")
        out, spans = h.release(third)

        assert out == []
        (summary,) = spans
        evicted = second[0][TRADE]
        assert summary.trade is evicted and summary.reason == "max_open_trades"
        assert summary.counts == Counter(ORDER=1, FILL=1, POSITION_OPEN=1)
        assert (summary.start, summary.end) == (second[0][START], second[-1][END])
        assert (evicted.outcome, evicted.decision, evicted.evicted) == ("evicted", False, 3)
        assert h.tail.stats.dropped[EVICTED_BY_CAP] == 3
        assert h.tail.stats.trades_completed == Counter(evicted=1)
        assert sorted(t.symbol for t in h.tail.tracker.open.values()) == ["AAA", "CCC"]

    def test_the_held_span_cap_summarises_the_least_recently_active_trades_buffer(self):
        h = Harness(TailLimits(max_buffered_spans=4))
        book = Book(KEEP_LOSSES)
        old, new = book.opening("OLD"), book.opening("NEW")
        out, spans = h.release(old + new)

        (summary,) = spans
        trade = old[0][TRADE]
        assert summary.trade is trade and summary.reason == "max_buffered_spans"
        assert h.tail.stats.spans_held <= 4 and h.tail.stats.dropped[EVICTED_BY_CAP] == 3
        # the trade goes on: it is open still, and its later spans are decided with it
        assert trade.decision is None and trade.evicted == 3
        closing = book.closing("OLD", -1.0)
        out, spans = h.release(closing)
        assert out == closing and spans[-1] is trade and trade.outcome == "loss"
        # the cap is hit again, and NEW is now the least recently active trade
        assert [(s.trade.symbol, s.reason) for s in spans[:-1]] == [
            ("NEW", "max_buffered_spans")]

    def test_the_held_bytes_cap_summarises_too(self):
        order_bytes = RECORD_BYTES + 6 * PAYLOAD_ITEM_BYTES  # an ORDER's six payload keys
        limit = 1.5 * order_bytes / (1024 * 1024)
        h = Harness(TailLimits(max_buffered_megabytes=limit))
        book = Book(HOLD)
        out, spans = h.release(book.opening("SPY"))
        assert [s.reason for s in spans] == ["max_buffered_megabytes"]
        assert 0 < h.tail.stats.bytes_held <= limit * 1024 * 1024

    def test_an_open_trade_quiet_for_its_time_to_live_expires(self):
        h = Harness(TailLimits(trade_ttl_seconds=60))
        clock = [1000.0]
        h.tail.tracker.clock = lambda: clock[0]
        book = Book(HOLD)
        stale, busy = book.opening("STALE"), book.opening("BUSY")
        h.release(stale + busy)
        clock[0] = 1030.0
        h.release([book.update("BUSY", 1.0)])
        clock[0] = 1061.0
        out, spans = h.release([])

        (trade,) = spans  # incomplete: export (the default) keeps an expired trade
        assert trade is stale[0][TRADE] and trade.outcome == "expired"
        assert out == stale
        assert h.tail.stats.trades_completed == Counter(expired=1)
        assert [t.symbol for t in h.tail.tracker.open.values()] == ["BUSY"]

    def test_the_end_of_the_run_decides_every_open_trade_as_incomplete(self):
        h = Harness()
        book = Book(HOLD)
        opening = book.opening("SPY")
        h.release(opening)
        out, spans = h.release([], finish=True)
        (trade,) = spans
        assert trade.outcome == "incomplete" and trade.kept_by == "incomplete"
        assert out == opening and h.tail.open_trades == 0

    def test_recorded_equals_exported_plus_dropped_plus_pending_through_a_busy_run(self):
        """Every way a record leaves or stays, batch after batch: passed, held, deferred,
        window, per-trade cap, eviction, policy drop, signals counted only; at the end
        nothing is pending."""
        h = Harness(TailLimits(max_spans_per_trade=5, max_open_trades=3))
        window = parse_policy({"policy": "sliding_window", "window": 2}, "retention")
        keep, drop = Book(KEEP_LOSSES), Book(HOLD, portfolio="portfolio_2")
        signals = route("SIGNAL", "strategy_1")
        ticks = route("TICK", "data_2", window)
        the_run = run()

        batches: list[list[Record]] = []
        for i in range(6):
            won, lost = keep.round_trip(f"W{i}", 10.0), keep.round_trip(f"L{i}", -10.0)
            busy = drop.opening(f"B{i}") + [drop.update(f"B{i}", j) for j in range(4)]
            child = event(keep.routes["PORTFOLIO_UPDATE"], {"equity": i}, parent=lost[-1])
            batches.append([child, *([the_run] if i == 0 else []), *won, *busy,
                            tally(signals, "long", "s1", "SPY"),
                            *(event(ticks, {"symbol": "T"}) for _ in range(3))])
            batches.append(lost)  # the child's cause comes a batch later
        for batch in batches:
            h.release(batch)
        stats = h.tail.stats
        assert stats.dropped[DROPPED_BY_POLICY] > 0 and stats.dropped[EVICTED_BY_CAP] > 0
        assert stats.dropped[COUNTED_ONLY] == 6
        assert h.tail.records_held > 0

        h.release([], finish=True)
        assert h.tail.records_held == 0 and h.tail.open_trades == 0
        assert h.recorded == len(h.out) + sum(stats.dropped.values())
        # spans_passed (the metrics' "exported") counts trading spans: events and
        # handlers, not lifecycle or run steps
        assert stats.spans_passed == sum(1 for r in h.out if r[KIND] in (EVENT, HANDLER))
        assert sorted(t.symbol for t in h.trades if t.outcome == "loss") == [
            f"L{i}" for i in range(6)]
        assert all(t.outcome in ("loss", "incomplete", "expired") for t in h.trades)
