"""Shared fixtures: the demo engine and the fake ADMF-PC package on sys.path, a clean
environment, and tracing always shut down after each test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tradetrace
from tradetrace import environment_variables as ev

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FAKE_ADMF = Path(__file__).resolve().parent / "fake_admf"

for folder in (FAKE_ADMF, EXAMPLES):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
# ADMF-PC imports as `src.*`; make sure no other `src` (a namespace package) was cached.
if "src" in sys.modules and getattr(sys.modules["src"], "__file__", None) is None:
    del sys.modules["src"]

_OUR_ENV = (
    ev.TRADETRACE_LEVEL, ev.TRADETRACE_CONFIG, ev.TRADETRACE_PROFILE, ev.TRADETRACE_OUTPUT,
    ev.TRADETRACE_STORAGE, ev.TRADETRACE_RUN_ID, ev.OTEL_SERVICE_NAME, ev.OTEL_SDK_DISABLED,
    ev.TRADETRACE_FAIL_FAST, ev.TRADETRACE_REDACT, ev.TRADETRACE_OVERLOAD,
    ev.TRADETRACE_PARENT_PID, ev.TRADETRACE_FLUSH_TIMEOUT, ev.TRADETRACE_JAEGER_URL,
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    ev.OTEL_EXPORTER_OTLP_ENDPOINT, ev.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES",
)


@pytest.fixture(autouse=True)
def clean_tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no tracing variables set and ends with nothing patched."""
    for name in _OUR_ENV:
        monkeypatch.delenv(name, raising=False)
    yield
    tradetrace.shutdown()


@pytest.fixture
def demo():
    import demo_engine

    return demo_engine


@pytest.fixture
def admf():
    """The fake ADMF-PC package (tests/fake_admf), imported as `src.*`."""
    from src.core.coordinator.coordinator import Coordinator
    from src.core.events import bus, types

    class Admf:
        coordinator = Coordinator
        EventBus = bus.EventBus
        Event = types.Event
        EventType = types.EventType

    return Admf
