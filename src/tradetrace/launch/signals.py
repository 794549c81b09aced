"""SIGTERM ends a process without running ``atexit``: tracing flushes first.

SIGTERM is the standard stop signal (``kill``, systemd, Kubernetes, ``Pool.terminate()``).
Its default action kills the process at once, so spans still buffered would be lost
without a word. When tracing starts on the main thread, this module puts a handler in
front of whatever was there:

- the default action (``SIG_DFL``): tracing shuts down (exports within
  ``flush_timeout_seconds`` and states its accounting), then the default action is taken
  again by re-sending the signal, so the process ends exactly as it would have untraced
  (killed by SIGTERM, exit status -15 / 143);
- a handler the program installed: it is chained, never replaced. The worker is asked to
  export now (nothing waits for it), then the program's handler runs and decides what
  the signal means; if it exits, ``atexit`` flushes as usual;
- ``SIG_IGN``, or a handler set outside Python: left alone.

SIGINT needs nothing: Python's default raises ``KeyboardInterrupt``, which unwinds to
``atexit``. A handler the program installs after tracing started replaces this one, as
the program asked.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM,)

_previous: dict[int, Any] = {}
_stop: Callable[[str], None] = lambda name: None  # noqa: E731
_nudge: Callable[[], None] = lambda: None  # noqa: E731


def install(stop: Callable[[str], None], nudge: Callable[[], None]) -> bool:
    """Put the handler in front of SIGTERM's (once; main thread only). ``stop(name)``
    shuts tracing down; ``nudge()`` asks the worker to export now without waiting."""
    global _stop, _nudge
    _stop, _nudge = stop, nudge
    if threading.current_thread() is not threading.main_thread():
        logger.debug("tradetrace: not on the main thread: SIGTERM is not handled")
        return False
    installed = False
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is _on_signal:
            installed = True
            continue
        if current is None or current == signal.SIG_IGN:
            continue
        try:
            signal.signal(signum, _on_signal)
        except (ValueError, OSError):  # an embedded interpreter may not allow it
            logger.debug("tradetrace: cannot handle %s", signum, exc_info=True)
            continue
        _previous[signum] = current
        installed = True
    return installed


def uninstall() -> None:
    """Put back what was there, where ours is still in place."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in list(_previous.items()):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, previous)
        del _previous[signum]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):  # the program's own handler decides what the signal means
        try:
            _nudge()
        except Exception:
            logger.debug("tradetrace: no export on %s", signum, exc_info=True)
        previous(signum, frame)
        return
    try:
        _stop(signal.Signals(signum).name)
    except Exception:  # the process is ending: nothing may stop that
        logger.debug("tradetrace: shutdown on %s failed", signum, exc_info=True)
    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
    os.kill(os.getpid(), signum)
