"""The relay process's work per span (export/relay.py): our OTLP JSON request lines
encoded to protobuf and sent, before (issue 14) and after.

- before: what the helper did until issue 14: parse the line, decode its spans
  (``decode_request``), build SDK ``ReadableSpan`` objects (``SdkSink.readable``) and call
  the stock exporter (``OTLPSpanExporter``, http/protobuf or grpc), which encodes them
  again through the generated message classes;
- after: what it does now (``relay._export``): parse the line, encode it by hand
  (``model/otlp_proto.py``), send it (``OtlpHttpSender`` / ``OtlpGrpcSender``) and read
  the reply.

The lines are the demo backtest's, traced at ``--level`` into a temporary folder. Both
paths run here, in this process, as the helper runs them, to a receiver in a child
process that reads each request and answers an empty ``ExportTraceServiceResponse``
without parsing (so its work does not compete for this process's CPU accounting).
Rounds alternate before/after; the median round of each gives spans/s (wall) and CPU
us/span (this process's), and the ratio after/before. Then encoding alone (no sending):
the stock encoder (``encode_spans(...).SerializeToString()``, after the same decode)
against ``encode_request``. Ratios come from one run: this machine moves wall time by
tens of percent between runs.

    python benchmarks/bench_relay.py [--level normal] [--bars 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "src"))

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


# -- the receiver (a child process) ---------------------------------------------------


def serve(protocol: str) -> None:
    """Answer every export with an empty response; print the port, run until stdin ends."""
    if protocol == "grpc":
        from concurrent.futures import ThreadPoolExecutor

        import grpc

        server = grpc.server(ThreadPoolExecutor(4))
        handler = grpc.unary_unary_rpc_method_handler(lambda request, context: b"")
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}),))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
    else:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the stock exporter's session

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        http_server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = http_server.server_address[1]
        threading.Thread(target=http_server.serve_forever, daemon=True).start()
    print(port, flush=True)
    sys.stdin.read()


def receiver(protocol: str) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen([sys.executable, __file__, "--serve", protocol],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    return child, f"http://127.0.0.1:{child.stdout.readline().strip()}"


# -- the two paths ---------------------------------------------------------------------


def before_path(protocol: str, endpoint: str) -> Callable[[bytes], None]:
    """The helper until issue 14 (its ``_export``), with the stock exporter."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from tradetrace.export.sinks import SdkSink
    from tradetrace.model.otlp_json import BadSpan, decode_request

    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter: Any = OTLPSpanExporter(endpoint=endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        exporter = HttpExporter(endpoint=endpoint + "/v1/traces")

    def export(line: bytes) -> None:
        request = json.loads(line)
        spans = [s for s in decode_request(request) if not isinstance(s, BadSpan)]
        scope = request["resourceSpans"][0]["scopeSpans"][0].get("scope") or {}
        sink = SdkSink(exporter, Resource(spans[0].resource),
                       InstrumentationScope(scope.get("name", "tradetrace"),
                                            scope.get("version")))
        if exporter.export([sink.readable(s) for s in spans]) is not SpanExportResult.SUCCESS:
            raise RuntimeError("the stock exporter failed")

    return export


def after_path(protocol: str, endpoint: str) -> Callable[[bytes], None]:
    from tradetrace.export.relay import _export, _sender

    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    sender = _sender(protocol)

    def export(line: bytes) -> None:
        answer = _export(sender, line, strict=protocol == "grpc")
        if not answer["ok"]:
            raise RuntimeError(answer)

    return export


def encode_before(line: bytes) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from tradetrace.export.sinks import SdkSink
    from tradetrace.model.otlp_json import BadSpan, decode_request

    request = json.loads(line)
    spans = [s for s in decode_request(request) if not isinstance(s, BadSpan)]
    sink = SdkSink(None, Resource(spans[0].resource),  # type: ignore[arg-type]
                   InstrumentationScope("tradetrace", "0.1.0"))
    return encode_spans([sink.readable(s) for s in spans]).SerializeToString()


def encode_after(line: bytes) -> bytes:
    from tradetrace.model.otlp_proto import encode_request

    return encode_request(json.loads(line))


# -- measuring -------------------------------------------------------------------------


def demo_lines(level: str, bars: int) -> tuple[list[bytes], int]:
    """The demo's request lines at ``level``, and their span count."""
    import demo_engine
    import tradetrace
    from tradetrace.analyse.reader import trace_files
    from tradetrace.export.metrics import METRICS_SUFFIX

    with tempfile.TemporaryDirectory() as folder:
        tradetrace.configure(level, profile="demo", output=folder, backend="file",
                             run_id="bench_relay")
        demo_engine.run_backtest(bars=bars, seed=7)
        tradetrace.shutdown()
        lines = [line for f in trace_files([Path(folder)])
                 if not f.name.endswith(METRICS_SUFFIX)
                 for line in f.read_bytes().splitlines() if line]
    spans = sum(len(s.get("spans") or ()) for line in lines
                for r in json.loads(line)["resourceSpans"] for s in r["scopeSpans"])
    return lines, spans


def timed(work: Callable[[bytes], Any], lines: list[bytes]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for every line once."""
    wall, cpu = time.perf_counter(), time.process_time()
    for line in lines:
        work(line)
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(name: str, before: Callable[[bytes], Any], after: Callable[[bytes], Any],
            lines: list[bytes], spans: int, rounds: int) -> None:
    before(lines[0]), after(lines[0])  # warm: imports, first connections
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    for n in range(rounds):
        order = [("before", before), ("after", after)]
        for label, work in order if n % 2 == 0 else reversed(order):
            runs[label].append(timed(work, lines))
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    for label in ("before", "after"):
        print(f"  {name:<14} {label:<6} {spans / wall[label]:>10,.0f} spans/s   "
              f"{cpu[label] / spans * 1e6:6.1f} us CPU/span")
    print(f"  {name:<14} ratio  {wall['before'] / wall['after']:>10.2f}x spans/s   "
          f"{cpu['before'] / cpu['after']:6.2f}x less CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="normal")
    parser.add_argument("--bars", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    lines, spans = demo_lines(args.level, args.bars)
    # The helper's heap is small; the traced demo's objects, left here, would make every
    # collection of the timed code's garbage walk them.
    gc.collect()
    gc.freeze()
    print(f"{len(lines)} request lines, {spans} spans (demo, {args.level}, {args.bars} bars); "
          f"median of {args.rounds} rounds each")
    compare("encode only", encode_before, encode_after, lines, spans, args.rounds)
    for protocol in ("http/protobuf", "grpc"):
        child, endpoint = receiver(protocol)
        try:
            compare(f"{protocol} send", before_path(protocol, endpoint),
                    after_path(protocol, endpoint), lines, spans, args.rounds)
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(10)


if __name__ == "__main__":
    main()
