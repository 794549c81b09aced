"""A trade is one search away in the real Jaeger UI, checked in a real browser.

The demo backtest goes through the real Collector (``collector-config/jaeger.yaml``) into
Jaeger (``collector-config/jaeger/jaeger-local.yaml``) serving the real UI; headless
Chromium, driven by Playwright, searches a losing trade by tag, opens its trace and the
trade span's details, follows one of its references to the linked event, and finds the
run by its id. The assertions read the rendered page; screenshots go to ``tmp_path``."""

from __future__ import annotations

import json
import shutil
import urllib.parse
from pathlib import Path

import pytest

from tradetrace.analyse.query import TraceQuery
from tradetrace.cli.main import main

from .stack import (
    backtest_over_otlp,
    collector,
    jaeger,
    jaeger_ui,
    jaeger_ui_dir,
    wait_until,
)

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
SERVICE = "backtest-ui"
PAGE_TIMEOUT_MS = 60_000  # two shared cores: a cold page may take a while


def browser_or_skip() -> tuple[Path, str]:
    """The UI's files and the browser; skipped with the reason when either is absent
    (also under CI: the UI is not in any registry, see tests/e2e/stack.py jaeger_ui)."""
    ui = jaeger_ui()
    if ui is None:
        pytest.skip(f"the Jaeger UI's files are absent: no index.html in {jaeger_ui_dir()} "
                    "(set JAEGER_UI_DIR)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                        "(it is in the test extra)")
    chromium = shutil.which("chromium") or CHROMIUM
    if not Path(chromium).exists():
        pytest.skip("no chromium: run .ci/install-browser")
    return ui, chromium


def search_url(base: str, tags: dict[str, str], operation: str = "") -> str:
    query = {"service": SERVICE, "tags": json.dumps(tags), "lookback": "1h", "limit": "100"}
    if operation:
        query["operation"] = operation
    return f"{base}/search?{urllib.parse.urlencode(query)}"


def printed_links(capsys, trade_id: str, source: str, base: str) -> list[dict[str, str]]:
    """What ``tradetrace query trade ID SOURCE --jaeger-url BASE --json`` prints."""
    capsys.readouterr()
    assert main(["query", "trade", trade_id, source, "--jaeger-url", base, "--json"]) == 0
    links: list[dict[str, str]] = json.loads(capsys.readouterr().out)["jaeger"]
    return links


def test_a_losing_trade_is_one_search_away(tmp_path, monkeypatch, capsys, demo):
    ui, chromium = browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT_MS)

    with jaeger(tmp_path, ui) as jp, collector(
            tmp_path, "jaeger.yaml",
            OTELCOL_JAEGER_ENDPOINT=f"127.0.0.1:{jp['otlp_grpc']}") as cp:
        _, exported = backtest_over_otlp(demo, f"http://127.0.0.1:{cp['otlp_http']}",
                                         SERVICE, tmp_path, monkeypatch)
        base = f"http://127.0.0.1:{jp['query']}"
        source = f"jaeger+{base}/?service={SERVICE}&limit=10000"
        wait_until(lambda: TraceQuery(source).stats.spans == exported, 60,
                   f"Jaeger to hold all {exported} spans")
        spans = TraceQuery(source)
        trade = next(t for t in spans.trades().rows if t.outcome == "loss")
        holding = {row[0] for row in spans.sql(
            "SELECT DISTINCT trace_id FROM spans WHERE trade_id = ?", [trade.trade_id])}
        (run_id,) = {row[0] for row in spans.sql("SELECT DISTINCT run_id FROM spans")}
        links = printed_links(capsys, trade.trade_id, source, base)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium,
                                                 args=["--no-sandbox"], timeout=PAGE_TIMEOUT_MS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(PAGE_TIMEOUT_MS)

                # 1. the tag search `query trade` printed: every trace holding one of the
                # trade's spans
                assert links[0]["what"] == "search"
                page.goto(links[0]["url"])
                expect(page.get_by_text(f"{len(holding)} Traces", exact=True)).to_be_visible()
                titles = page.locator(".ResultItemTitle--title").all_inner_texts()
                page.screenshot(path=tmp_path / "1-search-by-trade-id.png", full_page=True)
                # a title is "service: root span name" then the trace id's first 7 digits
                roots = sorted(t.removeprefix(f"{SERVICE}: ")[:-7] for t in titles)
                assert roots == ["BAR"] * (len(holding) - 1) + ["trade"], titles

                # 2. the trade's trace and its span's details: tags and references
                page.locator(".ResultItemTitle--title",
                             has_text=f"{SERVICE}: trade").click()
                page.locator(".span-name-wrapper", has_text="trade").first.click()
                detail = page.locator(".detail-row").first
                expect(detail).to_contain_text(f"trading.trade.id={trade.trade_id}")
                detail.get_by_text("Tags:", exact=True).click()  # the table, one row a tag
                detail.get_by_text("References", exact=True).click()
                table = detail.inner_text()
                for key, value in [("trading.trade.outcome", "loss"),
                                   ("trading.trade.side", trade.side),
                                   ("trading.trade.entry_time", trade.entry_time),
                                   ("trading.trade.exit_time", trade.exit_time)]:
                    assert key in table and str(value) in table, (key, value)
                references = detail.locator(".ReferencesList--Item a")
                assert references.count() == len(trade.events)
                page.screenshot(path=tmp_path / "2-trade-span-details.png", full_page=True)

                # 3. a reference leads to the linked event, which says what it is itself
                # (the UI drops link attributes): its name, its trade id, its market time
                href = references.first.get_attribute("href")
                assert href is not None
                page.goto(base + href)
                # the reference's uiFind opens the linked span's details by itself (a click
                # would close them)
                matched = page.locator(".span-row.is-matching-filter")
                expect(matched).to_have_count(1)
                names = page.locator(".span-name-wrapper .endpoint-name").all_inner_texts()
                assert names[0] == "BAR" and "SIGNAL" in names, names  # the bar's cascade
                assert matched.locator(".endpoint-name").inner_text() in {
                    e.event_type for e in trade.events}
                linked = page.locator(".detail-row").first
                expect(linked).to_contain_text(f"trading.trade.id={trade.trade_id}")
                expect(linked).to_contain_text("trading.time.simulated=")
                linked.get_by_text("Tags:", exact=True).click()
                page.screenshot(path=tmp_path / "3-linked-event.png", full_page=True)

                # 4. the run by its id: its own trace, by operation and resource tag
                page.goto(search_url(base, {"trading.run.id": run_id},
                                     operation="Coordinator.run_topology"))
                expect(page.get_by_text("1 Trace", exact=True)).to_be_visible()
                expect(page.locator(".ResultItemTitle--title")).to_contain_text(
                    "Coordinator.run_topology")
                page.screenshot(path=tmp_path / "4-search-by-run-id.png", full_page=True)
            finally:
                browser.close()
