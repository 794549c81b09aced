"""Patching: NONE patches nothing, uninstrument restores everything, no double wrapping,
modules imported after configure are patched on import."""

from __future__ import annotations

import importlib
import sys
import threading

import tradetrace
from tradetrace import conventions as conv
from tradetrace.testing import recording


def _class_dicts(*classes):
    return {cls: dict(vars(cls)) for cls in classes}


def _demo_classes():
    from demo_engine import bus, containers, coordinator

    return bus.EventBus, containers.Container, coordinator.Coordinator


def test_level_none_patches_nothing_and_starts_no_thread(demo):
    """NONE is zero overhead: no class attribute changes and no export thread."""
    before = _class_dicts(*_demo_classes())
    threads = set(threading.enumerate())
    session = tradetrace.configure("none", profile="demo")
    assert session.active is False and session.patched == []
    assert _class_dicts(*_demo_classes()) == before
    assert set(threading.enumerate()) == threads
    demo.run_backtest(bars=20, seed=1)


def test_sdk_disabled_means_none(demo, monkeypatch):
    """OTEL_SDK_DISABLED=true wins over an explicit level: nothing is patched."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    before = _class_dicts(*_demo_classes())
    session = tradetrace.configure("debug", profile="demo")
    assert not session.active
    assert _class_dicts(*_demo_classes()) == before


def test_shutdown_restores_every_patched_attribute(demo):
    """After shutdown each class holds exactly the objects it held before configure."""
    classes = _demo_classes()
    before = _class_dicts(*classes)
    session = tradetrace.configure("debug", profile="demo", backend="none")
    assert len(session.patched) >= 9
    assert _class_dicts(*classes) != before
    tradetrace.shutdown()
    after = _class_dicts(*classes)
    for cls in classes:
        assert after[cls].keys() == before[cls].keys()
        for name, value in before[cls].items():
            assert after[cls][name] is value, f"{cls.__name__}.{name} not restored"


def test_configuring_twice_does_not_trace_twice(demo):
    """A second configure replaces the first session: one span per event, never two."""
    tradetrace.configure("normal", profile="demo", backend="none")
    with recording("normal", profile="demo") as spans:
        results = demo.run_backtest(bars=50, seed=1)
        assert len(spans.events()) == sum(results["events_by_type"].values())


def test_patch_is_idempotent_on_an_already_patched_class(demo):
    """Arming the same profile twice in one session leaves a single patch per method."""
    with recording("normal", profile="demo") as spans:
        session = spans.session
        first = list(session.patched)
        session._patcher.arm(session.profiles)
        assert session.patched == first
        results = demo.run_backtest(bars=30, seed=1)
        assert len(spans.events()) == sum(results["events_by_type"].values())


def test_module_imported_after_configure_is_patched_on_import(tmp_path, monkeypatch):
    """Post-import hooks: configure first, import the traced module later."""
    package = tmp_path / "late_bus"
    package.mkdir()
    (package / "__init__.py").write_text(
        "class Bus:\n"
        "    def __init__(self):\n        self.handlers = []\n"
        "    def publish(self, event):\n"
        "        for h in self.handlers:\n            h(event)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    profile = {"name": "late", "publish": ["late_bus:Bus.publish"]}
    with recording("normal", profile=profile) as spans:
        assert "late_bus" not in sys.modules
        late_bus = importlib.import_module("late_bus")

        class Event:
            event_type = "FILL"
            container_id = "execution_1"
            source_id = None
            payload = {"order_id": "o-7"}

        late_bus.Bus().publish(Event())
        (fill,) = spans.events("FILL")
        assert fill.attributes[conv.ORDER_ID] == "o-7"
        assert getattr(late_bus.Bus.publish, "__tradetrace_patch__", False)
    assert not getattr(late_bus.Bus.publish, "__tradetrace_patch__", False)
    sys.modules.pop("late_bus", None)


def test_handlers_wrapped_at_debug_can_still_be_unsubscribed(demo):
    """The handler proxy compares equal to the handler, so unsubscribe finds it."""
    with recording("debug", profile="demo") as spans:
        bus = demo.EventBus()
        calls = []

        def on_fill(event):
            calls.append(event)

        bus.subscribe("FILL", on_fill, filter_func=lambda e: True)
        bus.publish(demo.Event(event_type="FILL", container_id="execution_1"))
        bus.unsubscribe("FILL", on_fill)
        bus.publish(demo.Event(event_type="FILL", container_id="execution_1"))
        handler_spans = [s for s in spans.spans() if conv.HANDLER_NAME in s.attributes]
    assert len(calls) == 1
    assert len(handler_spans) == 1
    assert handler_spans[0].attributes[conv.HANDLER_NAME].endswith("on_fill")


def test_handlers_are_not_wrapped_when_no_container_is_at_debug(demo):
    """Below DEBUG, subscribe is left alone: handlers reach the bus untouched."""
    with recording("normal", profile="demo"):
        bus = demo.EventBus()

        def on_bar(event):
            pass

        bus.subscribe("BAR", on_bar)
        assert not any("subscribe" in p for p in tradetrace.get_session().patched)
        stored = [h for h, _ in bus._subscriptions["BAR"]]
    assert stored == [on_bar] and stored[0] is on_bar
