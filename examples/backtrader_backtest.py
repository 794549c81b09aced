"""Trace a backtrader backtest and check the traces against the framework's own record.

    python examples/backtrader_backtest.py [--bars 2000] [--python PYTHON]

PYTHON is an interpreter with ``backtrader``, ``pandas`` and ``tradetrace`` installed
(default: this one). Each run is a fresh process: bare (no tradetrace), then traced at
none, minimal, normal and debug with the built-in ``backtrader`` profile (the broker's
order notifications patched, the strategy's bars and trade notifications hooked). The
backtest is offline and deterministic: a seeded random walk of daily OHLC bars in a
``bt.feeds.PandasData``, an SMA(10/30) crossover that goes long on a cross up and closes
on a cross down, market orders, 0.1% commission.

What the framework produced is counted by the strategy's own callbacks (``notify_order``
by status, ``notify_trade`` opened and closed, its bars; plus the broker's notifications
still queued when the data ended) and backtrader's ``TradeAnalyzer``. Checked and
printed for each traced level:

- results unchanged: the final portfolio value and the closed trades (ref, open and
  close bar, P&L) equal the bare run's;
- spans per event type equal the framework's counts (normal, debug); at minimal the
  types the trade rules give a role are recorded (the spans of completed trades dropped,
  MINIMAL's retention);
- order chains complete: every FILL's span descends from its order's ORDER_SUBMITTED,
  and every POSITION_CLOSE is the child of its closing FILL, linked to its POSITION_OPEN;
- trades: closed trade spans equal backtrader's closed trades in number and P&L (the sum
  of ``pnlcomm``: net of commissions, TradeAnalyzer's ``pnl.net.total``);
- the cost: whole-process wall time, traced over bare.

Exits 1 if a check fails, 0 otherwise; 0 with a message when backtrader is absent.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import framework_runs

#: bt.Order.Status name -> the event type of the backtrader profile
STATUS_TYPES = {"Submitted": "ORDER_SUBMITTED", "Accepted": "ORDER_ACCEPTED",
                "Partial": "PARTIAL_FILL", "Completed": "FILL", "Canceled": "ORDER_CANCELED",
                "Expired": "ORDER_EXPIRED", "Margin": "ORDER_MARGIN",
                "Rejected": "ORDER_REJECTED"}
#: what MINIMAL records: the types the profile's trade rules give a role
TRADE_TYPES = ("ORDER_SUBMITTED", "FILL", "PARTIAL_FILL", "ORDER_REJECTED", "ORDER_MARGIN",
               "POSITION_OPEN", "POSITION_CLOSE")


def backtest(bars: int, seed: int = 7) -> dict[str, Any]:
    """Run the backtest in this process; what the framework recorded, as plain data."""
    import backtrader as bt
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, bars)))
    open_ = np.concatenate(([100.0], close[:-1])) * (1 + rng.normal(0, 0.002, bars))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, bars)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, bars)))
    frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                          "volume": rng.integers(1_000, 10_000, bars).astype(float)},
                         index=pd.date_range("2015-01-02", periods=bars, freq="B"))

    class SmaCross(bt.Strategy):
        params = (("fast", 10), ("slow", 30), ("size", 50))

        def __init__(self) -> None:
            self.crossover = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast),
                                              bt.ind.SMA(period=self.p.slow))
            self.orders: Counter[str] = Counter()
            self.opened = 0
            self.closed: list[list[Any]] = []

        def next(self) -> None:
            if not self.position and self.crossover > 0:
                self.buy(size=self.p.size)
            elif self.position and self.crossover < 0:
                self.close()

        def notify_order(self, order: Any) -> None:
            self.orders[order.getstatusname()] += 1

        def notify_trade(self, trade: Any) -> None:
            if trade.justopened:
                self.opened += 1
            if trade.isclosed:
                self.closed.append([trade.ref, trade.baropen, trade.barclose,
                                    round(trade.pnl, 6), round(trade.pnlcomm, 6)])

    cerebro = bt.Cerebro()
    cerebro.adddata(bt.feeds.PandasData(dataname=frame), name="RW")
    cerebro.addstrategy(SmaCross)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.broker.setcash(100_000.0)
    cerebro.broker.setcommission(commission=0.001)
    strategy = cerebro.run()[0]
    analysis = strategy.analyzers.trades.get_analysis()
    events: Counter[str] = Counter({"BAR": len(strategy)})
    events.update({STATUS_TYPES[name]: n for name, n in strategy.orders.items()})
    # notifications the broker made that no bar was left to deliver (an order on the last bar)
    events.update(STATUS_TYPES[order.getstatusname()] for order in cerebro.broker.notifs)
    events["POSITION_OPEN"] = strategy.opened
    events["POSITION_CLOSE"] = len(strategy.closed)
    return {
        "events": dict(events),
        "closed": strategy.closed,
        "value": round(cerebro.broker.getvalue(), 6),
        "analyzer": {"closed": analysis.total.closed,
                     "net": round(analysis.pnl.net.total, 6)} if analysis.total.total else {},
    }


def child(level: str, bars: int, out: str) -> None:
    """One run, bare or traced; its result as one JSON line on stdout."""
    stats = None
    if level != "bare":
        import tradetrace

        tradetrace.configure(level, profile="backtrader", output=out,
                             run_id=f"backtrader-{level}")
    result = backtest(bars)
    if level != "bare":
        session = tradetrace.get_session()
        tradetrace.shutdown()
        stats = session.stats() if session is not None else None
    result["stats"] = {"accounting": stats["accounting"]} if stats else None
    print(json.dumps(result))


def chains(spans: list[Any]) -> tuple[int, int, int, int]:
    """(fills under their ORDER_SUBMITTED, fills, closes under their FILL and linked to
    their POSITION_OPEN, closes)."""
    by_id = {s.span_id: s for s in spans}
    fills = [s for s in spans if s.name == "FILL"]
    complete = 0
    for fill in fills:
        node, order_id = fill, fill.attributes.get("trading.order.id")
        while node is not None and node.name != "ORDER_SUBMITTED":
            node = by_id.get(node.parent_id)
        complete += node is not None and node.attributes.get("trading.order.id") == order_id
    closes = [s for s in spans if s.name == "POSITION_CLOSE"]
    tied = 0
    for close in closes:
        parent = by_id.get(close.parent_id)
        order_id = close.attributes.get("trading.order.id")
        linked = {by_id[link["span_id"]].name for link in close.links if link["span_id"] in by_id}
        tied += (parent is not None and parent.name == "FILL"
                 and parent.attributes.get("trading.order.id") == order_id
                 and "POSITION_OPEN" in linked)
    return complete, len(fills), tied, len(closes)


def check_level(level: str, bare: dict[str, Any], run: dict[str, Any], out: Path) -> list[str]:
    """The checks of one traced run: lines to print, failures marked FAIL."""
    from tradetrace.analyse.reader import read_spans

    lines = []

    def check(ok: bool, text: str) -> None:
        lines.append(("  ok   " if ok else "  FAIL ") + text)

    net = sum(c[4] for c in run["closed"])
    check(run["closed"] == bare["closed"] and run["value"] == bare["value"],
          f"results unchanged: final value {run['value']:.2f} (bare {bare['value']:.2f}), "
          f"{len(run['closed'])} closed trades, net P&L {net:.2f} "
          f"(bare {sum(c[4] for c in bare['closed']):.2f})")
    framework = run["events"]
    accounting = (run["stats"] or {}).get("accounting", {})
    if level == "none":
        check(not out.exists() or not any(out.iterdir()), "level none: no trace files")
        return lines
    spans = list(read_spans(out))
    if level in ("normal", "debug"):
        framework_runs.spans_per_type(check, framework, spans)
        complete, fills, tied, closes = chains(spans)
        check(complete == fills > 0 and tied == closes > 0,
              f"order chains complete: {complete} of {fills} fills under their order; "
              f"{tied} of {closes} closes under their fill, linked to their open")
    else:
        expected = sum(framework.get(name, 0) for name in TRADE_TYPES)
        check(accounting.get("recorded") == expected,
              f"minimal records the trade events: {accounting.get('recorded')} events "
              f"(framework: {expected}); spans kept {accounting.get('exported')}")
    if level != "minimal":
        closed, pnl = framework_runs.closed_trades(spans)
        expected_pnl = round(sum(c[4] for c in bare["closed"]), 2)
        analyzer = bare["analyzer"]
        check(closed == len(bare["closed"]) == analyzer.get("closed")
              and abs(pnl - expected_pnl) < 0.011
              and abs(analyzer.get("net", 0.0) - expected_pnl) < 0.011,
              f"trades: {closed} closed, P&L {pnl:.2f} (framework: "
              f"{len(bare['closed'])} closed trades, sum of pnlcomm {expected_pnl:.2f}; "
              f"TradeAnalyzer {analyzer.get('closed')} closed, net {analyzer.get('net', 0):.2f})")
    framework_runs.accounting_identity(check, accounting)
    return lines


def main() -> int:
    return framework_runs.main(__file__, __doc__.split("\n\n")[0], "backtrader, pandas, tradetrace",
                               "backtrader backtest", child, check_level)


if __name__ == "__main__":
    sys.exit(main())
