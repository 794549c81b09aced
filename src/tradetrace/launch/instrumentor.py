"""TradingInstrumentor: tradetrace as a standard OpenTelemetry instrumentation.

Registered under the ``opentelemetry_instrumentor`` entry point as ``tradetrace``, so
``opentelemetry-instrument -- python main.py`` traces an event-driven trading system with
no code change, like any contrib instrumentation (the ``--`` keeps the program's own
options, such as ``--config``, from ``opentelemetry-instrument``'s)::

    OTEL_TRACES_SAMPLER=tradetrace OTEL_TRACES_SAMPLER_ARG=minimal \\
        opentelemetry-instrument -- python main.py --config config.yaml

Where spans go: through the SDK ``TracerProvider`` that ``opentelemetry-distro`` (or the
program) configured, so ``OTEL_TRACES_EXPORTER``, the ``OTEL_EXPORTER_OTLP_*`` variables
and ``OTEL_RESOURCE_ATTRIBUTES`` apply as to every other instrumentation, unless a
tradetrace storage is named (``TRADETRACE_STORAGE``, ``TRADETRACE_OUTPUT``, or
``storage:`` in the config file), which wins. With no SDK provider at all, spans go to
tradetrace's own storage (local trace files by default).

The level: ``instrument(level=...)``, else ``TRADETRACE_LEVEL``, else
``OTEL_TRACES_SAMPLER_ARG`` when ``OTEL_TRACES_SAMPLER=tradetrace`` (a level name, or
the path of a tradetrace YAML config), else the config file, else NORMAL.

Used by hand, it is the same as :func:`tradetrace.configure` with a tracer provider:

>>> from tradetrace.launch.instrumentor import TradingInstrumentor
>>> TradingInstrumentor().instrument(level="none")
>>> TradingInstrumentor().is_instrumented_by_opentelemetry
True
>>> TradingInstrumentor().uninstrument()
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore

from .. import environment_variables as ev
from .autostart import fail, inherit_to_children, script_paths

logger = logging.getLogger(__name__)

#: Nothing to check: the instrumented "library" is the user's own trading system.
_instruments: tuple[str, ...] = ()

SAMPLER_NAME = "tradetrace"


class TradingInstrumentor(BaseInstrumentor):
    """Patches the event bus, containers and coordinator named by the profiles."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        """Keyword arguments: ``tracer_provider``, and any of :func:`tradetrace.configure`'s
        (``level``, ``config_file``, ``profile``, ``output``, ``backend``, ``retention``...).
        A bad setting prints one line and leaves the program untraced."""
        import tradetrace

        env = os.environ
        try:
            options = dict(kwargs)
            provider = options.pop("tracer_provider", None) or trace.get_tracer_provider()
            options.setdefault("search_paths", script_paths())
            sampler_level, sampler_file = sampler_settings(env)
            if options.get("level") is None and not env.get(ev.TRADETRACE_LEVEL):
                options["level"] = sampler_level
            if options.get("config_file") is None and not env.get(ev.TRADETRACE_CONFIG):
                options["config_file"] = sampler_file
            if not names_storage(options, env) and is_sdk_provider(provider):
                options["tracer_provider"] = provider
            session = tradetrace.configure(**options)
            if session.active:
                inherit_to_children(session.config.run_id)
        except Exception as exc:
            fail(exc, env)

    def _uninstrument(self, **kwargs: Any) -> None:
        import tradetrace

        tradetrace.shutdown()


def sampler_settings(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(level, config file) from ``OTEL_TRACES_SAMPLER_ARG`` when our sampler is chosen."""
    if env.get("OTEL_TRACES_SAMPLER", "").strip() != SAMPLER_NAME:
        return None, None
    arg = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    if not arg:
        return None, None
    if arg.endswith((".yaml", ".yml")) or Path(arg).is_file():
        return None, arg
    return arg, None


def names_storage(options: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    """Whether tradetrace's own storage was asked for (then it wins over the provider)."""
    if options.get("backend") or options.get("output") or options.get("exporter"):
        return True
    if env.get(ev.TRADETRACE_STORAGE) or env.get(ev.TRADETRACE_OUTPUT):
        return True
    path = options.get("config_file") or env.get(ev.TRADETRACE_CONFIG)
    if not path:
        return False
    from ..config import read_tracing_section

    return "storage" in read_tracing_section(Path(path))


def is_sdk_provider(provider: Any) -> bool:
    """The SDK's TracerProvider (spans can join its processors); not the API's no-op or
    proxy, which is what a program without any OpenTelemetry set-up has."""
    sdk = sys.modules.get("opentelemetry.sdk.trace")
    return sdk is not None and isinstance(provider, sdk.TracerProvider)
