"""Trace a NautilusTrader backtest and check the traces against the framework's own record.

    python examples/nautilus_backtest.py [--bars 2000] [--python PYTHON]

PYTHON is an interpreter with ``nautilus_trader`` and ``tradetrace`` installed (default:
this one). Each run is a fresh process: bare (no tradetrace), then traced at none,
minimal, normal and debug with the built-in ``nautilus`` profile (listener mode on its
compiled message bus, object events, orders and positions tied by id). The backtest is
offline and deterministic: seeded synthetic one-minute AUD/USD bars, the framework's own
example EMA-cross strategy, a hedging account (each position has its own id).

Checked and printed for each traced level:

- results unchanged: the closed positions and their realised P&L equal the bare run's;
- spans per event type against what the framework itself recorded (each order's event
  list, its positions, the bars given): at normal and debug every one is a span; at
  minimal the order lifecycle is recorded (and the spans of completed trades dropped,
  MINIMAL's retention);
- order chains complete: every fill's span descends from its order's OrderInitialized;
- trades: closed trade spans equal the closed positions, in number and P&L;
- the cost: whole-process wall time, traced over bare.

Exits 1 if a check fails, 0 otherwise; 0 with a message when nautilus_trader is absent.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import framework_runs

LIFECYCLE = ("OrderInitialized", "OrderFilled", "PositionOpened", "PositionClosed")


def backtest(bars: int, seed: int = 7) -> dict[str, Any]:
    """Run the backtest in this process; what the framework recorded, as plain data."""
    import random
    from decimal import Decimal

    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import Bar, BarType
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import TraderId, Venue
    from nautilus_trader.model.objects import Money, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    engine = BacktestEngine(BacktestEngineConfig(
        trader_id=TraderId("BACKTESTER-001"),
        logging=LoggingConfig(log_level="ERROR", bypass_logging=True)))
    venue = Venue("SIM")
    engine.add_venue(venue, oms_type=OmsType.HEDGING, account_type=AccountType.MARGIN,
                     base_currency=USD, starting_balances=[Money(1_000_000, USD)])
    instrument = TestInstrumentProvider.default_fx_ccy("AUD/USD", venue)
    engine.add_instrument(instrument)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-MID-EXTERNAL")
    rng, price, data = random.Random(seed), 0.70, []
    for i in range(bars):
        open_ = price
        price = max(0.5, price + rng.gauss(0, 0.0008))
        high = max(open_, price) + abs(rng.gauss(0, 0.0003))
        low = min(open_, price) - abs(rng.gauss(0, 0.0003))
        ts = 1_700_000_000_000_000_000 + i * 60_000_000_000
        data.append(Bar(bar_type, instrument.make_price(open_), instrument.make_price(high),
                        instrument.make_price(low), instrument.make_price(price),
                        Quantity.from_int(1_000_000), ts, ts))
    engine.add_data(data)
    engine.add_strategy(EMACross(EMACrossConfig(
        instrument_id=instrument.id, bar_type=bar_type, trade_size=Decimal(100_000),
        request_bars=False, subscribe_trade_ticks=False)))
    engine.run()
    events: Counter[str] = Counter({"Bar": bars})
    for order in engine.cache.orders():
        events.update(type(event).__name__ for event in order.events)
    positions = engine.cache.positions()
    closed = engine.cache.positions_closed()
    events["PositionOpened"] = len(positions)
    events["PositionClosed"] = len(closed)
    result = {
        "events": dict(events),
        "closed": sorted([str(p.id), round(float(p.realized_pnl), 2)] for p in closed),
    }
    engine.dispose()
    return result


def child(level: str, bars: int, out: str) -> None:
    """One run, bare or traced; its result as one JSON line on stdout."""
    stats = None
    if level != "bare":
        import tradetrace

        tradetrace.configure(level, profile="nautilus", output=out, run_id=f"nautilus-{level}")
    result = backtest(bars)
    if level != "bare":
        session = tradetrace.get_session()
        tradetrace.shutdown()
        stats = session.stats() if session is not None else None
    result["stats"] = {"accounting": stats["accounting"]} if stats else None
    print(json.dumps(result))


def traced_spans(out: Path) -> list[Any]:
    from tradetrace.analyse.reader import read_spans

    return list(read_spans(out))


def check_level(level: str, bare: dict[str, Any], run: dict[str, Any], out: Path) -> list[str]:
    """The checks of one traced run: lines to print, failures marked FAIL."""
    lines = []

    def check(ok: bool, text: str) -> None:
        lines.append(("  ok   " if ok else "  FAIL ") + text)

    check(run["closed"] == bare["closed"],
          f"results unchanged: {len(run['closed'])} closed positions, P&L "
          f"{sum(p for _, p in run['closed']):.2f} (bare {sum(p for _, p in bare['closed']):.2f})")
    framework = run["events"]
    accounting = (run["stats"] or {}).get("accounting", {})
    if level == "none":
        check(not out.exists() or not any(out.iterdir()), "level none: no trace files")
        return lines
    spans = traced_spans(out)
    if level in ("normal", "debug"):
        framework_runs.spans_per_type(check, framework, spans)
        by_id = {s.span_id: s for s in spans}
        fills = [s for s in spans if s.name == "OrderFilled"]
        complete = 0
        for fill in fills:
            node, order_id = fill, fill.attributes.get("trading.order.id")
            while node is not None and node.name != "OrderInitialized":
                node = by_id.get(node.parent_id)
            complete += node is not None and node.attributes.get("trading.order.id") == order_id
        check(complete == len(fills) > 0,
              f"order chains complete: {complete} of {len(fills)} fills under their order")
    else:
        expected = sum(framework.get(name, 0) for name in LIFECYCLE)
        check(accounting.get("recorded") == expected,
              f"minimal records the order lifecycle: {accounting.get('recorded')} events "
              f"(framework: {expected}); spans kept {accounting.get('exported')}")
    if level != "minimal":
        closed, pnl = framework_runs.closed_trades(spans)
        expected_pnl = round(sum(p for _, p in bare["closed"]), 2)
        check(closed == len(bare["closed"]) and abs(pnl - expected_pnl) < 0.011,
              f"trades: {closed} closed, P&L {pnl:.2f} (framework: "
              f"{len(bare['closed'])} closed positions, {expected_pnl:.2f})")
    framework_runs.accounting_identity(check, accounting)
    return lines


def main() -> int:
    return framework_runs.main(__file__, __doc__.split("\n\n")[0], "nautilus_trader, tradetrace",
                               "NautilusTrader backtest", child, check_level)


if __name__ == "__main__":
    sys.exit(main())
