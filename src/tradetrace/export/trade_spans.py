"""Trade spans: one span per completed trade, linked to the spans of its events.

A trade span starts its own trace (a trade cuts across the traces of many bars) and
carries the trade's story in ``trading.trade.*`` attributes: entry and exit, side,
quantity, realised P&L, holding period in simulated time, outcome, and the retention
rule that kept it. Its links point at its events' spans, so any backend can go from
the trade to the events and, by ``trading.trade.id``, back. An eviction summary stands
in for a trade's held spans that a memory cap removed.
"""

from __future__ import annotations

import random
from typing import Any

from .. import conventions as conv
from ..model.otlp_json import Attributes, EncodingStats, escape, link_json, span_json
from ..model.record import IDS
from ..retain.tail import EvictionSummary
from ..retain.tracked_trade import TrackedTrade
from ..retain.trades import as_number
from .attributes import SKIP, to_attribute
from .shapes import compile_trade_shape
from .times import epoch_text

#: A trade span's attributes after its id, in order (None values are left out), as
#: _values() reads them; the last ones are counts, written even when 0.
_NAMES = (
    conv.CONTAINER_ID, conv.STRATEGY_ID, conv.SYMBOL, conv.TRADE_OUTCOME, conv.TRADE_SIDE,
    conv.TRADE_QUANTITY, conv.TRADE_ENTRY_PRICE, conv.TRADE_EXIT_PRICE, conv.TRADE_PNL,
    conv.TRADE_ENTRY_TIME, conv.TRADE_EXIT_TIME, conv.TRADE_HOLDING, conv.TRADE_EXIT_TYPE,
    conv.TRADE_MAX_SLIPPAGE, conv.TRADE_MAX_FILL_LATENCY, conv.TRADE_KEPT_BY,
    conv.TRADE_ORDERS, conv.TRADE_FILLS, conv.TRADE_REJECTED, conv.TRADE_ERRORS,
    conv.TRADE_SPANS, conv.TRADE_SPANS_DROPPED, conv.TRADE_SPANS_EVICTED,
)
_COUNTS = 7


class TradeSpanEncoder:
    """OTLP JSON for trade spans and eviction summaries (export worker only)."""

    def __init__(self, attr: Attributes, rand: random.Random) -> None:
        self.attr = attr
        self.rand = rand
        self._member_link = attr(conv.LINK_RELATION, conv.RELATION_TRADE_EVENT)
        self._name_json = escape(conv.TRADE_SPAN_NAME)
        self._shapes: dict[tuple[type, ...], Any] = {}  #: value types -> shape, or False

    def encode(self, item: TrackedTrade | EvictionSummary) -> str:
        if isinstance(item, EvictionSummary):
            return self._eviction(item)
        return self._trade(item)

    def _ids(self) -> tuple[str, str]:
        return ((self.rand.getrandbits(128) or 1).to_bytes(16, "big").hex(),
                (self.rand.getrandbits(64) or 1).to_bytes(8, "big").hex())

    def _common(self, trade: TrackedTrade) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = [
            (conv.TRADE_ID, trade.id), (conv.CONTAINER_ID, trade.container)]
        if trade.strategy is not None:
            items.append((conv.STRATEGY_ID, trade.strategy))
        if trade.symbol is not None:
            items.append((conv.SYMBOL, trade.symbol))
        return items

    def _trade(self, trade: TrackedTrade) -> str:
        links = [
            link_json(ids[0], ids[1], self._member_link)
            for member in trade.members if (ids := member[IDS]) is not None
        ]
        trade.members = []  # records refer to their trade: break the cycle, free them now
        trace_id, span_id = self._ids()
        start = trade.start or trade.end
        values = _values(trade)
        key = tuple(map(type, values))
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = self._compile(values)
        if shape:  # the common case: compiled (shapes.py)
            text = shape(trace_id, span_id, start, max(trade.end, start), trade.id, values,
                         ',"links":[' + ",".join(links) + "]" if links else "")
            if text is not None:
                return text
        return span_json(trace_id, span_id, "", self._name_json, start,
                         max(trade.end, start), [self.attr.many(self._items(trade, values))], links)

    def _compile(self, values: tuple[Any, ...]) -> Any:
        """The trade's shape, or False where the general encoder writes what a shape would
        leave out (a None container or count, written as a string)."""
        if values[0] is None or None in values[-_COUNTS:]:
            return False
        if len(self._shapes) >= 256:
            self._shapes.clear()
            EncodingStats.cache_resets["trade_shapes"] += 1
        return compile_trade_shape(self.attr, self._name_json, _NAMES, values) or False

    def _items(self, trade: TrackedTrade, values: tuple[Any, ...]) -> list[tuple[str, Any]]:
        """The trade span's attributes, for the general encoder."""
        items = self._common(trade)
        items.append((conv.TRADE_OUTCOME, values[3]))
        for name, value in zip(_NAMES[4:-_COUNTS], values[4:-_COUNTS], strict=True):
            if value is not None:
                value = to_attribute(value)
                if value is not SKIP:
                    items.append((name, value))
        items += zip(_NAMES[-_COUNTS:], values[-_COUNTS:], strict=True)
        return items

    def _eviction(self, summary: EvictionSummary) -> str:
        items = self._common(summary.trade)
        items.append((conv.EVICTION_REASON, summary.reason))
        items += [(conv.EVICTION_COUNT_PREFIX + kind, count)
                  for kind, count in sorted(summary.counts.items())]
        trace_id, span_id = self._ids()
        return span_json(trace_id, span_id, "", escape(conv.EVICTION_SPAN_NAME), summary.start,
                         max(summary.end, summary.start), [self.attr.many(items)], [])


def _time(when: Any) -> Any:
    """An integer epoch timestamp as ISO text, as on event spans; anything else as it is."""
    return (epoch_text(when) or when) if when.__class__ is int else when


def _values(trade: TrackedTrade) -> tuple[Any, ...]:
    """The values of _NAMES (the outcome as written)."""
    return (
        trade.container, trade.strategy, trade.symbol, trade.outcome or "incomplete",
        trade.side, as_number(trade.quantity), as_number(trade.entry_price),
        as_number(trade.exit_price), trade.pnl,
        _time(trade.entry_time), _time(trade.exit_time), trade.holding_seconds, trade.exit_type,
        trade.max_slippage_bps, trade.max_fill_latency_ms, trade.kept_by,
        trade.orders, trade.fills, trade.rejected, trade.errors, trade.spans, trade.dropped,
        trade.evicted,
    )
