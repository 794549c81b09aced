"""Under load the level steps down (never below its floor), and back up once the load has
passed; each step is a span in the trace. Opt-in, checked like every other setting."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import tradetrace
from tradetrace import conventions as conv
from tradetrace.analyse.reader import read_spans
from tradetrace.analyse.summary import summarize
from tradetrace.cli.summary_view import text as render
from tradetrace.config import load_config
from tradetrace.decide.levels import TraceLevel
from tradetrace.decide.overload import OverloadGuard, OverloadSettings
from tradetrace.errors import ConfigError

D, N, M = TraceLevel.DEBUG, TraceLevel.NORMAL, TraceLevel.MINIMAL


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard(**settings) -> tuple[OverloadGuard, Clock]:
    clock = Clock()
    given = {"action": "downgrade", "window_seconds": 5.0, "recover_seconds": 20.0, **settings}
    return OverloadGuard(OverloadSettings(**given), clock=clock), clock


def window(g: OverloadGuard, clock: Clock, busy: float, paid: int = 0,
           top: TraceLevel = N, cap: TraceLevel | None = None):
    g.worked(busy * 5.0)
    clock.now += 5.0
    return g.judge(paid, top, cap)


# -- the guard ---------------------------------------------------------------------------


def test_nothing_is_judged_before_a_window_has_passed():
    g, clock = guard()
    g.worked(4.0)
    clock.now += 4.9
    assert g.judge(0, N, None) is None
    clock.now += 0.1
    verdict = g.judge(0, N, None)
    assert verdict is not None and verdict.cap is M
    assert verdict.busy == pytest.approx(0.8)


def test_a_busy_worker_steps_the_level_down_one_step_at_a_time_to_the_floor():
    g, clock = guard()
    first = window(g, clock, 0.5, top=D)
    assert (first.before, first.after, first.cap) == (D, N, N)
    assert "busy 50%" in first.reason
    second = window(g, clock, 0.5, top=D, cap=N)
    assert (second.before, second.after, second.cap) == (N, M, M)
    assert window(g, clock, 0.9, top=D, cap=M) is None  # MINIMAL is the floor
    assert g.downgrades == 2 and g.at_floor == 1 and "busy 90%" in g.last_reason


def test_nothing_traced_is_never_stepped_anywhere():
    """set_level("none") everywhere: the worker still reports, and nothing can go lower."""
    g, clock = guard()
    assert window(g, clock, 0.9, paid=5, top=TraceLevel.NONE) is None
    assert window(g, clock, 0.0, paid=5, top=TraceLevel.NONE, cap=M) is None


def test_a_floor_of_normal_stops_there():
    g, clock = guard(floor=N)
    assert window(g, clock, 0.5, top=D).cap is N
    assert window(g, clock, 0.5, top=D, cap=N) is None


def test_a_trading_thread_that_paid_is_overload_even_with_an_idle_worker():
    g, clock = guard()
    assert window(g, clock, 0.0, paid=0) is None
    verdict = window(g, clock, 0.0, paid=3)  # a running count: 3 since the last window
    assert verdict.cap is M and verdict.paid == 3
    assert "exported or dropped 3 times" in verdict.reason
    assert window(g, clock, 0.0, paid=3, cap=M) is None  # nothing new paid


def test_the_level_steps_back_up_after_calm_one_step_per_recover_period():
    g, clock = guard()
    assert window(g, clock, 0.5, top=D).cap is N
    assert window(g, clock, 0.5, top=D, cap=N).cap is M
    for _ in range(3):  # 15 s of calm: not yet
        assert window(g, clock, 0.01, top=D, cap=M) is None
    up = window(g, clock, 0.01, top=D, cap=M)  # 20 s
    assert (up.before, up.after, up.cap) == (M, N, N)
    for _ in range(3):
        assert window(g, clock, 0.01, top=D, cap=N) is None
    back = window(g, clock, 0.01, top=D, cap=N)
    assert (back.before, back.after, back.cap) == (N, D, None)  # configured levels again
    assert g.recoveries == 2


def test_load_between_half_and_the_threshold_holds_the_cap():
    g, clock = guard()
    assert window(g, clock, 0.5).cap is M
    for _ in range(10):
        assert window(g, clock, 0.2, cap=M) is None  # not overloaded, not calm either
    for _ in range(3):
        assert window(g, clock, 0.1, cap=M) is None
    assert window(g, clock, 0.1, cap=M).cap is None


# -- configuration -----------------------------------------------------------------------


def test_overload_is_off_unless_asked_for(tmp_path):
    assert not load_config(env={}).overload.enabled
    assert load_config(env={"TRADETRACE_OVERLOAD": "downgrade"}).overload.enabled
    path = tmp_path / "t.yaml"
    path.write_text("tracing:\n  overload: {action: downgrade, busy_fraction: 0.5, "
                    "window_seconds: 2, recover_seconds: 30, floor: normal}\n")
    settings = load_config(config_file=path, env={}).overload
    assert settings == OverloadSettings("downgrade", 0.5, 2.0, 30.0, N)
    off = load_config(config_file=path, env={"TRADETRACE_OVERLOAD": "off"}).overload
    assert not off.enabled and off.busy_fraction == 0.5  # the variable sets the action


@pytest.mark.parametrize(("body", "path"), [
    ("{action: shed}", "tracing.overload.action"),
    ("{busy_fraction: 0}", "tracing.overload.busy_fraction"),
    ("{busy_fraction: 1.5}", "tracing.overload.busy_fraction"),
    ("{window_seconds: -1}", "tracing.overload.window_seconds"),
    ("{recover_seconds: fast}", "tracing.overload.recover_seconds"),
    ("{floor: none}", "tracing.overload.floor"),
    ("{floor: lowest}", "tracing.overload.floor"),
    ("{actoin: downgrade}", "tracing.overload.actoin"),
    ("downgrade", "tracing.overload"),
])
def test_bad_overload_settings_name_their_key(tmp_path, body, path):
    file = tmp_path / "t.yaml"
    file.write_text(f"tracing:\n  overload: {body}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file=file, env={})
    assert caught.value.path == path


def test_a_cap_lowers_every_level_above_it_and_leaves_the_rest(tmp_path):
    file = tmp_path / "t.yaml"
    file.write_text("tracing:\n  level: debug\n  overrides:\n"
                    "    data_*: {level: none}\n    portfolio_*: {level: minimal}\n"
                    "    execution_*: {level: debug, max_events: 7}\n")
    config = load_config(config_file=file, env={})
    assert config.top_level is D
    capped = config.capped(N)
    assert capped.level is N and capped.top_level is N
    assert capped.policy_for("data_1").level is TraceLevel.NONE
    assert capped.policy_for("portfolio_1").level is M
    execution = capped.policy_for("execution_1")
    assert execution.level is N and execution.max_events == 7
    assert config.capped(None) is config and config.capped(D) is config


# -- a session ---------------------------------------------------------------------------


def bars(demo, bus, count: int) -> None:
    for n in range(count):
        bus.publish(demo.Event(event_type="BAR", container_id="data_1",
                               payload={"symbol": "SPY", "close": 100.0 + n}))


def test_a_session_steps_down_records_the_step_and_steps_back_up(demo, tmp_path, caplog):
    session = tradetrace.configure("debug", profile="demo", output=tmp_path, backend="file",
                                   run_id="load")
    assert session.overload is None  # off by default
    tradetrace.shutdown()
    file = tmp_path / "t.yaml"
    file.write_text("tracing:\n  overload: {action: downgrade, recover_seconds: 10}\n")
    session = tradetrace.configure("normal", profile="demo", output=tmp_path / "out",
                                   backend="file", config_file=file, run_id="load")
    session._worker.after_export = None  # this test judges, on its own thread and clock
    clock = Clock()
    session.overload.clock = clock
    session.overload._window_start = clock.now
    bus = demo.EventBus()
    bars(demo, bus, 3)

    clock.now += 5.0
    session._judge_load(4.0)  # 80% of the window
    assert session.level_cap is M and session.config.level is M
    assert session.wanted.level is N
    assert "stepped down from normal to minimal" in caplog.text
    bars(demo, bus, 4)  # MINIMAL leaves data_* out
    tradetrace.set_level("debug")  # the configured level changes; the cap holds
    assert session.wanted.level is D and session.config.level is M
    bars(demo, bus, 2)

    clock.now += 5.0
    session._judge_load(0.0)  # calm, but not for long enough
    assert session.level_cap is M
    clock.now += 5.0
    session._judge_load(0.0)
    assert session.level_cap is N and session.config.level is N
    bars(demo, bus, 5)
    stats = session.stats()
    assert stats["level_cap"] == "normal" and stats["level_downgrades"] == 1
    tradetrace.shutdown()

    spans = list(read_spans([tmp_path / "out"]))
    assert sum(s.name == "BAR" for s in spans) == 3 + 5
    changes = sorted((s for s in spans if s.name == conv.LEVEL_CHANGE_SPAN_NAME),
                     key=lambda s: s.start)
    assert [(c.attributes[conv.LEVEL_BEFORE], c.attributes[conv.LEVEL_AFTER])
            for c in changes] == [("normal", "minimal"), ("minimal", "normal")]
    down = changes[0].attributes
    assert down[conv.LEVEL_WORKER_BUSY] == pytest.approx(0.8)
    assert "busy 80%" in down[conv.LEVEL_REASON] and down[conv.LEVEL_PAID] == 0

    summary = summarize([tmp_path / "out"])  # `tradetrace summary` says it first
    assert [(c["before"], c["after"]) for c in summary.level_changes] == [
        ("normal", "minimal"), ("minimal", "normal")]
    lines = render(summary).splitlines()
    assert lines[1] == "the level changed under load (tracing.overload):"
    assert lines[2].endswith("UTC  normal -> minimal: export worker busy 80% of the last 5.0 s")
    assert lines[3].endswith("UTC  minimal -> normal: calm for 10 s")


def test_overload_at_the_floor_is_said_once_and_counted(demo, tmp_path, caplog):
    file = tmp_path / "t.yaml"
    file.write_text("tracing:\n  overload: {action: downgrade}\n")
    session = tradetrace.configure("minimal", profile="demo", backend="memory",
                                   config_file=file)
    session._worker.after_export = None
    clock = Clock()
    session.overload.clock = clock
    session.overload._window_start = clock.now
    for _ in range(3):
        clock.now += 5.0
        session._judge_load(4.0)
    assert session.level_cap is None and session.config.level is M
    assert session.stats()["overloaded_at_floor"] == 3
    assert caplog.text.count("still overloaded at level minimal") == 1
    assert "busy 80%" in caplog.text
    tradetrace.shutdown()


def test_set_level_under_the_cap_lifts_it_without_a_step(demo, tmp_path, caplog):
    file = tmp_path / "t.yaml"
    file.write_text("tracing:\n  overload: {action: downgrade, recover_seconds: 5}\n")
    session = tradetrace.configure("debug", profile="demo", output=tmp_path / "out",
                                   backend="file", config_file=file)
    session._worker.after_export = None
    clock = Clock()
    session.overload.clock = clock
    session.overload._window_start = clock.now
    clock.now += 5.0
    session._judge_load(4.0)
    assert session.level_cap is N
    tradetrace.set_level("minimal")  # below the cap: the cap no longer means anything
    assert session.level_cap is None and session.config.level is M
    for _ in range(3):  # calm windows: nothing to step back up to
        clock.now += 5.0
        session._judge_load(0.0)
    assert session.level_cap is None and session.config.level is M
    assert "stepped back up" not in caplog.text
    tradetrace.shutdown()


def test_the_worker_reports_each_exports_cpu_time(demo, tmp_path):
    file = tmp_path / "t.yaml"
    file.write_text("tracing:\n  overload: {action: downgrade}\n")
    session = tradetrace.configure("normal", profile="demo", output=tmp_path / "out",
                                   backend="file", config_file=file)
    reported: list[float] = []
    done = threading.Event()
    judge = session._worker.after_export

    def spy(cpu: float) -> None:
        reported.append(cpu)
        judge(cpu)
        done.set()

    session._worker.after_export = spy
    bars(demo, demo.EventBus(), 10)
    session._worker._wake.set()
    assert done.wait(10)
    assert reported[0] >= 0.0
    tradetrace.shutdown()


def test_a_backtest_that_swamps_the_worker_is_stepped_down_for_real(demo, tmp_path):
    """No fakes: thresholds far below what a NORMAL backtest costs the worker."""
    file = tmp_path / "t.yaml"
    file.write_text("tracing:\n  overload: {action: downgrade, busy_fraction: 0.01, "
                    "window_seconds: 0.001, recover_seconds: 3600}\n")
    tradetrace.configure("normal", profile="demo", output=tmp_path / "out", backend="file",
                         config_file=file)
    results = demo.run_backtest(bars=5000, seed=3)
    tradetrace.shutdown()
    spans = list(read_spans([tmp_path / "out"]))
    changes = [s for s in spans if s.name == conv.LEVEL_CHANGE_SPAN_NAME]
    assert [c.attributes[conv.LEVEL_AFTER] for c in changes] == ["minimal"]
    assert sum(s.name == "BAR" for s in spans) < results["bars"]  # data_* left out after
    closes = sum(s.name == "POSITION_CLOSE" for s in spans)
    assert closes > 0  # trades are still traced at MINIMAL


def test_stats_say_no_cap_when_overload_is_off(demo):
    session = tradetrace.configure("normal", profile="demo", backend="memory")
    stats = json.loads(json.dumps(session.stats()))
    assert stats["level_cap"] is None and stats["level_downgrades"] == 0
    assert session.overload is None and session._worker.after_export is None
    tradetrace.shutdown()


def test_level_change_names_are_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "conventions.md").read_text()
    for name in (conv.LEVEL_CHANGE_SPAN_NAME, conv.LEVEL_BEFORE, conv.LEVEL_AFTER,
                 conv.LEVEL_REASON, conv.LEVEL_WORKER_BUSY, conv.LEVEL_PAID):
        assert f"`{name}`" in doc
