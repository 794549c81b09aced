"""What a session says: where spans go, its figures (``tradetrace.stats()``) and the exit
line (the accounting, ``recorded = exported + dropped + pending``).

When spans are built in the encoder process, its last report (sent over the pipe)
supplies the figures counted there.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from .export.backends import backend
from .export.pipeline import encoding_figures, retention_stats
from .export.sinks import ProviderSink
from .launch import children

logger = logging.getLogger("tradetrace.session")


def sink_description(session: Any) -> str:
    """``files in ...``, ``OTLP to ...``, the program's exporter or provider."""
    sink = session.sink
    if isinstance(sink, ProviderSink):
        return sink.description
    if session._given[0] is not None:  # the program's own SpanExporter
        return type(session._given[0]).__name__
    if session.tracer_provider is None:
        return backend(session.config.backend).describe(sink)
    return ""


def encoder_report(session: Any) -> dict[str, Any]:
    """The encoder process's last report ({} when spans are built here)."""
    if session.link is None:
        return {}
    report: dict[str, Any] = session.link.figures()["report"]
    return report


def session_stats(session: Any) -> dict[str, Any]:
    """The session's figures; see :meth:`tradetrace.session.TracingSession.stats`."""
    from .capture.publish import PublishStats
    from .model.snapshot import SnapshotStats
    worker = session._worker.stats if session._worker is not None else None
    accounting = session.accounting()
    there = encoder_report(session)
    encoding = encoding_figures()
    if session.link is not None:  # spans were built (and counted) in the encoder process
        encoding = {key: there.get(key, value) for key, value in encoding.items()}
        figures = {"spans_exported": accounting.exported + accounting.derived_exported,
                   "export_errors": there.get("export_errors", 0),
                   "build_errors": there.get("build_errors", 0)}
    else:
        figures = {"spans_exported": worker.spans_exported if worker else 0,
                   "export_errors": worker.export_errors if worker else 0,
                   "build_errors": worker.build_errors if worker else 0}
    patcher, overload = session._patcher, session.overload
    return {
        "level": session.config.level.name.lower(),
        "level_cap": session.level_cap.name.lower() if session.level_cap is not None else None,
        "level_downgrades": overload.downgrades if overload else 0,
        "overloaded_at_floor": overload.at_floor if overload else 0,
        "run_id": session.config.run_id,
        "patched": len(session.patched),
        "cannot_patch": list(patcher.unpatchable) if patcher else [],
        "targets_missing": list(patcher.missing) if patcher else [],
        "accounting": accounting.as_dict(),
        **figures,  # spans_exported counts trade spans too
        "spans_lost": accounting.lost + accounting.derived_lost,
        "pending": accounting.pending,
        "publisher_waits": session.buffers.waits,  #: a full buffer waited for the worker
        "publisher_waits_in_vain": session.buffers.waits_in_vain,
        **encoding,
        "snapshots_truncated": SnapshotStats.truncated,
        "undecidable_events": PublishStats.undecidable,
        #: spans without payload attributes: a payload that could not be copied or read
        "payloads_unreadable": PublishStats.unsnapshotable + SnapshotStats.unreadable,
        "overflow_events": session.table.overflow_events if hasattr(session, "table") else 0,
        "retention": retention_stats(session.tail) if session.link is None
        else there.get("retention", {}),
        "metrics": session.metrics.accounting() if session.metrics is not None
        else there.get("metrics"),
        "metrics_file": str(session.metrics_path) if session.metrics_path
        else there.get("metrics_file"),
        "trace_files": [str(p) for p in getattr(getattr(session.sink, "file", None), "paths", [])]
        or there.get("trace_files", []),
        "encoder": session.config.encoder if session.link is not None else "thread",
    }


def report_exit(session: Any, reason: str) -> None:
    """The exit line: the accounting, and the workers' if this process had any. A
    warning when anything was lost or left unwritten, else an info line; an error when
    nothing was delivered, and then with ``fail_fast`` the process ends with status 3."""
    final = session.accounting()
    where = sink_description(session)
    line = f"tradetrace: run {session.config.run_id}" + (
        f" ({where})" if where else "") + (f", stopped by {reason}" if reason else "")
    line += ": " + final.sentence()
    there = encoder_report(session)
    stats = session._worker.stats if session._worker is not None else None
    last_error = there.get("last_error") or (stats.last_error if stats else "")
    if last_error and final.lost:
        line += f"; last export error: {last_error}"
    metrics = (session.metrics.accounting() if session.metrics is not None
               else there.get("metrics") or {})
    metrics_lost = metrics.get("failed", 0) + metrics.get("unfinished", 0) + (
        metrics.get("final_export_done") is False)
    if metrics_lost:
        line += "; " + _metrics_sentence(metrics)
    workers = children.collect_reports(session.config.run_id)
    workers_text = workers.sentence()
    if workers_text:
        line += "; " + workers_text
    if session.worker_id is not None:
        children.write_report(session.config.run_id, session.worker_id, final.as_dict())
    bad = final.lost or final.derived_lost or metrics_lost or workers.unknown or sum(
        n for r, n in workers.dropped.items() if r != "retention_policy")
    if final.recorded or workers_text:  # a session that saw nothing has nothing to say
        say(session, line, logging.WARNING if bad else logging.INFO)
    if nothing_delivered(final):
        say(session, _nothing_delivered_line(session, final), logging.ERROR)
        if session.config.fail_fast:
            from .launch.process_hooks import end_with_status

            end_with_status(NOTHING_DELIVERED_STATUS)


#: The process's exit status when fail_fast is on and a run delivered none of its spans
#: (2 is a bad setting at start-up, launch/autostart.py).
NOTHING_DELIVERED_STATUS = 3


def nothing_delivered(final: Any) -> bool:
    """Spans were to be delivered and not one was: every span lost (a receiver down or
    refusing, a full disk), none exported. Drops a retention policy chose are no failure."""
    return (final.exported + final.derived_exported == 0
            and final.lost + final.derived_lost > 0)


def _nothing_delivered_line(session: Any, final: Any) -> str:
    lost = final.lost + final.derived_lost
    where = sink_description(session) or "the sink"
    line = (f"tradetrace: NOTHING DELIVERED: none of the {lost} spans of run "
            f"{session.config.run_id} reached {where}; check that the receiver is up "
            "and reachable (docs/production.md)")
    if session.config.fail_fast:
        line += f"; fail_fast: the process exits with status {NOTHING_DELIVERED_STATUS}"
    return line


def say(session: Any, line: str, level: int = logging.INFO) -> None:
    """The start and exit lines. Through logging when the program configured it (its
    levels and handlers decide), else on stderr, so that where the spans went is seen
    by default. A worker process only logs: its parent's lines speak for the run."""
    if session.worker_id is not None or logger.hasHandlers():
        logger.log(level, "%s", line)
    else:
        print(line, file=sys.stderr, flush=True)


def _metrics_sentence(metrics: dict[str, Any]) -> str:
    """``metrics: 2 of 3 exports failed, the last not done by the exit deadline (last
    error: ...)``."""
    failed = metrics["failed"]
    parts = [f"{failed} of {metrics['exports'] + failed} exports failed"] if failed else []
    if metrics["final_export_done"] is False or metrics["unfinished"]:
        parts.append("the last not done by the exit deadline")
    error = f" (last error: {metrics['last_error']})" if metrics["last_error"] else ""
    return "metrics: " + ", ".join(parts) + error
