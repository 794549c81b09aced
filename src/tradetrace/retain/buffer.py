"""Per-container buffers of finished records, between the publish path and the worker.

The publishing thread only ever appends here; the export worker takes. Nothing on the
publishing side exports, or waits on export I/O:

- at ``wake_at`` records (``WAKE_AT``, or the cap if smaller) the worker is woken, once;
- at twice ``max_events`` the worker is behind. The publisher waits for it to take the
  buffer, at most ``max_wait`` seconds (1 ms by default), once per filling: the worker
  takes buffers between chunks of CPU work and never waits on a file or a network
  itself (export/writer.py does the I/O), so this wait is short and does not grow with
  a slow or dead sink. A backtest that outruns the worker is slowed to its pace rather
  than losing spans. If the buffer is still full, the record is dropped and counted
  (``buffer_full``), as is every further one until the worker takes the buffer.

So memory is bounded by the caps, and a publish waits at most ``max_wait`` more.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from ..model.record import TRADE, Record
from .trades import NO_TRADE

logger = logging.getLogger(__name__)

#: A buffer wakes the worker once it holds this many records (or its cap, if smaller):
#: records exported while young die before the garbage collector promotes them to its
#: old generation, whose full collections walk the whole heap. Waking at the cap instead
#: (1,000 for data_* at NORMAL) cost the demo backtest about 1 us more per event.
WAKE_AT = 128
#: How long a publisher whose buffer is at twice its cap waits for the worker to take it.
MAX_WAIT_SECONDS = 0.001

BUFFER_FULL = "buffer_full"  #: drop reason: the worker was behind and the buffer full


class ContainerBuffer:
    """Finished records of one container, oldest first."""

    __slots__ = ("container", "cap", "limit", "wake_at", "hard", "records", "dropped",
                 "_waited", "_buffers")

    def __init__(self, container: str, cap: int, buffers: ContainerBuffers) -> None:
        self.container = container
        self.cap = cap
        self.wake_at = min(cap, WAKE_AT)
        self.hard = 2 * cap  #: the most records held at once; beyond, records are dropped
        #: the length at which the publish path calls ``full`` instead of appending:
        #: ``wake_at``, then ``hard`` once the worker has been woken, so appends while it
        #: gets round to the buffer cost nothing extra; ``take`` lowers it again
        self.limit = self.wake_at
        self.records: deque[Record] = deque()
        self.dropped = 0  #: records dropped because the buffer was full (buffer_full)
        self._waited = False  #: a publisher waited for the worker since the last take
        self._buffers = buffers  #: the session's buffers, this one among them

    def add(self, record: Record) -> None:
        """Append a finished record (the publish path inlines this for speed)."""
        records = self.records
        if len(records) < self.limit:
            records.append(record)
        else:
            self.full(record)

    def full(self, record: Record) -> None:
        """Called by the publish path instead of appending when ``len(records) >= limit``.
        Appends, or drops and counts; never raises, never waits on export I/O."""
        try:
            records = self.records
            if len(records) < self.hard:
                records.append(record)
                if self.limit < self.hard:
                    self.limit = self.hard
                    self._buffers.wake()
                return
            if not self._waited:
                self._waited = True
                if self._buffers.wait_for_take(self):
                    records.append(record)
                    return
            record[TRADE] = NO_TRADE  # what it caused does not wait for it (retain/tail.py)
            self._buffers.drop(self)
        except Exception:  # telemetry must never break trading
            logger.exception("tradetrace: handling a full buffer failed")

    def take(self) -> list[Record]:
        """Remove and return what is buffered now (safe against concurrent appends)."""
        out: list[Record] = []
        self.limit = self.wake_at
        self._waited = False
        pop = self.records.popleft
        try:
            for _ in range(len(self.records)):
                out.append(pop())
        except IndexError:  # another thread drained it meanwhile
            pass
        return out


class ContainerBuffers:
    """All container buffers of a tracing session, and what their full states cost."""

    def __init__(self, max_wait: float = MAX_WAIT_SECONDS) -> None:
        self._by_container: dict[str, ContainerBuffer] = {}
        self._lock = threading.Lock()  #: creating buffers and counting drops; never held long
        self.wake: Callable[[], None] = lambda: None
        self.max_wait = max_wait  #: seconds a publisher may wait for a full buffer's take
        #: a publisher waits for a take: the worker takes between chunks of work
        self.hungry = False
        self._taken = threading.Condition()
        self.waits = 0  #: times a publisher waited for the worker
        self.waits_in_vain = 0  #: of which the buffer was still full at the deadline

    def buffer_for(self, container: str, cap: int) -> ContainerBuffer:
        buffer = self._by_container.get(container)
        if buffer is not None:
            return buffer
        with self._lock:
            buffer = self._by_container.get(container)
            if buffer is None:
                buffer = self._by_container[container] = ContainerBuffer(container, cap, self)
            return buffer

    def all(self) -> list[ContainerBuffer]:
        # No lock: the worker may call this while a signal handler on the publishing
        # thread interrupted buffer_for; copying a dict's values is atomic under the GIL.
        return list(self._by_container.values())

    def take_all(self, limit: int | None = None) -> list[Record]:
        """What the buffers hold, buffer by buffer (those a publisher waits for first),
        stopping once ``limit`` records are taken: the rest stays buffered, so its
        publishers wait or drop rather than memory growing in the worker's hands."""
        out: list[Record] = []
        buffers = self.all()
        if self.hungry:
            waiting = [b for b in buffers if len(b.records) >= b.hard]
            buffers = waiting + [b for b in buffers if len(b.records) < b.hard]
        for buffer in buffers:
            if limit is not None and len(out) >= limit:
                break
            if buffer.records:
                out.extend(buffer.take())
        return out

    def pending(self) -> int:
        return sum(len(b.records) for b in self.all())

    @property
    def dropped(self) -> int:
        """Records dropped on the publish path (``buffer_full``), all containers."""
        return sum(b.dropped for b in self.all())

    def wait_for_take(self, buffer: ContainerBuffer) -> bool:
        """On the publishing thread: wait (at most ``max_wait``) until the worker has
        taken ``buffer``; True if it has. The lock is held only around the flag."""
        if self.max_wait <= 0:
            return False
        self.waits += 1
        with self._taken:
            self.hungry = True
            self.wake()
            taken = self._taken.wait_for(lambda: len(buffer.records) < buffer.hard,
                                         self.max_wait)
        if not taken:
            self.waits_in_vain += 1
        return taken

    def fed(self) -> None:
        """On the worker, after a take: let waiting publishers go."""
        with self._taken:
            self.hungry = False
            self._taken.notify_all()

    def drop(self, buffer: ContainerBuffer) -> None:
        # Counted here, said by the worker: logging is I/O, kept off the publishing thread.
        with self._lock:  # several publishing threads may drop from one container
            buffer.dropped += 1
