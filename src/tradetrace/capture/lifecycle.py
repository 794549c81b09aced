"""Container lifecycle steps and coordinator runs as spans (cold paths, wrapt wrappers).

:class:`SystemRecords` makes their records: a lifecycle step of a container traced at
NORMAL or above, and each coordinator run, both into the session's system buffer. The
outermost run's end is the end of trading: it finishes the run (open trades end,
everything is flushed) before the run returns to the program.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from .. import conventions as conv
from ..decide.levels import TraceLevel
from ..model.record import (
    KIND,
    LIFECYCLE,
    RUN,
    SUPPRESSED,
    Record,
    call_recorded,
    dispatch,
    new_record,
)

logger = logging.getLogger(__name__)


class RecordSink(Protocol):
    """What the wrappers need; none of these may raise."""

    def begin_lifecycle(self, phase: str, container: Any, id_attribute: str) -> Record | None: ...
    def begin_run(self, method: str, instance: Any, args: Any, kwargs: Any) -> Record | None: ...
    def end_record(self, record: Record) -> None: ...


class SystemRecords:
    """Lifecycle and run records of one session (a :class:`RecordSink`)."""

    def __init__(self, session: Any) -> None:
        #: the session: its ``config``, ``_closed``, ``_system`` buffer and ``finish_run``
        self.session = session

    def begin_lifecycle(self, phase: str, container: Any, id_attribute: str) -> Record | None:
        try:
            session = self.session
            container_id = getattr(container, id_attribute, None)
            if not isinstance(container_id, str) or session._closed:
                return None
            if session.config.policy_for(container_id).level < TraceLevel.NORMAL:
                return None
            stack = dispatch.stack
            if suppressed(stack):
                return None
            route = (
                f"container.{phase}",
                ((conv.CONTAINER_ID, container_id), (conv.LIFECYCLE_PHASE, phase)),
            )
            return new_record(
                LIFECYCLE, route, container, stack[-1] if stack else None, time.time_ns()
            )
        except Exception:
            logger.debug("tradetrace: lifecycle record failed", exc_info=True)
            return None

    def begin_run(self, method: str, instance: Any, args: Any, kwargs: Any) -> Record | None:
        try:
            if self.session._closed:
                return None
            attrs: list[tuple[str, Any]] = []
            topology = args[0] if args and isinstance(args[0], str) else kwargs.get("topology_name")
            if isinstance(topology, str):
                attrs.append((conv.TOPOLOGY, topology))
            execution = kwargs.get("execution_id") or kwargs.get("workflow_id")
            if execution is None and len(args) >= 3:  # run_topology(name, config, exec_id)
                execution = args[2]
            if isinstance(execution, str):
                attrs.append((conv.EXECUTION_ID, execution))
            name = f"{type(instance).__name__}.{method}"
            stack = dispatch.stack
            if suppressed(stack):
                return None
            return new_record(
                RUN, (name, tuple(attrs)), instance, stack[-1] if stack else None, time.time_ns()
            )
        except Exception:
            logger.debug("tradetrace: run record failed", exc_info=True)
            return None

    def end_record(self, record: Record) -> None:
        try:
            self.session._system.add(record)
            if record[KIND] is RUN and not any(r[KIND] is RUN for r in dispatch.stack):
                # The outermost run ended, and trading with it: its spans are on disk
                # when the run returns. This thread only waits (at most the flush
                # timeout) for the worker, which does the writing.
                self.session.finish_run()
        except Exception:
            logger.debug("tradetrace: ending a record failed", exc_info=True)


def suppressed(stack: list[Any]) -> bool:
    """Tracing is suppressed here: inside our own export, or OpenTelemetry's
    ``suppress_instrumentation``."""
    return bool(stack) and stack[-1] is SUPPRESSED or not is_instrumentation_enabled()


def lifecycle_wrapper(records: RecordSink, id_attribute: str) -> Callable[..., Any]:
    """wrapt wrapper for ``Container.<phase>``: one span per lifecycle step."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        record = records.begin_lifecycle(wrapped.__name__, instance, id_attribute)
        return call_recorded(record, wrapped, args, kwargs, records.end_record)

    return wrapper


def run_wrapper(records: RecordSink) -> Callable[..., Any]:
    """wrapt wrapper for the coordinator's entry points: a run span, flushed at its end."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        record = records.begin_run(wrapped.__name__, instance, args, kwargs)
        return call_recorded(record, wrapped, args, kwargs, records.end_record)

    return wrapper
