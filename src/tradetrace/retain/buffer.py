"""Per-container buffers of finished records.

``max_events`` caps how many records a container holds in memory at once, never how many
are written: a buffer wakes the export worker early (``WAKE_AT`` records), and if the
worker still falls behind (twice the cap) the publishing thread exports the buffer
itself. A backtest then slows down a little rather than lose spans or grow without
bound. If the worker is stuck (an exporter waiting on a collector that is down) the
publishing thread waits at most half a second, then drops the buffer and counts it:
trading is never held up for long.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from ..capture.record import Record

logger = logging.getLogger(__name__)

#: A buffer wakes the worker once it holds this many records (or its cap, if smaller):
#: records exported while young die before the garbage collector promotes them to its
#: old generation, whose full collections walk the whole heap. Waking at the cap instead
#: (1,000 for data_* at NORMAL) cost the demo backtest about 1 us more per event.
WAKE_AT = 128


class ContainerBuffer:
    """Finished records of one container, oldest first."""

    __slots__ = ("container", "cap", "limit", "wake_at", "records", "_retention")

    def __init__(self, container: str, cap: int, retention: Retention) -> None:
        self.container = container
        self.cap = cap
        self.wake_at = min(cap, WAKE_AT)
        #: the length at which the publish path calls ``full``: ``wake_at``, then twice
        #: the cap once the worker has been woken, so appends while it gets round to the
        #: buffer cost nothing extra (each wake takes a lock); ``take`` lowers it again
        self.limit = self.wake_at
        self.records: deque[Record] = deque()
        self._retention = retention

    def add(self, record: Record) -> None:
        """Append a finished record (the publish path inlines this for speed)."""
        self.records.append(record)
        if len(self.records) >= self.limit:
            self.full()

    def full(self) -> None:
        """Called by the publish path when ``len(records) >= limit``; never raises."""
        try:
            if len(self.records) < 2 * self.cap:
                self.limit = 2 * self.cap
            self._retention.on_full(self)
        except Exception:  # telemetry must never break trading
            logger.exception("tradetrace: handling a full buffer failed")

    def take(self) -> list[Record]:
        """Remove and return what is buffered now (safe against concurrent appends)."""
        out: list[Record] = []
        self.limit = self.wake_at
        pop = self.records.popleft
        try:
            for _ in range(len(self.records)):
                out.append(pop())
        except IndexError:  # another thread drained it meanwhile
            pass
        return out


class Retention:
    """All buffers of a tracing session, and the policy for a full one."""

    def __init__(self) -> None:
        self._buffers: dict[str, ContainerBuffer] = {}
        self._lock = threading.Lock()
        self.wake: Callable[[], None] = lambda: None
        self.export_inline: Callable[[ContainerBuffer], None] = lambda buffer: None
        self.inline_exports = 0  #: times a publishing thread had to export itself

    def buffer_for(self, container: str, cap: int) -> ContainerBuffer:
        with self._lock:
            buffer = self._buffers.get(container)
            if buffer is None:
                buffer = self._buffers[container] = ContainerBuffer(container, cap, self)
            return buffer

    def buffers(self) -> list[ContainerBuffer]:
        with self._lock:
            return list(self._buffers.values())

    def take_all(self) -> list[Record]:
        out: list[Record] = []
        for buffer in self.buffers():
            out.extend(buffer.take())
        return out

    def pending(self) -> int:
        return sum(len(b.records) for b in self.buffers())

    def on_full(self, buffer: ContainerBuffer) -> None:
        if len(buffer.records) >= 2 * buffer.cap:
            self.inline_exports += 1
            self.export_inline(buffer)
        else:
            self.wake()
