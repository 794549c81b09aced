"""``tradetrace serve`` in a real browser: the real server (a subprocess on a free port)
over two demo runs, driven by headless Chromium through Playwright.

Every page is opened; from the trades list to a losing trade (its P&L and events as
TraceQuery has them), from one of its events to its chain; the market-time switch, the
latency plot drawn by plotly.js served locally, two runs compared; and a run written
after the server started shows up on the runs page. Assertions read the rendered page;
screenshots go to ``.cache/screenshots/serve/`` (or ``TRADETRACE_SCREENSHOTS``)."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.query import TraceQuery

from .stack import wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
PAGE_TIMEOUT_MS = 60_000  # two shared cores: a cold page may take a while


def chromium_or_skip() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                        "(it is in the test extra)")
    chromium = shutil.which("chromium") or CHROMIUM
    if not Path(chromium).exists():
        pytest.skip("no chromium: run .ci/install-browser")
    return chromium


def screenshots() -> Path:
    folder = Path(os.environ.get("TRADETRACE_SCREENSHOTS", ROOT / ".cache" / "screenshots"
                                 / "serve"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def demo_run(folder: Path, level: str, run_id: str, seed: int, bars: int = 600) -> None:
    import demo_engine

    tradetrace.configure(level, profile="demo", output=folder, backend="file", run_id=run_id)
    demo_engine.run_backtest(bars=bars, seed=seed)
    tradetrace.shutdown()


def hand_made_signals(folder: Path) -> None:
    """Run ``run1`` of tests/analyse/test_report_sections.py: a long signal whose order
    was rejected, then a short one with no order (why no trade)."""
    from analyse.test_report_sections import _spans

    line = {"resourceSpans": [{
        "resource": {"attributes": [{"key": conv.RUN_ID, "value": {"stringValue": "run1"}}]},
        "scopeSpans": [{"scope": {"name": "tradetrace"}, "spans": _spans(None)}]}]}
    folder.mkdir(parents=True)
    (folder / "hand-0001.jsonl").write_text(json.dumps(line) + "\n")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``tradetrace serve TRACES --port 0`` running; (its URL, the traces folder)."""
    traces = tmp_path / "traces"
    traces.mkdir()
    errors = tmp_path / "serve-stderr.txt"
    # the tradetrace under test, wherever it is imported from (an installed copy or src/)
    src = str(Path(tradetrace.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (src, os.environ.get("PYTHONPATH", "")) if p)}
    with errors.open("w") as stderr, subprocess.Popen(
            [sys.executable, "-m", "tradetrace.cli.main", "serve", str(traces), "--port", "0"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=tmp_path,
            env=env) as process:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []],
                         daemon=True).start()
        try:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                raise AssertionError("no address printed: " + errors.read_text()) from None
            found = re.match(r"tradetrace serve: (http://127\.0\.0\.1:\d+/)", line)
            assert found, line
            yield found.group(1), traces
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert "Traceback" not in errors.read_text(), errors.read_text()


def test_every_page_from_runs_to_a_losing_trade_and_its_chain(server):
    chromium = chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright

    url, traces = server
    demo_run(traces / "normal", "normal", "run_a_normal", seed=7)
    demo_run(traces / "debug", "debug", "run_b_debug", seed=8)
    hand_made_signals(traces / "hand")
    query = TraceQuery(traces)
    shots = screenshots()
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"],
                                             timeout=PAGE_TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            offline = []  # anything asked of another host: there must be none
            page.on("request", lambda r: offline.append(r.url)
                    if not r.url.startswith(url) else None)

            # 1. runs: both, with the engine's trades and P&L, the level as traced
            runs = page.locator("#runs tbody tr")

            def both_listed() -> bool:  # the server looks at the files every 1.5 s
                page.goto(url)
                return runs.count() == 3

            wait_until(both_listed, 60, "the three runs on the runs page")
            ranking = {r.run_id: r for r in query.rank_runs().rows}
            for row in runs.all():
                cells = row.inner_text()
                run = next(r for r in ranking if r in cells)
                if run == "run1":
                    continue
                assert f"{ranking[run].realized_pnl:+,.2f}" in cells
                assert ("debug" if run == "run_b_debug" else "normal") in cells
            page.screenshot(path=shots / "1-runs.png", full_page=True)

            # 2. the run's trades, filtered to the losses by the form, worst first
            page.get_by_role("link", name="run_a_normal", exact=True).click()
            page.locator("select[name=outcome]").select_option("loss")
            page.get_by_role("button", name="Filter").click()
            expect(page).to_have_url(re.compile(r"outcome=loss"))
            page.get_by_role("link", name="P&L").click()
            expect(page).to_have_url(re.compile(r"order=realized_pnl"))
            losses = query.trades(run="run_a_normal", outcome="loss", events=False,
                                  order="realized_pnl")
            expect(page.locator("#count")).to_have_text(f"{losses.total:,} trade(s)")
            rows = page.locator("#trades tbody tr")
            assert rows.count() == losses.total > 0
            worst = losses.rows[0]
            assert worst.trade_id in rows.first.inner_text()
            page.screenshot(path=shots / "2-trades-losses.png", full_page=True)

            # 3. the losing trade: its whole life, causes included, across traces
            rows.first.get_by_role("link", name=worst.trade_id).click()
            expect(page.locator("h1")).to_have_text(f"Trade {worst.trade_id}")
            facts = page.locator(".facts").inner_text()
            assert "loss" in facts and f"{worst.realized_pnl:+,.2f}" in facts
            events = query.get_trade(worst.trade_id).trade.events
            kinds = page.locator("#waterfall tr.event").evaluate_all(
                "rows => rows.map(r => r.dataset.eventType)")
            assert [k for k in kinds if k not in ("BAR", "SIGNAL")] == [
                ev.event_type for ev in events]
            assert kinds[0] == "BAR"
            page.locator("#waterfall details summary").nth(2).click()  # its first order
            expect(page.locator("#waterfall details[open]")).to_contain_text(
                "trading.order.id")
            page.screenshot(path=shots / "3-trade-wall-time.png", full_page=True)
            page.locator("#market").click()
            expect(page.locator(".switch b")).to_have_text("market")
            expect(page.locator("#waterfall")).to_contain_text(worst.entry_time)
            page.screenshot(path=shots / "4-trade-market-time.png", full_page=True)

            # a trade of the DEBUG run: each event's payload snapshot, apart
            debug_trade = query.trades(run="run_b_debug", events=False, limit=1).rows[0]
            page.goto(url + f"trade?id={debug_trade.trade_id}&run=run_b_debug")
            page.locator("#waterfall tr.event.trade + tr.detail summary").first.click()
            expect(page.locator("#waterfall details[open]")).to_contain_text(
                "payload snapshot (DEBUG)")
            page.screenshot(path=shots / "4b-debug-trade-payload.png", full_page=True)
            page.go_back()

            # 4. one of its events (the first order) to its chain, both directions
            order = next(ev for ev in events if ev.event_type == "ORDER")
            page.locator(f'#waterfall tr[data-event-id="{order.event_id}"]').get_by_role(
                "link", name="chain").click()
            chain = query.get_event_chain(order.event_id)
            relations = page.locator("#chain tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.relation)")
            assert len(relations) == len(chain.rows) and relations.count("self") == 1
            expect(page.locator(".note").first).to_contain_text(
                f"{len(chain.ancestors)} cause(s) up to the root, "
                f"{len(chain.descendants)} effect(s) down")
            page.screenshot(path=shots / "5-chain.png", full_page=True)

            # 5. latency: stages as the engine has them, tick to trade drawn locally
            page.goto(url + "latency")
            stages = query.find_bottlenecks(percentile=99).rows
            expect(page.locator("#stages tbody tr")).to_have_count(len(stages))
            expect(page.locator("#plot-t2t .main-svg").first).to_be_visible()
            t2t = query.tick_to_trade()
            expect(page.locator("#t2t")).to_contain_text(f"{t2t.count:,} fill(s)")
            page.screenshot(path=shots / "6-latency.png", full_page=True)
            page.locator("#stages tbody tr a").first.click()
            expect(page.locator("#slowest tbody tr").first).to_be_visible()

            # 6. why no trade: none in the demo runs (every change of direction was
            # ordered); in the hand-made run, the short signal after a rejected order
            page.goto(url + "why?run=run_b_debug")
            expect(page.locator("#why-count")).to_contain_text("in run run_b_debug")
            expect(page.locator("main")).to_contain_text("every change of direction led")
            page.goto(url + "why")
            row = page.locator("#why tbody tr")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("long → short")
            expect(row).to_contain_text("the order before was rejected")
            page.screenshot(path=shots / "7-why-no-trade.png", full_page=True)
            row.get_by_role("link", name="span").click()  # (hand-made: no event id)
            expect(page.locator("h1")).to_have_text("Span SIGNAL")
            expect(page.locator("main")).to_contain_text("trading.signal.direction")

            # 7. compare: A and B chosen on the runs page
            page.goto(url)
            page.locator('input[name=a][value="run_a_normal"]').check()
            page.locator('input[name=b][value="run_b_debug"]').check()
            page.get_by_role("button", name="Compare A with B").click()
            diff = query.trade_diff("run_a_normal", "run_b_debug")
            expect(page.locator("#first-divergence")).to_contain_text("First divergence")
            assert diff.first is not None
            expect(page.locator("#first-divergence")).to_contain_text(diff.first.key)
            expect(page.locator("#trade-diff tbody tr")).to_have_count(min(len(diff.rows), 500))
            page.screenshot(path=shots / "8-compare.png", full_page=True)
            assert offline == []
        finally:
            browser.close()


def test_a_run_written_while_the_server_runs_shows_up(server):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    url, traces = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"],
                                             timeout=PAGE_TIMEOUT_MS)
        try:
            page = browser.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(url)
            assert "no runs in" in page.locator("main").inner_text()
            demo_run(traces / "live", "normal", "run_live", seed=3, bars=300)

            def listed() -> bool:
                page.goto(url)
                return "run_live" in page.locator("main").inner_text()

            wait_until(listed, 60, "the new run on the runs page")
            page.screenshot(path=screenshots() / "9-live-run.png", full_page=True)
        finally:
            browser.close()
