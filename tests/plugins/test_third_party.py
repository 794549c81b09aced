"""Plug-ins from another package: a storage backend, a retention policy, trade rules, a
query pattern and an event adapter, declared as entry points by a package made here (a
``.dist-info`` on ``PYTHONPATH``, as pip would install it), chosen by name like the
built-in ones, in traced runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PACKAGE = '''
"""A third party's tradetrace plug-ins."""
from dataclasses import dataclass
from pathlib import Path

from tradetrace.export.backends import StorageBackend
from tradetrace.model.events import EventAdapter
from tradetrace.retain.policy import RetentionPolicy
from tradetrace.retain.trades import TradeRules


class LineSink:
    def __init__(self, path):
        self.path = path
        self.lines = 0

    def write(self, line):
        with open(self.path, "ab") as out:
            out.write(line + b"\\n")
        self.lines += 1

    def flush(self):
        pass

    def shutdown(self):
        pass


class Lines(StorageBackend):
    name = "lines"

    def sink(self, context):
        context.config.output.mkdir(parents=True, exist_ok=True)
        return LineSink(context.config.output / f"{context.file_stem}.lines")

    def describe(self, sink):
        return f"lines in {sink.path}"


class BarsOver:
    """Every BAR span whose close is above a price."""

    name = "bars_over"

    def find(self, query, limit, price=100.0):
        count, rows = query._counted(
            "SELECT span_id, event_id FROM _spans WHERE event_type = 'BAR' AND "
            "TRY_CAST(map(attr_keys, attr_values)['trading.price'] AS DOUBLE) > ? "
            "ORDER BY start_ns", [float(price)], limit)
        return count, rows, ""


@dataclass(frozen=True)
class DeniedToo(TradeRules):
    """A venue that answers DENIED where others say REJECTED."""

    rejected_statuses: frozenset = frozenset({"REJECTED", "DENIED"})


@dataclass(frozen=True)
class KeepWinners(RetentionPolicy):
    name = "keep_winners"

    def keeps(self, trade):
        return "a winner" if trade.outcome == "win" else None


class Mappings(EventAdapter):
    """Events that are dicts: each field is a key."""

    name = "mappings"

    def read(self, name, event="event"):
        return f"{event}[{self.fields[name]!r}]"

    def read_or_none(self, name, event="event"):
        return f"{event}.get({self.fields[name]!r})"

    def metadata(self, event, create=False):
        key = self.fields["metadata"]
        if event.get(key) is None and create:
            event[key] = {}
        return event.get(key)


class DictBus:
    """A bus whose events are plain dicts."""

    def __init__(self):
        self.handlers = {}

    def subscribe(self, kind, handler):
        self.handlers.setdefault(kind, []).append(handler)

    def publish(self, event):
        for handler in self.handlers.get(event["type"], []):
            handler(event)
'''

ENTRY_POINTS = """
[tradetrace.sinks]
lines = thirdparty_plugins:Lines

[tradetrace.retention_policies]
keep_winners = thirdparty_plugins:KeepWinners

[tradetrace.trade_rules]
denied_too = thirdparty_plugins:DeniedToo

[tradetrace.query_patterns]
bars_over = thirdparty_plugins:BarsOver

[tradetrace.event_adapters]
mappings = thirdparty_plugins:Mappings
"""

PROGRAM = """
import sys
import tradetrace
sys.path.insert(0, {examples!r})
import demo_engine

session = tradetrace.configure("normal", backend="lines", output={out!r}, run_id="third",
                               retention={{"policy": "keep_winners", "incomplete": "drop"}})
demo_engine.run_backtest(bars=400, seed=7)
print(session.sink_description)
tradetrace.shutdown()
"""


@pytest.fixture
def third_party(tmp_path: Path) -> Path:
    """A folder holding the package and its distribution metadata."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "thirdparty_plugins.py").write_text(PACKAGE)
    info = site / "thirdparty_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-plugins\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    return site


def _run(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO / "src")])
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def test_a_backend_and_a_policy_from_another_package(third_party: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run(third_party, PROGRAM.format(examples=str(REPO / "examples"), out=str(out)))
    assert done.returncode == 0, done.stderr[-3000:]
    lines_file = out / "third.lines"
    assert done.stdout.strip() == f"lines in {lines_file}"
    spans = [span for line in lines_file.read_text().splitlines()
             for resource in json.loads(line)["resourceSpans"]
             for scope in resource["scopeSpans"] for span in scope["spans"]]
    trades = [{a["key"]: next(iter(a["value"].values())) for a in s["attributes"]}
              for s in spans if s["name"] == "trade"]
    assert trades, "no trade span was kept"
    assert {t["trading.trade.outcome"] for t in trades} == {"win"}
    assert {t["trading.trade.kept_by"] for t in trades} == {"a winner"}
    # the losers' spans were held and dropped by the policy, counted as such
    assert "retention_policy" in done.stderr, done.stderr[-2000:]


def test_names_from_another_package_are_listed_and_checked(third_party: Path,
                                                        tmp_path: Path) -> None:
    config = tmp_path / "tradetrace.yaml"
    config.write_text("tracing:\n  trades:\n    rules: denied_too\n    orders: [ORDER]\n")
    done = _run(third_party, (
        "from tradetrace.plugins import SINKS, RETENTION_POLICIES\n"
        "from tradetrace.config import load_config\n"
        "print(SINKS.names(), RETENTION_POLICIES.names())\n"
        f"rules = load_config(config_file={str(config)!r}, env={{}}).trade_rules\n"
        "print(type(rules).__name__, sorted(rules.rejected_statuses), sorted(rules.orders))\n"
        "try:\n"
        "    load_config(backend='lines2', env={})\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"))
    assert done.returncode == 0, done.stderr
    listed, rules, refused = done.stdout.splitlines()
    assert "'lines'" in listed and "'keep_winners'" in listed
    assert rules == "DeniedToo ['DENIED', 'REJECTED'] ['ORDER']"
    assert refused.startswith("ConfigError backend: 'lines2' is not valid")
    assert "tradetrace.sinks" in refused


def test_a_query_pattern_from_another_package(third_party: Path, tmp_path: Path) -> None:
    out = tmp_path / "files"
    done = _run(third_party, f"""
import sys
import tradetrace
sys.path.insert(0, {str(REPO / "examples")!r})
import demo_engine
from tradetrace.query import TraceQuery

tradetrace.configure("normal", output={str(out)!r}, run_id="q")
demo_engine.run_backtest(bars=300, seed=7)
tradetrace.shutdown()
query = TraceQuery({str(out)!r})
over = query.detect_patterns("bars_over", price=100.0)
everything = query.detect_patterns("bars_over", price=-1.0)
print(over.count, everything.count, len(over.rows))
""")
    assert done.returncode == 0, done.stderr[-3000:]
    over, everything, rows = map(int, done.stdout.split())
    assert everything == 300  # every bar is over a negative price
    assert 0 < over < everything and rows == over


DICT_PROGRAM = """
import tradetrace
from thirdparty_plugins import DictBus

profile = {{"name": "dicts", "publish": ["thirdparty_plugins:DictBus.publish"],
           "event_adapter": "mappings",
           "event_fields": {{"event_type": "type", "container_id": "node", "payload": "data",
                            "event_id": "id"}}}}
tradetrace.configure("normal", profile=profile, output={out!r}, run_id="dicts")
bus = DictBus()
bus.subscribe("BAR", lambda bar: bus.publish(
    {{"type": "SIGNAL", "node": "strategy", "id": "s" + bar["id"],
      "data": {{"symbol": "SPY", "direction": 1, "price": bar["data"]["close"]}}}}))
for i in range(5):
    bus.publish({{"type": "BAR", "node": "data", "id": str(i),
                 "data": {{"symbol": "SPY", "close": 100.0 + i}}}})
tradetrace.shutdown()
"""


def test_an_event_adapter_from_another_package(third_party: Path, tmp_path: Path) -> None:
    out = tmp_path / "dicts"
    done = _run(third_party, DICT_PROGRAM.format(out=str(out)))
    assert done.returncode == 0, done.stderr[-3000:]
    spans = [span for path in sorted(out.glob("dicts-0*.jsonl"))
             for line in path.read_text().splitlines()
             for resource in json.loads(line)["resourceSpans"]
             for scope in resource["scopeSpans"] for span in scope["spans"]]
    events = [s for s in spans if s["name"] in ("BAR", "SIGNAL")]
    assert sorted(s["name"] for s in events) == ["BAR"] * 5 + ["SIGNAL"] * 5
    by_id = {s["spanId"]: s for s in events}

    def attributes(span):
        return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}

    for signal in (s for s in events if s["name"] == "SIGNAL"):
        bar = by_id[signal["parentSpanId"]]  # the SIGNAL was published inside the BAR's
        assert bar["name"] == "BAR"
        assert attributes(signal)["trading.event.id"] == "s" + attributes(bar)["trading.event.id"]
        assert attributes(signal)["trading.container.id"] == "strategy"
    closes = sorted(attributes(b)["trading.price"] for b in events if b["name"] == "BAR")
    assert closes == [100.0, 101.0, 102.0, 103.0, 104.0]
