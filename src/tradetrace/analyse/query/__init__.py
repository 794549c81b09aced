"""``tradetrace.query``: post-hoc analysis of trace files with DuckDB.

>>> from tradetrace.query import TraceQuery            # doctest: +SKIP
>>> q = TraceQuery("traces/")                          # doctest: +SKIP
>>> q.find_bottlenecks(percentile=99).to_pandas()      # doctest: +SKIP
"""

from ..reader import ReadStats
from .engine import TraceQuery
from .results import (
    Bottlenecks,
    ChainNode,
    CompareRow,
    Comparison,
    EventChain,
    PatternReport,
    RunTrades,
    Stage,
    TickToTrade,
    Trade,
    TradeEvent,
    TradeResult,
    Trades,
)

#: ``TraceQuery.stats``: the one reader's stats, under the name the query API gave them.
QueryStats = ReadStats

__all__ = [
    "Bottlenecks", "ChainNode", "CompareRow", "Comparison", "EventChain", "PatternReport",
    "QueryStats", "RunTrades", "Stage", "TickToTrade", "Trade", "TradeEvent", "TradeResult",
    "Trades", "TraceQuery",
]
