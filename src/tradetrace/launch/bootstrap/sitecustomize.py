"""Put on PYTHONPATH by ``tradetrace run``: start tracing, then run any other sitecustomize.

Only needed where tradetrace is not pip-installed (its ``.pth`` hook does the same, and
:func:`tradetrace.launch.autostart.start` runs once per process whichever calls it).
"""

import importlib
import os
import sys


def _start() -> None:
    try:
        from tradetrace.launch.autostart import start

        start()
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
