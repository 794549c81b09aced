"""Start tracing from the environment, with no change to the traced program.

Called at interpreter start by the ``tradetrace-autostart.pth`` line that ``pip install
tradetrace`` puts in site-packages (and by the ``sitecustomize`` that ``tradetrace run``
puts on ``PYTHONPATH``, for checkouts that are not installed). The ``.pth`` line imports
this module only when some ``TRADETRACE_*`` variable is set, so an unset environment
costs one scan of the variable names.

A bad setting prints one line on stderr and the program runs untraced: tracing must
never stop trading. ``TRADETRACE_FAIL_FAST=true`` makes it exit with status 2 instead.
Under ``opentelemetry-instrument`` this hook steps aside: OpenTelemetry's own loader
runs :class:`tradetrace.launch.instrumentor.TradingInstrumentor`, which reads the same
variables, so the program is never instrumented twice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from .. import environment_variables as ev

PREFIX = "TRADETRACE_"
#: Commands that only start another program (or read trace files): never traced.
LAUNCHERS = frozenset({"opentelemetry-instrument", "tradetrace"})
LAUNCHER_MODULES = frozenset({"tradetrace", "tradetrace.cli.main",
                              "opentelemetry.instrumentation.auto_instrumentation"})
#: The interpreter's options whose value is the next argument.
_OPTIONS_WITH_VALUE = frozenset({"-W", "-X", "--check-hash-based-pycs"})
_started = False


def start(env: Mapping[str, str] | None = None) -> None:
    """Configure tracing from ``TRADETRACE_*`` variables, once per process. Never raises
    (unless ``TRADETRACE_FAIL_FAST`` is set, which exits the process with status 2)."""
    global _started
    if _started:
        return
    _started = True
    env = os.environ if env is None else env
    try:
        if (not any(name.startswith(PREFIX) and name not in ev.NOT_TRACING for name in env)
                or otel_will_instrument(env)
                or is_launcher()):
            return
        ev.flag(env, ev.TRADETRACE_FAIL_FAST)  # a garbled switch is reported, not ignored
        check_variable_names(env)
        import tradetrace
        from tradetrace.config import load_config

        config = load_config()  # every setting checked, whatever the level
        if not config.enabled:  # level NONE: the session, which would patch nothing, and
            tradetrace._defer(config, script_paths())  # its imports wait until asked for
            return
        session = tradetrace._start(config, script_paths())
        if session.active:
            inherit_to_children(session.config.run_id)
    except BaseException as exc:  # ConfigError or anything else: run untraced
        fail(exc, env)


def fail(exc: BaseException, env: Mapping[str, str]) -> None:
    message = str(exc) or type(exc).__name__
    print(f"tradetrace: tracing disabled: {message}", file=sys.stderr, flush=True)
    if fail_fast(env):
        os._exit(2)  # SystemExit would be swallowed by site's .pth processing


def fail_fast(env: Mapping[str, str]) -> bool:
    """Whether ``TRADETRACE_FAIL_FAST`` asks to exit on a bad setting. A value that is
    neither true nor false was itself the bad setting reported (start() and load_config()
    check it first): the program then runs untraced, as without the switch."""
    try:
        return ev.flag(env, ev.TRADETRACE_FAIL_FAST) is True
    except ValueError:
        return False


def check_variable_names(env: Mapping[str, str]) -> None:
    """A misspelt variable would silently trace with defaults: name it instead."""
    import difflib

    for name in sorted(env):
        if name.startswith(PREFIX) and name not in ev.KNOWN:
            close = difflib.get_close_matches(name, ev.KNOWN, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(
                f"unknown variable {name} ({hint}known: {', '.join(sorted(ev.KNOWN))})"
            )


def otel_will_instrument(env: Mapping[str, str]) -> bool:
    """Whether ``opentelemetry-instrument`` started this process: its sitecustomize is on
    PYTHONPATH. Then OpenTelemetry's switches decide (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``
    included), through our instrumentor."""
    marker = os.sep + os.path.join("opentelemetry", "instrumentation", "auto_instrumentation")
    return any(
        path.rstrip(os.sep).endswith(marker)
        for path in env.get("PYTHONPATH", "").split(os.pathsep)
    )


def is_launcher(argv: list[str] | None = None) -> bool:
    """Whether this process is ``opentelemetry-instrument`` or tradetrace's own command
    (``tradetrace run``, ``summary``...): Python programs too, started with the same
    variables, but the program they start is the one to trace. ``argv`` is
    ``sys.orig_argv`` (set before ``site`` runs the start-up hook)."""
    argv = list(getattr(sys, "orig_argv", []) if argv is None else argv)
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return i + 1 < len(argv) and argv[i + 1] in LAUNCHER_MODULES
        if arg == "-c" or not arg.startswith("-"):
            name = os.path.basename(arg).removesuffix(".exe").removesuffix("-script.py")
            return name in LAUNCHERS
        i += 2 if arg in _OPTIONS_WITH_VALUE else 1
    return False


def inherit_to_children(run_id: str) -> None:
    """Worker processes (multiprocessing's spawn, subprocesses) start with this environment:
    they join the same run and know their parent."""
    os.environ[ev.TRADETRACE_RUN_ID] = run_id
    os.environ[ev.TRADETRACE_PARENT_PID] = str(os.getpid())


def script_paths() -> list[str]:
    """The folder of the script about to run: not on sys.path yet at start-up."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and argv0 not in ("-c", "-m") and os.path.isfile(argv0):
        return [os.path.dirname(os.path.abspath(argv0))]
    return [os.getcwd()]
