"""tradetrace on the real ADMF-PC: results unchanged, trades rebuilt, and the cost.

Runs ADMF-PC (a checkout at ``ADMF_PC_ROOT`` or ``--admf-root``; nothing of it is part of
this repository) from its root, ``main.py --config config/bollinger/test.yaml --universal
--bars N``, as whole processes: bare (no ``TRADETRACE_*`` variable, so the start-up hook
imports nothing) and traced at each level through the variables alone
(``TRADETRACE_LEVEL``, ``TRADETRACE_OUTPUT`` in a temporary folder outside the
checkout), in ``--repeats`` interleaved rounds whose order rotates. Then:

1. results unchanged: ADMF-PC's own results of every traced run (its log, its run
   metadata and its trade store; see admf_pc_checks.py) equal the bare run's;
2. trades: the NORMAL and DEBUG traces of the first round, read with
   ``tradetrace.query``: trades complete and not, P&L against ADMF-PC's, each closed
   position matched to one trade by entry and exit time and P&L;
3. MINIMAL with ``keep_if: {outcome: loss}`` (one more run): the trades kept against
   ADMF-PC's losing positions, and whether each is complete;
4. cost: whole-process wall time per config, median over the rounds, ratio to bare's
   median against the budgets, and each traced run's exit line (recorded = exported +
   dropped + pending).

Traced runs use the tradetrace that ``--python`` imports (its ``.pth`` start-up hook):
put a checkout's ``src`` first on ``PYTHONPATH`` to measure that one. ADMF-PC writes a
trade file and a results folder per run into its checkout; those its log names for the
runs made here are removed afterwards (``--keep-admf-output`` keeps them). Its run index
(``traces/run_index.parquet``) keeps a row per run, as after any run of it.

    ADMF_PC_ROOT=/path/to/ADMF-PC python benchmarks/admf_pc.py [--python PY] [--bars 500|all]
        [--repeats 3] [--levels none,minimal,normal,debug] [--json FILE] [--keep DIR]

Without a checkout it prints one line and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from admf_pc_checks import (  # noqa: E402  (the helpers live beside this script)
    AdmfResults,
    ExitLine,
    TradeView,
    cost_table,
    first_difference,
    is_complete,
    match_trades,
    parse_admf_log,
    parse_exit_line,
    round_order,
)

CONFIG = "config/bollinger/test.yaml"
LEVELS = ("none", "minimal", "normal", "debug")
BUDGETS = {"none": 1.01, "minimal": 1.01, "normal": 1.03, "debug": 1.10}  # PERFORMANCE.md, raised
KEEP_IF = "tracing:\n  retention:\n    policy: keep_if\n    keep_if: {outcome: loss}\n"
KEEP_IF_RUN = "minimal+keep_if"
_ORDER = ("bare", *LEVELS, KEEP_IF_RUN)  # how the report lists runs
SHOWN = 5  # mismatches printed per kind


@dataclass
class Run:
    config: str
    round: int
    seconds: float
    admf: AdmfResults
    exit_line: ExitLine | None
    traces: Path | None


@dataclass
class Context:
    root: Path
    python: str
    bars: int  # 0: the whole data file
    work: Path
    keep_admf_output: bool
    runs: list[Run] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  #: 1-minute load average, start and end


# -- finding the checkout ---------------------------------------------------------------------


def skip_reason(root: str | None, python: str) -> str | None:
    """Why ADMF-PC cannot be run here, or None."""
    if not root:
        return "ADMF_PC_ROOT is not set (or pass --admf-root): no ADMF-PC checkout to run"
    base = Path(root)
    if not (base / "main.py").is_file() or not (base / CONFIG).is_file():
        return f"{root} is not an ADMF-PC checkout (no main.py or {CONFIG})"
    if shutil.which(python) is None and not Path(python).is_file():
        return f"{python}: no such Python"
    probe = subprocess.run([python, "-c", "import src.core.events.bus"], cwd=base,
                           env=bare_env(), capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["exit status nonzero"])[-1]
        return f"ADMF-PC at {root} does not import with {python}: {last}"
    return None


def bare_env() -> dict[str, str]:
    """This environment without any ``TRADETRACE_*`` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}


def imports_under(python: str, env: dict[str, str], root: Path) -> tuple[list[str], str]:
    """Which tradetrace/OpenTelemetry packages a bare interpreter start imports, and the
    tradetrace file it would trace with."""
    code = ("import sys; m = sys.modules.get('tradetrace'); print(','.join(sorted({n.split('.')[0]"
            " for n in sys.modules if n.startswith(('tradetrace', 'opentelemetry'))})));"
            " print(m.__file__ if m else '')")
    out = subprocess.run([python, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True).stdout.splitlines() + ["", ""]
    return [m for m in out[0].split(",") if m], out[1]


# -- running it -------------------------------------------------------------------------------


def run_env(ctx: Context, config: str, traces: Path | None) -> dict[str, str]:
    env = bare_env()
    if config == "bare":
        return env
    level = "minimal" if config == KEEP_IF_RUN else config
    env.update(TRADETRACE_LEVEL=level, TRADETRACE_OUTPUT=str(traces))
    if config == KEEP_IF_RUN:
        policy = ctx.work / "keep_if.yaml"
        policy.write_text(KEEP_IF)
        env["TRADETRACE_CONFIG"] = str(policy)
    return env


def run_once(ctx: Context, config: str, round_index: int) -> Run:
    name = f"{config}-r{round_index + 1}"
    traces = None if config == "bare" else ctx.work / "traces" / name
    env = run_env(ctx, config, traces)
    command = [ctx.python, "main.py", "--config", CONFIG, "--universal"]
    if ctx.bars:
        command += ["--bars", str(ctx.bars)]
    err_path = ctx.work / f"{name}.err"
    started_wall = time.time()
    with open(err_path, "w") as err:
        start = time.perf_counter()
        code = subprocess.run(command, cwd=ctx.root, env=env, stdout=subprocess.DEVNULL,
                              stderr=err).returncode
        seconds = time.perf_counter() - start
    with open(err_path, errors="replace") as err:
        admf = parse_admf_log(err)
    admf.exit_code = code
    read_admf_outputs(ctx, admf, started_wall)
    tail = _tail(err_path, 200_000)
    err_path.unlink()
    run = Run(config, round_index, seconds, admf, parse_exit_line(tail), traces)
    ctx.runs.append(run)
    print(f"  {name}: {seconds:.2f} s, exit {code}, {len(admf.closed)} closed positions",
          file=sys.stderr, flush=True)
    return run


def _tail(path: Path, size: int) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        return f.read().decode(errors="replace")


def read_admf_outputs(ctx: Context, admf: AdmfResults, since: float) -> None:
    """Its run metadata and trade store, named in its log; then remove those files when
    this run wrote them (not older than its start)."""
    made: list[Path] = []
    if admf.results_dir:
        folder = ctx.root / admf.results_dir
        meta = folder / "metadata.json"
        if meta.is_file():
            admf.counters = json.loads(meta.read_text())
        if folder.is_dir() and folder.stat().st_mtime >= since - 1 and _inside(folder, ctx.root):
            made.append(folder)
    if admf.trades_file:
        store = ctx.root / admf.trades_file
        if store.is_file():
            admf.store_trades = read_store(store)
            if store.stat().st_mtime >= since - 1 and _inside(store, ctx.root):
                made.append(store)
    if not ctx.keep_admf_output:
        for path in made:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)


def read_store(path: Path) -> list[tuple[Any, ...]]:
    import duckdb

    return duckdb.connect().execute(
        "SELECT strategy_id, entry_time, exit_time, exit_reason FROM read_parquet(?) "
        "ORDER BY trade_id", [str(path)]).fetchall()


def run_all(ctx: Context, levels: list[str], repeats: int) -> None:
    configs = ["bare", *levels]
    for r in range(repeats):
        print(f"round {r + 1}/{repeats}", file=sys.stderr, flush=True)
        for config in round_order(configs, r):
            run = run_once(ctx, config, r)
            if r > 0 and run.traces is not None:  # only the first round's are read
                shutil.rmtree(run.traces, ignore_errors=True)
    print("MINIMAL with keep_if", file=sys.stderr, flush=True)
    run_once(ctx, KEEP_IF_RUN, 0)


# -- what the runs say ------------------------------------------------------------------------


def results_check(runs: list[Run]) -> dict[str, Any]:
    bare = next(r for r in runs if r.config == "bare")
    reference = bare.admf.fingerprint()
    per_config: dict[str, Any] = {}
    for run in runs:
        entry = per_config.setdefault(run.config, {"runs": 0, "same": 0, "differences": []})
        entry["runs"] += 1
        difference = first_difference(reference, run.admf.fingerprint())
        if difference is None:
            entry["same"] += 1
        else:
            entry["differences"].append(f"round {run.round + 1}: {difference}")
    a = bare.admf
    return {
        "reference": {
            "closed_positions": len(a.closed) + len(a.flips),
            "close_events": a.close_events,
            "realized_pnl": str(a.realized_pnl),
            "store_trades": len(a.store_trades),
            "final_value": a.final_value,
            "exit_code": a.exit_code,
            **{k.removeprefix("total_"): a.counters.get(k) for k in
               ("total_bars", "total_signals", "total_orders", "total_fills")},
        },
        "configs": per_config,
    }


def trade_check(traces: Path, admf: AdmfResults, loss_only: bool = False) -> dict[str, Any]:
    from tradetrace.query import TraceQuery

    query = TraceQuery(str(traces))
    trades = [TradeView.of(t) for t in query.trades().rows]
    complete = [t for t in trades if is_complete(t)]
    others = [t for t in trades if not is_complete(t)]
    positions = [p for p in admf.closed if p.realized_pnl < 0] if loss_only else admf.closed
    wanted = [t for t in trades if t.outcome == "loss"] if loss_only else trades
    match = match_trades(positions, wanted)
    admf_pnl = sum((p.realized_pnl for p in positions), Decimal(0))
    orders_per_trade: dict[int, int] = {}
    for t in complete:
        orders_per_trade[t.orders] = orders_per_trade.get(t.orders, 0) + 1
    return {
        "trades": len(trades),
        "complete": len(complete),
        "not_complete": len(others),
        "not_complete_outcomes": _count(t.outcome for t in others),
        "not_complete_orders": sum(t.orders for t in others),
        "not_complete_fills": sum(t.fills for t in others),
        "not_complete_strategies": sorted({str(t.strategy_id) for t in others}),
        "outcomes": _count(t.outcome for t in trades),
        "orders_per_complete_trade": dict(sorted(orders_per_trade.items())),
        "complete_with_two_orders": sum(t.orders >= 2 for t in complete),
        "orders_in_complete": sum(t.orders for t in complete),
        "fills_in_complete": sum(t.fills for t in complete),
        "admf_orders": admf.counters.get("total_orders"),
        "admf_fills": admf.counters.get("total_fills"),
        "pnl_complete": round(sum(t.realized_pnl or 0.0 for t in complete), 10),
        "admf_pnl": str(admf_pnl),
        "pnl_difference": round(sum(t.realized_pnl or 0.0 for t in complete)
                                - float(admf_pnl), 10) + 0.0,  # + 0.0: no "-0"
        "admf_closed": len(positions),
        "matched": len(match.matched),
        "matched_complete": sum(is_complete(t) for _, t in match.matched),
        "pnl_differs": [_pair(p, t) for p, t in match.pnl_differs],
        "no_trade": [_position(p) for p in match.no_trade],
        "no_position": [_trade(t) for t in match.no_position],
        "not_two_orders": [_trade(t) for t in complete if t.orders != 2],
        "read_messages": list(query.stats.messages),
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return dict(sorted(counts.items()))


def _position(p: Any) -> str:
    return f"{p.strategy_id} {p.entry_time} -> {p.exit_time} P&L {p.realized_pnl} ({p.exit_type})"


def _trade(t: TradeView) -> str:
    return (f"{t.trade_id} {t.outcome} {t.strategy_id} {t.entry_time} -> {t.exit_time} "
            f"P&L {t.realized_pnl} orders {t.orders} fills {t.fills}")


def _pair(p: Any, t: TradeView) -> str:
    return f"{_position(p)} | trade {_trade(t)}"


def report(ctx: Context, levels: list[str], probe: dict[str, Any]) -> dict[str, Any]:
    first = {r.config: r for r in ctx.runs if r.round == 0}
    out: dict[str, Any] = {
        "admf_root": str(ctx.root), "python": ctx.python,
        "bars": ctx.bars or "all", "repeats": max(r.round for r in ctx.runs) + 1,
        "probe": probe, "load_average": ctx.load, "results": results_check(ctx.runs),
        "trades": {},
    }
    for level in ("normal", "debug"):
        run = first.get(level)
        if run and run.traces:
            out["trades"][level] = trade_check(run.traces, run.admf)
    if "minimal" in first and first["minimal"].traces:
        out["trades"]["minimal"] = trade_check(first["minimal"].traces, first["minimal"].admf)
    keep = first.get(KEEP_IF_RUN)
    if keep and keep.traces:
        out["keep_if"] = trade_check(keep.traces, keep.admf, loss_only=True)
        out["keep_if"]["condition"] = "outcome: loss"
    times: dict[str, list[float]] = {"bare": []}
    times.update({level: [] for level in levels})
    for r in ctx.runs:
        if r.config in times:
            times[r.config].append(r.seconds)
    out["cost"] = [asdict(row) for row in cost_table(times, BUDGETS)]
    out["exit_lines"] = [{"config": r.config, "round": r.round + 1,
                          **(_exit(r.exit_line) if r.exit_line else {"text": None})}
                         for r in sorted(ctx.runs, key=lambda r: (_ORDER.index(r.config), r.round))
                         if r.config != "bare"]
    return out


def _exit(line: ExitLine) -> dict[str, Any]:
    return {**asdict(line), "balanced": line.balanced}


# -- printing ---------------------------------------------------------------------------------


def print_report(out: dict[str, Any]) -> None:
    bars = out["bars"]
    print(f"ADMF-PC at {out['admf_root']} ({out['python']}), {CONFIG}, bars: {bars}, "
          f"{out['repeats']} interleaved round(s)")
    probe = out["probe"]
    print(f"tradetrace traced runs use: {probe['tradetrace'] or 'NOT IMPORTED'}")
    print("bare runs import: " + (", ".join(probe["bare_imports"]) or
                                  "nothing of tradetrace or OpenTelemetry (no TRADETRACE_* set)"))
    results = out["results"]
    ref = results["reference"]
    print("\nresults (ADMF-PC's own: its log, run metadata and trade store), bare vs traced")
    print(f"  bare: exit {ref['exit_code']}, bars {ref['bars']}, signals {ref['signals']}, "
          f"orders {ref['orders']}, fills {ref['fills']}, closed positions "
          f"{ref['closed_positions']} (store {ref['store_trades']}), realized P&L "
          f"{ref['realized_pnl']}, final value {ref['final_value']}")
    for config, entry in results["configs"].items():
        verdict = "unchanged" if entry["same"] == entry["runs"] else "CHANGED"
        print(f"  {config:16} {entry['same']}/{entry['runs']} runs identical to bare: {verdict}")
        for line in entry["differences"][:SHOWN]:
            print(f"    {line}")
    for level, check in out["trades"].items():
        if level == "minimal":
            print("\nMINIMAL (retention trade_complete: completed trades are dropped, by design)")
            print(f"  trades exported: {check['trades']} {check['outcomes']}")
            if check["not_complete"]:
                print(f"    not complete: {check['not_complete_orders']} orders, "
                      f"{check['not_complete_fills']} fills, strategy ids "
                      f"{check['not_complete_strategies']}")
            continue
        print(f"\ntrades from the {level.upper()} traces (round 1)")
        print_trades(check)
    if "keep_if" in out:
        k = out["keep_if"]
        print(f"\nMINIMAL with keep_if ({k['condition']})")
        print(f"  trades kept: {k['trades']} {k['outcomes']}; ADMF-PC's losing positions: "
              f"{k['admf_closed']}; matched (time and P&L): {k['matched']}, of them complete: "
              f"{k['matched_complete']}; orders per complete trade "
              f"{k['orders_per_complete_trade']}")
        print_mismatches(k)
    print("\ncost: whole-process wall time, median over the rounds, against bare's median "
          f"(load average {' -> '.join(f'{x:.2f}' for x in out['load_average'])} on "
          f"{os.cpu_count()} CPUs)")
    print(f"  {'config':8} {'runs':>4} {'median s':>9} {'ratio':>7} {'budget':>7}  verdict")
    for row in out["cost"]:
        ratio = f"{row['ratio']:.3f}x" if row["ratio"] is not None else "-"
        budget = f"{row['budget']:.2f}x" if row["budget"] is not None else "-"
        print(f"  {row['config']:8} {row['runs']:>4} {row['median_s']:>9.2f} {ratio:>7} "
              f"{budget:>7}  {row['verdict']}")
    print("\nexit accounting (each traced run's exit line)")
    for line in out["exit_lines"]:
        text = line["text"] or ("no exit line (level none: nothing recorded)"
                                if line["config"] == "none" else
                                "NO EXIT LINE (tradetrace did not start, or the line changed)")
        balanced = "" if line["text"] is None else (
            "  [balanced]" if line["balanced"] else "  [DOES NOT ADD UP]")
        print(f"  {line['config']:16} r{line['round']}: {text}{balanced}")


def print_trades(c: dict[str, Any]) -> None:
    outcomes = f" {c['not_complete_outcomes']}" if c["not_complete"] else ""
    print(f"  trades {c['trades']}: complete {c['complete']}, not complete "
          f"{c['not_complete']}{outcomes}")
    if c["not_complete"]:
        print(f"    not complete: {c['not_complete_orders']} orders, "
              f"{c['not_complete_fills']} fills, strategy ids {c['not_complete_strategies']}")
    print(f"  complete with an entry and an exit order (2+ orders): "
          f"{c['complete_with_two_orders']} of {c['complete']}; orders per complete trade "
          f"{c['orders_per_complete_trade']}")
    print(f"  orders in complete trades {c['orders_in_complete']} of ADMF-PC's "
          f"{c['admf_orders']}, fills {c['fills_in_complete']} of {c['admf_fills']}")
    print(f"  P&L of complete trades {c['pnl_complete']:+.8f} vs ADMF-PC's {c['admf_pnl']} "
          f"over {c['admf_closed']} closed positions (difference {c['pnl_difference']:.2g})")
    print(f"  per trade: {c['matched']} of {c['admf_closed']} closed positions matched by "
          f"time and P&L ({c['matched_complete']} complete)")
    print_mismatches(c)


def print_mismatches(c: dict[str, Any]) -> None:
    for key, label in (("pnl_differs", "P&L differs"), ("no_trade", "closed, no trade"),
                       ("no_position", "trade matching no closed position"),
                       ("not_two_orders", "complete trade of other than 2 orders "
                        "(one opens, one closes unless a fill flips the position)")):
        items = c.get(key, [])
        if items:
            print(f"    {label}: {len(items)}")
            for item in items[:SHOWN]:
                print(f"      {item}")
    for message in c["read_messages"]:
        print(f"    reading the traces: {message}")


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--admf-root", default=os.environ.get("ADMF_PC_ROOT"))
    p.add_argument("--python", default=os.environ.get("ADMF_PC_PYTHON") or sys.executable,
                   help="the Python that runs ADMF-PC (default: ADMF_PC_PYTHON, else this one)")
    p.add_argument("--bars", default="500", help="bars to run; 0 or 'all' for the whole file")
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds")
    p.add_argument("--levels", default=",".join(LEVELS))
    p.add_argument("--json", metavar="FILE", help="write the report as JSON ('-': stdout)")
    p.add_argument("--keep", metavar="DIR", help="keep traces and keep_if config in DIR")
    p.add_argument("--keep-admf-output", action="store_true",
                   help="leave the trade files and results folders ADMF-PC writes per run")
    args = p.parse_args(argv)
    args.bars = 0 if str(args.bars).lower() in ("0", "all") else int(args.bars)
    args.levels = [lv.strip().lower() for lv in args.levels.split(",") if lv.strip()]
    bad = [lv for lv in args.levels if lv not in LEVELS]
    if bad or args.repeats < 1:
        p.error(f"--levels takes {', '.join(LEVELS)}; --repeats at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reason = skip_reason(args.admf_root, args.python)
    if reason:
        print(f"admf_pc: skipped: {reason}")
        return 0
    root = Path(args.admf_root).resolve()
    bare_imports, _ = imports_under(args.python, bare_env(), root)
    _, traced_file = imports_under(args.python, {**bare_env(), "TRADETRACE_LEVEL": "none"}, root)
    if not traced_file:
        print(f"admf_pc: {args.python} does not start tradetrace from TRADETRACE_* variables "
              "(install tradetrace into it, or put its src first on PYTHONPATH)", file=sys.stderr)
        return 2
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="admf_pc_"))
    work.mkdir(parents=True, exist_ok=True)
    if work.resolve().is_relative_to(root):
        print("admf_pc: --keep must be outside the ADMF-PC checkout", file=sys.stderr)
        return 2
    ctx = Context(root, args.python, args.bars, work.resolve(), args.keep_admf_output)
    try:
        ctx.load.append(os.getloadavg()[0])
        run_all(ctx, args.levels, args.repeats)
        ctx.load.append(os.getloadavg()[0])
        out = report(ctx, args.levels, {"bare_imports": bare_imports,
                                        "tradetrace": traced_file})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        text = json.dumps(out, indent=2, default=str)
        if args.json == "-":
            print(text)
            return 0
        Path(args.json).write_text(text)
    print_report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
