"""The run index at scale: indexing rate, then each CLI command's time and peak memory.

Issue 16's budgets: indexing at least 300k spans/s; after indexing, ``summary``,
``query bottlenecks``, ``query trades``, ``query chain`` and ``query compare`` each
within 1 s at 1M spans and 3 s at 10M; peak memory under 2 GB at 10M.

Input: the demo backtest traced at NORMAL to half the smallest size (``--base DIR``
reuses such a folder); each size is that run and copies of it as further runs (each copy
with its own run id and trace ids: a parameter sweep of identical runs), hard links where
a file is reused as is, so that even the smallest has two runs to compare. Every
command runs as the user runs it (``python -m
tradetrace.cli.main ...`` in a fresh process, output discarded); its wall time includes
the interpreter's start and imports (shown apart) and its peak RSS is its own
(``wait4``). Indexing is timed on a fresh index (``tradetrace index``), then each
command on the index it left.

    python benchmarks/bench_query.py [--sizes 1000000 10000000] [--base DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPANS_PER_BAR = 3.6  # NORMAL, demo backtest
INDEX_RATE_BUDGET = 300_000
BUDGETS = {1_000_000: 1.0, 10_000_000: 3.0}  # seconds per command after indexing
MEMORY_BUDGET_MB = 2048
_TRACE_ID = re.compile(rb'"traceId":"[0-9a-f]{2}')
_RUN_UNIQUE_ID = re.compile(rb'"(evt|trd)_')


def _env() -> dict[str, str]:
    """This environment without TRADETRACE_* (so no child traces itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def timed(command: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of one command in its own process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode not in (0,):
        print(f"    {' '.join(command[3:])}: exit {process.returncode}: "
              f"{err.decode(errors='replace').strip()[-300:]}")
    return wall, usage.ru_maxrss / 1024, process.returncode


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tradetrace.cli.main", *args]


def generate_base(folder: Path, spans: int, seed: int) -> None:
    bars = math.ceil(spans / SPANS_PER_BAR)
    print(f"generating the base run: the demo traced at NORMAL, {bars:,} bars", flush=True)
    subprocess.run(cli("run", "--level", "normal", "--output", str(folder), "--",
                       sys.executable, str(ROOT / "examples" / "backtest.py"), "--bars",
                       str(bars), "--seed", str(seed), "--quiet"),
                   env=_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def trace_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.jsonl") if "-metrics" not in p.name)


def run_id_of(folder: Path) -> str:
    return trace_files(folder)[0].name.rsplit("-", 1)[0]


def sweep(base: Path, folder: Path, runs: int) -> None:
    """``runs`` runs in ``folder``: the base (hard links) and copies with new ids."""
    base_run = run_id_of(base)
    for k in range(runs):
        target = folder / f"run{k:03d}"
        if target.exists():
            continue
        partial = folder / f".run{k:03d}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        new_run = base_run if k == 0 else f"{base_run}_copy{k:03d}"
        prefix = f'"traceId":"{(k * 37) % 256:02x}'.encode()
        for path in base.iterdir():
            if not path.is_file():
                continue
            out = partial / path.name.replace(base_run, new_run)
            if k == 0:
                os.link(path, out)
                continue
            with path.open("rb") as src, out.open("wb") as dst:
                for line in src:
                    line = line.replace(base_run.encode(), new_run.encode())
                    line = _TRACE_ID.sub(prefix, line)
                    # event and trade ids are unique per run too (as a real sweep's are)
                    dst.write(_RUN_UNIQUE_ID.sub(rb'"\1_%02x' % k, line))
        partial.rename(target)


def measure(folder: Path, spans: int) -> dict[str, tuple[float, float, int]]:
    shutil.rmtree(folder / ".tradetrace-index", ignore_errors=True)
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    first, second = run_id_of(runs[0]), run_id_of(runs[-1])
    results = {"index": timed(cli("index", str(folder)))}
    event = _fill_event(folder)
    trade = _a_trade(folder)
    for name, command in (
        ("summary", cli("summary", str(folder))),
        ("bottlenecks", cli("query", "bottlenecks", str(folder))),
        ("trades", cli("query", "trades", str(folder))),
        ("trade", cli("query", "trade", trade, str(folder))),
        ("chain", cli("query", "chain", event, str(folder))),
        ("compare", cli("query", "compare", first, second, "--in", str(folder))),
    ):
        results[name] = timed(command)
    return results


def _fill_event(folder: Path) -> str:
    return _one(folder, "SELECT event_id FROM spans WHERE event_type = 'FILL' "
                "ORDER BY start_ns LIMIT 1")


def _a_trade(folder: Path) -> str:
    return _one(folder, "SELECT trade_id FROM spans WHERE name = 'trade' ORDER BY start_ns "
                "LIMIT 1")


def _one(folder: Path, sql: str) -> str:
    code = ("import sys; from tradetrace.query import TraceQuery; "
            f"print(TraceQuery(sys.argv[1]).sql({sql!r})[0][0])")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], env=_env(), check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--base", type=Path, help="a folder of one demo run of half the "
                                                    "smallest size")
    parser.add_argument("--work", type=Path, help="where the sweeps are made (kept)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_query-") as tmp:
        work = args.work or Path(tmp)
        base = args.base or work / "base"
        if not (base.exists() and trace_files(base)):
            generate_base(base, min(args.sizes) // 2, args.seed)
        startup, _, _ = timed([sys.executable, "-c", "import tradetrace.cli.main, "
                               "tradetrace.analyse.query, tradetrace.analyse.summary"])
        base_spans = int(_one(base, "SELECT count(*) FROM spans"))
        print(f"base run: {base_spans:,} spans; interpreter start and imports: "
              f"{startup:.2f} s (in every figure below)\n")
        rows = []
        for size in args.sizes:
            runs = max(2, round(size / base_spans))
            folder = work / f"sweep{runs}"
            sweep(base, folder, runs)
            spans = runs * base_spans
            print(f"{spans:,} spans ({runs} runs): measuring", flush=True)
            rows.append((spans, measure(folder, spans)))
        return report(rows)


def report(rows: list[tuple[int, dict[str, tuple[float, float, int]]]]) -> int:
    names = ["index", "summary", "bottlenecks", "trades", "trade", "chain", "compare"]
    print(f"\n{'spans':>12} " + " ".join(f"{n:>12}" for n in names) + f" {'index rate':>12}"
          f" {'peak MB':>8}")
    ok = True
    for spans, results in rows:
        budget = BUDGETS.get(min(BUDGETS, key=lambda b: abs(b - spans)))
        cells = []
        for name in names:
            wall, _, code = results[name]
            over = name != "index" and wall > budget
            ok &= code == 0 and not over
            cells.append(f"{wall:11.2f}s" + ("!" if over or code else " "))
        rate = spans / results["index"][0]
        peak = max(rss for _, rss, _ in results.values())
        ok &= rate >= INDEX_RATE_BUDGET and peak < MEMORY_BUDGET_MB
        print(f"{spans:12,} " + "".join(cells) + f" {rate:11,.0f}/s {peak:8.0f}")
        print(f"{'peak MB':>12} " + " ".join(f"{results[n][1]:11.0f} " for n in names))
    print(f"\nbudgets: index >= {INDEX_RATE_BUDGET:,} spans/s; each command <= "
          + ", ".join(f"{s} s at {n:,}" for n, s in BUDGETS.items())
          + f"; peak < {MEMORY_BUDGET_MB} MB.  ! = over budget or failed")
    print("all budgets met" if ok else "NOT all budgets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
