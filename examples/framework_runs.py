"""What the framework examples (nautilus_backtest.py, backtrader_backtest.py) share: the
command line, each run in a fresh process of the framework's Python (bare, then traced at
each level), the table of wall times, and the checks that do not depend on the framework
(spans per event type against the framework's own count, the accounting identity)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

LEVELS = ("none", "minimal", "normal", "debug")
Check = Callable[[bool, str], None]


def main(script: str, description: str, imports: str, title: str,
         child: Callable[[str, int, str], None],
         check_level: Callable[[str, dict[str, Any], dict[str, Any], Path], list[str]]) -> int:
    """Run ``script`` bare and at each level, each a child process printing its results
    as JSON on its last line, then print the checks of each level; 1 if any failed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bars", type=int, default=2000)
    parser.add_argument("--python", default=sys.executable, help="the framework's Python")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.bars, args.out)
        return 0
    python = args.python
    probe = subprocess.run([python, "-c", f"import {imports}"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else ""
        print(f"skipped: {python} cannot import {imports} ({last})")
        return 0
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        results, walls = {}, {}
        for level in ("bare", *LEVELS):
            out = Path(folder) / level
            start = time.perf_counter()
            done = subprocess.run([python, script, "--child", level, "--bars", str(args.bars),
                                   "--out", str(out)], capture_output=True, text=True,
                                  timeout=900)
            walls[level] = time.perf_counter() - start
            if done.returncode != 0:
                print(f"{level}: the run failed\n{done.stderr[-3000:]}")
                return 1
            results[level] = json.loads(done.stdout.strip().splitlines()[-1])
        bare = results["bare"]
        print(f"{title}, {args.bars} bars: framework produced "
              + ", ".join(f"{k} {v}" for k, v in sorted(bare["events"].items())))
        print(f"{'level':8} {'wall s':>7} {'x bare':>7}")
        print(f"{'bare':8} {walls['bare']:7.2f} {1:7.2f}")
        for level in LEVELS:
            print(f"{level:8} {walls[level]:7.2f} {walls[level] / walls['bare']:7.2f}")
            for line in check_level(level, bare, results[level], Path(folder) / level):
                failed |= line.startswith("  FAIL")
                print(line)
    print("all checks passed" if not failed else "some checks FAILED")
    return 1 if failed else 0


def spans_per_type(check: Check, framework: dict[str, int], spans: Iterable[Any]) -> None:
    names = Counter(s.name for s in spans)
    wrong = {name: (names.get(name, 0), count) for name, count in framework.items()
             if names.get(name, 0) != count}
    check(not wrong, "spans per event type equal the framework's own count: " + ", ".join(
        f"{name} {count}" for name, count in sorted(framework.items()))
          + (f" (differ: {wrong})" if wrong else ""))


def closed_trades(spans: Iterable[Any]) -> tuple[int, float]:
    """How many closed trades the ``trade`` spans say (win, loss or flat), and their
    P&L summed, to the cent."""
    trades = [s for s in spans if s.name == "trade"
              and s.attributes.get("trading.trade.outcome") in ("win", "loss", "flat")]
    return len(trades), round(sum(t.attributes.get("trading.trade.realized_pnl", 0.0)
                                  for t in trades), 2)


def accounting_identity(check: Check, accounting: dict[str, Any]) -> None:
    total = sum(accounting.get("dropped", {}).values()) + accounting.get("exported", 0) + (
        accounting.get("pending", 0))
    check(accounting.get("recorded") == total,
          f"accounting: recorded {accounting.get('recorded')} = exported "
          f"{accounting.get('exported')} + dropped {accounting.get('dropped')} + pending "
          f"{accounting.get('pending')}")
