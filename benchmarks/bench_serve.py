"""``tradetrace serve`` at scale: the trades page and a trade page, timed over HTTP.

Issue 18's budget: the trades page and a trade page render within 300 ms on a 10M-span
index. The server runs in this process (the real WSGI server on a free loopback port);
each page is asked for over HTTP with urllib, so a time includes the request, the
queries, the rendering and the transfer. What is paid once is shown apart: the first
request (the query over the index is made) and the first trades page (the engine
builds its trades table; the server warms it in the background when started by the
command). Then, for each kind of page, ``--repeat`` requests: median, p95 and the ratio
of the p95 to the budget; and beside it the engine's own calls the page makes, timed
alone, to tell the engine's share from the viewer's. The other pages (runs, latency,
why no trade, compare) are not budgeted: each is timed once cold and once again.

    python benchmarks/bench_serve.py --source /work/data/bench/sweep33 [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tradetrace.serve import server  # noqa: E402

BUDGET_MS = 300.0


def fetch(url: str) -> float:
    """Milliseconds to get ``url`` whole; fails unless it answers 200."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        response.read()
        assert response.status == 200, (url, response.status)
    return (time.perf_counter() - start) * 1e3


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def report(name: str, times: list[float], engine: list[float] | None = None) -> None:
    line = (f"  {name:<34} median {statistics.median(times):7.1f} ms  p95 "
            f"{p95(times):7.1f} ms  p95/budget {p95(times) / BUDGET_MS:5.2f}")
    if engine:
        line += f"   (engine calls alone: median {statistics.median(engine):6.1f} ms)"
    print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="a folder of trace files (indexed)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--run", help="the run whose trades are shown (default: the first)")
    args = parser.parse_args()

    listening, app = server.make([args.source], port=0)
    threading.Thread(target=listening.serve_forever, daemon=True).start()
    base = server.url(listening)
    try:
        print(f"bench_serve: {args.source}, {base}", flush=True)
        start = time.perf_counter()
        with app.traces.session() as query:
            spans = query.stats.spans
            runs = query.runs()
        made = (time.perf_counter() - start) * 1e3
        run = args.run or runs[0]
        print(f"  {spans:,} spans in {len(runs)} run(s); run shown: {run}")
        print(f"  once: the query over the index made in {made:,.0f} ms", flush=True)
        trades_url = base + "trades?" + urllib.parse.urlencode({"run": run})
        print(f"  once: first trades page (trades table built) {fetch(trades_url):,.0f} ms",
              flush=True)
        with app.traces.session() as query:
            picked = query.trades(run=run, events=False, order="realized_pnl",
                                  limit=args.repeat).rows
        ids = [t.trade_id for t in picked]

        def engine_trades(**kw: object) -> float:
            with app.traces.session() as q:
                return timed(lambda: q.trades(run=run, events=False, limit=200, **kw))

        pages = {
            "trades page (first 200)": ({"run": run}, {}),
            "trades page, losses by P&L": ({"run": run, "outcome": "loss",
                                            "order": "realized_pnl"},
                                           {"outcome": "loss", "order": "realized_pnl"}),
            "trades page 2, by holding time": ({"run": run, "order": "-holding_period_s",
                                                "page": "2"},
                                               {"order": "-holding_period_s", "offset": 200}),
        }
        for name, (params, kw) in pages.items():
            url = base + "trades?" + urllib.parse.urlencode(params)
            times = [fetch(url) for _ in range(args.repeat)]
            report(name, times, [engine_trades(**kw) for _ in range(5)])

        def engine_trade(trade_id: str) -> float:
            with app.traces.session() as q:
                def both() -> None:
                    t = q.get_trade(trade_id).trade
                    assert t is not None
                    q.sql("SELECT trace_id, span_id, parent_id, sim_time FROM spans WHERE "
                          "run_id = ? AND (list_contains(?, trace_id) OR trade_id = ?)",
                          [t.run_id, sorted({e.trace_id for e in t.events}), trade_id])
                return timed(both)

        for time_axis in ("wall", "market"):
            times = [fetch(base + "trade?" + urllib.parse.urlencode(
                {"id": trade_id, "run": run, "time": time_axis})) for trade_id in ids]
            report(f"trade page ({time_axis} time), {len(ids)} trades", times,
                   [engine_trade(trade_id) for trade_id in ids[:5]])
        # not budgeted: the other pages once each (each computed once per index, then kept)
        for path in ("", "latency?run=" + urllib.parse.quote(run), "latency",
                     "why?run=" + urllib.parse.quote(run), "why",
                     "compare?" + urllib.parse.urlencode({"a": run, "b": runs[-1]})):
            cold, warm = fetch(base + path), fetch(base + path)
            print(f"  /{path:<40} first {cold:9,.0f} ms, again {warm:7,.0f} ms", flush=True)
    finally:
        listening.shutdown()
        listening.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
