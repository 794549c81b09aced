"""The shape of traces: span ids, parents and links, assigned on the export worker.

Trace shape:
- an event published while another traced event is being dispatched is its child
  (causation from dispatch nesting); an event with no traced cause starts a new trace;
- that root event links to the run span it happened in (correlation: the run);
- an event whose explicit ``causation_id`` names an event other than its parent links
  to that event's span (causation across traces);
- handler spans (DEBUG) are children of their event; lifecycle steps are children of
  the run (or of the enclosing lifecycle step).

Ids are assigned lazily: a child may be encoded before its parent finishes. This is the
part of :class:`~tradetrace.export.spans.SpanEncoder` that decides them; its state is
made in ``SpanEncoder.__init__``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from .. import conventions as conv
from ..model.otlp_json import Attributes, link_json
from ..model.record import (
    EVENT,
    F_CAUSATION,
    IDS,
    KIND,
    PARENT,
    RUN,
    START,
    SUBJECT,
    Record,
)
from .trade_spans import TradeSpanEncoder

_START_OF = itemgetter(START)

#: Explicit causation ids are rare (ADMF-PC never sets them): recent events are indexed
#: from the first batch that holds one, and at most this many.
CAUSATION_INDEX_SIZE = 65536


class TraceShape:
    """Ids, parents and links of spans (a base of ``SpanEncoder``)."""

    # made by SpanEncoder.__init__; kept() is the encoder's too
    attr: Attributes
    _rand: random.Random
    _ids_lock: threading.RLock
    _run_link: str
    _root_parent: Record | None
    _run_link_json: str
    _causation_index: dict[str, tuple[str, str]] | None
    trades: TradeSpanEncoder
    kept: Callable[[Any], tuple[Any, ...]]

    def reseed(self) -> None:
        """After ``fork`` the child must not repeat the parent's ids."""
        self._rand = self.trades.rand = random.Random()

    def encode_batch(self, records: list[Record]) -> None:
        """Prepare a batch: once explicit ``causation_id``s appear, batches are encoded in
        publish order, so that a cause is indexed before the events that name it."""
        if self._causation_index is None:  # every event is looked at: kept() only if need be
            for record in records:
                if record[KIND] is EVENT:
                    fields = record[SUBJECT]
                    if fields.__class__ is not tuple:
                        fields = self.kept(fields)
                    if fields[F_CAUSATION] is not None:
                        self._causation_index = {}
                        break
        if self._causation_index is not None:
            records.sort(key=_START_OF)

    # ids: hex strings, formatted once (a trace id is shared by the whole cascade), by
    # int.to_bytes().hex(): half the cost of "%016x" % n, and the same text ------------
    def ids(self, record: Record) -> tuple[str, str]:
        """A record's ids, assigned on first need. Safe from any thread: a trading thread
        that injects trace context (capture/propagation.py) may ask for a record still
        in flight while this worker assigns the same record for one of its children."""
        ids = record[IDS]
        if ids is None:
            with self._ids_lock:
                ids = record[IDS]
                if ids is None:
                    parent = record[PARENT]
                    span_id = (self._rand.getrandbits(64) or 1).to_bytes(8, "big").hex()
                    if parent is not None and (
                        record[KIND] is not EVENT or parent[KIND] is EVENT
                    ):
                        trace_id = self.ids(parent)[0]
                    else:
                        trace_id = (self._rand.getrandbits(128) or 1).to_bytes(16, "big").hex()
                    ids = record[IDS] = (trace_id, span_id)
        return ids

    def _parent_id(self, record: Record) -> str:
        parent = record[PARENT]
        if parent is None or (record[KIND] is EVENT and parent[KIND] is not EVENT):
            return ""
        return self.ids(parent)[1]

    def _link_to_run(self, parent: Record | None) -> str:
        """The link of a root event whose parent is ``parent`` to the run it happened in
        ("" outside a run). Roots of a run mostly share their parent: the last is kept."""
        if parent is not self._root_parent:
            run = parent
            while run is not None and run[KIND] is not RUN:
                run = run[PARENT]
            self._root_parent = parent
            self._run_link_json = link_json(*self.ids(run), self._run_link) if run else ""
        return self._run_link_json

    def _link_cause(self, cause: Any, links: list[str]) -> None:
        index = self._causation_index
        target = index.get(cause) if index is not None and isinstance(cause, str) else None
        if target is not None:
            links.append(link_json(*target, self.attr.many([
                (conv.LINK_RELATION, conv.RELATION_CAUSATION), (conv.CAUSATION_ID, cause),
            ])))

    def _remember(self, event_id: str, ids: tuple[str, str]) -> None:
        index = self._causation_index
        assert index is not None
        if len(index) >= CAUSATION_INDEX_SIZE:
            for stale in list(index)[: CAUSATION_INDEX_SIZE // 4]:
                del index[stale]
        index[event_id] = ids
