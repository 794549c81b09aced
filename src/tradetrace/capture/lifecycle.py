"""Container lifecycle steps and coordinator runs as spans (cold paths, wrapt wrappers)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from .record import Record, call_recorded

logger = logging.getLogger(__name__)


class RecordSink(Protocol):
    """What the wrappers need from a tracing session; none of these may raise."""

    def begin_lifecycle(self, phase: str, container: Any, id_attribute: str) -> Record | None: ...
    def begin_run(self, method: str, instance: Any, args: Any, kwargs: Any) -> Record | None: ...
    def end_record(self, record: Record) -> None: ...


def lifecycle_wrapper(session: RecordSink, id_attribute: str) -> Callable[..., Any]:
    """wrapt wrapper for ``Container.<phase>``: one span per lifecycle step."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        record = session.begin_lifecycle(wrapped.__name__, instance, id_attribute)
        return call_recorded(record, wrapped, args, kwargs, session.end_record)

    return wrapper


def run_wrapper(session: RecordSink) -> Callable[..., Any]:
    """wrapt wrapper for the coordinator's entry points: a run span, flushed at its end."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        record = session.begin_run(wrapped.__name__, instance, args, kwargs)
        return call_recorded(record, wrapped, args, kwargs, session.end_record)

    return wrapper
