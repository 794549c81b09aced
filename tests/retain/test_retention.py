"""Trade-aware tail retention: which spans reach the exporter for each kind of trade under
each policy, late spans, every cap, the time-to-live, and the trade-rule anomalies.

Trades are scripted on the toy bus (tests/toybus.py) through a real tracing session: an
ORDER on ``portfolio_1`` opens a trade for (portfolio_1, strategy, symbol), a FILL from
``execution_1`` joins it by order id, POSITION_OPEN and POSITION_CLOSE open and close it.
"""

from __future__ import annotations

import itertools

import pytest

import toybus
from tradetrace import conventions as conv
from tradetrace.errors import ConfigError
from tradetrace.testing import recording, spans_by_trade

PORTFOLIO, EXECUTION = "portfolio_1", "execution_1"
_orders = itertools.count(1)


def _msg(kind, node=PORTFOLIO, **data):
    return toybus.Message(kind, data, node=node)


def _order(bus, symbol, side, strategy="s1", price=100.0, quantity=10):
    order_id = f"o{next(_orders)}"
    bus.publish(_msg("ORDER", order_id=order_id, symbol=symbol, side=side, price=price,
                     quantity=quantity, strategy_id=strategy))
    return order_id


def _fill(bus, order_id, symbol, side, price=100.0, status="FILLED", strategy="s1"):
    bus.publish(_msg("FILL", EXECUTION, order_id=order_id, symbol=symbol, side=side,
                     price=price, quantity=10, status=status, strategy_id=strategy))


def open_trade(bus, symbol, strategy="s1", price=100.0):
    order_id = _order(bus, symbol, "BUY", strategy, price)
    _fill(bus, order_id, symbol, "BUY", price, strategy=strategy)
    bus.publish(_msg("POSITION_OPEN", symbol=symbol, quantity=10, entry_price=price,
                     strategy_id=strategy))


def close_trade(bus, symbol, pnl, strategy="s1", price=100.0):
    order_id = _order(bus, symbol, "SELL", strategy, price)
    _fill(bus, order_id, symbol, "SELL", price, strategy=strategy)
    bus.publish(_msg("POSITION_CLOSE", symbol=symbol, quantity=10, entry_price=price,
                     exit_price=price + pnl / 10, realized_pnl=pnl, strategy_id=strategy))


def round_trip(bus, symbol, pnl, strategy="s1"):
    open_trade(bus, symbol, strategy)
    close_trade(bus, symbol, pnl, strategy)


def rejected_entry(bus, symbol, strategy="s1"):
    order_id = _order(bus, symbol, "BUY", strategy)
    _fill(bus, order_id, symbol, "BUY", 0.0, status="REJECTED", strategy=strategy)


def _symbols(spans):
    return sorted({s.attributes.get(conv.SYMBOL) for s in spans
                   if s.name in ("ORDER", "FILL", "POSITION_OPEN", "POSITION_CLOSE")})


def run_book(retention, script, level="normal", **kwargs):
    """Run ``script(bus)`` traced; return (everything exported by shutdown, session stats)."""
    with recording(level, profile=toybus.PROFILE, retention=retention, **kwargs) as rec:
        bus = toybus.Bus()
        script(bus)
        session = rec.session
    stats = session.stats()
    return list(rec.exporter.get_finished_spans()), stats


def _book(bus):
    round_trip(bus, "WIN", 50.0)
    round_trip(bus, "LOSS", -300.0)
    rejected_entry(bus, "REJ")
    open_trade(bus, "OPEN")


def test_every_trade_event_carries_its_trade_and_one_trade_span_links_them():
    """always: all six events of a round trip share one trade id; its trade span holds the
    trade's story and links to each of their spans."""
    spans, stats = run_book("always", lambda bus: round_trip(bus, "SPY", 120.0))
    events, trades = spans_by_trade(spans)
    ((trade_id, members),) = events.items()
    assert sorted(s.name for s in members) == sorted(
        ["ORDER", "FILL", "POSITION_OPEN", "ORDER", "FILL", "POSITION_CLOSE"])
    trade = trades[trade_id]
    attrs = trade.attributes
    assert attrs[conv.TRADE_OUTCOME] == "win" and attrs[conv.TRADE_PNL] == 120.0
    assert attrs[conv.SYMBOL] == "SPY" and attrs[conv.STRATEGY_ID] == "s1"
    assert attrs[conv.CONTAINER_ID] == PORTFOLIO and attrs[conv.TRADE_SIDE] == "LONG"
    assert attrs[conv.TRADE_ENTRY_PRICE] == 100.0 and attrs[conv.TRADE_EXIT_PRICE] == 112.0
    assert attrs[conv.TRADE_ORDERS] == 2 and attrs[conv.TRADE_FILLS] == 2
    assert attrs[conv.TRADE_SPANS] == 6 and attrs[conv.TRADE_KEPT_BY] == "always"
    linked = {link.context.span_id for link in trade.links}
    assert linked == {s.context.span_id for s in members}
    assert all(link.attributes[conv.LINK_RELATION] == conv.RELATION_TRADE_EVENT
               for link in trade.links)
    assert trade.start_time <= min(s.start_time for s in members)
    assert stats["retention"]["trades_completed"] == {"win": 1}


def test_trade_complete_drops_completed_trades_and_exports_open_ones_as_incomplete():
    """trade_complete (MINIMAL's default): the winner, the loser and the rejected entry
    are dropped; the trade still open at shutdown is exported, marked incomplete."""
    spans, stats = run_book("trade_complete", _book, level="minimal")
    events, trades = spans_by_trade(spans)
    assert _symbols(spans) == ["OPEN"]
    ((trade_id, trade),) = trades.items()
    assert trade.attributes[conv.TRADE_OUTCOME] == "incomplete"
    assert sorted(s.name for s in events[trade_id]) == ["FILL", "ORDER", "POSITION_OPEN"]
    retention = stats["retention"]
    assert retention["trades_completed"] == {"win": 1, "loss": 1, "rejected": 1,
                                             "incomplete": 1}
    assert retention["spans_dropped"] == 6 + 6 + 2 and retention["spans_held"] == 0


def test_the_default_policy_follows_the_level():
    """MINIMAL holds and drops completed trades; NORMAL exports every trade."""
    minimal, _ = run_book(None, _book, level="minimal")
    normal, _ = run_book(None, _book, level="normal")
    assert _symbols(minimal) == ["OPEN"]
    assert _symbols(normal) == ["LOSS", "OPEN", "REJ", "WIN"]


def test_incomplete_trades_can_be_dropped_at_shutdown():
    """incomplete: drop loses the still-open trade too."""
    spans, stats = run_book({"policy": "trade_complete", "incomplete": "drop"}, _book)
    assert _symbols(spans) == []
    assert stats["retention"]["trades_kept"] == 0


@pytest.mark.parametrize(
    ("condition", "kept"),
    [
        ({"loss_above": 250}, ["LOSS", "OPEN"]),
        ({"rejected": True}, ["OPEN", "REJ"]),
        ({"outcome": ["win"]}, ["OPEN", "WIN"]),
        ({"pnl_above": 10}, ["OPEN", "WIN"]),
        ({"any": [{"loss_above": 250}, {"rejected": True}]}, ["LOSS", "OPEN", "REJ"]),
        ({"all": [{"outcome": "loss"}, {"loss_above": 1000}]}, ["OPEN"]),
    ],
)
def test_keep_if_exports_exactly_the_trades_its_condition_holds_for(condition, kept):
    """keep_if: a completed trade is exported whole when its condition holds."""
    spans, _ = run_book({"policy": "keep_if", "keep_if": condition}, _book)
    assert _symbols(spans) == kept
    events, trades = spans_by_trade(spans)
    for trade_id, trade in trades.items():
        if trade.attributes[conv.TRADE_OUTCOME] != "incomplete":
            assert trade.attributes[conv.TRADE_KEPT_BY]
        assert len(events[trade_id]) == trade.attributes[conv.TRADE_SPANS]


def test_keep_if_keeps_a_trade_whose_span_recorded_an_error():
    """An exception in a handler of a trade's event marks the trade; error: true keeps it."""

    def script(bus):
        def broken_risk_check(message):
            if message.data.get("symbol") == "ERR":
                raise RuntimeError("risk service timeout")

        bus.on("ORDER", broken_risk_check)
        round_trip(bus, "OK", -20.0)
        open_trade(bus, "ERR_OPEN")
        with pytest.raises(RuntimeError):
            _order(bus, "ERR", "BUY")
        bus.publish(_msg("POSITION_OPEN", symbol="ERR", quantity=10, entry_price=1.0,
                         strategy_id="s1"))
        bus.publish(_msg("POSITION_CLOSE", symbol="ERR", realized_pnl=-1.0, strategy_id="s1"))

    spans, _ = run_book({"policy": "keep_if", "keep_if": {"error": True},
                         "incomplete": "drop"}, script)
    assert _symbols(spans) == ["ERR"]
    _, trades = spans_by_trade(spans)
    (trade,) = trades.values()
    assert trade.attributes[conv.TRADE_ERRORS] == 1


def test_slippage_and_fill_latency_conditions_read_the_fills():
    """Slippage is the fill's price against its order's, adverse positive, in bps."""

    def script(bus):
        for symbol, fill_price in (("TIGHT", 100.01), ("SLIP", 100.5)):
            order_id = _order(bus, symbol, "BUY", price=100.0)
            _fill(bus, order_id, symbol, "BUY", fill_price)
            bus.publish(_msg("POSITION_OPEN", symbol=symbol, quantity=10,
                             entry_price=fill_price, strategy_id="s1"))
            close_trade(bus, symbol, 1.0)

    spans, _ = run_book({"policy": "keep_if", "keep_if": {"slippage_bps_above": 5}}, script)
    assert _symbols(spans) == ["SLIP"]
    _, trades = spans_by_trade(spans)
    (trade,) = trades.values()
    assert trade.attributes[conv.TRADE_MAX_SLIPPAGE] == pytest.approx(50.0)
    assert trade.attributes[conv.TRADE_MAX_FILL_LATENCY] >= 0


def test_late_spans_follow_the_decision_already_made():
    """Events caused by a decided trade's close, and a fill arriving after the close,
    are exported when the trade was kept and dropped when it was not."""

    def script(bus):
        def on_close(message):  # published inside the close, processed after the decision
            bus.publish(_msg("PORTFOLIO_UPDATE", equity=1.0, symbol=message.data["symbol"]))

        bus.on("POSITION_CLOSE", on_close)
        for symbol, pnl in (("KEEP", -500.0), ("DROP", 5.0)):
            open_trade(bus, symbol)
            order_id = _order(bus, symbol, "SELL")
            bus.publish(_msg("POSITION_CLOSE", symbol=symbol, realized_pnl=pnl,
                             strategy_id="s1"))
            _fill(bus, order_id, symbol, "SELL")  # a late fill: after its trade closed

    spans, stats = run_book({"policy": "keep_if", "keep_if": {"loss_above": 100}}, script)
    events, trades = spans_by_trade(spans)
    (trade_id,) = trades
    names = sorted(s.name for s in events[trade_id])
    assert names == sorted(["ORDER", "FILL", "POSITION_OPEN", "ORDER", "POSITION_CLOSE",
                            "PORTFOLIO_UPDATE", "FILL"])
    updates = [s for s in spans if s.name == "PORTFOLIO_UPDATE"]
    assert [u.attributes[conv.SYMBOL] for u in updates] == ["KEEP"]
    assert stats["retention"]["anomalies"] == {}


def test_a_trade_past_its_span_cap_keeps_its_first_spans_and_its_close():
    """max_spans_per_trade: later spans are counted on the trade span, the close kept."""

    def script(bus):
        open_trade(bus, "BUSY")
        for i in range(20):
            bus.publish(_msg("POSITION_UPDATE", symbol="BUSY", strategy_id="s1", mark=i))
        close_trade(bus, "BUSY", -1.0)

    spans, _ = run_book({"policy": "keep_if", "keep_if": {"outcome": "loss"},
                         "max_spans_per_trade": 10}, script)
    events, trades = spans_by_trade(spans)
    (trade,) = trades.values()
    (members,) = events.values()
    assert len(members) == 11  # the cap, plus the close
    assert trade.attributes[conv.TRADE_SPANS_DROPPED] == 3 + 20 + 3 - 11
    assert "POSITION_CLOSE" in {s.name for s in members}


def test_too_many_open_trades_turn_the_least_active_into_a_summary():
    """max_open_trades: the oldest trade is summarised and forgotten; its close is then an
    anomaly, counted, and the other trades are untouched."""

    def script(bus):
        for symbol in ("A", "B", "C"):
            open_trade(bus, symbol)
        for symbol in ("B", "C", "A"):
            close_trade(bus, symbol, -10.0)

    spans, stats = run_book({"policy": "keep_if", "keep_if": {"outcome": "loss"},
                             "max_open_trades": 2}, script)
    summaries = [s for s in spans if s.name == conv.EVICTION_SPAN_NAME]
    (summary,) = summaries
    assert summary.attributes[conv.SYMBOL] == "A"
    assert summary.attributes[conv.EVICTION_REASON] == "max_open_trades"
    assert summary.attributes[conv.EVICTION_COUNT_PREFIX + "ORDER"] == 1
    events, trades = spans_by_trade(spans)
    whole = {t.attributes[conv.SYMBOL]: t for t in trades.values()
             if t.attributes[conv.TRADE_SPANS] == 6}
    assert sorted(whole) == ["B", "C"]
    assert all(len(events[t.attributes[conv.TRADE_ID]]) == 6 for t in whole.values())
    # A's close arrives with no open trade for it: counted, traced as a trade of its own
    assert stats["retention"]["anomalies"]["close_without_open"] == 1
    assert stats["retention"]["trades_completed"]["evicted"] == 1


def test_held_span_cap_summarises_the_least_recently_active_trade_buffer():
    """max_buffered_spans: the least recently active trade's buffer becomes one summary
    span; the trade goes on and its later spans are still decided with it."""

    def script(bus):
        open_trade(bus, "OLD")
        open_trade(bus, "NEW")
        close_trade(bus, "NEW", -5.0)
        close_trade(bus, "OLD", -5.0)

    spans, stats = run_book({"policy": "keep_if", "keep_if": {"outcome": "loss"},
                             "max_buffered_spans": 4}, script)
    summaries = [s for s in spans if s.name == conv.EVICTION_SPAN_NAME]
    assert summaries and all(s.attributes[conv.EVICTION_REASON] == "max_buffered_spans"
                             for s in summaries)
    assert stats["retention"]["spans_evicted"] == sum(
        v for s in summaries for k, v in s.attributes.items()
        if k.startswith(conv.EVICTION_COUNT_PREFIX))
    _, trades = spans_by_trade(spans)
    assert sorted(t.attributes[conv.SYMBOL] for t in trades.values()) == ["NEW", "OLD"]
    assert stats["retention"]["spans_held"] == 0


def test_a_trade_with_no_event_for_its_time_to_live_expires():
    """trade_ttl_seconds: an open trade gone quiet ends as expired and is exported
    (like incomplete ones); a later close of the same key is an anomaly."""
    now = [1000.0]
    with recording("minimal", profile=toybus.PROFILE,
                   retention={"trade_ttl_seconds": 60}) as rec:
        rec.session.tail.tracker.clock = lambda: now[0]
        bus = toybus.Bus()
        open_trade(bus, "STALE")
        rec.session.flush()
        now[0] += 61
        rejected_entry(bus, "FRESH")
        exported = rec.spans()
        stats = rec.session.stats()["retention"]
    _, trades = spans_by_trade(exported)
    (trade,) = trades.values()
    assert trade.attributes[conv.TRADE_OUTCOME] == "expired"
    assert stats["trades_completed"] == {"expired": 1, "rejected": 1}


@pytest.mark.parametrize(
    ("script", "anomaly"),
    [
        (lambda bus: bus.publish(_msg("POSITION_CLOSE", symbol="X", strategy_id="s1",
                                      realized_pnl=1.0)), "close_without_open"),
        (lambda bus: (open_trade(bus, "X"), bus.publish(
            _msg("POSITION_OPEN", symbol="X", strategy_id="s1", entry_price=1.0))),
         "open_twice"),
        (lambda bus: _fill(bus, "o_unknown", "X", "BUY"), "fill_for_unknown_order"),
        (lambda bus: bus.publish(_msg("ORDER", order_id="o_nosym", side="BUY",
                                      strategy_id="s1")), "missing_key"),
    ],
)
def test_anomalies_are_counted_never_raised_and_lose_no_other_trade(script, anomaly, caplog):
    """Each anomaly is counted and logged once; a normal trade beside it is intact."""

    def book(bus):
        round_trip(bus, "GOOD", -400.0, strategy="s2")
        script(bus)
        script(bus) if anomaly != "open_twice" else None

    spans, stats = run_book({"policy": "keep_if", "keep_if": {"loss_above": 1}}, book)
    counted = stats["retention"]["anomalies"]
    assert counted[anomaly] >= 1
    assert sum(1 for r in caplog.records if anomaly in r.getMessage()) == 1
    events, trades = spans_by_trade(spans)
    good = [t for t in trades.values() if t.attributes[conv.SYMBOL] == "GOOD"]
    assert len(good) == 1 and len(events[good[0].attributes[conv.TRADE_ID]]) == 6


def test_sliding_window_keeps_the_last_spans_and_exports_them_at_an_error_and_at_the_end():
    """sliding_window: only the newest `window` spans of a container survive; an error
    exports the window that led to it."""

    def script(bus):
        def fail_on_poison(message):
            if message.data.get("poison"):
                raise ValueError("bad tick")

        bus.on("TICK", fail_on_poison)
        for i in range(10):
            bus.publish(_msg("TICK", "data_1", symbol=f"S{i:02d}"))
        with pytest.raises(ValueError):
            bus.publish(_msg("TICK", "data_1", symbol="S10", poison=True))
        for i in range(11, 20):
            bus.publish(_msg("TICK", "data_1", symbol=f"S{i:02d}"))

    spans, stats = run_book({"policy": "sliding_window", "window": 3}, script)
    ticks = sorted(s.attributes[conv.SYMBOL] for s in spans if s.name == "TICK")
    assert ticks == ["S08", "S09", "S10", "S17", "S18", "S19"]
    assert stats["retention"]["spans_dropped"] == 20 - 6


@pytest.mark.parametrize(
    ("retention", "path"),
    [
        ({"policy": "sometimes"}, "retention.policy"),
        ({"policy": "keep_if"}, "retention.keep_if"),
        ({"policy": "keep_if", "keep_if": {"loss_above": "big"}}, "retention.keep_if.loss_above"),
        ({"policy": "keep_if", "keep_if": {"moon_phase": 1}}, "retention.keep_if.moon_phase"),
        ({"policy": "keep_if", "keep_if": {"outcome": ["meh"]}}, "retention.keep_if.outcome"),
        ({"policy": "keep_if", "keep_if": {"any": []}}, "retention.keep_if.any"),
        ({"policy": "always", "keep_if": {"error": True}}, "retention.keep_if"),
        ({"max_open_trades": 0}, "retention.max_open_trades"),
        ({"window": -1}, "retention.window"),
        ({"incomplete": "maybe"}, "retention.incomplete"),
        ({"bogus": 1}, "retention.bogus"),
    ],
)
def test_invalid_retention_settings_are_config_errors_naming_the_key(retention, path):
    """Bad policies and conditions fail at configuration time, naming the key path."""
    from tradetrace.config import load_config

    with pytest.raises(ConfigError) as raised:
        load_config(level="minimal", retention=retention, env={})
    assert raised.value.path.replace("tracing.", "") == path


def test_retention_per_container_through_overrides(tmp_path):
    """An override's retention applies to the trades its containers own."""
    from tradetrace.config import load_config

    config_file = tmp_path / "tracing.yaml"
    config_file.write_text(
        "tracing:\n"
        "  level: minimal\n"
        "  overrides:\n"
        "    portfolio_vip*: {retention: {policy: always}}\n"
        "    portfolio_x*: {retention: {policy: keep_if, keep_if: {error: true}}}\n"
    )
    config = load_config(config_file=config_file, env={})
    assert config.retention_for("portfolio_vip_1").kind == "always"
    assert config.retention_for("portfolio_x1").kind == "keep_if"
    assert config.retention_for("portfolio_1").kind == "trade_complete"
    assert load_config(level="normal", env={}).retention_for("portfolio_1").kind == "always"
