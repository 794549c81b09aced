"""A route: what the decision table decided for one (event type, container), held by
each record it made (the record's ROUTE slot).

The publish path reads ``kind``, ``buffer`` and ``keep``; the export worker reads the
rest (the container, the event type, whether DEBUG's handler spans and payload snapshot
are on, the event's trade role and the container's retention policy). A route made in
the encoder process (export/unpacking.py) has no buffer and no ``keep``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .record import EVENT


class Route:
    """Where a traced event goes and how much of it is recorded."""

    __slots__ = (
        "container", "event_type", "buffer", "handler_spans", "payload_snapshot", "keep",
        "role", "retention", "seen", "kind",
    )

    def __init__(
        self,
        container: str,
        event_type: str,
        buffer: Any,  # retain.buffer.ContainerBuffer (None in the encoder process)
        debug: bool,
        keep: Callable[[Any], tuple[Any, ...]],
        role: str | None,
        retention: Any,  # retain.policy.RetentionPolicy
        kind: str = EVENT,
    ) -> None:
        self.kind = kind  #: of its records: EVENT, or TALLY for a signal only counted
        self.container = container
        self.event_type = event_type
        self.buffer = buffer
        self.handler_spans = debug
        self.payload_snapshot = debug
        self.keep = keep  #: event -> the fields its record keeps (model/record.py)
        self.role = role  #: what the event does to a trade (retain/trade_rules.py), if anything
        self.retention = retention  #: the container's retention policy (retain/policy.py)
        self.seen = 0  #: events recorded through this route (export worker; for metrics)
