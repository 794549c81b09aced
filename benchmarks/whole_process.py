"""What tracing costs as a user pays it: whole processes, start-up and exit included.

Runs a program bare, traced by tradetrace at each level (``TRADETRACE_LEVEL``, files in
a temporary folder), and with naive OpenTelemetry (one stock SDK span per publish, a
batch processor, the stock OTLP protobuf encoder: ``naive_otel.py``), each as its own
process through ``whole_run.py``, in interleaved rounds whose order rotates. Per case,
medians over the rounds of:

- wall time, and its ratio to bare's;
- added wall time and added CPU per traced event (over bare's, in us): the process in
  total (``wait4()``), its trading (main) thread and its other threads until the exit
  hook, and what ran after it (tradetrace's exit drain, the interpreter's teardown);
- the exit drain's wall time (from the exit hook to the process's end, over bare's).

Events are counted by the NORMAL runs' exit line ("recorded N"). The demo backtest by
default (``--bars 20000 200000``); with ``--admf`` the real ADMF-PC's full year (a
checkout at ``ADMF_PC_ROOT``, its interpreter at ``ADMF_PC_PYTHON``; naive OpenTelemetry
is not run there). Budgets (``shared/PERFORMANCE.md``) are printed beside the figures.

    python benchmarks/whole_process.py [--bars 20000 200000] [--rounds 3] [--json FILE]
    ADMF_PC_ROOT=... ADMF_PC_PYTHON=... python benchmarks/whole_process.py --admf
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LEVELS = ("none", "minimal", "normal", "debug")
CASES = ("bare", *LEVELS, "naive")
RECORDED = re.compile(r"recorded (\d+) = exported (\d+)")
#: whole process vs bare: the demo's and the real ADMF-PC's budgets (PERFORMANCE.md)
DEMO_BUDGETS = {"none": 1.00, "minimal": 1.05}
ADMF_BUDGETS = {"none": 1.01, "minimal": 1.01, "normal": 1.03, "debug": 1.10}
NAIVE_OVER_NORMAL = 25.0  #: naive's added wall time over NORMAL's, at least (200k bars)
CPU_PER_EVENT_US = 2.0  #: the traced process's added CPU per traced event at NORMAL


def run_case(case: str, program: list[str], python: str, cwd: Path, work: Path,
             naive_bus: str) -> dict[str, Any]:
    report = work / f"{case}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
    command = [python, str(HERE / "whole_run.py"), "--report", str(report)]
    if case in LEVELS:
        out = work / f"traces-{case}"
        shutil.rmtree(out, ignore_errors=True)
        env.update(TRADETRACE_LEVEL=case, TRADETRACE_OUTPUT=str(out))
    elif case == "naive":
        command += ["--naive", str(work / "naive.otlp"), "--naive-bus", naive_bus]
    command += ["--", *program]
    started = time.time()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read() if process.stderr else ""
    _, status, usage = os.wait4(process.pid, 0)
    ended = time.time()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{case} failed ({process.returncode}):\n{stderr[-3000:]}")
    noted = json.loads(report.read_text())
    threads = noted["threads"]
    main = threads.pop("MainThread", 0.0)
    recorded = RECORDED.findall(stderr)
    return {
        "wall": ended - started,
        "cpu": usage.ru_utime + usage.ru_stime,
        "main": main,
        "others": sum(threads.values()),
        "threads": threads,
        "after_hook_wall": ended - noted["hook_wall"],
        "recorded": int(recorded[-1][0]) if recorded else None,
        "naive_spans": noted.get("naive_spans"),
        "max_rss_mb": usage.ru_maxrss / 1024,
    }


def measure(program: list[str], python: str, cwd: Path, cases: list[str], rounds: int,
            naive_bus: str) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory(prefix="tradetrace-whole-") as tmp:
        work = Path(tmp)
        for r in range(rounds):
            order = cases[r % len(cases):] + cases[: r % len(cases)]
            for case in order:
                runs[case].append(run_case(case, program, python, cwd, work, naive_bus))
                print(f"  round {r + 1}/{rounds} {case:<8} {runs[case][-1]['wall']:7.2f} s",
                      file=sys.stderr, flush=True)
    return runs


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    bare = runs["bare"]
    events = next((run["recorded"] for run in runs.get("normal", []) if run["recorded"]),
                  None) or next((r["naive_spans"] for r in runs.get("naive", [])), None)
    if not events:
        raise SystemExit("no event count: run the normal (or naive) case")
    table: dict[str, Any] = {"events": events, "cases": {}}
    base = {key: median(bare, key) for key in ("wall", "cpu", "main", "others",
                                                "after_hook_wall")}
    for case, case_runs in runs.items():
        row = {key: median(case_runs, key) for key in base}
        row["ratio"] = row["wall"] / base["wall"]
        us = 1e6 / events
        row["added_wall_us"] = (row["wall"] - base["wall"]) * us
        row["added_cpu_us"] = (row["cpu"] - base["cpu"]) * us
        row["added_main_us"] = (row["main"] - base["main"]) * us
        row["added_others_us"] = (row["others"] - base["others"]) * us
        after = (row["cpu"] - row["main"] - row["others"]) - (
            base["cpu"] - base["main"] - base["others"])
        row["added_after_hook_us"] = after * us
        row["drain_wall"] = row["after_hook_wall"] - base["after_hook_wall"]
        row["max_rss_mb"] = median(case_runs, "max_rss_mb")
        row["walls"] = [round(run["wall"], 3) for run in case_runs]
        table["cases"][case] = row
    cases = table["cases"]
    if "naive" in cases and "normal" in cases:
        table["naive_over_normal"] = cases["naive"]["added_wall_us"] / max(
            cases["normal"]["added_wall_us"], 1e-9)
    return table


def print_table(title: str, table: dict[str, Any], budgets: dict[str, float],
                naive_budget: bool) -> None:
    print(f"\n{title}: {table['events']:,} traced events per run (NORMAL's recorded)")
    print(f"{'case':<8} {'wall s':>7} {'x bare':>7} {'+wall':>7} {'+cpu':>7} "
          f"{'+main':>7} {'+others':>8} {'+after':>7} {'drain s':>8} {'rss MB':>7}  budget")
    print(f"{'':<8} {'':>7} {'':>7} {'us/ev':>7} {'us/ev':>7} {'us/ev':>7} {'us/ev':>8} "
          f"{'us/ev':>7}")
    for case, row in table["cases"].items():
        verdict = ""
        if case in budgets:
            ok = row["ratio"] <= budgets[case] + 0.005
            verdict = f"{budgets[case]:.2f}x {'met' if ok else 'MISSED'}"
        if case == "normal":
            ok = row["added_cpu_us"] <= CPU_PER_EVENT_US
            verdict += (", " if verdict else "") + (
                f"+cpu <= {CPU_PER_EVENT_US:g} us {'met' if ok else 'MISSED'}")
        print(f"{case:<8} {row['wall']:7.2f} {row['ratio']:7.3f} {row['added_wall_us']:7.2f} "
              f"{row['added_cpu_us']:7.2f} {row['added_main_us']:7.2f} "
              f"{row['added_others_us']:8.2f} {row['added_after_hook_us']:7.2f} "
              f"{row['drain_wall']:8.2f} {row['max_rss_mb']:7.1f}  {verdict}")
    if "naive_over_normal" in table:
        ratio = table["naive_over_normal"]
        verdict = (f" (budget at 200k bars: at least {NAIVE_OVER_NORMAL:g}x: "
                   f"{'met' if ratio >= NAIVE_OVER_NORMAL else 'MISSED'})" if naive_budget else "")
        print(f"naive OpenTelemetry's added wall time is {ratio:.1f}x NORMAL's{verdict}")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--admf", action="store_true",
                        help="the real ADMF-PC's full year instead of the demo")
    parser.add_argument("--json", help="write the figures here as JSON")
    args = parser.parse_args(argv)
    cases = ["bare", *[c for c in args.cases if c != "bare"]]
    out: dict[str, Any] = {"load_before": load_average()}
    print(f"load average before: {out['load_before']} ({os.cpu_count()} cores)")
    if args.admf:
        root = os.environ.get("ADMF_PC_ROOT")
        if not root or not (Path(root) / "main.py").is_file():
            print("ADMF_PC_ROOT is not set to an ADMF-PC checkout: skipped")
            return 0
        python = os.environ.get("ADMF_PC_PYTHON", sys.executable)
        program = ["main.py", "--config", "config/bollinger/test.yaml", "--universal"]
        runs = measure(program, python, Path(root), [c for c in cases if c != "naive"],
                       args.rounds, "")
        out["admf_full_year"] = table = summarise(runs)
        print_table("real ADMF-PC, full year", table, ADMF_BUDGETS, False)
    for bars in args.bars if not args.admf else []:
        program = [str(REPO / "examples" / "backtest.py"), "--bars", str(bars), "--seed", "7",
                   "--quiet"]
        runs = measure(program, sys.executable, REPO, cases, args.rounds,
                       "demo_engine:EventBus")
        out[f"demo_{bars}"] = table = summarise(runs)
        print_table(f"demo backtest, {bars:,} bars", table, DEMO_BUDGETS, bars >= 200_000)
    out["load_after"] = load_average()
    print(f"\nload average after: {out['load_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
