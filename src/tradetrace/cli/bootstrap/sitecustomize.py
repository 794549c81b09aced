"""Put on PYTHONPATH by ``tradetrace run``: start tracing, then run any other sitecustomize."""

import importlib
import os
import sys


def _start() -> None:
    try:
        from tradetrace.cli.autostart import start_from_environment

        start_from_environment()
    except Exception as exc:  # never keep the program from running
        print(f"tradetrace: tracing disabled: {exc}", file=sys.stderr)


def _chain() -> None:
    """Import the sitecustomize this one shadows, if the environment has one."""
    here = os.path.dirname(os.path.abspath(__file__))
    saved = sys.path[:]
    module = sys.modules.pop("sitecustomize", None)
    try:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        importlib.import_module("sitecustomize")
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        if module is not None:
            sys.modules["sitecustomize"] = module


_start()
_chain()
