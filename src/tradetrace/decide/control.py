"""Level control while the program runs: :meth:`LevelControl.set_level` (the user's
``tradetrace.set_level``) and the overload guard's steps down and back up.

The session holds what is configured (``wanted``) and what is in effect (``config``:
``wanted`` under the load cap); both change here, under the session's lock, and the
decision table and patches follow.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .. import conventions as conv
from ..model.record import END, LIFECYCLE, new_record
from .levels import TraceLevel
from .overload import Verdict

logger = logging.getLogger(__name__)


class LevelControl:
    """Changes a session's levels; see :meth:`set_level`."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def set_level(self, level: str | TraceLevel, containers: str | None = None) -> None:
        """Change the level everywhere, or for the containers matching the glob
        ``containers``. Reaching NONE everywhere exports what is pending and removes
        every patch; leaving NONE patches again. Raises ConfigError for a bad level or
        glob; nothing changes then."""
        session = self.session
        wanted = session.wanted.with_level(level, containers)
        with session._lock:
            if session._closed:
                return
            if session.level_cap is not None and wanted.top_level <= session.level_cap:
                session.level_cap = None  # the new levels are under the cap: nothing to lift
            config = wanted.capped(session.level_cap)
            session.wanted = wanted
            if session._worker is None:  # never started: configured at NONE
                if config.enabled:  # the profiles may bring their own trade rules
                    session.wanted = wanted = session.resolve_profiles(wanted)
                    config = wanted.capped(session.level_cap)
                    session.sink = session._make_sink()
                    session.config, session.active = config, True
                    session.start()
                else:
                    session.config = config
                return
            session.config = config
            if not config.enabled:
                session._patcher.unpatch()
                session.active = False
                session.flush()
                return
            session.table.reconfigure(config)
            session._patcher.arm(session.profiles)  # idempotent; patches what the level needs
            session.active = True

    def judge_load(self, cpu_seconds: float) -> None:
        """After each export, on the worker's thread: step the level down or up."""
        session = self.session
        guard, worker = session.overload, session._worker
        if guard is None or worker is None:
            return
        guard.worked(cpu_seconds)
        paid = session.buffers.waits + session.buffers.dropped
        at_floor = guard.at_floor
        verdict = guard.judge(paid, session.wanted.top_level, session.level_cap)
        if verdict is not None:
            self.apply_cap(verdict)
        elif guard.at_floor == 1 and at_floor == 0:  # said once; counted in stats()
            logger.warning("tradetrace: still overloaded at level %s, the lowest allowed "
                           "(tracing.overload.floor): %s", session.config.top_level.name.lower(),
                           guard.last_reason)

    def apply_cap(self, verdict: Verdict) -> None:
        session = self.session
        with session._lock:
            if session._closed or not session.active or session._patcher is None:
                return
            session.level_cap = verdict.cap
            session.config = session.wanted.capped(verdict.cap)
            session.table.reconfigure(session.config)
            if verdict.after > verdict.before:
                session._patcher.arm(session.profiles)  # DEBUG again may need handler patches
        before, after = verdict.before.name.lower(), verdict.after.name.lower()
        if verdict.after < verdict.before:
            logger.warning("tradetrace: level stepped down from %s to %s: %s (it steps back "
                           "up after %g s of calm)", before, after, verdict.reason,
                           session.config.overload.recover_seconds)
        else:
            logger.warning("tradetrace: level stepped back up from %s to %s: %s",
                           before, after, verdict.reason)
        now = time.time_ns()
        record = new_record(LIFECYCLE, (conv.LEVEL_CHANGE_SPAN_NAME, (
            (conv.LEVEL_BEFORE, before), (conv.LEVEL_AFTER, after),
            (conv.LEVEL_REASON, verdict.reason),
            (conv.LEVEL_WORKER_BUSY, round(verdict.busy, 4)),
            (conv.LEVEL_PAID, verdict.paid),
        )), None, None, now)
        record[END] = now
        session._system.add(record)
