"""Where every recorded span went: ``recorded = exported + dropped (by reason) + pending``.

A *recorded* span is a record the publish path made (an event, a handler call, a
lifecycle or run step). Each one is, at any moment, in exactly one place:

- **exported**: written whole by the sink (a file line the OS took, an OTLP request the
  receiver accepted);
- **dropped**, for a named reason: ``buffer_full`` (the worker was behind),
  ``retention_policy`` (a trade retention chose not to keep, a sliding window's oldest),
  ``counted_only`` (a signal the level does not trace, counted in ``trading.signals``),
  ``max_spans_per_trade``, ``evicted`` (summarised under a global cap), ``encode_error``,
  ``sink_failure``, ``sink_resting`` (not tried just after a failure),
  ``shutdown_timeout`` (not written when the exit deadline passed), ``encoder_lost``
  (held by an encoder process that died: ``tracing.encoder: process``);
- **pending**: in a container buffer, held by retention (open trades, windows), or in
  the export worker's hands (``writing``: encoded, with the sink writer).

Trade and summary spans, which retention makes itself, are counted apart (``derived``).
The figures are read under the worker's ledger lock, so a reader never sees a record
between a buffer and the worker: the identity holds at any time, not only at exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..retain.buffer import BUFFER_FULL, ContainerBuffers
from ..retain.tail import TailRetention
from ..retain.tail_stats import (
    COUNTED_ONLY,
    DROPPED_BY_POLICY,
    DROPPED_PER_TRADE_CAP,
    EVICTED_BY_CAP,
)
from .worker import ExportWorker

#: Drop reasons that are a choice the user configured, not a loss.
BY_POLICY = frozenset({DROPPED_BY_POLICY, COUNTED_ONLY})
#: Drop reasons retention decides, which the metrics show as span fates already.
BY_RETENTION = frozenset({DROPPED_BY_POLICY, COUNTED_ONLY, DROPPED_PER_TRADE_CAP,
                          EVICTED_BY_CAP})


@dataclass(frozen=True)
class Accounting:
    recorded: int = 0
    exported: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  #: by reason, nonzero only
    pending: int = 0
    buffered: int = 0  #: of pending: in container buffers
    held: int = 0  #: of pending: held by retention
    writing: int = 0  #: of pending: encoded, queued for the sink or being written
    derived_exported: int = 0  #: trade and summary spans written
    derived_lost: int = 0  #: trade and summary spans not written

    @property
    def lost(self) -> int:
        """Dropped for any reason but a retention policy's choice."""
        return sum(n for reason, n in self.dropped.items() if reason not in BY_POLICY)

    def closed(self, reason: str) -> Accounting:
        """This accounting at a final stop: what is still pending was dropped for
        ``reason`` (the records a write under way held included: their fate is unknown)."""
        if not self.pending:
            return self
        dropped = dict(self.dropped)
        dropped[reason] = dropped.get(reason, 0) + self.pending
        return Accounting(self.recorded, self.exported, dropped, 0, 0, 0, 0,
                          self.derived_exported, self.derived_lost)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded, "exported": self.exported,
            "dropped": dict(self.dropped), "pending": self.pending,
            "pending_detail": {"buffered": self.buffered, "held": self.held,
                               "in_worker": self.pending - self.buffered - self.held,
                               "writing": self.writing},
            "derived": {"exported": self.derived_exported, "lost": self.derived_lost},
        }

    def sentence(self) -> str:
        """``recorded 100 = exported 90 + dropped 10 (buffer_full 10) + pending 0``."""
        dropped = sum(self.dropped.values())
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.dropped.items()))
        text = (f"recorded {self.recorded} = exported {self.exported} + dropped {dropped}"
                + (f" ({reasons})" if reasons else "") + f" + pending {self.pending}")
        if self.derived_exported or self.derived_lost:
            text += f"; trade spans: {self.derived_exported} exported"
            if self.derived_lost:
                text += f", {self.derived_lost} lost"
        return text


def lost_outside_retention(accounting: Accounting) -> dict[str, int]:
    """Spans lost before retention saw them or after it passed them on (a full buffer, a
    failed write, ...), by reason: the ``tradetrace.spans.lost`` metric."""
    return {r: n for r, n in accounting.dropped.items() if r not in BY_RETENTION}


def account(buffers: ContainerBuffers, worker: ExportWorker | None,
            tail: TailRetention | None) -> Accounting:
    """The session's accounting now (any thread)."""
    if worker is None:
        buffered = buffers.pending()
        return Accounting(recorded=buffered, pending=buffered, buffered=buffered)
    stats = worker.stats
    # The worker takes from the buffers only under the ledger lock, and its other
    # counters grow only for records already taken: read under it, no counter can count
    # a record that ``taken`` does not.
    with worker.ledger:
        taken = stats.taken
        buffered = buffers.pending()
        full = buffers.dropped
        exported = stats.exported
        dropped = dict(stats.dropped)  # a C-level copy: atomic against the worker's updates
        held = 0
        if tail is not None:
            for reason, n in dict(tail.stats.dropped).items():
                dropped[reason] = dropped.get(reason, 0) + n
            held = tail.records_held
    if full:
        dropped[BUFFER_FULL] = full
    dropped = {reason: n for reason, n in dropped.items() if n}
    recorded = taken + buffered + full
    pending = recorded - exported - sum(dropped.values())
    return Accounting(
        recorded=recorded, exported=exported, dropped=dropped, pending=pending,
        buffered=buffered, held=min(held, pending - buffered), writing=stats.queued,
        derived_exported=stats.derived_exported, derived_lost=stats.derived_lost,
    )


def account_shipped(buffers: ContainerBuffers, worker: ExportWorker, figures: Any) -> Accounting:
    """The accounting when an encoder process builds the spans: what this process took
    is packed (its frames queued, or dropped here with a reason), or was sent to the
    encoder, which reports what it exported, dropped and holds (``figures``: a callable
    giving ``EncoderLink.figures()``). What was sent and is not reported yet is pending."""
    stats = worker.stats
    with worker.ledger:
        taken = stats.taken
        buffered = buffers.pending()
        full = buffers.dropped
        dropped = dict(stats.dropped)  # frames dropped here, by reason
    there = figures()
    for reason, n in there["dropped"].items():
        dropped[reason] = dropped.get(reason, 0) + n
    if full:
        dropped[BUFFER_FULL] = full
    dropped = {reason: n for reason, n in dropped.items() if n}
    recorded = taken + buffered + full
    exported = there["exported"]
    pending = recorded - exported - sum(dropped.values())
    return Accounting(
        recorded=recorded, exported=exported, dropped=dropped, pending=pending,
        buffered=buffered, held=max(0, min(there["held"], pending - buffered)),
        writing=stats.queued, derived_exported=there["derived_exported"],
        derived_lost=there["derived_lost"],
    )
