"""Run one Python program as a whole process and note where its CPU time went.

``whole_process.py`` starts this instead of the program itself:

    python benchmarks/whole_run.py --report FILE [--naive-bus MODULE:CLASS --naive FILE]
        -- PROGRAM.py ARGS...

The program runs as ``python PROGRAM.py ARGS`` would (``runpy``, its folder first on
``sys.path``), bare or traced by tradetrace's start-up hook when ``TRADETRACE_*`` is set,
or with naive OpenTelemetry (``naive_otel.py``: one stock SDK span per publish of
``MODULE:CLASS``) when ``--naive`` is given. An exit hook registered here runs before
tradetrace's exit drain (atexit runs the last registered first, and tradetrace's is
registered at start-up) and writes, as JSON: the CPU time of each thread of the process
until then (by thread name; ``/proc/self/task/*/schedstat``, in ns) and the wall clock
then. The parent gets the process's total CPU from ``wait4()``, so whatever ran after
the hook (the exit drain, the interpreter's teardown) is the rest.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import runpy
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def thread_cpu() -> dict[str, float]:
    """Seconds of CPU per live thread of this process, by Python thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        name = names.get(int(tid), f"thread {tid}")
        out[name] = out.get(name, 0.0) + ns / 1e9
    return out


def _note(path: str, naive: object) -> None:
    report = {"hook_wall": time.time(), "threads": thread_cpu()}
    if naive is not None:
        report["naive_spans"] = naive.spans  # type: ignore[attr-defined]
    Path(path).write_text(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", required=True)
    parser.add_argument("--naive", help="trace with naive OpenTelemetry into this file")
    parser.add_argument("--naive-bus", default="demo_engine:EventBus",
                        help="the bus class naive OpenTelemetry patches (MODULE:CLASS)")
    parser.add_argument("program")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    program = Path(args.program).resolve()
    sys.argv = [str(program), *args.args]
    sys.path[0] = str(program.parent)
    naive = None
    if args.naive:
        sys.path.insert(1, str(HERE))
        from naive_otel import NaiveInstrumentation

        module, _, name = args.naive_bus.partition(":")
        bus = getattr(importlib.import_module(module), name)
        naive = NaiveInstrumentation(bus, Path(args.naive))
        atexit.register(naive.uninstrument)  # the batch processor drains at exit
    atexit.register(_note, args.report, naive)  # runs first of these: before the drains
    runpy.run_path(str(program), run_name="__main__")


if __name__ == "__main__":
    main()
