"""`tradetrace query trade` prints where the trade is in the Jaeger UI when a Jaeger URL is
given (--jaeger-url, else TRADETRACE_JAEGER_URL): the tag search over the trade's time,
the trade span and each event span, as the UI's references open them."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

from tradetrace.analyse.query import TraceQuery
from tradetrace.cli.main import main

BASE = "http://jaeger.example:16686"


def a_trade(folder: str):
    return next(t for t in TraceQuery(folder).trades().rows if t.outcome == "loss")


def test_the_trade_s_jaeger_addresses(runs, capsys, monkeypatch):
    (folder, _), _ = runs
    monkeypatch.delenv("TRADETRACE_JAEGER_URL", raising=False)
    trade = a_trade(folder)
    assert main(["query", "trade", trade.trade_id, folder, "--json",
                 "--jaeger-url", BASE + "/"]) == 0
    links = json.loads(capsys.readouterr().out)["jaeger"]
    assert [link["what"] for link in links[:2]] == ["search", "trade span"]
    assert sorted(link["what"] for link in links[2:]) == sorted(
        e.event_type for e in trade.events)

    search = urllib.parse.urlsplit(links[0]["url"])
    assert f"{search.scheme}://{search.netloc}{search.path}" == BASE + "/search"
    asked = dict(urllib.parse.parse_qsl(search.query))
    assert json.loads(asked["tags"]) == {"trading.trade.id": trade.trade_id}
    assert asked["service"] == "trading" and asked["lookback"] == "custom"
    start_us, end_us = int(asked["start"]), int(asked["end"])
    assert start_us * 1000 < trade.start_ns and trade.end_ns < end_us * 1000

    spans = {(e.trace_id, e.span_id) for e in trade.events}
    opened = {tuple(urllib.parse.urlsplit(link["url"]).path.split("/")[2:3]
                    + [urllib.parse.parse_qs(urllib.parse.urlsplit(link["url"]).query)
                       ["uiFind"][0]]) for link in links[2:]}
    assert opened == spans


def test_the_variable_gives_the_address_and_the_table_lists_them(runs, capsys, monkeypatch):
    (folder, _), _ = runs
    trade = a_trade(folder)
    monkeypatch.setenv("TRADETRACE_JAEGER_URL", BASE)
    assert main(["query", "trade", trade.trade_id, folder]) == 0
    out = capsys.readouterr().out
    assert f"in Jaeger ({BASE}):" in out
    assert sum(f"{BASE}/trace/" in line for line in out.splitlines()) == len(trade.events) + 1


def test_without_an_address_nothing_about_jaeger_is_said(runs, capsys, monkeypatch):
    (folder, _), _ = runs
    monkeypatch.delenv("TRADETRACE_JAEGER_URL", raising=False)
    assert main(["query", "trade", a_trade(folder).trade_id, folder]) == 0
    assert "Jaeger" not in capsys.readouterr().out


def test_an_address_that_is_not_http_is_a_usage_error(runs, capsys, monkeypatch):
    (folder, _), _ = runs
    monkeypatch.setenv("TRADETRACE_JAEGER_URL", "localhost:16686")
    assert main(["query", "trade", a_trade(folder).trade_id, folder]) == 2
    assert "TRADETRACE_JAEGER_URL: 'localhost:16686' is not" in capsys.readouterr().err


def test_the_variable_alone_turns_no_tracing_on(tmp_path):
    """It is read by one command; exported in a shell, it must not trace every program."""
    src = Path(__file__).resolve().parents[2] / "src"  # this checkout's autostart hook
    env = {"TRADETRACE_JAEGER_URL": BASE, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(src)}
    started = "import sys; print('tradetrace.session' in sys.modules)"  # True at any level
    done = subprocess.run([sys.executable, "-c", started], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert done.stdout.strip() == "False", done.stderr
