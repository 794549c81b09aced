"""The comparison point: how most people would trace a bus with the stock OpenTelemetry SDK.

One span per publish with ``start_as_current_span`` carrying the attributes tradetrace
records at NORMAL (so both produce equivalent spans), a BatchSpanProcessor (queue large
enough that nothing is dropped, so the cost is not hidden by drops), and the stock OTLP
protobuf encoder writing
length-prefixed ``ExportTraceServiceRequest`` messages to a file.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

#: payload key -> attribute, as tradetrace maps them (aliases aside)
PAYLOAD_ATTRIBUTES = {
    "symbol": "trading.symbol", "side": "trading.side", "quantity": "trading.quantity",
    "price": "trading.price", "close": "trading.price", "order_id": "trading.order.id",
    "fill_id": "trading.fill.id", "strategy_id": "trading.strategy.id",
    "direction": "trading.signal.direction", "status": "trading.order.status",
    "entry_price": "trading.position.entry_price", "exit_price": "trading.position.exit_price",
    "realized_pnl": "trading.position.realized_pnl", "exit_type": "trading.position.exit_type",
    "exit_reason": "trading.position.exit_reason",
}


class OtlpProtoFileExporter(SpanExporter):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "wb")  # noqa: SIM115
        self.spans = 0
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = encode_spans(spans).SerializeToString()
        self._file.write(len(data).to_bytes(4, "little") + data)
        self.spans += len(spans)
        self.bytes += len(data) + 4
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()


class NaiveInstrumentation:
    def __init__(self, bus_class: type, path: Path) -> None:
        self.exporter = OtlpProtoFileExporter(path)
        self.provider = TracerProvider(resource=Resource.create({"service.name": "naive"}))
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter, max_queue_size=1 << 21))
        tracer = self.provider.get_tracer("naive")
        self.bus_class = bus_class
        self.original = original = bus_class.publish

        def publish(bus: Any, event: Any) -> None:
            event_type = event.event_type
            if isinstance(event_type, enum.Enum):
                event_type = event_type.value
            payload = event.payload
            attributes: dict[str, Any] = {
                "trading.event.type": event_type,
                "trading.event.id": event.event_id,
                "trading.container.id": event.container_id or "",
                "trading.source.id": event.source_id or "",
            }
            when = event.timestamp or payload.get("timestamp")
            if when is not None:
                attributes["trading.time.simulated"] = when.isoformat()
            for key, name in PAYLOAD_ATTRIBUTES.items():
                value = payload.get(key)
                if value is not None and name not in attributes:
                    attributes[name] = value
            parent = trace.get_current_span()
            if parent.is_recording():
                cause = parent.attributes.get("trading.event.id")  # type: ignore[attr-defined]
                attributes["trading.causation.id"] = cause
            with tracer.start_as_current_span(event_type, attributes=attributes):
                return original(bus, event)

        bus_class.publish = publish

    def flush(self) -> None:
        self.provider.force_flush()

    def uninstrument(self) -> None:
        self.bus_class.publish = self.original
        self.provider.shutdown()

    @property
    def spans(self) -> int:
        return self.exporter.spans

    @property
    def bytes(self) -> int:
        return self.exporter.bytes
