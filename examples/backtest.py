"""Run the demo backtest, untraced, and print a short summary.

Examples: ``python examples/backtest.py --bars 20000 --seed 1``,
``python examples/backtest.py --csv spy_5m.csv --symbols SPY --quiet``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

# Make `demo_engine` (next to this file) importable from any working directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_engine import run_backtest

DEFAULT_BARS = 2000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bars",
        type=int,
        default=None,
        help=f"bars per symbol (default {DEFAULT_BARS}; with --csv, default: the whole file)",
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the synthetic data")
    parser.add_argument("--csv", type=Path, help="bars of the single symbol, from this CSV file")
    parser.add_argument(
        "--symbols",
        default="SPY",
        help="comma-separated symbols (default SPY)",
    )
    parser.add_argument("--quiet", action="store_true", help="print a one-line summary")
    args = parser.parse_args(argv)
    args.symbols = [symbol.strip() for symbol in args.symbols.split(",") if symbol.strip()]
    if not args.symbols:
        parser.error("--symbols needs at least one symbol")
    if args.csv is not None and len(args.symbols) != 1:
        parser.error("--csv holds one symbol: give exactly one with --symbols")
    if args.bars is None and args.csv is None:
        args.bars = DEFAULT_BARS
    return args


def summary(results: dict[str, Any]) -> str:
    by_type = results["events_by_type"]
    lines = [
        f"{results['bars']:,} bars of {', '.join(results['symbols'])}: "
        f"{results['events']:,} events in {results['elapsed_seconds']:.2f} s",
        *(f"  {event_type:<15}{count:>9,}" for event_type, count in by_type.items()),
        "round trips and realised P&L (net of commission):",
    ]
    for strategy_id, trades in results["trades"].items():
        wins = results["winning_trades"][strategy_id]
        pnl = results["realized_pnl"][strategy_id]
        lines.append(f"  {strategy_id:<15}{trades:>5} trades ({wins} won) {pnl:>+12,.2f}")
    lines.append(
        f"orders rejected by execution: {results['rejected_orders']}, "
        f"vetoed by risk: {results['vetoed_orders']}, "
        f"handler errors: {results['handler_errors']}"
    )
    return "\n".join(lines)


def one_line(results: dict[str, Any]) -> str:
    trades = sum(results["trades"].values())
    pnl = sum(results["realized_pnl"].values())
    return (
        f"{results['bars']:,} bars, {results['events']:,} events, {trades} trades, "
        f"P&L {pnl:+,.2f}, {results['rejected_orders']} rejected, "
        f"{results['elapsed_seconds']:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        results = run_backtest(bars=args.bars, seed=args.seed, symbols=args.symbols, csv=args.csv)
    except (OSError, ValueError) as exc:  # bad CSV, bad arguments
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    print(one_line(results) if args.quiet else summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
