"""Result types of :class:`TraceQuery`: plain dataclasses with ``to_dict()``.

Table-like results (a list of rows) also convert with ``to_pandas()`` and ``to_arrow()``
when pandas or pyarrow is installed; both are imported only when called.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

#: Metrics runs can be ranked by (``runs.py``), and whether higher is better (first).
RANK_METRICS = {"realized_pnl": True, "win_rate": True, "trades": True, "events": True,
                "spans": True, "duration_s": False, "errors": False}


class _Result:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


class _Table(_Result):
    """A result whose ``rows`` are a table."""

    rows: list[Any]

    def records(self) -> list[dict[str, Any]]:
        return [asdict(row) if is_dataclass(row) and not isinstance(row, type) else dict(row)
                for row in self.rows]

    def to_pandas(self) -> Any:
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas() needs pandas: pip install pandas") from exc
        return pd.DataFrame.from_records(self.records(), columns=self._columns())

    def to_arrow(self) -> Any:
        try:
            import pyarrow as pa
        except ImportError as exc:
            raise ImportError("to_arrow() needs pyarrow: pip install pyarrow") from exc
        return pa.Table.from_pylist(self.records())

    def _columns(self) -> list[str] | None:
        if self.rows and is_dataclass(self.rows[0]):
            return [f.name for f in fields(self.rows[0])]
        return None

    def __len__(self) -> int:
        return len(self.rows)


# -- event chains -------------------------------------------------------------------------


@dataclass
class ChainNode:
    trace_id: str
    span_id: str
    name: str
    event_type: str | None
    event_id: str | None
    container_id: str | None
    handler_name: str | None
    start_ns: int
    duration_us: float
    relation: str | None  #: how it joins the chain: parent, link, causation (None: itself)
    via_span_id: str | None  #: the neighbour it joins through, one step nearer the event
    depth: int  #: steps from the event (ancestors and descendants both count up from 1)


@dataclass
class EventChain(_Table):
    """``rows``: ancestors root first, the event itself, then descendants in time order."""

    event_id: str
    event: ChainNode | None
    ancestors: list[ChainNode] = field(default_factory=list)
    descendants: list[ChainNode] = field(default_factory=list)
    rows: list[ChainNode] = field(default_factory=list)
    message: str = ""


# -- trades -------------------------------------------------------------------------------


@dataclass
class TradeEvent:
    event_type: str
    event_id: str | None
    trace_id: str
    span_id: str
    container_id: str | None
    start_ns: int
    duration_us: float
    order_id: str | None
    side: str | None
    quantity: float | None
    price: float | None
    status: str | None


@dataclass
class Trade:
    trade_id: str
    has_trade_span: bool  #: False: only event spans name it (no kept `trade` span)
    outcome: str | None
    symbol: str | None
    strategy_id: str | None
    container_id: str | None
    side: str | None
    quantity: float | None
    entry_price: float | None
    exit_price: float | None
    realized_pnl: float | None
    entry_time: str | None  #: simulated time
    exit_time: str | None
    holding_period_s: float | None
    exit_type: str | None
    orders: int | None
    fills: int | None
    rejected_orders: int | None
    errors: int | None
    max_slippage_bps: float | None
    max_fill_latency_ms: float | None
    kept_by: str | None
    run_id: str | None
    start_ns: int | None
    end_ns: int | None
    events: list[TradeEvent] = field(default_factory=list)


@dataclass
class TradeResult(_Result):
    trade_id: str
    trade: Trade | None
    message: str = ""


@dataclass
class Trades(_Table):
    rows: list[Trade]
    filters: dict[str, Any]
    message: str = ""
    total: int = 0  #: trades matching, of which ``rows`` is the page asked for


# -- patterns -----------------------------------------------------------------------------


@dataclass
class PatternReport(_Table):
    """``count`` is every match; ``rows`` the first ``limit`` of them (dicts)."""

    pattern: str
    params: dict[str, Any]
    count: int
    rows: list[dict[str, Any]]
    message: str = ""


# -- timing -------------------------------------------------------------------------------


@dataclass
class Stage:
    container_id: str | None
    handler_name: str | None
    event_type: str | None
    count: int
    p50_us: float
    p_us: float  #: at the percentile asked
    max_us: float
    total_us: float
    self_p50_us: float
    self_p_us: float
    self_max_us: float
    self_total_us: float
    self_share: float  #: self time / total time of the stage


@dataclass
class Bottlenecks(_Table):
    metric: str
    percentile: float
    by: tuple[str, ...]
    rows: list[Stage]
    message: str = ""


@dataclass
class CompareRow:
    kind: str  #: "stage" or "event_type"
    container_id: str | None
    handler_name: str | None
    event_type: str | None
    count_a: int
    count_b: int
    count_change: int
    p50_us_a: float | None
    p50_us_b: float | None
    p50_change: float | None  #: b / a - 1
    p99_us_a: float | None
    p99_us_b: float | None
    p99_change: float | None


@dataclass
class RunTrades:
    trades: int
    closed: int  #: win, loss or flat
    wins: int
    realized_pnl: float


@dataclass
class Comparison(_Table):
    a: str
    b: str
    rows: list[CompareRow]
    trades_a: RunTrades
    trades_b: RunTrades
    message: str = ""
    #: The two runs' trades paired trade by trade (a ``runs.TradeDiff``); its message
    #: says why not when a side holds no run or several.
    trade_diff: Any = None

    def distinct_rows(self) -> list[CompareRow]:
        """Stage rows, and an event type's own row only where it pools several stages
        (with one stage per event type, at NORMAL say, it would repeat that stage's
        numbers), the largest change of p99 first."""
        stages = Counter(r.event_type for r in self.rows
                         if r.kind == "stage" and r.handler_name is None)
        rows = [r for r in self.rows if r.kind == "stage" or stages[r.event_type] > 1]
        return sorted(rows, key=lambda r: -abs(r.p99_change or 0))


@dataclass
class TickToTrade(_Table):
    """BAR publish start -> FILL end, per FILL caused (transitively) by a BAR.

    ``rows`` are the histogram's buckets.
    """

    count: int
    p50_us: float | None
    p90_us: float | None
    p99_us: float | None
    max_us: float | None
    rows: list[dict[str, Any]]
    message: str = ""
