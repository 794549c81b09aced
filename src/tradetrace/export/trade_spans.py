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
from ..capture.record import IDS
from ..retain.tail import EvictionSummary
from ..retain.trades import Trade
from .attributes import SKIP, to_attribute
from .otlp_json import Attributes, escape, link_json, span_json


class TradeSpanEncoder:
    """OTLP JSON for trade spans and eviction summaries (export worker only)."""

    def __init__(self, attr: Attributes, rand: random.Random) -> None:
        self.attr = attr
        self.rand = rand
        self._member_link = attr(conv.LINK_RELATION, conv.RELATION_TRADE_EVENT)

    def encode(self, item: Trade | EvictionSummary) -> str:
        if isinstance(item, EvictionSummary):
            return self._eviction(item)
        return self._trade(item)

    def _ids(self) -> tuple[str, str]:
        return ("%032x" % (self.rand.getrandbits(128) or 1),
                "%016x" % (self.rand.getrandbits(64) or 1))

    def _common(self, trade: Trade) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = [
            (conv.TRADE_ID, trade.id), (conv.CONTAINER_ID, trade.container)]
        if trade.strategy is not None:
            items.append((conv.STRATEGY_ID, trade.strategy))
        if trade.symbol is not None:
            items.append((conv.SYMBOL, trade.symbol))
        return items

    def _trade(self, trade: Trade) -> str:
        items = self._common(trade)
        items.append((conv.TRADE_OUTCOME, trade.outcome or "incomplete"))
        for name, value in (
            (conv.TRADE_SIDE, trade.side),
            (conv.TRADE_QUANTITY, trade.quantity),
            (conv.TRADE_ENTRY_PRICE, trade.entry_price),
            (conv.TRADE_EXIT_PRICE, trade.exit_price),
            (conv.TRADE_PNL, trade.pnl),
            (conv.TRADE_ENTRY_TIME, trade.entry_time),
            (conv.TRADE_EXIT_TIME, trade.exit_time),
            (conv.TRADE_HOLDING, trade.holding_seconds),
            (conv.TRADE_EXIT_TYPE, trade.exit_type),
            (conv.TRADE_MAX_SLIPPAGE, trade.max_slippage_bps),
            (conv.TRADE_MAX_FILL_LATENCY, trade.max_fill_latency_ms),
            (conv.TRADE_KEPT_BY, trade.kept_by),
        ):
            if value is not None:
                value = to_attribute(value)
                if value is not SKIP:
                    items.append((name, value))
        items += [
            (conv.TRADE_ORDERS, trade.orders), (conv.TRADE_FILLS, trade.fills),
            (conv.TRADE_REJECTED, trade.rejected), (conv.TRADE_ERRORS, trade.errors),
            (conv.TRADE_SPANS, trade.spans), (conv.TRADE_SPANS_DROPPED, trade.dropped),
            (conv.TRADE_SPANS_EVICTED, trade.evicted),
        ]
        links = [
            link_json(ids[0], ids[1], self._member_link)
            for member in trade.members if (ids := member[IDS]) is not None
        ]
        trade.members = []  # records refer to their trade: break the cycle, free them now
        trace_id, span_id = self._ids()
        start = trade.start or trade.end
        return span_json(trace_id, span_id, "", escape(conv.TRADE_SPAN_NAME), start,
                         max(trade.end, start), [self.attr.many(items)], links)

    def _eviction(self, summary: EvictionSummary) -> str:
        items = self._common(summary.trade)
        items.append((conv.EVICTION_REASON, summary.reason))
        items += [(conv.EVICTION_COUNT_PREFIX + kind, count)
                  for kind, count in sorted(summary.counts.items())]
        trace_id, span_id = self._ids()
        return span_json(trace_id, span_id, "", escape(conv.EVICTION_SPAN_NAME), summary.start,
                         max(summary.end, summary.start), [self.attr.many(items)], [])
