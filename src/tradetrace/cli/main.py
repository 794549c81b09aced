"""``tradetrace``: run a program traced, or summarise trace files.

tradetrace run --level normal -- python examples/backtest.py --bars 5000
tradetrace summary tradetrace-traces/
tradetrace index tradetrace-traces/        (the run index; every command below makes it too)
tradetrace query bottlenecks tradetrace-traces/  (and chain, trade, trades, patterns, compare, runs)
tradetrace report tradetrace-traces/ -o report.html
tradetrace serve tradetrace-traces/        (a trade-first viewer in the browser)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import environment_variables as ev
from ..analyse import reader
from ..config import DEFAULT_OUTPUT, load_config
from ..errors import ConfigError
from ..session import TracingSession
from . import args as check

#: A sitecustomize that starts tracing, for when tradetrace is not pip-installed (no .pth)
BOOTSTRAP = Path(__file__).parents[1] / "launch" / "bootstrap"


EXIT_STATUS = """\
exit status:
  0  the answer was printed; an empty answer too ("no trades match ..."), and output
     cut short by its reader (| head)
  1  nothing to answer from: no trace files found, every file skipped, not one span
     readable in them; or the id asked for (query trade, query chain, compare --in)
     is not in them
  2  usage error: an unknown command, option, pattern or column, a value not allowed
     (--outcome, --side, --level ...), a date that does not parse
  run: the traced program's own exit status (127 when it cannot be started)"""

_EXAMPLES = {
    "run": "tradetrace run --level normal --output traces/ -- python examples/backtest.py "
           "--bars 5000",
    "summary": "tradetrace summary traces/ --json",
    "index": "tradetrace index traces/    # then: tradetrace query trades traces/",
    "report": "tradetrace report traces/ -o report.html --title 'seed 7'",
    "serve": "tradetrace serve traces/ --port 8765    # then open http://127.0.0.1:8765/",
}


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns its exit status (see EXIT_STATUS)."""
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader stopped early (| head): not an error
        _silence_stdout()
        return 0
    except SystemExit as exit_:  # argparse: --help (0) and usage errors (2)
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    except Exception as exc:
        if not type(exc).__module__.lstrip("_").startswith("duckdb"):
            raise
        return _engine_failed(exc)


def _engine_failed(exc: Exception) -> int:
    """DuckDB gave up (its memory limit, a full disk for spilling): said in a line with
    what to do, never a traceback; status 1, nothing was answered."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"tradetrace: the query engine (DuckDB) failed: {first}", file=sys.stderr)
    if "Out of Memory" in str(exc):
        print("tradetrace: give it more memory with --memory-limit (1.5GB by default; e.g. "
              "--memory-limit 4GB), or ask about fewer runs", file=sys.stderr)
    return 1


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="tradetrace", description=__doc__.splitlines()[0], epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # options of every command that reads trace files
    reading = argparse.ArgumentParser(add_help=False)
    reading.add_argument("--max-line-mb", type=check.positive, metavar="MB",
                         help="longest line read, in MiB (default "
                              f"{reader.MAX_LINE_BYTES >> 20}); a longer one is skipped and "
                              "counted, and memory stays about this size")
    reading.add_argument("--memory-limit", type=check.memory, metavar="SIZE",
                         help="DuckDB's memory for reading and querying, spilling to a "
                              "temporary folder beyond it (default 1.5GB)")

    def command(name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, epilog="example:\n  "
                                   + _EXAMPLES[name],
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   **kwargs)

    run = command("run", "run a program with tracing, no change to it")
    run.add_argument("--level", help="none, minimal, normal or debug")
    run.add_argument("--config", help="YAML file with a top-level 'tracing' mapping")
    run.add_argument("--output", help="folder for trace files (file storage); default "
                     "./tradetrace-traces")
    run.add_argument("--profile", help="admf, demo or a YAML profile (detected when unset)")
    run.add_argument("program", nargs=argparse.REMAINDER,
                     help="[--] python SCRIPT ARGS...: the program, its options its own")

    from . import query_command

    summary = command("summary", "summarise trace files or folders", parents=[reading])
    summary.add_argument("paths", nargs="+", help="trace files, folders or globs")
    summary.add_argument("--json", action="store_true", help="machine-readable output")
    summary.add_argument("--run", metavar="RUN_ID", help=query_command.ONE_RUN)

    index = command("index", "build or bring up to date the run index of trace files "
                    "(Parquet beside them, read by every command)", parents=[reading])
    index.add_argument("paths", nargs="+", help="trace files, folders or globs")

    query_command.add_parser(commands, reading)
    report = command("report", "write a self-contained HTML report", parents=[reading])
    report.add_argument("sources", nargs="+", help="trace files, folders or globs")
    report.add_argument("-o", "--output", default="report.html", help="default report.html")
    report.add_argument("--title")
    report.add_argument("--run", metavar="RUN_ID", help=query_command.ONE_RUN)

    serve = command("serve", "a trade-first trace viewer in the browser, on this machine "
                    "(read-only; refreshes as new files land)", parents=[reading])
    serve.add_argument("sources", nargs="*", help="trace files, folders or globs (default: "
                       f"./{DEFAULT_OUTPUT}, where tracing writes by default)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                       "127.0.0.1, this machine only; another is warned about)")
    serve.add_argument("--port", type=int, default=8765,
                       help="port (default 8765; 0 takes a free one, printed)")
    serve.add_argument("--jaeger-url", help="the Jaeger UI's address, for links to spans "
                       f"(default: {ev.TRADETRACE_JAEGER_URL})")

    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args, parser)
    from ..analyse.query import loaded

    cap, memory = reader.MAX_LINE_BYTES, loaded.DEFAULT_MEMORY_LIMIT
    if args.max_line_mb is not None:
        reader.MAX_LINE_BYTES = int(args.max_line_mb * (1 << 20))
    if args.memory_limit is not None:
        loaded.DEFAULT_MEMORY_LIMIT = args.memory_limit
    try:
        if args.command == "query":
            return query_command.run(args)
        if args.command == "report":
            return _report(args)
        if args.command == "index":
            return _index(args)
        if args.command == "serve":
            return _serve(args, parser)
        return _summary(args)
    finally:  # for this command only (main() may be called again in one process)
        reader.MAX_LINE_BYTES, loaded.DEFAULT_MEMORY_LIMIT = cap, memory


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit finds no broken pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


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

    query = load(args.sources, args.run)
    if query is None:
        return 1
    path = write_report(query, args.output, title=args.title)
    print(f"tradetrace: report written to {path}", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..serve import jaeger
    from ..serve.server import serve

    try:
        base = jaeger.base_url(args.jaeger_url)
    except ValueError as exc:
        parser.error(f"serve: --jaeger-url: {exc}")
    if not 0 <= args.port <= 65535:
        parser.error(f"serve: --port {args.port}: a port is 0 to 65535")
    sources = args.sources or [DEFAULT_OUTPUT]
    try:
        return serve(sources, args.host, args.port, jaeger_url=base)
    except OSError as exc:  # the port is taken, the address is not this machine's
        print(f"tradetrace serve: cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 1


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
    from ..analyse.summary import summarize
    from . import summary_view, tables
    from .query_command import loading

    with loading() as progress:
        result = summarize(args.paths, progress=progress, run=args.run)
    for message in result.problems:  # said as `tradetrace query` says them
        print(f"tradetrace: {message}", file=sys.stderr)
    nothing = result.spans == 0 and result.metrics is None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    elif not nothing:
        summary_view.render(result, tables.console(sys.stdout))
        # the next step: the same files in the viewer (trades, their events, why no trade)
        print("view: tradetrace serve " + " ".join(shlex.quote(p) for p in args.paths))
    where = ", ".join(args.paths)
    if result.files == 0:
        print("tradetrace: no trace files could be read in " + where, file=sys.stderr)
        return 1
    if nothing:
        print(f"tradetrace: no spans in {where}: {result.files} file(s) read, "
              f"{result.skipped_lines:,} bad line(s) and {result.skipped_spans:,} bad span(s) "
              "skipped", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
