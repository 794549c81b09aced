"""The process around a session: fork, multiprocessing workers, exit and signals.

Every live session is in :data:`sessions`. Before a fork each gives the records in
flight their ids; in the child each is replaced by a session of its own (a worker of the
same run). At exit, in multiprocessing's workers (which leave by ``os._exit``) and on a
terminating signal, each is shut down: pending spans are exported within the flush
timeout and the accounting is said.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import weakref
from typing import Any

from opentelemetry.sdk.resources import Resource

from .. import conventions as conv
from .. import environment_variables as ev
from ..model.record import SUPPRESSED, TRADE, dispatch

logger = logging.getLogger(__name__)

#: the live sessions (tradetrace.session.TracingSession)
sessions: weakref.WeakSet[Any] = weakref.WeakSet()
#: set by a fail_fast session that delivered nothing: the status the process ends with
exit_status: int | None = None


def end_with_status(status: int) -> None:
    """Have the process end with ``status`` once the exit handlers have run."""
    global exit_status
    exit_status = status


def _exit_with_status() -> None:
    """The last exit handler (registered at import, before the exit flush and the
    program's own handlers, which atexit runs first). Neither ``sys.exit`` nor an
    exception in an exit handler changes the status, so only ``os._exit`` can."""
    if exit_status is not None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a closed stream: nothing left to lose
                pass
        os._exit(exit_status)


atexit.register(_exit_with_status)


def worker_id() -> str | None:
    """``w<pid>`` in a process started (spawned, forked or run) by a traced parent."""
    parent = os.environ.get(ev.TRADETRACE_PARENT_PID)
    if parent and parent == str(os.getppid()):
        return f"w{os.getpid()}"
    return None


def _before_fork() -> None:
    for session in list(sessions):
        _give_ids(session)


def _give_ids(session: Any) -> None:
    """Give the records in flight on this thread their ids, so that a forked child's
    events continue their trace. Nothing else: no lock the worker could hold across
    I/O is taken (files hold no buffer in this process to be inherited)."""
    worker = session._worker
    if worker is not None:
        for record in dispatch.stack:
            if record is not SUPPRESSED:
                try:
                    worker.encoder.ids(record)
                except Exception:
                    logger.debug("tradetrace: no ids before fork", exc_info=True)


def _child_session(session: Any) -> Any:
    """The child inherits a session's patches and buffers but none of its threads.
    Buffers belong to the parent (it exports them); the child gets its own session,
    files and worker, as a worker of the same run."""
    session._closed = True
    sessions.discard(session)
    if session._patcher is not None:
        session._patcher.after_fork()
        session._patcher.unpatch()
    if session.metrics is not None:
        session.metrics.abandon()
    forget = getattr(session.sink, "forget", None)
    if forget is not None:  # the parent's open file or connection is the parent's
        forget()
    if session.link is not None:  # and so is its encoder process
        session.link.forget()
    for record in dispatch.stack:  # causes from the parent: settled, never exported
        if record[TRADE] is None:
            record[TRADE] = 0
    if not session.active:
        return None
    exporter, search_paths, provider = session._given
    os.environ[ev.TRADETRACE_PARENT_PID] = str(os.getppid())
    # Resource.create runs detectors on a thread pool, whose lock may be held in a
    # child until its own after-fork handler runs: derive the resource instead.
    identity = {conv.WORKER_ID: worker_id(), "process.pid": os.getpid(),
                "process.parent_pid": os.getppid()}
    child = type(session)(session.wanted, exporter=exporter, search_paths=search_paths,
                          tracer_provider=provider,
                          resource=session.resource.merge(Resource(identity)))
    return child.start()


def _after_fork_in_child() -> None:
    import tradetrace

    for session in list(sessions):
        try:
            child = _child_session(session)
        except Exception:  # the child runs untraced rather than not at all
            logger.exception("tradetrace: tracing could not restart after fork")
            child = None
        if tradetrace._current is session:
            tradetrace._current = child


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


class _ExitAnchor:
    """Kept alive for multiprocessing's after-fork registry (it holds weak references)."""


_anchor = _ExitAnchor()
_anchor_registered = False


def flush_in_multiprocessing_workers() -> None:
    """multiprocessing's forked workers leave with ``os._exit``, which skips atexit: have
    its own exit function (which it does run) shut tracing down in each worker."""
    global _anchor_registered
    if _anchor_registered:
        return
    _anchor_registered = True
    try:
        from multiprocessing import util

        util.register_after_fork(_anchor, _shutdown_at_worker_exit)
    except Exception:
        logger.debug("tradetrace: no multiprocessing exit hook", exc_info=True)


def _shutdown_at_worker_exit(_: object) -> None:
    from multiprocessing import util

    util.Finalize(None, flush_at_exit, exitpriority=-100)


def flush_at_exit_first() -> None:
    """Have the exit flush run before every exit handler registered so far (atexit runs
    the last registered first). Among those is the ``TracerProvider`` a session may
    feed: the SDK shuts its exporters down at exit, and spans flushed after that would
    only fail."""
    atexit.unregister(flush_at_exit)
    atexit.register(flush_at_exit)


def flush_at_exit(reason: str = "") -> None:
    for session in list(sessions):
        try:
            session.shutdown(reason=reason)
        except Exception:  # never turn a clean exit into a traceback
            logger.debug("tradetrace: shutdown at exit failed", exc_info=True)


def shutdown_on_signal(name: str) -> None:
    """SIGTERM with its default action (launch/signals.py): the process ends next."""
    flush_at_exit(name)


def export_now() -> None:
    """A signal the program handles itself: export now, wait for nothing."""
    for session in list(sessions):
        if session._worker is not None:
            session._worker.nudge()
