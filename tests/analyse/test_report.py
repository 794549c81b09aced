"""The HTML report: built from demo-engine traces and drawn in headless Chromium with no
network (every plot rendered, one timeline bar per kept trade, no request leaves the
page); empty inputs give "no data" notes; strings from traces are escaped."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.analyse.report import PLOT_IDS, write_report
from tradetrace.analyse.report_figures import LOSS, WIN, pnl_color
from tradetrace.query import TraceQuery

UNSAFE = "<script>alert(1)</script>"


# -- the browser --------------------------------------------------------------------------


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "no chromium on PATH: run .ci/install-browser (Debian's `chromium` package)"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must install it")
    pytest.skip(message)


def _render(page: Path, work: Path) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the http(s) URLs the page itself asked for.

    Name resolution is mapped to nothing, so a page that needed the network would not
    draw; the net log says which requests were made, and the page's own (initiator
    ``null``: a file:// document) are told apart from the browser's background ones.
    """
    browser = _browser()
    net_log = work / "net-log.json"
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={work / 'profile'}", '--host-resolver-rules=MAP * ~NOTFOUND',
         f"--log-net-log={net_log}", "--virtual-time-budget=10000", "--dump-dom",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = [e["params"]["url"] for e in log["events"]
                if e["type"] == start_job and e.get("params", {}).get("initiator") == "null"
                and re.match(r"https?:", e["params"].get("url", ""))]
    return done.stdout, requests


def _screenshot(page: Path, work: Path) -> Path:
    """The page as a reader sees its first screens, saved beside the test's files."""
    shot = work / "report.png"
    done = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={work / 'profile-shot'}", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--window-size=1400,2400", "--virtual-time-budget=10000", f"--screenshot={shot}",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return shot


def _rgb(color: str) -> str:
    """``#d62728`` as the DOM writes it: ``rgb(214, 39, 40)``."""
    return "rgb({}, {}, {})".format(*(int(color[i:i + 2], 16) for i in (1, 3, 5)))


def _text(dom: str, element_id: str) -> str:
    found = re.search(f'id="{element_id}"[^>]*><b>([^<]*)</b>', dom)
    assert found, element_id
    return found.group(1)


class _PlotCounter(HTMLParser):
    """Per plot div: rendered ``svg.main-svg`` elements and drawn bars (``g.point`` of a
    ``g.trace.bars`` whose path is not plotly's empty ``M0,0Z``), each bar's fill colour
    and its width in pixels (of a vertical bar's ``Mx0,y0Vy1Hx1V..Z`` path)."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs = dict.fromkeys(PLOT_IDS, 0)
        self.bars = dict.fromkeys(PLOT_IDS, 0)
        self.fills: dict[str, Counter[str]] = {i: Counter() for i in PLOT_IDS}
        self.widths: dict[str, list[float]] = {i: [] for i in PLOT_IDS}
        self._plot: str | None = None
        self._depth = 0
        self._in_point = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "div":
            if self._plot:
                self._depth += 1
            elif a.get("id") in self.svgs:
                self._plot, self._depth = a["id"], 1
            return
        if not self._plot:
            return
        if tag == "svg" and "main-svg" in classes:
            self.svgs[self._plot] += 1
        if tag == "g" and classes == ["point"]:
            self._in_point = True
        elif tag == "path" and self._in_point:
            self._in_point = False
            path = a.get("d") or "M0,0Z"
            if path != "M0,0Z":
                self.bars[self._plot] += 1
                fill = re.search(r"fill: (rgb\([^)]*\))", a.get("style") or "")
                self.fills[self._plot][fill.group(1) if fill else "?"] += 1
                box = re.fullmatch(r"M([-\d.]+),[-\d.]+V[-\d.]+H([-\d.]+)V[-\d.]+Z", path)
                if box:
                    self.widths[self._plot].append(abs(float(box[2]) - float(box[1])))

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._plot:
            self._depth -= 1
            if not self._depth:
                self._plot = None


def _without_plotlyjs(page: str) -> str:
    """The page minus the inlined plotly.js (whose source names URLs it never loads
    here: map tiles, topojson)."""
    scripts = re.findall(r"<script[^>]*>.*?</script>", page, flags=re.S)
    biggest = max(scripts, key=len, default="")
    assert "plotly.js" in biggest[:2000] or not biggest
    return page.replace(biggest, "")


# -- the report ---------------------------------------------------------------------------


@pytest.fixture
def demo_report(demo, tmp_path):
    traces = tmp_path / "traces"
    tradetrace.configure("normal", profile="demo", output=traces, backend="file")
    demo.run_backtest(bars=400, seed=11)
    tradetrace.shutdown()
    query = TraceQuery(traces)
    return query, write_report(query, tmp_path / "out" / "report.html", title="demo run")


def test_report_draws_every_plot_in_chromium_without_network(demo_report, tmp_path):
    query, page = demo_report
    text = page.read_text()
    assert text.count("Plotly.newPlot(") == len(PLOT_IDS)
    assert "no data" not in text
    # nothing in the page points outside it
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""",
                          _without_plotlyjs(text), flags=re.I)

    dom, requests = _render(page, tmp_path)
    counter = _PlotCounter()
    counter.feed(dom)
    assert all(counter.svgs[i] >= 1 for i in PLOT_IDS), counter.svgs
    assert requests == []

    kept = [t for t in query.trades(events=False).rows if t.has_trade_span]
    assert kept and all(t.entry_time or t.exit_time for t in kept)
    assert counter.bars["plot-trades"] == len(kept)
    stages = query.find_bottlenecks().rows
    assert counter.bars["plot-bottlenecks"] == 2 * min(len(stages), 12)
    assert counter.bars["plot-tick-to-trade"] >= 1

    # the timeline's colours count the trades by the sign of their P&L
    signs = Counter(pnl_color(t.realized_pnl) for t in kept)
    assert signs[LOSS] and signs[WIN]
    assert counter.fills["plot-trades"] == {_rgb(c): n for c, n in signs.items()}
    # every trade's P&L is a bar at least a pixel wide (they were 0.02 px)
    closed = [t for t in kept if t.realized_pnl is not None and t.exit_time]
    assert counter.bars["plot-pnl"] == len(closed)
    assert min(counter.widths["plot-pnl"]) >= 1.0
    # the first screen's numbers, as the browser shows them
    wins = sum(t.realized_pnl > 0 for t in closed if t.realized_pnl is not None)
    assert _text(dom, "glance-trades") == f"{len(closed):,}"
    assert _text(dom, "glance-win-rate") == f"{wins / len(closed):.0%}"
    assert _text(dom, "glance-pnl") == f"{sum(t.realized_pnl or 0 for t in closed):+,.2f}"
    assert _text(dom, "glance-spans") == f"{query.stats.spans:,}"
    # the metrics file beside the traces says
    assert _text(dom, "glance-dropped") == "0" and _text(dom, "glance-bars") == "400"
    assert dom.index('id="glance"') < dom.index('id="stages"') < dom.index('id="plot-trades"')
    # a reason column is there only with something in it
    rejected = dom[dom.index("<h3>Rejected orders"):dom.index("<h3>Why no trade")]
    if "<th>reason</th>" in rejected:
        column = re.findall(r"<th>([^<]*)</th>", rejected).index("reason")
        cells = [re.findall(r"<td[^>]*>(.*?)</td>", row)[column]
                 for row in re.findall(r"<tr><td.*?</tr>", rejected)]
        assert any(cells), rejected

    shot = _screenshot(page, tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_network_check_sees_a_page_that_loads_from_a_cdn(tmp_path):
    page = tmp_path / "cdn.html"
    page.write_text('<html><head><script src="https://cdn.plot.ly/plotly.min.js"></script>'
                    '</head><body><div id="plot-latency"></div></body></html>')
    dom, requests = _render(page, tmp_path)
    assert requests == ["https://cdn.plot.ly/plotly.min.js"]
    counter = _PlotCounter()
    counter.feed(dom)
    assert counter.svgs["plot-latency"] == 0


def test_empty_folder_gives_a_report_of_no_data_notes(tmp_path):
    (tmp_path / "empty").mkdir()
    query = TraceQuery(tmp_path / "empty")
    text = write_report(query, tmp_path / "report.html").read_text()
    for plot_id in PLOT_IDS:
        assert re.search(f'<div id="{plot_id}" class="no-data">no data: ', text), plot_id
    assert "Plotly" not in text and len(text) < 10_000  # plotly.js only when something plots
    assert "folder holds no trace files" in text


def _span(span_id: str, name: str, start_s: int, attributes: dict[str, object]) -> dict:
    start = 1_700_000_000_000_000_000 + start_s * 1_000_000_000
    return {"traceId": "ab" * 16, "spanId": span_id, "name": name, "kind": 1,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 40_000),
            "attributes": [{"key": k, "value": {"doubleValue": v} if isinstance(v, float)
                            else {"stringValue": str(v)}} for k, v in attributes.items()]}


def test_strings_from_traces_are_escaped(tmp_path):
    line = {"resourceSpans": [{
        "resource": {"attributes": [{"key": conv.RUN_ID, "value": {"stringValue": UNSAFE}}]},
        "scopeSpans": [{"scope": {"name": "tradetrace"}, "spans": [
            _span("00000000000000a1", "SIGNAL", 0, {
                conv.EVENT_TYPE: "SIGNAL", conv.EVENT_ID: "sig1", conv.SYMBOL: UNSAFE,
                conv.STRATEGY_ID: UNSAFE, conv.CONTAINER_ID: "strategy"}),
            _span("00000000000000a2", conv.TRADE_SPAN_NAME, 1, {
                conv.TRADE_ID: "t1", conv.SYMBOL: UNSAFE, conv.STRATEGY_ID: UNSAFE,
                conv.TRADE_OUTCOME: UNSAFE, conv.TRADE_PNL: 12.5,
                conv.TRADE_ENTRY_TIME: "2024-01-02T10:00:00",
                conv.TRADE_EXIT_TIME: "2024-01-02T11:00:00"}),
        ]}]}]}
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "hand-0001.jsonl").write_text(json.dumps(line) + "\n")
    query = TraceQuery(tmp_path / "traces")
    assert query.detect_patterns("signal_without_order").rows[0]["symbol"] == UNSAFE
    text = write_report(query, tmp_path / "report.html", title=UNSAFE).read_text()
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # title, run, table cells
    # the signal and the trade are plotted too (no BAR: no tick to trade)
    assert text.count("Plotly.newPlot(") == 4
    assert 'id="plot-tick-to-trade" class="no-data"' in text
