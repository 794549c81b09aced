"""Correlation by id: events that share an order or a position id become one chain.

Nesting gives causation only where the framework publishes synchronously: a compiled
framework's simulated exchange fills an order after the bar's dispatch has returned,
and a listener (capture/listener.py) sees every message as a root. What ties an order's
life together there is its id: each event names its order, a fill names its order and
position, a position names its opening and closing orders. An adapter's ``correlate``
option (model/events.py) names the payload keys holding such ids, by relation::

    correlate:
      order: [order_id, closing_order_id, opening_order_id]
      position: [position_id]

For each event, in the order the worker takes them, every id found is looked up among
the events seen before:

- a root event becomes the child of the latest event of its first match (relations and
  keys in the order given), so an order's events form one trace: ORDER, its update, its
  FILL, the position it opened;
- every other match is a link (``trading.link.relation`` the relation's name,
  ``trading.link.id`` the id), unless the matched event is already in the event's own
  trace;
- the event then becomes the latest of each of its ids.

The index is bounded (``INDEX_SIZE`` ids, oldest forgotten first; it holds the latest
record of each id, and so its causes); an id forgotten starts a new chain. Runs on the
export worker, before retention, so that trades and the trace shape see the parents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import conventions as conv
from ..model.otlp_json import link_json
from ..model.record import EVENT, IDS, KIND, PARENT, SNAPSHOT, Record

#: ids remembered: (relation, id) -> the latest event's record (its ids assigned)
INDEX_SIZE = 16_384


class Correlator:
    """Parents and links by id, for one encoder (export/spans.py)."""

    def __init__(self, relations: Mapping[str, Sequence[str]], encoder: Any) -> None:
        self.relations = [(name, tuple(keys)) for name, keys in relations.items()]
        self._encoder = encoder
        self._index: dict[tuple[str, Any], Record] = {}
        #: span id -> the links its span gets, taken by the encoder when it writes it
        self.links: dict[str, list[str]] = {}
        self.adopted = 0  #: root events made children of an earlier event of their ids
        self.linked = 0  #: links made

    def correlate(self, records: Sequence[Record]) -> None:
        for record in records:
            if record[KIND] is EVENT and record[SNAPSHOT].__class__ is dict:
                self._one(record)

    def _one(self, record: Record) -> None:
        payload = record[SNAPSHOT]
        index = self._index
        found: list[tuple[str, Any]] = []
        matches: list[tuple[str, Any, Record]] = []
        for relation, keys in self.relations:
            for key in keys:
                value = payload.get(key)
                if value is None or value.__class__ is dict or value.__class__ is list:
                    continue
                found.append((relation, value))
                target = index.get((relation, value))
                if target is not None:
                    matches.append((relation, value, target))
        if not found:
            return
        encoder = self._encoder
        if matches and record[PARENT] is None and record[IDS] is None:
            # the earlier event as the cause: same trace, and its trade (retain/trades.py)
            record[PARENT] = matches[0][2]
            self.adopted += 1
        ids = encoder.ids(record)
        links = []
        seen = {ids[1]}
        parent = record[PARENT]
        if parent is not None and parent[IDS] is not None:
            seen.add(parent[IDS][1])
        for relation, value, target in matches:
            trace_id, span_id = target[IDS]
            if span_id in seen or trace_id == ids[0]:
                continue
            seen.add(span_id)
            links.append(link_json(trace_id, span_id, encoder.attr.many([
                (conv.LINK_RELATION, relation), (conv.LINK_ID, str(value))])))
        if links:
            self.linked += len(links)
            if len(self.links) >= INDEX_SIZE:  # spans dropped before they were written
                for unwritten in list(self.links)[: INDEX_SIZE // 4]:
                    del self.links[unwritten]
            self.links[ids[1]] = links
        for shared in found:
            if len(index) >= INDEX_SIZE and shared not in index:
                for forgotten in list(index)[: INDEX_SIZE // 4]:
                    del index[forgotten]
            index[shared] = record
