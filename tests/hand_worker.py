"""An export pipeline built by hand and never started, for tests that drive the worker's
passes themselves: a demo bus whose publish is patched on a subclass, its buffers, and
a worker with trade retention writing to the given sink."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tradetrace.capture.publish import traced_publish
from tradetrace.config import load_config
from tradetrace.decide.table import DecisionTable
from tradetrace.export.spans import SpanEncoder
from tradetrace.export.worker import ExportWorker
from tradetrace.model.events import EVENT_FIELDS
from tradetrace.model.otlp_json import RequestWriter
from tradetrace.retain.buffer import ContainerBuffers
from tradetrace.retain.policy import TailLimits
from tradetrace.retain.tail import TailRetention
from tradetrace.retain.trades import TradeRules


def hand_built(demo: Any, sink: Any) -> SimpleNamespace:
    """``bus``, ``buffers``, ``tail`` and ``worker`` of a NORMAL pipeline."""
    config = load_config(level="normal", profile="demo", env={}, run_id="r")
    buffers = ContainerBuffers()
    fields = dict(EVENT_FIELDS)
    bus = type("Bus", (demo.EventBus,), {})()
    type(bus).publish = traced_publish(demo.EventBus.publish, DecisionTable(config, buffers),
                                       fields)
    tail = TailRetention(TradeRules(), TailLimits())
    worker = ExportWorker(buffers, SpanEncoder("r", fields),
                          RequestWriter([], "tradetrace", "1"), sink, tail=tail)
    return SimpleNamespace(bus=bus, buffers=buffers, tail=tail, worker=worker)
