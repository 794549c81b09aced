"""Spans built in the encoder process (tracing.encoder: process) are the
spans the in-process worker builds; the traced process only packs and ships records;
a dead encoder costs counted spans, never the trading thread."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import tradetrace
from tradetrace.analyse.reader import read_spans
from tradetrace.config import DEFAULT_RETENTION, load_config
from tradetrace.export import worker as worker_module
from tradetrace.export.encoder_process import ENCODER_LOST
from tradetrace.export.packing import Packer
from tradetrace.export.plain_values import Opaque, PackedError, dumps
from tradetrace.export.spans import SpanEncoder
from tradetrace.export.unpacking import Unpacker
from tradetrace.export.worker import ExportWorker
from tradetrace.model.events import EVENT_FIELDS
from tradetrace.model.otlp_json import RequestWriter
from tradetrace.retain.buffer import ContainerBuffers
from tradetrace.retain.tail import TailRetention
from tradetrace.retain.trades import TradeRules

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _encoder_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans built by the encoder process (tracing.encoder: process), unless a test
    says otherwise."""
    monkeypatch.setenv("TRADETRACE_ENCODER", "process")
_IDS = re.compile(r'"(?:traceId|spanId|parentSpanId)":"([0-9a-f]+)"|trd_[0-9a-f]+')


class Lines:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        self.lines.append(line)

    def flush(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


def normalised(lines: list[bytes]) -> list[str]:
    """The lines with every trace, span and trade id replaced by its order of first
    appearance: ids are random, the rest must be byte for byte the same."""
    names: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        text = match.group(0)
        return text.replace(match.group(1) or text, names.setdefault(
            match.group(1) or text, f"<{len(names)}>"))

    return [_IDS.sub(name, line.decode()) for line in lines]


def export(batches: list[list[Any]], run_id: str, retention: Any = None) -> list[bytes]:
    """The lines an in-process worker (never started: passes driven here) writes for
    ``batches``, the run finished at the end."""
    sink = Lines()
    tail = TailRetention(TradeRules(), load_config(level="normal", env={}).limits)
    worker = ExportWorker(ContainerBuffers(), SpanEncoder(run_id, dict(EVENT_FIELDS)),
                          RequestWriter([("service.name", "t")], "tradetrace", "1"), sink,
                          tail=tail)
    for batch in batches:
        worker._export(batch, carry=True)
    worker._export([], finish=True, carry=True)
    worker._lines([], 0, False, None)
    return sink.lines


def recorded_batches(demo: Any, bars: int, **settings: Any) -> tuple[list[list[Any]], str]:
    """The batches of finished records a real traced demo run hands its worker."""
    batches: list[list[Any]] = []

    def keep(self: Any, records: Any, finish: bool = False, carry: bool = False) -> None:
        if records:
            batches.append(list(records))

    original = worker_module.ExportWorker._export
    worker_module.ExportWorker._export = keep  # type: ignore[method-assign]
    try:
        session = tradetrace.configure(backend="none", **settings)
        demo.run_backtest(bars=bars, seed=3)
        tradetrace.flush()
        run_id = session.config.run_id
        tradetrace.shutdown()
    finally:
        worker_module.ExportWorker._export = original  # type: ignore[method-assign]
    return batches, run_id


@pytest.mark.parametrize("level", ["normal", "debug"])
def test_packed_records_become_the_same_spans_byte_for_byte(demo: Any, level: str) -> None:
    batches, run_id = recorded_batches(demo, 300, level=level)
    assert sum(map(len, batches)) > 1000
    packer, unpacker = Packer(SpanEncoder("r", dict(EVENT_FIELDS)).kept), Unpacker()
    crossed = [unpacker.unpack(packer.pack(batch)[0]) for batch in batches]
    assert packer.errors == 0
    here = export(batches, run_id)
    there = export(crossed, run_id)
    assert len(here) == len(there) and len(here) > 3
    assert normalised(here) == normalised(there)
    spans = [s for line in there for s in read_spans_from(line)]
    names = Counter(s["name"] for s in spans)
    assert names["trade"] > 10 and names["BAR"] == 300  # the run's trades were rebuilt


def read_spans_from(line: bytes) -> list[dict[str, Any]]:
    import json

    return [s for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"]
            for s in ss["spans"]]


def test_values_the_encoder_process_cannot_import_are_made_plain() -> None:
    import datetime as dt
    import enum
    from decimal import Decimal

    class Side(enum.Enum):  # defined here: not importable by name over there
        BUY = "BUY"

    class Price(float):
        pass

    class Thing:
        pass

    when = dt.datetime(2024, 1, 2, 9, 30, tzinfo=dt.timezone.utc)
    payload = {"side": Side.BUY, "price": Price(1.5), "when": when, "fee": Decimal("0.1"),
               "what": Thing(), "handler": Thing, "nested": {"side": Side.BUY, "n": [1, 2]}}
    import pickle

    back = pickle.loads(dumps(payload))
    assert back["side"] == "BUY" and back["nested"] == {"side": "BUY", "n": [1, 2]}
    assert back["price"] == 1.5 and type(back["price"]) is float
    assert back["when"] == when and back["fee"] == Decimal("0.1")
    assert isinstance(back["what"], Opaque) and back["what"].type_name.endswith("Thing")
    assert isinstance(back["handler"], Opaque)


def test_an_exception_crosses_as_its_type_text_and_stack() -> None:
    try:
        raise KeyError("no such order")
    except KeyError as exc:
        error = exc
    record = ["event", None, (None,) * 8, {}, None, 1, 2, None, error, None, None]
    from tradetrace.model.route import Route

    record[1] = Route("c", "ORDER", None, False, lambda e: (), None, DEFAULT_RETENTION)  # type: ignore[arg-type]
    packer, unpacker = Packer(SpanEncoder("r", dict(EVENT_FIELDS)).kept), Unpacker()
    [back] = unpacker.unpack(packer.pack([record])[0])
    assert isinstance(back[8], PackedError)
    assert back[8].qualified == "KeyError" and back[8].message == "'no such order'"
    assert "raise KeyError" in back[8].stacktrace


def _demo_run(tmp_path: Path, name: str, bars: int, **env: str) -> tuple[Path, str]:
    out = tmp_path / name
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRADETRACE_")}
    environment.update(TRADETRACE_LEVEL="normal", TRADETRACE_OUTPUT=str(out),
                       TRADETRACE_RUN_ID=name, **{"TRADETRACE_ENCODER": "process", **env})
    done = subprocess.run(
        [sys.executable, "-c",
         "import logging, sys, runpy; logging.basicConfig(level=logging.INFO); "
         f"sys.argv = ['backtest.py', '--bars', '{bars}', '--quiet']; "
         f"runpy.run_path({str(REPO / 'examples' / 'backtest.py')!r}, run_name='__main__')"],
        env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stderr


def test_a_traced_run_writes_the_same_spans_from_the_encoder_process(tmp_path: Path) -> None:
    thread, _ = _demo_run(tmp_path, "thread", 1500, TRADETRACE_ENCODER="thread")
    process, said = _demo_run(tmp_path, "process", 1500)
    line = re.search(r"recorded (\d+) = exported (\d+) \+ dropped 0 \+ pending 0; "
                     r"trade spans: (\d+) exported", said)
    assert line is not None, said[-2000:]
    here, there = list(read_spans([thread])), list(read_spans([process]))
    assert int(line[1]) == int(line[2]) == len([s for s in there if s.name != "trade"])

    def shape(spans: Any) -> Counter[tuple[str, tuple[str, ...], int, bool]]:
        return Counter((s.name, tuple(sorted(s.attributes)), len(s.links), bool(s.parent_id))
                       for s in spans)

    assert shape(here) == shape(there)
    assert sum(1 for s in there if s.name == "trade") == int(line[3]) > 50


def test_the_traced_process_only_packs(tmp_path: Path) -> None:
    session = tradetrace.configure("normal", output=tmp_path, run_id="packs")
    try:
        assert session.link is not None and session.tail is None
        assert session.stats()["encoder"] == "process"
    finally:
        tradetrace.shutdown()
    assert session.link.starts == 1 and session.link.process is None


def _bars(bus: Any, first: int, count: int) -> None:
    import toybus

    for n in range(first, first + count):
        bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY", "close": 1.0 + n},
                                   node="data_1", msg_id=f"seq_{n}"))


def test_a_killed_encoder_costs_what_it_held_and_another_takes_over(tmp_path: Path) -> None:
    import toybus

    session = tradetrace.configure("normal", profile=toybus.PROFILE, output=tmp_path,
                                   run_id="killed")
    bus = toybus.Bus()
    try:
        _bars(bus, 0, 300)
        assert session.flush(10)
        process = session.link.process
        assert process is not None
        sent = session.link.shipped
        process.send_signal(signal.SIGSTOP)  # it holds what it is sent from now on...
        _bars(bus, 300, 20)  # (the trading thread never waits for it)
        session._worker.nudge()
        assert session.link.wait_shipped(sent + 20, 10)  # one small frame, in the pipe
        process.kill()  # ...and loses it
        process.wait(10)
        _bars(bus, 320, 300)
        assert session.flush(15)
        accounting = session.accounting()
        assert session.link.starts == 2
        assert accounting.dropped == {ENCODER_LOST: 20}
        assert accounting.recorded == 620 and accounting.exported == 600
        assert accounting.pending == 0
    finally:
        tradetrace.shutdown()
    numbers = {int(s.attributes["trading.event.id"][4:]) for s in read_spans([tmp_path])}
    assert numbers == set(range(300)) | set(range(320, 620))


def test_a_sink_failure_in_the_encoder_process_is_counted_here(tmp_path: Path) -> None:
    import toybus

    out = tmp_path / "blocked"
    out.write_text("a file where the trace folder should be")
    session = tradetrace.configure("normal", profile=toybus.PROFILE, output=out,
                                   run_id="blocked")
    bus = toybus.Bus()
    for n in range(300):
        bus.publish(toybus.Message(kind="BAR", data={"symbol": "SPY"}, node="data_1",
                                   msg_id=f"seq_{n}"))
    tradetrace.shutdown()
    stats = session.stats()
    figures = stats["accounting"]
    assert figures["recorded"] == 300 and figures["exported"] == 0
    assert set(figures["dropped"]) <= {"sink_failure", "sink_resting"}
    assert sum(figures["dropped"].values()) == 300
    assert stats["export_errors"] >= 1 and stats["spans_lost"] == 300
