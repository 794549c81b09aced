"""Which attributes an event's span carries, and how they are written.

The event's type, container and source (its *head*, encoded once per route and
source), the bus's own ids at DEBUG, the payload keys mapped to ``trading.*``
attributes (:data:`PAYLOAD_ATTRIBUTES`, one *plan* per shape of payload) and the
simulated time. ``attributes.py`` turns single values into attribute values; this is
the part of :class:`~tradetrace.export.spans.SpanEncoder` that chooses and caches them
(its state is made in ``SpanEncoder.__init__``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .. import conventions as conv
from ..model.otlp_json import Attributes, EncodingStats, escape
from ..model.record import F_METADATA, F_SEQUENCE
from .attributes import SKIP, to_attribute
from .times import epoch_text, iso_text

#: Payload key -> span attribute.
PAYLOAD_ATTRIBUTES: dict[str, str] = {
    "symbol": conv.SYMBOL,
    "side": conv.SIDE,
    "quantity": conv.QUANTITY,
    "qty": conv.QUANTITY,
    "price": conv.PRICE,
    "fill_price": conv.PRICE,
    "close": conv.PRICE,
    "order_id": conv.ORDER_ID,
    "fill_id": conv.FILL_ID,
    "strategy_id": conv.STRATEGY_ID,
    "direction": conv.DIRECTION,
    "status": conv.STATUS,
    "entry_price": conv.ENTRY_PRICE,
    "exit_price": conv.EXIT_PRICE,
    "realized_pnl": conv.REALIZED_PNL,
    "exit_type": conv.EXIT_TYPE,
    "exit_reason": conv.EXIT_REASON,
}
#: An alias is used only when the payload has none of the keys it stands in for.
ALIASES: dict[str, tuple[str, ...]] = {
    "qty": ("quantity",),
    "fill_price": ("price",),
    "close": ("price", "fill_price"),
}

#: Attributes whose values repeat: their encoding is cached.
LOW_CARDINALITY = (
    conv.EVENT_TYPE, conv.CONTAINER_ID, conv.SOURCE_ID, conv.SYMBOL, conv.SIDE,
    conv.STRATEGY_ID, conv.STATUS, conv.EXIT_TYPE, conv.EXIT_REASON, conv.DIRECTION,
    conv.CORRELATION_ID, conv.HANDLER_NAME, conv.TARGET_CONTAINER, conv.LINK_RELATION,
    conv.CAUSATION_DERIVED, conv.LIFECYCLE_PHASE, conv.TOPOLOGY,
)

#: value types written as attribute values as they are
PLAIN = frozenset({str, int, float, bool})


class EventAttributes:
    """The attributes of event spans (a base of ``SpanEncoder``)."""

    # made by SpanEncoder.__init__
    attr: Attributes
    _heads: dict[tuple[Any, Any], tuple[str, str]]
    _times: dict[Any, str]
    _last_when: Any
    _last_time: str
    _plans: dict[tuple[Any, ...], tuple[tuple[Any, str, str | None, str], ...]]
    _sim_time_prefix: str

    def _head(self, route: Any, source: Any) -> tuple[str, str]:
        cached = self._heads.get((route, source))
        if cached is None:  # type, container, source and name repeat: encode them once
            items = [(conv.EVENT_TYPE, route.event_type), (conv.CONTAINER_ID, route.container)]
            if source is not None:
                items.append((conv.SOURCE_ID, plain_value(source)))
            if len(self._heads) >= 4096:
                self._heads.clear()
                EncodingStats.cache_resets["span_heads"] += 1
            cached = (self.attr.many(items), escape(route.event_type))
            self._heads[(route, source)] = cached
        return cached

    def _bus_ids(self, fields: tuple[Any, ...], add: Any) -> None:
        sequence = fields[F_SEQUENCE]
        if sequence is not None:
            add(self.attr(conv.EVENT_SEQUENCE, plain_value(sequence)))
        metadata = fields[F_METADATA]
        if isinstance(metadata, Mapping) and metadata.get("event_id") is not None:
            add(self.attr(conv.EVENT_BUS_ID, plain_value(metadata["event_id"])))

    def _plan(self, keys: tuple[Any, ...]) -> tuple[tuple[Any, str, str | None, str], ...]:
        """Which payload keys become which attributes, for one shape of payload.

        An alias (``qty``, ``fill_price``, ``close``) is used only when the keys it
        stands in for are absent from this shape.
        """
        present = set(keys)
        plan = tuple(
            (
                key,
                name,
                None if name in LOW_CARDINALITY or name in conv.NUMERIC
                else self.attr.prefix(name) + '{"stringValue":',
                self.attr.prefix(name) + '{"doubleValue":',
            )
            for key in keys
            if (name := PAYLOAD_ATTRIBUTES.get(key)) is not None
            and not present.intersection(ALIASES.get(key, ()))
        )
        if len(self._plans) >= 1024:
            self._plans.clear()
            EncodingStats.cache_resets["payload_plans"] += 1
        self._plans[keys] = plan
        return plan

    def _time_attribute(self, when: Any) -> str:
        """The attribute for a simulated time, remembered as the last one: the next
        events of a cascade mostly share it by identity (ADMF-PC's SIGNAL and ORDER carry
        their BAR's Timestamp). Datetimes are written by ``iso_text`` (times.py), cheaper
        than hashing them for a cache; other times are cached by equality."""
        iso = iso_text(when)
        if iso is not None:  # ISO text holds nothing JSON escapes
            text = self._sim_time_prefix + '"' + iso + '"}}'
        else:
            try:
                cached = self._times.get(when)
            except TypeError:  # unhashable
                cached = None
            text = self._sim_time(when) if cached is None else cached
        self._last_when, self._last_time = when, text
        return text

    def _sim_time(self, when: Any) -> str:
        """The attribute for a simulated time ("" for NaT and the like: no time rather than
        a wrong one). Bar times repeat across a cascade (BAR, SIGNAL, ORDER...): cached."""
        value = (when.isoformat() if when.__class__ is datetime
                 else epoch_text(when) or when if when.__class__ is int else to_attribute(when))
        if value.__class__ is str:  # the common case, inlined from Attributes
            text = self._sim_time_prefix + escape(value) + "}}"
        else:
            text = "" if value is SKIP else self.attr(conv.SIM_TIME, value)
        if len(self._times) >= 1024:
            self._times.clear()
            EncodingStats.cache_resets["simulated_times"] += 1
        try:
            self._times[when] = text
        except TypeError:  # unhashable after all
            pass
        return text


def number_text(value: str) -> float | str:
    """A number held as text (``"521.11"``) as the number; other text as it is."""
    try:
        number = float(value)
    except ValueError:
        return value
    return number if number - number == 0.0 else value  # "nan", "inf": not prices

def plain_value(value: Any) -> Any:
    """Ids and the like as attribute values: kept if plain, else converted or stringified."""
    if value.__class__ in PLAIN:
        return value
    converted = to_attribute(value)
    return str(value) if converted is SKIP else converted
