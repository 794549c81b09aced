"""Start tracing inside a program launched by ``tradetrace run`` (from sitecustomize).

Configuration comes from the ``TRADETRACE_*`` variables the launcher set. A bad setting
prints one line on stderr and the program runs untraced: tracing must never stop it.
"""

from __future__ import annotations

import os
import sys

ACTIVE = "TRADETRACE_BOOTSTRAP"  #: set by ``tradetrace run`` for the child process


def script_paths() -> list[str]:
    """The folder of the script about to run: not on sys.path yet at start-up."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and argv0 not in ("-c", "-m") and os.path.isfile(argv0):
        return [os.path.dirname(os.path.abspath(argv0))]
    return [os.getcwd()]


def start_from_environment() -> None:
    if os.environ.get(ACTIVE) != "1":
        return
    try:
        import tradetrace

        tradetrace.configure(search_paths=script_paths())
    except Exception as exc:  # ConfigError or anything else: run untraced
        print(f"tradetrace: tracing disabled: {exc}", file=sys.stderr)
