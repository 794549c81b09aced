"""Each retention policy (retain/policy.py), parsed by the public parse functions and
driven through TailRetention with records built by hand: which trades' records come
out, with which trade span, and what is dropped. A class per policy."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hand_records import DATA, Book, event, kept, route, symbols
from tradetrace.config import load_config
from tradetrace.errors import ConfigError
from tradetrace.model.record import ERROR, TRADE, Record
from tradetrace.retain.policies.keep_if import parse_condition
from tradetrace.retain.policy import (
    ALWAYS,
    BY_LEVEL,
    KEEP_IF,
    SLIDING_WINDOW,
    TRADE_COMPLETE,
    RetentionPolicy,
    TailLimits,
    parse_policy,
)
from tradetrace.retain.tail import DROPPED_BY_POLICY, TailRetention
from tradetrace.retain.trades import TrackedTrade, TradeRules


def policy(**raw: Any) -> RetentionPolicy:
    parsed = parse_policy(raw, "retention")
    assert parsed is not None
    return parsed


def routed(*scripts: list[Record], finish: bool = False,
           ) -> tuple[list[Record], list[Any], TailRetention]:
    """Every record of ``scripts`` routed, a batch each, then (``finish``) the end of the
    run; (records out, trade spans, the retention). The policy is the routes': each
    trade follows its owning container's (the Book's)."""
    tail = TailRetention(TradeRules(), TailLimits())
    out: list[Record] = []
    spans: list[Any] = []
    for script in scripts:
        o, s = tail.release(list(script))
        out += o
        spans += s
    if finish:
        o, s = tail.release([], finish=True)
        out += o
        spans += s
    return out, spans, tail


def book_of_trades(book: Book) -> list[list[Record]]:
    """A win, a loss of 300, a rejected entry, and a position still open."""
    return [book.round_trip("WIN", 50.0), book.round_trip("LOSS", -300.0),
            book.rejected("REJ"), book.opening("OPEN")]


class TestAlways:
    def test_every_span_passes_as_it_comes_and_every_trade_is_kept(self):
        always = policy(policy="always")
        assert (always.kind, always.holds) == (ALWAYS, False)
        book = Book(always)
        scripts = book_of_trades(book)
        out, spans, tail = routed(*scripts)

        assert out == [r for script in scripts for r in script]  # nothing held back
        assert sorted((t.symbol, t.outcome, t.kept_by) for t in spans) == [
            ("LOSS", "loss", "always"), ("REJ", "rejected", "always"), ("WIN", "win", "always")]
        assert tail.stats.dropped[DROPPED_BY_POLICY] == 0


class TestTradeComplete:
    def test_completed_trades_are_dropped_and_only_their_counts_remain(self):
        hold = policy(policy="trade_complete")
        assert (hold.kind, hold.holds) == (TRADE_COMPLETE, True)
        book = Book(hold)
        scripts = book_of_trades(book)
        bar = event(route("BAR", DATA, hold), {"symbol": "SPY"})  # in no trade
        out, spans, tail = routed(*scripts, [bar])

        assert out == [bar] and spans == []
        assert tail.stats.dropped[DROPPED_BY_POLICY] == 6 + 6 + 2
        assert tail.stats.trades_completed == {"win": 1, "loss": 1, "rejected": 1}
        assert tail.records_held == 3  # the open one waits for its decision


def trades_kept(condition: Any) -> list[str]:
    """The symbols of the trades of ``keep_if_book`` that ``condition`` keeps."""
    keep = policy(policy="keep_if", keep_if=condition, incomplete="drop")
    out, spans, _ = routed(*keep_if_book(Book(keep)), finish=True)
    kept = sorted(t.symbol for t in spans)
    assert symbols(out) == kept  # a trade's records come out exactly with its trade span
    return kept


def _timed(book: Book, symbol: str, days: int, pnl: float) -> list[Record]:
    """A round trip held ``days`` days of simulated time."""
    opened = dt.datetime(2024, 1, 2, 16)
    closed = opened + dt.timedelta(days=days)
    return book.opening(symbol, open_kw={"fields": kept(f"{symbol}_open", None, opened)}) + \
        book.closing(symbol, pnl, close_kw={"fields": kept(f"{symbol}_close", None, closed)})


def keep_if_book(book: Book) -> list[list[Record]]:
    """Trades that each meet one condition: a win, a loss, a rejected entry, one whose
    fill slipped 50 bps, one filled 80 ms after its order, one whose span recorded an
    error, one held five days in simulated time (these four flat); and a position still
    open."""
    slipped = book.opening("SLIP", 100.0, fill_price=100.5) + book.closing("SLIP", 0.0)
    slow = book.opening("SLOW", fill_after_ns=80_000_000) + book.closing("SLOW", 0.0)
    failed = book.opening("ERR") + book.closing("ERR", 0.0)
    failed[1][ERROR] = RuntimeError("risk check failed")  # its FILL's handler raised
    return [book.round_trip("WIN", 50.0), book.round_trip("LOSS", -300.0),
            book.rejected("REJ"), slipped, slow, failed, _timed(book, "HOLD", 5, 0.0),
            book.opening("OPEN")]


class TestKeepIf:

    @pytest.mark.parametrize(("condition", "kept"), [
        ({"loss_above": 250}, ["LOSS"]),
        ({"loss_above": 300}, []),  # above, not at
        ({"pnl_below": 0}, ["LOSS"]),
        ({"pnl_above": 10}, ["WIN"]),
        ({"rejected": True}, ["REJ"]),
        ({"error": True}, ["ERR"]),
        ({"slippage_bps_above": 5}, ["SLIP"]),
        ({"fill_latency_ms_above": 50}, ["SLOW"]),
        ({"holding_seconds_above": 86_400}, ["HOLD"]),
        ({"outcome": "win"}, ["WIN"]),
        ({"outcome": ["win", "rejected"]}, ["REJ", "WIN"]),
        ({"any": [{"loss_above": 250}, {"rejected": True}, {"error": True}]},
         ["ERR", "LOSS", "REJ"]),
        ([{"pnl_above": 10}, {"slippage_bps_above": 5}], ["SLIP", "WIN"]),  # a list: any
        ({"all": [{"outcome": "win"}, {"pnl_above": 10}]}, ["WIN"]),
        ({"all": [{"outcome": "flat"}, {"any": [{"error": True}, {"rejected": True}]}]},
         ["ERR"]),
        ({"outcome": "flat"}, ["ERR", "HOLD", "SLIP", "SLOW"]),
        ({"all": [{"outcome": "loss"}, {"loss_above": 1000}]}, []),
    ])
    def test_a_trade_is_kept_exactly_when_its_condition_holds(self, condition, kept):
        assert trades_kept(condition) == kept

    def test_rejected_false_and_error_false_keep_the_others(self):
        assert trades_kept({"rejected": False}) == [
            "ERR", "HOLD", "LOSS", "SLIP", "SLOW", "WIN"]
        assert trades_kept({"error": False}) == ["HOLD", "LOSS", "REJ", "SLIP", "SLOW", "WIN"]

    def test_the_reason_a_trade_was_kept_is_on_its_trade_span(self):
        keep = policy(policy="keep_if", keep_if={"any": [
            {"all": [{"outcome": "loss"}, {"loss_above": 100}]}, {"rejected": True}]})
        assert keep.kind == KEEP_IF and keep.holds
        _, spans, _ = routed(*keep_if_book(Book(keep)))
        reasons = {t.symbol: t.kept_by for t in spans}
        assert reasons == {"LOSS": "outcome loss and loss_above 100", "REJ": "rejected"}

    def test_conditions_read_trades_directly(self):
        """A compiled condition is a function of a trade's fields (None: not known)."""
        loss = parse_condition({"loss_above": 100}, "keep_if")
        trade = TrackedTrade(("p", "SPY"), "p", None, 0.0)
        assert loss(trade) is None  # no P&L known: no loss
        trade.pnl = -100.5
        assert loss(trade) == "loss_above 100"
        not_rejected = parse_condition({"rejected": False}, "keep_if")
        assert not_rejected(trade) == "not rejected"
        trade.rejected = 1
        assert not_rejected(trade) is None

    @pytest.mark.parametrize(("condition", "path"), [
        ({"loss_above": True}, "keep_if.loss_above"),  # a flag where a number goes
        ({"error": 1}, "keep_if.error"),
        ({"loss_above": 1, "rejected": True}, "keep_if"),  # two tests: use all/any
        ({"all": [{"error": True}, {"pnl_above": float("nan")}]}, "keep_if.all[1].pnl_above"),
        ({"any": [{"outcome": "won"}]}, "keep_if.any[0].outcome"),
    ])
    def test_a_bad_condition_names_where_it_is_wrong(self, condition, path):
        with pytest.raises(ConfigError) as raised:
            parse_condition(condition, "keep_if")
        assert raised.value.path == path


class TestSlidingWindow:
    def test_the_last_spans_of_each_container_wait_and_an_error_exports_its_lead_up(self):
        window = policy(policy="sliding_window", window=3)
        assert (window.kind, window.window, window.holds) == (SLIDING_WINDOW, 3, False)
        ticks, quotes = route("TICK", "data_1", window), route("QUOTE", "data_2", window)
        tick = [event(ticks, {"symbol": f"T{i}"}) for i in range(6)]
        quote = [event(quotes, {"symbol": f"Q{i}"}) for i in range(2)]
        tick[4][ERROR] = ValueError("bad tick")
        out, _, tail = routed(tick[:4] + quote, tick[4:5])

        assert out == tick[2:5]  # the error and the two before it; data_2 untouched
        assert tail.stats.dropped[DROPPED_BY_POLICY] == 2  # T0, T1 pushed out
        assert tail.records_held == 2  # the quotes
        out, _, _ = routed(tick[5:])  # a new retention: T5 alone, held
        assert out == []

    def test_the_end_of_the_run_exports_every_window(self):
        window = policy(window=2, policy="sliding_window")
        records = [event(route("TICK", f"data_{i % 2}", window), {"symbol": f"T{i}"})
                   for i in range(6)]
        out, _, tail = routed(records, finish=True)
        assert {id(r) for r in out} == {id(r) for r in records[2:]} and len(out) == 4
        assert tail.stats.dropped[DROPPED_BY_POLICY] == 2 and tail.records_held == 0

    def test_a_kept_trades_span_takes_its_place_in_its_containers_window(self):
        window = policy(policy="sliding_window", window=4)
        book = Book(window)
        trip = book.round_trip("SPY", 5.0)
        out, spans, tail = routed(trip)
        trade = trip[0][TRADE]
        assert out == [] and spans == [] and trade.kept_by == SLIDING_WINDOW
        # portfolio_1's window: ORDER, OPEN, ORDER, CLOSE, then the trade span, which
        # pushes the first ORDER out; the FILLs wait in execution_1's window
        assert tail.stats.dropped[DROPPED_BY_POLICY] == 1
        assert (tail.records_held, tail.stats.derived_held) == (5, 1)
        out, spans = tail.release([], finish=True)
        assert {id(r) for r in out} == {id(r) for r in trip[1:]} and spans == [trade]
        assert (tail.records_held, tail.stats.derived_held) == (0, 0)


class TestIncomplete:
    @pytest.mark.parametrize(("raw", "kept"), [
        ({"policy": "trade_complete"}, ["OPEN"]),  # incomplete: export, the default
        ({"policy": "trade_complete", "incomplete": "export"}, ["OPEN"]),
        ({"policy": "trade_complete", "incomplete": "drop"}, []),
        ({"policy": "trade_complete", "incomplete": "policy"}, []),  # the policy drops all
        ({"policy": "keep_if", "keep_if": {"outcome": "incomplete"},
          "incomplete": "policy"}, ["OPEN"]),
        ({"policy": "keep_if", "keep_if": {"loss_above": 0}, "incomplete": "policy"},
         ["LOSS"]),  # an open trade has no P&L: no loss
        ({"policy": "keep_if", "keep_if": {"loss_above": 0}}, ["LOSS", "OPEN"]),
    ])
    def test_trades_open_when_the_run_ends_are_exported_dropped_or_decided(self, raw, kept):
        chosen = policy(**raw)
        book = Book(chosen)
        out, spans, tail = routed(*book_of_trades(book), finish=True)
        assert sorted(t.symbol for t in spans) == kept
        assert symbols(out) == kept  # records and trade span go together
        assert tail.records_held == 0 and tail.open_trades == 0

    def test_under_always_drop_can_only_drop_the_trade_span(self):
        """always exported the open trade's spans as they came: at the end of the run,
        incomplete: drop leaves out its trade span, not what was exported already."""
        chosen = policy(policy="always", incomplete="drop")
        out, spans, tail = routed(*book_of_trades(Book(chosen)), finish=True)
        assert sorted(t.symbol for t in spans) == ["LOSS", "REJ", "WIN"]
        assert "OPEN" in symbols(out) and tail.stats.dropped[DROPPED_BY_POLICY] == 0

    def test_a_policy_that_only_sets_incomplete_takes_its_kind_from_the_level(self):
        only = policy(incomplete="drop")
        assert only.kind is BY_LEVEL
        minimal = load_config(level="minimal", retention={"incomplete": "drop"}, env={})
        normal = load_config(level="normal", retention={"incomplete": "drop"}, env={})
        resolved = minimal.retention_for("portfolio_1")
        assert (resolved.kind, resolved.incomplete) == (TRADE_COMPLETE, "drop")
        assert normal.retention_for("portfolio_1").kind == ALWAYS
        book = Book(resolved)
        out, spans, _ = routed(book.opening("OPEN"), finish=True)
        assert out == [] and spans == []
