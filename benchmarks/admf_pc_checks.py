"""What `admf_pc.py` checks, as pure functions over text and records (tested on made-up
input in tests/system/test_admf_pc_script.py, so they hold without an ADMF-PC checkout).

ADMF-PC's own results come from two places it writes itself, independent of tradetrace:

- its log (INFO, on stderr): after every fill the portfolio logs the position it left,
  ``Position updated: PortfolioPosition(symbol=..., quantity=Decimal('0'), ...,
  realized_pnl=Decimal('...'), opened_at=datetime.datetime(...), last_updated=...,
  metadata={... 'strategy_id': ..., 'exit_type': ...})`` for a close, with the exact
  P&L and the position's open and close times; ``Published POSITION_CLOSE event for ...
  pnl=$x.xx`` once per close (flips included); and its cash and value after each fill;
- its run metadata (``<results dir>/metadata.json``: bars, signals, orders, fills,
  positions, trades) and its trade store (``traces/store/T<hash>.parquet``: one row per
  closed trade with times and exit reason; its ``pnl`` column is always 0 at 70d9eca3,
  because it reads ``pnl`` where the close carries ``realized_pnl``).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

COUNTERS = ("total_bars", "total_signals", "total_orders", "total_fills", "total_positions",
            "total_trades")

_CLOSED = re.compile(
    r"Position updated: PortfolioPosition\(symbol='(?P<symbol>[^']*)', quantity=Decimal\('0'\),"
    r".*?, realized_pnl=Decimal\('(?P<pnl>[^']*)'\),"
    r" opened_at=datetime\.datetime\((?P<opened>[\d, ]+)(?P<opened_tz>[^)]*)\),"
    r" last_updated=datetime\.datetime\((?P<updated>[\d, ]+)(?P<updated_tz>[^)]*)\)"
)
_STRATEGY = re.compile(r"'strategy_id': '([^']*)'")
_EXIT_TYPE = re.compile(r"'exit_type': '([^']*)'")
_CLOSE_EVENT = re.compile(r"Published POSITION_CLOSE event for (?P<flip>flipped position )?"
                          r"(?P<symbol>\S+) .*pnl=\$(?P<pnl>-?[\d.]+)")
_CASH = re.compile(r"Cash balance: \$(-?[\d.]+)")
_VALUE = re.compile(r"Total portfolio value: \$(-?[\d.]+)")
_TRADES_FILE = re.compile(r"Saved (\d+) trades to (\S+\.parquet)")
_RESULTS_DIR = re.compile(r"Results directory: (\S+)")
_EXIT_LINE = re.compile(  # "dropped 148 (retention_policy 148)": reasons may follow a figure
    r"recorded (\d+) = exported (\d+)[^+]*\+ dropped (\d+)[^+]*\+ pending (\d+)")


# -- ADMF-PC's own results --------------------------------------------------------------------


@dataclass(frozen=True)
class ClosedPosition:
    """A position ADMF-PC closed, as its portfolio logged it."""

    symbol: str
    strategy_id: str | None
    entry_time: str | None  #: ISO 8601, UTC; None for a flip (its log line has no times)
    exit_time: str | None
    realized_pnl: Decimal
    exit_type: str | None = None


@dataclass
class AdmfResults:
    """One run's results, from ADMF-PC's own outputs."""

    closed: list[ClosedPosition] = field(default_factory=list)
    close_events: int = 0  #: POSITION_CLOSEs it logged publishing (flips included)
    flips: list[Decimal] = field(default_factory=list)  #: P&L of flip closes, to the cent
    final_cash: str | None = None
    final_value: str | None = None
    trades_file: str | None = None
    results_dir: str | None = None
    counters: dict[str, Any] = field(default_factory=dict)  #: from its metadata.json
    store_trades: list[tuple[Any, ...]] = field(default_factory=list)  #: its trade store
    exit_code: int | None = None

    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.closed), Decimal(0)) + sum(self.flips, Decimal(0))

    def fingerprint(self) -> dict[str, Any]:
        """Everything that must not change when the run is traced."""
        return {
            "exit_code": self.exit_code,
            "closed": [(p.symbol, p.strategy_id, p.entry_time, p.exit_time, str(p.realized_pnl),
                        p.exit_type) for p in self.closed],
            "close_events": self.close_events,
            "flips": [str(f) for f in self.flips],
            "final_cash": self.final_cash,
            "final_value": self.final_value,
            "counters": {k: self.counters.get(k) for k in COUNTERS},
            "store_trades": [tuple(row) for row in self.store_trades],
        }


def parse_admf_log(lines: Iterable[str]) -> AdmfResults:
    """ADMF-PC's closed positions, cash, value and output paths, from its log lines."""
    results = AdmfResults()
    for line in lines:
        if "Position updated: PortfolioPosition(" in line:
            closed = _closed_position(line)
            if closed is not None:
                results.closed.append(closed)
        elif "Published POSITION_CLOSE event for" in line:
            match = _CLOSE_EVENT.search(line)
            if match:
                results.close_events += 1
                if match["flip"]:
                    results.flips.append(Decimal(match["pnl"]))
        elif "Cash balance: $" in line:
            results.final_cash = _group(_CASH, line) or results.final_cash
        elif "Total portfolio value: $" in line:
            results.final_value = _group(_VALUE, line) or results.final_value
        elif "trades to " in line and (match := _TRADES_FILE.search(line)):
            results.trades_file = match[2]
        elif "Results directory: " in line and (match := _RESULTS_DIR.search(line)):
            results.results_dir = match[1]
    return results


def _closed_position(line: str) -> ClosedPosition | None:
    match = _CLOSED.search(line)
    if match is None:
        return None
    rest = line[match.end():]
    return ClosedPosition(
        symbol=match["symbol"],
        strategy_id=_group(_STRATEGY, rest),
        entry_time=_datetime_args(match["opened"], match["opened_tz"]),
        exit_time=_datetime_args(match["updated"], match["updated_tz"]),
        realized_pnl=Decimal(match["pnl"]),
        exit_type=_group(_EXIT_TYPE, rest),
    )


def _group(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match[1] if match else None


def _datetime_args(args: str, tz: str) -> str:
    """``datetime.datetime(2024, 3, 26, 15, 45, tzinfo=...)``'s arguments as ISO 8601 UTC
    (a naive time is taken as UTC, as ADMF-PC's bar times are)."""
    parts = [int(p) for p in args.replace(" ", "").split(",") if p]
    when = datetime(*parts)  # type: ignore[arg-type]
    if "timezone.utc" not in tz and tz.strip(", "):
        return when.isoformat()  # an offset we do not parse: compared as written
    return when.replace(tzinfo=timezone.utc).isoformat()


def utc_iso(text: str | None) -> str | None:
    """An ISO 8601 time as ISO 8601 UTC, so that times written two ways compare equal."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat()


def first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """Where two fingerprints first differ, said in a line; None when equal."""
    for key in a.keys() | b.keys():
        left, right = a.get(key), b.get(key)
        if left == right:
            continue
        if isinstance(left, list) and isinstance(right, list):
            if len(left) != len(right):
                return f"{key}: {len(left)} against {len(right)}"
            n = next(i for i, (x, y) in enumerate(zip(left, right)) if x != y)
            return f"{key}[{n}]: {left[n]!r} against {right[n]!r}"
        return f"{key}: {left!r} against {right!r}"
    return None


# -- tradetrace's exit line -------------------------------------------------------------------


@dataclass(frozen=True)
class ExitLine:
    recorded: int
    exported: int
    dropped: int
    pending: int
    text: str  #: the line from "tradetrace:" on

    @property
    def balanced(self) -> bool:
        return self.recorded == self.exported + self.dropped + self.pending


def parse_exit_line(text: str) -> ExitLine | None:
    """The last accounting line (``recorded N = exported N + dropped N + pending N``)."""
    found = None
    for line in text.splitlines():
        match = _EXIT_LINE.search(line)
        if match:
            start = line.find("tradetrace:")
            recorded, exported, dropped, pending = (int(g) for g in match.groups())
            found = ExitLine(recorded, exported, dropped, pending,
                             line[start if start >= 0 else match.start():].strip())
    return found


# -- trades from the traces -------------------------------------------------------------------


@dataclass(frozen=True)
class TradeView:
    """What the checks need of one ``tradetrace.query`` trade."""

    trade_id: str
    outcome: str | None
    strategy_id: str | None
    entry_time: str | None
    exit_time: str | None
    realized_pnl: float | None
    orders: int
    fills: int
    event_types: frozenset[str]

    @classmethod
    def of(cls, trade: Any) -> TradeView:
        """From a ``tradetrace.query`` ``Trade`` (counts from its events when its span
        was not kept)."""
        types = Counter(e.event_type for e in trade.events)
        return cls(trade.trade_id, trade.outcome, trade.strategy_id, utc_iso(trade.entry_time),
                   utc_iso(trade.exit_time), trade.realized_pnl,
                   trade.orders if trade.orders is not None else types["ORDER"],
                   trade.fills if trade.fills is not None else types["FILL"],
                   frozenset(types))


def is_complete(trade: TradeView) -> bool:
    """A closed round trip: an outcome, its open and its close, an order and a fill."""
    return (trade.outcome in ("win", "loss", "flat")
            and {"POSITION_OPEN", "POSITION_CLOSE"} <= trade.event_types
            and trade.orders >= 1 and trade.fills >= 1)


@dataclass
class Match:
    matched: list[tuple[ClosedPosition, TradeView]] = field(default_factory=list)
    pnl_differs: list[tuple[ClosedPosition, TradeView]] = field(default_factory=list)
    no_trade: list[ClosedPosition] = field(default_factory=list)  #: closed, no trade at its times
    no_position: list[TradeView] = field(default_factory=list)  #: trades left over


def match_trades(positions: Sequence[ClosedPosition], trades: Sequence[TradeView],
                 tolerance: float = 1e-9) -> Match:
    """Each closed position to one trade with its entry and exit time, then its P&L
    (relative tolerance; several strategies may open and close at the same bar)."""
    by_times: dict[tuple[str | None, str | None], list[TradeView]] = defaultdict(list)
    for trade in trades:
        by_times[(utc_iso(trade.entry_time), utc_iso(trade.exit_time))].append(trade)
    result = Match()
    for position in positions:
        candidates = by_times.get((utc_iso(position.entry_time), utc_iso(position.exit_time)))
        if not candidates:
            result.no_trade.append(position)
            continue
        pnl = float(position.realized_pnl)
        same = [t for t in candidates if t.realized_pnl is not None
                and abs(t.realized_pnl - pnl) <= tolerance * max(1.0, abs(pnl))]
        chosen = same[0] if same else candidates[0]
        candidates.remove(chosen)
        (result.matched if same else result.pnl_differs).append((position, chosen))
    result.no_position = [t for group in by_times.values() for t in group]
    result.no_position.sort(key=lambda t: t.trade_id)
    return result


# -- cost -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostRow:
    config: str
    runs: int
    median_s: float
    ratio: float | None  #: median over bare's median
    budget: float | None
    verdict: str  #: PASS, MISS, or "" (bare, or no budget)


def round_order(configs: Sequence[str], round_index: int) -> list[str]:
    """The configs rotated by the round number, so that none always runs first."""
    shift = round_index % len(configs) if configs else 0
    return [*configs[shift:], *configs[:shift]]


def cost_table(times: Mapping[str, Sequence[float]], budgets: Mapping[str, float],
               baseline: str = "bare") -> list[CostRow]:
    """Median wall time per config and its ratio to the baseline's median."""
    base = statistics.median(times[baseline]) if times.get(baseline) else None
    rows = []
    for config, seconds in times.items():
        if not seconds:
            continue
        median = statistics.median(seconds)
        ratio = median / base if base else None
        budget = budgets.get(config)
        verdict = "" if budget is None or ratio is None else (
            "PASS" if ratio <= budget else "MISS")
        rows.append(CostRow(config, len(seconds), median, ratio, budget, verdict))
    return rows
