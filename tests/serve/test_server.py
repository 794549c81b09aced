"""The viewer's data refreshes when files land, its server binds to loopback unless
told otherwise (and warns), and the command's options are checked before it listens."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tradetrace import conventions as conv
from tradetrace.cli.main import main
from tradetrace.serve import server
from tradetrace.serve.data import Traces


def _write_run(folder: Path, run: str) -> None:
    span = {"traceId": "1" * 32, "spanId": "2" * 16, "name": "BAR", "kind": 1,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000000005000",
            "attributes": [{"key": conv.EVENT_TYPE, "value": {"stringValue": "BAR"}}]}
    request = {"resourceSpans": [{"resource": {"attributes": [
        {"key": conv.RUN_ID, "value": {"stringValue": run}}]}, "scopeSpans": [{"spans": [span]}]}]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run}-0001.jsonl").write_text(json.dumps(request) + "\n")


def test_a_run_written_later_is_read_and_unchanged_files_are_not_read_again(tmp_path):
    traces = Traces([tmp_path], check_seconds=0)
    with traces.session() as query:
        assert query.runs() == []
    assert traces.kept("x", lambda: 1) == 1
    with traces.session() as query:
        assert query.runs() == [] and traces.generation == 1  # nothing changed
    assert traces.kept("x", lambda: 2) == 1  # kept while the files are the same
    _write_run(tmp_path / "live", "run_live")
    with traces.session() as query:
        assert query.runs() == ["run_live"] and traces.generation == 2
    assert traces.kept("x", lambda: 3) == 3  # what was kept went with the old query


def test_a_slow_question_over_every_run_holds_up_no_other_page(tmp_path):
    """Every run's latency (20 s at 10M spans) is asked of a query apart: while it runs,
    the pages' own query, and a run's, still answer."""
    _write_run(tmp_path, "run_a")
    traces = Traces([tmp_path])
    inside, release = threading.Event(), threading.Event()

    def slow() -> None:
        with traces.session(apart=True):
            inside.set()
            release.wait(60)

    holder = threading.Thread(target=slow)
    holder.start()
    try:
        assert inside.wait(60)
        answered: list[list[str]] = []
        done = threading.Event()

        def quick() -> None:
            with traces.session() as query, traces.session("run_a") as one:
                answered.extend([query.runs(), one.runs()])
            done.set()

        threading.Thread(target=quick, daemon=True).start()
        assert done.wait(60), "the pages' query waited for the slow one"
        assert answered == [["run_a"], ["run_a"]]
    finally:
        release.set()
        holder.join(60)


def test_the_files_are_looked_at_no_more_often_than_asked(tmp_path):
    traces = Traces([tmp_path], check_seconds=3600)
    with traces.session():
        pass
    _write_run(tmp_path, "run_late")
    with traces.session() as query:
        assert query.runs() == []  # until the next check


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True),
                                            ("::1", True), ("0.0.0.0", False),
                                            ("192.168.1.5", False), ("example.com", False)])
def test_loopback_hosts(host, loopback):
    assert server.is_loopback(host) is loopback


class _FakeServer:
    server_address = ("0.0.0.0", 4321)

    def serve_forever(self, poll_interval: float) -> None:
        raise KeyboardInterrupt

    def server_close(self) -> None:
        pass


def test_another_host_than_loopback_is_warned_about(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(server, "make", lambda *a, **k: (_FakeServer(), None))
    monkeypatch.setattr(server, "warm", lambda app: None)
    out = io.StringIO()
    assert server.serve([tmp_path], "0.0.0.0", 4321, out=out) == 0
    assert out.getvalue().startswith("tradetrace serve: http://0.0.0.0:4321/")
    assert "WARNING: listening on 0.0.0.0, not loopback" in capsys.readouterr().err


def test_loopback_is_not_warned_about(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(server, "make", lambda *a, **k: (_FakeServer(), None))
    monkeypatch.setattr(server, "warm", lambda app: None)
    server.serve([tmp_path], "127.0.0.1", 0, out=io.StringIO())
    assert "WARNING" not in capsys.readouterr().err


def test_a_source_that_does_not_exist_is_said_and_still_served(tmp_path, monkeypatch,
                                                              capsys):
    monkeypatch.setattr(server, "make", lambda *a, **k: (_FakeServer(), None))
    monkeypatch.setattr(server, "warm", lambda app: None)
    assert server.serve([tmp_path / "later", tmp_path, str(tmp_path / "*.jsonl")],
                        "127.0.0.1", 0, out=io.StringIO()) == 0
    said = capsys.readouterr().err.splitlines()
    assert said == [f"tradetrace serve: {tmp_path / 'later'} does not exist (yet): its runs "
                    "show up when trace files land there"]


def test_the_server_listens_on_loopback_by_default(tmp_path):
    listening, _ = server.make([tmp_path], port=0)
    try:
        host, port = listening.server_address[:2]
        assert host == "127.0.0.1" and port > 0
        assert server.url(listening) == f"http://127.0.0.1:{port}/"
    finally:
        listening.server_close()


def test_help_ends_with_an_example(capsys):
    assert main(["serve", "--help"]) == 0
    assert "example:\n  tradetrace serve " in capsys.readouterr().out


@pytest.mark.parametrize("argv, said", [
    (["serve", "--port", "70000"], "a port is 0 to 65535"),
    (["serve", "--jaeger-url", "ftp://x"], "not the Jaeger UI's http(s) address"),
])
def test_bad_options_are_usage_errors(argv: list[str], said: str, capsys: Any):
    assert main(argv) == 2
    assert said in capsys.readouterr().err
