"""Environment variables read by tradetrace (standard ``OTEL_*`` ones keep their meaning).

An empty variable counts as unset. A true/false variable is read by :func:`flag`, which
refuses anything but the words below, naming the variable: ``TRADETRACE_FAIL_FAST=maybe``
is a mistake to report, not a quiet ``false``.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ConfigError

TRADETRACE_LEVEL = "TRADETRACE_LEVEL"
"""Global trace level: ``none``, ``minimal``, ``normal`` or ``debug``."""

TRADETRACE_CONFIG = "TRADETRACE_CONFIG"
"""Path of a YAML file with a top-level ``tracing:`` mapping."""

TRADETRACE_PROFILE = "TRADETRACE_PROFILE"
"""Instrumentation profile: ``admf``, ``demo`` or the path of a YAML profile."""

TRADETRACE_OUTPUT = "TRADETRACE_OUTPUT"
"""Folder for local trace files (the ``file`` storage backend); default
``tradetrace-traces`` in the working directory."""

TRADETRACE_STORAGE = "TRADETRACE_STORAGE"
"""Storage backend: ``file``, ``otlp``, ``memory`` or ``none``."""

TRADETRACE_RUN_ID = "TRADETRACE_RUN_ID"
"""Run id put on the resource of every span (generated when unset)."""

TRADETRACE_FLUSH_TIMEOUT = "TRADETRACE_FLUSH_TIMEOUT"
"""Seconds a flush may wait, at the end of a run and at exit (``flush_timeout_seconds``):
what is not written by then stays pending, or at exit is counted as lost."""

TRADETRACE_ENCODER = "TRADETRACE_ENCODER"
"""Where spans are built (``tracing.encoder``): ``thread`` (a thread of the traced
program, the default) or ``process`` (a helper process, off the program's GIL)."""

TRADETRACE_FAIL_FAST = "TRADETRACE_FAIL_FAST"
"""``true``: a bad setting at start-up exits with status 2 instead of running untraced, and
a run that delivered none of its spans exits with status 3 (``tracing.fail_fast``)."""

TRADETRACE_REDACT = "TRADETRACE_REDACT"
"""``false``: write payload values whose keys look secret (``api_key``, ``password``...)
as they are, instead of ``[REDACTED]``; ``true`` turns redaction on over the file's
``redact.enabled``."""

TRADETRACE_OVERLOAD = "TRADETRACE_OVERLOAD"
"""``downgrade``: step the level down while tracing cannot keep up (``off`` by default)."""

TRADETRACE_PARENT_PID = "TRADETRACE_PARENT_PID"
"""Set by a traced process for its children: a child whose parent it names is a worker
of the same run (spans carry ``trading.worker.id``)."""

TRADETRACE_JAEGER_URL = "TRADETRACE_JAEGER_URL"
"""The Jaeger UI's address (``http://localhost:16686``): ``tradetrace query trade`` then
prints where the trade is in it (``--jaeger-url`` wins). Read by that command only: this
variable alone never turns tracing on."""

#: Variables that configure a command, not tracing: alone, they start no tracing.
NOT_TRACING = frozenset({TRADETRACE_JAEGER_URL})

KNOWN = frozenset({TRADETRACE_JAEGER_URL,
    TRADETRACE_LEVEL, TRADETRACE_CONFIG, TRADETRACE_PROFILE, TRADETRACE_OUTPUT,
    TRADETRACE_STORAGE, TRADETRACE_RUN_ID, TRADETRACE_FAIL_FAST, TRADETRACE_PARENT_PID,
    TRADETRACE_OVERLOAD, TRADETRACE_REDACT, TRADETRACE_FLUSH_TIMEOUT, TRADETRACE_ENCODER,
})

OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
FLAG_ALLOWED = "true or false (also 1/0, yes/no, on/off; any case)"


def flag(env: Mapping[str, str], name: str) -> bool | None:
    """The true/false variable ``name``: None when unset or empty, else True or False;
    :class:`ConfigError` naming the variable for any other word."""
    raw = env.get(name, "")
    word = raw.strip().lower()
    if not word:
        return None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(name, raw, FLAG_ALLOWED)
