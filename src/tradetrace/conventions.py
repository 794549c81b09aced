"""Trading attribute names: the span conventions of tradetrace.

Every name here is documented in ``docs/conventions.md``; the two must change together.
All trading attributes live under the ``trading.`` namespace so they never collide with
OpenTelemetry semantic conventions.
"""

from __future__ import annotations

# Resource
RUN_ID = "trading.run.id"
WORKER_ID = "trading.worker.id"  #: resource: a worker process of a traced run (w<pid>)

# Every event span
EVENT_TYPE = "trading.event.type"
EVENT_ID = "trading.event.id"
EVENT_BUS_ID = "trading.event.bus_id"  # the id the bus adds to metadata['event_id']
EVENT_SEQUENCE = "trading.event.sequence"
CONTAINER_ID = "trading.container.id"
SOURCE_ID = "trading.source.id"
TARGET_CONTAINER = "trading.target.container"
SIM_TIME = "trading.time.simulated"
CAUSATION_ID = "trading.causation.id"
CAUSATION_DERIVED = "trading.causation.derived"
CORRELATION_ID = "trading.correlation.id"

# From the payload, when present
SYMBOL = "trading.symbol"
SIDE = "trading.side"
QUANTITY = "trading.quantity"
PRICE = "trading.price"
ORDER_ID = "trading.order.id"
FILL_ID = "trading.fill.id"
STRATEGY_ID = "trading.strategy.id"
DIRECTION = "trading.signal.direction"
SIGNAL_CHANGED = "trading.signal.changed"  #: metric trading.signals: direction changed
SIGNAL_ORDERED = "trading.signal.ordered"  #: metric trading.signals: an order followed
STATUS = "trading.order.status"
ENTRY_PRICE = "trading.position.entry_price"
EXIT_PRICE = "trading.position.exit_price"
REALIZED_PNL = "trading.position.realized_pnl"
EXIT_TYPE = "trading.position.exit_type"
EXIT_REASON = "trading.position.exit_reason"

#: Signal directions in one vocabulary, whatever the system says: what the why-not
#: query compares and shows. Numbers by sign (1, -1, 0, a strength), words by meaning.
DIRECTION_WORDS: dict[str, str] = {
    "long": "long", "buy": "long", "up": "long",
    "short": "short", "sell": "short", "down": "short",
    "flat": "flat", "neutral": "flat", "none": "flat", "exit": "flat",
}


def signal_direction(value: object) -> str | None:
    """``long``, ``short`` or ``flat`` for a direction given as a number or a word
    (``"LONG"``, ``-1``, ``0.4``); another word lower-cased; None for nothing.

    >>> [signal_direction(v) for v in ("long", "SHORT", 1, -0.5, 0, "flat", None)]
    ['long', 'short', 'long', 'short', 'flat', 'flat', None]
    """
    if value.__class__ is str:  # a word as the vocabulary has it: no float() to fail
        word = DIRECTION_WORDS.get(value)  # (a raised ValueError costs ~40x this lookup)
        if word is not None:
            return word
    if value is None or isinstance(value, bool):
        return None
    text = str(getattr(value, "value", value)).strip().lower()  # an Enum: its value
    word = DIRECTION_WORDS.get(text)
    if word is not None:
        return word
    try:
        number = float(text)
    except ValueError:
        return text or None
    if number != number:
        return None
    return "long" if number > 0 else "short" if number < 0 else "flat"


#: Attributes that are numbers whatever the payload held: a system that keeps Decimals
#: as strings (ADMF-PC's orders: ``quantity: "1"``, ``price: "521.11"``) still gets
#: doubles, so backends can aggregate them. Text that is no number stays text.
NUMERIC = frozenset({QUANTITY, PRICE, ENTRY_PRICE, EXIT_PRICE, REALIZED_PNL})

# DEBUG payload snapshots: one attribute per (flattened) payload key
PAYLOAD_PREFIX = "trading.payload."

# Handler spans (DEBUG)
HANDLER_NAME = "trading.handler.name"

# Lifecycle and run spans
LIFECYCLE_PHASE = "trading.container.phase"
TOPOLOGY = "trading.topology.name"
EXECUTION_ID = "trading.execution.id"

# Level changes under load (decide/overload.py): a root span when the level steps down
# or back up; levels are the highest in effect before and after
LEVEL_CHANGE_SPAN_NAME = "tracing.level_change"
LEVEL_BEFORE = "trading.tracing.level.before"
LEVEL_AFTER = "trading.tracing.level.after"
LEVEL_REASON = "trading.tracing.reason"
LEVEL_WORKER_BUSY = "trading.tracing.worker_busy"  # fraction of the window judged
LEVEL_PAID = "trading.tracing.trading_thread_waits"  # waits for the worker and drops in it

# Links
LINK_RELATION = "trading.link.relation"
#: the id two events share, on a link made by correlation (export/correlation.py); the
#: relation is then the correlation's name (``order``, ``position``)
LINK_ID = "trading.link.id"
RELATION_CAUSATION = "causation"
RELATION_CORRELATION = "correlation"

# Trades (retain/trades.py): on every span of a trade's events...
TRADE_ID = "trading.trade.id"
# ...and on the trade span, one per completed trade, linked to those spans
TRADE_SPAN_NAME = "trade"
TRADE_OUTCOME = "trading.trade.outcome"  # win, loss, flat, rejected, incomplete, expired
TRADE_SIDE = "trading.trade.side"  # LONG or SHORT
TRADE_QUANTITY = "trading.trade.quantity"
TRADE_ENTRY_PRICE = "trading.trade.entry_price"
TRADE_EXIT_PRICE = "trading.trade.exit_price"
TRADE_PNL = "trading.trade.realized_pnl"
TRADE_ENTRY_TIME = "trading.trade.entry_time"  # simulated (the traced system's) time
TRADE_EXIT_TIME = "trading.trade.exit_time"
TRADE_HOLDING = "trading.trade.holding_period_s"  # in simulated time
TRADE_EXIT_TYPE = "trading.trade.exit_type"
TRADE_ORDERS = "trading.trade.orders"
TRADE_FILLS = "trading.trade.fills"
TRADE_REJECTED = "trading.trade.rejected_orders"
TRADE_ERRORS = "trading.trade.errors"
TRADE_SPANS = "trading.trade.spans"
TRADE_SPANS_DROPPED = "trading.trade.spans_dropped"  # past the per-trade cap
TRADE_SPANS_EVICTED = "trading.trade.spans_evicted"  # summarised under a global cap
TRADE_MAX_SLIPPAGE = "trading.trade.max_slippage_bps"
TRADE_MAX_FILL_LATENCY = "trading.trade.max_fill_latency_ms"
TRADE_KEPT_BY = "trading.trade.kept_by"  # the retention rule that kept it
RELATION_TRADE_EVENT = "trade_event"  # link from a trade span to one of its events

# Eviction summaries: a trade's held spans, turned into one span when a cap was hit
EVICTION_SPAN_NAME = "trade.evicted"
EVICTION_REASON = "trading.trade.evicted.reason"
EVICTION_COUNT_PREFIX = "trading.trade.evicted.count."  # + event type
