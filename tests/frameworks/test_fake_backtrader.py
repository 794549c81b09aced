"""The ``backtrader`` profile on tests/fake_backtrader, a stand-in with backtrader's shape:
no bus; the broker told of each order status change (``BackBroker.notify``, the live
order), bars handed to the strategy's private ``_oncepost``/``_next``, trade copies queued
by ``_addnotification``; a user's strategy overriding ``next``, ``notify_order`` and
``notify_trade``; float dates; orders unhashable (equal by ref)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.capture.frameworks.backtrader import bar_hook, trade_hook
from tradetrace.testing import SpanRecorder, recording

FAKE = Path(__file__).resolve().parents[1] / "fake_backtrader"
#: bt.Order status name -> the profile's event type
TYPES = {"Submitted": "ORDER_SUBMITTED", "Accepted": "ORDER_ACCEPTED", "Completed": "FILL",
         "Margin": "ORDER_MARGIN"}


def _fake_modules() -> list[str]:
    return [n for n in sys.modules if n.split(".")[0] in ("backtrader", "sma_backtest")]


@pytest.fixture
def bt(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The fake's backtest module, imported from tests/fake_backtrader (never a real one)."""
    monkeypatch.syspath_prepend(str(FAKE))
    for name in _fake_modules():
        monkeypatch.delitem(sys.modules, name)
    import sma_backtest

    yield sma_backtest
    for name in _fake_modules():
        del sys.modules[name]


def _attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _run(bt: Any, level: str = "normal", **params: Any) -> tuple[SpanRecorder, Any]:
    with recording(level, profile="backtrader") as spans:
        record = bt.run_backtest(**params)
        tradetrace.flush()
        return spans, record


def _framework(record: Any) -> dict[str, int]:
    """What the framework produced (the strategy was told, or would have been had a bar
    followed), by the profile's event types."""
    counts = {TYPES[name]: n for name, n in (record.orders + record.undelivered).items()}
    counts.update(BAR=record.bars, POSITION_OPEN=record.opened,
                  POSITION_CLOSE=len(record.closed))
    return {name: n for name, n in counts.items() if n}


@pytest.mark.parametrize("runonce", [True, False], ids=["runonce", "runnext"])
def test_spans_per_type_equal_what_the_strategy_was_told(bt: Any, runonce: bool) -> None:
    from backtrader.brokers.bbroker import BackBroker
    from backtrader.strategy import Strategy

    notify, oncepost = BackBroker.__dict__["notify"], Strategy.__dict__["_oncepost"]
    with recording("normal", profile="backtrader") as spans:
        assert BackBroker.__dict__["notify"] is not notify  # patched while tracing
        record = bt.run_backtest(runonce=runonce)
        tradetrace.flush()
        assert spans.session.stats()["cannot_patch"] == []
    by_type = Counter(s.name for s in spans.spans() if s.name != "trade")
    assert dict(by_type) == _framework(record)
    assert record.closed and record.bars == 300
    assert BackBroker.__dict__["notify"] is notify  # and given back exactly
    assert Strategy.__dict__["_oncepost"] is oncepost


def test_results_unchanged(bt: Any) -> None:
    bare = bt.run_backtest()
    _, traced = _run(bt, "debug")
    # (trade refs count on across runs, as backtrader's class-wide counter does)
    assert [c[1:] for c in traced.closed] == [c[1:] for c in bare.closed]
    assert (traced.value, traced.orders) == (bare.value, bare.orders)


def test_events_read_from_backtraders_objects(bt: Any) -> None:
    spans, record = _run(bt)
    fill = _attributes(spans.named("FILL")[0])
    assert fill[conv.EVENT_TYPE] == "FILL"
    assert fill[conv.CONTAINER_ID] == "SmaCross"  # the strategy, by its class
    assert fill[conv.SYMBOL] == "RW"  # the feed's name
    assert fill[conv.SIDE] == "BUY" and fill[conv.ORDER_ID] == "1"  # the order's ref, as text
    assert isinstance(fill[conv.PRICE], float) and fill[conv.QUANTITY] == 50
    assert fill[conv.STATUS] == "Completed"
    # the status at the notification, though the live order changed afterwards
    assert _attributes(spans.named("ORDER_SUBMITTED")[0])[conv.STATUS] == "Submitted"
    # float dates shown as the feed's datetimes: the first bar is 2015-01-02
    first_bar = min(spans.named("BAR"), key=lambda s: s.start_time)
    assert _attributes(first_bar)[conv.SIM_TIME] == "2015-01-02T00:00:00"
    first_close = min(spans.named("POSITION_CLOSE"), key=lambda s: s.start_time)
    close = _attributes(first_close)
    assert round(close["trading.position.realized_pnl"], 6) == record.closed[0][2]  # pnlcomm
    assert close[conv.ORDER_ID] == "2"  # the closing order (order 1 opened it)


def test_an_orders_life_is_one_chain(bt: Any) -> None:
    spans, _ = _run(bt)
    by_id = spans.by_span_id()
    for fill in spans.named("FILL"):
        accepted = spans.parent_of(fill)
        assert accepted is not None and accepted.name == "ORDER_ACCEPTED"
        submitted = spans.parent_of(accepted)
        assert submitted is not None and submitted.name == "ORDER_SUBMITTED"
        assert {_attributes(s)[conv.ORDER_ID] for s in (fill, accepted, submitted)} == {
            _attributes(fill)[conv.ORDER_ID]}
        bar = spans.parent_of(submitted)  # submitted while the strategy handled its bar
        assert bar is not None and bar.name == "BAR"
        assert fill.context.trace_id == bar.context.trace_id
    for opened in spans.named("POSITION_OPEN"):
        fill = spans.parent_of(opened)
        assert fill is not None and fill.name == "FILL"
    for closed in spans.named("POSITION_CLOSE"):
        fill = spans.parent_of(closed)
        assert fill is not None and fill.name == "FILL"
        assert _attributes(fill)[conv.ORDER_ID] == _attributes(closed)[conv.ORDER_ID]
        links = {(dict(link.attributes or {})[conv.LINK_RELATION],
                  by_id[link.context.span_id].name) for link in closed.links}
        assert ("trade", "POSITION_OPEN") in links  # the trade's close to its opening


def test_trades_are_backtraders_closed_trades(bt: Any) -> None:
    spans, record = _run(bt)
    trades = [_attributes(s) for s in spans.spans() if s.name == "trade"]
    closed = [t for t in trades if t[conv.TRADE_OUTCOME] in ("win", "loss", "flat")]
    assert len(closed) == len(record.closed)
    # the P&L is pnlcomm: net of both legs' commissions
    assert sorted(round(t[conv.TRADE_PNL], 6) for t in closed) == sorted(
        c[2] for c in record.closed)
    assert all(t[conv.TRADE_SIDE] == "LONG" for t in closed)
    open_at_end = record.opened - len(record.closed)
    assert sum(t[conv.TRADE_OUTCOME] == "incomplete" for t in trades) == open_at_end


def test_minimal_records_the_trade_events(bt: Any) -> None:
    spans, record = _run(bt, "minimal")
    stats = spans.session.stats()
    framework = _framework(record)
    traded = ("ORDER_SUBMITTED", "FILL", "POSITION_OPEN", "POSITION_CLOSE")
    assert stats["accounting"]["recorded"] == sum(framework.get(t, 0) for t in traded)
    completed = stats["retention"]["trades_completed"]
    assert sum(completed.get(o, 0) for o in ("win", "loss", "flat")) == len(record.closed)


def test_margin_rejections_end_their_trade_rejected(bt: Any) -> None:
    spans, record = _run(bt, size=5000)  # more than the cash can pay for
    assert record.orders["Margin"] == record.orders["Submitted"] > 0
    assert len(spans.named("ORDER_MARGIN")) == record.orders["Margin"]
    outcomes = Counter(_attributes(s)[conv.TRADE_OUTCOME] for s in spans.spans()
                       if s.name == "trade")
    # the order submitted on the last bar is never answered: its trade ends incomplete
    assert record.undelivered == {"Submitted": 1}
    assert outcomes == {"rejected": record.orders["Margin"], "incomplete": 1}


def test_the_strategys_exception_passes_through_unchanged(bt: Any) -> None:
    with recording("normal", profile="backtrader") as spans:
        with pytest.raises(RuntimeError, match="the strategy's own bug"):
            bt.run_backtest(fail_at=40)
        tradetrace.flush()
        failed = [s for s in spans.named("BAR") if not s.status.is_ok]
        assert len(failed) == 1


class _Session:
    def __init__(self, recorder: Any) -> None:
        self.active, self.recorder = True, recorder


class _BrokenRecorder:
    def begin(self, event: Any) -> Any:
        raise RuntimeError("tracing's own failure")

    record = begin


def test_hooks_never_raise_into_the_strategy() -> None:
    class Strategy:
        _tradespending: list[Any] = []

        def _addnotification(self, order: Any) -> str:
            self._tradespending = [object()]
            return "handled"

    strategy = Strategy()
    session = _Session(_BrokenRecorder())
    assert bar_hook(session)(lambda: "next", strategy, (), {}) == "next"
    assert trade_hook(session)(strategy._addnotification, strategy, ("order",), {}) == "handled"
    # a strategy without backtrader's private list is called through untouched
    assert trade_hook(session)(lambda order: "plain", object(), ("order",), {}) == "plain"


def test_in_the_encoder_process_too(bt: Any, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter travels to the encoder process by name: the same chains and trades."""
    from tradetrace.analyse.reader import read_spans

    monkeypatch.setenv("TRADETRACE_ENCODER", "process")
    session = tradetrace.configure("normal", profile="backtrader", output=str(tmp_path),
                                   run_id="encoded")
    record = bt.run_backtest()
    assert session.stats()["encoder"] == "process"
    tradetrace.shutdown()
    spans = list(read_spans(tmp_path))
    by_id = {s.span_id: s for s in spans}
    fills = [s for s in spans if s.name == "FILL"]
    assert len(fills) == record.orders["Completed"]
    assert all(by_id[f.parent_id].name == "ORDER_ACCEPTED" for f in fills)
    trades = [s for s in spans if s.name == "trade"
              and s.attributes[conv.TRADE_OUTCOME] in ("win", "loss", "flat")]
    assert sorted(round(t.attributes[conv.TRADE_PNL], 6) for t in trades) == sorted(
        c[2] for c in record.closed)
