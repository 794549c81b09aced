"""The identity holds at any moment, not only at exit: read from another thread while
a feed publishes into a slow receiver, every reading balances, nothing is negative,
and what was recorded never goes down."""

from __future__ import annotations

import threading

import pytest

import tradetrace

from .receivers import slow
from .trading import accounting, check, feed, publish


@pytest.mark.parametrize("protocol", ["http/json", "http/protobuf"])
def test_every_reading_balances_while_spans_flow(http_receiver, monkeypatch, protocol):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    http_receiver.set(slow(0.02))
    bus, session = feed(backend="otlp")
    publisher = threading.Thread(target=publish, args=(bus, 20_000))
    readings = []
    publisher.start()
    while publisher.is_alive() and len(readings) < 100_000:
        readings.append(accounting(session))  # asserts the identity of each reading
    publisher.join(60)
    tradetrace.shutdown(timeout=30)
    final = check(session, 20_000, None)
    assert len(readings) > 10
    recorded = [r["recorded"] for r in readings]
    assert recorded == sorted(recorded) and recorded[-1] <= 20_000
    for reading in readings:
        assert reading["pending"] >= 0 and reading["exported"] <= final["exported"]
        assert min(reading["pending_detail"].values()) >= 0, reading


def test_a_flush_drains_more_than_one_pass_can_hold(monkeypatch, tmp_path):
    """The worker takes at most MAX_IN_HAND records at a time; a flush still writes
    everything buffered, taking again until the buffers are empty."""
    from tradetrace.export import worker as worker_module

    monkeypatch.setattr(worker_module, "MAX_IN_HAND", 100)
    config = tmp_path / "tracing.yaml"
    config.write_text("tracing:\n  overrides:\n    '*': {max_events: 5000}\n")
    bus, session = feed(output=tmp_path / "traces", config_file=config)
    session._worker.interval = 3600  # only the flush below takes
    session.buffers.wake = lambda: None
    publish(bus, 1000)
    assert session.flush(30)
    figures = accounting(session)
    assert figures["recorded"] == figures["exported"] == 1000
