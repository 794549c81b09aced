"""A tracing session: the whole pipeline, wired once from a resolved config.

capture (patches) -> decide (table) -> retain (buffers; trades and policies on the
worker) -> export (worker -> sink; metrics beside it).

At level NONE (or ``OTEL_SDK_DISABLED=true``) a session patches nothing and starts no
thread: the traced program runs exactly as without tradetrace.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from . import conventions as conv
from . import environment_variables as ev
from ._version import __version__
from .capture.lifecycle import lifecycle_wrapper, run_wrapper
from .capture.patcher import Patcher, function_wrapper, subscribe_wrapper, unsubscribe_wrapper
from .capture.profile import EVENT_FIELDS, Profile, resolve_profiles
from .capture.propagation import inject
from .capture.publish import traced_publish
from .capture.record import (
    END,
    KIND,
    LIFECYCLE,
    RUN,
    SUPPRESSED,
    TRADE,
    Record,
    dispatch,
    new_record,
)
from .config import TracingConfig
from .decide.levels import TraceLevel
from .decide.overload import OverloadGuard, Verdict
from .decide.table import DecisionTable
from .export.accounting import Accounting, account, account_shipped
from .export.encoder_process import EncoderLink, ShipWorker
from .export.otlp_json import RequestWriter
from .export.pipeline import encoding_figures, make_metrics, make_sink, retention_stats
from .export.sinks import NullSink, ProviderSink, SpanSink
from .export.spans import SpanEncoder
from .export.worker import ExportWorker
from .export.writer import SHUTDOWN_TIMEOUT
from .launch import children, signals
from .retain.buffer import Retention
from .retain.tail import TailRetention
from .retain.trades import TradeRules

logger = logging.getLogger(__name__)

SYSTEM_BUFFER = "tradetrace.system"  #: lifecycle and run records


class TracingSession:
    """One configured pipeline. Create it with :func:`tradetrace.configure`."""

    def __init__(
        self,
        config: TracingConfig,
        *,
        exporter: SpanExporter | None = None,
        search_paths: Iterable[str] = (),
        tracer_provider: Any = None,
        resource: Resource | None = None,
    ) -> None:
        if not config.output.is_absolute():
            # Fixed now: a program that changes its working directory later (or a forked
            # child) still writes where the start line said.
            config = replace(config, output=Path(os.path.abspath(config.output)))
        self.config = config  #: in effect: ``wanted`` under the load cap, if any
        self.wanted = config  #: as configured (and changed by set_level)
        self.level_cap: TraceLevel | None = None  #: set while overloaded (decide/overload.py)
        self.overload: OverloadGuard | None = None
        self.tracer_provider = tracer_provider
        self._given = (exporter, tuple(search_paths), tracer_provider)  # to rebuild after fork
        self.worker_id = worker_id()  #: set in a worker process of a traced parent
        self.active = config.enabled
        self.profiles: tuple[Profile, ...] = ()
        self.explicit_profile = False
        self.exporter = exporter
        self.sink: SpanSink = NullSink()
        self.resource = resource if resource is not None else _resource(config, self.worker_id)
        self.scope = InstrumentationScope("tradetrace", __version__)
        self.retention = Retention(config.publish_wait_seconds)
        self._system = self.retention.buffer_for(SYSTEM_BUFFER, 10_000)
        self._worker: ExportWorker | None = None
        #: the pipe to the encoder process, when spans are built there
        self.link: EncoderLink | None = None
        self.tail: TailRetention | None = None
        self.metrics: Any = None  #: export.metrics.TradingMetrics, when metrics are on
        self.metrics_path: Any = None
        self._patcher: Patcher | None = None
        self._closed = False
        self._final: Accounting | None = None  #: the accounting at shutdown, fixed
        self._lock = threading.Lock()
        if self.active:
            # Everything that can be a ConfigError happens here, before anything is patched.
            self.profiles, self.explicit_profile = resolve_profiles(config.profile, search_paths)
            self.sink = self._make_sink()

    # setup -----------------------------------------------------------------------------
    def start(self) -> TracingSession:
        if not self.active:
            logger.info("tradetrace: nothing to trace (level none or OTEL_SDK_DISABLED), "
                        "nothing patched")
            return self
        fields = self.profiles[0].event_fields if len(self.profiles) == 1 else EVENT_FIELDS
        self.table = DecisionTable(
            self.config,
            self.retention,
            (fields["event_type"], fields["container_id"], fields["source_id"]),
            fields,
        )
        self._fields = dict(fields)
        encoder = SpanEncoder(self.config.run_id, fields, self.config.redaction)
        request = RequestWriter(
            sorted(self.resource.attributes.items()), self.scope.name, self.scope.version or ""
        )
        if self._encodes_elsewhere:
            # The sink made above stays unused here: it named where spans go and
            # checked the settings; the encoder process makes its own from the same.
            self.link = EncoderLink(self._setup(fields), self.config.flush_timeout_seconds)
            self._worker = ShipWorker(self.retention, encoder, self.link)
            if self.config.metrics.enabled and self._metrics_backend() == "file":
                from .export.metrics import metrics_file  # written by the encoder process

                self.metrics_path = metrics_file(self.config.output, self.file_stem)
        else:
            self.metrics = self._make_metrics()
            self.tail = TailRetention(
                self.config.trade_rules or TradeRules(), self.config.limits, self.metrics
            )
            self._worker = ExportWorker(self.retention, encoder, request, self.sink,
                                        tail=self.tail)
        if self.config.overload.enabled:
            self.overload = OverloadGuard(self.config.overload)
            self._worker.after_export = self._judge_load
        self._worker.start()
        self._patcher = Patcher(self._replacement)
        self._patcher.arm(self.profiles)
        _sessions.add(self)
        flush_at_exit_first()
        flush_in_multiprocessing_workers()
        if self.config.handle_sigterm:
            signals.install(_shutdown_on_signal, _export_now)
        if self.worker_id is not None:
            children.write_report(self.config.run_id, self.worker_id, None)
        where = self.sink_description
        self._say(f"tradetrace: tracing run {self.config.run_id} at level "
                  f"{self.config.top_level.name.lower()}" + (f", {where}" if where else ""))
        return self

    def _make_sink(self) -> SpanSink:
        if self.exporter is None and self.tracer_provider is None and (
                self.config.backend == "memory"):
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )

            self.exporter = InMemorySpanExporter()
        return make_sink(self.config, self.resource, self.scope, self.file_stem,
                         self.exporter, self.tracer_provider)

    def _make_metrics(self) -> Any:
        metrics, self.metrics_path = make_metrics(
            self.config, self._metrics_backend(), self.resource, self.file_stem,
            lambda: self.table.routes, lambda: self.tail)
        return metrics

    @property
    def _encodes_elsewhere(self) -> bool:
        """Spans are built by the encoder process: asked for, and the sink is ours to
        make there (not an object of the program's: its exporter or provider)."""
        return (self.config.encoder == "process" and self.exporter is None
                and self.tracer_provider is None and self.config.backend in ("file", "otlp"))

    def _setup(self, fields: Mapping[str, str]) -> dict[str, Any]:
        """What the encoder process needs to build the same export side."""
        return {
            "config": self.config, "fields": dict(fields),
            "resource": dict(self.resource.attributes),
            "scope": (self.scope.name, self.scope.version),
            "file_stem": self.file_stem, "metrics_backend": self._metrics_backend(),
        }

    @property
    def file_stem(self) -> str:
        """Trace and metrics files are named from this: the run id, and the worker's."""
        run = self.config.run_id
        return run if self.worker_id is None else f"{run}-{self.worker_id}"

    def _metrics_backend(self) -> str:
        if self._given[0] is not None:  # the program's own SpanExporter: metrics in memory
            return "memory"
        if self.tracer_provider is not None:
            # OpenTelemetry's variable decides (opentelemetry-distro sets it to otlp); a
            # program's own provider says nothing about metrics, so none by default.
            wanted = os.environ.get("OTEL_METRICS_EXPORTER", "").strip().lower()
            return "otlp" if wanted == "otlp" else "none"
        return self.config.backend

    def _replacement(self, role: str, original: Any, profile: Profile) -> Any:
        if role == "publish":
            call = original
            if not inspect.isfunction(original):  # any other descriptor: bind per call

                def call(self: Any, *args: Any, **kwargs: Any) -> Any:
                    return original.__get__(self, type(self))(*args, **kwargs)

            return traced_publish(call, self.table, self._fields)
        if role in ("subscribe", "unsubscribe"):
            # Handlers are wrapped only when some container may get handler spans.
            return (
                function_wrapper(original, subscribe_wrapper if role == "subscribe"
                                 else unsubscribe_wrapper)
                if self.config.any_handler_spans
                else None
            )
        if role == "transport":
            return function_wrapper(original, self._transport_wrapper())
        if role == "lifecycle":
            return function_wrapper(
                original, lifecycle_wrapper(self, profile.container_id_attribute)
            )
        return function_wrapper(original, run_wrapper(self))

    # records from the cold paths (never raise) -----------------------------------------
    def begin_lifecycle(self, phase: str, container: Any, id_attribute: str) -> Record | None:
        try:
            container_id = getattr(container, id_attribute, None)
            if not isinstance(container_id, str) or self._closed:
                return None
            if self.config.policy_for(container_id).level < TraceLevel.NORMAL:
                return None
            stack = dispatch.stack
            if _suppressed(stack):
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
            if self._closed:
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
            if _suppressed(stack):
                return None
            return new_record(
                RUN, (name, tuple(attrs)), instance, stack[-1] if stack else None, time.time_ns()
            )
        except Exception:
            logger.debug("tradetrace: run record failed", exc_info=True)
            return None

    def end_record(self, record: Record) -> None:
        try:
            self._system.add(record)
            if record[KIND] is RUN and not any(r[KIND] is RUN for r in dispatch.stack):
                # The outermost run ended, and trading with it: its spans are on disk
                # when the run returns. This thread only waits (at most the flush
                # timeout) for the worker, which does the writing.
                self.finish_run()
        except Exception:
            logger.debug("tradetrace: ending a record failed", exc_info=True)

    # control ---------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Have the export worker write everything recorded so far, and wait for it;
        False if ``timeout`` passed first (nothing is lost: it stays pending)."""
        if self._worker is None:
            return True
        return self._worker.flush(self.config.flush_timeout_seconds if timeout is None else timeout)

    def finish_run(self, timeout: float | None = None) -> bool:
        """The run ended: trades still open end as incomplete (exported or dropped by
        policy), sliding windows are exported, everything is flushed, metrics too."""
        if self._worker is None:
            return True
        timeout = self.config.flush_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + timeout
        done = self._worker.flush(timeout, finish=True)
        if self.metrics is not None:  # in the time left: the run waits at most ``timeout``
            self.metrics.flush(max(0.0, deadline - time.monotonic()))
        return done

    def set_level(self, level: str | TraceLevel, containers: str | None = None) -> None:
        """Change the level while the program runs: everywhere, or for the containers
        matching the glob ``containers``. Reaching NONE everywhere exports what is
        pending and removes every patch (the cost is back to zero); leaving NONE patches
        again. Handler spans (DEBUG) need handlers subscribed while patched for DEBUG.
        Raises ConfigError for a bad level or glob; nothing changes then."""
        wanted = self.wanted.with_level(level, containers)
        with self._lock:
            if self._closed:
                return
            if self.level_cap is not None and wanted.top_level <= self.level_cap:
                self.level_cap = None  # the new levels are under the cap: nothing to lift
            config = wanted.capped(self.level_cap)
            self.wanted = wanted
            if self._worker is None:  # never started: configured at NONE
                if config.enabled:
                    self.profiles, self.explicit_profile = resolve_profiles(
                        config.profile, self._given[1])
                    self.sink = self._make_sink()
                    self.config, self.active = config, True
                    self.start()
                else:
                    self.config = config
                return
            self.config = config
            assert self._patcher is not None
            if not config.enabled:
                self._patcher.unpatch()
                self.active = False
                self.flush()
                return
            self.table.reconfigure(config)
            self._patcher.arm(self.profiles)  # idempotent; patches what the level now needs
            self.active = True

    # load ----------------------------------------------------------------------------
    def _judge_load(self, cpu_seconds: float) -> None:
        """After each export, on the worker's thread: step the level down or up."""
        guard, worker = self.overload, self._worker
        if guard is None or worker is None:
            return
        guard.worked(cpu_seconds)
        paid = self.retention.waits + self.retention.dropped
        at_floor = guard.at_floor
        verdict = guard.judge(paid, self.wanted.top_level, self.level_cap)
        if verdict is not None:
            self._apply_cap(verdict)
        elif guard.at_floor == 1 and at_floor == 0:  # said once; counted in stats()
            logger.warning("tradetrace: still overloaded at level %s, the lowest allowed "
                           "(tracing.overload.floor): %s", self.config.top_level.name.lower(),
                           guard.last_reason)

    def _apply_cap(self, verdict: Verdict) -> None:
        with self._lock:
            if self._closed or not self.active or self._patcher is None:
                return
            self.level_cap = verdict.cap
            self.config = self.wanted.capped(verdict.cap)
            self.table.reconfigure(self.config)
            if verdict.after > verdict.before:
                self._patcher.arm(self.profiles)  # DEBUG again may need handler patches
        before, after = verdict.before.name.lower(), verdict.after.name.lower()
        if verdict.after < verdict.before:
            logger.warning("tradetrace: level stepped down from %s to %s: %s (it steps back "
                           "up after %g s of calm)", before, after, verdict.reason,
                           self.config.overload.recover_seconds)
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
        self._system.add(record)

    def inject(self, event: Any) -> bool:
        """Put this event's trace context (W3C ``traceparent``) in its metadata before it
        crosses a queue or a process; the receiving bus continues the trace. False when
        nothing traced is being dispatched on this thread."""
        if self._worker is None:
            return False
        encoder = self._worker.encoder
        return inject(event, encoder.ids, lambda subject: encoder.kept(subject)[0],
                      self._fields.get("metadata", "metadata"))

    def _transport_wrapper(self) -> Any:
        """wrapt wrapper for a profile's ``transport`` methods: inject, then send."""
        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            event = args[0] if args else next(iter(kwargs.values()), None)
            if event is not None:
                self.inject(event)
            return wrapped(*args, **kwargs)

        return wrapper

    # processes -------------------------------------------------------------------------
    def _before_fork(self) -> None:
        """Give the records in flight on this thread their ids, so that a forked child's
        events continue their trace. Nothing else: no lock the worker could hold across
        I/O is taken (files hold no buffer in this process to be inherited)."""
        worker = self._worker
        if worker is not None:
            for record in dispatch.stack:
                if record is not SUPPRESSED:
                    try:
                        worker.encoder.ids(record)
                    except Exception:
                        logger.debug("tradetrace: no ids before fork", exc_info=True)

    def _after_fork_in_child(self) -> TracingSession | None:
        """The child inherits this session's patches and buffers but none of its threads.
        Buffers belong to the parent (it exports them); the child gets its own session,
        files and worker, as a worker of the same run."""
        self._closed = True
        _sessions.discard(self)
        if self._patcher is not None:
            self._patcher.after_fork()
            self._patcher.unpatch()
        if self.metrics is not None:
            self.metrics.abandon()
        forget = getattr(self.sink, "forget", None)
        if forget is not None:  # the parent's open file or connection is the parent's
            forget()
        if self.link is not None:  # and so is its encoder process
            self.link.forget()
        for record in dispatch.stack:  # causes from the parent: settled, never exported
            if record[TRADE] is None:
                record[TRADE] = 0
        if not self.active:
            return None
        exporter, search_paths, provider = self._given
        os.environ[ev.TRADETRACE_PARENT_PID] = str(os.getppid())
        # Resource.create runs detectors on a thread pool, whose lock may be held in a
        # child until its own after-fork handler runs: derive the resource instead.
        identity = {conv.WORKER_ID: worker_id(), "process.pid": os.getpid(),
                    "process.parent_pid": os.getppid()}
        child = TracingSession(self.wanted, exporter=exporter, search_paths=search_paths,
                               tracer_provider=provider,
                               resource=self.resource.merge(Resource(identity)))
        return child.start()

    def shutdown(self, timeout: float | None = None, reason: str = "") -> bool:
        """Remove every patch, have the worker export what is pending (within the flush
        timeout) and close the sink, then state the accounting in one line. Idempotent."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        if self._patcher is not None:
            self._patcher.unpatch()
        done = True
        timeout = self.config.flush_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if self._worker is not None:
            done = self._worker.shutdown(timeout)
        # Past the deadline the worker writes nothing more: what is still pending now
        # was not written, and the accounting is fixed as it stands.
        self._final = self.accounting().closed(SHUTDOWN_TIMEOUT)
        if self.metrics is not None:  # in the time left: the exit waits at most ``timeout``
            self.metrics.shutdown(max(0.0, deadline - time.monotonic()))
        _sessions.discard(self)
        if not _sessions and not reason:  # (a signal being handled re-raises by itself)
            signals.uninstall()
        if self._worker is not None:
            self._report(reason)
        return done

    def accounting(self) -> Accounting:
        """Where every recorded span is now (export/accounting.py); fixed at shutdown."""
        if self._final is not None:
            return self._final
        if self.link is not None and self._worker is not None:
            return account_shipped(self.retention, self._worker, self.link.figures)
        return account(self.retention, self._worker, self.tail)

    def _report(self, reason: str) -> None:
        """The exit line: the accounting, and the workers' if this process had any. A
        warning when anything was lost or left unwritten, else an info line."""
        final = self.accounting()
        where = self.sink_description
        line = f"tradetrace: run {self.config.run_id}" + (
            f" ({where})" if where else "") + (f", stopped by {reason}" if reason else "")
        line += ": " + final.sentence()
        there = self._encoder_report()
        stats = self._worker.stats if self._worker is not None else None
        last_error = there.get("last_error") or (stats.last_error if stats else "")
        if last_error and final.lost:
            line += f"; last export error: {last_error}"
        metrics = (self.metrics.accounting() if self.metrics is not None
                   else there.get("metrics") or {})
        metrics_lost = metrics.get("failed", 0) + metrics.get("unfinished", 0) + (
            metrics.get("final_export_done") is False)
        if metrics_lost:
            line += "; " + _metrics_sentence(metrics)
        workers = children.collect_reports(self.config.run_id)
        workers_text = workers.sentence()
        if workers_text:
            line += "; " + workers_text
        if self.worker_id is not None:
            children.write_report(self.config.run_id, self.worker_id, final.as_dict())
        bad = final.lost or final.derived_lost or metrics_lost or workers.unknown or sum(
            n for r, n in workers.dropped.items() if r != "retention_policy")
        if final.recorded or workers_text:  # a session that saw nothing has nothing to say
            self._say(line, logging.WARNING if bad else logging.INFO)

    def _say(self, line: str, level: int = logging.INFO) -> None:
        """The start and exit lines. Through logging when the program configured it (its
        levels and handlers decide), else on stderr, so that where the spans went is seen
        by default. A worker process only logs: its parent's lines speak for the run."""
        if self.worker_id is not None or logger.hasHandlers():
            logger.log(level, "%s", line)
        else:
            print(line, file=sys.stderr, flush=True)

    @property
    def sink_description(self) -> str:
        file = getattr(self.sink, "file", None)
        if file is not None:
            return f"files in {file.folder}"
        if isinstance(self.sink, ProviderSink):
            return self.sink.description
        if self.exporter is not None:
            return type(self.exporter).__name__
        endpoint = getattr(self.sink, "endpoint", None)
        if endpoint:
            return f"OTLP to {endpoint}"
        protocol = getattr(self.sink, "protocol", None)
        return f"OTLP ({protocol})" if protocol else ""

    @property
    def patched(self) -> list[str]:
        return self._patcher.patched if self._patcher is not None else []

    def stats(self) -> dict[str, Any]:
        """The session's figures. ``accounting`` is the identity every recorded span
        keeps: ``recorded = exported + sum(dropped.values()) + pending``."""
        from .capture.publish import PublishStats
        from .capture.snapshot import SnapshotStats
        worker = self._worker.stats if self._worker is not None else None
        accounting = self.accounting()
        there = self._encoder_report()
        encoding = encoding_figures()
        if self.link is not None:  # spans were built (and counted) in the encoder process
            encoding = {key: there.get(key, value) for key, value in encoding.items()}
            figures = {"spans_exported": accounting.exported + accounting.derived_exported,
                       "export_errors": there.get("export_errors", 0),
                       "build_errors": there.get("build_errors", 0)}
        else:
            figures = {"spans_exported": worker.spans_exported if worker else 0,
                       "export_errors": worker.export_errors if worker else 0,
                       "build_errors": worker.build_errors if worker else 0}
        return {
            "level": self.config.level.name.lower(),
            "level_cap": self.level_cap.name.lower() if self.level_cap is not None else None,
            "level_downgrades": self.overload.downgrades if self.overload else 0,
            "overloaded_at_floor": self.overload.at_floor if self.overload else 0,
            "run_id": self.config.run_id,
            "patched": len(self.patched),
            "cannot_patch": list(self._patcher.unpatchable) if self._patcher else [],
            "targets_missing": list(self._patcher.missing) if self._patcher else [],
            "accounting": accounting.as_dict(),
            **figures,  # spans_exported counts trade spans too
            "spans_lost": accounting.lost + accounting.derived_lost,
            "pending": accounting.pending,
            "publisher_waits": self.retention.waits,  #: a full buffer waited for the worker
            "publisher_waits_in_vain": self.retention.waits_in_vain,
            **encoding,
            "snapshots_truncated": SnapshotStats.truncated,
            "undecidable_events": PublishStats.undecidable,
            "overflow_events": self.table.overflow_events if hasattr(self, "table") else 0,
            "retention": retention_stats(self.tail) if self.link is None
            else there.get("retention", {}),
            "metrics": self.metrics.accounting() if self.metrics is not None
            else there.get("metrics"),
            "metrics_file": str(self.metrics_path) if self.metrics_path
            else there.get("metrics_file"),
            "trace_files": [str(p) for p in getattr(getattr(self.sink, "file", None), "paths", [])]
            or there.get("trace_files", []),
            "encoder": self.config.encoder if self.link is not None else "thread",
        }

    def _encoder_report(self) -> dict[str, Any]:
        """The encoder process's last report ({} when spans are built here)."""
        if self.link is None:
            return {}
        report: dict[str, Any] = self.link.figures()["report"]
        return report


def _metrics_sentence(metrics: dict[str, Any]) -> str:
    """``metrics: 2 of 3 exports failed, the last not done by the exit deadline (last
    error: ...)``."""
    failed = metrics["failed"]
    parts = [f"{failed} of {metrics['exports'] + failed} exports failed"] if failed else []
    if metrics["final_export_done"] is False or metrics["unfinished"]:
        parts.append("the last not done by the exit deadline")
    error = f" (last error: {metrics['last_error']})" if metrics["last_error"] else ""
    return "metrics: " + ", ".join(parts) + error


def _suppressed(stack: list[Any]) -> bool:
    return bool(stack) and stack[-1] is SUPPRESSED or not is_instrumentation_enabled()


def worker_id() -> str | None:
    """``w<pid>`` in a process started (spawned, forked or run) by a traced parent."""
    parent = os.environ.get(ev.TRADETRACE_PARENT_PID)
    if parent and parent == str(os.getppid()):
        return f"w{os.getpid()}"
    return None


def _resource(config: TracingConfig, worker: str | None = None) -> Resource:
    """SDK resource: OTEL_RESOURCE_ATTRIBUTES, then our service name and run id on top,
    and the process (with the worker id in a worker process of a traced parent)."""
    attributes: dict[str, Any] = {conv.RUN_ID: config.run_id, "process.pid": os.getpid()}
    if worker is not None:
        attributes[conv.WORKER_ID] = worker
        attributes["process.parent_pid"] = os.getppid()
    if config.service_name is not None:
        attributes["service.name"] = config.service_name
    resource = Resource.create(attributes)
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "trading"}))
    return resource


_sessions: weakref.WeakSet[TracingSession] = weakref.WeakSet()


def _before_fork() -> None:
    for session in list(_sessions):
        session._before_fork()


def _after_fork_in_child() -> None:
    import tradetrace

    for session in list(_sessions):
        try:
            child = session._after_fork_in_child()
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

    util.Finalize(None, _flush_at_exit, exitpriority=-100)


def flush_at_exit_first() -> None:
    """Have the exit flush run before every exit handler registered so far (atexit runs
    the last registered first). Among those is the ``TracerProvider`` this session may
    feed: the SDK shuts its exporters down at exit, and spans flushed after that would
    only fail."""
    atexit.unregister(_flush_at_exit)
    atexit.register(_flush_at_exit)


def _flush_at_exit(reason: str = "") -> None:
    for session in list(_sessions):
        try:
            session.shutdown(reason=reason)
        except Exception:  # never turn a clean exit into a traceback
            logger.debug("tradetrace: shutdown at exit failed", exc_info=True)


def _shutdown_on_signal(name: str) -> None:
    """SIGTERM with its default action (launch/signals.py): the process ends next."""
    _flush_at_exit(name)


def _export_now() -> None:
    """A signal the program handles itself: export now, wait for nothing."""
    for session in list(_sessions):
        if session._worker is not None:
            session._worker.nudge()
