"""``tradetrace``: run a program traced, or summarise trace files.

tradetrace run --level normal -- python examples/backtest.py --bars 5000
tradetrace summary tradetrace-traces/
tradetrace index tradetrace-traces/        (the run index; every command below makes it too)
tradetrace query bottlenecks tradetrace-traces/   (and chain, trade, trades, patterns, compare)
tradetrace report tradetrace-traces/ -o report.html
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import environment_variables as ev
from ..config import load_config
from ..errors import ConfigError
from ..session import TracingSession

#: A sitecustomize that starts tracing, for when tradetrace is not pip-installed (no .pth)
BOOTSTRAP = Path(__file__).parents[1] / "launch" / "bootstrap"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tradetrace", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a program with tracing, no change to it")
    run.add_argument("--level", help="none, minimal, normal or debug")
    run.add_argument("--config", help="YAML file with a top-level 'tracing' mapping")
    run.add_argument("--output", help="folder for trace files (file storage); default "
                     "./tradetrace-traces")
    run.add_argument("--profile", help="admf, demo or a YAML profile (detected when unset)")
    run.add_argument("program", nargs=argparse.REMAINDER,
                     help="[--] python SCRIPT ARGS...: the program, its options its own")

    summary = commands.add_parser("summary", help="summarise trace files or folders")
    summary.add_argument("paths", nargs="+", help="trace files, folders or globs")
    summary.add_argument("--json", action="store_true", help="machine-readable output")

    index = commands.add_parser(
        "index", help="build or bring up to date the run index of trace files (Parquet "
        "beside them, read by every command)")
    index.add_argument("paths", nargs="+", help="trace files, folders or globs")

    from . import query_command

    query_command.add_parser(commands)
    report = commands.add_parser("report", help="write a self-contained HTML report")
    report.add_argument("sources", nargs="+", help="trace files, folders or globs")
    report.add_argument("-o", "--output", default="report.html", help="default report.html")
    report.add_argument("--title")

    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args, parser)
    if args.command == "query":
        return query_command.run(args)
    if args.command == "report":
        return _report(args)
    if args.command == "index":
        return _index(args)
    return _summary(args)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        parser.error("run: give the program after --, e.g. -- python main.py")
    env = dict(os.environ)
    for value, name in (
        (args.level, ev.TRADETRACE_LEVEL),
        (args.config, ev.TRADETRACE_CONFIG),
        (args.output, ev.TRADETRACE_OUTPUT),
        (args.profile, ev.TRADETRACE_PROFILE),
    ):
        if value is not None:
            env[name] = value
    if args.output is not None:
        env[ev.TRADETRACE_STORAGE] = "file"
    flags = {ev.TRADETRACE_LEVEL: args.level and "--level",
             ev.TRADETRACE_CONFIG: args.config and "--config",
             ev.TRADETRACE_OUTPUT: args.output and "--output",
             ev.TRADETRACE_PROFILE: args.profile and "--profile"}
    try:  # every bad setting is reported here, before the program starts
        session = TracingSession(load_config(env=env), search_paths=[_script_folder(program)])
        session.sink.shutdown()
    except ConfigError as exc:
        flag = flags.get(exc.path)
        if flag:
            exc = ConfigError(flag, exc.value, exc.allowed, exc.reason)
        print(f"tradetrace: {exc}", file=sys.stderr)
        return 2
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BOOTSTRAP), env.get("PYTHONPATH", "")) if p)
    try:
        os.execvpe(program[0], program, env)
    except OSError as exc:
        print(f"tradetrace: cannot run {program[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127


def _script_folder(program: list[str]) -> str:
    """Where `python SCRIPT ...` will find its own modules (the script's folder)."""
    for arg in program[1:2]:
        if arg.endswith(".py") and os.path.isfile(arg):
            return os.path.dirname(os.path.abspath(arg))
    return os.getcwd()


def _report(args: argparse.Namespace) -> int:
    from ..analyse.report import write_report
    from .query_command import load

    query = load(args.sources)
    if query is None:
        return 1
    path = write_report(query, args.output, title=args.title)
    print(f"tradetrace: report written to {path}", file=sys.stderr)
    return 0


def _index(args: argparse.Namespace) -> int:
    import time

    from ..analyse.query.loaded import LoadedSpans
    from .query_command import loading, report_skips

    start = time.perf_counter()
    with loading() as progress:
        loaded = LoadedSpans(args.paths, progress=progress)
    report_skips(loaded)
    seconds = time.perf_counter() - start
    stats = loaded.stats
    print(f"tradetrace: {loaded.indexed} of {stats.files_read} trace file(s) indexed "
          f"({loaded.indexed_spans:,} spans) in {seconds:.1f} s; {stats.spans:,} spans in "
          f"{len(loaded.runs())} run(s) indexed in all", file=sys.stderr)
    return 0 if stats.files_read else 1


def _summary(args: argparse.Namespace) -> int:
    from ..analyse.summary import render, summarize
    from .query_command import loading

    with loading() as progress:
        result = summarize(args.paths, progress=progress)
    for message in result.problems:  # said as `tradetrace query` says them
        print(f"tradetrace: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result))
    if result.files == 0:
        print("tradetrace: no trace files found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
