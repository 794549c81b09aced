"""A tracing session: the whole pipeline, wired once from a resolved config.

capture (patches) -> decide (table) -> retain (buffers; trades and policies on the
worker) -> export (worker -> sink; metrics beside it).

At level NONE (or ``OTEL_SDK_DISABLED=true``) a session patches nothing and starts no
thread: the traced program runs exactly as without tradetrace.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from ._version import __version__
from .capture.lifecycle import SystemRecords
from .capture.listener import Listeners
from .capture.patcher import Patcher
from .capture.profile import Profile, resolve_profiles
from .capture.recorder import Recorder
from .capture.roles import inject_context, replacement
from .config import TracingConfig
from .decide.control import LevelControl
from .decide.levels import TraceLevel
from .decide.overload import OverloadGuard
from .decide.table import DecisionTable
from .export.accounting import Accounting, account, account_shipped, lost_outside_retention
from .export.backends import backend
from .export.encoder_process import EncoderLink, ShipWorker
from .export.pipeline import make_metrics, make_resource, make_sink
from .export.sinks import NullSink, SpanSink
from .export.spans import SpanEncoder
from .export.worker import ExportWorker
from .export.writer import SHUTDOWN_TIMEOUT
from .launch import children, signals
from .launch import process_hooks as hooks
from .model.events import DEFAULT_ADAPTER
from .model.otlp_json import RequestWriter
from .reporting import report_exit, say, session_stats, sink_description
from .retain.buffer import ContainerBuffers
from .retain.tail import TailRetention
from .retain.trades import TradeRules

logger = logging.getLogger(__name__)

SYSTEM_BUFFER = "tradetrace.system"  #: lifecycle and run records


class TracingSession:
    """One configured pipeline. Create it with :func:`tradetrace.configure`."""

    def __init__(self, config: TracingConfig, *, exporter: SpanExporter | None = None,
                 search_paths: Iterable[str] = (), tracer_provider: Any = None,
                 resource: Resource | None = None) -> None:
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
        self.worker_id = hooks.worker_id()  #: set in a worker process of a traced parent
        self.active = config.enabled
        self.profiles: tuple[Profile, ...] = ()
        self.explicit_profile = False
        self.exporter = exporter
        self.sink: SpanSink = NullSink()
        self.resource = resource if resource is not None else make_resource(config, self.worker_id)
        self.scope = InstrumentationScope("tradetrace", __version__)
        self.buffers = ContainerBuffers(config.publish_wait_seconds)
        self._system = self.buffers.buffer_for(SYSTEM_BUFFER, 10_000)
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
        self.records = SystemRecords(self)  #: lifecycle and run records (capture/lifecycle.py)
        self.listeners = Listeners(self)  #: buses subscribed to (capture/listener.py)
        self.recorder: Recorder | None = None  #: record(), dispatching() (capture/recorder.py)
        self.control = LevelControl(self)  #: set_level and overload steps (decide/control.py)
        if self.active:
            # Everything that can be a ConfigError happens here, before anything is patched.
            self.config = self.wanted = self.resolve_profiles(config)
            self.sink = self._make_sink()

    def resolve_profiles(self, config: TracingConfig) -> TracingConfig:
        """The profiles ``config`` names, found on the search paths (a ConfigError if not);
        ``config`` with a lone profile's own trade rules unless ``tracing.trades`` is set."""
        self.profiles, self.explicit_profile = resolve_profiles(config.profile, self._given[1])
        rules = self.profiles[0].trades if len(self.profiles) == 1 else None
        if rules is None or config.trades_given:
            return config
        return replace(config, trade_rules=rules)

    # setup -----------------------------------------------------------------------------
    def start(self) -> TracingSession:
        if not self.active:
            logger.info("tradetrace: nothing to trace (level none or OTEL_SDK_DISABLED), "
                        "nothing patched")
            return self
        # one adapter reads every profile's events (the first profile's, if it is alone)
        self.adapter = self.profiles[0].adapter() if len(self.profiles) == 1 else DEFAULT_ADAPTER
        self.table = DecisionTable(self.config, self.buffers, self.adapter)
        self.recorder = Recorder(self.table, self.adapter)
        encoder = SpanEncoder(self.config.run_id, self.adapter, self.config.redaction)
        request = RequestWriter(
            sorted(self.resource.attributes.items()), self.scope.name, self.scope.version or ""
        )
        if self._encodes_elsewhere:
            # The sink made above stays unused here: it named where spans go and
            # checked the settings; the encoder process makes its own from the same.
            self.link = EncoderLink(self._setup(), self.config.flush_timeout_seconds)
            self._worker = ShipWorker(self.buffers, encoder, self.link)
            if self.config.metrics.enabled and self._metrics_backend() == "file":
                from .export.metrics import metrics_file  # written by the encoder process

                self.metrics_path = metrics_file(self.config.output, self.file_stem)
        else:
            self.metrics = self._make_metrics()
            self.tail = TailRetention(
                self.config.trade_rules or TradeRules(), self.config.limits, self.metrics
            )
            self._worker = ExportWorker(self.buffers, encoder, request, self.sink,
                                        tail=self.tail)
        if self.config.overload.enabled:
            self.overload = OverloadGuard(self.config.overload)
            self._worker.after_export = self._judge_load
        self._worker.start()
        self._patcher = Patcher(self._replacement)
        self._patcher.arm(self.profiles)
        hooks.sessions.add(self)
        hooks.flush_at_exit_first()
        hooks.flush_in_multiprocessing_workers()
        if self.config.handle_sigterm:
            signals.install(hooks.shutdown_on_signal, hooks.export_now)
        if self.worker_id is not None:
            children.write_report(self.config.run_id, self.worker_id, None)
        where = self.sink_description
        say(self, f"tradetrace: tracing run {self.config.run_id} at level "
                  f"{self.config.top_level.name.lower()}" + (f", {where}" if where else ""))
        return self

    def _make_sink(self) -> SpanSink:
        sink = make_sink(self.config, self.resource, self.scope, self.file_stem,
                         self._given[0], self.tracer_provider)
        if self._given[0] is None and self.config.backend == "memory":
            self.exporter = getattr(sink, "exporter", None)  # for the program to read
        return sink

    def _make_metrics(self) -> Any:
        metrics, self.metrics_path = make_metrics(
            self.config, self._metrics_backend(), self.resource, self.file_stem,
            lambda: self.table.routes, lambda: self.tail,
            lambda: lost_outside_retention(self.accounting()))
        return metrics

    @property
    def _encodes_elsewhere(self) -> bool:
        """Spans are built by the encoder process: asked for, and the sink is ours to
        make there (not an object of the program's: its exporter or provider)."""
        return (self.config.encoder == "process" and self._given[0] is None
                and self.tracer_provider is None
                and backend(self.config.backend).encodes_elsewhere)

    def _setup(self) -> dict[str, Any]:
        """What the encoder process needs to build the same export side."""
        return {
            "config": self.config, "adapter": self.adapter,
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

    def _replacement(self, role: str, original: Any, profile: Profile, target: Any) -> Any:
        return replacement(self, self.records, role, original, profile, target)

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
        self.control.set_level(level, containers)

    def _judge_load(self, cpu_seconds: float) -> None:
        self.control.judge_load(cpu_seconds)

    def inject(self, event: Any) -> bool:
        """Put this event's trace context (W3C ``traceparent``) in its metadata before it
        crosses a queue or a process; the receiving bus continues the trace. False when
        nothing traced is being dispatched on this thread."""
        return inject_context(self, event)

    def shutdown(self, timeout: float | None = None, reason: str = "") -> bool:
        """Remove every patch, have the worker export what is pending (within the flush
        timeout) and close the sink, then state the accounting in one line. Idempotent."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
        if self._patcher is not None:
            self._patcher.unpatch()
        self.recorder = None  # record() and the buses' capture handler record nothing more
        self.listeners.close()
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
        hooks.sessions.discard(self)
        if not hooks.sessions and not reason:  # (a signal being handled re-raises by itself)
            signals.uninstall()
        if self._worker is not None:
            report_exit(self, reason)
        return done

    def accounting(self) -> Accounting:
        """Where every recorded span is now (export/accounting.py); fixed at shutdown."""
        if self._final is not None:
            return self._final
        if self.link is not None and self._worker is not None:
            return account_shipped(self.buffers, self._worker, self.link.figures)
        return account(self.buffers, self._worker, self.tail)

    @property
    def sink_description(self) -> str:
        return sink_description(self)

    @property
    def patched(self) -> list[str]:
        return self._patcher.patched if self._patcher is not None else []

    def stats(self) -> dict[str, Any]:
        """The session's figures. ``accounting`` is the identity every recorded span
        keeps: ``recorded = exported + sum(dropped.values()) + pending``."""
        return session_stats(self)
