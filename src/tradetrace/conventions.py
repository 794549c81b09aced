"""Trading attribute names: the span conventions of tradetrace.

Every name here is documented in ``docs/conventions.md``; the two must change together.
All trading attributes live under the ``trading.`` namespace so they never collide with
OpenTelemetry semantic conventions.
"""

from __future__ import annotations

# Resource
RUN_ID = "trading.run.id"

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
STATUS = "trading.order.status"
ENTRY_PRICE = "trading.position.entry_price"
EXIT_PRICE = "trading.position.exit_price"
REALIZED_PNL = "trading.position.realized_pnl"
EXIT_TYPE = "trading.position.exit_type"
EXIT_REASON = "trading.position.exit_reason"

# DEBUG payload snapshots: one attribute per (flattened) payload key
PAYLOAD_PREFIX = "trading.payload."

# Handler spans (DEBUG)
HANDLER_NAME = "trading.handler.name"

# Lifecycle and run spans
LIFECYCLE_PHASE = "trading.container.phase"
TOPOLOGY = "trading.topology.name"
EXECUTION_ID = "trading.execution.id"

# Links
LINK_RELATION = "trading.link.relation"
RELATION_CAUSATION = "causation"
RELATION_CORRELATION = "correlation"
