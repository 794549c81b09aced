"""The ``nautilus`` profile on tests/fake_nautilus, a stand-in with NautilusTrader's shape:
a bus that cannot be patched (listened to), ``publish(topic, message)``, object events
with id objects and integer-nanosecond times, fills that arrive after their bar's
dispatch returned, one fill sent on two topics, and trades as the engine's positions."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.capture.publish import PublishStats
from tradetrace.testing import SpanRecorder, recording

FAKE = Path(__file__).resolve().parents[1] / "fake_nautilus"


@pytest.fixture
def nautilus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The fake's engine module, imported from tests/fake_nautilus (never a real one)."""
    monkeypatch.syspath_prepend(str(FAKE))
    for name in [n for n in sys.modules if n.split(".")[0] == "nautilus_trader"]:
        monkeypatch.delitem(sys.modules, name)
    from nautilus_trader.backtest import engine

    yield engine
    for name in [n for n in sys.modules if n.split(".")[0] == "nautilus_trader"]:
        del sys.modules[name]


def _attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _run(nautilus: Any, level: str = "normal", bars: int = 300) -> tuple[SpanRecorder, Any]:
    with recording(level, profile="nautilus") as spans:
        _, record = nautilus.run_backtest(bars=bars, seed=7)
        tradetrace.flush()
        return spans, record


def test_the_bus_is_listened_to_not_patched(nautilus: Any) -> None:
    from nautilus_trader.core import MessageBus

    publish = MessageBus.__dict__["publish"]
    undecidable = PublishStats.undecidable  # a count for the whole process
    spans, record = _run(nautilus)
    assert MessageBus.__dict__["publish"] is publish
    session_stats = spans.session.stats()
    assert session_stats["cannot_patch"] == []
    assert session_stats["undecidable_events"] == undecidable
    # the fake's count of what it published, each message once
    by_type = Counter(s.name for s in spans.spans() if s.name != "trade")
    assert dict(by_type) == record.published


def test_events_read_as_objects(nautilus: Any) -> None:
    spans, _ = _run(nautilus)
    fill = spans.named("OrderFilled")[0]
    attrs = _attributes(fill)
    assert attrs[conv.EVENT_TYPE] == "OrderFilled"
    assert attrs[conv.CONTAINER_ID] == "SmaCross-000"  # a StrategyId, as text
    assert attrs[conv.SYMBOL] == "AUD/USD.SIM"
    assert attrs[conv.SIDE] == "BUY" or attrs[conv.SIDE] == "SELL"  # an enum, by name
    assert isinstance(attrs[conv.PRICE], float) and isinstance(attrs[conv.QUANTITY], float)
    assert attrs[conv.ORDER_ID].startswith("O-")
    assert attrs[conv.EVENT_ID].startswith("00000000-")  # a UUID4 object, as text
    # integer nanoseconds since the epoch, shown as time
    bar = spans.named("Bar")[0]
    assert _attributes(bar)[conv.SIM_TIME] == "2023-11-14T22:13:20+00:00"


def test_an_orders_life_is_one_chain(nautilus: Any) -> None:
    spans, _ = _run(nautilus)
    by_id = spans.by_span_id()
    for fill in spans.named("OrderFilled"):
        submitted = spans.parent_of(fill)
        assert submitted is not None and submitted.name == "OrderSubmitted"
        initialized = spans.parent_of(submitted)
        assert initialized is not None and initialized.name == "OrderInitialized"
        order_id = _attributes(fill)[conv.ORDER_ID]
        assert {_attributes(s)[conv.ORDER_ID] for s in (submitted, initialized)} == {order_id}
        assert fill.context.trace_id == initialized.context.trace_id
    for opened in spans.named("PositionOpened"):
        fill = spans.parent_of(opened)
        assert fill is not None and fill.name == "OrderFilled"
    for closed in spans.named("PositionClosed"):
        parent = spans.parent_of(closed)
        assert parent is not None and parent.name == "OrderFilled"
        # linked to where the position opened (the opening order's latest event)
        links = {(dict(link.attributes or {})[conv.LINK_RELATION],
                  by_id[link.context.span_id].name) for link in closed.links}
        assert ("order", "PositionOpened") in links
    assert spans.session._worker.encoder.correlator.adopted > 0


def test_trades_are_the_engines_closed_positions(nautilus: Any) -> None:
    spans, record = _run(nautilus)
    trades = [s for s in spans.spans() if s.name == "trade"
              and _attributes(s)[conv.TRADE_OUTCOME] in ("win", "loss", "flat")]
    assert len(trades) == len(record.closed)
    incomplete = [s for s in spans.spans() if s.name == "trade"
                  and _attributes(s)[conv.TRADE_OUTCOME] == "incomplete"]
    assert len(incomplete) == 1  # the position still open when the data ended
    pnl = sorted(round(_attributes(t)[conv.TRADE_PNL], 2) for t in trades)
    assert pnl == sorted(c.realized_pnl for c in record.closed)
    by_pnl = {c.realized_pnl: c for c in record.closed}
    for trade in map(_attributes, trades):
        closed = by_pnl[round(trade[conv.TRADE_PNL], 2)]
        assert trade[conv.TRADE_SIDE] == closed.side  # from the entry, not the flat close
        assert trade[conv.TRADE_ENTRY_TIME].startswith("2023-11-1")  # ns shown as time
        assert trade[conv.TRADE_HOLDING] % 60 == 0 and 0 < trade[conv.TRADE_HOLDING] < 86400


def test_minimal_traces_the_order_lifecycle_in_the_frameworks_names(nautilus: Any) -> None:
    spans, record = _run(nautilus, "minimal")
    stats = spans.session.stats()
    published = record.published
    lifecycle = ("OrderInitialized", "OrderFilled", "PositionOpened", "PositionClosed")
    assert stats["accounting"]["recorded"] == sum(published[name] for name in lifecycle)
    # MINIMAL keeps the metrics of completed trades and drops their spans
    completed = stats["retention"]["trades_completed"]
    assert completed["win"] + completed["loss"] == len(record.closed)
    assert completed["incomplete"] == 1  # the position still open when the data ended
    # ... and the spans of the one still open are kept (incomplete: keep): its open
    accounting = stats["accounting"]
    assert accounting["exported"] == 1 and accounting["pending"] == 0
    assert accounting["dropped"] == {"retention_policy": accounting["recorded"] - 1}


def test_keep_if_keeps_the_losing_positions(nautilus: Any) -> None:
    with recording("minimal", profile="nautilus",
                   retention={"policy": "keep_if", "keep_if": {"outcome": ["loss"]}}) as spans:
        _, record = nautilus.run_backtest(bars=300, seed=7)
        tradetrace.flush()
        trades = [s for s in spans.spans() if s.name == "trade"]
        kept = [_attributes(t) for t in trades if _attributes(t)[conv.TRADE_OUTCOME] == "loss"]
        losses = [c for c in record.closed if c.realized_pnl < 0]
        assert len(kept) == len(losses) > 0
        assert sorted(round(t[conv.TRADE_PNL], 2) for t in kept) == sorted(
            c.realized_pnl for c in losses)
        # each kept trade's own events are exported with it
        closes = [s for s in spans.named("PositionClosed")]
        assert len(closes) == len(losses)


def test_the_same_message_on_two_topics_is_one_span(nautilus: Any) -> None:
    spans, record = _run(nautilus)
    assert len(spans.named("OrderFilled")) == record.published["OrderFilled"]
    assert spans.session.listeners.repeated == record.published["OrderFilled"]


def test_in_the_encoder_process_too(nautilus: Any, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter and its correlation travel to the encoder process (pickled by class
    and options): the same chains and trades come out of it."""
    from tradetrace.analyse.reader import read_spans

    monkeypatch.setenv("TRADETRACE_ENCODER", "process")
    session = tradetrace.configure("normal", profile="nautilus", output=str(tmp_path),
                                   run_id="encoded")
    _, record = nautilus.run_backtest(bars=300, seed=7)
    assert session.stats()["encoder"] == "process"
    tradetrace.shutdown()
    spans = list(read_spans(tmp_path))
    by_id = {s.span_id: s for s in spans}
    fills = [s for s in spans if s.name == "OrderFilled"]
    assert len(fills) == record.published["OrderFilled"]
    assert all(by_id[f.parent_id].name == "OrderSubmitted" for f in fills)
    trades = [s for s in spans if s.name == "trade"
              and s.attributes[conv.TRADE_OUTCOME] in ("win", "loss", "flat")]
    assert sorted(round(t.attributes[conv.TRADE_PNL], 2) for t in trades) == sorted(
        c.realized_pnl for c in record.closed)
